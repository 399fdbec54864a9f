package mfa

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/factorgate/factorgate/server/eventstore"
)

// Permission names, as ZITADEL spells them.
const (
	PermAuthenticated       = "authenticated"
	PermUserRead            = "user.read"
	PermUserWrite           = "user.write"
	PermUserCredentialWrite = "user.credential.write"
	PermPolicyRead          = "policy.read"
	PermPolicyWrite         = "policy.write"
	PermPolicyDelete        = "policy.delete"
	PermIAMPolicyRead       = "iam.policy.read"
	PermIAMPolicyWrite      = "iam.policy.write"
	PermIAMMemberWrite      = "iam.member.write"
	PermOrgMemberWrite      = "org.member.write"
	PermOrgCreate           = "org.create"
)

// Roles and what they grant. Instance roles (IAM_*) grant their permissions
// in every organization; organization roles only in their own.
var rolePermissions = map[string][]string{
	"IAM_OWNER": {PermUserRead, PermUserWrite, PermUserCredentialWrite, PermPolicyRead, PermPolicyWrite, PermPolicyDelete,
		PermIAMPolicyRead, PermIAMPolicyWrite, PermIAMMemberWrite, PermOrgMemberWrite, PermOrgCreate, "org.read", "org.write", "iam.read", "iam.write", "user.delete"},
	"IAM_OWNER_VIEWER": {PermUserRead, PermPolicyRead, PermIAMPolicyRead, "org.read", "iam.read"},
	"IAM_ORG_MANAGER":  {PermUserRead, PermUserWrite, PermUserCredentialWrite, PermPolicyRead, PermPolicyWrite, PermPolicyDelete, PermOrgMemberWrite, PermOrgCreate, "org.read", "org.write"},
	"IAM_USER_MANAGER": {PermUserRead, PermUserWrite, PermUserCredentialWrite, "org.read"},
	"ORG_OWNER": {PermUserRead, PermUserWrite, PermUserCredentialWrite, PermPolicyRead, PermPolicyWrite, PermPolicyDelete,
		PermOrgMemberWrite, "org.read", "org.write", "user.delete"},
	"ORG_OWNER_VIEWER":     {PermUserRead, PermPolicyRead, "org.read"},
	"ORG_USER_MANAGER":     {PermUserRead, PermUserWrite, PermUserCredentialWrite, PermPolicyRead, "org.read"},
	"ORG_SETTINGS_MANAGER": {PermPolicyRead, PermPolicyWrite, PermPolicyDelete, "org.read"},

	// The organization roles of API credentials, one per OneLogin scope
	// (see credentials.go). They have no ORG_ prefix, so AddOrgMember
	// cannot hand them out.
	roleReadUsers:   {PermUserRead, "org.read"},
	roleManageUsers: {PermUserRead, PermUserWrite, PermUserCredentialWrite, "org.read"},
	roleReadAll:     {PermUserRead, PermPolicyRead, "org.read"},
	roleManageAll: {PermUserRead, PermUserWrite, PermUserCredentialWrite, PermPolicyRead, PermPolicyWrite, PermPolicyDelete,
		PermOrgMemberWrite, "org.read", "org.write", "user.delete"},
}

func validRoles(roles []string, prefix string) bool {
	if len(roles) == 0 {
		return false
	}
	for _, r := range roles {
		if _, ok := rolePermissions[r]; !ok || !strings.HasPrefix(r, prefix) {
			return false
		}
	}
	return true
}

func grants(roles []string, permission string) bool {
	for _, r := range roles {
		if slices.Contains(rolePermissions[r], permission) {
			return true
		}
	}
	return false
}

const tokenDocKind = "token"

// tokenDoc is the read model of one access token, keyed by the token's
// SHA-256; the token itself is never stored.
type tokenDoc struct {
	TokenID    string    `json:"tokenId"`
	UserID     string    `json:"userId"`
	OrgID      string    `json:"orgId"`
	Machine    bool      `json:"machine"`
	Expiration time.Time `json:"expiration"`
	Scopes     []string  `json:"scopes,omitempty"`
	AMR        []string  `json:"amr,omitempty"`
	AuthTime   time.Time `json:"authTime"`
}

// HashToken returns the stored form of a token.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

func newTokenString() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return "fg_" + base64.RawURLEncoding.EncodeToString(b), nil
}

