package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	mgmt "github.com/factorgate/factorgate/gen/zitadel/management"
	userv2 "github.com/factorgate/factorgate/gen/zitadel/user/v2"
)

// target is one server under load: factorgate or the baseline.
type target struct {
	name string
	base string // http://host:port
	pid  int
	conn *grpc.ClientConn // gRPC on the one port (grpc.Server.ServeHTTP)
	// native is gRPC on the dedicated port (grpc-go's own transport).
	native *grpc.ClientConn
	token  string // the admin's personal access token (ZITADEL calls)
	org    string
	// oneLogin is an access token of a "Manage users" OneLogin API
	// credential of org (OneLogin calls).
	oneLogin string
}

func dial(addr string) (*grpc.ClientConn, error) {
	return grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
}

// work is one unit a request consumes: a user and, for keys, a factor.
type work struct{ user, factor string }

// pool hands out work without replacement (removals) or round-robin
// (reads). take reports false when a removal pool is empty.
type pool struct {
	items  []work
	next   atomic.Int64
	cyclic bool
	// seed makes at least n more items of fresh people (a removal
	// pool; see topUp).
	seed func(ctx context.Context, n int) ([]work, error)
}

func (p *pool) take() (work, bool) {
	i := p.next.Add(1) - 1
	if p.cyclic {
		return p.items[int(i)%len(p.items)], true
	}
	if int(i) >= len(p.items) {
		return work{}, false
	}
	return p.items[i], true
}

// remaining is how many items take has not handed out yet (a removal
// pool).
func (p *pool) remaining() int { return max(0, len(p.items)-int(p.next.Load())) }

// refill puts more behind the items not handed out yet; only while no
// one takes. The items are copied: a baseline pool may share the old ones.
func (p *pool) refill(more []work) {
	n := min(int(p.next.Load()), len(p.items))
	p.items = append(slices.Clip(p.items[n:]), more...)
	p.next.Store(0)
}

// call performs one request against t.
type call func(ctx context.Context, t *target, w work) error

// op is one benchmarked operation.
type op struct {
	name      string // row label
	transport string
	call      call
	// pool gives the work of one row: a removal row's starts empty and
	// seeds what it removes as the row goes (topUp).
	pool func(ctx context.Context) (*pool, error)
}

func (t *target) ctx(ctx context.Context) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+t.token, "x-zitadel-orgid", t.org)
}

func grpcRemoveU2F(ctx context.Context, t *target, w work) error {
	_, err := mgmt.NewManagementServiceClient(t.native).RemoveHumanAuthFactorU2F(t.ctx(ctx),
		&mgmt.RemoveHumanAuthFactorU2FRequest{UserId: w.user, TokenId: w.factor})
	return err
}

func grpcRemoveTOTP(ctx context.Context, t *target, w work) error {
	_, err := userv2.NewUserServiceClient(t.native).RemoveTOTP(t.ctx(ctx), &userv2.RemoveTOTPRequest{UserId: w.user})
	return err
}

// onePortRemoveTOTP is grpcRemoveTOTP through the one port.
func onePortRemoveTOTP(ctx context.Context, t *target, w work) error {
	_, err := userv2.NewUserServiceClient(t.conn).RemoveTOTP(t.ctx(ctx), &userv2.RemoveTOTPRequest{UserId: w.user})
	return err
}

func grpcListFactors(ctx context.Context, t *target, w work) error {
	_, err := userv2.NewUserServiceClient(t.native).ListAuthenticationFactors(t.ctx(ctx), &userv2.ListAuthenticationFactorsRequest{UserId: w.user})
	return err
}

// httpClients keeps one HTTP/1.1 keep-alive client per concurrency level,
// with as many idle connections as workers.
var httpClients sync.Map

