package druid

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/factorgate/factorgate/server/api"
	"github.com/factorgate/factorgate/server/mfa"
)

// mfaRuleErrors are DruID's "MFA errors" (417): on delete, the channel is
// mandatory (FailedPrecondition) or the user does not have it (the kind's
// NotFound); on create, the phone or email is not verified
// (FailedPrecondition) or the channel exists (AlreadyExists).
var mfaRuleErrors = map[string]bool{
	mfa.ErrMandatoryFactor.ID:     true,
	mfa.ErrTOTPNotExisting.ID:     true,
	mfa.ErrOTPSMSNotExisting.ID:   true,
	mfa.ErrOTPEmailNotExisting.ID: true,
	mfa.ErrPhoneNotVerified.ID:    true,
	mfa.ErrEmailNotVerified.ID:    true,
	mfa.ErrOTPSMSExists.ID:        true,
	mfa.ErrOTPEmailExists.ID:      true,
}

// statusFor is the HTTP status of an error in DruID's contract: the
// gateway's table, except that the MFA rule's answers are 417 "MFA error".
func statusFor(code codes.Code, id string) int {
	if id == mfa.ErrStepUpRequired.ID {
		return http.StatusUnauthorized // sign in again: a token, not the request, is what is wrong
	}
	if mfaRuleErrors[id] && (code == codes.FailedPrecondition || code == codes.NotFound || code == codes.AlreadyExists) {
		return http.StatusExpectationFailed
	}
	return runtime.HTTPStatusFromCode(code)
}

// errorHandler writes every error of the DruID mux (the chain's
// Unauthenticated, a body the gateway cannot decode, the handler's and the
// core's errors) as DruID's envelope, in the caller's language where the
// message has a translation.
func errorHandler(ctx context.Context, _ *runtime.ServeMux, _ runtime.Marshaler, w http.ResponseWriter, r *http.Request, err error) {
	if md, ok := runtime.ServerMetadataFromContext(ctx); ok {
		api.SetRequestIDHeader(w, md.HeaderMD) // as a success answer carries it
	}
	st := status.Convert(err)
	api.RetryAfterFrom(w, st)
	id, extra := errorID(st), ""
	switch {
	case id == mfa.ErrStepUpRequired.ID:
		// RFC 9470's step-up challenge: the sign-in is too old.
		w.Header().Set("WWW-Authenticate", `Bearer realm="factorgate", error="insufficient_user_authentication", error_description="a recent sign-in is required"`)
	case st.Code() == codes.Unauthenticated:
		w.Header().Set("WWW-Authenticate", `Bearer realm="factorgate"`)
	}
	code := statusFor(st.Code(), id)
	switch {
	case id == "" && st.Code() == codes.Unauthenticated:
		id = errNoToken // the chain's "auth header missing" has no id
	case id == "" && st.Code() == codes.InvalidArgument:
		id, extra = errBody, st.Message() // the gateway could not decode the body
	}
	writeEnvelope(w, code, languageOf(r.Header.Get("Accept-Language")), id, st.Message(), extra)
}

// refuse writes the server's refusals (body too large, a path that is not
// UTF-8) in DruID's result envelope.
func refuse(w http.ResponseWriter, _ *http.Request, status int, _ codes.Code, msg string) {
	body, _ := json.Marshal(errorEnvelope{Result: errorResult{Status: status, Message: msg,
		Errors: []resultError{{Message: http.StatusText(status), Details: msg}}}})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// routingErrorHandler answers an unknown path (404) or a method other than
// POST (405) in the envelope as well.
func routingErrorHandler(_ context.Context, _ *runtime.ServeMux, _ runtime.Marshaler, w http.ResponseWriter, r *http.Request, httpStatus int) {
	id := errNoRoute
	if httpStatus == http.StatusMethodNotAllowed {
		w.Header().Set("Allow", http.MethodPost)
		id = errMethod
	} else {
		httpStatus = http.StatusNotFound
	}
	writeEnvelope(w, httpStatus, languageOf(r.Header.Get("Accept-Language")), id, "", "")
}

// errorID returns the stable id of the domain error behind a status: from
// its detail (a message with an "id" field, such as zitadel.v1.ErrorDetail,
// which the chain attaches), else from the "(ID)" that ends the message.
func errorID(st *status.Status) string {
	for _, d := range st.Details() {
		m, ok := d.(proto.Message)
		if !ok {
			continue
		}
		r := m.ProtoReflect()
		if fd := r.Descriptor().Fields().ByName("id"); fd != nil && fd.Kind() == protoreflect.StringKind {
			if id := r.Get(fd).String(); id != "" {
				return id
			}
		}
	}
	msg := st.Message()
	if strings.HasSuffix(msg, ")") {
		if i := strings.LastIndex(msg, " ("); i >= 0 {
			return msg[i+2 : len(msg)-1]
		}
	}
	return ""
}

// writeEnvelope writes {"result":{"status","message","errors":[{message,
// details}]}}: both readings of DruID's undocumented error body
// (reference/druid.md §7). The message is the catalogue's text for id in
// lang; without one, fallback (the core's English message), else the
// generic text of the status. extra, when set, ends the details.
//
// It is written with encoding/json rather than protojson, whose output
// varies its spacing on purpose: error bodies stay byte-stable.
func writeEnvelope(w http.ResponseWriter, httpStatus int, lang, id, fallback, extra string) {
	title := text(lang, titleOf(httpStatus))
	msg, ok := lookup(lang, id)
	switch {
	case ok:
	case fallback != "" && (lang == langEnglish || httpStatus >= 500):
		msg = fallback
	default:
		msg = title
	}
	details := msg
	if id != "" && !strings.HasSuffix(details, "("+id+")") {
		details += " (" + id + ")"
	}
	if extra != "" {
		details += ": " + extra
	}
	body, _ := json.Marshal(errorEnvelope{Result: errorResult{Status: httpStatus, Message: msg,
		Errors: []resultError{{Message: title, Details: details}}}})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Language", lang)
	w.WriteHeader(httpStatus)
	_, _ = w.Write(body)
}

// errorEnvelope is druidv1.DeleteMFAChannelResponse's JSON with errors.
type errorEnvelope struct {
	Result errorResult `json:"result"`
}

type errorResult struct {
	Status  int           `json:"status"`
	Message string        `json:"message"`
	Errors  []resultError `json:"errors"`
}

type resultError struct {
	Message string `json:"message"`
	Details string `json:"details"`
}

// titleOf names the kind of error of a status for errors[].message.
func titleOf(httpStatus int) string {
	switch httpStatus {
	case http.StatusBadRequest:
		return titleBadRequest
	case http.StatusUnauthorized:
		return titleUnauthorized
	case http.StatusNotFound, http.StatusMethodNotAllowed:
		return titleNoRoute
	case http.StatusExpectationFailed:
		return titleMFA
	}
	if httpStatus >= 500 {
		return titleServer
	}
	return titleBadRequest
}

// domainError builds the handler's errors with DruID ids (they are
// translated by id in the error handler).
func domainError(kind mfa.Kind, id string) *mfa.Error {
	return &mfa.Error{Kind: kind, ID: id, Key: id, Message: catalogue[id][langEnglish]}
}
