package identity

import (
	"fmt"
	"net/http"

	"github.com/sovcloud/sov/internal/httpapi"
	"github.com/sovcloud/sov/internal/store"
)

func badRequest(format string, a ...any) error {
	return httpapi.Errorf(http.StatusBadRequest, format, a...)
}

func unauthorized(format string, a ...any) error {
	return httpapi.Errorf(http.StatusUnauthorized, format, a...)
}

func forbidden(format string, a ...any) error {
	return httpapi.Errorf(http.StatusForbidden, format, a...)
}

func notFound(kind, id string) error {
	return httpapi.Errorf(http.StatusNotFound, "Could not find %s: %s.", kind, id)
}

// referenced is the answer to a failed lookup of a row a request names
// (a domain, project, user, service): 400 "Could not find <kind>: <id>.",
// or the failure itself when the store could not be reached.
func referenced(err error, kind, id string) error {
	if err == nil || store.Unavailable(err) {
		return err
	}
	return badRequest("Could not find %s: %s.", kind, id)
}

func conflict(format string, a ...any) error {
	return httpapi.Errorf(http.StatusConflict, format, a...)
}

// writeError writes an error in Keystone's format:
// {"error": {"code": 404, "title": "Not Found", "message": "..."}}.
func (s *Service) writeError(w http.ResponseWriter, r *http.Request, err error) {
	p := httpapi.Classify(err)
	msg := p.Message
	switch {
	case p.Denied != "":
		msg = "You are not authorized to perform the requested action: " + p.Denied + "."
	case msg != "":
	case p.Status == http.StatusNotFound:
		msg = "Could not find the requested resource."
	case p.Status == http.StatusConflict:
		msg = "Conflict occurred attempting to store the resource: it already exists or is still referenced."
	default:
		s.log.Error("internal error", "request_id", httpapi.RequestID(r.Context()), "err", err)
		msg = "An unexpected error prevented the server from fulfilling your request. Request id: " + httpapi.RequestID(r.Context())
	}
	if p.Status == http.StatusServiceUnavailable {
		s.log.Error("store unavailable", "request_id", httpapi.RequestID(r.Context()), "err", err)
	}
	if p.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", fmt.Sprintf("Keystone uri=%q", s.cfg.PublicURL+"/identity/v3"))
	}
	httpapi.WriteJSON(w, p.Status, map[string]any{"error": map[string]any{
		"code": p.Status, "title": http.StatusText(p.Status), "message": msg,
	}})
}
