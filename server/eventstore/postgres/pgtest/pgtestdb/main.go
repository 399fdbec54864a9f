// Command pgtestdb creates and drops the throwaway databases that
// `make test-postgres` runs the tests in.
//
//	pgtestdb create <admin-url>        prints the URL of a new, empty database
//	pgtestdb drop <admin-url> <db-url> drops that database
//
// It fails (exit 1) when PostgreSQL does not answer, so CI fails instead of
// skipping the PostgreSQL tests.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "pgtestdb:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	switch {
	case len(args) == 2 && args[0] == "create":
		b := make([]byte, 6)
		_, _ = rand.Read(b)
		name := "fg_test_" + hex.EncodeToString(b)
		if err := exec(ctx, args[1], "CREATE DATABASE "+name); err != nil {
			return err
		}
		u, err := url.Parse(args[1])
		if err != nil {
			return err
		}
		u.Path = "/" + name
		fmt.Println(u.String())
		return nil
	case len(args) == 3 && args[0] == "drop":
		u, err := url.Parse(args[2])
		if err != nil {
			return err
		}
		name := strings.TrimPrefix(u.Path, "/")
		if !strings.HasPrefix(name, "fg_test_") || strings.ContainsAny(name, `"; `) {
			return fmt.Errorf("refusing to drop %q: not a test database", name)
		}
		return exec(ctx, args[1], "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	}
	return errors.New("usage: pgtestdb create <admin-url> | pgtestdb drop <admin-url> <db-url>")
}

func exec(ctx context.Context, adminURL, sql string) error {
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return fmt.Errorf("PostgreSQL does not answer: %w", err)
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql)
	return err
}
