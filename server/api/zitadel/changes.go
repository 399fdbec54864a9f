package zitadel

import (
	"context"
	"fmt"

	"github.com/factorgate/factorgate/gen/zitadel/change"
	mgmt "github.com/factorgate/factorgate/gen/zitadel/management"
	"github.com/factorgate/factorgate/gen/zitadel/message"
	"github.com/factorgate/factorgate/server/api"
	"github.com/factorgate/factorgate/server/mfa"
)

// ListUserChanges is a user's history (management.v1): every event, who
// caused it and when; a removal's text also says through which API it
// came.
func (s *managementServer) ListUserChanges(ctx context.Context, req *mgmt.ListUserChangesRequest) (*mgmt.ListUserChangesResponse, error) {
	q := req.GetQuery()
	cs, err := s.core.ListUserChanges(ctx, api.OrgID(ctx), req.GetUserId(),
		mfa.ChangeQuery{Sequence: q.GetSequence(), Limit: int(min(q.GetLimit(), mfa.MaxChangeLimit)), Asc: q.GetAsc()})
	if err != nil {
		return nil, err
	}
	out := make([]*change.Change, 0, len(cs))
	for _, c := range cs {
		out = append(out, changeToPb(c))
	}
	return &mgmt.ListUserChangesResponse{Result: out}, nil
}

// changeToPb spells a change as ZITADEL does: the event type as the
// translation key "EventTypes.<type>"; the text is the type itself (no
// translations here), followed for a removal by the API it came through.
func changeToPb(c mfa.Change) *change.Change {
	text := c.Type
	if c.Via != nil {
		text = fmt.Sprintf("%s via %s %s %s", c.Type, c.Via.Dialect, c.Via.Transport, c.Via.Method)
	}
	return &change.Change{
		ChangeDate:               ts(c.CreatedAt),
		EventType:                &message.LocalizedMessage{Key: "EventTypes." + c.Type, LocalizedMessage: text},
		Sequence:                 c.Sequence,
		EditorId:                 c.EditorID,
		EditorDisplayName:        c.EditorName,
		ResourceOwnerId:          c.ResourceOwner,
		EditorPreferredLoginName: c.EditorLogin,
	}
}
