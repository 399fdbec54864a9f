package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	druidv1 "github.com/factorgate/factorgate/gen/factorgate/druid/v1"
	"github.com/factorgate/factorgate/server/mfa"
)

// The DruID dialect end to end: POST /activityid/v1/mfa/delete and
// POST /oauth2/token over real HTTP against a real server and SQLite file.

const druidPassword = "correct horse battery"

// druidEnvelope is DruID's result envelope.
type druidEnvelope struct {
	Result struct {
		Status  int    `json:"status"`
		Message string `json:"message"`
		Errors  []struct {
			Message string `json:"message"`
			Details string `json:"details"`
		} `json:"errors"`
	} `json:"result"`
}

// druidPerson creates a person with a password in org; returns id and
// username.
func (e *env) druidPerson(org string) (id, username string) {
	e.t.Helper()
	seq := int(userSeq.Add(1))
	username = "druid" + time.Now().Format("150405.000000") + strings.Repeat("z", seq%13) + string(rune('a'+seq%26))
	d, err := e.core.AddHumanUser(e.ctx, org, mfa.HumanInput{Username: username, GivenName: "Ada", FamilyName: "Lovelace",
		Email: username + "@example.com", EmailVerified: true, Phone: "+34123123123", PhoneVerified: true, Password: druidPassword})
	if err != nil {
		e.t.Fatalf("AddHumanUser: %v", err)
	}
	return d.ID, username
}

// druidTokenCall posts a form to /oauth2/token.
func (e *env) druidTokenCall(form url.Values) (int, map[string]any) {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.base+"/oauth2/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
		e.t.Fatalf("/oauth2/token answered non-JSON (status %d): %v", res.StatusCode, err)
	}
	return res.StatusCode, body
}

// druidLogin returns a person's access token from the password grant.
func (e *env) druidLogin(username string) string {
	e.t.Helper()
	code, body := e.druidTokenCall(url.Values{"grant_type": {"password"}, "username": {username}, "password": {druidPassword}})
	tok, _ := body["access_token"].(string)
	if code != http.StatusOK || tok == "" {
		e.t.Fatalf("password grant: %d %v", code, body)
	}
	return tok
}

// druidBody is the delete activity of DruID's docs with changes: a key
// "a.b" sets that field, a nil value deletes it.
func druidBody(actorID, channel string, changes map[string]any) string {
	b := map[string]any{
		"actor":   map[string]any{"id": actorID, "objectType": "person"},
		"verb":    "delete",
		"object":  map[string]any{"objectType": "user"},
		"source":  map[string]any{"id": "mobile", "objectType": "device"},
		"context": map[string]any{"mfa_channel": channel},
	}
	for k, v := range changes {
		parent, field, nested := strings.Cut(k, ".")
		if !nested {
			if v == nil {
				delete(b, k)
			} else {
				b[k] = v
			}
			continue
		}
		m := b[parent].(map[string]any)
		if v == nil {
			delete(m, field)
		} else {
			m[field] = v
		}
	}
	data, _ := json.Marshal(b)
	return string(data)
}

// druidHeaders are the headers DruID requires; a "" value removes one.
func druidHeaders(token string, changes map[string]string) http.Header {
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("Accept", "application/json")
	h.Set("From", "factorgate-tests")
	if token != "" {
		h.Set("Authorization", "Bearer "+token)
	}
	for k, v := range changes {
		if v == "" {
			h.Del(k)
		} else {
			h.Set(k, v)
		}
	}
	return h
}

// druidCall posts to an activityid path and decodes the envelope.
func (e *env) druidCall(method, path string, hdr http.Header, body string) (int, http.Header, druidEnvelope) {
	e.t.Helper()
	req, _ := http.NewRequest(method, e.base+path, strings.NewReader(body))
	req.Header = hdr
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	var env druidEnvelope
	if err := json.NewDecoder(res.Body).Decode(&env); err != nil {
		e.t.Fatalf("%s %s answered non-JSON (status %d): %v", method, path, res.StatusCode, err)
	}
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		e.t.Errorf("Content-Type = %q, want application/json", ct)
	}
	return res.StatusCode, res.Header, env
}

func (e *env) druidDelete(hdr http.Header, body string) (int, http.Header, druidEnvelope) {
	e.t.Helper()
	return e.druidCall(http.MethodPost, "/activityid/v1/mfa/delete", hdr, body)
}

