package server

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"connectrpc.com/vanguard"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/cors"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/reflection"

	"github.com/factorgate/factorgate/gen/openapi"
	"github.com/factorgate/factorgate/server/api"
	"github.com/factorgate/factorgate/server/api/druid"
	"github.com/factorgate/factorgate/server/api/onelogin"
	"github.com/factorgate/factorgate/server/api/zitadel"
	"github.com/factorgate/factorgate/server/eventstore"
	"github.com/factorgate/factorgate/server/eventstore/postgres"
	"github.com/factorgate/factorgate/server/eventstore/sqlite"
	"github.com/factorgate/factorgate/server/mfa"
	"github.com/factorgate/factorgate/web"
)

var logOutput io.Writer = os.Stderr

// Server is a running factorgate.
type Server struct {
	cfg      Config
	log      *slog.Logger
	store    eventstore.Store
	core     *mfa.Service
	grpc     *grpc.Server
	native   *grpc.Server // the same services on the native gRPC listener
	perIP    *mfa.Limiter // token requests per remote address, on every port
	health   *health.Server
	http     *http.Server
	listener net.Listener
	grpcLn   net.Listener    // the native gRPC listener (Config.GRPCAddr)
	refusers []api.Route     // the routes that answer the limits' refusals in a body of their own
	services map[string]bool // the gRPC services the one port serves, by full name
	boot     mfa.BootstrapResult
	patFile  string
	notify   *dispatcher // nil without webhooks

	// streams is canceled when Close begins: it ends streaming calls
	// (health Watch), which would otherwise hold up graceful shutdown.
	streams    context.Context
	endStreams context.CancelFunc

	logLines  *lineBuffer // nil with Config.Logger; written out by Close
	closeOnce sync.Once
	closeErr  error
	served    chan error
}

// New opens the store, bootstraps the instance on first start and builds
// every transport. It does not listen yet: call Start.
func New(ctx context.Context, cfg Config) (_ *Server, err error) {
	if err := cfg.normalize(); err != nil {
		return nil, err
	}
	log, logLines, err := cfg.logger()
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: log, logLines: logLines, served: make(chan error, 1)}
	defer func() {
		if err != nil {
			_ = s.Close()
		}
	}()
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	if s.store, err = openStore(ctx, cfg); err != nil {
		return nil, err
	}
	key, err := loadOrCreateKey(cfg.MasterKeyFile)
	if err != nil {
		return nil, err
	}
	s.core, err = mfa.New(mfa.Config{Store: s.store, MasterKey: key, Now: cfg.Now, Node: cfg.Node,
		Issuer: cfg.Issuer, RPID: cfg.RPID, RPOrigins: cfg.RPOrigins, Limits: cfg.coreLimits(),
		SelfRemovalMaxAge: cfg.SelfRemovalMaxAge, RevokeTokensOnFactorRemoval: cfg.RevokeTokensOnFactorRemoval,
		Notify: len(cfg.Webhooks) > 0, PasswordHashCost: cfg.PasswordHashCost})
	if err != nil {
		return nil, err
	}
	if s.boot, err = s.core.Bootstrap(ctx, mfa.BootstrapOptions{}); err != nil {
		return nil, fmt.Errorf("bootstrap: %w", err)
	}
	s.patFile = filepath.Join(cfg.DataDir, "admin.pat")
	if s.boot.Created {
		if err := os.WriteFile(s.patFile, []byte(s.boot.AdminToken+"\n"), 0o600); err != nil {
			return nil, fmt.Errorf("write admin token: %w", err)
		}
		log.Info("bootstrapped a new instance; the admin's personal access token is in the file named here",
			"instance", s.boot.InstanceID, "org", s.boot.OrgID, "admin_user", s.boot.AdminUserID, "token_file", s.patFile)
	}
	if err := s.buildTransports(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// storeOrNil returns a store that failed to open as a nil interface, not as
// an interface holding a nil pointer, which New's clean-up would close.
func storeOrNil[S eventstore.Store](st S, err error) (eventstore.Store, error) {
	if err != nil {
		return nil, err
	}
	return st, nil
}

func openStore(ctx context.Context, cfg Config) (eventstore.Store, error) {
	switch {
	case strings.HasPrefix(cfg.DB, "sqlite://"):
		path := strings.TrimPrefix(cfg.DB, "sqlite://")
		if dir := filepath.Dir(path); dir != "" {
			if err := os.MkdirAll(dir, 0o700); err != nil {
				return nil, fmt.Errorf("db dir: %w", err)
			}
		}
		sync := sqlite.SynchronousFull
		if strings.EqualFold(cfg.SQLiteSynchronous, "NORMAL") {
			sync = sqlite.SynchronousNormal
		}
		return storeOrNil(sqlite.Open(ctx, path, sqlite.WithSynchronous(sync)))
	case strings.HasPrefix(cfg.DB, "postgres://"), strings.HasPrefix(cfg.DB, "postgresql://"):
		return storeOrNil(postgres.Open(ctx, cfg.DB))
	}
	return nil, fmt.Errorf("db: unsupported URL %q (want sqlite://<file> or postgres://…)", redactDB(cfg.DB))
}

// loadOrCreateKey reads the master key (hex) or creates one with mode 0600.
func loadOrCreateKey(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		key := make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, err
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, fmt.Errorf("master key: %w", err)
		}
		if _, err := f.WriteString(hex.EncodeToString(key) + "\n"); err != nil {
			f.Close()
			return nil, fmt.Errorf("master key: %w", err)
		}
		return key, f.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("master key: %w", err)
	}
	key, err := hex.DecodeString(strings.TrimSpace(string(data)))
	if err != nil || len(key) != 32 {
		return nil, fmt.Errorf("master key %s: want 64 hex characters (32 bytes)", path)
	}
	return key, nil
}

