// Command factorgate runs the factorgate service.
//
//	factorgate serve [flags]               run the service (serve --help lists the flags)
//	factorgate healthcheck [flags]         exit 0 when a running server is ready (container probes)
//	factorgate credentials create [flags]  create a OneLogin API credential on the server's store
//	factorgate version                     print the version
//
// Every flag can also be set through an environment variable named
// FACTORGATE_<FLAG> (upper case, dashes as underscores); flags win.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/factorgate/factorgate/server"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "factorgate:", err)
		os.Exit(1)
	}
}

// stdout is where help, version and probe results go (tests replace it).
var stdout io.Writer = os.Stdout

// version is set at build time (-ldflags "-X main.version=…"); without it
// the module version and VCS revision of the build are shown.
var version string

const usage = `usage: factorgate <command> [flags]

commands:
  serve        run the service (factorgate serve --help lists every flag and its environment variable)
  healthcheck  exit 0 when the server at --addr answers /readyz with 200 (for container probes)
  credentials create --scope "<OneLogin scope>" [--org <org id>]
               create a OneLogin API credential on the server's store; prints {"client_id","client_secret"}
  version      print the version
`

// errHelpShown ends a command after it printed its help: exit 0.
var errHelpShown = errors.New("help shown")

func run(args []string) error {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, usage)
		return errors.New("missing command")
	}
	var err error
	switch args[0] {
	case "serve":
		err = serve(args[1:])
	case "healthcheck":
		err = healthcheck(args[1:], os.Getenv)
	case "credentials":
		if len(args) < 2 || args[1] != "create" {
			fmt.Fprint(os.Stderr, usage)
			return errors.New(`unknown or missing subcommand: want "credentials create"`)
		}
		err = createCredentials(args[2:], os.Getenv, stdout)
	case "version":
		_, err = fmt.Fprintln(stdout, versionString())
	case "help", "-h", "--help":
		_, err = fmt.Fprint(stdout, usage)
	default:
		fmt.Fprint(os.Stderr, usage)
		return fmt.Errorf("unknown command %q", args[0])
	}
	if errors.Is(err, errHelpShown) {
		return nil
	}
	return err
}