// Authenticate resolves a bearer token to its principal. The lookup is by
// the token's hash, so no stored secret is compared byte by byte.
//
// Every call reads the store: the token's document, or, for a token this
// node has kept, the store's generation, which every change of a token,
// organization or instance document replaces in its own transaction (see
// authCache). So with many replicas on one database, a token revoked
// through any of them (RevokeToken deletes the document in the revoking
// transaction) is refused by all of them from the moment the revocation
// returns: the bound is zero. Roles are read the same way on every request
// (Authorize; the command's own check in the same request reuses what
// Authorize read, see WithRequestPrincipal).
func (s *Service) Authenticate(ctx context.Context, token string) (*Principal, error) {
	if token == "" {
		return nil, ErrTokenInvalid
	}
	td, access, err := s.readToken(ctx, HashToken(token))
	if err != nil {
		return nil, err
	}
	if td == nil {
		return nil, ErrTokenInvalid
	}
	if !td.Expiration.IsZero() && !s.now().Before(td.Expiration) {
		return nil, ErrTokenInvalid
	}
	// The slices are copied: td is shared with other requests.
	return &Principal{UserID: td.UserID, OrgID: td.OrgID, TokenID: td.TokenID, Machine: td.Machine,
		Scopes: slices.Clone(td.Scopes), AMR: slices.Clone(td.AMR), AuthTime: td.AuthTime, Expires: td.Expiration,
		access: access}, nil
}

// readToken reads the document of the token with hash; nil when there is
// none. With it comes the request's snapshot (see WithRequestPrincipal):
// the token's organization and the instance, for the permission checks
// (most requests act in their caller's organization), and the person the
// request names (WithReadAhead), for its loads of that person until it
// writes.
//
// A token this node has kept (authCache) costs one read of two documents:
// the store's generation and the person. When the generation is the one
// the token, its organization and the instance were kept with, they are
// taken from the cache: none of them changed since they were read. Else
// everything is read again, in one read of the store when this node knows
// the token's organization (it never changes for a token), and kept with
// the generation read first in that read.
func (s *Service) readToken(ctx context.Context, hash string) (*tokenDoc, *accessSnapshot, error) {
	userID, _ := ctx.Value(readAheadKey{}).(string)
	watching := s.watching.Load()
	if watching {
		if gen, td, org, in, ok := s.auth.lookup(hash); ok {
			keys := []eventstore.DocKey{eventstore.GenerationKey}
			if userID != "" {
				keys = append(keys, eventstore.DocKey{Kind: aggregateTypeUser, ID: userID})
			}
			docs, err := s.store.GetMany(ctx, keys)
			if err != nil {
				return nil, nil, storeErr("AUTH-tok01", err)
			}
			if docs[0].Kind != "" && string(docs[0].Data) == gen {
				a := &accessSnapshot{orgID: td.OrgID, org: org, instance: in}
				if userID != "" {
					a.userID, a.user, a.userRead = userID, docs[1], true
				}
				return td, a, nil
			}
		}
	}

	// The generation comes first: PostgreSQL reads the keys of one GetMany
	// one statement after the other, so what follows it is as new as it,
	// or newer, never older.
	var keys []eventstore.DocKey
	if watching {
		keys = append(keys, eventstore.GenerationKey)
	}
	at := len(keys)
	keys = append(keys, eventstore.DocKey{Kind: tokenDocKind, ID: hash}, eventstore.DocKey{Kind: aggregateTypeInstance, ID: s.instanceID})
	if userID != "" {
		keys = append(keys, eventstore.DocKey{Kind: aggregateTypeUser, ID: userID})
	}
	var orgHint string
	if v, ok := s.decoded.peek(tokenDocKind, hash); ok {
		if seen, ok := v.(*tokenDoc); ok {
			orgHint = seen.OrgID
			keys = append(keys, eventstore.DocKey{Kind: aggregateTypeOrg, ID: orgHint})
		}
	}
	docs, err := s.store.GetMany(ctx, keys)
	if err != nil {
		return nil, nil, storeErr("AUTH-tok01", err)
	}
	tokenRaw, instanceDoc := docs[at], docs[at+1]
	if tokenRaw.Kind == "" {
		return nil, nil, nil
	}
	td, err := decodeShared[tokenDoc](s, tokenRaw, "AUTH-tok02")
	if err != nil {
		return nil, nil, err
	}
	var orgDoc eventstore.Doc
	switch {
	case td.OrgID == "":
	case td.OrgID == orgHint:
		orgDoc = docs[len(docs)-1]
	default:
		// First sight of the token here: its organization, read after the
		// generation, in a second read.
		orgDoc, err = s.store.Get(ctx, aggregateTypeOrg, td.OrgID)
		if errors.Is(err, eventstore.ErrNotFound) {
			orgDoc, err = eventstore.Doc{}, nil
		}
		if err != nil {
			return nil, nil, storeErr("AUTH-tok01", err)
		}
	}
	access, err := s.decodeAccess(td.OrgID, orgDoc, instanceDoc)
	if err != nil {
		return nil, nil, err
	}
	if userID != "" {
		access.userID, access.user, access.userRead = userID, docs[at+2], true
	}
	if watching && docs[0].Kind != "" && access.org != nil && access.instance != nil {
		s.auth.keep(string(docs[0].Data), hash, td, access.org, access.instance)
	}
	return td, access, nil
}

