package mfa

import (
	"context"
	"errors"
	"net/mail"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/factorgate/factorgate/server/eventstore"
)

const (
	claimInstance = "instance"
	systemCreator = "system"
)

func claimUsername(name string) string { return "username:" + strings.ToLower(name) }
func claimOrgName(name string) string  { return "orgname:" + strings.ToLower(name) }

// BootstrapOptions name what a first start creates.
type BootstrapOptions struct {
	OrgName       string // default "factorgate"
	AdminUsername string // default "factorgate-admin"
	// TokenLifetime of the admin's personal access token; 0 means it does
	// not expire.
	TokenLifetime time.Duration
}

// BootstrapResult tells what Bootstrap found or created. AdminToken is set
// only when Created is true; it is never stored in clear.
type BootstrapResult struct {
	Created     bool
	InstanceID  string
	OrgID       string
	AdminUserID string
	AdminToken  string
}

// Bootstrap loads the instance, creating it on an empty store together with
// a first organization and an admin machine user holding IAM_OWNER and a
// personal access token. Concurrent first starts agree on one instance.
func (s *Service) Bootstrap(ctx context.Context, opt BootstrapOptions) (BootstrapResult, error) {
	if opt.OrgName == "" {
		opt.OrgName = "factorgate"
	}
	if opt.AdminUsername == "" {
		opt.AdminUsername = "factorgate-admin"
	}
	// From here on, every change of a document that authentication and
	// permission checks read gives the store's generation a new value
	// (authCache).
	if err := s.store.Watch(ctx, tokenDocKind, aggregateTypeOrg, aggregateTypeInstance); err != nil {
		return BootstrapResult{}, storeErr("SETUP-boot2", err)
	}
	s.watching.Store(true)
	for {
		owner, err := s.store.ClaimOwner(ctx, claimInstance)
		if err == nil {
			s.instanceID = owner
			in, err := s.loadInstance(ctx)
			if err != nil {
				return BootstrapResult{}, err
			}
			return BootstrapResult{InstanceID: owner, OrgID: in.DefaultOrgID, AdminUserID: in.AdminUserID}, nil
		}
		if !errors.Is(err, eventstore.ErrNotFound) {
			return BootstrapResult{}, storeErr("SETUP-boot1", err)
		}
		res, err := s.createInstance(ctx, opt)
		if errors.Is(err, eventstore.ErrClaimed) || errors.Is(err, eventstore.ErrConflict) {
			continue // another replica bootstrapped first
		}
		if err != nil {
			return BootstrapResult{}, err
		}
		s.instanceID = res.InstanceID
		return res, nil
	}
}

func (s *Service) createInstance(ctx context.Context, opt BootstrapOptions) (BootstrapResult, error) {
	res := BootstrapResult{Created: true, InstanceID: s.NewID(), OrgID: s.NewID(), AdminUserID: s.NewID()}
	c := s.newChange(ctx)
	c.creator = systemCreator
	inst := &instanceState{aggregate: aggregate{Type: aggregateTypeInstance, ID: res.InstanceID, Owner: res.InstanceID}}
	org := &orgState{aggregate: aggregate{Type: aggregateTypeOrg, ID: res.OrgID, Owner: res.OrgID}}
	admin := &userState{aggregate: aggregate{Type: aggregateTypeUser, ID: res.AdminUserID, Owner: res.OrgID}}
	steps := []struct {
		m   writeModel
		typ string
		p   any
	}{
		{inst, EventInstanceAdded, instanceAddedPayload{Name: "factorgate", DefaultOrgID: res.OrgID, AdminUserID: res.AdminUserID}},
		{inst, EventInstancePolicyAdded, policyPayload{Policy: DefaultLoginPolicy()}},
		{org, EventOrgAdded, orgAddedPayload{Name: opt.OrgName}},
		{admin, EventMachineAdded, machineAddedPayload{Username: opt.AdminUsername, Name: "factorgate admin"}},
		{inst, EventInstanceMemberAdded, memberAddedPayload{UserID: res.AdminUserID, Roles: []string{"IAM_OWNER"}}},
	}
	for _, st := range steps {
		if err := c.push(st.m, st.typ, st.p); err != nil {
			return res, internal("SETUP-boot2", err)
		}
	}
	var expiry time.Time
	if opt.TokenLifetime > 0 {
		expiry = c.now.Add(opt.TokenLifetime)
	}
	token, _, err := s.pushToken(c, admin, expiry, nil)
	if err != nil {
		return res, err
	}
	res.AdminToken = token
	c.batch.Claims = append(c.batch.Claims,
		eventstore.Claim{Key: claimInstance, Owner: res.InstanceID},
		eventstore.Claim{Key: claimOrgName(opt.OrgName), Owner: res.OrgID},
		eventstore.Claim{Key: claimUsername(opt.AdminUsername), Owner: res.AdminUserID})
	if err := s.commit(ctx, c); err != nil {
		return res, err
	}
	return res, nil
}

