package httpapi

import "errors"

// StatusError is an error that carries its HTTP status; its message is
// safe to show to users. Each API's own error type implements it, so an
// error from one service (an identity error while validating a token, say)
// keeps its status in another.
type StatusError interface {
	error
	HTTPStatus() int
}

// HTTPStatus makes a BadRequestError a StatusError.
func (e *BadRequestError) HTTPStatus() int { return e.Status }

// Status returns the status and user message of the first StatusError in
// err's chain; ok is false when there is none.
func Status(err error) (code int, message string, ok bool) {
	var se StatusError
	if errors.As(err, &se) {
		return se.HTTPStatus(), se.Error(), true
	}
	return 0, "", false
}
