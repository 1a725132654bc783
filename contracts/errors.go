package contracts

import (
	"fmt"
	"net/http"
)

// Code is a stable, machine-readable error code. Codes are part of the v1
// contract: a code, once published, keeps its meaning and HTTP status.
type Code string

// The stable set of error codes. Each is documented in Codes and in the
// OpenAPI description (components.schemas.ErrorCode).
const (
	CodeBadRequest        Code = "bad_request"
	CodeInvalidJSON       Code = "invalid_json"
	CodeValidationFailed  Code = "validation_failed"
	CodeInvalidRegion     Code = "invalid_region"
	CodeInvalidCitizenID  Code = "invalid_citizen_id"
	CodeInvalidCreditCode Code = "invalid_credit_code"
	CodeInvalidLicenseID  Code = "invalid_license_id"
	CodeInvalidHolderType Code = "invalid_holder_type"
	CodeInvalidExchangeID Code = "invalid_exchange_id"
	CodeBodyTooLarge      Code = "body_too_large"
	CodeUnsupportedMedia  Code = "unsupported_media_type"
	CodeUnauthenticated   Code = "unauthenticated"
	CodeTokenExpired      Code = "token_expired"
	CodeBadSignature      Code = "bad_signature"
	CodeUnknownKey        Code = "unknown_key"
	CodeForbidden         Code = "forbidden"
	// CodeCertificateMismatch: the TLS client certificate and the token
	// name different callers.
	CodeCertificateMismatch Code = "certificate_mismatch"
	CodeNotFound            Code = "not_found"
	CodeExchangeConflict    Code = "exchange_conflict"
	CodeInvalidTransition   Code = "invalid_transition"
	CodeNoRoute             Code = "no_route"
	// CodeNotInCatalogue: the service item is not in the catalogue.
	CodeNotInCatalogue Code = "not_in_catalogue"
	// CodeServiceNotOpen: the item is not open between the two regions.
	CodeServiceNotOpen Code = "service_not_open"
	// CodeAlreadyEvaluated: the case already has its evaluation.
	CodeAlreadyEvaluated  Code = "already_evaluated"
	CodeRateLimited       Code = "rate_limited"
	CodeSourceUnavailable Code = "source_unavailable"
	CodeUnavailable       Code = "unavailable"
	CodeDataShredded      Code = "data_shredded"
	CodeInternal          Code = "internal"
)

// CodeInfo documents one error code: the HTTP status it is always sent with
// and what it tells the caller to do.
type CodeInfo struct {
	Code        Code
	Status      int
	Description string
}