// Authorize checks that p holds permission in the organization named by
// orgID (the caller's own organization when orgID is empty) and returns the
// organization the request acts in. "authenticated" needs no role.
func (s *Service) Authorize(ctx context.Context, p *Principal, orgID, permission string) (string, error) {
	if p == nil {
		return "", ErrAuthHeaderMissing
	}
	if orgID == "" {
		orgID = p.OrgID
	}
	if err := s.prefetchAccess(ctx, orgID); err != nil {
		return "", err
	}
	org, err := s.accessOrg(ctx, orgID)
	if err != nil {
		return "", err
	}
	if org == nil {
		return "", ErrOrgNotExisting
	}
	if permission == "" || permission == PermAuthenticated {
		return orgID, nil
	}
	roles, err := s.rolesIn(ctx, p.UserID, org)
	if err != nil {
		return "", err
	}
	if len(roles) == 0 {
		return "", ErrNoMembership
	}
	if !grants(roles, permission) {
		return "", ErrNoPermission
	}
	return orgID, nil
}

// rolesIn returns the caller's instance roles plus their roles in org.
func (s *Service) rolesIn(ctx context.Context, userID string, org *orgState) ([]string, error) {
	in, err := s.accessInstance(ctx)
	if err != nil {
		return nil, err
	}
	roles := slices.Clone(in.Members[userID])
	if org != nil {
		roles = append(roles, org.Members[userID]...)
	}
	return roles, nil
}

// checkPermission is the command-level check: the caller needs permission
// on the target's organization, except for acting on themselves.
func (s *Service) checkPermission(ctx context.Context, orgID, permission, targetUserID string) error {
	p := PrincipalFrom(ctx)
	if p == nil {
		return ErrNoPermissionCmd
	}
	if targetUserID != "" && p.UserID == targetUserID {
		return nil
	}
	org, err := s.accessOrg(ctx, orgID)
	if err != nil {
		return err
	}
	roles, err := s.rolesIn(ctx, p.UserID, org)
	if err != nil {
		return err
	}
	if len(roles) == 0 {
		return ErrNoMembership
	}
	if !grants(roles, permission) {
		return ErrNoPermissionCmd
	}
	return nil
}

// checkInstancePermission requires an instance role granting permission.
func (s *Service) checkInstancePermission(ctx context.Context, permission string) error {
	p := PrincipalFrom(ctx)
	if p == nil {
		return ErrNoPermissionCmd
	}
	roles, err := s.rolesIn(ctx, p.UserID, nil)
	if err != nil {
		return err
	}
	if !grants(roles, permission) {
		return ErrNoPermissionCmd
	}
	return nil
}

// accessOrg loads an organization for a permission decision: within one
// API request (WithRequestPrincipal) the document read by the first check
// serves the later ones; otherwise it is read from the store, decoded only
// when its bytes changed (docCache). The result is read-only.
func (s *Service) accessOrg(ctx context.Context, orgID string) (*orgState, error) {
	snap := snapshotFrom(ctx)
	if snap != nil && snap.org != nil && snap.orgID == orgID {
		return snap.org, nil
	}
	if orgID == "" {
		return nil, nil
	}
	org, ok, err := loadShared[orgState](ctx, s, aggregateTypeOrg, orgID, "QUERY-load1", "QUERY-load2")
	if err != nil || !ok {
		return nil, err
	}
	if snap != nil {
		snap.orgID, snap.org = orgID, org
	}
	return org, nil
}

// prefetchAccess reads the organization and the instance documents of a
// request's permission decisions together, in one read of the store (one
// read transaction, one round trip), into the request's snapshot; the
// checks that follow in the request find them there (accessOrg,
// accessInstance). Without a snapshot, or with an organization read
// already, it does nothing.
func (s *Service) prefetchAccess(ctx context.Context, orgID string) error {
	snap := snapshotFrom(ctx)
	if snap == nil || snap.org != nil || snap.instance != nil || orgID == "" {
		return nil
	}
	docs, err := s.store.GetMany(ctx, []eventstore.DocKey{{Kind: aggregateTypeOrg, ID: orgID}, {Kind: aggregateTypeInstance, ID: s.instanceID}})
	if err != nil {
		return storeErr("QUERY-load1", err)
	}
	access, err := s.decodeAccess(orgID, docs[0], docs[1])
	if err != nil {
		return err
	}
	*snap = *access
	return nil
}