// userLog returns the user's stored events.
func (e *env) userLog(user string) []string {
	e.t.Helper()
	events, err := e.srv.Store().Load(context.Background(), "user", user, 0)
	if err != nil {
		e.t.Fatal(err)
	}
	out := make([]string, len(events))
	for i, ev := range events {
		out[i] = ev.Type
	}
	return out
}

// wantDruidError checks an error answer: the HTTP status, the status in
// the envelope, and a message (in message and errors[0].details) that
// contains want.
func wantDruidError(t *testing.T, code int, env druidEnvelope, wantCode int, want string) {
	t.Helper()
	if code != wantCode || env.Result.Status != wantCode {
		t.Fatalf("status %d, result.status %d; want %d (%+v)", code, env.Result.Status, wantCode, env.Result)
	}
	if !strings.Contains(env.Result.Message, want) {
		t.Errorf("result.message = %q, want it to contain %q", env.Result.Message, want)
	}
	if len(env.Result.Errors) != 1 || !strings.Contains(env.Result.Errors[0].Details, want) || env.Result.Errors[0].Message == "" {
		t.Errorf("result.errors = %+v, want one with details containing %q", env.Result.Errors, want)
	}
}

// forceMFA gives org a custom login policy that forces MFA.
func (e *env) forceMFA(org string) {
	e.t.Helper()
	pol := mfa.DefaultLoginPolicy()
	pol.ForceMFA = true
	if _, err := e.core.AddCustomLoginPolicy(e.ctx, org, pol); err != nil {
		e.t.Fatalf("AddCustomLoginPolicy: %v", err)
	}
}

func TestDruidDeleteSuccessIsGoneForZITADELAndOneLoginCallers(t *testing.T) {
	e := mustRunServer(t)
	org := e.newOrg("druid-ok")
	user, name := e.druidPerson(org)
	e.enrollTOTP(user)
	e.addOTP(user, mfa.FactorOTPSMS)
	e.addOTP(user, mfa.FactorOTPEmail)
	tok := e.druidLogin(name)

	// The body of DruID's docs, channel "sms".
	code, _, env := e.druidDelete(druidHeaders(tok, nil), druidBody(user, "sms", nil))
	if code != http.StatusOK || env.Result.Status != 200 || env.Result.Message != "MFA channel deleted" || env.Result.Errors != nil {
		t.Fatalf("delete sms: %d %+v", code, env.Result)
	}
	// Channel names are case-insensitive; Accept-Language picks Spanish.
	code, _, env = e.druidDelete(druidHeaders(tok, map[string]string{"Accept-Language": "es-ES,es;q=0.9,en;q=0.5"}), druidBody(user, "TOTP", nil))
	if code != http.StatusOK || env.Result.Message != "Canal MFA eliminado" {
		t.Fatalf("delete TOTP in Spanish: %d %+v", code, env.Result)
	}

	// ZITADEL callers (user.v2 over REST) see only the email channel left.
	status, raw := e.rawREST(http.MethodPost, "/v2/users/"+user+"/authentication_factors/_search", e.admin, "{}")
	if status != http.StatusOK {
		t.Fatalf("ListAuthenticationFactors: %d %s", status, raw)
	}
	var list struct {
		Result []map[string]any `json:"result"`
	}
	if err := json.Unmarshal(raw, &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Result) != 1 || list.Result[0]["otpEmail"] == nil {
		t.Fatalf("factors for ZITADEL callers = %s, want only otpEmail", raw)
	}
	// OneLogin callers (v2 devices, a Manage All credential of the
	// organization) see only the email device left.
	cred, _, err := e.core.CreateAPICredential(e.ctx, org, mfa.ScopeManageAll)
	if err != nil {
		t.Fatal(err)
	}
	res, err := http.PostForm(e.base+"/auth/oauth2/v2/token", url.Values{"grant_type": {"client_credentials"},
		"client_id": {cred.ClientID}, "client_secret": {cred.Secret}})
	if err != nil {
		t.Fatal(err)
	}
	var grant struct {
		AccessToken string `json:"access_token"`
	}
	err = json.NewDecoder(res.Body).Decode(&grant)
	res.Body.Close()
	if err != nil || grant.AccessToken == "" {
		t.Fatalf("OneLogin token: HTTP %d, %v", res.StatusCode, err)
	}
	status, raw = e.rawREST(http.MethodGet, "/api/2/mfa/users/"+user+"/devices", grant.AccessToken, "")
	var devices []struct {
		AuthFactorName string `json:"auth_factor_name"`
	}
	if err := json.Unmarshal(raw, &devices); status != http.StatusOK || err != nil || len(devices) != 1 || devices[0].AuthFactorName != "OneLogin Email" {
		t.Fatalf("OneLogin v2 devices = %d %s, want only the email device", status, raw)
	}
	log := e.userLog(user)
	if got := log[len(log)-2:]; !reflect.DeepEqual(got, []string{mfa.EventOTPSMSRemoved, mfa.EventTOTPRemoved}) {
		t.Fatalf("last events = %v", got)
	}

	// The same channel again: the user no longer has it (417).
	code, _, env = e.druidDelete(druidHeaders(tok, nil), druidBody(user, "sms", nil))
	wantDruidError(t, code, env, http.StatusExpectationFailed, "The user does not have this MFA channel")
}

