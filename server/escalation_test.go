package server_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	mgmt "github.com/factorgate/factorgate/gen/zitadel/management"
)

// notAllYourRoles is the command's refusal of a credential for a machine
// user that holds more than the caller.
var notAllYourRoles = failure(codes.PermissionDenied, 403, "No matching permissions found", "AUTH-AWfge")

// A credential of a machine user (a personal access token, a client
// secret) acts with every role the machine holds, so issuing one takes
// every permission those roles grant, in the instance and in every
// organization the machine is a member of, not user.write alone: an
// organization's user manager could otherwise mint a token for a machine
// that is an instance owner, or an owner elsewhere, and act as it.
func TestIssuingAMachineCredentialTakesWhatTheMachineHolds(t *testing.T) {
	e := mustRunServer(t)
	p, err := e.core.Authenticate(e.ctx, e.admin)
	if err != nil {
		t.Fatal(err)
	}
	admin := p.UserID // IAM_OWNER, a machine user of the first organization
	other := e.newOrg("escalation-elsewhere")
	victim := e.newHuman(other)
	e.enrollTOTP(victim)

	_, manager := e.machineToken(e.org, "ORG_USER_MANAGER")
	_, owner := e.machineToken(e.org, "ORG_OWNER")
	plain, _ := e.machineToken(e.org)                        // no membership
	ownerBot, _ := e.machineToken(e.org, "ORG_OWNER")        // more than the manager has
	crossBot, _ := e.machineToken(e.org, "ORG_USER_MANAGER") // and an owner of the other organization
	if _, err := e.core.AddOrgMember(e.ctx, other, crossBot, []string{"ORG_OWNER"}); err != nil {
		t.Fatal(err)
	}

	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			for _, c := range []struct {
				who, caller, target string
				want                expect
			}{
				{"user manager, machine without roles", manager, plain, success},
				{"user manager, organization owner", manager, ownerBot, notAllYourRoles},
				{"user manager, instance owner", manager, admin, notAllYourRoles},
				{"user manager, owner of another organization", manager, crossBot, notAllYourRoles},
				{"organization owner, organization owner", owner, ownerBot, success},
				{"organization owner, instance owner", owner, admin, notAllYourRoles},
				{"organization owner, owner of another organization", owner, crossBot, notAllYourRoles},
				{"instance owner, owner of another organization", e.admin, crossBot, success},
			} {
				got := e.mustCall(t, tr, addPAT(c.target), c.caller, "", c.want)
				e.mustCall(t, tr, generateMachineSecret(c.target), c.caller, "", c.want)
				if c.want.code != codes.OK {
					continue
				}
				// The token issued acts as its machine.
				tok := got.resp.(*mgmt.AddPersonalAccessTokenResponse).GetToken()
				if p, err := e.core.Authenticate(e.ctx, tok); err != nil || p.UserID != c.target {
					t.Errorf("%s: the token issued authenticates as %v (%v), want %s", c.who, p, err, c.target)
				}
			}
		})
	}

	// Nothing the manager could issue reaches the other organization.
	if fs := e.factors(victim); len(fs) != 1 {
		t.Errorf("the other organization's person has %d factors, want the 1 enrolled", len(fs))
	}
}

