package server_test

import (
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	mgmt "github.com/factorgate/factorgate/gen/zitadel/management"
	"github.com/factorgate/factorgate/gen/zitadel/policy"
	"github.com/factorgate/factorgate/server/mfa"
)

// management.v1 GenerateMachineSecret (PUT /management/v1/users/{user_id}/secret)
// and the client credentials grant that uses its secret.

func generateMachineSecret(userID string) op {
	return newOp[mgmt.GenerateMachineSecretRequest, mgmt.GenerateMachineSecretResponse](mgmtSvc+"GenerateMachineSecret",
		&mgmt.GenerateMachineSecretRequest{UserId: userID}, http.MethodPut, "/management/v1/users/"+userID+"/secret", `{}`)
}

// clientCredentials asks the token endpoint for a token with HTTP Basic
// client authentication and returns the status, the token and the body.
func (e *env) clientCredentials(clientID, secret string) (int, string, map[string]any) {
	e.t.Helper()
	code, body := e.postForm(url.Values{"grant_type": {"client_credentials"}}, clientID, secret)
	tok, _ := body["access_token"].(string)
	return code, tok, body
}

func TestGenerateMachineSecret(t *testing.T) {
	e := mustRunServer(t)
	other := e.newOrg("elsewhere")
	_, viewer := e.machineToken(e.org, "ORG_OWNER_VIEWER") // user.read, no user.write

	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			// A service that may manage users, but has no secret yet.
			bot, username := e.namedMachine(e.org, "ORG_USER_MANAGER")
			if code, tok, body := e.clientCredentials(username, "anything"); code != http.StatusUnauthorized || tok != "" {
				t.Fatalf("client credentials before a secret exists: %d %v, want 401 invalid_client", code, body)
			}

			got := e.mustCall(t, tr, generateMachineSecret(bot), e.admin, e.org, success)
			r := got.resp.(*mgmt.GenerateMachineSecretResponse)
			if r.GetClientId() != username {
				t.Errorf("client_id = %q, want the machine's username %q", r.GetClientId(), username)
			}
			if len(r.GetClientSecret()) < 32 {
				t.Fatalf("client_secret = %q, want a long random secret", r.GetClientSecret())
			}
			d := r.GetDetails()
			e.wantDetails(t, d, "user", bot, e.org, mfa.EventMachineSecretSet, false)

			// The secret works at the token endpoint, and the token acts with
			// the machine's role (ORG_USER_MANAGER may remove factors).
			code, tok, body := e.clientCredentials(r.GetClientId(), r.GetClientSecret())
			if code != http.StatusOK || tok == "" || body["token_type"] != "Bearer" {
				t.Fatalf("client credentials with the new secret: %d %v", code, body)
			}
			person := e.newHuman(e.org)
			e.enrollTOTP(person)
			e.mustCall(t, tr, removeTOTP(person), tok, "", success)
			if fs := e.factors(person); len(fs) != 0 {
				t.Errorf("factors after the removal with the client-credentials token: %v, want none", fs)
			}
			// The token carries no more than the role: no policy.write.
			e.mustCall(t, tr, mgmtAddSecondFactor(policy.SecondFactorType_SECOND_FACTOR_TYPE_U2F), tok, "", noPermission)

			// A new secret replaces the old one.
			again := e.mustCall(t, tr, generateMachineSecret(bot), e.admin, e.org, success).resp.(*mgmt.GenerateMachineSecretResponse)
			if again.GetClientSecret() == r.GetClientSecret() {
				t.Fatal("the second secret equals the first")
			}
			if again.GetDetails().GetSequence() <= d.GetSequence() {
				t.Errorf("second details.sequence %d, want above %d", again.GetDetails().GetSequence(), d.GetSequence())
			}
			if code, _, body := e.clientCredentials(username, r.GetClientSecret()); code != http.StatusUnauthorized || body["error"] != "invalid_client" {
				t.Errorf("the replaced secret: %d %v, want 401 invalid_client", code, body)
			}
			if code, tok, body := e.clientCredentials(username, again.GetClientSecret()); code != http.StatusOK || tok == "" {
				t.Errorf("the new secret: %d %v, want a token", code, body)
			}
		})
	}

	for _, tr := range transports {
		t.Run(tr.name+" errors", func(t *testing.T) {
			person := e.newHuman(e.org)
			e.mustCall(t, tr, generateMachineSecret(person), e.admin, e.org,
				failure(codes.FailedPrecondition, 400, "The User must be technical", "COMMAND-Dggw2"))

			// A machine user of another organization, addressed from ours.
			stranger, _ := e.machineToken(other)
			e.mustCall(t, tr, generateMachineSecret(stranger), e.admin, e.org,
				failure(codes.NotFound, 404, "User could not be found", "COMMAND-M0dsf"))
			// From its own organization it works.
			e.mustCall(t, tr, generateMachineSecret(stranger), e.admin, other, success)

			bot, username := e.namedMachine(e.org)
			e.mustCall(t, tr, generateMachineSecret(bot), viewer, e.org, noPermission)
			e.mustCall(t, tr, generateMachineSecret(bot), "", e.org,
				expect{code: codes.Unauthenticated, http: 401, message: "auth header missing"})
			if tr.name != "rest" { // an empty user_id cannot be spelled as a REST path
				e.mustCall(t, tr, generateMachineSecret(""), e.admin, e.org,
					expect{code: codes.InvalidArgument, message: "invalid GenerateMachineSecretRequest.UserId: value length must be at least 1 runes"})
			}
			if code, _, body := e.clientCredentials(username, "guess"); code != http.StatusUnauthorized {
				t.Errorf("a machine without a secret got %d %v from the token endpoint", code, body)
			}
		})
	}

	t.Run("wrong HTTP method", func(t *testing.T) {
		bot, _ := e.namedMachine(e.org)
		if code, body := e.rawREST(http.MethodPost, "/management/v1/users/"+bot+"/secret", e.admin, `{}`); code != http.StatusMethodNotAllowed {
			t.Errorf("POST …/secret = %d %s, want 405", code, body)
		}
	})
}

// namedMachine creates a machine user in org with the given org roles and
// returns its id and username (the client id of the grant).
func (e *env) namedMachine(org string, roles ...string) (userID, username string) {
	e.t.Helper()
	seq := int(userSeq.Add(1))
	username = fmt.Sprintf("robot-%d-%d", time.Now().UnixNano(), seq)
	d, err := e.core.AddMachineUser(e.ctx, org, mfa.MachineInput{Username: username, Name: "robot"})
	if err != nil {
		e.t.Fatalf("AddMachineUser: %v", err)
	}
	if len(roles) > 0 {
		if _, err := e.core.AddOrgMember(e.ctx, org, d.ID, roles); err != nil {
			e.t.Fatalf("AddOrgMember: %v", err)
		}
	}
	return d.ID, username
}