func TestDruidDeleteBadField400NamesTheFieldAndWritesNothing(t *testing.T) {
	e := mustRunServer(t)
	org := e.newOrg("druid-400")
	user, name := e.druidPerson(org)
	e.addOTP(user, mfa.FactorOTPSMS)
	tok := e.druidLogin(name)
	before := e.userLog(user)

	for _, c := range []struct {
		name    string
		changes map[string]any
		want    string
	}{
		{"actor.id missing", map[string]any{"actor.id": nil}, "actor.id"},
		{"actor.objectType not person", map[string]any{"actor.objectType": "application"}, "actor.objectType"},
		{"actor missing", map[string]any{"actor": nil}, "actor.id"},
		{"verb not delete", map[string]any{"verb": "update"}, "verb"},
		{"verb missing", map[string]any{"verb": nil}, "verb"},
		{"object.objectType not user", map[string]any{"object.objectType": "person"}, "object.objectType"},
		{"object missing", map[string]any{"object": nil}, "object.objectType"},
		{"source.id not a device type", map[string]any{"source.id": "phone"}, "source.id"},
		{"source.id missing", map[string]any{"source.id": nil}, "source.id"},
		{"source.objectType not device", map[string]any{"source.objectType": "user"}, "source.objectType"},
		{"context.mfa_channel unknown", map[string]any{"context.mfa_channel": "u2f"}, "context.mfa_channel"},
		{"context missing", map[string]any{"context": nil}, "context.mfa_channel"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, _, env := e.druidDelete(druidHeaders(tok, nil), druidBody(user, "sms", c.changes))
			wantDruidError(t, code, env, http.StatusBadRequest, c.want)
		})
	}
	t.Run("in Spanish", func(t *testing.T) {
		code, _, env := e.druidDelete(druidHeaders(tok, map[string]string{"Accept-Language": "es"}), druidBody(user, "sms", map[string]any{"verb": "remove"}))
		wantDruidError(t, code, env, http.StatusBadRequest, `verb debe ser "delete"`)
		if env.Result.Errors[0].Message != "Petición incorrecta" {
			t.Errorf("errors[0].message = %q", env.Result.Errors[0].Message)
		}
	})
	t.Run("body not JSON", func(t *testing.T) {
		code, _, env := e.druidDelete(druidHeaders(tok, nil), `{"actor":`)
		wantDruidError(t, code, env, http.StatusBadRequest, "The body must be the activity as JSON")
	})
	for _, c := range []struct {
		name    string
		headers map[string]string
		want    string
	}{
		{"From header missing", map[string]string{"From": ""}, "From"},
		{"Content-Type missing", map[string]string{"Content-Type": ""}, "Content-Type"},
		{"Content-Type not JSON", map[string]string{"Content-Type": "text/plain"}, "Content-Type"},
		{"Accept missing", map[string]string{"Accept": ""}, "Accept"},
		{"Accept refuses JSON", map[string]string{"Accept": "text/html, application/json;q=0"}, "Accept"},
		{"From header missing, in Spanish", map[string]string{"From": "", "Accept-Language": "es"}, "La cabecera From es obligatoria"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, _, env := e.druidDelete(druidHeaders(tok, c.headers), druidBody(user, "sms", nil))
			wantDruidError(t, code, env, http.StatusBadRequest, c.want)
		})
	}
	if after := e.userLog(user); !reflect.DeepEqual(after, before) {
		t.Fatalf("a 400 changed the event log: %v → %v", before, after)
	}
	if len(e.factors(user)) != 1 {
		t.Fatal("the SMS channel is gone")
	}
}

