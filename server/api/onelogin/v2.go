package onelogin

import (
	"context"
	"errors"
	"math"
	"strconv"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"

	oneloginv2 "github.com/factorgate/factorgate/gen/factorgate/onelogin/v2"
	"github.com/factorgate/factorgate/server/api"
	"github.com/factorgate/factorgate/server/mfa"
)

// v2Server is OneLogin's v2 MFA API.
type v2Server struct {
	oneloginv2.UnimplementedMFAServiceServer
	core *mfa.Service
}

func errNotFound() error { return status.Error(codes.NotFound, msgNotFound) }

// user returns the user's factors, or v2's 404 for a user that is
// malformed, missing or in another organization.
func (s *v2Server) user(ctx context.Context, rawID string) (string, []mfa.FactorView, error) {
	id, ok := parseID(rawID)
	if !ok {
		return "", nil, errNotFound()
	}
	fs, err := s.core.ListUserFactors(ctx, api.OrgID(ctx), id)
	if errors.Is(err, mfa.ErrUserNotFound) {
		return "", nil, errNotFound()
	}
	if err != nil {
		return "", nil, coreError(err)
	}
	return id, fs, nil
}

func (s *v2Server) GetAvailableFactors(ctx context.Context, req *oneloginv2.GetAvailableFactorsRequest) (*oneloginv2.GetAvailableFactorsResponse, error) {
	if _, _, err := s.user(ctx, req.GetUserId()); err != nil {
		return nil, err
	}
	out := &oneloginv2.GetAvailableFactorsResponse{Factors: []*oneloginv2.Factor{}}
	for _, t := range factorTypes {
		if t.kind != mfa.FactorU2F { // what v2 can enroll
			out.Factors = append(out.Factors, &oneloginv2.Factor{FactorId: t.factorID, Name: t.name, AuthFactorName: t.authFactorName})
		}
	}
	return out, nil
}

// GetEnrolledFactors lists the ready devices (a pending enrolment is a
// registration, not a device).
func (s *v2Server) GetEnrolledFactors(ctx context.Context, req *oneloginv2.GetEnrolledFactorsRequest) (*oneloginv2.GetEnrolledFactorsResponse, error) {
	_, fs, err := s.user(ctx, req.GetUserId())
	if err != nil {
		return nil, err
	}
	def := defaultDevice(fs)
	out := &oneloginv2.GetEnrolledFactorsResponse{Devices: []*oneloginv2.Device{}}
	for _, f := range fs {
		if f.State != mfa.FactorReady {
			continue
		}
		t := typeOfKind(f.Kind)
		name := t.name
		if f.Name != "" {
			name = f.Name
		}
		out.Devices = append(out.Devices, &oneloginv2.Device{DeviceId: f.ID, UserDisplayName: name, TypeDisplayName: t.name,
			AuthFactorName: t.authFactorName, Default: f.ID == def})
	}
	return out, nil
}

// RemoveFactor answers 204 (no body); a device that cannot be found, for
// whatever reason, 404 NotFoundError (unverified: the spec documents no
// error for this call).
func (s *v2Server) RemoveFactor(ctx context.Context, req *oneloginv2.RemoveFactorRequest) (*oneloginv2.RemoveFactorResponse, error) {
	userID, okUser := parseID(req.GetUserId())
	deviceID, okDevice := parseID(req.GetDeviceId())
	if !okUser || !okDevice {
		return nil, errNotFound()
	}
	if err := removeDevice(ctx, s.core, userID, deviceID); err != nil {
		if status.Code(err) == codes.NotFound {
			return nil, errNotFound()
		}
		return nil, err
	}
	return &oneloginv2.RemoveFactorResponse{}, nil
}

