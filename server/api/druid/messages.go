package druid

import (
	"golang.org/x/text/language"

	"github.com/factorgate/factorgate/server/mfa"
)

// The languages of DruID's messages: DruID is a Spanish product; English
// is the fallback.
const (
	langEnglish = "en"
	langSpanish = "es"
)

var languages = language.NewMatcher([]language.Tag{language.English, language.Spanish})

// languageOf picks the language of the answer from an Accept-Language
// header.
func languageOf(acceptLanguage string) string {
	tags, _, err := language.ParseAcceptLanguage(acceptLanguage)
	if err != nil || len(tags) == 0 {
		return langEnglish
	}
	_, i, conf := languages.Match(tags...)
	if conf == language.No || i != 1 {
		return langEnglish
	}
	return langSpanish
}

// Ids of the messages this dialect emits. DRUID-* are the dialect's own;
// the others are the core's error ids, given DruID's wording here.
const (
	msgDeleted = "DRUID-ok001"
	msgCreated = "DRUID-ok002"

	errFromHeader  = "DRUID-hdr01"
	errContentType = "DRUID-hdr02"
	errAccept      = "DRUID-hdr03"
	errNoRoute     = "DRUID-rt404"
	errMethod      = "DRUID-rt405"
	errNoToken     = "DRUID-auth0"
	errActor       = "DRUID-act01"
	errBody        = "DRUID-body0"

	errActorID          = "DRUID-fld01"
	errActorObjectType  = "DRUID-fld02"
	errVerb             = "DRUID-fld03"
	errObjectObjectType = "DRUID-fld04"
	errSourceID         = "DRUID-fld05"
	errSourceObjectType = "DRUID-fld06"
	errChannel          = "DRUID-fld07"
	errAppID            = "DRUID-fld08"
	errAppObjectType    = "DRUID-fld09"
	errVerbCreate       = "DRUID-fld10"
	errScreenName       = "DRUID-fld11"
	errPassword         = "DRUID-fld12"
	errCreateChannel    = "DRUID-fld13"
	errCreateTOTP       = "DRUID-fld14"

	titleBadRequest   = "DRUID-t400"
	titleUnauthorized = "DRUID-t401"
	titleNoRoute      = "DRUID-t404"
	titleMFA          = "DRUID-t417"
	titleServer       = "DRUID-t500"
)

const (
	notEnrolledEN = "The user does not have this MFA channel"
	notEnrolledES = "El usuario no tiene configurado este canal MFA"
	alreadyEN     = "The user already has this MFA channel"
	alreadyES     = "El usuario ya tiene configurado este canal MFA"
)