func serve(args []string) error {
	cfg, err := parseServe(args, os.Getenv)
	if err != nil {
		return err
	}
	server.TuneGC()
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
		stop() // a second signal ends the process at once, as without the handler
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
	fs.SetOutput(io.Discard) // errors are returned; help goes to stdout
	var origins, rpOrigins string
	fs.StringVar(&cfg.Addr, "addr", cfg.Addr, "listen address (gRPC, gRPC-Web and REST on one port)")
	fs.StringVar(&cfg.GRPCAddr, "grpc-addr", cfg.GRPCAddr, "optional second listen address for native gRPC only, on grpc-go's own transport (faster)")
	fs.StringVar(&cfg.DB, "db", "", "store URL: sqlite://<file> (default sqlite://<data-dir>/factorgate.db)")
	fs.StringVar(&cfg.DataDir, "data-dir", cfg.DataDir, "directory for the SQLite file, the master key and admin.pat")
	fs.StringVar(&cfg.MasterKeyFile, "masterkey-file", "", "file with the hex master key (default <data-dir>/masterkey, created on first start)")
	fs.StringVar(&cfg.TLSCertFile, "tls-cert-file", "", "TLS certificate (PEM); serve TLS when set with --tls-key-file")
	fs.StringVar(&cfg.TLSKeyFile, "tls-key-file", "", "TLS private key (PEM)")
	fs.StringVar(&origins, "cors-origins", "", "comma-separated browser origins allowed to call the APIs (* for any)")
	fs.StringVar(&cfg.LogLevel, "log-level", cfg.LogLevel, "debug, info, warn or error")
	fs.StringVar(&cfg.LogFormat, "log-format", cfg.LogFormat, "text or json")
	fs.DurationVar(&cfg.LogFlushInterval, "log-flush-interval", cfg.LogFlushInterval, "how long a log line may wait to be written with the next ones (warnings and errors go out at once; 0: every line at once)")
	fs.IntVar(&cfg.Node, "node", cfg.Node, "replica number 0-127 (unique per replica sharing a database)")
	fs.StringVar(&cfg.Issuer, "issuer", cfg.Issuer, "issuer shown in TOTP apps")
	fs.StringVar(&cfg.RPID, "webauthn-rp-id", cfg.RPID, "WebAuthn relying party id (a domain)")
	fs.StringVar(&rpOrigins, "webauthn-origins", "", "comma-separated WebAuthn origins")
	fs.StringVar(&cfg.SQLiteSynchronous, "sqlite-synchronous", cfg.SQLiteSynchronous, "FULL (durable on power loss) or NORMAL")
	fs.DurationVar(&cfg.ShutdownTimeout, "shutdown-timeout", cfg.ShutdownTimeout, "how long to let requests finish on SIGINT/SIGTERM")
	fs.Int64Var(&cfg.MaxBodyBytes, "max-body-bytes", cfg.MaxBodyBytes, "largest request body (REST, gRPC-Web, Connect, token forms): 413 above it")
	fs.IntVar(&cfg.MaxMessageBytes, "max-message-bytes", cfg.MaxMessageBytes, "largest received gRPC message: ResourceExhausted above it")
	fs.DurationVar(&cfg.ReadHeaderTimeout, "read-header-timeout", cfg.ReadHeaderTimeout, "time a client has to send a request's headers")
	fs.DurationVar(&cfg.ReadTimeout, "read-timeout", cfg.ReadTimeout, "time a client has to send a request's body (streams exempt)")
	fs.DurationVar(&cfg.RequestTimeout, "request-timeout", cfg.RequestTimeout, "time a request may take to handle (streams exempt): DeadlineExceeded/504 after it")
	fs.Float64Var(&cfg.RateLimitGrants, "rate-limit-grants", cfg.RateLimitGrants, "token requests per second per client id or username (negative: off); 429 above it")
	fs.IntVar(&cfg.RateLimitGrantsBurst, "rate-limit-grants-burst", cfg.RateLimitGrantsBurst, "burst of --rate-limit-grants")
	fs.Float64Var(&cfg.RateLimitGrantsPerIP, "rate-limit-grants-per-ip", cfg.RateLimitGrantsPerIP, "token requests per second per remote address (negative: off); 429 above it")
	fs.IntVar(&cfg.RateLimitGrantsPerIPBurst, "rate-limit-grants-per-ip-burst", cfg.RateLimitGrantsPerIPBurst, "burst of --rate-limit-grants-per-ip")
	fs.Float64Var(&cfg.RateLimitFailedCodes, "rate-limit-failed-codes", cfg.RateLimitFailedCodes, "failed code verifications per minute per user after the burst (negative: off); ResourceExhausted/429 above it")
	fs.IntVar(&cfg.RateLimitFailedCodesBurst, "rate-limit-failed-codes-burst", cfg.RateLimitFailedCodesBurst, "failed code verifications a user may make in a row")
	fs.DurationVar(&cfg.SelfRemovalMaxAge, "self-removal-max-age", cfg.SelfRemovalMaxAge, "removing one's own factor needs a sign-in at most this old (0: no step-up rule)")
	fs.IntVar(&cfg.PasswordHashCost, "password-hash-cost", cfg.PasswordHashCost, fmt.Sprintf("bcrypt cost of new password hashes, %d to %d (each step doubles the work of a sign-in with a password)", server.MinPasswordHashCost, server.MaxPasswordHashCost))
	fs.BoolVar(&cfg.RevokeTokensOnFactorRemoval, "revoke-tokens-on-factor-removal", false, "end a user's other tokens when one of their factors is removed")
	fs.Func("webhook-url", "notification webhook, repeatable or comma-separated: https://… (every organization) or org=<id>=https://… (one)", func(v string) error {
		for _, item := range splitList(v) {
			w, err := server.ParseWebhook(item)
			if err != nil {
				return err
			}
			cfg.Webhooks = append(cfg.Webhooks, w)
		}
		return nil
	})
	fs.StringVar(&cfg.WebhookSecret, "webhook-secret", "", "HMAC-SHA256 key signing webhook deliveries (prefer FACTORGATE_WEBHOOK_SECRET)")

	// Environment first, so flags override it.
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		name := envName(f.Name)
		if v := getenv(name); v != "" {
			if err := f.Value.Set(v); err != nil && envErr == nil {
				envErr = fmt.Errorf("%s=%q: %w", name, v, err)
			}
		}
	})
	if envErr != nil {
		return cfg, envErr
	}
	if err := parseFlags(fs, args, "factorgate serve [flags]"); err != nil {
		return cfg, err
	}
	cfg.CORSOrigins = splitList(origins)
	cfg.RPOrigins = splitList(rpOrigins)
	if cfg.Node < 0 || cfg.Node > 127 {
		return cfg, errors.New("--node must be between 0 and " + strconv.Itoa(127))
	}
	if err := server.CheckPasswordHashCost(cfg.PasswordHashCost); err != nil {
		return cfg, fmt.Errorf("--password-hash-cost %w", err)
	}
	// Any other value (OFF, say) would run on the default instead.
	if s := cfg.SQLiteSynchronous; !strings.EqualFold(s, "FULL") && !strings.EqualFold(s, "NORMAL") {
		return cfg, fmt.Errorf("--sqlite-synchronous must be FULL or NORMAL, not %q", s)
	}
	return cfg, nil
}

