package mfa

import (
	"context"
	"reflect"
	"slices"
)

// PolicyView is a login policy as queries return it.
type PolicyView struct {
	Policy    LoginPolicy
	IsDefault bool
	Details   Details
}

func (in *instanceState) policyView() PolicyView {
	d := in.details()
	if in.PolicySeq > 0 { // a document written before the policy's own details were kept has none
		d.Sequence, d.EventDate = in.PolicySeq, in.PolicyChanged
	}
	return PolicyView{Policy: in.Policy, IsDefault: true, Details: d}
}

// GetLoginPolicy returns the organization's custom policy, or the instance
// default when it has none.
func (s *Service) GetLoginPolicy(ctx context.Context, orgID string) (PolicyView, error) {
	org, err := s.loadOrg(ctx, orgID)
	if err != nil {
		return PolicyView{}, err
	}
	if org == nil {
		return PolicyView{}, ErrOrgNotFound
	}
	if org.Policy == nil {
		return s.GetDefaultLoginPolicy(ctx)
	}
	pol := *org.Policy
	pol.SecondFactors = slices.Clone(org.SecondFactors)
	return PolicyView{Policy: pol, Details: Details{ID: org.ID, Sequence: org.PolicySeq, EventDate: org.PolicyChanged,
		CreationDate: org.PolicyCreated, ResourceOwner: org.ID}}, nil
}

// GetDefaultLoginPolicy returns the instance's policy.
func (s *Service) GetDefaultLoginPolicy(ctx context.Context) (PolicyView, error) {
	in, err := s.loadInstance(ctx)
	if err != nil {
		return PolicyView{}, err
	}
	return in.policyView(), nil
}

// AddCustomLoginPolicy gives an organization its own login policy.
func (s *Service) AddCustomLoginPolicy(ctx context.Context, orgID string, pol LoginPolicy) (Details, error) {
	for _, f := range pol.SecondFactors {
		if !f.Valid() {
			return Details{}, ErrOrgMFAAddInvalid
		}
	}
	pol.SecondFactors = dedupe(pol.SecondFactors)
	pol.MultiFactors = dedupe(pol.MultiFactors)
	return s.orgCommand(ctx, orgID, PermPolicyWrite, func(c *change, org *orgState) error {
		if org.Policy != nil {
			return ErrPolicyExists
		}
		return c.push(org, EventOrgPolicyAdded, policyPayload{Policy: pol})
	})
}

// UpdateCustomLoginPolicy changes an organization's custom policy; the
// second and multi factors are kept as they are.
func (s *Service) UpdateCustomLoginPolicy(ctx context.Context, orgID string, pol LoginPolicy) (Details, error) {
	return s.orgCommand(ctx, orgID, PermPolicyWrite, func(c *change, org *orgState) error {
		if org.Policy == nil {
			return ErrPolicyNotFoundUpdate
		}
		pol.SecondFactors = nil
		pol.MultiFactors = org.Policy.MultiFactors
		if reflect.DeepEqual(pol, *org.Policy) {
			return ErrPolicyNotChanged
		}
		return c.push(org, EventOrgPolicyChanged, policyPayload{Policy: pol})
	})
}

// ResetLoginPolicyToDefault removes an organization's custom policy.
func (s *Service) ResetLoginPolicyToDefault(ctx context.Context, orgID string) (Details, error) {
	return s.orgCommand(ctx, orgID, PermPolicyDelete, func(c *change, org *orgState) error {
		if org.Policy == nil {
			return ErrPolicyNotFoundReset
		}
		return c.push(org, EventOrgPolicyRemoved, removedPayload{Via: c.via})
	})
}

// ListSecondFactors returns the organization's allowed second factors: its
// custom policy's when it has one, the instance default's otherwise.
func (s *Service) ListSecondFactors(ctx context.Context, orgID string) ([]SecondFactor, error) {
	v, err := s.GetLoginPolicy(ctx, orgID)
	if err != nil {
		return nil, err
	}
	return v.Policy.SecondFactors, nil
}