func httpClient(conc int) *http.Client {
	if c, ok := httpClients.Load(conc); ok {
		return c.(*http.Client)
	}
	c := &http.Client{Transport: &http.Transport{MaxIdleConns: conc * 2, MaxIdleConnsPerHost: conc * 2, IdleConnTimeout: time.Minute}}
	httpClients.Store(conc, c)
	return c
}

// restCall sends method path (with %s for the user and the factor) with
// the bearer token that auth picks.
func restCall(method, path string, auth func(*target) string) func(conc int) call {
	return func(conc int) call {
		client := httpClient(conc)
		return func(ctx context.Context, t *target, w work) error {
			req, err := http.NewRequestWithContext(ctx, method, t.base+fmt.Sprintf(path, w.user, w.factor), nil)
			if err != nil {
				return err
			}
			req.Header.Set("Authorization", "Bearer "+auth(t))
			res, err := client.Do(req)
			if err != nil {
				return err
			}
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode >= 300 {
				return fmt.Errorf("HTTP %d", res.StatusCode)
			}
			return nil
		}
	}
}

func grpcWebRemoveTOTP(conc int) call {
	client := httpClient(conc)
	var clients sync.Map // base URL → connect client
	return func(ctx context.Context, t *target, w work) error {
		c, ok := clients.Load(t.base)
		if !ok {
			c, _ = clients.LoadOrStore(t.base, connect.NewClient[userv2.RemoveTOTPRequest, userv2.RemoveTOTPResponse](client,
				t.base+"/zitadel.user.v2.UserService/RemoveTOTP", connect.WithGRPCWeb()))
		}
		req := connect.NewRequest(&userv2.RemoveTOTPRequest{UserId: w.user})
		req.Header().Set("Authorization", "Bearer "+t.token)
		_, err := c.(*connect.Client[userv2.RemoveTOTPRequest, userv2.RemoveTOTPResponse]).CallUnary(ctx, req)
		return err
	}
}

// result is one row's measurement against one target.
type result struct {
	Requests   int64         `json:"requests"`
	Errors     int64         `json:"errors"`
	FirstError string        `json:"first_error,omitempty"`
	Elapsed    time.Duration `json:"elapsed_ns"`
	RPS        float64       `json:"rps"`
	P50        time.Duration `json:"p50_ns"`
	P99        time.Duration `json:"p99_ns"`
	CPUPerReq  time.Duration `json:"server_cpu_per_request_ns"`
	// Exhausted: the row's people ran out within at least one slice, so
	// Elapsed is short of the row's duration.
	Exhausted bool `json:"pool_exhausted,omitempty"`
	// AppendsPerCommit is the store's mean group size over the row (from
	// factorgate's /metrics; 0 for the baseline, and for rows that wrote
	// nothing).
	AppendsPerCommit float64 `json:"appends_per_commit,omitempty"`
	// ReadsPerTransaction is the mean number of document reads that one
	// read transaction of the store served over the row (SQLite: reads that
	// wait for a connection share one; 0 where the store has no such
	// counter).
	ReadsPerTransaction float64 `json:"reads_per_transaction,omitempty"`
}

// part is what one stretch of load against one target measured: a row is
// one or more of them (slices, see interleave), summed by summarize.
type part struct {
	lat       []time.Duration
	errs      int64
	first     string
	elapsed   time.Duration
	cpu       time.Duration // the target process's CPU time over the part
	exhausted bool
	// store is the growth of the store's counters over the part; nil when
	// the target has none.
	store counters
}

