package server_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/factorgate/factorgate/server"
	"github.com/factorgate/factorgate/server/eventstore/postgres/pgtest"
)

// A database setting reaches the log and the errors without its password:
// neither the URL's user info (whatever characters the password holds) nor
// a password parameter, both of which pgx reads.
func TestTheDatabaseSettingIsShownWithoutItsPassword(t *testing.T) {
	const secret = "s3cr@t-hunter2"
	for _, db := range []string{
		"mysql://fg:" + secret + "@db/fg",
		"mysql://db/fg?sslmode=disable&password=" + secret,
		"host=db user=fg password=" + secret,
		"mysql://fg:1234/" + secret + "@db/fg", // not user info to Go's URL parser (a port, then a path)
	} {
		cfg := testConfig(t)
		cfg.DB = db
		_, err := server.New(context.Background(), cfg)
		if err == nil || !strings.Contains(err.Error(), "unsupported URL") {
			t.Fatalf("DB %q: got %v, want the unsupported URL error", db, err)
		}
		if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "s3cr") {
			t.Errorf("the error shows the password: %v", err)
		}
	}

	// The serving line. On PostgreSQL with a password in the URL's user info
	// and as a parameter (trust authentication asks for neither).
	cfg := testConfig(t)
	if pgtest.Enabled() {
		enc := strings.ReplaceAll(secret, "@", "%40") // pgx takes the first @ as the end of the user info
		db := strings.Replace(cfg.DB, "postgres://postgres@", "postgres://postgres:"+enc+"@", 1)
		if db == cfg.DB {
			t.Fatalf("test database URL %q has no user to add a password to", cfg.DB)
		}
		sep := "?"
		if strings.Contains(db, "?") {
			sep = "&"
		}
		cfg.DB = db + sep + "password=" + enc
	}
	var logs syncBuffer
	cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	srv, err := server.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "msg=serving") || !strings.Contains(logs.String(), "db=") {
		t.Fatalf("no serving line with the database in the log:\n%s", logs.String())
	}
	if strings.Contains(logs.String(), "hunter2") || strings.Contains(logs.String(), "s3cr") {
		t.Errorf("the log shows the password:\n%s", logs.String())
	}
}

// A store that cannot be opened is an error of New, for either store: the
// clean-up after it had closed a PostgreSQL store that was never opened
// and panicked.
func TestAStoreThatCannotBeOpenedIsAnErrorNotAPanic(t *testing.T) {
	for _, db := range []string{
		"postgres://postgres@127.0.0.1:1/nothing?sslmode=disable&connect_timeout=2", // nothing listens on port 1
		"sqlite://" + t.TempDir(), // a directory, not a file
	} {
		cfg := testConfig(t)
		cfg.DB = db
		srv, err := server.New(context.Background(), cfg)
		if err == nil {
			srv.Close()
			t.Fatalf("DB %q: New succeeded", db)
		}
	}
}
