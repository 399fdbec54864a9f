package server_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc/codes"

	mgmt "github.com/factorgate/factorgate/gen/zitadel/management"
	"github.com/factorgate/factorgate/gen/zitadel/object"
	"github.com/factorgate/factorgate/server/mfa"
)

// The same cases run over gRPC, gRPC-Web and REST and must give the same
// code, message and error id; REST must also give the vendor's HTTP status.
func TestRemoveFactorEveryTransport(t *testing.T) {
	e := mustRunServer(t)
	otherOrg := e.newOrg("other-org")
	_, viewerToken := e.machineToken(e.org, "ORG_OWNER_VIEWER") // user.read but not user.write
	_, noRoleToken := e.machineToken(e.org)                     // no membership at all

	type fixture struct{ user string }
	kinds := []struct {
		name     string
		kind     mfa.FactorKind
		enroll   func(e *env, user string)
		op       func(user string) op
		notFound string // message of the kind's NotFound
		id       string
	}{
		{"otp", mfa.FactorTOTP, (*env).enrollTOTP, func(u string) op {
			return newOp[mgmt.RemoveHumanAuthFactorOTPRequest, mgmt.RemoveHumanAuthFactorOTPResponse](
				"/zitadel.management.v1.ManagementService/RemoveHumanAuthFactorOTP", &mgmt.RemoveHumanAuthFactorOTPRequest{UserId: u},
				http.MethodDelete, "/management/v1/users/"+u+"/auth_factors/otp", "")
		}, "Multifactor OTP (OneTimePassword) doesn't exist (COMMAND-Hd9sd)", "COMMAND-Hd9sd"},
		{"otp_sms", mfa.FactorOTPSMS, func(e *env, u string) { e.addOTP(u, mfa.FactorOTPSMS) }, func(u string) op {
			return newOp[mgmt.RemoveHumanAuthFactorOTPSMSRequest, mgmt.RemoveHumanAuthFactorOTPSMSResponse](
				"/zitadel.management.v1.ManagementService/RemoveHumanAuthFactorOTPSMS", &mgmt.RemoveHumanAuthFactorOTPSMSRequest{UserId: u},
				http.MethodDelete, "/management/v1/users/"+u+"/auth_factors/otp_sms", "")
		}, "Multifactor OTP (OneTimePassword) doesn't exist (COMMAND-Sr3h3)", "COMMAND-Sr3h3"},
		{"otp_email", mfa.FactorOTPEmail, func(e *env, u string) { e.addOTP(u, mfa.FactorOTPEmail) }, func(u string) op {
			return newOp[mgmt.RemoveHumanAuthFactorOTPEmailRequest, mgmt.RemoveHumanAuthFactorOTPEmailResponse](
				"/zitadel.management.v1.ManagementService/RemoveHumanAuthFactorOTPEmail", &mgmt.RemoveHumanAuthFactorOTPEmailRequest{UserId: u},
				http.MethodDelete, "/management/v1/users/"+u+"/auth_factors/otp_email", "")
		}, "Multifactor OTP (OneTimePassword) doesn't exist (COMMAND-b312D)", "COMMAND-b312D"},
		{"u2f", mfa.FactorU2F, func(e *env, u string) { e.enrollU2F(u) }, func(u string) op {
			id := e.u2fID(u)
			return newOp[mgmt.RemoveHumanAuthFactorU2FRequest, mgmt.RemoveHumanAuthFactorU2FResponse](
				"/zitadel.management.v1.ManagementService/RemoveHumanAuthFactorU2F", &mgmt.RemoveHumanAuthFactorU2FRequest{UserId: u, TokenId: id},
				http.MethodDelete, "/management/v1/users/"+u+"/auth_factors/u2f/"+id, "")
		}, "WebAuthN Token could not be found (COMMAND-DAfb2)", "COMMAND-DAfb2"},
	}
	long := strings.Repeat("9", 201)

	type want struct {
		code     codes.Code
		http     int
		message  string
		detailID string
	}
	for _, k := range kinds {
		cases := []struct {
			name   string
			setup  func() (user string)  // returns the target user
			token  func() string         // caller
			org    func() string         // x-zitadel-orgid
			target func(u string) string // user id to send
			want   func() want
			after  func(t *testing.T, user string)
		}{
			{name: "success", setup: func() string { u := e.newHuman(e.org); k.enroll(e, u); return u },
				want: func() want { return want{code: codes.OK, http: 200} },
				after: func(t *testing.T, u string) {
					if fs := e.factors(u); len(fs) != 0 {
						t.Errorf("factor still listed after removal: %+v", fs)
					}
				}},
			{name: "never enrolled is not found", setup: func() string { return e.newHuman(e.org) },
				want: func() want { return want{codes.NotFound, 404, k.notFound, k.id} }},
			{name: "removed twice is not found", setup: func() string {
				u := e.newHuman(e.org)
				k.enroll(e, u)
				ref := mfa.FactorRef{UserID: u, Kind: k.kind}
				if k.kind == mfa.FactorU2F {
					ref.ID = e.u2fID(u)
				}
				if _, err := e.core.RemoveFactor(e.ctx, "", ref); err != nil {
					t.Fatal(err)
				}
				return u
			}, want: func() want { return want{codes.NotFound, 404, k.notFound, k.id} }},
			{name: "user of another org is not found", setup: func() string { u := e.newHuman(otherOrg); k.enroll(e, u); return u },
				want: func() want { return want{codes.NotFound, 404, k.notFound, k.id} },
				after: func(t *testing.T, u string) {
					if fs := e.factors(u); len(fs) != 1 {
						t.Errorf("factor of another org was touched: %+v", fs)
					}
				}},
			{name: "unknown user is not found", setup: func() string { return "123456789" },
				want: func() want { return want{codes.NotFound, 404, k.notFound, k.id} }},
			{name: "org header naming a missing org is denied", setup: func() string { u := e.newHuman(e.org); k.enroll(e, u); return u },
				org: func() string { return "999999999" },
				want: func() want {
					return want{codes.PermissionDenied, 403, "Organisation doesn't exist (AUTH-Bs7Ds)", "AUTH-Bs7Ds"}
				}},
			{name: "missing token is unauthenticated", setup: func() string { u := e.newHuman(e.org); k.enroll(e, u); return u },
				token: func() string { return "" },
				want:  func() want { return want{codes.Unauthenticated, 401, "auth header missing", ""} }},
			{name: "invalid token is unauthenticated", setup: func() string { u := e.newHuman(e.org); k.enroll(e, u); return u },
				token: func() string { return "fg_not-a-real-token" },
				want: func() want {
					return want{codes.Unauthenticated, 401, "Errors.Token.Invalid (AUTH-7fs1e)", "AUTH-7fs1e"}
				}},
			{name: "role without user.write is denied", setup: func() string { u := e.newHuman(e.org); k.enroll(e, u); return u },
				token: func() string { return viewerToken },
				want: func() want {
					return want{codes.PermissionDenied, 403, "No matching permissions found (AUTH-5mWD2)", "AUTH-5mWD2"}
				}},
			{name: "no membership is not found", setup: func() string { u := e.newHuman(e.org); k.enroll(e, u); return u },
				token: func() string { return noRoleToken },
				want:  func() want { return want{codes.NotFound, 404, "membership not found (AUTHZ-cdgFk)", "AUTHZ-cdgFk"} }},
			{name: "user id over 200 characters is invalid", setup: func() string { return e.newHuman(e.org) },
				target: func(string) string { return long },
				want: func() want {
					return want{codes.InvalidArgument, 400, "invalid " + reqName(k.name) + ".UserId: value length must be between 1 and 200 runes, inclusive", ""}
				}},
			{name: "invalid input without a token is unauthenticated first", setup: func() string { return e.newHuman(e.org) },
				target: func(string) string { return long }, token: func() string { return "" },
				want: func() want { return want{codes.Unauthenticated, 401, "auth header missing", ""} }},
		}
		for _, c := range cases {
			for _, tr := range transports {
				t.Run(k.name+"/"+c.name+"/"+tr.name, func(t *testing.T) {
					user := c.setup()
					target := user
					if c.target != nil {
						target = c.target(user)
					}
					token := e.admin
					if c.token != nil {
						token = c.token()
					}
					org := ""
					if c.org != nil {
						org = c.org()
					}
					w := c.want()
					got := tr.call(e, k.op(target), token, org)
					if got.code != w.code || got.message != w.message || got.detailID != w.detailID {
						t.Fatalf("got (%v, %q, detail %q), want (%v, %q, detail %q)", got.code, got.message, got.detailID, w.code, w.message, w.detailID)
					}
					if tr.name == "rest" && got.http != w.http {
						t.Fatalf("HTTP status %d, want %d; body %s", got.http, w.http, got.body)
					}
					if w.code == codes.OK {
						d := got.resp.(interface{ GetDetails() *objectDetails }).GetDetails()
						checkChangeDetails(t, e, user, d)
					}
					if c.after != nil {
						c.after(t, user)
					}
				})
			}
		}
	}
}