// pushToken adds a personal access token to u and the token's read-model
// document to the change. It returns the token, shown once.
func (s *Service) pushToken(c *change, u *userState, expiry time.Time, scopes []string) (token, tokenID string, err error) {
	token, err = newTokenString()
	if err != nil {
		return "", "", internal("COMMAND-tok01", err)
	}
	tokenID = s.NewID()
	hash := HashToken(token)
	if err := c.push(u, EventPATAdded, patAddedPayload{TokenID: tokenID, TokenHash: hash, Expiration: expiry, Scopes: scopes}); err != nil {
		return "", "", internal("COMMAND-tok02", err)
	}
	data, err := encodeDoc(tokenDoc{TokenID: tokenID, UserID: u.ID, OrgID: u.Owner, Machine: u.Machine != nil,
		Expiration: expiry, Scopes: scopes, AMR: []string{"pat"}, AuthTime: c.now})
	if err != nil {
		return "", "", internal("COMMAND-tok03", err)
	}
	c.batch.Put = append(c.batch.Put, eventstore.Doc{Kind: tokenDocKind, ID: hash, Owner: u.ID, Data: data})
	return token, tokenID, nil
}

// OrgAdmin is an administrator to create or appoint with a new organization.
type OrgAdmin struct {
	UserID string      // an existing user, or
	Human  *HumanInput // a person to create in the new organization
	Roles  []string    // default ORG_OWNER
}

// CreatedAdmin reports an administrator created with an organization.
type CreatedAdmin struct {
	UserID string
}

// AddOrganization creates an organization, optionally with administrators.
func (s *Service) AddOrganization(ctx context.Context, orgID, name string, admins []OrgAdmin) (d Details, created []CreatedAdmin, err error) {
	// A create loses a sequence check only to a writer of the same new
	// aggregate, or (PostgreSQL's group commit) to one in its group that
	// then did not commit: run it again, and the rerun tells which.
	err = s.retry(ctx, func() error {
		d, created, err = s.addOrganization(ctx, orgID, name, admins)
		return err
	})
	return d, created, err
}

