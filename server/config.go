// Package server wires factorgate together: the store, the core, the API
// dialects and one listener that serves gRPC, gRPC-Web, Connect and REST.
// It is the only package that imports every part.
package server

import (
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"github.com/factorgate/factorgate/server/mfa"
)

// Config configures a Server. DefaultConfig gives the embedded defaults.
type Config struct {
	// Addr is the listen address; port 0 picks a free port.
	Addr string
	// GRPCAddr, when set, is a second listen address that serves native
	// gRPC only, on grpc-go's own HTTP/2 transport (faster than the gRPC
	// through net/http on Addr). Same services, same interceptor chain, same
	// TLS files. Empty: gRPC on Addr only.
	GRPCAddr string
	// DB is the store: "sqlite://<file>" (default: a file in DataDir) or
	// "postgres://…".
	DB string
	// DataDir holds the SQLite file, the master key and admin.pat.
	DataDir string
	// MasterKeyFile holds the 32-byte key that seals secrets at rest
	// (default <DataDir>/masterkey, created with mode 0600 on first start).
	MasterKeyFile string
	// TLSCertFile and TLSKeyFile turn on TLS (HTTP/2 over TLS and HTTP/1.1).
	TLSCertFile string
	TLSKeyFile  string
	// CORSOrigins are the browser origins allowed to call the APIs
	// ("*" for any).
	CORSOrigins []string
	// LogLevel (debug, info, warn, error) and LogFormat (json, text).
	LogLevel  string
	LogFormat string
	// LogFlushInterval is how long a log line may wait to be written out
	// with the lines after it (lines at warn level and above, and a full
	// buffer, go out at once; 0 writes each line as it comes).
	LogFlushInterval time.Duration
	// Node distinguishes replicas sharing one database in generated ids.
	Node int
	// Issuer names the service in TOTP URIs.
	Issuer string
	// WebAuthn relying party id and origins.
	RPID      string
	RPOrigins []string
	// SQLiteSynchronous is FULL (default, durable on power loss) or NORMAL.
	SQLiteSynchronous string
	// ShutdownTimeout bounds graceful shutdown.
	ShutdownTimeout time.Duration

	// MaxBodyBytes limits a request body (REST/JSON, gRPC-Web, Connect,
	// token forms): 413 when declared larger, 400 when it runs over.
	MaxBodyBytes int64
	// MaxMessageBytes limits one received gRPC message (ResourceExhausted).
	MaxMessageBytes int
	// ReadHeaderTimeout bounds reading a request's headers; ReadTimeout
	// reading its body; RequestTimeout handling it (DeadlineExceeded).
	// Streaming calls (health Watch, reflection) are exempt from the last
	// two.
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	RequestTimeout    time.Duration

	// Rate limits (token buckets in memory, per process; see README,
	// "Security"). Zero takes the default, a negative rate turns one off.
	// RateLimitGrants (per second) and its burst limit token requests per
	// client id or username; RateLimitGrantsPerIP per remote address;
	// RateLimitFailedCodes (per minute) failed code verifications per user.
	RateLimitGrants           float64
	RateLimitGrantsBurst      int
	RateLimitGrantsPerIP      float64
	RateLimitGrantsPerIPBurst int
	RateLimitFailedCodes      float64
	RateLimitFailedCodesBurst int
	// SelfRemovalMaxAge is the step-up window: removing one's own factor
	// (auth.v1 RemoveMy*, DruID mfa/delete, user.v2/v3alpha on oneself)
	// needs a token whose user signed in at most this long ago. Zero turns
	// the rule off; DefaultConfig sets mfa.DefaultSelfRemovalMaxAge.
	SelfRemovalMaxAge time.Duration
	// RevokeTokensOnFactorRemoval ends a user's other access and refresh
	// tokens when one of their factors is removed (the removing token
	// survives).
	RevokeTokensOnFactorRemoval bool
	// PasswordHashCost is the bcrypt cost of new password hashes
	// (mfa.MinPasswordHashCost to mfa.MaxPasswordHashCost; DefaultConfig
	// sets mfa.DefaultPasswordHashCost). Hashes already stored keep theirs.
	PasswordHashCost int
	// Webhooks receive a notification of every factor enrolment and
	// removal and every login-policy change; with none, nothing is queued.
	// WebhookSecret signs the deliveries (required with webhooks).
	Webhooks      []Webhook
	WebhookSecret string
	// Delivery tuning: how often the dispatcher looks for due
	// notifications, the first retry's wait (doubling, jittered, up to
	// WebhookMaxBackoff) and one request's timeout.
	WebhookPoll       time.Duration
	WebhookBackoff    time.Duration
	WebhookMaxBackoff time.Duration
	WebhookTimeout    time.Duration

	// Logger overrides LogLevel/LogFormat (tests).
	Logger *slog.Logger
	// Now overrides the clock (tests).
	Now func() time.Time
}

