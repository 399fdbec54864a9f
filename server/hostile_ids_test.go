package server_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	oneloginv1 "github.com/factorgate/factorgate/gen/factorgate/onelogin/v1"
	userv2 "github.com/factorgate/factorgate/gen/zitadel/user/v2"
)

// hostileIDs are ids no client should send: too large for any integer,
// negative, not a number, unicode, SQL, control and path characters.
var hostileIDs = []string{
	"99999999999999999999999999999", "9223372036854775808", "-1", "0", "abc", "1e3", "0x1f",
	"ünïcødé-名前", "1' OR '1'='1", "1; DROP TABLE events;--", `"quoted"`, "..", "a/b", "%00", "\x00", " 1", "1 ",
	strings.Repeat("9", 2000),
}

// Hostile ids in every dialect's paths and bodies get the dialect's 4xx
// (NotFound or 400, in its body), never a 5xx, and write nothing.
func TestHostileIDsGetTheDialects4xxNever5xxAndWriteNothing(t *testing.T) {
	e := mustRunServer(t)
	victim, name := e.druidPerson(e.org)
	e.enrollTOTP(victim)
	e.addOTP(victim, "OTP_SMS")
	person := e.druidLogin(name)
	cred, _, err := e.core.CreateAPICredential(e.ctx, e.org, "Manage All")
	if err != nil {
		t.Fatal(err)
	}
	g, err := e.core.APICredentialGrant(context.Background(), cred.ClientID, cred.Secret)
	if err != nil {
		t.Fatal(err)
	}
	ol := g.Token
	before := len(e.userLog(victim))

	type call struct {
		verb, path, body, token string
		druid                   bool
	}
	var calls []call
	for _, id := range hostileIDs {
		p := url.PathEscape(id)
		calls = append(calls,
			call{verb: http.MethodDelete, path: "/v2/users/" + p + "/totp", token: e.admin},
			call{verb: http.MethodDelete, path: "/v2/users/" + victim + "/u2f/" + p, token: e.admin},
			call{verb: http.MethodPost, path: "/v2/users/" + p + "/totp", body: "{}", token: e.admin},
			call{verb: http.MethodDelete, path: "/management/v1/users/" + p + "/auth_factors/otp", token: e.admin},
			call{verb: http.MethodDelete, path: "/resources/v3alpha/users/" + victim + "/totp/" + p, token: e.admin},
			call{verb: http.MethodDelete, path: "/v3alpha/users/" + p + "/totp/" + p, token: e.admin},
			call{verb: http.MethodGet, path: "/api/1/users/" + p + "/otp_devices", token: ol},
			call{verb: http.MethodDelete, path: "/api/1/users/" + victim + "/otp_devices/" + p, token: ol},
			call{verb: http.MethodDelete, path: "/api/1/users/" + p + "/otp_devices/1", token: ol},
			call{verb: http.MethodGet, path: "/api/2/mfa/users/" + p + "/devices", token: ol},
			call{verb: http.MethodDelete, path: "/api/2/mfa/users/" + victim + "/devices/" + p, token: ol},
			call{verb: http.MethodPut, path: "/api/2/mfa/users/" + victim + "/registrations/" + p, body: `{"otp":"123456"}`, token: ol},
			call{verb: http.MethodPost, path: "/activityid/v1/mfa/delete", token: person, druid: true,
				body: druidBody(id, "sms", nil)},
			call{verb: http.MethodPost, path: "/activityid/v1/mfa/delete", token: person, druid: true,
				body: druidBody(victim, id, nil)},
		)
	}
	for _, c := range calls {
		req, err := http.NewRequest(c.verb, e.base+c.path, strings.NewReader(c.body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+c.token)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json")
		req.Header.Set("From", "hostile-ids")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", c.verb, c.path, err)
		}
		raw, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode < 400 || res.StatusCode >= 500 {
			t.Errorf("%s %q body %.80q: status %d, want a 4xx; body %s", c.verb, c.path, c.body, res.StatusCode, raw)
			continue
		}
		if !json.Valid(raw) {
			t.Errorf("%s %q: error body is not JSON: %q", c.verb, c.path, raw)
		}
	}

	// Over gRPC too, where no gateway parses the ids first.
	ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+e.admin)
	for _, id := range hostileIDs {
		_, err := userv2.NewUserServiceClient(e.conn).RemoveTOTP(ctx, &userv2.RemoveTOTPRequest{UserId: id})
		if c := status.Code(err); c != codes.NotFound && c != codes.InvalidArgument && c != codes.PermissionDenied {
			t.Errorf("RemoveTOTP(%q): %v, want NotFound or InvalidArgument", id, err)
		}
	}
	olctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+ol)
	for _, id := range hostileIDs {
		_, err := oneloginv1.NewMFAServiceClient(e.conn).RemoveFactor(olctx, &oneloginv1.RemoveFactorRequest{UserId: id, DeviceId: id})
		if c := status.Code(err); c != codes.NotFound && c != codes.InvalidArgument {
			t.Errorf("OneLogin RemoveFactor(%q): %v, want NotFound or InvalidArgument", id, err)
		}
		_, err = oneloginv1.NewMFAServiceClient(e.conn).RemoveFactor(olctx, &oneloginv1.RemoveFactorRequest{UserId: victim, DeviceId: id})
		if c := status.Code(err); c != codes.NotFound && c != codes.InvalidArgument {
			t.Errorf("OneLogin RemoveFactor(victim, %q): %v, want NotFound or InvalidArgument", id, err)
		}
	}

	if after := len(e.userLog(victim)); after != before {
		t.Errorf("the victim's events went from %d to %d: a hostile id wrote: %v", before, after, e.userLog(victim)[before:])
	}
	if n := len(e.factors(victim)); n != 2 {
		t.Errorf("the victim has %d factors, want 2", n)
	}
}
