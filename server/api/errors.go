// Package api holds the transport plumbing every dialect shares: the one
// mapping from domain errors to gRPC statuses, the interceptor chain
// (recover, request id, log, metrics, authenticate, authorize, validate),
// and the Service interface dialects implement.
package api

import (
	"context"
	"errors"
	"log/slog"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/protoadapt"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/factorgate/factorgate/server/mfa"
)

// DetailFunc builds the status detail attached to a domain error (ZITADEL
// clients expect zitadel.v1.ErrorDetail{id, message}).
type DetailFunc func(id, message string) proto.Message

var kindCodes = map[mfa.Kind]codes.Code{
	mfa.KindInternal:           codes.Internal,
	mfa.KindInvalidArgument:    codes.InvalidArgument,
	mfa.KindNotFound:           codes.NotFound,
	mfa.KindAlreadyExists:      codes.AlreadyExists,
	mfa.KindFailedPrecondition: codes.FailedPrecondition,
	mfa.KindPermissionDenied:   codes.PermissionDenied,
	mfa.KindUnauthenticated:    codes.Unauthenticated,
	mfa.KindUnimplemented:      codes.Unimplemented,
	mfa.KindUnavailable:        codes.Unavailable,
	mfa.KindResourceExhausted:  codes.ResourceExhausted,
}

// Code returns the gRPC code of a domain error kind.
func Code(k mfa.Kind) codes.Code {
	if c, ok := kindCodes[k]; ok {
		return c
	}
	return codes.Internal
}

// ToStatus converts any error a handler returned into the gRPC status the
// client sees, and the level to log it at. It is the only place where
// domain errors become status codes. Internal causes are never shown.
func ToStatus(err error, detail DetailFunc) (*status.Status, slog.Level) {
	if err == nil {
		return status.New(codes.OK, ""), slog.LevelInfo
	}
	if st, ok := status.FromError(err); ok {
		return st, levelFor(st.Code())
	}
	if errors.Is(err, context.Canceled) {
		return status.New(codes.Canceled, "request canceled"), slog.LevelInfo
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return status.New(codes.DeadlineExceeded, "deadline exceeded"), slog.LevelWarn
	}
	e := mfa.AsError(err)
	code := Code(e.Kind)
	msg := e.Message
	if e.ID != "" {
		msg += " (" + e.ID + ")"
	}
	st := status.New(code, msg)
	var details []protoadapt.MessageV1
	if e.ID != "" && detail != nil {
		if d := detail(e.ID, e.Message); d != nil {
			details = append(details, protoadapt.MessageV1Of(d))
		}
	}
	if after, ok := mfa.RetryAfter(err); ok {
		// google.rpc.RetryInfo: when a rate-limited caller may try again.
		// The REST error handlers turn it into Retry-After (RetryAfterFrom).
		details = append(details, &errdetails.RetryInfo{RetryDelay: durationpb.New(after)})
	}
	if len(details) > 0 {
		if withDetails, derr := st.WithDetails(details...); derr == nil {
			st = withDetails
		}
	}
	return st, levelFor(code)
}

func levelFor(c codes.Code) slog.Level {
	switch c {
	case codes.OK, codes.NotFound, codes.InvalidArgument, codes.AlreadyExists, codes.FailedPrecondition, codes.Canceled:
		return slog.LevelInfo
	case codes.Unauthenticated, codes.PermissionDenied, codes.ResourceExhausted, codes.DeadlineExceeded, codes.Unimplemented:
		return slog.LevelWarn
	default:
		return slog.LevelError
	}
}