// envName is the environment variable of a flag.
func envName(flagName string) string {
	return "FACTORGATE_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// parseFlags parses args; on -h/--help it prints every flag with its
// environment variable and default to stdout and returns errHelpShown.
func parseFlags(fs *flag.FlagSet, args []string, synopsis string) error {
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprintf(stdout, "usage: %s\n\nEvery flag can also be set by the environment variable shown next to it; a flag wins.\n\n", synopsis)
		fs.VisitAll(func(f *flag.Flag) {
			kind, help := flag.UnquoteUsage(f)
			fmt.Fprintf(stdout, "  --%s %s   (%s)\n      %s", f.Name, kind, envName(f.Name), help)
			if f.DefValue != "" {
				fmt.Fprintf(stdout, " (default %s)", f.DefValue)
			}
			fmt.Fprintln(stdout)
		})
		return errHelpShown
	}
	if err != nil {
		return fmt.Errorf("%w (see %s --help)", err, strings.TrimSuffix(synopsis, " [flags]"))
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	return nil
}

// healthcheck asks a running server whether it is ready (GET /readyz) and
// fails unless it answers 200. It reads the same --addr (FACTORGATE_ADDR)
// as serve, so a container probe needs no arguments; a wildcard listen
// address is probed on loopback. With TLS configured it speaks HTTPS and
// does not verify the certificate: it probes its own process on loopback,
// and trusts nothing it is told.
func healthcheck(args []string, getenv func(string) string) error {
	fs := flag.NewFlagSet("healthcheck", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	addr := fs.String("addr", server.DefaultConfig().Addr, "address of the server to probe")
	useTLS := fs.Bool("tls", false, "probe over HTTPS (default: when FACTORGATE_TLS_CERT_FILE is set)")
	timeout := fs.Duration("timeout", 3*time.Second, "give up after this long")
	if v := getenv(envName("addr")); v != "" {
		*addr = v
	}
	if getenv(envName("tls-cert-file")) != "" {
		*useTLS = true
	}
	if err := parseFlags(fs, args, "factorgate healthcheck [flags]"); err != nil {
		return err
	}
	host, port, err := net.SplitHostPort(*addr)
	if err != nil {
		return fmt.Errorf("--addr %q: %w", *addr, err)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
		if ip != nil && ip.To4() == nil {
			host = "::1"
		}
	}
	scheme := "http"
	client := &http.Client{Timeout: *timeout}
	if *useTLS {
		scheme = "https"
		client.Transport = &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}} //nolint:gosec // probing our own listener
	}
	url := scheme + "://" + net.JoinHostPort(host, port) + "/readyz"
	res, err := client.Get(url)
	if err != nil {
		return fmt.Errorf("not ready: %w", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("not ready: %s answered HTTP %d", url, res.StatusCode)
	}
	_, err = fmt.Fprintln(stdout, "ready")
	return err
}

// versionString names the build: the -X version when set, else the module
// version, with the VCS revision when the build recorded one.
func versionString() string {
	v, rev, dirty := version, "", false
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v == "" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
	}
	if v == "" {
		v = "(devel)"
	}
	out := "factorgate " + v
	if rev != "" {
		if len(rev) > 12 {
			rev = rev[:12]
		}
		if dirty {
			rev += "+dirty"
		}
		out += " " + rev
	}
	return out + " " + runtime.Version()
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