// dialects lists the API dialects the server speaks.
func (s *Server) dialects() []api.Service {
	return []api.Service{zitadel.New(s.core), onelogin.New(s.core), druid.New(s.core)}
}

func (s *Server) buildTransports(ctx context.Context) error {
	dialects := s.dialects()
	rules := map[string]api.Rule{}
	for _, d := range dialects {
		for m, r := range d.Rules() {
			rules[m] = r
		}
	}
	metrics := api.NewMetrics()
	metrics.MustRegister(storeCollectors(s.store)...)
	if len(s.cfg.Webhooks) > 0 {
		s.notify = newDispatcher(s.cfg, s.core, s.log)
		metrics.MustRegister(s.notify.collectors()...)
	}
	chain := &api.Chain{Logger: s.log, Metrics: metrics, Auth: s.core, Detail: zitadel.Detail, Rules: rules, OrgHeader: zitadel.OrgHeader}
	s.perIP = mfa.NewLimiter(s.cfg.RateLimitGrantsPerIP, s.cfg.RateLimitGrantsPerIPBurst, nil)
	s.streams, s.endStreams = context.WithCancel(context.Background())
	// The one port's grpc.Server (gRPC through ServeHTTP, gRPC-Web and
	// Connect through vanguard) and the native listener's run the same
	// chain, with the same transport options (GRPCServerOptions); first
	// are any steps of one of them only.
	grpcServer := func(first ...grpc.UnaryServerInterceptor) *grpc.Server {
		return grpc.NewServer(append(GRPCServerOptions(), grpc.MaxRecvMsgSize(s.cfg.MaxMessageBytes),
			grpc.ChainUnaryInterceptor(append(first, chain.Unary())...), grpc.ChainStreamInterceptor(chain.Stream(), s.endOnClose))...)
	}
	s.grpc = grpcServer()
	s.health = health.NewServer()
	servers := []*grpc.Server{s.grpc}
	if s.cfg.GRPCAddr != "" {
		// The native listener's unary chain starts with a step that drops
		// the transport label a client may have sent (on the one port, the
		// HTTP root drops it), then the limits the one port's guard applies.
		s.native = grpcServer(dropTransportLabel, s.nativeLimits)
		servers = append(servers, s.native)
	}
	for _, g := range servers {
		for _, d := range dialects {
			d.RegisterGRPC(g)
		}
		healthpb.RegisterHealthServer(g, s.health)
		reflection.Register(g)
	}

	// The REST gateways call the same services through an in-process
	// connection behind the same interceptor chain, so REST requests run
	// it too (without a second encoding and HTTP/2 pass).
	conn := api.NewInProcess(chain.Unary())
	for _, d := range dialects {
		d.RegisterGRPC(conn)
	}

	// gRPC-Web and Connect go through vanguard to the same gRPC server. One
	// transcoder per service: vanguard also derives REST routes from the
	// http annotations, and ZITADEL's v1 services share relative paths
	// (REST itself is grpc-gateway's job, mounted under each prefix).
	// Connect calls get transcoders of their own, which send the gRPC server
	// the proto encoding under another name (connectTargetCodec): vanguard
	// then decodes every Connect request itself, and a body that does not
	// decode is invalid_argument, as connect-go answers it, instead of the
	// Internal that grpc-go makes of it (HTTP 500). gRPC-Web calls keep the
	// pass-through of their bytes.
	transcoders, connectTranscoders := map[string]http.Handler{}, map[string]http.Handler{}
	s.services = map[string]bool{}
	for name := range s.grpc.GetServiceInfo() {
		s.services[name] = true
		for _, t := range []struct {
			into   map[string]http.Handler
			target string
		}{{transcoders, vanguard.CodecProto}, {connectTranscoders, connectTargetCodec}} {
			h, err := vanguard.NewTranscoder([]*vanguard.Service{vanguard.NewService(name, s.grpc)},
				vanguard.WithDefaultServiceOptions(vanguard.WithTargetCodecs(t.target), vanguard.WithTargetProtocols(vanguard.ProtocolGRPC)),
				vanguard.WithCodec(newConnectJSON), vanguard.WithCodec(newConnectProto), vanguard.WithCodec(newTargetProto))
			if err != nil {
				return fmt.Errorf("grpc-web %s: %w", name, err)
			}
			t.into[name] = h
		}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { writeText(w, http.StatusOK, "ok") })
	mux.HandleFunc("GET /readyz", s.ready)
	mux.HandleFunc("GET /factorgate/v1/notifications", s.notificationsHandler)
	mux.Handle("GET /metrics", metrics.Handler())
	mux.Handle("GET /openapi/", http.StripPrefix("/openapi", http.FileServerFS(openapi.FS)))
	mux.HandleFunc("GET /openapi/index.json", serveOpenAPIIndex)
	mux.Handle("GET /openapi/ui/", http.StripPrefix("/openapi/ui", http.FileServerFS(web.OpenAPIUI())))
	mux.Handle("GET /ui/", http.StripPrefix("/ui", http.FileServerFS(web.UI())))
	var fallback http.Handler = http.NotFoundHandler()
	for _, d := range dialects {
		routes, err := d.Routes(ctx, conn)
		if err != nil {
			return fmt.Errorf("%s routes: %w", d.Name(), err)
		}
		for _, r := range routes {
			if r.Refuse != nil {
				s.refusers = append(s.refusers, r)
			}
			h := r.Handler
			if r.StripPrefix {
				h = http.StripPrefix(r.Prefix, h)
			}
			mux.Handle(r.Prefix+"/", h)
			// The prefix alone is the prefix's root, so that it gets the
			// dialect's answer (a 404) instead of ServeMux's redirect.
			mux.Handle(r.Prefix, http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
				req.URL.Path, req.URL.RawPath = req.URL.Path+"/", ""
				h.ServeHTTP(w, req)
			}))
			if r.Prefix == "/v2" {
				fallback = r.Handler // unknown paths get the gateway's JSON 404
			}
		}
	}
	mux.Handle("/", fallback)

	root := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Header.Del(api.HeaderTransport) // only the server sets it
		ct := strings.ToLower(r.Header.Get("Content-Type"))
		svc := rpcService(r.URL.Path)
		switch {
		case isNativeGRPC(r):
			s.grpc.ServeHTTP(w, r)
		case strings.HasPrefix(ct, "application/grpc-web") && transcoders[svc] != nil:
			r.Header.Set(api.HeaderTransport, "grpc-web")
			serveGRPCWeb(w, r, transcoders[svc], s.cfg.ReadTimeout)
		case r.Method == http.MethodPost && connectTranscoders[svc] != nil:
			if !normalizeConnectType(w, r) || isStreaming(r.URL.Path) && !readConnectStreamRequest(w, r, s.cfg.ReadTimeout) {
				return
			}
			markConnectUnary(r)
			r.Header.Set(api.HeaderTransport, "connect")
			connectTranscoders[svc].ServeHTTP(w, r)
		default:
			mux.ServeHTTP(w, r)
		}
	})
	handler := s.guard(root)
	if len(s.cfg.CORSOrigins) > 0 { // rs/cors would allow every origin for an empty list
		handler = corsHandler(s.cfg.CORSOrigins).Handler(handler)
	}

	var protocols http.Protocols
	protocols.SetHTTP1(true)
	protocols.SetUnencryptedHTTP2(true)
	protocols.SetHTTP2(true)
	s.http = &http.Server{
		Handler:           handler,
		Protocols:         &protocols,
		ReadHeaderTimeout: s.cfg.ReadHeaderTimeout,
		IdleTimeout:       120e9,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	return nil
}

