package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/factorgate/factorgate/server"
)

// `factorgate credentials create` against the data directory of a running
// server prints credentials that work on that server at once.
func TestCredentialsCreateWorksAgainstARunningServer(t *testing.T) {
	dir := t.TempDir()
	cfg := server.DefaultConfig()
	cfg.Addr, cfg.DataDir, cfg.SQLiteSynchronous = "127.0.0.1:0", dir, "NORMAL"
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	srv, err := server.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	base := "http://" + srv.Addr()

	create := func(args []string, getenv func(string) string) map[string]string {
		t.Helper()
		var out bytes.Buffer
		if err := createCredentials(args, getenv, &out); err != nil {
			t.Fatalf("credentials create %q: %v", args, err)
		}
		var creds map[string]string
		if err := json.Unmarshal(out.Bytes(), &creds); err != nil || len(creds) != 2 || len(creds["client_id"]) != 64 || len(creds["client_secret"]) != 64 {
			t.Fatalf("output %q: want {\"client_id\":…,\"client_secret\":…}", out.String())
		}
		return creds
	}
	for _, c := range []struct {
		name   string
		args   []string
		getenv func(string) string
	}{
		{"flags, first organization", []string{"--data-dir", dir, "--scope", "Manage users"}, env()},
		{"explicit org, scope in other case", []string{"--data-dir", dir, "--org", srv.Bootstrap().OrgID, "--scope", "read USERS"}, env()},
		{"data dir from the environment", []string{"--scope", "Manage All"}, env("FACTORGATE_DATA_DIR", dir)},
	} {
		t.Run(strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) {
			creds := create(c.args, c.getenv)
			req, _ := http.NewRequest(http.MethodPost, base+"/auth/oauth2/v2/token", strings.NewReader(`{"grant_type":"client_credentials"}`))
			req.SetBasicAuth(creds["client_id"], creds["client_secret"])
			req.Header.Set("Content-Type", "application/json")
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var tok struct {
				AccessToken string `json:"access_token"`
			}
			_ = json.NewDecoder(res.Body).Decode(&tok)
			res.Body.Close()
			if res.StatusCode != http.StatusOK || tok.AccessToken == "" {
				t.Fatalf("token with the printed credentials: %d", res.StatusCode)
			}
			// The token passes authentication and the scope check: a user
			// that does not exist gets v1's 404.
			req, _ = http.NewRequest(http.MethodGet, base+"/api/1/users/1/otp_devices", nil)
			req.Header.Set("Authorization", "bearer:"+tok.AccessToken)
			res, err = http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if want := `{"status":{"error":true,"code":404,"type":"not found","message":"User for id 1 was not found"}}`; res.StatusCode != 404 || string(body) != want {
				t.Fatalf("v1 call: %d %s, want 404 %s", res.StatusCode, body, want)
			}
		})
	}
}

func TestCredentialsCreateErrors(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"no scope", []string{"--data-dir", dir}, "--scope"},
		{"unknown scope", []string{"--data-dir", dir, "--scope", "Everything"}, "Unknown scope"},
		{"unknown organization", []string{"--data-dir", dir, "--scope", "Manage users", "--org", "42"}, "Organisation not found"},
		{"positional argument", []string{"--data-dir", dir, "--scope", "Read All", "extra"}, "extra"},
	} {
		t.Run(strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) {
			var out bytes.Buffer
			err := createCredentials(c.args, env(), &out)
			if err == nil || !strings.Contains(err.Error(), c.want) || out.Len() != 0 {
				t.Fatalf("error %v, output %q; want an error mentioning %q and no output", err, out.String(), c.want)
			}
		})
	}
	if err := run([]string{"credentials", "create", "--data-dir", dir}); err == nil || !strings.Contains(err.Error(), "--scope") {
		t.Errorf("run(credentials create) without --scope: %v", err)
	}
}