// CreateRegistration enrolls Authenticator (pending until
// VerifyRegistration; the answer carries the otpauth:// URI, a factorgate
// addition), or SMS or Email with verified=true for the person's verified
// phone or address (factorgate sends no codes, so verified=false is 422).
func (s *v2Server) CreateRegistration(ctx context.Context, req *oneloginv2.CreateRegistrationRequest) (*oneloginv2.CreateRegistrationResponse, error) {
	userID, _, err := s.user(ctx, req.GetUserId())
	if err != nil {
		return nil, err
	}
	t, ok := typeOfID(req.GetFactorId())
	if !ok || t.kind == mfa.FactorU2F {
		return nil, errUnprocessable(`invalid value in "factor_id"`)
	}
	if !validDisplayName(req.GetDisplayName()) {
		return nil, errUnprocessable(`invalid value in "display_name"`)
	}
	if e := req.GetExpiresIn(); e != "" {
		if n, err := strconv.Atoi(e); err != nil || n < 120 || n > 900 {
			return nil, errUnprocessable(`invalid value in "expires_in"`)
		}
	}
	org := api.OrgID(ctx)
	out := &oneloginv2.CreateRegistrationResponse{UserId: number(userID), UserDisplayName: t.name,
		TypeDisplayName: t.name, AuthFactorName: t.authFactorName}
	if req.GetDisplayName() != "" {
		out.UserDisplayName = req.GetDisplayName()
	}
	var deviceID string
	switch t.kind {
	case mfa.FactorTOTP:
		reg, _, err := s.core.RegisterTOTP(ctx, org, userID, mfa.Named(req.GetDisplayName()))
		if errors.Is(err, mfa.ErrTOTPAlreadyReady) {
			return nil, errUnprocessable("Factor is already enrolled")
		}
		if err != nil {
			return nil, coreError(err)
		}
		deviceID, out.Status = reg.ID, "pending"
		uri := reg.URI
		out.TotpUrl = &uri
	case mfa.FactorOTPSMS, mfa.FactorOTPEmail:
		if !req.GetVerified() {
			return nil, errUnprocessable("factorgate sends no SMS or email: register with verified=true")
		}
		add := s.core.AddOTPSMS
		if t.kind == mfa.FactorOTPEmail {
			add = s.core.AddOTPEmail
		}
		id, _, err := add(ctx, org, userID, mfa.Named(req.GetDisplayName()))
		switch {
		case errors.Is(err, mfa.ErrPhoneNotVerified):
			return nil, errUnprocessable("The user has no verified phone number")
		case errors.Is(err, mfa.ErrEmailNotVerified):
			return nil, errUnprocessable("The user has no verified email address")
		case errors.Is(err, mfa.ErrOTPSMSExists), errors.Is(err, mfa.ErrOTPEmailExists):
			return nil, errUnprocessable("Factor is already enrolled")
		case err != nil:
			return nil, coreError(err)
		}
		deviceID, out.Status = id, "accepted"
	}
	out.Id, out.DeviceId = registrationID(userID, deviceID), deviceID
	return out, nil
}

// VerifyRegistration completes a pending Authenticator registration with
// an OTP from the app.
func (s *v2Server) VerifyRegistration(ctx context.Context, req *oneloginv2.VerifyRegistrationRequest) (*oneloginv2.VerifyRegistrationResponse, error) {
	userID, fs, err := s.user(ctx, req.GetUserId())
	if err != nil {
		return nil, err
	}
	var pending *mfa.FactorView
	for i, f := range fs {
		if f.Kind == mfa.FactorTOTP && f.State == mfa.FactorNotReady && registrationID(userID, f.ID) == strings.ToLower(req.GetRegistrationId()) {
			pending = &fs[i]
		}
	}
	if pending == nil {
		return nil, errNotFound()
	}
	code, ok := otpCode(req)
	if !ok {
		return nil, errBadRequest(`invalid value in "otp"`)
	}
	_, err = s.core.VerifyTOTP(ctx, api.OrgID(ctx), userID, pending.ID, code)
	switch {
	case errors.Is(err, mfa.ErrInvalidCode):
		return nil, errUnprocessable("Invalid OTP")
	case mfa.KindOf(err) == mfa.KindNotFound:
		return nil, errNotFound()
	case err != nil:
		return nil, coreError(err)
	}
	return &oneloginv2.VerifyRegistrationResponse{Id: registrationID(userID, pending.ID), Status: "accepted", DeviceId: pending.ID}, nil
}

// otpCode reads otp, which clients send as a number (the spec) or a
// string. A number loses leading zeros; TOTP codes have six digits.
func otpCode(req *oneloginv2.VerifyRegistrationRequest) (string, bool) {
	switch k := req.GetOtp().GetKind().(type) {
	case *structpb.Value_StringValue:
		code := strings.TrimSpace(k.StringValue)
		return code, code != ""
	case *structpb.Value_NumberValue:
		n := k.NumberValue
		if n < 0 || n > 99999999 || n != math.Trunc(n) {
			return "", false
		}
		code := strconv.FormatInt(int64(n), 10)
		for len(code) < 6 {
			code = "0" + code
		}
		return code, true
	}
	return "", false
}