// dropTransportLabel removes api.HeaderTransport from a native gRPC call's
// metadata: only the server labels transports, so a client of the native
// listener is counted and logged as "grpc" whatever it sends.
func dropTransportLabel(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	// ValueFromIncomingContext looks the key up without the copy of every
	// key and value that FromIncomingContext makes: almost no call has it.
	if len(metadata.ValueFromIncomingContext(ctx, api.HeaderTransport)) > 0 {
		md, _ := metadata.FromIncomingContext(ctx)
		md.Delete(api.HeaderTransport)
		ctx = metadata.NewIncomingContext(ctx, md)
	}
	return handler(ctx, req)
}

// endOnClose gives a streaming call a context that ends when the server
// closes, so a long-lived stream (a client watching grpc.health.v1) learns
// NOT_SERVING and ends instead of holding the shutdown until its timeout.
func (s *Server) endOnClose(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	ctx, cancel := context.WithCancel(ss.Context())
	defer cancel()
	defer context.AfterFunc(s.streams, cancel)()
	return handler(srv, &closingStream{ServerStream: ss, ctx: ctx})
}

type closingStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (c *closingStream) Context() context.Context { return c.ctx }

// rpcService returns the service of an RPC path /<package.Service>/<Method>.
func rpcService(path string) string {
	svc, method, ok := strings.Cut(strings.TrimPrefix(path, "/"), "/")
	if !ok || method == "" || strings.Contains(method, "/") {
		return ""
	}
	return svc
}

