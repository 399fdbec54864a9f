package server

import (
	"os"
	"runtime/debug"

	"google.golang.org/grpc"
)

// DefaultGCPercent is the garbage collector's target that `factorgate
// serve` sets when GOGC is not in the environment. factorgate's live heap
// is small (tens of MiB even with a million factors), so at Go's default of
// 100 the collector runs very often and takes a large share of the CPU a
// request costs; at 400 the heap may grow to five times the live heap
// before a cycle, and a removal costs about a quarter less CPU (bench/HISTORY.md,
// second session).
const DefaultGCPercent = 400

// TuneGC applies DefaultGCPercent unless GOGC is set, which always wins.
func TuneGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(DefaultGCPercent)
	}
}

// StreamWorkers is the number of long-lived goroutines each grpc.Server
// hands its calls to (grpc.NumStreamWorkers), instead of starting a
// goroutine for each call: the native listener's, and the one port's
// (gRPC through ServeHTTP, gRPC-Web and Connect through vanguard). A
// call's goroutine needs a deep stack (SQLite's virtual machine), and a
// new goroutine starts small: growing it, copying the stack on the way,
// cost about a tenth of a removal's CPU. A worker keeps its grown stack
// from one call to the next (grpc-go restarts each worker after 65,536
// calls, and the collector shrinks idle stacks). A call that finds every
// worker busy gets a goroutine of its own, as without workers; the
// workers' count is set well above the concurrency a node serves on its
// cores.
const StreamWorkers = 256

// GRPCServerOptions are the transport options of every grpc.Server
// factorgate serves with (and the bench baseline, so that both run alike).
func GRPCServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{grpc.NumStreamWorkers(StreamWorkers)}
}
