package identity

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/sovcloud/sov/internal/httpapi"
	"github.com/sovcloud/sov/internal/policy"
	"github.com/sovcloud/sov/internal/store"
)

// Error is an error with a Keystone status code and a message safe for users.
type Error struct {
	Code    int
	Message string
}

func (e *Error) Error() string { return e.Message }

// HTTPStatus is the error's HTTP status.
func (e *Error) HTTPStatus() int { return e.Code }

func badRequest(format string, a ...any) error {
	return &Error{Code: http.StatusBadRequest, Message: fmt.Sprintf(format, a...)}
}

func unauthorized(format string, a ...any) error {
	return &Error{Code: http.StatusUnauthorized, Message: fmt.Sprintf(format, a...)}
}

func forbidden(format string, a ...any) error {
	return &Error{Code: http.StatusForbidden, Message: fmt.Sprintf(format, a...)}
}

func notFound(kind, id string) error {
	return &Error{Code: http.StatusNotFound, Message: fmt.Sprintf("Could not find %s: %s.", kind, id)}
}

func conflict(format string, a ...any) error {
	return &Error{Code: http.StatusConflict, Message: fmt.Sprintf(format, a...)}
}

// writeError is the one place that turns an error into Keystone's error body:
// {"error": {"code": 404, "title": "Not Found", "message": "..."}}.
func (s *Service) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var e *Error
	code, msg, ok := httpapi.Status(err)
	switch {
	case ok:
		e = &Error{Code: code, Message: msg}
	case errors.Is(err, policy.ErrForbidden):
		action := err.Error()[len(policy.ErrForbidden.Error())+2:]
		e = &Error{Code: http.StatusForbidden, Message: "You are not authorized to perform the requested action: " + action + "."}
	case errors.Is(err, store.ErrNotFound):
		e = &Error{Code: http.StatusNotFound, Message: "Could not find the requested resource."}
	case errors.Is(err, store.ErrConflict):
		e = &Error{Code: http.StatusConflict, Message: "Conflict occurred attempting to store the resource: it already exists or is still referenced."}
	default:
		s.log.Error("internal error", "request_id", httpapi.RequestID(r.Context()), "err", err)
		e = &Error{Code: http.StatusInternalServerError, Message: "An unexpected error prevented the server from fulfilling your request. Request id: " + httpapi.RequestID(r.Context())}
	}
	if e.Code == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", fmt.Sprintf("Keystone uri=%q", s.cfg.PublicURL+"/identity/v3"))
	}
	httpapi.WriteJSON(w, e.Code, map[string]any{"error": map[string]any{
		"code": e.Code, "title": http.StatusText(e.Code), "message": e.Message,
	}})
}