// drive runs conc workers calling fn for d (or until the pool runs dry)
// and measures the target process's CPU time over it. Requests carry no
// deadline (a gRPC deadline would end the last ones as errors): workers
// stop starting new ones after d, and the part ends when the last returns.
func drive(ctx context.Context, t *target, fn call, p *pool, conc int, d time.Duration) (part, error) {
	before, counted := storeCounters(t.base)
	cpu0, err := cpuTime(t.pid)
	if err != nil {
		return part{}, err
	}
	var (
		wg        sync.WaitGroup
		mu        sync.Mutex
		lat       []time.Duration
		errs      atomic.Int64
		first     atomic.Value
		exhausted atomic.Bool
	)
	start := time.Now()
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mine := make([]time.Duration, 0, 4096)
			for ctx.Err() == nil && time.Since(start) < d {
				w, ok := p.take()
				if !ok {
					exhausted.Store(true)
					break
				}
				t0 := time.Now()
				err := fn(ctx, t, w)
				mine = append(mine, time.Since(t0))
				if err != nil {
					if errs.Add(1) == 1 {
						first.Store(err.Error())
					}
				}
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpu1, err := cpuTime(t.pid)
	if err != nil {
		return part{}, err
	}
	pt := part{lat: lat, errs: errs.Load(), elapsed: elapsed, cpu: cpu1 - cpu0, exhausted: exhausted.Load()}
	if s, ok := first.Load().(string); ok {
		pt.first = s
	}
	if after, ok := storeCounters(t.base); counted && ok {
		pt.store = counters{}
		for name, v := range after {
			pt.store[name] = v - before[name]
		}
	}
	return pt, nil
}

// expected is how many requests a part of length d would make at this
// part's rate, with half as many again to spare: a short slice's rate
// moves by more than a quarter from one slice to the next.
func (pt part) expected(d time.Duration) int {
	if pt.elapsed <= 0 {
		return 0
	}
	return int(float64(len(pt.lat)) * d.Seconds() / pt.elapsed.Seconds() * 1.5)
}

// summarize adds up the parts of a row against one target: requests,
// errors, time and CPU are sums, the percentiles are those of every
// request of every part, and the store's ratios are those of the summed
// counters.
func summarize(parts []part) result {
	var (
		r     result
		lat   []time.Duration
		cpu   time.Duration
		store counters
	)
	for _, pt := range parts {
		lat = append(lat, pt.lat...)
		r.Errors += pt.errs
		if r.FirstError == "" {
			r.FirstError = pt.first
		}
		r.Elapsed += pt.elapsed
		cpu += pt.cpu
		r.Exhausted = r.Exhausted || pt.exhausted
		if pt.store != nil {
			if store == nil {
				store = counters{}
			}
			for name, v := range pt.store {
				store[name] += v
			}
		}
	}
	slices.Sort(lat)
	r.Requests = int64(len(lat))
	if len(lat) > 0 {
		r.RPS = float64(len(lat)) / r.Elapsed.Seconds()
		r.P50 = lat[len(lat)*50/100]
		r.P99 = lat[min(len(lat)-1, len(lat)*99/100)]
		r.CPUPerReq = cpu / time.Duration(len(lat))
	}
	if store != nil {
		r.AppendsPerCommit = store.ratio("factorgate_store_group_commit_appends_total", "factorgate_store_group_commits_total")
		r.ReadsPerTransaction = store.ratio("factorgate_store_reads_total", "factorgate_store_read_transactions_total")
	}
	return r
}

// counters are the store's counters on a server's /metrics, by name.
type counters map[string]float64

// ratio returns num over den; 0 when den is not above 0 (c holds the
// growth of the counters over a stretch of load).
func (c counters) ratio(num, den string) float64 {
	if c[den] <= 0 {
		return 0
	}
	return c[num] / c[den]
}

// storeCounters reads the store's counters (factorgate_store_*) from a
// server's /metrics (scraped outside the CPU measurement); ok is false when
// the server has none.
func storeCounters(base string) (counters, bool) {
	res, err := http.Get(base + "/metrics")
	if err != nil {
		return nil, false
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, false
	}
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, false
	}
	out := counters{}
	for _, line := range strings.Split(string(raw), "\n") {
		name, v, _ := strings.Cut(line, " ")
		if n, err := strconv.ParseFloat(v, 64); err == nil && strings.HasPrefix(name, "factorgate_store_") {
			out[name] = n
		}
	}
	return out, len(out) > 0
}
