// Command factorgate runs the factorgate service.
//
//	factorgate serve [flags]
//	factorgate credentials create [--org <org id>] --scope "<OneLogin scope>" [store flags]
//
// Every flag can also be set through an environment variable named
// FACTORGATE_<FLAG> (upper case, dashes as underscores); flags win.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/factorgate/factorgate/server"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "factorgate:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) >= 2 && args[0] == "credentials" && args[1] == "create" {
		return createCredentials(args[2:], os.Getenv, os.Stdout)
	}
	if len(args) == 0 || args[0] != "serve" {
		fmt.Fprintln(os.Stderr, "usage: factorgate serve [flags]   (factorgate serve -h lists the flags)")
		fmt.Fprintln(os.Stderr, `       factorgate credentials create [--org <org id>] --scope "Manage users" [--db …] [--data-dir …]`)
		return errors.New("unknown or missing command")
	}
	cfg, err := parseServe(args[1:], os.Getenv)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	srv, err := server.New(ctx, cfg)
	if err != nil {
		return err
	}
	if err := srv.Start(); err != nil {
		_ = srv.Close()
		return err
	}
	select {
	case <-ctx.Done():
	case err := <-waitErr(srv):
		_ = srv.Close()
		return err
	}
	return srv.Close()
}

func waitErr(srv *server.Server) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- srv.Wait() }()
	return ch
}

// parseServe reads flags, with FACTORGATE_* environment variables as
// defaults.
func parseServe(args []string, getenv func(string) string) (server.Config, error) {
	cfg := server.DefaultConfig()
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	var origins, rpOrigins string
	fs.StringVar(&cfg.Addr, "addr", cfg.Addr, "listen address (gRPC, gRPC-Web and REST on one port)")
	fs.StringVar(&cfg.DB, "db", "", "store URL: sqlite://<file> (default sqlite://<data-dir>/factorgate.db)")
	fs.StringVar(&cfg.DataDir, "data-dir", cfg.DataDir, "directory for the SQLite file, the master key and admin.pat")
	fs.StringVar(&cfg.MasterKeyFile, "masterkey-file", "", "file with the hex master key (default <data-dir>/masterkey, created on first start)")
	fs.StringVar(&cfg.TLSCertFile, "tls-cert-file", "", "TLS certificate (PEM); serve TLS when set with --tls-key-file")
	fs.StringVar(&cfg.TLSKeyFile, "tls-key-file", "", "TLS private key (PEM)")
	fs.StringVar(&origins, "cors-origins", "", "comma-separated browser origins allowed to call the APIs (* for any)")
	fs.StringVar(&cfg.LogLevel, "log-level", cfg.LogLevel, "debug, info, warn or error")
	fs.StringVar(&cfg.LogFormat, "log-format", cfg.LogFormat, "text or json")
	fs.IntVar(&cfg.Node, "node", cfg.Node, "replica number 0-127 (unique per replica sharing a database)")
	fs.StringVar(&cfg.Issuer, "issuer", cfg.Issuer, "issuer shown in TOTP apps")
	fs.StringVar(&cfg.RPID, "webauthn-rp-id", cfg.RPID, "WebAuthn relying party id (a domain)")
	fs.StringVar(&rpOrigins, "webauthn-origins", "", "comma-separated WebAuthn origins")
	fs.StringVar(&cfg.SQLiteSynchronous, "sqlite-synchronous", cfg.SQLiteSynchronous, "FULL (durable on power loss) or NORMAL")
	fs.DurationVar(&cfg.ShutdownTimeout, "shutdown-timeout", cfg.ShutdownTimeout, "how long to let requests finish on SIGINT/SIGTERM")

	// Environment first, so flags override it.
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		name := "FACTORGATE_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v := getenv(name); v != "" {
			if err := f.Value.Set(v); err != nil && envErr == nil {
				envErr = fmt.Errorf("%s=%q: %w", name, v, err)
			}
		}
	})
	if envErr != nil {
		return cfg, envErr
	}
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	cfg.CORSOrigins = splitList(origins)
	cfg.RPOrigins = splitList(rpOrigins)
	if cfg.Node < 0 || cfg.Node > 127 {
		return cfg, errors.New("--node must be between 0 and " + strconv.Itoa(127))
	}
	return cfg, nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