// AddSecondFactor allows a second factor in an organization's policy. Like
// ZITADEL it does not require a custom policy to exist.
func (s *Service) AddSecondFactor(ctx context.Context, orgID string, f SecondFactor) (Details, error) {
	if orgID == "" {
		return Details{}, ErrResourceOwnerMissingAdd
	}
	if !f.Valid() {
		return Details{}, ErrOrgMFAAddInvalid
	}
	return s.orgCommand(ctx, orgID, PermPolicyWrite, func(c *change, org *orgState) error {
		if slices.Contains(org.SecondFactors, f) {
			return ErrOrgMFAExists
		}
		return c.push(org, EventOrgSecondFactorAdded, secondFactorPayload{Type: f})
	})
}

// RemoveSecondFactor disallows a second factor in an organization's policy.
// It answers NotFound when the organization's own list lacks it, even if
// the instance default lists it.
func (s *Service) RemoveSecondFactor(ctx context.Context, orgID string, f SecondFactor) (Details, error) {
	if orgID == "" {
		return Details{}, ErrResourceOwnerMissing
	}
	if !f.Valid() {
		return Details{}, ErrOrgMFARemoveInvalid
	}
	return s.orgCommand(ctx, orgID, PermPolicyWrite, func(c *change, org *orgState) error {
		if !slices.Contains(org.SecondFactors, f) {
			return ErrOrgMFANotExisting
		}
		return c.push(org, EventOrgSecondFactorRemov, secondFactorPayload{Type: f, Via: c.via})
	})
}

// ListDefaultSecondFactors returns the instance policy's second factors.
func (s *Service) ListDefaultSecondFactors(ctx context.Context) ([]SecondFactor, Details, error) {
	in, err := s.loadInstance(ctx)
	if err != nil {
		return nil, Details{}, err
	}
	return in.Policy.SecondFactors, in.details(), nil
}

// AddDefaultSecondFactor allows a second factor in the instance policy.
func (s *Service) AddDefaultSecondFactor(ctx context.Context, f SecondFactor) (Details, error) {
	if !f.Valid() {
		return Details{}, ErrInstanceMFAAddInvalid
	}
	return s.instanceCommand(ctx, PermIAMPolicyWrite, func(c *change, in *instanceState) error {
		if slices.Contains(in.Policy.SecondFactors, f) {
			return ErrInstanceMFAExists
		}
		return c.push(in, EventInstanceSecondFactorAdded, secondFactorPayload{Type: f})
	})
}

// RemoveDefaultSecondFactor disallows a second factor in the instance policy.
func (s *Service) RemoveDefaultSecondFactor(ctx context.Context, f SecondFactor) (Details, error) {
	if !f.Valid() {
		return Details{}, ErrInstanceMFARemoveInval
	}
	return s.instanceCommand(ctx, PermIAMPolicyWrite, func(c *change, in *instanceState) error {
		if !slices.Contains(in.Policy.SecondFactors, f) {
			return ErrInstanceMFANotExisting
		}
		return c.push(in, EventInstanceSecondFactorRemov, secondFactorPayload{Type: f, Via: c.via})
	})
}

// orgCommand runs fn against the organization's write model with the
// permission checked, commits, and retries on a lost race.
func (s *Service) orgCommand(ctx context.Context, orgID, permission string, fn func(*change, *orgState) error) (Details, error) {
	if orgID == "" {
		return Details{}, ErrResourceOwnerMissing
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
		if err := s.checkPermission(ctx, orgID, permission, ""); err != nil {
			return err
		}
		c := s.newChange(ctx)
		if err := fn(c, org); err != nil {
			return err
		}
		if err := s.commit(ctx, c); err != nil {
			return err
		}
		d = org.details()
		return nil
	})
	return d, err
}

func (s *Service) instanceCommand(ctx context.Context, permission string, fn func(*change, *instanceState) error) (Details, error) {
	var d Details
	err := s.retry(ctx, func() error {
		if err := s.checkInstancePermission(ctx, permission); err != nil {
			return err
		}
		in, err := s.loadInstance(ctx)
		if err != nil {
			return err
		}
		c := s.newChange(ctx)
		if err := fn(c, in); err != nil {
			return err
		}
		if err := s.commit(ctx, c); err != nil {
			return err
		}
		d = in.details()
		return nil
	})
	return d, err
}

func dedupe[T comparable](in []T) []T {
	var out []T
	for _, v := range in {
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}
