package onelogin

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/factorgate/factorgate/server/api"
	"github.com/factorgate/factorgate/server/mfa"
)

// OneLogin's messages for what the handlers tell apart. Handlers answer
// with these gRPC statuses (the code says what happened, the message is
// OneLogin's text); the error handler below picks the HTTP status and
// envelope per API version.
const (
	msgFactorNotFound = "Factor could not be found"
	msgUserNotExist   = "User does not exist"
	msgNotFound       = "The resource can't be found or the server has not found anything matching the Request-URI"
)

func errFactorNotFound() error { return status.Error(codes.NotFound, msgFactorNotFound) }

// errUserNotFound is v1's 404 for a user that does not exist or belongs to
// another organization (the two look the same).
func errUserNotFound(userID string) error {
	return status.Error(codes.NotFound, "User for id "+userID+" was not found")
}

func errBadRequest(msg string) error { return status.Error(codes.InvalidArgument, msg) }

// maxDisplayName is the longest display_name an enrollment takes, in
// characters (OneLogin documents the field as required and gives no
// limit; this one keeps an answer, which echoes the name, bounded).
const maxDisplayName = 255

// validDisplayName reports whether an enrollment's display_name is given
// and not too long.
func validDisplayName(name string) bool {
	return strings.TrimSpace(name) != "" && utf8.RuneCountInString(name) <= maxDisplayName
}

// errUnprocessable is a request OneLogin understands but factorgate cannot
// carry out as asked (v2: 422).
func errUnprocessable(msg string) error { return status.Error(codes.FailedPrecondition, msg) }

// v1Error is the v1 envelope: {"status":{"error":true,"code":…,"type":…,"message":…}}.
type v1Error struct {
	Status v1Status `json:"status"`
}

type v1Status struct {
	Error   bool   `json:"error"`
	Code    int    `json:"code"`
	Type    string `json:"type"`
	Message string `json:"message"`
}

// v2Error is v2's flat error: {"statusCode":…,"name":…,"message":…}.
type v2Error struct {
	StatusCode int    `json:"statusCode"`
	Name       string `json:"name"`
	Message    string `json:"message"`
}

// errorHandler writes OneLogin's error for a failed call. This is where
// the contract departs from the gateway's gRPC→HTTP table:
//
//	v1 Unauthenticated    401 Unauthorized  "Authentication Failure"
//	v1 PermissionDenied   401 Unauthorized  "Insufficient Permission" (wrong scope)
//	v1 NotFound (factor)  400 bad request   "Factor could not be found"
//	v1 NotFound (user)    404 not found     "User for id N was not found"
//	v1 bad input          400 bad request   <message>
//	v2 Unauthenticated    401 UnauthorizedError "This request requires Authentication"
//	v2 PermissionDenied   403 ForbiddenError    "Insufficient Permission" (unverified: not 401,
//	                      which makes OneLogin's Go SDK fetch a new token from onelogin.com)
//	v2 NotFound           404 NotFoundError     (OneLogin's text)
//	v2 InvalidArgument    400 BadRequestError, FailedPrecondition/AlreadyExists 422 UnprocessableEntityError
//
// Anything else is a 500 with a generic message (the cause is logged by
// the interceptor chain, never shown).
func errorHandler(version int) runtime.ErrorHandlerFunc {
	return func(ctx context.Context, _ *runtime.ServeMux, _ runtime.Marshaler, w http.ResponseWriter, _ *http.Request, err error) {
		if md, ok := runtime.ServerMetadataFromContext(ctx); ok {
			api.SetRequestIDHeader(w, md.HeaderMD) // as a success answer carries it
		}
		st := status.Convert(err)
		api.RetryAfterFrom(w, st)
		if st.Code() == codes.NotFound && strings.HasSuffix(st.Message(), "("+mfa.ErrNoMembership.ID+")") {
			// The chain's "no role in that organization" is a permission
			// problem to a OneLogin client.
			st = status.New(codes.PermissionDenied, "Insufficient Permission")
		}
		if version == 1 {
			code, typ, msg := v1Answer(st)
			writeJSON(w, code, v1Error{Status: v1Status{Error: true, Code: code, Type: typ, Message: msg}})
			return
		}
		code, name, msg := v2Answer(st)
		writeJSON(w, code, v2Error{StatusCode: code, Name: name, Message: msg})
	}
}