func TestDruidDelete401WithTheDruidEnvelope(t *testing.T) {
	e := mustRunServer(t)
	org := e.newOrg("druid-401")
	user, name := e.druidPerson(org)
	e.addOTP(user, mfa.FactorOTPSMS)
	other, otherName := e.druidPerson(org)
	e.addOTP(other, mfa.FactorOTPSMS)
	tok := e.druidLogin(name)
	otherTok := e.druidLogin(otherName)
	_, machineTok := e.machineToken(org, "ORG_OWNER")
	before, otherBefore := e.userLog(user), e.userLog(other)

	for _, c := range []struct {
		name string
		hdr  http.Header
		body string
		want string
	}{
		{"no token", druidHeaders("", nil), druidBody(user, "sms", nil), "An access token is required"},
		{"bad token", druidHeaders("fg_not-a-token", nil), druidBody(user, "sms", nil), "invalid or has expired"},
		{"not a bearer token", druidHeaders("", map[string]string{"Authorization": "Basic dXNlcjpwdw=="}), druidBody(user, "sms", nil), "Bearer"},
		{"another user's actor.id", druidHeaders(otherTok, nil), druidBody(user, "sms", nil), "actor.id is not the user of the access token"},
		{"a machine user's token", druidHeaders(machineTok, nil), druidBody(user, "sms", nil), "must be a person's"},
		{"another user's actor.id, in Spanish", druidHeaders(otherTok, map[string]string{"Accept-Language": "es"}), druidBody(user, "sms", nil), "actor.id no es el usuario del token de acceso"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, hdr, env := e.druidDelete(c.hdr, c.body)
			wantDruidError(t, code, env, http.StatusUnauthorized, c.want)
			if !strings.HasPrefix(hdr.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("WWW-Authenticate = %q", hdr.Get("WWW-Authenticate"))
			}
		})
	}
	if !reflect.DeepEqual(e.userLog(user), before) || !reflect.DeepEqual(e.userLog(other), otherBefore) {
		t.Fatal("a 401 changed an event log")
	}
	// The user's own token still works.
	if code, _, env := e.druidDelete(druidHeaders(tok, nil), druidBody(user, "sms", nil)); code != http.StatusOK {
		t.Fatalf("own delete: %d %+v", code, env.Result)
	}
}

func TestDruidDelete417MandatoryOrNotEnrolledWritesNothing(t *testing.T) {
	e := mustRunServer(t)
	org := e.newOrg("druid-417")
	e.forceMFA(org)
	user, name := e.druidPerson(org)
	e.addOTP(user, mfa.FactorOTPSMS)
	tok := e.druidLogin(name)
	before := e.userLog(user)

	// The last ready factor under force_mfa is mandatory.
	code, _, env := e.druidDelete(druidHeaders(tok, nil), druidBody(user, "sms", nil))
	wantDruidError(t, code, env, http.StatusExpectationFailed, "This MFA channel is mandatory")
	if env.Result.Errors[0].Message != "MFA error" || !strings.Contains(env.Result.Errors[0].Details, "COMMAND-fgVol") {
		t.Errorf("errors = %+v", env.Result.Errors)
	}
	code, _, env = e.druidDelete(druidHeaders(tok, map[string]string{"Accept-Language": "es"}), druidBody(user, "sms", nil))
	wantDruidError(t, code, env, http.StatusExpectationFailed, "Este canal MFA es obligatorio")

	// A channel the user does not have: 417 with its own message.
	for _, ch := range []string{"totp", "email"} {
		code, _, env = e.druidDelete(druidHeaders(tok, nil), druidBody(user, ch, nil))
		wantDruidError(t, code, env, http.StatusExpectationFailed, "The user does not have this MFA channel")
	}
	code, _, env = e.druidDelete(druidHeaders(tok, map[string]string{"Accept-Language": "es"}), druidBody(user, "totp", nil))
	wantDruidError(t, code, env, http.StatusExpectationFailed, "El usuario no tiene configurado este canal MFA")

	if after := e.userLog(user); !reflect.DeepEqual(after, before) {
		t.Fatalf("a 417 changed the event log: %v → %v", before, after)
	}

	// With a second factor enrolled, the SMS channel is voluntary again.
	e.enrollTOTP(user)
	if code, _, env := e.druidDelete(druidHeaders(tok, nil), druidBody(user, "sms", nil)); code != http.StatusOK {
		t.Fatalf("delete with TOTP left: %d %+v", code, env.Result)
	}
}