// decodeAccess returns the snapshot of the organization orgID and the
// instance from their documents as GetMany returned them (a zero Doc for
// one that does not exist, which stays unset in the snapshot).
func (s *Service) decodeAccess(orgID string, orgDoc, instanceDoc eventstore.Doc) (*accessSnapshot, error) {
	a := &accessSnapshot{}
	if orgDoc.Kind != "" {
		org, err := decodeShared[orgState](s, orgDoc, "QUERY-load2")
		if err != nil {
			return nil, err
		}
		a.orgID, a.org = orgID, org
	}
	if instanceDoc.Kind != "" {
		in, err := decodeShared[instanceState](s, instanceDoc, "QUERY-load2")
		if err != nil {
			return nil, err
		}
		a.instance = in
	}
	return a, nil
}

// accessInstance is accessOrg for the instance document.
func (s *Service) accessInstance(ctx context.Context) (*instanceState, error) {
	snap := snapshotFrom(ctx)
	if snap != nil && snap.instance != nil {
		return snap.instance, nil
	}
	in, ok, err := loadShared[instanceState](ctx, s, aggregateTypeInstance, s.instanceID, "QUERY-load1", "QUERY-load2")
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, internal("QUERY-inst1", errors.New("instance missing; was Bootstrap called?"))
	}
	if snap != nil {
		snap.instance = in
	}
	return in, nil
}

// membershipDocKind marks one organization membership, owned by the
// member, so that the organizations a user is a member of can be listed
// (an organization's members are kept in its own document). Written with
// every org.member.added event (addOrgMember); the SQL stores' migration
// 0003 writes them for the events stored before.
const membershipDocKind = "membership"

func membershipDoc(userID, orgID string) eventstore.Doc {
	return eventstore.Doc{Kind: membershipDocKind, ID: userID + "/" + orgID, Owner: userID}
}

// addOrgMember gives userID roles in org, in c.
func (c *change) addOrgMember(org *orgState, userID string, roles []string) error {
	if err := c.push(org, EventOrgMemberAdded, memberAddedPayload{UserID: userID, Roles: roles}); err != nil {
		return err
	}
	c.batch.Put = append(c.batch.Put, membershipDoc(userID, org.ID))
	return nil
}

// checkHoldsWhatTargetHolds refuses the caller a credential for target (a
// new token or client secret of a machine user) unless the caller holds
// every permission target's roles grant: target's instance roles as
// instance roles, and its roles in each organization it is a member of in
// that organization. user.write alone would otherwise let an
// organization's user manager mint a token for a machine user that is an
// instance owner, or an owner of another organization, and act as it.
func (s *Service) checkHoldsWhatTargetHolds(ctx context.Context, target *userState) error {
	p := PrincipalFrom(ctx)
	if p == nil {
		return ErrNoPermissionCmd
	}
	if p.UserID == target.ID {
		return nil
	}
	in, err := s.accessInstance(ctx)
	if err != nil {
		return err
	}
	if !holdsAll(in.Members[p.UserID], in.Members[target.ID]) {
		return ErrNoPermissionCmd
	}
	orgs := []string{target.Owner}
	marks, err := s.store.List(ctx, membershipDocKind, target.ID, "", 0)
	if err != nil {
		return storeErr("AUTH-mem01", err)
	}
	for _, m := range marks {
		if id := strings.TrimPrefix(m.ID, target.ID+"/"); id != target.Owner {
			orgs = append(orgs, id)
		}
	}
	for _, id := range orgs {
		org, err := s.accessOrg(ctx, id)
		if err != nil {
			return err
		}
		if org == nil {
			continue
		}
		caller, err := s.rolesIn(ctx, p.UserID, org) // instance roles and roles in org
		if err != nil {
			return err
		}
		if !holdsAll(caller, org.Members[target.ID]) {
			return ErrNoPermissionCmd
		}
	}
	return nil
}

// holdsAll reports whether roles grant every permission that other grants.
func holdsAll(roles, other []string) bool {
	for _, r := range other {
		for _, perm := range rolePermissions[r] {
			if !grants(roles, perm) {
				return false
			}
		}
	}
	return true
}