func v1Answer(st *status.Status) (int, string, string) {
	switch st.Code() {
	case codes.Unauthenticated:
		return http.StatusUnauthorized, "Unauthorized", "Authentication Failure"
	case codes.PermissionDenied:
		return http.StatusUnauthorized, "Unauthorized", "Insufficient Permission"
	case codes.NotFound:
		if st.Message() == msgFactorNotFound {
			return http.StatusBadRequest, "bad request", msgFactorNotFound
		}
		return http.StatusNotFound, "not found", st.Message()
	case codes.InvalidArgument, codes.FailedPrecondition, codes.AlreadyExists, codes.OutOfRange:
		return http.StatusBadRequest, "bad request", st.Message()
	case codes.Unavailable, codes.Canceled, codes.DeadlineExceeded:
		return http.StatusServiceUnavailable, "service unavailable", "Service Unavailable"
	case codes.ResourceExhausted:
		return http.StatusTooManyRequests, "Too Many Requests", st.Message()
	}
	return http.StatusInternalServerError, "internal server error", "Internal Server Error"
}

func v2Answer(st *status.Status) (int, string, string) {
	switch st.Code() {
	case codes.Unauthenticated:
		return http.StatusUnauthorized, "UnauthorizedError", "This request requires Authentication"
	case codes.PermissionDenied:
		return http.StatusForbidden, "ForbiddenError", "Insufficient Permission"
	case codes.NotFound:
		return http.StatusNotFound, "NotFoundError", msgNotFound
	case codes.InvalidArgument, codes.OutOfRange:
		return http.StatusBadRequest, "BadRequestError", st.Message()
	case codes.FailedPrecondition, codes.AlreadyExists:
		return http.StatusUnprocessableEntity, "UnprocessableEntityError", st.Message()
	case codes.Unavailable, codes.Canceled, codes.DeadlineExceeded:
		return http.StatusServiceUnavailable, "ServiceUnavailableError", "Service Unavailable"
	case codes.ResourceExhausted:
		return http.StatusTooManyRequests, "TooManyRequestsError", st.Message()
	}
	return http.StatusInternalServerError, "InternalServerError", "Internal Server Error"
}

// routingErrorHandler answers a path or method the API does not have as
// OneLogin does: v1 404 "No Route Exists", v2 404 NotFoundError.
func routingErrorHandler(version int) runtime.RoutingErrorHandlerFunc {
	return func(_ context.Context, _ *runtime.ServeMux, _ runtime.Marshaler, w http.ResponseWriter, _ *http.Request, _ int) {
		if version == 1 {
			writeJSON(w, http.StatusNotFound, v1Error{Status: v1Status{Error: true, Code: http.StatusNotFound, Type: "Not Found", Message: "No Route Exists"}})
			return
		}
		writeJSON(w, http.StatusNotFound, v2Error{StatusCode: http.StatusNotFound, Name: "NotFoundError", Message: msgNotFound})
	}
}

// The server's refusals (body too large, too many token requests, a path
// that is not UTF-8), in each API's error shape, typed by the HTTP status.

func refuseV1(w http.ResponseWriter, _ *http.Request, status int, _ codes.Code, msg string) {
	v1Fail(w, status, refusalType(status), msg)
}

// refusalType is the type of a refusal in the v1 and flat bodies: "bad
// request" for a 400, as every other 400 of the API spells it, and the
// status text otherwise.
func refusalType(status int) string {
	if status == http.StatusBadRequest {
		return "bad request"
	}
	return http.StatusText(status)
}

func refuseV2(w http.ResponseWriter, _ *http.Request, status int, _ codes.Code, msg string) {
	writeJSON(w, status, v2Error{StatusCode: status, Name: strings.ReplaceAll(http.StatusText(status), " ", "") + "Error", Message: msg})
}

// refuseToken answers the token endpoints: the flat Error, or the v1
// envelope on v1's token endpoint.
func refuseToken(w http.ResponseWriter, r *http.Request, status int, _ codes.Code, msg string) {
	if r.URL.Path == "/auth/oauth2/token" {
		v1Fail(w, status, refusalType(status), msg)
		return
	}
	flatFail(w, status, refusalType(status), msg)
}

func writeJSON(w http.ResponseWriter, code int, body any) {
	data, err := jsonMarshal(body)
	if err != nil {
		code, data = http.StatusInternalServerError, []byte(`{}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	w.WriteHeader(code)
	_, _ = w.Write(data)
}

// coreError turns a core error the handler does not translate itself into
// the status the error handler maps: the kind decides, the text stays
// OneLogin-neutral (domain ids are for ZITADEL callers and logs).
func coreError(err error) error {
	e := mfa.AsError(err)
	switch e.Kind {
	case mfa.KindInternal:
		return err // the chain logs the cause and answers Internal
	case mfa.KindPermissionDenied:
		return status.Error(codes.PermissionDenied, "Insufficient Permission")
	}
	return err
}