func (s *Service) addOrganization(ctx context.Context, orgID, name string, admins []OrgAdmin) (Details, []CreatedAdmin, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return Details{}, nil, invalid("ORG-mruNY", "Organisation name is missing")
	}
	if err := s.checkInstancePermission(ctx, PermOrgCreate); err != nil {
		return Details{}, nil, err
	}
	if orgID == "" {
		orgID = s.NewID()
	} else if existing, err := s.loadOrg(ctx, orgID); err != nil {
		return Details{}, nil, err
	} else if existing != nil {
		return Details{}, nil, ErrOrgNameTaken
	}
	c := s.newChange(ctx)
	org := &orgState{aggregate: aggregate{Type: aggregateTypeOrg, ID: orgID, Owner: orgID}}
	if err := c.push(org, EventOrgAdded, orgAddedPayload{Name: name}); err != nil {
		return Details{}, nil, internal("COMMAND-org01", err)
	}
	c.batch.Claims = append(c.batch.Claims, eventstore.Claim{Key: claimOrgName(name), Owner: orgID})
	var created []CreatedAdmin
	for _, a := range admins {
		roles := a.Roles
		if len(roles) == 0 {
			roles = []string{"ORG_OWNER"}
		}
		if !validRoles(roles, "ORG_") {
			return Details{}, nil, ErrInvalidRole
		}
		userID := a.UserID
		if a.Human != nil {
			u, err := s.newHuman(ctx, c, orgID, *a.Human)
			if err != nil {
				return Details{}, nil, err
			}
			userID = u.ID
			created = append(created, CreatedAdmin{UserID: userID})
		} else {
			u, err := s.loadUser(ctx, userID)
			if err != nil {
				return Details{}, nil, err
			}
			if u == nil {
				return Details{}, nil, ErrUserNotFound
			}
		}
		if err := c.addOrgMember(org, userID, roles); err != nil {
			return Details{}, nil, internal("COMMAND-org02", err)
		}
	}
	if err := s.commit(ctx, c); err != nil {
		if errors.Is(err, eventstore.ErrClaimed) {
			return Details{}, nil, s.whichClaim(ctx, c)
		}
		return Details{}, nil, err // ErrConflict: AddOrganization runs it again
	}
	return org.details(), created, nil
}

// whichClaim turns a lost unique claim into the matching domain error.
func (s *Service) whichClaim(ctx context.Context, c *change) error {
	for _, cl := range c.batch.Claims {
		owner, err := s.store.ClaimOwner(ctx, cl.Key)
		if err == nil && owner != cl.Owner {
			switch {
			case strings.HasPrefix(cl.Key, "orgname:"):
				return ErrOrgNameTaken
			case strings.HasPrefix(cl.Key, "username:"):
				return ErrUsernameTaken
			}
		}
	}
	return ErrUsernameTaken
}

// HumanInput describes a person to create.
type HumanInput struct {
	UserID            string
	Username          string // default: the email address
	GivenName         string
	FamilyName        string
	NickName          string
	DisplayName       string
	PreferredLanguage string
	Gender            int
	Email             string
	EmailVerified     bool
	Phone             string
	PhoneVerified     bool
	Password          string // optional; stored as a bcrypt hash
	PasswordHash      string // optional instead of Password: an existing bcrypt hash
}

// AddHumanUser creates a person in orgID.
func (s *Service) AddHumanUser(ctx context.Context, orgID string, in HumanInput) (d Details, err error) {
	err = s.retry(ctx, func() error { // as AddOrganization
		d, err = s.addHumanUser(ctx, orgID, in)
		return err
	})
	return d, err
}

func (s *Service) addHumanUser(ctx context.Context, orgID string, in HumanInput) (Details, error) {
	if orgID == "" {
		return Details{}, ErrResourceOwnerMissing
	}
	org, err := s.loadOrg(ctx, orgID)
	if err != nil {
		return Details{}, err
	}
	if org == nil {
		return Details{}, ErrOrgNotFound
	}
	if err := s.checkPermission(ctx, orgID, PermUserWrite, ""); err != nil {
		return Details{}, err
	}
	c := s.newChange(ctx)
	u, err := s.newHuman(ctx, c, orgID, in)
	if err != nil {
		return Details{}, err
	}
	if err := s.commit(ctx, c); err != nil {
		if errors.Is(err, eventstore.ErrClaimed) {
			return Details{}, ErrUsernameTaken
		}
		return Details{}, err // ErrConflict: AddHumanUser runs it again
	}
	return u.details(), nil
}

