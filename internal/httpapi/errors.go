package httpapi

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/sovcloud/sov/internal/policy"
	"github.com/sovcloud/sov/internal/store"
)

// StatusError is an error that carries its HTTP status; its message is
// safe to show to users. An error from one service (an identity error
// while validating a token, say) keeps its status in another.
type StatusError interface {
	error
	HTTPStatus() int
}

// Error is the API error of every OpenStack service: a status and a
// message safe to show to users. Each API writes it in its own format.
type Error struct {
	Status  int
	Message string
}

func (e *Error) Error() string { return e.Message }

// HTTPStatus is the error's HTTP status.
func (e *Error) HTTPStatus() int { return e.Status }

// Errorf returns an *Error with the status and a formatted message.
func Errorf(status int, format string, a ...any) error {
	return &Error{Status: status, Message: fmt.Sprintf(format, a...)}
}

// Status returns the status and user message of the first StatusError in
// err's chain; ok is false when there is none.
func Status(err error) (code int, message string, ok bool) {
	var se StatusError
	if errors.As(err, &se) {
		return se.HTTPStatus(), se.Error(), true
	}
	return 0, "", false
}

// Problem is what an API answers for an error: its status, and a message
// for the user. Message is "" where each API has its own words: a policy
// denial (Denied names the action), a missing or conflicting row, an
// internal error.
type Problem struct {
	Status  int
	Message string
	Denied  string
}

// Classify is the one place that decides how an error is answered: a
// StatusError as it says, a policy denial 403, a store that cannot be
// reached 503 (never a 401 or 404 that would send users after the wrong
// problem), a missing row 404, a conflict 409, anything else 500.
func Classify(err error) Problem {
	if code, msg, ok := Status(err); ok {
		return Problem{Status: code, Message: msg}
	}
	var denied *policy.Denied
	switch {
	case errors.As(err, &denied):
		return Problem{Status: http.StatusForbidden, Denied: denied.Action}
	case store.Unavailable(err):
		return Problem{Status: http.StatusServiceUnavailable, Message: "The service cannot reach its store; try again later."}
	case errors.Is(err, store.ErrNotFound):
		return Problem{Status: http.StatusNotFound}
	case errors.Is(err, store.ErrConflict):
		return Problem{Status: http.StatusConflict}
	}
	return Problem{Status: http.StatusInternalServerError}
}
