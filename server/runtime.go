package server

import (
	"os"
	"runtime/debug"
)

// DefaultGCPercent is the garbage collector's target that `factorgate
// serve` sets when GOGC is not in the environment. factorgate's live heap
// is small (tens of MiB even with a million factors), so at Go's default of
// 100 the collector runs very often and takes a large share of the CPU a
// request costs; at 400 the heap may grow to five times the live heap
// before a cycle, and a removal costs about a quarter less CPU (README,
// Performance).
const DefaultGCPercent = 400

// TuneGC applies DefaultGCPercent unless GOGC is set, which always wins.
func TuneGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(DefaultGCPercent)
	}
}