func corsHandler(origins []string) *cors.Cors {
	return cors.New(cors.Options{
		AllowedOrigins: origins,
		AllowedMethods: []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete},
		AllowedHeaders: []string{"Authorization", "Content-Type", "Accept", "X-Grpc-Web", "X-User-Agent", "Grpc-Timeout",
			"Connect-Protocol-Version", "Connect-Timeout-Ms", zitadel.OrgHeader, api.HeaderRequestID, "From", "Accept-Language"},
		ExposedHeaders: []string{"Grpc-Status", "Grpc-Message", "Grpc-Status-Details-Bin", "X-Request-Id"},
		MaxAge:         600,
	})
}

// ready answers 503 while the store cannot be read (with PostgreSQL: while
// the database is down or unreachable) and 200 once it can again; the
// store reconnects by itself.
func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
	defer cancel()
	if _, err := s.store.ClaimOwner(ctx, "instance"); err != nil {
		writeText(w, http.StatusServiceUnavailable, "store unavailable")
		return
	}
	writeText(w, http.StatusOK, "ready")
}

// openapiIndex lists the served OpenAPI documents that describe at least
// one path, for the viewer at /openapi/ui/. The documents are embedded, so
// the list is built once.
var openapiIndex = sync.OnceValue(func() []byte {
	type doc struct {
		Name string `json:"name"`
		URL  string `json:"url"`
	}
	docs := []doc{}
	_ = fs.WalkDir(openapi.FS, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".swagger.json") {
			return err
		}
		data, err := fs.ReadFile(openapi.FS, p)
		if err != nil {
			return err
		}
		var body struct {
			Paths map[string]json.RawMessage `json:"paths"`
		}
		if json.Unmarshal(data, &body) == nil && len(body.Paths) > 0 {
			docs = append(docs, doc{Name: strings.TrimSuffix(p, ".swagger.json"), URL: "/openapi/" + p})
		}
		return nil
	})
	out, _ := json.Marshal(docs)
	return out
})