// DefaultConfig returns the embedded default: SQLite under ./data on
// 127.0.0.1:8080.
func DefaultConfig() Config {
	return Config{
		Addr:              "127.0.0.1:8080",
		DataDir:           "./data",
		LogLevel:          "info",
		LogFormat:         "text",
		LogFlushInterval:  100 * time.Millisecond,
		Issuer:            "factorgate",
		RPID:              "localhost",
		SQLiteSynchronous: "FULL",
		ShutdownTimeout:   10 * time.Second,
		MaxBodyBytes:      defaultMaxBodyBytes,
		MaxMessageBytes:   defaultMaxMessageBytes,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       defaultReadTimeout,
		RequestTimeout:    defaultRequestTimeout,

		RateLimitGrants:           mfa.DefaultLimits.GrantRate,
		RateLimitGrantsBurst:      mfa.DefaultLimits.GrantBurst,
		RateLimitGrantsPerIP:      defaultGrantsPerIP,
		RateLimitGrantsPerIPBurst: defaultGrantsPerIPBurst,
		RateLimitFailedCodes:      mfa.DefaultLimits.FailedCodeRate * 60,
		RateLimitFailedCodesBurst: mfa.DefaultLimits.FailedCodeBurst,
		SelfRemovalMaxAge:         mfa.DefaultSelfRemovalMaxAge,
		PasswordHashCost:          mfa.DefaultPasswordHashCost,
	}
}

// The password hash costs a Config accepts (bcrypt's; see
// mfa.Config.PasswordHashCost).
const (
	MinPasswordHashCost = mfa.MinPasswordHashCost
	MaxPasswordHashCost = mfa.MaxPasswordHashCost
)

// CheckPasswordHashCost says whether cost is a password hash cost a Config
// accepts (the core's check); its error reads "must be between …".
func CheckPasswordHashCost(cost int) error { return mfa.CheckPasswordHashCost(cost) }

func (c *Config) normalize() error {
	d := DefaultConfig()
	if c.Addr == "" {
		c.Addr = d.Addr
	}
	if c.DataDir == "" {
		c.DataDir = d.DataDir
	}
	if c.DB == "" {
		c.DB = "sqlite://" + filepath.Join(c.DataDir, "factorgate.db")
	}
	if c.MasterKeyFile == "" {
		c.MasterKeyFile = filepath.Join(c.DataDir, "masterkey")
	}
	if c.Issuer == "" {
		c.Issuer = d.Issuer
	}
	if c.RPID == "" {
		c.RPID = d.RPID
	}
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = d.ShutdownTimeout
	}
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = defaultMaxBodyBytes
	}
	if c.MaxMessageBytes <= 0 {
		c.MaxMessageBytes = defaultMaxMessageBytes
	}
	if c.ReadHeaderTimeout <= 0 {
		c.ReadHeaderTimeout = 10 * time.Second
	}
	if c.ReadTimeout <= 0 {
		c.ReadTimeout = defaultReadTimeout
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = defaultRequestTimeout
	}
	if c.RateLimitGrantsPerIP == 0 {
		c.RateLimitGrantsPerIP = defaultGrantsPerIP
	}
	if c.RateLimitGrantsPerIPBurst <= 0 {
		c.RateLimitGrantsPerIPBurst = defaultGrantsPerIPBurst
	}
	if c.SQLiteSynchronous == "" {
		c.SQLiteSynchronous = d.SQLiteSynchronous
	}
	if !strings.EqualFold(c.SQLiteSynchronous, "FULL") && !strings.EqualFold(c.SQLiteSynchronous, "NORMAL") {
		return fmt.Errorf("config: SQLite synchronous %q: want FULL or NORMAL", c.SQLiteSynchronous)
	}
	if len(c.Webhooks) > 0 && c.WebhookSecret == "" {
		return fmt.Errorf("config: webhooks need a webhook secret to sign with")
	}
	if c.WebhookPoll <= 0 {
		c.WebhookPoll = time.Second
	}
	if c.WebhookBackoff <= 0 {
		c.WebhookBackoff = 2 * time.Second
	}
	if c.WebhookMaxBackoff <= 0 {
		c.WebhookMaxBackoff = 10 * time.Minute
	}
	if c.WebhookTimeout <= 0 {
		c.WebhookTimeout = 10 * time.Second
	}
	if c.PasswordHashCost == 0 {
		c.PasswordHashCost = d.PasswordHashCost
	}
	if err := CheckPasswordHashCost(c.PasswordHashCost); err != nil {
		return fmt.Errorf("config: the password hash cost %w", err)
	}
	if c.SelfRemovalMaxAge < 0 {
		return fmt.Errorf("config: the self-removal window cannot be negative")
	}
	if c.LogFlushInterval < 0 {
		return fmt.Errorf("config: the log flush interval cannot be negative")
	}
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		return fmt.Errorf("config: TLS needs both a certificate and a key file")
	}
	if c.Node < 0 || c.Node > 127 {
		return fmt.Errorf("config: node must be between 0 and 127")
	}
	return nil
}

// logger returns the server's logger and the buffer its lines go through
// (nil for Config.Logger), which Server.Close writes out.
func (c *Config) logger() (*slog.Logger, *lineBuffer, error) {
	if c.Logger != nil {
		return c.Logger, nil, nil
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.LogLevel)); err != nil {
		return nil, nil, fmt.Errorf("config: log level %q: %w", c.LogLevel, err)
	}
	lines := newLineBuffer(logOutput, c.LogFlushInterval)
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler
	switch strings.ToLower(c.LogFormat) {
	case "", "text":
		h = slog.NewTextHandler(lines, opts)
	case "json":
		h = slog.NewJSONHandler(lines, opts)
	default:
		return nil, nil, fmt.Errorf("config: log format %q (want json or text)", c.LogFormat)
	}
	return slog.New(flushAbove{h, lines}), lines, nil
}