func (s *Service) newHuman(ctx context.Context, c *change, orgID string, in HumanInput) (*userState, error) {
	if in.Email == "" {
		return nil, ErrInvalidEmail
	}
	if _, err := mail.ParseAddress(in.Email); err != nil {
		return nil, ErrInvalidEmail
	}
	if strings.TrimSpace(in.GivenName) == "" || strings.TrimSpace(in.FamilyName) == "" {
		return nil, invalid("USER-UCej2", "Profile is invalid")
	}
	if in.Phone != "" { // stored in E.164, as ZITADEL stores it
		phone, err := normalizePhone(in.Phone)
		if err != nil {
			return nil, err
		}
		in.Phone = phone
	}
	if in.Username == "" {
		in.Username = in.Email
	}
	id := in.UserID
	if id == "" {
		id = s.NewID()
	} else if u, err := s.loadUser(ctx, id); err != nil {
		return nil, err
	} else if u != nil {
		return nil, ErrUserIDTaken
	}
	hash := in.PasswordHash
	if hash != "" {
		if _, err := bcrypt.Cost([]byte(hash)); err != nil {
			return nil, invalid("COMMAND-pw002", "Password hash is not a supported (bcrypt) hash")
		}
	}
	if in.Password != "" {
		h, err := bcrypt.GenerateFromPassword([]byte(in.Password), s.passwordCost)
		if err != nil {
			return nil, invalid("COMMAND-pw001", "Password is invalid")
		}
		hash = string(h)
	}
	u := &userState{aggregate: aggregate{Type: aggregateTypeUser, ID: id, Owner: orgID}}
	if err := c.push(u, EventHumanAdded, humanAddedPayload{
		Username: in.Username, GivenName: in.GivenName, FamilyName: in.FamilyName, NickName: in.NickName,
		DisplayName: in.DisplayName, PreferredLanguage: in.PreferredLanguage, Gender: in.Gender,
		Email: in.Email, EmailVerified: in.EmailVerified, Phone: in.Phone, PhoneVerified: in.PhoneVerified && in.Phone != "",
		PasswordHash: hash,
	}); err != nil {
		return nil, internal("COMMAND-hum01", err)
	}
	c.batch.Claims = append(c.batch.Claims, eventstore.Claim{Key: claimUsername(in.Username), Owner: id})
	return u, nil
}

// MachineInput describes an API client user.
type MachineInput struct {
	UserID          string // optional: the caller's choice of id
	Username        string
	Name            string
	Description     string
	AccessTokenType int
}

// AddMachineUser creates a machine user in orgID.
func (s *Service) AddMachineUser(ctx context.Context, orgID string, in MachineInput) (d Details, err error) {
	err = s.retry(ctx, func() error { // as AddOrganization
		d, err = s.addMachineUser(ctx, orgID, in)
		return err
	})
	return d, err
}

func (s *Service) addMachineUser(ctx context.Context, orgID string, in MachineInput) (Details, error) {
	org, err := s.loadOrg(ctx, orgID)
	if err != nil {
		return Details{}, err
	}
	if org == nil {
		return Details{}, ErrOrgNotFound
	}
	if err := s.checkPermission(ctx, orgID, PermUserWrite, ""); err != nil {
		return Details{}, err
	}
	id := in.UserID
	if id == "" {
		id = s.NewID()
	} else if existing, err := s.loadUser(ctx, id); err != nil {
		return Details{}, err
	} else if existing != nil {
		return Details{}, ErrUserIDTaken
	}
	c := s.newChange(ctx)
	u := &userState{aggregate: aggregate{Type: aggregateTypeUser, ID: id, Owner: orgID}}
	if err := c.push(u, EventMachineAdded, machineAddedPayload{Username: in.Username, Name: in.Name,
		Description: in.Description, AccessTokenType: in.AccessTokenType}); err != nil {
		return Details{}, internal("COMMAND-mac01", err)
	}
	c.batch.Claims = append(c.batch.Claims, eventstore.Claim{Key: claimUsername(in.Username), Owner: u.ID})
	if err := s.commit(ctx, c); err != nil {
		if errors.Is(err, eventstore.ErrClaimed) {
			return Details{}, ErrUsernameTaken
		}
		return Details{}, err // ErrConflict: AddMachineUser runs it again
	}
	return u.details(), nil
}