func TestDruidRoutingErrorsInTheEnvelope(t *testing.T) {
	e := mustRunServer(t)
	code, hdr, env := e.druidCall(http.MethodGet, "/activityid/v1/mfa/delete", druidHeaders("", nil), "")
	wantDruidError(t, code, env, http.StatusMethodNotAllowed, "POST")
	if hdr.Get("Allow") != http.MethodPost {
		t.Errorf("Allow = %q", hdr.Get("Allow"))
	}
	code, _, env = e.druidCall(http.MethodPost, "/activityid/v1/mfa/nothing", druidHeaders("", nil), "{}")
	wantDruidError(t, code, env, http.StatusNotFound, "No such endpoint")
}

func TestDruidTokenEndpointGrantsAndOAuthErrors(t *testing.T) {
	e := mustRunServer(t)
	org := e.newOrg("druid-token")
	user, name := e.druidPerson(org)
	e.addOTP(user, mfa.FactorOTPSMS)
	e.addOTP(user, mfa.FactorOTPEmail)

	code, body := e.druidTokenCall(url.Values{"grant_type": {"password"}, "username": {name}, "password": {druidPassword}, "scope": {"openid"}})
	if code != http.StatusOK {
		t.Fatalf("password grant: %d %v", code, body)
	}
	for _, f := range []string{"access_token", "token_type", "expires_in", "expires_at", "refresh_token", "login_status", "scope"} {
		if _, ok := body[f]; !ok {
			t.Errorf("token response lacks %q: %v", f, body)
		}
	}
	if body["token_type"] != "bearer" || body["scope"] != "openid" || body["expires_in"].(float64) <= 0 {
		t.Errorf("token response = %v", body)
	}
	if ls, _ := body["login_status"].(map[string]any); ls["uid"] != user {
		t.Errorf("login_status = %v, want uid %s", body["login_status"], user)
	}
	p, err := e.core.Authenticate(context.Background(), body["access_token"].(string))
	if err != nil || p.UserID != user {
		t.Fatalf("access token: %v %+v", err, p)
	}

	// The refresh grant rotates; the new access token keeps the login's
	// auth time and works on mfa/delete.
	refresh := body["refresh_token"].(string)
	code, body2 := e.druidTokenCall(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}})
	if code != http.StatusOK || body2["refresh_token"] == refresh || body2["access_token"] == body["access_token"] {
		t.Fatalf("refresh grant: %d %v", code, body2)
	}
	p2, err := e.core.Authenticate(context.Background(), body2["access_token"].(string))
	if err != nil || !p2.AuthTime.Equal(p.AuthTime) {
		t.Fatalf("refreshed token: %v, auth time %v want %v", err, p2.AuthTime, p.AuthTime)
	}
	if code, _, env := e.druidDelete(druidHeaders(body2["access_token"].(string), nil), druidBody(user, "email", nil)); code != http.StatusOK {
		t.Fatalf("delete with the refreshed token: %d %+v", code, env.Result)
	}

	// A machine user's client credentials give an application token.
	bot, _ := e.machineToken(org)
	clientID, secret, _, err := e.core.GenerateMachineSecret(e.ctx, org, bot)
	if err != nil {
		t.Fatal(err)
	}
	code, body3 := e.druidTokenCall(url.Values{"grant_type": {"client_credentials"}, "client_id": {clientID}, "client_secret": {secret}})
	if code != http.StatusOK || body3["access_token"] == "" || body3["refresh_token"] != nil || body3["login_status"] != nil {
		t.Fatalf("client credentials: %d %v", code, body3)
	}

	// Errors are OAuth 2.0's {"error","error_description"}.
	for _, c := range []struct {
		name  string
		form  url.Values
		code  int
		error string
	}{
		{"used refresh token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}}, http.StatusBadRequest, "invalid_grant"},
		{"unknown refresh token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"fg_nope"}}, http.StatusBadRequest, "invalid_grant"},
		{"refresh token missing", url.Values{"grant_type": {"refresh_token"}}, http.StatusBadRequest, "invalid_request"},
		{"wider scope on refresh", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {body2["refresh_token"].(string)}, "scope": {"openid admin"}}, http.StatusBadRequest, "invalid_scope"},
		{"wrong password", url.Values{"grant_type": {"password"}, "username": {name}, "password": {"nope"}}, http.StatusBadRequest, "invalid_grant"},
		{"password missing", url.Values{"grant_type": {"password"}, "username": {name}}, http.StatusBadRequest, "invalid_request"},
		{"wrong client secret", url.Values{"grant_type": {"client_credentials"}, "client_id": {clientID}, "client_secret": {"nope"}}, http.StatusUnauthorized, "invalid_client"},
		{"unsupported grant", url.Values{"grant_type": {"authorization_code"}}, http.StatusBadRequest, "unsupported_grant_type"},
		{"grant type missing", url.Values{}, http.StatusBadRequest, "invalid_request"},
	} {
		t.Run("OAuthError_"+c.name, func(t *testing.T) {
			code, body := e.druidTokenCall(c.form)
			if code != c.code || body["error"] != c.error {
				t.Fatalf("%d %v, want %d error %q", code, body, c.code, c.error)
			}
		})
	}
}