func serveOpenAPIIndex(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(openapiIndex())
}

// readyTimeout bounds the store check of /readyz.
const readyTimeout = 3 * time.Second

func writeText(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(code)
	_, _ = io.WriteString(w, msg+"\n")
}

// Start listens on the configured address and serves in the background.
func (s *Server) Start() error {
	ln, err := s.listen(s.cfg.Addr, []string{"h2", "http/1.1"})
	if err != nil {
		return err
	}
	s.listener = ln
	if s.cfg.GRPCAddr != "" {
		gln, err := s.listen(s.cfg.GRPCAddr, []string{"h2"})
		if err != nil {
			ln.Close()
			return fmt.Errorf("grpc-addr: %w", err)
		}
		s.grpcLn = gln
		go func() { _ = s.native.Serve(gln) }() // ends with GracefulStop in Close
	}
	if s.notify != nil {
		s.notify.start()
	}
	s.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	attrs := []any{"addr", ln.Addr().String()}
	if s.grpcLn != nil {
		attrs = append(attrs, "grpc_addr", s.grpcLn.Addr().String())
	}
	s.log.Info("serving", append(attrs, "db", redactDB(s.cfg.DB))...)
	go func() {
		err := s.http.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		s.served <- err
	}()
	return nil
}

// listen opens a TCP listener on addr, with TLS (offering protos) when the
// configuration names certificate files.
func (s *Server) listen(addr string, protos []string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	if s.cfg.TLSCertFile != "" {
		cert, err := tls.LoadX509KeyPair(s.cfg.TLSCertFile, s.cfg.TLSKeyFile)
		if err != nil {
			ln.Close()
			return nil, fmt.Errorf("tls: %w", err)
		}
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: protos, MinVersion: tls.VersionTLS12})
	}
	return ln, nil
}

// GRPCAddr returns the address of the native gRPC listener (after Start),
// or "" when Config.GRPCAddr is not set.
func (s *Server) GRPCAddr() string {
	if s.grpcLn == nil {
		return ""
	}
	return s.grpcLn.Addr().String()
}

// Addr returns the address the server listens on (after Start).
func (s *Server) Addr() string {
	if s.listener == nil {
		return ""
	}
	return s.listener.Addr().String()
}

// AdminTokenFile is where the first start wrote the admin's token.
func (s *Server) AdminTokenFile() string { return s.patFile }

// Bootstrap reports what the start found or created.
func (s *Server) Bootstrap() mfa.BootstrapResult { return s.boot }

// Core exposes the domain core (for tests and tools in this module).
func (s *Server) Core() *mfa.Service { return s.core }