// Codes lists every error code with its HTTP status and meaning, in the order
// the documentation shows them.
var Codes = []CodeInfo{
	{CodeBadRequest, http.StatusBadRequest, "The request is malformed (missing header, bad query parameter). Fix the request; retrying it unchanged fails again."},
	{CodeInvalidJSON, http.StatusBadRequest, "The body is not valid JSON or has unknown fields, wrong types, duplicate keys, keys that differ from a field only in letter case, or invalid UTF-8."},
	{CodeValidationFailed, http.StatusBadRequest, "A field is missing, too long or out of range; the message names the field."},
	{CodeInvalidRegion, http.StatusBadRequest, "A region code is not a GB/T 2260 six-digit code."},
	{CodeInvalidCitizenID, http.StatusBadRequest, "A citizen ID fails GB 11643 (length, birth date or check character)."},
	{CodeInvalidCreditCode, http.StatusBadRequest, "A unified social credit code fails GB 32100 (alphabet, region or check character)."},
	{CodeInvalidLicenseID, http.StatusBadRequest, "An e-license identifier fails GB/T 36904 (layout or check character)."},
	{CodeInvalidHolderType, http.StatusBadRequest, "A holder id type is not one of the GB/T 36903 types the gateway accepts (111, 001)."},
	{CodeInvalidExchangeID, http.StatusBadRequest, "exchange_id is not an RFC 9562 UUID in canonical text form."},
	{CodeBodyTooLarge, http.StatusRequestEntityTooLarge, "The body exceeds the configured limit; send large materials by reference with their SM3 digest."},
	{CodeUnsupportedMedia, http.StatusUnsupportedMediaType, "The body must be application/json in UTF-8 (the native route: the partner's own media type), without a Content-Encoding."},
	{CodeUnauthenticated, http.StatusUnauthorized, "No bearer token, or the token is malformed, not alg SM2, for another audience, or its signature fails."},
	{CodeTokenExpired, http.StatusUnauthorized, "The bearer token has expired or its lifetime exceeds the configured maximum; mint a new one."},
	{CodeBadSignature, http.StatusUnauthorized, "Gw-Signature is missing or does not verify over the exact body bytes with the key named by Gw-Key-Id."},
	{CodeUnknownKey, http.StatusUnauthorized, "The key id (token kid or Gw-Key-Id) is not registered for this caller."},
	{CodeForbidden, http.StatusForbidden, "The caller is authenticated but its role or regions do not allow this action."},
	{CodeCertificateMismatch, http.StatusForbidden, "The connection's TLS client certificate is bound to another caller than the token's, or the token's caller must call with its configured client certificate and did not."},
	{CodeNotFound, http.StatusNotFound, "No such resource, or the caller may not know it exists."},
	{CodeExchangeConflict, http.StatusConflict, "The exchange_id was already used with different bytes; use a new exchange_id for a new exchange."},
	{CodeInvalidTransition, http.StatusConflict, "The status update is not allowed from the case's current state, or is out of order."},
	{CodeNoRoute, http.StatusUnprocessableEntity, "No partner serves the addressed region (district, city, province or fallback)."},
	{CodeNotInCatalogue, http.StatusUnprocessableEntity, "The submission's service_item.implementation_code (实施编码) is not in the gateway's service catalogue (GET /v1/catalogue)."},
	{CodeServiceNotOpen, http.StatusUnprocessableEntity, "The service item is not open to be accepted in from_region for the owning region (its scope or accept_regions), or to_region is not one of its owners, or it has several owners and to_region names none."},
	{CodeAlreadyEvaluated, http.StatusConflict, "The case (or part of a bundle) already has its evaluation; one evaluation per case."},
	{CodeRateLimited, http.StatusTooManyRequests, "Too many requests; retry after the Retry-After header."},
	{CodeSourceUnavailable, http.StatusBadGateway, "The partner system that must answer did not answer in time."},
	{CodeUnavailable, http.StatusServiceUnavailable, "The gateway cannot take the request now (starting, shutting down, store unavailable); retry later."},
	{CodeDataShredded, http.StatusGone, "The exchange's stored bodies were deleted under the retention policy (their data key was destroyed); the evidence records and their hashes remain and still verify."},
	{CodeInternal, http.StatusInternalServerError, "An unexpected error; the request_id lets operators find it in the logs."},
}

// StatusOf returns the HTTP status a code is sent with, or 500 for a code
// that is not in Codes.
func StatusOf(c Code) int {
	for _, ci := range Codes {
		if ci.Code == c {
			return ci.Status
		}
	}
	return http.StatusInternalServerError
}

// Error is the JSON body of every error response:
// {"code": "...", "message": "...", "request_id": "..."}.
// Message is written for the caller and never carries internal details.
type Error struct {
	Code      Code   `json:"code"`
	Message   string `json:"message"`
	RequestID string `json:"request_id,omitempty"`
}

// Error implements the error interface.
func (e *Error) Error() string { return fmt.Sprintf("%s: %s", e.Code, e.Message) }

// FieldError reports that one input field failed validation. Field is the
// JSON path of the field (for example "applicant.id_number"); Message never
// repeats the field's value, so it is safe to log and to return.
type FieldError struct {
	Field   string
	Code    Code
	Message string
}

// Error implements the error interface.
func (e *FieldError) Error() string {
	if e.Field == "" {
		return e.Message
	}
	return e.Field + ": " + e.Message
}

// At returns a copy of e that names field as the failing field. Validators
// return errors without a field; the caller that knows where the value came
// from places it.
func (e *FieldError) At(field string) *FieldError {
	c := *e
	c.Field = field
	return &c
}