func TestDruidDeleteOverGRPCAndGRPCWebRunsTheSameRule(t *testing.T) {
	// The same RPC over gRPC and gRPC-Web: the chain and the core answer
	// alike; only REST turns FailedPrecondition into DruID's 417.
	e := mustRunServer(t)
	org := e.newOrg("druid-grpc")
	e.forceMFA(org)
	user, name := e.druidPerson(org)
	e.addOTP(user, mfa.FactorOTPSMS)
	e.enrollTOTP(user)
	tok := e.druidLogin(name)
	req := func(channel string) *druidv1.DeleteMFAChannelRequest {
		return &druidv1.DeleteMFAChannelRequest{Actor: &druidv1.Actor{Id: user, ObjectType: "person"}, Verb: "delete",
			Object: &druidv1.ActivityObject{ObjectType: "user"}, Source: &druidv1.Source{Id: "pc", ObjectType: "device"},
			Context: &druidv1.ActivityContext{MfaChannel: channel}}
	}
	for _, tr := range transports {
		if tr.name == "rest" {
			continue // REST has its own tests above
		}
		t.Run(tr.name+"_NoTokenIsUnauthenticated", func(t *testing.T) {
			e.t = t
			o := newOp[druidv1.DeleteMFAChannelRequest, druidv1.DeleteMFAChannelResponse](druidMethod, req("sms"), http.MethodPost, "/activityid/v1/mfa/delete", "")
			if got := tr.call(e, o, "", ""); got.code != codes.Unauthenticated {
				t.Fatalf("code = %v, want Unauthenticated", got.code)
			}
		})
	}
	e.t = t
	o := newOp[druidv1.DeleteMFAChannelRequest, druidv1.DeleteMFAChannelResponse](druidMethod, req("Sms"), http.MethodPost, "/activityid/v1/mfa/delete", "")
	if got := transports[0].call(e, o, tok, ""); got.code != codes.OK {
		t.Fatalf("delete sms over %s: %v %s", transports[0].name, got.code, got.message)
	}
	o = newOp[druidv1.DeleteMFAChannelRequest, druidv1.DeleteMFAChannelResponse](druidMethod, req("totp"), http.MethodPost, "/activityid/v1/mfa/delete", "")
	if got := transports[0].call(e, o, tok, ""); got.code != codes.FailedPrecondition || !strings.Contains(got.message, "COMMAND-fgVol") {
		t.Fatalf("delete the last factor over %s: %v %s, want FailedPrecondition (COMMAND-fgVol)", transports[0].name, got.code, got.message)
	}
}

const druidMethod = "/factorgate.druid.v1.MFAService/DeleteMFAChannel"

