package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/factorgate/factorgate/server"
)

// createCredentials creates a OneLogin API credential on the store a
// server uses (the same --db, --data-dir and --masterkey-file, or their
// FACTORGATE_* variables) and prints {"client_id":…,"client_secret":…}.
func createCredentials(args []string, getenv func(string) string, stdout io.Writer) error {
	cfg := server.DefaultConfig()
	fs := flag.NewFlagSet("credentials create", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are returned; help goes to stdout
	var org, scope string
	fs.StringVar(&org, "org", "", "id of the organization that owns the credential (default: the first organization)")
	fs.StringVar(&scope, "scope", "", `OneLogin scope: "Authentication Only", "Read users", "Manage users", "Read All" or "Manage All"`)
	fs.StringVar(&cfg.DB, "db", "", "store URL: sqlite://<file> (default sqlite://<data-dir>/factorgate.db)")
	fs.StringVar(&cfg.DataDir, "data-dir", cfg.DataDir, "directory for the SQLite file, the master key and admin.pat")
	fs.StringVar(&cfg.MasterKeyFile, "masterkey-file", "", "file with the hex master key (default <data-dir>/masterkey)")
	fs.StringVar(&cfg.LogLevel, "log-level", "warn", "debug, info, warn or error (logs go to stderr)")
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		if f.Name == "org" || f.Name == "scope" || f.Name == "log-level" {
			return
		}
		name := envName(f.Name)
		if v := getenv(name); v != "" {
			if err := f.Value.Set(v); err != nil && envErr == nil {
				envErr = fmt.Errorf("%s=%q: %w", name, v, err)
			}
		}
	})
	if envErr != nil {
		return envErr
	}
	if err := parseFlags(fs, args, "factorgate credentials create [flags]"); err != nil {
		return err
	}
	if scope == "" {
		return errors.New("--scope is required")
	}
	creds, err := server.CreateCredentials(context.Background(), cfg, org, scope)
	if err != nil {
		return err
	}
	return json.NewEncoder(stdout).Encode(creds)
}
