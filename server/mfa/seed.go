package mfa

import (
	"context"
	"crypto/rand"
	"fmt"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/factorgate/factorgate/server/eventstore"
)

// SeedOptions describes synthetic people for benchmarks and load tests.
type SeedOptions struct {
	// OrgID is the organization the people join.
	OrgID string
	// Users is how many people to create; each gets a ready TOTP factor
	// and U2FPerUser ready security keys.
	Users      int
	U2FPerUser int
	// Prefix makes the usernames unique across calls ("<prefix>-<n>").
	Prefix string
	// BatchSize is how many people one transaction writes (default 500).
	BatchSize int
}

// SeededUser names what Seed created for one person.
type SeededUser struct {
	ID     string
	TOTPID string
	U2FIDs []string
}

// Seed creates people with ready factors in large transactions, writing the
// same events (and read-model documents) as the enrolment commands would,
// so the result is indistinguishable from real enrolments to every query
// and removal; only the security keys' public keys are random bytes (no one
// signs in with them). It checks no permission: it is for trusted tools
// such as the benchmark program and is reachable from no API.
func (s *Service) Seed(ctx context.Context, opt SeedOptions) ([]SeededUser, error) {
	if opt.OrgID == "" || opt.Users <= 0 || opt.U2FPerUser < 0 {
		return nil, fmt.Errorf("mfa: seed: want an organization, users > 0 and u2f >= 0")
	}
	if opt.BatchSize <= 0 {
		opt.BatchSize = 500
	}
	if org, err := s.loadOrg(ctx, opt.OrgID); err != nil {
		return nil, err
	} else if org == nil {
		return nil, ErrOrgNotFound
	}
	out := make([]SeededUser, 0, opt.Users)
	for start := 0; start < opt.Users; start += opt.BatchSize {
		c := s.newChange(ctx)
		c.creator = "seed"
		for i := start; i < min(start+opt.BatchSize, opt.Users); i++ {
			su, err := s.seedOne(c, opt, i)
			if err != nil {
				return out, err
			}
			out = append(out, su)
		}
		if err := s.commit(ctx, c); err != nil {
			return out, err
		}
	}
	return out, nil
}

func (s *Service) seedOne(c *change, opt SeedOptions, i int) (SeededUser, error) {
	name := fmt.Sprintf("%s-%d", opt.Prefix, i)
	u := &userState{aggregate: aggregate{Type: aggregateTypeUser, ID: s.NewID(), Owner: opt.OrgID}}
	if err := c.push(u, EventHumanAdded, humanAddedPayload{Username: name, GivenName: "Seed", FamilyName: name,
		Email: name + "@seed.invalid", EmailVerified: true}); err != nil {
		return SeededUser{}, err
	}
	c.batch.Claims = append(c.batch.Claims, eventstore.Claim{Key: claimUsername(name), Owner: u.ID})
	key, err := totp.Generate(totp.GenerateOpts{Issuer: s.issuer, AccountName: name,
		Period: totpPeriod, Digits: totpDigits, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		return SeededUser{}, err
	}
	sealed, err := s.sealer.seal([]byte(key.Secret()), "totp:"+u.ID)
	if err != nil {
		return SeededUser{}, err
	}
	su := SeededUser{ID: u.ID, TOTPID: s.NewID()}
	if err := c.push(u, EventTOTPAdded, totpAddedPayload{ID: su.TOTPID, Secret: sealed}); err != nil {
		return SeededUser{}, err
	}
	if err := c.push(u, EventTOTPVerified, factorIDPayload{ID: su.TOTPID}); err != nil {
		return SeededUser{}, err
	}
	for k := 0; k < opt.U2FPerUser; k++ {
		id := s.NewID()
		keyID, pub := make([]byte, 32), make([]byte, 77)
		_, _ = rand.Read(keyID)
		_, _ = rand.Read(pub)
		if err := c.push(u, EventU2FAdded, u2fAddedPayload{ID: id, RPID: s.rp.ID}); err != nil {
			return SeededUser{}, err
		}
		if err := c.push(u, EventU2FVerified, u2fVerifiedPayload{ID: id, Name: fmt.Sprintf("key %d", k+1),
			KeyID: keyID, PublicKey: pub, AttestationType: "none", RPID: s.rp.ID, KeyClaimed: true}); err != nil {
			return SeededUser{}, err
		}
		c.batch.Claims = append(c.batch.Claims, eventstore.Claim{Key: claimCredential(keyID), Owner: u.ID})
		su.U2FIDs = append(su.U2FIDs, id)
	}
	return su, nil
}