func TestDruidConcurrentDeletesOfTheLastTwoChannelsUnderForcedMFA(t *testing.T) {
	// Two deletes at once of a user's last two channels: one succeeds, the
	// other gets 417, whatever the interleaving.
	e := mustRunServer(t)
	org := e.newOrg("druid-race")
	e.forceMFA(org)
	user, name := e.druidPerson(org)
	e.addOTP(user, mfa.FactorOTPSMS)
	e.enrollTOTP(user)
	tok := e.druidLogin(name)

	channels := []string{"sms", "totp"}
	statuses := make([]int, len(channels))
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i, ch := range channels {
		wg.Go(func() {
			<-start
			req, _ := http.NewRequest(http.MethodPost, e.base+"/activityid/v1/mfa/delete", strings.NewReader(druidBody(user, ch, nil)))
			req.Header = druidHeaders(tok, nil)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			res.Body.Close()
			statuses[i] = res.StatusCode
		})
	}
	close(start)
	wg.Wait()
	slices.Sort(statuses)
	if !reflect.DeepEqual(statuses, []int{http.StatusOK, http.StatusExpectationFailed}) {
		t.Fatalf("statuses = %v, want one 200 and one 417", statuses)
	}
	if n := len(e.factors(user)); n != 1 {
		t.Fatalf("%d factors left, want 1", n)
	}
}

func TestDruidCORSPreflightAllowsTheFromHeader(t *testing.T) {
	e := mustRunServer(t, withCORS(appOrigin))
	hdr := http.Header{"Origin": {appOrigin}, "Access-Control-Request-Method": {http.MethodPost},
		"Access-Control-Request-Headers": {"accept-language,authorization,content-type,from"}}
	res, _ := e.send(t, http.MethodOptions, "/activityid/v1/mfa/delete", hdr, nil)
	if res.StatusCode/100 != 2 || res.Header.Get("Access-Control-Allow-Origin") != appOrigin {
		t.Fatalf("HTTP %d, Allow-Origin %q", res.StatusCode, res.Header.Get("Access-Control-Allow-Origin"))
	}
	for _, h := range []string{"from", "authorization", "content-type", "accept-language"} {
		if !headerHas(res.Header, "Access-Control-Allow-Headers", h) {
			t.Errorf("Access-Control-Allow-Headers %q lacks %s", res.Header.Values("Access-Control-Allow-Headers"), h)
		}
	}
}

func TestDruidOpenAPIDocumentIsServed(t *testing.T) {
	e := mustRunServer(t)
	res, raw := e.send(t, http.MethodGet, "/openapi/factorgate/druid/v1/mfa_service.swagger.json", nil, nil)
	if res.StatusCode != http.StatusOK || !strings.Contains(string(raw), `"/activityid/v1/mfa/delete"`) {
		t.Fatalf("HTTP %d: %.200s", res.StatusCode, raw)
	}
}

// druidCreateBody is a create activity for the person username, with
// changes as in druidBody ("a.b.c" paths allowed).
func druidCreateBody(username, channel string, changes map[string]any) string {
	b := map[string]any{
		"actor":   map[string]any{"id": "my-app", "objectType": "application"},
		"verb":    "create",
		"object":  map[string]any{"objectType": "user", "ids": map[string]any{"screen_name": map[string]any{"value": username}}, "password": druidPassword},
		"source":  map[string]any{"id": "pc", "objectType": "device"},
		"context": map[string]any{"mfa_channel": channel},
	}
	for k, v := range changes {
		parts := strings.Split(k, ".")
		m := b
		for _, p := range parts[:len(parts)-1] {
			m = m[p].(map[string]any)
		}
		if v == nil {
			delete(m, parts[len(parts)-1])
		} else {
			m[parts[len(parts)-1]] = v
		}
	}
	data, _ := json.Marshal(b)
	return string(data)
}

// druidAppToken returns a client_credentials token of a new machine user of org.
func (e *env) druidAppToken(org string) string {
	e.t.Helper()
	bot, _ := e.machineToken(org)
	clientID, secret, _, err := e.core.GenerateMachineSecret(e.ctx, org, bot)
	if err != nil {
		e.t.Fatal(err)
	}
	code, body := e.druidTokenCall(url.Values{"grant_type": {"client_credentials"}, "client_id": {clientID}, "client_secret": {secret}})
	tok, _ := body["access_token"].(string)
	if code != http.StatusOK || tok == "" {
		e.t.Fatalf("client credentials: %d %v", code, body)
	}
	return tok
}

func (e *env) druidCreate(hdr http.Header, body string) (int, http.Header, druidEnvelope) {
	e.t.Helper()
	return e.druidCall(http.MethodPost, "/activityid/v1/mfa/create", hdr, body)
}