func reqName(kind string) string {
	switch kind {
	case "otp":
		return "RemoveHumanAuthFactorOTPRequest"
	case "otp_sms":
		return "RemoveHumanAuthFactorOTPSMSRequest"
	case "u2f":
		return "RemoveHumanAuthFactorU2FRequest"
	default:
		return "RemoveHumanAuthFactorOTPEmailRequest"
	}
}

// Racing removals of one factor: exactly one succeeds, the rest are
// NotFound, over the real server.
func TestRacingRemovalsOneWins(t *testing.T) {
	e := mustRunServer(t)
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			u := e.newHuman(e.org)
			e.enrollTOTP(u)
			o := newOp[mgmt.RemoveHumanAuthFactorOTPRequest, mgmt.RemoveHumanAuthFactorOTPResponse](
				"/zitadel.management.v1.ManagementService/RemoveHumanAuthFactorOTP", &mgmt.RemoveHumanAuthFactorOTPRequest{UserId: u},
				http.MethodDelete, "/management/v1/users/"+u+"/auth_factors/otp", "")
			const n = 24
			results := make([]outcome, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Add(1)
				go func() { defer wg.Done(); results[i] = tr.call(e, o, e.admin, "") }()
			}
			wg.Wait()
			ok, notFound := 0, 0
			for _, r := range results {
				switch r.code {
				case codes.OK:
					ok++
				case codes.NotFound:
					notFound++
				default:
					t.Errorf("unexpected outcome %v %q", r.code, r.message)
				}
			}
			if ok != 1 || notFound != n-1 {
				t.Fatalf("%d successes and %d NotFound, want 1 and %d", ok, notFound, n-1)
			}
		})
	}
}

