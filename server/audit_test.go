package server_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pquerna/otp/totp"
	"google.golang.org/grpc/metadata"

	"github.com/factorgate/factorgate/gen/zitadel/change"
	mgmt "github.com/factorgate/factorgate/gen/zitadel/management"
	"github.com/factorgate/factorgate/server"
	"github.com/factorgate/factorgate/server/api"
	"github.com/factorgate/factorgate/server/eventstore"
	"github.com/factorgate/factorgate/server/eventstore/postgres/pgtest"
	"github.com/factorgate/factorgate/server/mfa"
)

// lockedBuffer collects a server's log lines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// allEvents returns every event of every aggregate in the server's store:
// the aggregates are listed with SQL, their events read with Store().Load.
func allEvents(t *testing.T, e *env, dataDir string) []eventstore.Event {
	t.Helper()
	ctx := context.Background()
	const q = `SELECT DISTINCT aggregate_type, aggregate_id FROM events`
	var aggs [][2]string
	if pgtest.Enabled() {
		conn, err := pgx.Connect(ctx, testDB(t, dataDir))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		rows, err := conn.Query(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		if aggs, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) ([2]string, error) {
			var k [2]string
			return k, r.Scan(&k[0], &k[1])
		}); err != nil {
			t.Fatal(err)
		}
	} else {
		db, err := sql.Open("sqlite", "file:"+filepath.Join(dataDir, "factorgate.db")+"?mode=ro")
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		rows, err := db.QueryContext(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var k [2]string
			if err := rows.Scan(&k[0], &k[1]); err != nil {
				t.Fatal(err)
			}
			aggs = append(aggs, k)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
	}
	var out []eventstore.Event
	for _, k := range aggs {
		events, err := e.srv.Store().Load(ctx, k[0], k[1], 0)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, events...)
	}
	return out
}

