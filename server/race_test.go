package server_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"

	"google.golang.org/grpc/codes"

	mgmt "github.com/factorgate/factorgate/gen/zitadel/management"
	userv2 "github.com/factorgate/factorgate/gen/zitadel/user/v2"
	"github.com/factorgate/factorgate/server/mfa"
)

// TestRacesAcrossDialectsOneWinnerAndTheLogAgrees races conflicting
// writes over every transport and dialect at once:
//   - removals of one person's OTP SMS through management.v1 (gRPC,
//     gRPC-Web, REST), user.v2 REST, OneLogin v1 and v2 and DruID: exactly
//     one succeeds, the others get their dialect's not-found answer;
//   - enrollments and removals of one person's OTP email at once (user.v2
//     REST and gRPC-Web enroll; management.v1 over three transports, user.v2
//     and DruID remove): every success is exactly one event, and no
//     removal succeeds without a factor to remove;
//   - additions and removals of the same second factor of one
//     organization's policy over gRPC, gRPC-Web and REST: likewise.
//
// Afterwards every touched aggregate's stored document equals the fold of
// its events. Run under -race by make test.
func TestRacesAcrossDialectsOneWinnerAndTheLogAgrees(t *testing.T) {
	t.Parallel() // long; shares nothing with other tests (make test time)
	e := mustRunServer(t)
	org := e.newOrg("races")
	if _, err := e.core.AddCustomLoginPolicy(e.ctx, org, mfa.LoginPolicy{SecondFactors: []mfa.SecondFactor{mfa.SecondFactorTOTP, mfa.SecondFactorU2F}}); err != nil {
		t.Fatal(err)
	}
	cred, _, err := e.core.CreateAPICredential(e.ctx, org, mfa.ScopeManageAll)
	if err != nil {
		t.Fatal(err)
	}
	ol := &olEnv{env: e}
	olToken := ol.token(t, cred.ClientID, cred.Secret)

	const people = 4
	var wg sync.WaitGroup
	type person struct {
		id, druidToken, smsID string
		smsWins               atomic.Int32
		emailAdds             atomic.Int32
		emailRemoves          atomic.Int32
	}
	ps := make([]*person, people)
	for i := range ps {
		id, name := e.druidPerson(org)
		e.addOTP(id, mfa.FactorOTPSMS)
		e.addOTP(id, mfa.FactorOTPEmail)
		p := &person{id: id, druidToken: e.druidLogin(name)}
		for _, f := range e.factors(id) {
			if f.Kind == mfa.FactorOTPSMS {
				p.smsID = f.ID
			}
		}
		ps[i] = p
	}
	var unexpected sync.Mutex
	fail := func(format string, args ...any) {
		unexpected.Lock()
		defer unexpected.Unlock()
		t.Errorf(format, args...)
	}
	// restDo sends a REST call with a raw Authorization header.
	restDo := func(method, path, auth string) int {
		req, _ := http.NewRequest(method, e.base+path, nil)
		req.Header.Set("Authorization", auth)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			fail("%s %s: %v", method, path, err)
			return 0
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.StatusCode
	}
	// zitadel runs one ZITADEL op over one transport: true on success,
	// false on NotFound/AlreadyExists/FailedPrecondition (lost the race).
	zitadel := func(tr transport, o op, org string) bool {
		out := tr.call(e, o, e.admin, org)
		switch out.code {
		case codes.OK:
			return true
		case codes.NotFound, codes.AlreadyExists, codes.FailedPrecondition:
			return false
		}
		fail("%s over %s: %v %s", o.method, tr.name, out.code, out.message)
		return false
	}
	start := make(chan struct{})
	for _, p := range ps {
		u := p.id
		smsRemovals := []func() bool{
			func() bool {
				return restDo(http.MethodDelete, "/v2/users/"+u+"/otp_sms", "Bearer "+e.admin) == http.StatusOK
			},
			func() bool {
				return restDo(http.MethodDelete, "/api/1/users/"+u+"/otp_devices/"+p.smsID, "bearer:"+olToken) == http.StatusOK
			},
			func() bool {
				return restDo(http.MethodDelete, "/api/2/mfa/users/"+u+"/devices/"+p.smsID, "bearer:"+olToken) == http.StatusNoContent
			},
			func() bool {
				code, _, _ := e.druidDelete(druidHeaders(p.druidToken, nil), druidBody(u, "sms", nil))
				return code == http.StatusOK
			},
		}
		rmSMS := newOp[mgmt.RemoveHumanAuthFactorOTPSMSRequest, mgmt.RemoveHumanAuthFactorOTPSMSResponse](mgmtSvc+"RemoveHumanAuthFactorOTPSMS",
			&mgmt.RemoveHumanAuthFactorOTPSMSRequest{UserId: u}, http.MethodDelete, "/management/v1/users/"+u+"/auth_factors/otp_sms", "")
		for _, tr := range transports {
			smsRemovals = append(smsRemovals, func() bool { return zitadel(tr, rmSMS, org) })
		}
		for _, f := range smsRemovals {
			wg.Go(func() {
				<-start
				if f() {
					p.smsWins.Add(1)
				}
			})
		}

		rmEmail := newOp[mgmt.RemoveHumanAuthFactorOTPEmailRequest, mgmt.RemoveHumanAuthFactorOTPEmailResponse](mgmtSvc+"RemoveHumanAuthFactorOTPEmail",
			&mgmt.RemoveHumanAuthFactorOTPEmailRequest{UserId: u}, http.MethodDelete, "/management/v1/users/"+u+"/auth_factors/otp_email", "")
		addEmail := newOp[userv2.AddOTPEmailRequest, userv2.AddOTPEmailResponse]("/zitadel.user.v2.UserService/AddOTPEmail",
			&userv2.AddOTPEmailRequest{UserId: u}, http.MethodPost, "/v2/users/"+u+"/otp_email", "{}")
		emailRemovals := []func() bool{
			func() bool {
				return restDo(http.MethodDelete, "/v2/users/"+u+"/otp_email", "Bearer "+e.admin) == http.StatusOK
			},
			func() bool {
				code, _, _ := e.druidDelete(druidHeaders(p.druidToken, nil), druidBody(u, "email", nil))
				return code == http.StatusOK
			},
		}
		for _, tr := range transports {
			emailRemovals = append(emailRemovals, func() bool { return zitadel(tr, rmEmail, org) })
		}
		for _, f := range emailRemovals {
			wg.Go(func() {
				<-start
				if f() {
					p.emailRemoves.Add(1)
				}
			})
		}
		for _, tr := range transports {
			wg.Go(func() {
				<-start
				if zitadel(tr, addEmail, "") {
					p.emailAdds.Add(1)
				}
			})
		}
	}
	var policyAdds, policyRemoves atomic.Int32
	addU2F := newOp[mgmt.AddSecondFactorToLoginPolicyRequest, mgmt.AddSecondFactorToLoginPolicyResponse](mgmtSvc+"AddSecondFactorToLoginPolicy",
		&mgmt.AddSecondFactorToLoginPolicyRequest{Type: sfU2F}, http.MethodPost, "/management/v1/policies/login/second_factors", `{"type":"SECOND_FACTOR_TYPE_U2F"}`)
	rmU2F := newOp[mgmt.RemoveSecondFactorFromLoginPolicyRequest, mgmt.RemoveSecondFactorFromLoginPolicyResponse](mgmtSvc+"RemoveSecondFactorFromLoginPolicy",
		&mgmt.RemoveSecondFactorFromLoginPolicyRequest{Type: sfU2F}, http.MethodDelete, "/management/v1/policies/login/second_factors/SECOND_FACTOR_TYPE_U2F", "")
	for range 2 {
		for _, tr := range transports {
			wg.Go(func() {
				<-start
				if zitadel(tr, rmU2F, org) {
					policyRemoves.Add(1)
				}
			})
			wg.Go(func() {
				<-start
				if zitadel(tr, addU2F, org) {
					policyAdds.Add(1)
				}
			})
		}
	}
	close(start)
	wg.Wait()

	ctx := context.Background()
	count := func(typ, id string) map[string]int {
		events, err := e.srv.Store().Load(ctx, typ, id, 0)
		if err != nil {
			t.Fatal(err)
		}
		n := map[string]int{}
		for _, ev := range events {
			n[ev.Type]++
		}
		return n
	}
	agree := func(typ, id string) {
		replayed, stored, err := e.core.Replay(ctx, typ, id)
		if err != nil {
			t.Fatalf("Replay %s/%s: %v", typ, id, err)
		}
		var r, s map[string]any
		if err := json.Unmarshal(replayed, &r); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(stored, &s); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(r, s) {
			t.Errorf("%s/%s: stored document differs from the fold of its events\nreplayed: %s\nstored:   %s", typ, id, replayed, stored)
		}
	}
	races := 0
	for _, p := range ps {
		n := count("user", p.id)
		if w := p.smsWins.Load(); w != 1 || n[mfa.EventOTPSMSRemoved] != 1 {
			t.Errorf("user %s: %d of 7 racing OTP SMS removals succeeded, %d removal events; want exactly 1 and 1", p.id, w, n[mfa.EventOTPSMSRemoved])
		}
		adds, removes := int(p.emailAdds.Load()), int(p.emailRemoves.Load())
		if n[mfa.EventOTPEmailAdded] != 1+adds || n[mfa.EventOTPEmailRemoved] != removes {
			t.Errorf("user %s: %d email enrollments and %d removals succeeded, but the log has %d added (1 before the race) and %d removed",
				p.id, adds, removes, n[mfa.EventOTPEmailAdded], n[mfa.EventOTPEmailRemoved])
		}
		if removes < 1 || removes > 1+adds {
			t.Errorf("user %s: %d email removals succeeded with %d enrollments (and 1 before): a removal without a factor, or none at all", p.id, removes, adds)
		}
		has := false
		for _, f := range e.factors(p.id) {
			has = has || f.Kind == mfa.FactorOTPEmail
		}
		if want := 1+adds-removes == 1; has != want {
			t.Errorf("user %s: OTP email present = %v, want %v after %d enrollments and %d removals", p.id, has, want, adds, removes)
		}
		agree("user", p.id)
		races += 7 + 8
	}
	n := count("org", org)
	adds, removes := int(policyAdds.Load()), int(policyRemoves.Load())
	if n[mfa.EventOrgSecondFactorAdded] != adds || n[mfa.EventOrgSecondFactorRemov] != removes || removes < 1 || removes > 1+adds {
		t.Errorf("policy U2F: %d additions and %d removals succeeded; the log has %d added and %d removed", adds, removes,
			n[mfa.EventOrgSecondFactorAdded], n[mfa.EventOrgSecondFactorRemov])
	}
	agree("org", org)
	races += 12
	t.Logf("%d racing calls over gRPC, gRPC-Web, REST (ZITADEL v1/v2), OneLogin v1/v2 and DruID; %d people", races, people)
}
