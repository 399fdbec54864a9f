package api

import (
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/factorgate/factorgate/server/mfa"
)

// RetryAfter sets the Retry-After header (whole seconds, rounded up) when
// err is one of the core's rate-limit refusals, and reports whether it was.
func RetryAfter(w http.ResponseWriter, err error) bool {
	d, ok := mfa.RetryAfter(err)
	if !ok {
		return false
	}
	SetRetryAfter(w, d)
	return true
}

// SetRetryAfter sets the Retry-After header to d in whole seconds (at
// least 1).
func SetRetryAfter(w http.ResponseWriter, d time.Duration) {
	w.Header().Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(d.Seconds())))))
}
