package mfa

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/factorgate/factorgate/server/eventstore"
)

// Change is one event in a user's history, as an admin reads it: what
// happened (the event type), when, who did it and, for removals, through
// which API.
type Change struct {
	Sequence      uint64
	Type          string
	CreatedAt     time.Time
	ResourceOwner string
	EditorID      string
	// EditorName and EditorLogin describe the editor when it is a user
	// (empty for "system" and for users that no longer exist).
	EditorName  string
	EditorLogin string
	// Via is the API a removal came through (nil for other events, and
	// for removals recorded before it was).
	Via *Origin
}

// ChangeQuery pages through a history: events after Sequence (ascending)
// or before it (descending, 0 for the newest), at most Limit of them.
type ChangeQuery struct {
	Sequence uint64
	Limit    int
	Asc      bool
}

// DefaultChangeLimit and MaxChangeLimit bound one page of a history.
const (
	DefaultChangeLimit = 100
	MaxChangeLimit     = 1000
)

// ListUserChanges returns the events of a user in orgID (every event of
// the aggregate: enrollments, verifications, removals, tokens). A user that
// does not exist or is outside orgID answers ErrUserNotFound, so another
// organization's users look missing. Reading needs user.read in the user's
// organization (the caller's authorization for orgID; with orgID empty,
// checked here).
func (s *Service) ListUserChanges(ctx context.Context, orgID, userID string, q ChangeQuery) ([]Change, error) {
	u, err := s.loadUser(ctx, userID)
	if err != nil {
		return nil, err
	}
	if u == nil || (orgID != "" && u.Owner != orgID) {
		return nil, ErrUserNotFound
	}
	if orgID == "" {
		if err := s.checkPermission(ctx, u.Owner, PermUserRead, userID); err != nil {
			return nil, err
		}
	}
	limit := q.Limit
	if limit <= 0 {
		limit = DefaultChangeLimit
	}
	limit = min(limit, MaxChangeLimit)
	after := uint64(0)
	if q.Asc {
		after = q.Sequence
	}
	events, err := s.store.Load(ctx, aggregateTypeUser, userID, after)
	if err != nil {
		return nil, storeErr("QUERY-hist1", err)
	}
	if !q.Asc {
		slices.Reverse(events)
		if q.Sequence > 0 {
			i := slices.IndexFunc(events, func(e eventstore.Event) bool { return e.Sequence < q.Sequence })
			if i < 0 {
				i = len(events)
			}
			events = events[i:]
		}
	}
	if len(events) > limit {
		events = events[:limit]
	}
	editors := map[string]*userState{}
	out := make([]Change, 0, len(events))
	for _, e := range events {
		c := Change{Sequence: e.Sequence, Type: e.Type, CreatedAt: e.CreatedAt, ResourceOwner: e.ResourceOwner, EditorID: e.Creator}
		if strings.HasSuffix(e.Type, ".removed") && len(e.Payload) > 0 {
			var p struct {
				Via *Origin `json:"via"`
			}
			if json.Unmarshal(e.Payload, &p) == nil {
				c.Via = p.Via
			}
		}
		ed, seen := editors[e.Creator]
		if !seen {
			if ed, err = s.loadUser(ctx, e.Creator); err != nil {
				return nil, err
			}
			editors[e.Creator] = ed
		}
		if ed != nil {
			c.EditorLogin = ed.Username
			switch {
			case ed.Human != nil && ed.Human.DisplayName != "":
				c.EditorName = ed.Human.DisplayName
			case ed.Human != nil:
				c.EditorName = strings.TrimSpace(ed.Human.GivenName + " " + ed.Human.FamilyName)
			case ed.Machine != nil:
				c.EditorName = ed.Machine.Name
			}
		}
		out = append(out, c)
	}
	return out, nil
}
