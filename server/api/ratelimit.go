package api

import (
	"math"
	"net/http"
	"strconv"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/status"

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

// RetryAfterFrom sets the Retry-After header from the status's
// google.rpc.RetryInfo (ToStatus adds one to rate-limit refusals), and
// reports whether it had one. The dialects' REST error handlers call it.
func RetryAfterFrom(w http.ResponseWriter, st *status.Status) bool {
	for _, d := range st.Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok && ri.GetRetryDelay() != nil {
			SetRetryAfter(w, ri.GetRetryDelay().AsDuration())
			return true
		}
	}
	return false
}

// SetRetryAfter sets the Retry-After header to d in whole seconds (at
// least 1).
func SetRetryAfter(w http.ResponseWriter, d time.Duration) {
	w.Header().Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(d.Seconds())))))
}