// The membership documents that check lists are kept by the database
// itself: a membership another writer adds with plain SQL (an older binary
// during a rolling upgrade, an operator) gets one from a trigger, and the
// migration that brought them writes them for the memberships stored
// before it.
func TestMembershipsWrittenByAnotherWriterAreSeenWhenIssuingACredential(t *testing.T) {
	cfg := testConfig(t)
	e := mustRunServer(t, withDataDir(cfg.DataDir))
	db := openRawDB(t, cfg.DataDir)
	other := e.newOrg("escalation-by-sql")
	_, owner := e.machineToken(e.org, "ORG_OWNER")
	bot, _ := e.machineToken(e.org)
	grpcTr := transports[0]
	e.mustCall(t, grpcTr, addPAT(bot), owner, "", success)

	// The other writer makes bot an owner of the other organization: the
	// event and the organization's document, as this program writes them,
	// and no membership document.
	seq, err := strconv.ParseUint(string(db.bytes(`SELECT CAST(max(sequence) AS TEXT) FROM events WHERE aggregate_type = 'org' AND aggregate_id = $1`, other)), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	payload := []byte(fmt.Sprintf(`{"userId":%q,"roles":["ORG_OWNER"]}`, bot))
	if db.pg != nil {
		db.exec(`WITH p AS (UPDATE event_position SET last = last + 1 RETURNING last)
			INSERT INTO events (position, aggregate_type, aggregate_id, sequence, type, version, resource_owner, creator, created_at, payload)
			SELECT last, 'org', $1, $2, 'org.member.added', 1, $1, 'operator', now(), $3 FROM p`, other, seq+1, payload)
	} else {
		db.exec(`INSERT INTO events (aggregate_type, aggregate_id, sequence, type, version, resource_owner, creator, created_at, payload)
			VALUES ('org', $1, $2, 'org.member.added', 1, $1, 'operator', 0, $3)`, other, seq+1, payload)
	}
	var doc map[string]any
	if err := json.Unmarshal(db.bytes(`SELECT data FROM docs WHERE kind = 'org' AND id = $1`, other), &doc); err != nil {
		t.Fatal(err)
	}
	members, _ := doc["members"].(map[string]any)
	if members == nil {
		members = map[string]any{}
	}
	members[bot] = []string{"ORG_OWNER"}
	doc["members"], doc["sequence"] = members, seq+1
	changed, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	db.exec(`UPDATE docs SET data = $1 WHERE kind = 'org' AND id = $2`, changed, other)
	e.mustCall(t, grpcTr, addPAT(bot), owner, "", notAllYourRoles)

	// A database from before the migration: no membership documents and no
	// trigger. The migration runs again when the server opens it.
	if err := e.srv.Close(); err != nil {
		t.Fatal(err)
	}
	db.exec(`DELETE FROM docs WHERE kind = 'membership'`)
	db.exec(`DELETE FROM schema_migrations WHERE version = 3`)
	if db.pg != nil {
		db.exec(`DROP TRIGGER events_org_member_added ON events`)
		db.exec(`DROP FUNCTION fg_events_org_member_added()`)
		db.exec(`DROP FUNCTION fg_payload_member(bytea)`)
	} else {
		db.exec(`DROP TRIGGER events_org_member_added`)
	}
	// Payloads that name no member (not JSON; JSON that PostgreSQL's jsonb
	// refuses) do not stop the migration.
	for i, bad := range []string{`not json`, `{"userId":"a\u0000b"}`} {
		if db.pg != nil {
			db.exec(`WITH p AS (UPDATE event_position SET last = last + 1 RETURNING last)
				INSERT INTO events (position, aggregate_type, aggregate_id, sequence, type, version, resource_owner, creator, created_at, payload)
				SELECT last, 'org', $1, $2, 'org.member.added', 1, $1, 'operator', now(), $3 FROM p`, other, seq+2+uint64(i), []byte(bad))
		} else {
			db.exec(`INSERT INTO events (aggregate_type, aggregate_id, sequence, type, version, resource_owner, creator, created_at, payload)
				VALUES ('org', $1, $2, 'org.member.added', 1, $1, 'operator', 0, $3)`, other, seq+2+uint64(i), []byte(bad))
		}
	}
	e = mustRunServer(t, withDataDir(cfg.DataDir))
	e.mustCall(t, grpcTr, addPAT(bot), owner, "", notAllYourRoles)
	e.mustCall(t, grpcTr, addPAT(bot), e.admin, "", success)
}

// A personal access token's expiry must lie ahead, and within the year
// 9999 (neither protobuf's Timestamp nor the events' RFC 3339 JSON holds a
// later one: such an expiry had been an Internal error with an ERROR log
// line). REST cannot spell such a date at all; the gateway refuses it.
func TestPersonalAccessTokenExpiryOutOfRangeIsInvalidArgument(t *testing.T) {
	e := mustRunServer(t)
	bot, _ := e.machineToken(e.org)
	pat := func(seconds int64) op {
		return newOp[mgmt.AddPersonalAccessTokenRequest, mgmt.AddPersonalAccessTokenResponse](mgmtSvc+"AddPersonalAccessToken",
			&mgmt.AddPersonalAccessTokenRequest{UserId: bot, ExpirationDate: &timestamppb.Timestamp{Seconds: seconds}},
			http.MethodPost, "/management/v1/users/"+bot+"/pats", "")
	}
	for _, tr := range []transport{transports[0], transports[1], nativeGRPC} {
		t.Run(tr.name, func(t *testing.T) {
			e.mustCall(t, tr, pat(time.Now().Add(-time.Hour).Unix()), e.admin, "",
				failure(codes.InvalidArgument, 400, "Expiration date is in the past", "COMMAND-dv3t5"))
			for _, s := range []int64{253402300800, 253402300800 + 86400*365, 1 << 40} { // 10000-01-01 and later
				e.mustCall(t, tr, pat(s), e.admin, "",
					failure(codes.InvalidArgument, 400, "Expiration date is after the year 9999", "COMMAND-fgExp"))
			}
			e.mustCall(t, tr, pat(253402300799), e.admin, "", success) // 9999-12-31T23:59:59Z
		})
	}
}
