package onelogin

import (
	"bytes"
	"encoding/json"
	"sort"
	"strconv"

	"github.com/google/uuid"

	"github.com/factorgate/factorgate/server/mfa"
)

// factorType is how OneLogin names a kind of factor. The table (also in
// the README):
//
//	core kind   factor_id  name                  auth_factor_name      enroll via
//	totp        1          Google Authenticator  Google Authenticator  v1, v2 (verify with an OTP)
//	otp_sms     2          SMS                   OneLogin SMS          v1 (number + verified=true), v2 (verified=true)
//	otp_email   3          Email                 OneLogin Email        v2 (verified=true)
//	u2f         4          Security Key          WebAuthn              list and remove only
//
// factor_ids are factorgate's own (OneLogin's differ per account); clients
// read them from Get Available Factors, as OneLogin's docs tell them to.
type factorType struct {
	kind           mfa.FactorKind
	factorID       int64
	name           string
	authFactorName string
	needsTrigger   bool // a code must be sent before verifying
}

var factorTypes = []factorType{
	{mfa.FactorTOTP, 1, "Google Authenticator", "Google Authenticator", false},
	{mfa.FactorOTPSMS, 2, "SMS", "OneLogin SMS", true},
	{mfa.FactorOTPEmail, 3, "Email", "OneLogin Email", true},
	{mfa.FactorU2F, 4, "Security Key", "WebAuthn", false},
}

func typeOfKind(k mfa.FactorKind) factorType {
	for _, t := range factorTypes {
		if t.kind == k {
			return t
		}
	}
	return factorType{kind: k, name: string(k), authFactorName: string(k)}
}

func typeOfID(id int64) (factorType, bool) {
	for _, t := range factorTypes {
		if t.factorID == id {
			return t, true
		}
	}
	return factorType{}, false
}

// maxID is the largest id factorgate issues (2^53 − 1, a safe integer).
const maxID = 1<<53 - 1

// parseID reads a user or device id from a path: a decimal number from 1
// to 2^53 − 1, returned in canonical form. Anything else ("abc", "-1",
// "1e3", a 30-digit number) names nothing.
func parseID(s string) (string, bool) {
	if s == "" || len(s) > 16 {
		return "", false
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || n == 0 || n > maxID {
		return "", false
	}
	return strconv.FormatUint(n, 10), true
}

// number renders a core id (a decimal string below 2^53) as OneLogin's
// integer id.
func number(id string) int64 {
	n, _ := strconv.ParseInt(id, 10, 64)
	return n
}

// registrationNamespace scopes the v2 registration ids.
var registrationNamespace = uuid.MustParse("5b0c0a57-6a3c-4f0e-9a38-0f1b6f2c8d11")

// registrationID is the v2 registration id (a UUID) of a pending factor:
// derived from the user and the factor, so it needs no storage of its own
// and names exactly one enrolment.
func registrationID(userID, factorID string) string {
	return uuid.NewSHA1(registrationNamespace, []byte(userID+"/"+factorID)).String()
}

// defaultDevice is the id of the user's default device: the oldest ready
// factor (factorgate has no explicit default).
func defaultDevice(fs []mfa.FactorView) string {
	ready := make([]mfa.FactorView, 0, len(fs))
	for _, f := range fs {
		if f.State == mfa.FactorReady {
			ready = append(ready, f)
		}
	}
	if len(ready) == 0 {
		return ""
	}
	sort.SliceStable(ready, func(i, j int) bool { return ready[i].Created.Before(ready[j].Created) })
	return ready[0].ID
}

func findFactor(fs []mfa.FactorView, id string) (mfa.FactorView, bool) {
	for _, f := range fs {
		if f.ID == id {
			return f, true
		}
	}
	return mfa.FactorView{}, false
}

func jsonMarshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}
