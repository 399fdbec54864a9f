package onelogin

import (
	"context"
	"errors"
	"strconv"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	oneloginv1 "github.com/factorgate/factorgate/gen/factorgate/onelogin/v1"
	"github.com/factorgate/factorgate/server/api"
	"github.com/factorgate/factorgate/server/mfa"
)

// v1Server is OneLogin's v1 MFA API.
type v1Server struct {
	oneloginv1.UnimplementedMFAServiceServer
	core *mfa.Service
}

func success() *oneloginv1.Status {
	return &oneloginv1.Status{Error: false, Code: 200, Type: "success", Message: "Success"}
}

// user returns the user's factors, or v1's 404 for a user that is
// malformed, missing or in another organization.
func (s *v1Server) user(ctx context.Context, rawID string) (string, []mfa.FactorView, error) {
	id, ok := parseID(rawID)
	if !ok {
		return "", nil, errUserNotFound(rawID)
	}
	fs, err := s.core.ListUserFactors(ctx, api.OrgID(ctx), id)
	if errors.Is(err, mfa.ErrUserNotFound) {
		return "", nil, errUserNotFound(rawID)
	}
	if err != nil {
		return "", nil, coreError(err)
	}
	return id, fs, nil
}

func (s *v1Server) GetAvailableFactors(ctx context.Context, req *oneloginv1.GetAvailableFactorsRequest) (*oneloginv1.GetAvailableFactorsResponse, error) {
	if _, _, err := s.user(ctx, req.GetUserId()); err != nil {
		return nil, err
	}
	data := &oneloginv1.GetAvailableFactorsResponse_Data{AuthFactors: []*oneloginv1.AuthFactor{}}
	for _, t := range factorTypes {
		if t.kind == mfa.FactorTOTP || t.kind == mfa.FactorOTPSMS { // what v1 can enroll
			data.AuthFactors = append(data.AuthFactors, &oneloginv1.AuthFactor{Name: t.authFactorName, FactorId: t.factorID})
		}
	}
	return &oneloginv1.GetAvailableFactorsResponse{Status: success(), Data: data}, nil
}

func (s *v1Server) GetEnrolledFactors(ctx context.Context, req *oneloginv1.GetEnrolledFactorsRequest) (*oneloginv1.GetEnrolledFactorsResponse, error) {
	_, fs, err := s.user(ctx, req.GetUserId())
	if err != nil {
		return nil, err
	}
	def := defaultDevice(fs)
	data := &oneloginv1.GetEnrolledFactorsResponse_Data{OtpDevices: []*oneloginv1.OtpDevice{}}
	for _, f := range fs {
		data.OtpDevices = append(data.OtpDevices, v1Device(f, f.ID == def, ""))
	}
	return &oneloginv1.GetEnrolledFactorsResponse{Status: success(), Data: data}, nil
}

func v1Device(f mfa.FactorView, isDefault bool, displayName string) *oneloginv1.OtpDevice {
	t := typeOfKind(f.Kind)
	d := &oneloginv1.OtpDevice{Id: number(f.ID), Active: f.State == mfa.FactorReady, Default: isDefault,
		AuthFactorName: t.authFactorName, TypeDisplayName: t.name, UserDisplayName: t.name, NeedsTrigger: t.needsTrigger}
	if f.Name != "" {
		d.UserDisplayName = f.Name
	}
	if displayName != "" {
		d.UserDisplayName = displayName
	}
	if f.Kind == mfa.FactorOTPSMS {
		phone := f.Contact
		d.PhoneNumber = &phone
	}
	return d
}