// Store exposes the event store (for tests and tools in this module).
func (s *Server) Store() eventstore.Store { return s.store }

// Wait blocks until the server stops serving.
func (s *Server) Wait() error { return <-s.served }

// Close shuts down gracefully: stop accepting, finish in-flight requests
// (bounded by ShutdownTimeout), then close the store.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		var errs []error
		if s.health != nil {
			s.health.Shutdown()
		}
		if s.endStreams != nil {
			s.endStreams()
		}
		if s.http != nil && s.listener != nil {
			ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
			if err := s.http.Shutdown(ctx); err != nil {
				errs = append(errs, err)
				_ = s.http.Close()
			}
			cancel()
		}
		if s.native != nil {
			// A stream that does not watch its context (reflection) would
			// hold GracefulStop for ever: after the timeout, stop hard.
			stopped := make(chan struct{})
			go func() { s.native.GracefulStop(); close(stopped) }()
			select {
			case <-stopped:
			case <-time.After(s.cfg.ShutdownTimeout):
				s.native.Stop()
				<-stopped
			}
		}
		if s.grpc != nil {
			s.grpc.GracefulStop()
		}
		if s.notify != nil {
			s.notify.close()
		}
		if s.store != nil {
			errs = append(errs, s.store.Close())
		}
		s.closeErr = errors.Join(errs...)
		if s.logLines != nil {
			s.logLines.Close()
		}
	})
	return s.closeErr
}

// redactDB is the database setting fit for a log line: no user info
// (user and password) and no password parameter, both of which pgx reads
// from a URL. A setting that is not a URL shows its scheme at most.
func redactDB(db string) string {
	if strings.HasPrefix(db, "sqlite://") { // a file name
		return db
	}
	u, err := url.Parse(db)
	if err != nil || u.Scheme == "" || u.Opaque != "" || (u.User == nil && strings.Contains(db, "@")) {
		// (The last: an @ that the URL parser did not take for the end of
		// user info, which pgx may, as in postgres://u:12/34@host/db.)
		if scheme, _, ok := strings.Cut(db, "://"); ok && !strings.ContainsAny(scheme, " =@") {
			return scheme + "://…"
		}
		return "…"
	}
	q := u.Query()
	for k := range q {
		if strings.Contains(strings.ToLower(k), "password") {
			q.Set(k, "redacted")
		}
	}
	u.RawQuery = q.Encode()
	if u.User == nil {
		return u.String()
	}
	u.User = nil
	scheme, rest, _ := strings.Cut(u.String(), "://")
	return scheme + "://…@" + rest
}

// storeCollectors are the store's group commit counters, for the stores
// that commit in groups: transactions, and the appends they carried.
//
// A store that groups its document reads (SQLite) adds their counters:
// read transactions, and the reads they served.
func storeCollectors(st eventstore.Store) []prometheus.Collector {
	var out []prometheus.Collector
	pair := func(stats func() (int64, int64), name1, help1, name2, help2 string) {
		out = append(out,
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name1, Help: help1},
				func() float64 { n, _ := stats(); return float64(n) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name2, Help: help2},
				func() float64 { _, n := stats(); return float64(n) }))
	}
	if g, ok := st.(interface {
		GroupStats() (groups, batches int64)
	}); ok {
		pair(g.GroupStats,
			"factorgate_store_group_commits_total", "Transactions the store's group commit wrote.",
			"factorgate_store_group_commit_appends_total", "Appends (one per command) those transactions carried; appends over commits is the mean group size.")
	}
	if r, ok := st.(interface {
		ReadStats() (transactions, reads int64)
	}); ok {
		pair(r.ReadStats,
			"factorgate_store_read_transactions_total", "Read transactions of the store's document reads; reads that queue for the reading connection share one.",
			"factorgate_store_reads_total", "Document reads (each of one or several documents) those transactions served.")
	}
	return out
}