func TestDruidCreateSMSAndEmailWithAnAppTokenThenDeleteAsThePerson(t *testing.T) {
	e := mustRunServer(t)
	org := e.newOrg("druid-create")
	user, name := e.druidPerson(org)
	app := e.druidAppToken(org)

	code, _, env := e.druidCreate(druidHeaders(app, nil), druidCreateBody(name, "SMS", map[string]any{"context.mfa_channel_address": "+34 123 123 123"}))
	if code != http.StatusOK || env.Result.Message != "MFA channel created" {
		t.Fatalf("create sms: %d %+v", code, env.Result)
	}
	code, _, env = e.druidCreate(druidHeaders(app, map[string]string{"Accept-Language": "es"}), druidCreateBody(name, "email", nil))
	if code != http.StatusOK || env.Result.Message != "Canal MFA creado" {
		t.Fatalf("create email: %d %+v", code, env.Result)
	}
	// Both are ready factors for ZITADEL callers (user.v2 over REST).
	status, raw := e.rawREST(http.MethodPost, "/v2/users/"+user+"/authentication_factors/_search", e.admin, "{}")
	if status != http.StatusOK || strings.Count(string(raw), "AUTH_FACTOR_STATE_READY") != 2 {
		t.Fatalf("ListAuthenticationFactors: %d %s", status, raw)
	}
	// The person deletes one with their own token.
	tok := e.druidLogin(name)
	if code, _, env := e.druidDelete(druidHeaders(tok, nil), druidBody(user, "email", nil)); code != http.StatusOK {
		t.Fatalf("delete: %d %+v", code, env.Result)
	}
}

func TestDruidCreateRefusalsWriteNothing(t *testing.T) {
	e := mustRunServer(t)
	org := e.newOrg("druid-create-no")
	user, name := e.druidPerson(org)
	e.addOTP(user, mfa.FactorOTPSMS)
	app := e.druidAppToken(org)
	otherApp := e.druidAppToken(e.newOrg("druid-create-other"))
	person := e.druidLogin(name)
	before := e.userLog(user)

	for _, c := range []struct {
		name    string
		token   string
		changes map[string]any
		channel string
		code    int
		want    string
	}{
		{"400 actor.objectType not application", app, map[string]any{"actor.objectType": "person"}, "email", 400, "actor.objectType"},
		{"400 verb not create", app, map[string]any{"verb": "delete"}, "email", 400, "verb"},
		{"400 screen_name missing", app, map[string]any{"object.ids": nil}, "email", 400, "object.ids.screen_name.value"},
		{"400 password missing", app, map[string]any{"object.password": nil}, "email", 400, "object.password"},
		{"400 totp needs validation", app, nil, "totp", 400, "totp cannot be created here"},
		{"400 another address", app, map[string]any{"context.mfa_channel_address": "else@example.com"}, "email", 400, "context.mfa_channel_address"},
		{"401 a person's token", person, nil, "email", 401, "must be an application's"},
		{"401 a wrong password", app, map[string]any{"object.password": "nope"}, "email", 401, "username or password is invalid"},
		{"401 an application of another organization", otherApp, nil, "email", 401, "username or password is invalid"},
		{"417 the channel exists", app, nil, "sms", 417, "already has this MFA channel"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, _, env := e.druidCreate(druidHeaders(c.token, nil), druidCreateBody(name, c.channel, c.changes))
			wantDruidError(t, code, env, c.code, c.want)
		})
	}
	if after := e.userLog(user); !reflect.DeepEqual(after, before) {
		t.Fatalf("a refused create changed the event log: %v → %v", before, after)
	}
}

func TestDruidCreate417ForAnUnverifiedPhone(t *testing.T) {
	e := mustRunServer(t)
	org := e.newOrg("druid-create-phone")
	name := fmt.Sprint("unverified", time.Now().Format("150405.000000"), "-", userSeq.Add(1))
	d, err := e.core.AddHumanUser(e.ctx, org, mfa.HumanInput{Username: name, GivenName: "A", FamilyName: "B",
		Email: name + "@example.com", Phone: "+34123123123", Password: druidPassword})
	if err != nil {
		t.Fatal(err)
	}
	before := e.userLog(d.ID)
	code, _, env := e.druidCreate(druidHeaders(e.druidAppToken(org), map[string]string{"Accept-Language": "es"}), druidCreateBody(name, "sms", nil))
	wantDruidError(t, code, env, http.StatusExpectationFailed, "El teléfono del usuario no está verificado")
	if !reflect.DeepEqual(e.userLog(d.ID), before) {
		t.Fatal("the refusal wrote events")
	}
}