// EnrollFactor enrolls Google Authenticator (pending until VerifyFactor
// with a code from the app; the answer carries the otpauth:// URI, a
// factorgate addition) or OneLogin SMS. factorgate sends no SMS, so SMS
// needs verified=true: the administrator vouches for the number, which
// becomes the person's verified phone, and the device is active at once.
func (s *v1Server) EnrollFactor(ctx context.Context, req *oneloginv1.EnrollFactorRequest) (*oneloginv1.EnrollFactorResponse, error) {
	userID, _, err := s.user(ctx, req.GetUserId())
	if err != nil {
		return nil, err
	}
	t, ok := typeOfID(req.GetFactorId())
	if !ok {
		return nil, errBadRequest("Invalid factor_id")
	}
	if !validDisplayName(req.GetDisplayName()) {
		return nil, errBadRequest("display_name is required, at most " + strconv.Itoa(maxDisplayName) + " characters")
	}
	org := api.OrgID(ctx)
	var dev *oneloginv1.OtpDevice
	switch t.kind {
	case mfa.FactorTOTP:
		reg, _, err := s.core.RegisterTOTP(ctx, org, userID, mfa.Named(req.GetDisplayName()))
		if errors.Is(err, mfa.ErrTOTPAlreadyReady) {
			return nil, errBadRequest("Factor is already enrolled")
		}
		if err != nil {
			return nil, coreError(err)
		}
		dev = v1Device(mfa.FactorView{Kind: mfa.FactorTOTP, ID: reg.ID, State: mfa.FactorNotReady}, false, req.GetDisplayName())
		uri := reg.URI
		dev.TotpUrl = &uri
	case mfa.FactorOTPSMS:
		if req.GetNumber() == "" {
			return nil, errBadRequest("number is required")
		}
		if !req.GetVerified() {
			return nil, errBadRequest("factorgate sends no SMS: enroll with verified=true")
		}
		reg, _, err := s.core.AddOTPSMSAuthenticator(ctx, org, userID, req.GetNumber(), mfa.ProofVerified, mfa.Named(req.GetDisplayName()))
		switch {
		case errors.Is(err, mfa.ErrInvalidPhone):
			return nil, errBadRequest("Invalid phone number")
		case errors.Is(err, mfa.ErrOTPSMSExists):
			return nil, errBadRequest("Factor is already enrolled")
		case err != nil:
			return nil, coreError(err)
		}
		dev = v1Device(mfa.FactorView{Kind: mfa.FactorOTPSMS, ID: reg.ID, State: mfa.FactorReady, Contact: req.GetNumber()}, false, req.GetDisplayName())
	default:
		return nil, errBadRequest("Factor can not be enrolled with this API")
	}
	return &oneloginv1.EnrollFactorResponse{Status: success(), Data: []*oneloginv1.OtpDevice{dev}}, nil
}

// VerifyFactor completes a pending Google Authenticator enrolment with
// otp_token (the real RFC 6238 check of the core).
func (s *v1Server) VerifyFactor(ctx context.Context, req *oneloginv1.VerifyFactorRequest) (*oneloginv1.VerifyFactorResponse, error) {
	userID, fs, err := s.user(ctx, req.GetUserId())
	if status.Code(err) == codes.NotFound {
		return nil, errBadRequest(msgUserNotExist) // Verify's documented answer
	}
	if err != nil {
		return nil, err
	}
	deviceID, ok := parseID(req.GetDeviceId())
	if !ok {
		return nil, errFactorNotFound()
	}
	f, ok := findFactor(fs, deviceID)
	if !ok {
		return nil, errFactorNotFound()
	}
	if f.Kind != mfa.FactorTOTP || f.State == mfa.FactorReady {
		return nil, errBadRequest("Factor is already verified")
	}
	if req.GetOtpToken() == "" {
		return nil, errBadRequest("otp_token is required")
	}
	_, err = s.core.VerifyTOTP(ctx, api.OrgID(ctx), userID, f.ID, req.GetOtpToken())
	switch {
	case errors.Is(err, mfa.ErrInvalidCode):
		return nil, errBadRequest("Failed authentication with this factor")
	case mfa.KindOf(err) == mfa.KindNotFound:
		return nil, errFactorNotFound()
	case err != nil:
		return nil, coreError(err)
	}
	return &oneloginv1.VerifyFactorResponse{Status: success()}, nil
}

// RemoveFactor removes a device. Whatever the reason the device cannot be
// found (malformed ids, a missing user, a user of another organization, a
// device removed by a racing call), the answer is v1's 400 "Factor could
// not be found". Success is 200 with the success envelope rather than the
// docs' bare {}: every v1 SDK accepts it, and the old Python SDK accepts
// nothing else (reference/onelogin.md §15.2).
func (s *v1Server) RemoveFactor(ctx context.Context, req *oneloginv1.RemoveFactorRequest) (*oneloginv1.RemoveFactorResponse, error) {
	userID, okUser := parseID(req.GetUserId())
	deviceID, okDevice := parseID(req.GetDeviceId())
	if !okUser || !okDevice {
		return nil, errFactorNotFound()
	}
	if err := removeDevice(ctx, s.core, userID, deviceID); err != nil {
		return nil, err
	}
	return &oneloginv1.RemoveFactorResponse{Status: success()}, nil
}

// removeDevice removes one factor of a user of the caller's organization;
// anything not found answers errFactorNotFound (v2 maps it to its 404).
func removeDevice(ctx context.Context, core *mfa.Service, userID, deviceID string) error {
	org := api.OrgID(ctx)
	fs, err := core.ListUserFactors(ctx, org, userID)
	if errors.Is(err, mfa.ErrUserNotFound) {
		return errFactorNotFound()
	}
	if err != nil {
		return coreError(err)
	}
	f, ok := findFactor(fs, deviceID)
	if !ok {
		return errFactorNotFound()
	}
	_, err = core.RemoveFactor(ctx, org, mfa.FactorRef{UserID: userID, Kind: f.Kind, ID: f.ID})
	if mfa.KindOf(err) == mfa.KindNotFound {
		return errFactorNotFound()
	}
	if err != nil {
		return coreError(err)
	}
	return nil
}