// TestAuditRemovalsRecordWhoWhatWhenAndDialectAndNoSecretLeaks runs a
// server with debug logs captured (JSON, then text), enrolls TOTP over
// REST, gets and uses tokens of every kind (the admin's PAT, a machine
// PAT, ZITADEL's password grant and client credentials, OneLogin's client
// credentials, DruID's password grant and refresh), removes factors
// through every dialect, and then checks:
//   - each removal event names its creator, carries its time and says
//     through which dialect, RPC and transport it came;
//   - management.v1 ListUserChanges (REST and gRPC) lists the user's
//     events, newest first or paged oldest first, each removal with its
//     editor, time and API; another organization's user manager gets 404;
//   - no secret it saw (TOTP seed, tokens, client secrets, passwords,
//     refresh tokens) appears in the log, in any event payload of any
//     aggregate, or (on SQLite) anywhere in the database files.
func TestAuditRemovalsRecordWhoWhatWhenAndDialectListedByListUserChangesOtherOrg404AndNoSecretLeaks(t *testing.T) {
	for _, format := range []string{"json", "text"} {
		t.Run(format, func(t *testing.T) {
			logs := &lockedBuffer{}
			dataDir := t.TempDir()
			e := mustRunServer(t, withDataDir(dataDir), func(c *server.Config) {
				opts := &slog.HandlerOptions{Level: slog.LevelDebug}
				if format == "json" {
					c.Logger = slog.New(slog.NewJSONHandler(logs, opts))
				} else {
					c.Logger = slog.New(slog.NewTextHandler(logs, opts))
				}
			})
			secrets := map[string]string{"admin PAT": e.admin}
			start := time.Now().UTC().Add(-time.Second)

			org := e.newOrg("audit-" + format)
			user, username := e.druidPerson(org) // a person with a password, SMS and email verified
			secrets["person's password"] = druidPassword

			// TOTP enrolled over REST (user.v2), the seed and a code seen.
			code, raw := e.rawREST(http.MethodPost, "/v2/users/"+user+"/totp", e.admin, "{}")
			var reg struct{ Secret, URI string }
			if code != http.StatusOK || json.Unmarshal(raw, &reg) != nil || reg.Secret == "" {
				t.Fatalf("RegisterTOTP: %d %s", code, raw)
			}
			secrets["TOTP seed"] = reg.Secret
			otp, err := totp.GenerateCode(reg.Secret, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			if code, raw := e.rawREST(http.MethodPost, "/v2/users/"+user+"/totp/verify", e.admin, `{"code":"`+otp+`"}`); code != http.StatusOK {
				t.Fatalf("VerifyTOTP: %d %s", code, raw)
			}
			e.addOTP(user, mfa.FactorOTPSMS)
			e.addOTP(user, mfa.FactorOTPEmail)

			// A machine user's PAT, client secret and the client credentials grant.
			bot, botPAT := e.machineToken(org, "ORG_USER_MANAGER")
			secrets["machine PAT"] = botPAT
			clientID, clientSecret, _, err := e.core.GenerateMachineSecret(e.ctx, org, bot)
			if err != nil {
				t.Fatal(err)
			}
			secrets["machine client secret"] = clientSecret
			code, body := e.postForm(url.Values{"grant_type": {"client_credentials"}, "scope": {"openid"}}, clientID, clientSecret)
			botToken, _ := body["access_token"].(string)
			if code != http.StatusOK || botToken == "" {
				t.Fatalf("client credentials grant: %d %v", code, body)
			}
			secrets["client credentials access token"] = botToken
			// ZITADEL's password grant for the person.
			code, body = e.postForm(url.Values{"grant_type": {"password"}, "username": {username}, "password": {druidPassword}, "scope": {"openid"}}, "", "")
			pwToken, _ := body["access_token"].(string)
			if code != http.StatusOK || pwToken == "" {
				t.Fatalf("password grant: %d %v", code, body)
			}
			secrets["password grant access token"] = pwToken
			// OneLogin's client credentials.
			cred, _, err := e.core.CreateAPICredential(e.ctx, org, mfa.ScopeManageAll)
			if err != nil {
				t.Fatal(err)
			}
			secrets["OneLogin client secret"] = cred.Secret
			res, err := http.PostForm(e.base+"/auth/oauth2/v2/token", url.Values{"grant_type": {"client_credentials"},
				"client_id": {cred.ClientID}, "client_secret": {cred.Secret}})
			if err != nil {
				t.Fatal(err)
			}
			var grant struct {
				AccessToken  string `json:"access_token"`
				RefreshToken string `json:"refresh_token"`
			}
			err = json.NewDecoder(res.Body).Decode(&grant)
			res.Body.Close()
			if err != nil || res.StatusCode != http.StatusOK || grant.AccessToken == "" {
				t.Fatalf("OneLogin token: %d %v", res.StatusCode, err)
			}
			secrets["OneLogin access token"] = grant.AccessToken
			if grant.RefreshToken != "" {
				secrets["OneLogin refresh token"] = grant.RefreshToken
			}
			// DruID's password grant and a refresh.
			code, body = e.druidTokenCall(url.Values{"grant_type": {"password"}, "username": {username}, "password": {druidPassword}})
			druidAccess, _ := body["access_token"].(string)
			druidRefresh, _ := body["refresh_token"].(string)
			if code != http.StatusOK || druidAccess == "" || druidRefresh == "" {
				t.Fatalf("DruID password grant: %d %v", code, body)
			}
			secrets["DruID access token"], secrets["DruID refresh token"] = druidAccess, druidRefresh
			code, body = e.druidTokenCall(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {druidRefresh}})
			druidAccess2, _ := body["access_token"].(string)
			druidRefresh2, _ := body["refresh_token"].(string)
			if code != http.StatusOK || druidAccess2 == "" {
				t.Fatalf("DruID refresh: %d %v", code, body)
			}
			secrets["DruID refreshed access token"] = druidAccess2
			if druidRefresh2 != "" {
				secrets["DruID second refresh token"] = druidRefresh2
			}
			// Tokens used: a bad one too, so the failure paths log as well.
			if code, raw := e.rawREST(http.MethodPost, "/v2/users/"+user+"/authentication_factors/_search", botToken, "{}"); code != http.StatusOK {
				t.Fatalf("list factors with the client credentials token: %d %s", code, raw)
			}
			if code, raw := e.rawREST(http.MethodPost, "/v2/users/"+user+"/authentication_factors/_search", pwToken, "{}"); code != http.StatusOK {
				t.Fatalf("list own factors with the password grant token: %d %s", code, raw)
			}
			if code, _ := e.rawREST(http.MethodPost, "/v2/users/"+user+"/authentication_factors/_search", reg.Secret, "{}"); code != http.StatusUnauthorized {
				t.Errorf("the TOTP seed as a bearer token: HTTP %d, want 401", code)
			}

			// Removals through every dialect.
			type removal struct {
				event, creator string
				via            mfa.Origin
			}
			var want []removal
			// DruID: the person removes their SMS channel.
			if code, _, env := e.druidDelete(druidHeaders(druidAccess2, nil), druidBody(user, "sms", nil)); code != http.StatusOK {
				t.Fatalf("DruID delete sms: %d %+v", code, env.Result)
			}
			want = append(want, removal{mfa.EventOTPSMSRemoved, user, mfa.Origin{Dialect: "druid", Transport: "rest"}})
			// OneLogin v2: the credential removes the TOTP device.
			var totpID string
			for _, f := range e.factors(user) {
				if f.Kind == mfa.FactorTOTP {
					totpID = f.ID
				}
			}
			req, _ := http.NewRequest(http.MethodDelete, e.base+"/api/2/mfa/users/"+user+"/devices/"+totpID, nil)
			req.Header.Set("Authorization", "bearer:"+grant.AccessToken)
			res, err = http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode != http.StatusNoContent {
				t.Fatalf("OneLogin v2 remove TOTP: HTTP %d", res.StatusCode)
			}
			want = append(want, removal{mfa.EventTOTPRemoved, cred.UserID, mfa.Origin{Dialect: "onelogin", Transport: "rest"}})
			// ZITADEL management.v1 over gRPC with the machine PAT.
			ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+botPAT, "x-zitadel-orgid", org)
			if err := e.conn.Invoke(ctx, mgmtSvc+"RemoveHumanAuthFactorOTPEmail", &mgmt.RemoveHumanAuthFactorOTPEmailRequest{UserId: user},
				&mgmt.RemoveHumanAuthFactorOTPEmailResponse{}); err != nil {
				t.Fatalf("RemoveHumanAuthFactorOTPEmail over gRPC: %v", err)
			}
			want = append(want, removal{mfa.EventOTPEmailRemoved, bot, mfa.Origin{Dialect: "zitadel",
				Method: mgmtSvc + "RemoveHumanAuthFactorOTPEmail", Transport: "grpc"}})
			events := allEvents(t, e, dataDir)
			var userEvents []eventstore.Event
			for _, ev := range events {
				if ev.AggregateType == "user" && ev.AggregateID == user {
					userEvents = append(userEvents, ev)
				}
			}
			for _, w := range want {
				var found *eventstore.Event
				for i := range userEvents {
					if userEvents[i].Type == w.event {
						found = &userEvents[i]
					}
				}
				if found == nil {
					t.Errorf("no %s event for user %s", w.event, user)
					continue
				}
				var p struct{ Via *mfa.Origin }
				if err := json.Unmarshal(found.Payload, &p); err != nil || p.Via == nil {
					t.Errorf("%s: payload %s does not say where the removal came from (%v)", w.event, found.Payload, err)
					continue
				}
				if p.Via.Dialect != w.via.Dialect || p.Via.Transport != w.via.Transport || (w.via.Method != "" && p.Via.Method != w.via.Method) || p.Via.Method == "" {
					t.Errorf("%s: via %+v, want %+v", w.event, *p.Via, w.via)
				}
				if found.Creator != w.creator {
					t.Errorf("%s: creator %q, want %q (who removed it)", w.event, found.Creator, w.creator)
				}
				if found.CreatedAt.Before(start) || found.CreatedAt.After(time.Now().Add(time.Second)) {
					t.Errorf("%s: created at %v, not during the test", w.event, found.CreatedAt)
				}
			}

			// The history through the API (management.v1 ListUserChanges):
			// over REST for the organization's user manager, newest first;
			// each removal names its editor, time and API.
			code, raw = e.rawRESTOrg(http.MethodPost, "/management/v1/users/"+user+"/changes/_search", botPAT, org, `{"query":{"limit":50}}`)
			var hist struct {
				Result []struct {
					ChangeDate string `json:"changeDate"`
					Sequence   string `json:"sequence"`
					EditorID   string `json:"editorId"`
					EventType  struct {
						Key              string `json:"key"`
						LocalizedMessage string `json:"localizedMessage"`
					} `json:"eventType"`
				} `json:"result"`
			}
			if code != http.StatusOK || json.Unmarshal(raw, &hist) != nil || len(hist.Result) != len(userEvents) {
				t.Fatalf("ListUserChanges: HTTP %d %s, want all %d events", code, raw, len(userEvents))
			}
			if hist.Result[0].Sequence != fmt.Sprint(userEvents[len(userEvents)-1].Sequence) {
				t.Errorf("ListUserChanges: first sequence %s, want the newest (%d)", hist.Result[0].Sequence, userEvents[len(userEvents)-1].Sequence)
			}
			for _, w := range want {
				found := false
				for _, c := range hist.Result {
					if c.EventType.Key == "EventTypes."+w.event && c.EditorID == w.creator && c.ChangeDate != "" &&
						strings.Contains(c.EventType.LocalizedMessage, " via "+w.via.Dialect+" "+w.via.Transport+" /") {
						found = true
					}
				}
				if !found {
					t.Errorf("ListUserChanges has no %s by %s via %s %s: %s", w.event, w.creator, w.via.Dialect, w.via.Transport, raw)
				}
			}
			// Over gRPC, oldest first after sequence 2, at most 3.
			var page mgmt.ListUserChangesResponse
			actx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+e.admin, "x-zitadel-orgid", org)
			if err := e.conn.Invoke(actx, mgmtSvc+"ListUserChanges", &mgmt.ListUserChangesRequest{UserId: user,
				Query: &change.ChangeQuery{Sequence: 2, Limit: 3, Asc: true}}, &page); err != nil {
				t.Fatalf("ListUserChanges over gRPC: %v", err)
			}
			if len(page.GetResult()) != 3 || page.GetResult()[0].GetSequence() != 3 || page.GetResult()[2].GetSequence() != 5 {
				t.Errorf("ListUserChanges asc after 2, limit 3: %v", page.GetResult())
			}
			// Another organization's user manager, pointing at its own
			// organization or at ours: the user looks missing (404), never
			// listed.
			otherOrg := e.newOrg("audit-other-" + format)
			_, otherPAT := e.machineToken(otherOrg, "ORG_USER_MANAGER")
			if code, raw := e.rawRESTOrg(http.MethodPost, "/management/v1/users/"+user+"/changes/_search", otherPAT, otherOrg, "{}"); code != http.StatusNotFound {
				t.Errorf("ListUserChanges of another organization's user: HTTP %d %s, want 404", code, raw)
			}
			if code, raw := e.rawRESTOrg(http.MethodPost, "/management/v1/users/"+user+"/changes/_search", otherPAT, org, "{}"); code != http.StatusNotFound || !bytes.Contains(raw, []byte("AUTHZ-cdgFk")) {
				t.Errorf("ListUserChanges with x-zitadel-orgid of an organization the caller has no role in: HTTP %d %s, want ZITADEL's 404 membership not found", code, raw)
			}

			// No secret anywhere: the log, the event payloads, the files.
			logText := logs.String()
			if !strings.Contains(logText, "rpc") {
				t.Fatalf("the captured log has no rpc lines: %q", logText)
			}
			var payloads strings.Builder
			for _, ev := range events {
				payloads.Write(ev.Payload)
				payloads.WriteByte('\n')
			}
			var files []byte
			if !pgtest.Enabled() {
				for _, name := range []string{"factorgate.db", "factorgate.db-wal"} {
					b, err := os.ReadFile(filepath.Join(dataDir, name))
					if err != nil && !os.IsNotExist(err) {
						t.Fatal(err)
					}
					files = append(files, b...)
				}
			}
			for what, secret := range secrets {
				if len(secret) < 8 {
					t.Fatalf("%s %q is too short to grep for", what, secret)
				}
				if strings.Contains(logText, secret) {
					t.Errorf("the %s log contains the %s", format, what)
				}
				if strings.Contains(payloads.String(), secret) {
					t.Errorf("an event payload contains the %s", what)
				}
				if bytes.Contains(files, []byte(secret)) {
					t.Errorf("the database files contain the %s", what)
				}
			}
			t.Logf("%d secrets checked against %d bytes of %s log, %d events of all aggregates, %d bytes of database files",
				len(secrets), len(logText), format, len(events), len(files))
		})
	}
}

func TestOriginOfNamesTheDialect(t *testing.T) {
	for method, want := range map[string]string{
		"/zitadel.management.v1.ManagementService/RemoveHumanAuthFactorOTP": "zitadel",
		"/zitadel.user.v2.UserService/RemoveTOTP":                           "zitadel",
		"/factorgate.onelogin.v2.MFAService/RemoveFactor":                   "onelogin",
		"/factorgate.druid.v1.MFAService/DeleteMFAChannel":                  "druid",
	} {
		if got := api.OriginOf(method, "rest"); got.Dialect != want || got.Method != method || got.Transport != "rest" {
			t.Errorf("OriginOf(%q) = %+v, want dialect %q", method, got, want)
		}
	}
}

// rawRESTOrg is rawREST with the organization header.
func (e *env) rawRESTOrg(verb, path, token, org, body string) (int, []byte) {
	e.t.Helper()
	req, err := http.NewRequest(verb, e.base+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("x-zitadel-orgid", org)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	return res.StatusCode, raw
}