type objectDetails = object.ObjectDetails

// checkChangeDetails asserts ZITADEL's v1 change details for a removal:
// the user's new per-aggregate sequence, its organization, a change date
// and no creation date.
func checkChangeDetails(t *testing.T, e *env, user string, d *objectDetails) {
	t.Helper()
	events, err := e.srv.Store().Load(context.Background(), "user", user, 0)
	if err != nil {
		t.Fatal(err)
	}
	last := events[len(events)-1]
	if d.GetSequence() != last.Sequence {
		t.Errorf("details.sequence = %d, want the user's last event sequence %d", d.GetSequence(), last.Sequence)
	}
	if !strings.HasSuffix(last.Type, ".removed") {
		t.Errorf("last event of the user is %q, want a removal", last.Type)
	}
	if d.GetResourceOwner() != last.ResourceOwner || d.GetResourceOwner() == "" {
		t.Errorf("details.resourceOwner = %q, want %q", d.GetResourceOwner(), last.ResourceOwner)
	}
	if !d.GetChangeDate().AsTime().Equal(last.CreatedAt) {
		t.Errorf("details.changeDate = %v, want the event time %v", d.GetChangeDate().AsTime(), last.CreatedAt)
	}
	if d.GetCreationDate() != nil {
		t.Errorf("details.creationDate set on a removal: %v", d.GetCreationDate())
	}
}