// AddPersonalAccessToken issues a token for a machine user of orgID. The
// token is returned once; only its hash is kept.
func (s *Service) AddPersonalAccessToken(ctx context.Context, orgID, userID string, expiry time.Time) (tokenID, token string, d Details, err error) {
	err = s.retry(ctx, func() error {
		u, err := s.loadMachineFor(ctx, orgID, userID)
		if err != nil {
			return err
		}
		c := s.newChange(ctx)
		if !expiry.IsZero() && !expiry.After(c.now) {
			return ErrTokenExpiryPast
		}
		if expiry.Year() > 9999 {
			return ErrTokenExpiryTooLate
		}
		token, tokenID, err = s.pushToken(c, u, expiry, nil)
		if err != nil {
			return err
		}
		if err := s.commit(ctx, c); err != nil {
			return err
		}
		d = u.details()
		return nil
	})
	return tokenID, token, d, err
}

// AddOrgMember gives userID roles in orgID.
func (s *Service) AddOrgMember(ctx context.Context, orgID, userID string, roles []string) (Details, error) {
	if !validRoles(roles, "ORG_") {
		return Details{}, ErrInvalidRole
	}
	var d Details
	err := s.retry(ctx, func() error {
		org, err := s.loadOrg(ctx, orgID)
		if err != nil {
			return err
		}
		if org == nil {
			return ErrOrgNotFound
		}
		if err := s.checkPermission(ctx, orgID, PermOrgMemberWrite, ""); err != nil {
			return err
		}
		if u, err := s.loadUser(ctx, userID); err != nil {
			return err
		} else if u == nil {
			return ErrUserNotFound
		}
		if _, ok := org.Members[userID]; ok {
			return ErrMemberExists
		}
		c := s.newChange(ctx)
		if err := c.addOrgMember(org, userID, roles); err != nil {
			return internal("COMMAND-mem01", err)
		}
		if err := s.commit(ctx, c); err != nil {
			return err
		}
		d = org.details()
		return nil
	})
	return d, err
}

// AddIAMMember gives userID instance roles.
func (s *Service) AddIAMMember(ctx context.Context, userID string, roles []string) (Details, error) {
	if !validRoles(roles, "IAM_") {
		return Details{}, ErrInvalidRole
	}
	var d Details
	err := s.retry(ctx, func() error {
		if err := s.checkInstancePermission(ctx, PermIAMMemberWrite); err != nil {
			return err
		}
		in, err := s.loadInstance(ctx)
		if err != nil {
			return err
		}
		if u, err := s.loadUser(ctx, userID); err != nil {
			return err
		} else if u == nil {
			return ErrUserNotFound
		}
		if _, ok := in.Members[userID]; ok {
			return ErrMemberExists
		}
		c := s.newChange(ctx)
		if err := c.push(in, EventInstanceMemberAdded, memberAddedPayload{UserID: userID, Roles: roles}); err != nil {
			return internal("COMMAND-mem02", err)
		}
		if err := s.commit(ctx, c); err != nil {
			return err
		}
		d = in.details()
		return nil
	})
	return d, err
}

// loadMachineFor loads a machine user for a credential change by the
// caller: the user must exist (in orgID when set), be a machine, and the
// caller needs user.write on its organization and every permission the
// machine holds (checkHoldsWhatTargetHolds).
func (s *Service) loadMachineFor(ctx context.Context, orgID, userID string) (*userState, error) {
	u, err := s.loadUser(ctx, userID)
	if err != nil {
		return nil, err
	}
	if u == nil || (orgID != "" && u.Owner != orgID) {
		return nil, ErrUserNotFound
	}
	if u.Machine == nil {
		return nil, ErrUserNotMachine
	}
	if err := s.checkPermission(ctx, u.Owner, PermUserWrite, ""); err != nil {
		return nil, err
	}
	if err := s.checkHoldsWhatTargetHolds(ctx, u); err != nil {
		return nil, err
	}
	return u, nil
}
