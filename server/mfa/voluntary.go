package mfa

import "context"

// ErrMandatoryFactor answers a self-service removal of the user's last ready
// second factor while their login policy forces MFA: that factor is
// mandatory, not voluntary (DruID's rule). The ID is factorgate's own.
var ErrMandatoryFactor = newErr(KindFailedPrecondition, "COMMAND-fgVol", "Errors.User.MFA.Mandatory",
	"The login policy requires a second factor and this is the user's last one; it cannot be removed")

// ErrNotAPerson answers a self-service factor command called with a
// machine user's token.
var ErrNotAPerson = newErr(KindUnauthenticated, "COMMAND-fgPer", "Errors.User.NotHuman",
	"The token must be a person's")

// RemoveOwnVoluntaryFactor removes the caller's own factor of a kind (TOTP,
// OTP SMS or OTP email; the caller is the principal in ctx) unless it is
// mandatory: when the user's effective login policy (the organization's
// custom policy, else the instance default) forces MFA, the factor is
// ready and it is the user's last ready second factor (U2F keys count),
// the answer is ErrMandatoryFactor and nothing is written. A factor the
// user does not have answers the kind's NotFound error.
//
// The removal is removeFactor's, with the rule as its guard: the guard
// runs on the state the append expects, so when two removals of a user's
// last two factors race under force_mfa, the loser reruns on the winner's
// state and is refused.
func (s *Service) RemoveOwnVoluntaryFactor(ctx context.Context, kind FactorKind) (Details, error) {
	p := PrincipalFrom(ctx)
	if p == nil {
		return Details{}, ErrAuthHeaderMissing
	}
	if p.Machine {
		return Details{}, ErrNotAPerson
	}
	if kind == FactorU2F {
		return Details{}, invalid("COMMAND-fgVo1", "a security key is removed by its id")
	}
	sc := scope{orgID: p.OrgID, guard: s.voluntaryGuard}
	return s.removeFactor(ctx, sc, FactorRef{UserID: p.UserID, Kind: kind})
}

// voluntaryGuard refuses to remove a mandatory factor (see
// RemoveOwnVoluntaryFactor).
func (s *Service) voluntaryGuard(ctx context.Context, u *userState, f *Factor) error {
	if f.State != FactorReady {
		return nil // a pending registration protects nothing
	}
	ready := 0
	for _, other := range u.Factors {
		if other.State == FactorReady {
			ready++
		}
	}
	if ready > 1 {
		return nil
	}
	pol, err := s.GetLoginPolicy(ctx, u.Owner)
	if err != nil {
		return err
	}
	if pol.Policy.ForceMFA {
		return ErrMandatoryFactor
	}
	return nil
}