// catalogue holds the texts by id and language.
var catalogue = map[string]map[string]string{
	msgDeleted: {langEnglish: "MFA channel deleted", langSpanish: "Canal MFA eliminado"},
	msgCreated: {langEnglish: "MFA channel created", langSpanish: "Canal MFA creado"},

	errFromHeader: {
		langEnglish: "The From header is required: name the entry point of the call",
		langSpanish: "La cabecera From es obligatoria: indica el punto de entrada de la llamada"},
	errContentType: {
		langEnglish: "The Content-Type header is required and must be application/json",
		langSpanish: "La cabecera Content-Type es obligatoria y debe ser application/json"},
	errAccept: {
		langEnglish: "The Accept header is required and must accept application/json",
		langSpanish: "La cabecera Accept es obligatoria y debe aceptar application/json"},
	errNoRoute: {langEnglish: "No such endpoint", langSpanish: "No existe ese endpoint"},
	errMethod:  {langEnglish: "Use POST", langSpanish: "Usa POST"},
	errNoToken: {
		langEnglish: "An access token is required: Authorization: Bearer <user access token>",
		langSpanish: "Se necesita un token de acceso: Authorization: Bearer <token de acceso del usuario>"},
	"AUTH-toLo1": {
		langEnglish: "The Authorization header must be Bearer <user access token>",
		langSpanish: "La cabecera Authorization debe ser Bearer <token de acceso del usuario>"},
	"AUTH-7fs1e": {
		langEnglish: "The access token is invalid or has expired",
		langSpanish: "El token de acceso no es válido o ha caducado"},
	"COMMAND-fgPer": {
		langEnglish: "The access token must be a person's (a user token), not an application's",
		langSpanish: "El token de acceso debe ser de una persona (token de usuario), no de una aplicación"},
	errBody: {
		langEnglish: "The body must be the activity as JSON",
		langSpanish: "El cuerpo debe ser la actividad en JSON"},
	errActor: {
		langEnglish: "actor.id is not the user of the access token",
		langSpanish: "actor.id no es el usuario del token de acceso"},

	errActorID: {
		langEnglish: "actor.id is required: the user's object id",
		langSpanish: "actor.id es obligatorio: el object id del usuario"},
	errActorObjectType: {
		langEnglish: `actor.objectType must be "person"`,
		langSpanish: `actor.objectType debe ser "person"`},
	errVerb: {
		langEnglish: `verb must be "delete"`,
		langSpanish: `verb debe ser "delete"`},
	errObjectObjectType: {
		langEnglish: `object.objectType must be "user"`,
		langSpanish: `object.objectType debe ser "user"`},
	errSourceID: {
		langEnglish: "source.id must be one of unknown, pc, mobile, tablet, game_console, itv",
		langSpanish: "source.id debe ser uno de unknown, pc, mobile, tablet, game_console, itv"},
	errSourceObjectType: {
		langEnglish: `source.objectType must be "device"`,
		langSpanish: `source.objectType debe ser "device"`},
	errChannel: {
		langEnglish: "context.mfa_channel must be one of sms, email, totp",
		langSpanish: "context.mfa_channel debe ser uno de sms, email, totp"},

	errAppID: {
		langEnglish: "actor.id is required: the application's client id",
		langSpanish: "actor.id es obligatorio: el client id de la aplicación"},
	errAppObjectType: {
		langEnglish: `actor.objectType must be "application"`,
		langSpanish: `actor.objectType debe ser "application"`},
	errVerbCreate: {
		langEnglish: `verb must be "create"`,
		langSpanish: `verb debe ser "create"`},
	errScreenName: {
		langEnglish: "object.ids.screen_name.value is required: the user's username",
		langSpanish: "object.ids.screen_name.value es obligatorio: el nombre de usuario"},
	errPassword: {
		langEnglish: "object.password is required",
		langSpanish: "object.password es obligatorio"},
	errCreateChannel: {
		langEnglish: "context.mfa_channel must be sms or email",
		langSpanish: "context.mfa_channel debe ser sms o email"},
	errCreateTOTP: {
		langEnglish: "context.mfa_channel totp cannot be created here: it needs a code validation step this server does not offer; use sms or email",
		langSpanish: "context.mfa_channel totp no se puede crear aquí: necesita un paso de validación de código que este servidor no ofrece; usa sms o email"},
	mfa.ErrChannelAddress.ID: {
		langEnglish: "context.mfa_channel_address must be the user's verified phone number or email address",
		langSpanish: "context.mfa_channel_address debe ser el teléfono o el email verificado del usuario"},
	mfa.ErrNotAnApplication.ID: {
		langEnglish: "The access token must be an application's (client_credentials), not a person's",
		langSpanish: "El token de acceso debe ser de una aplicación (client_credentials), no de una persona"},
	mfa.ErrInvalidCredentials.ID: {
		langEnglish: "The username or password is invalid",
		langSpanish: "El usuario o la contraseña no son correctos"},
	mfa.ErrPhoneNotVerified.ID: {
		langEnglish: "The user's phone number is not verified",
		langSpanish: "El teléfono del usuario no está verificado"},
	mfa.ErrEmailNotVerified.ID: {
		langEnglish: "The user's email address is not verified",
		langSpanish: "El email del usuario no está verificado"},
	mfa.ErrOTPSMSExists.ID:   {langEnglish: alreadyEN, langSpanish: alreadyES},
	mfa.ErrOTPEmailExists.ID: {langEnglish: alreadyEN, langSpanish: alreadyES},
	mfa.ErrMandatoryFactor.ID: {
		langEnglish: "This MFA channel is mandatory: the login policy requires a second factor and it is the user's last one. Add another channel before deleting it",
		langSpanish: "Este canal MFA es obligatorio: la política de acceso exige un segundo factor y es el último del usuario. Añade otro canal antes de eliminarlo"},
	mfa.ErrTOTPNotExisting.ID:     {langEnglish: notEnrolledEN, langSpanish: notEnrolledES},
	mfa.ErrOTPSMSNotExisting.ID:   {langEnglish: notEnrolledEN, langSpanish: notEnrolledES},
	mfa.ErrOTPEmailNotExisting.ID: {langEnglish: notEnrolledEN, langSpanish: notEnrolledES},

	titleBadRequest:   {langEnglish: "Bad request", langSpanish: "Petición incorrecta"},
	titleUnauthorized: {langEnglish: "Unauthorized", langSpanish: "No autorizado"},
	titleNoRoute:      {langEnglish: "Not found", langSpanish: "No encontrado"},
	titleMFA:          {langEnglish: "MFA error", langSpanish: "Error de MFA"},
	titleServer:       {langEnglish: "Server error", langSpanish: "Error del servidor"},
}

// lookup returns the text of id in lang (English when lang has none).
func lookup(lang, id string) (string, bool) {
	t, ok := catalogue[id]
	if !ok {
		return "", false
	}
	if s, ok := t[lang]; ok {
		return s, true
	}
	s, ok := t[langEnglish]
	return s, ok
}

// text is lookup for ids the catalogue is known to hold.
func text(lang, id string) string {
	s, _ := lookup(lang, id)
	return s
}
