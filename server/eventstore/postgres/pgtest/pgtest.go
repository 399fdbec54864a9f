// Package pgtest gives tests an empty PostgreSQL schema of their own in the
// database named by FACTORGATE_TEST_DB, so that many tests (and test
// servers) share one database without seeing each other's rows.
//
// Without the variable, tests that need PostgreSQL skip, except on CI
// (CI=true), where they fail: CI must not pass without running them. A
// database that does not answer fails the test, never skips it.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvVar names the variable with the URL of the test database.
const EnvVar = "FACTORGATE_TEST_DB"

// BaseURL returns the test database's URL. Without it, it skips the test
// (fails it when CI=true).
func BaseURL(tb testing.TB) string {
	tb.Helper()
	u := os.Getenv(EnvVar)
	if u == "" {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("%s is not set, and CI=true: the PostgreSQL tests must run on CI", EnvVar)
		}
		tb.Skipf("%s is not set; PostgreSQL tests skipped (see README, make test-postgres)", EnvVar)
	}
	return u
}

// Enabled reports whether FACTORGATE_TEST_DB is set.
func Enabled() bool { return os.Getenv(EnvVar) != "" }

// SchemaURL creates an empty schema in the test database and returns a URL
// whose connections use it (search_path). The schema and everything in it
// is dropped when the test ends, after cleanups registered later (such as
// closing a store opened on the URL).
func SchemaURL(tb testing.TB) string {
	tb.Helper()
	base := BaseURL(tb)
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	schema := "fgtest_" + hex.EncodeToString(b)
	exec(tb, base, `CREATE SCHEMA `+schema)
	tb.Cleanup(func() { exec(tb, base, `DROP SCHEMA `+schema+` CASCADE`) })
	u, err := url.Parse(base)
	if err != nil {
		tb.Fatalf("%s: %v", EnvVar, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// exec runs one statement on its own connection.
func exec(tb testing.TB, dbURL, sql string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		tb.Fatalf("PostgreSQL at %s does not answer: %v", EnvVar, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		tb.Fatalf("%s: %v", sql, err)
	}
}
