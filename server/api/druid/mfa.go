package druid

import (
	"context"
	"strings"

	"google.golang.org/grpc/metadata"

	druidv1 "github.com/factorgate/factorgate/gen/factorgate/druid/v1"
	"github.com/factorgate/factorgate/server/mfa"
)

// channels maps DruID's MFA channel names (accepted in any letter case) to
// the factor kinds of the core. DruID's docs show only "sms"; "totp" for an
// authenticator app and "email" are factorgate's names (reference/druid.md
// §5, §10).
var channels = map[string]mfa.FactorKind{
	"sms":   mfa.FactorOTPSMS,
	"email": mfa.FactorOTPEmail,
	"totp":  mfa.FactorTOTP,
}

// sourceIDs are DruID's device types.
var sourceIDs = map[string]bool{"unknown": true, "pc": true, "mobile": true, "tablet": true, "game_console": true, "itv": true}

type mfaServer struct {
	druidv1.UnimplementedMFAServiceServer
	core *mfa.Service
}

// DeleteMFAChannel removes one of the caller's own voluntary channels.
func (s *mfaServer) DeleteMFAChannel(ctx context.Context, req *druidv1.DeleteMFAChannelRequest) (*druidv1.DeleteMFAChannelResponse, error) {
	p := mfa.PrincipalFrom(ctx)
	if p == nil || p.Machine {
		return nil, mfa.ErrNotAPerson
	}
	kind, err := checkDelete(req)
	if err != nil {
		return nil, err
	}
	if req.GetActor().GetId() != p.UserID {
		return nil, domainError(mfa.KindUnauthenticated, errActor)
	}
	if _, err := s.core.RemoveOwnVoluntaryFactor(ctx, kind); err != nil {
		return nil, err
	}
	return &druidv1.DeleteMFAChannelResponse{Result: &druidv1.Result{
		Status: 200, Message: text(incomingLanguage(ctx), msgDeleted),
	}}, nil
}

// checkDelete checks the activity's fields in the order DruID's docs list
// them and returns the channel's factor kind; a bad field is a 400 that
// names it.
func checkDelete(req *druidv1.DeleteMFAChannelRequest) (mfa.FactorKind, error) {
	bad := func(id string) (mfa.FactorKind, error) { return "", domainError(mfa.KindInvalidArgument, id) }
	switch {
	case strings.TrimSpace(req.GetActor().GetId()) == "":
		return bad(errActorID)
	case req.GetActor().GetObjectType() != "person":
		return bad(errActorObjectType)
	case req.GetVerb() != "delete":
		return bad(errVerb)
	case req.GetObject().GetObjectType() != "user":
		return bad(errObjectObjectType)
	case !sourceIDs[req.GetSource().GetId()]:
		return bad(errSourceID)
	case req.GetSource().GetObjectType() != "device":
		return bad(errSourceObjectType)
	}
	kind, ok := channels[strings.ToLower(strings.TrimSpace(req.GetContext().GetMfaChannel()))]
	if !ok {
		return bad(errChannel)
	}
	return kind, nil
}

// incomingLanguage is the caller's language: Accept-Language as the
// gateway forwards it, or as a gRPC caller sends it.
func incomingLanguage(ctx context.Context) string {
	md, _ := metadata.FromIncomingContext(ctx)
	for _, k := range []string{"grpcgateway-accept-language", "accept-language"} {
		if v := md.Get(k); len(v) > 0 {
			return languageOf(v[0])
		}
	}
	return langEnglish
}

// CreateMFAChannel adds an SMS or email channel to a person for the
// calling application, which presents the person's username and password.
// actor.id names the application as its client knows it (DruID's client
// id); the token already proves which application calls, so it is
// required but not compared.
func (s *mfaServer) CreateMFAChannel(ctx context.Context, req *druidv1.CreateMFAChannelRequest) (*druidv1.CreateMFAChannelResponse, error) {
	p := mfa.PrincipalFrom(ctx)
	if p == nil || !p.Machine {
		return nil, mfa.ErrNotAnApplication
	}
	kind, err := checkCreate(req)
	if err != nil {
		return nil, err
	}
	obj, c := req.GetObject(), req.GetContext()
	if _, _, err := s.core.AddOTPWithPassword(ctx, obj.GetIds().GetScreenName().GetValue(), obj.GetPassword(), kind, c.GetMfaChannelAddress()); err != nil {
		return nil, err
	}
	return &druidv1.CreateMFAChannelResponse{Result: &druidv1.Result{
		Status: 200, Message: text(incomingLanguage(ctx), msgCreated),
	}}, nil
}

// checkCreate checks a create activity's fields, as checkDelete does.
func checkCreate(req *druidv1.CreateMFAChannelRequest) (mfa.FactorKind, error) {
	bad := func(id string) (mfa.FactorKind, error) { return "", domainError(mfa.KindInvalidArgument, id) }
	switch {
	case strings.TrimSpace(req.GetActor().GetId()) == "":
		return bad(errAppID)
	case req.GetActor().GetObjectType() != "application":
		return bad(errAppObjectType)
	case req.GetVerb() != "create":
		return bad(errVerbCreate)
	case req.GetObject().GetObjectType() != "user":
		return bad(errObjectObjectType)
	case strings.TrimSpace(req.GetObject().GetIds().GetScreenName().GetValue()) == "":
		return bad(errScreenName)
	case req.GetObject().GetPassword() == "":
		return bad(errPassword)
	case !sourceIDs[req.GetSource().GetId()]:
		return bad(errSourceID)
	case req.GetSource().GetObjectType() != "device":
		return bad(errSourceObjectType)
	}
	switch strings.ToLower(strings.TrimSpace(req.GetContext().GetMfaChannel())) {
	case "sms":
		return mfa.FactorOTPSMS, nil
	case "email":
		return mfa.FactorOTPEmail, nil
	case "totp":
		return bad(errCreateTOTP)
	}
	return bad(errCreateChannel)
}
