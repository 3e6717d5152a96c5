package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/cocorico/node/ballot"
	"github.com/cocorico/node/ballot/registrar"
	"github.com/cocorico/node/store"
)

// Errors of the API itself.
var (
	// ErrOverloaded: the node takes no more work for now; retry later.
	ErrOverloaded = errors.New("node overloaded")
	// ErrNotFound: no such resource.
	ErrNotFound = errors.New("not found")
	// ErrBadRequest: the request is malformed (bad JSON, bad path parameter).
	ErrBadRequest = errors.New("bad request")
	// ErrBodyTooLarge: the request body is over the endpoint's limit.
	ErrBodyTooLarge = errors.New("request body too large")
	// ErrBodyTimeout: the request body did not arrive within the read
	// timeout.
	ErrBodyTimeout = errors.New("request body not received in time")
	// ErrMethodNotAllowed: the path is an endpoint, not for this method.
	ErrMethodNotAllowed = errors.New("method not allowed")
	// ErrUnavailable: something the answer needs is not reachable now.
	ErrUnavailable = errors.New("unavailable")
	// ErrUnauthorized: an admin endpoint was called without the right token.
	ErrUnauthorized = errors.New("admin token required")
	// ErrAdminOff: admin endpoints are off (no admin token is configured).
	ErrAdminOff = errors.New("admin endpoints are off: the operator configured no admin token")
)

// errorCodes is the one table from error values to HTTP statuses and API
// codes (STYLE.md, habit 5). The first entry that matches wins.
var errorCodes = []struct {
	err    error
	status int
	code   string
}{
	{ErrBodyTooLarge, http.StatusRequestEntityTooLarge, "body_too_large"},
	{ErrBodyTimeout, http.StatusRequestTimeout, "body_timeout"},
	{ErrMethodNotAllowed, http.StatusMethodNotAllowed, "method_not_allowed"},
	{ballot.ErrTooLarge, http.StatusRequestEntityTooLarge, "too_large"},
	{ErrBadRequest, http.StatusBadRequest, "bad_request"},
	{ballot.ErrMalformed, http.StatusBadRequest, "malformed"},
	{ballot.ErrBlindedOutOfRange, http.StatusBadRequest, "malformed"},
	{ballot.ErrWrongChain, http.StatusBadRequest, "wrong_chain"},
	{ballot.ErrDefinitionInvalid, http.StatusBadRequest, "definition_invalid"},
	{ballot.ErrOrganizerSignature, http.StatusBadRequest, "organizer_signature_invalid"},
	{ballot.ErrOrganizerNotAllowed, http.StatusForbidden, "organizer_not_allowed"},
	{ballot.ErrDuplicateBallot, http.StatusConflict, "ballot_exists"},
	{ballot.ErrCastInvalid, http.StatusBadRequest, "cast_invalid"},
	{ballot.ErrChoiceOutOfRange, http.StatusBadRequest, "choice_out_of_range"},
	{ballot.ErrUnknownRegistrar, http.StatusBadRequest, "unknown_registrar"},
	{ballot.ErrTokenInvalid, http.StatusBadRequest, "token_invalid"},
	{ballot.ErrVoterSignature, http.StatusBadRequest, "voter_signature_invalid"},
	{ballot.ErrSealedInvalid, http.StatusBadRequest, "sealed_invalid"},
	{ballot.ErrKeykeeperInvalid, http.StatusBadRequest, "keykeeper_invalid"},
	{ballot.ErrKeykeeperSignature, http.StatusBadRequest, "keykeeper_signature_invalid"},
	{ballot.ErrDealInvalid, http.StatusBadRequest, "deal_invalid"},
	{ballot.ErrShareInvalid, http.StatusBadRequest, "share_invalid"},
	{ballot.ErrKeygenClosed, http.StatusConflict, "keygen_closed"},
	{ballot.ErrSealedNoKey, http.StatusConflict, "sealed_no_key"},
	{ballot.ErrShareTooEarly, http.StatusConflict, "share_too_early"},
	{ballot.ErrKeykeeperRepeat, http.StatusConflict, "keykeeper_repeat"},
	{ballot.ErrUnknownBallot, http.StatusBadRequest, "unknown_ballot"},
	{ballot.ErrBallotNotOpen, http.StatusBadRequest, "ballot_not_open"},
	{ballot.ErrBallotClosed, http.StatusBadRequest, "ballot_closed"},
	{ballot.ErrDuplicate, http.StatusConflict, "duplicate"},
	{ballot.ErrSeqReplay, http.StatusConflict, "seq_replay"},
	{ballot.ErrRevoteNotAllowed, http.StatusConflict, "revote_not_allowed"},
	{ballot.ErrTooManyCasts, http.StatusConflict, "too_many_casts"},
	{ballot.ErrRevoteTooSoon, http.StatusTooManyRequests, "revote_too_soon"},
	{registrar.ErrNotAuthorized, http.StatusForbidden, "not_authorized"},
	{registrar.ErrThrottled, http.StatusTooManyRequests, "throttled"},
	{registrar.ErrOverloaded, http.StatusServiceUnavailable, "overloaded"},
	{registrar.ErrAlreadyIssued, http.StatusConflict, "already_issued"},
	{registrar.ErrNotRegistrar, http.StatusBadRequest, "not_registrar"},
	{registrar.ErrLoginOff, http.StatusNotFound, "login_disabled"},
	{registrar.ErrLoginFailed, http.StatusForbidden, "login_failed"},
	{registrar.ErrNotEligible, http.StatusForbidden, "not_eligible"},
	{registrar.ErrSessionInvalid, http.StatusForbidden, "session_invalid"},
	{registrar.ErrReturnURL, http.StatusBadRequest, "return_url_not_allowed"},
	{ErrUnauthorized, http.StatusUnauthorized, "unauthorized"},
	{ErrAdminOff, http.StatusForbidden, "admin_disabled"},
	{ErrNotFound, http.StatusNotFound, "not_found"},
	{store.ErrNotFound, http.StatusNotFound, "not_found"},
	{ErrOverloaded, http.StatusServiceUnavailable, "overloaded"},
	{ballot.ErrOverloaded, http.StatusServiceUnavailable, "overloaded"},
	{ErrUnavailable, http.StatusServiceUnavailable, "unavailable"},
}

// ErrorCode returns the HTTP status and API code of err: 500 "internal"
// for an error the table does not name.
func ErrorCode(err error) (status int, code string) {
	for _, e := range errorCodes {
		if errors.Is(err, e.err) {
			return e.status, e.code
		}
	}
	return http.StatusInternalServerError, "internal"
}

// ErrorBody is the body of every error answer.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail is the code and message of an error.
type ErrorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// WriteError answers with err's status and code.
func WriteError(w http.ResponseWriter, err error) {
	status, code := ErrorCode(err)
	var ra interface{ RetryAfter() time.Duration }
	switch {
	case errors.As(err, &ra):
		// Whole seconds, rounded up (RFC 9110 §10.2.3).
		w.Header().Set("Retry-After", strconv.FormatInt(int64((ra.RetryAfter()+time.Second-1)/time.Second), 10))
	case status == http.StatusServiceUnavailable || status == http.StatusTooManyRequests:
		w.Header().Set("Retry-After", "1")
	}
	msg := err.Error()
	if status == http.StatusInternalServerError {
		msg = "internal error" // details go to the log, not to the client
	}
	WriteJSON(w, status, ErrorBody{ErrorDetail{Code: code, Message: msg}})
}

// WriteJSON answers with v as JSON.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}
