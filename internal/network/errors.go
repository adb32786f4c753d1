package network

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/sovcloud/sov/internal/httpapi"
)

// apiError is a Neutron error: a status, the exception name Neutron
// reports as the error's type, and a message safe for users.
type apiError struct {
	status int
	kind   string
	msg    string
}

func (e *apiError) Error() string   { return e.msg }
func (e *apiError) HTTPStatus() int { return e.status }

func fail(status int, kind, format string, a ...any) error {
	return &apiError{status: status, kind: kind, msg: fmt.Sprintf(format, a...)}
}

// badRequest is Neutron's 400 for invalid input.
func badRequest(format string, a ...any) error {
	return fail(http.StatusBadRequest, "HTTPBadRequest", format, a...)
}

// invalidInput is a 400 for a request whose attributes are valid one by
// one but not together (Neutron's InvalidInput).
func invalidInput(format string, a ...any) error {
	return fail(http.StatusBadRequest, "InvalidInput", "Invalid input for operation: "+format, a...)
}

func notFound(kind, id string) error {
	return fail(http.StatusNotFound, kind+"NotFound", "%s %s could not be found.", kindWords[kind], id)
}

func conflict(kind, format string, a ...any) error {
	return fail(http.StatusConflict, kind, format, a...)
}

// kindWords are how Neutron's messages name each resource.
var kindWords = map[string]string{
	"Network": "Network", "Subnet": "Subnet", "Port": "Port", "SecurityGroup": "Security group",
	"SecurityGroupRule": "Security group rule", "DefaultSecurityGroupRule": "Default security group rule",
	"RbacPolicy": "RBAC policy", "Router": "Router", "FloatingIP": "Floating IP",
}

// writeError answers {"NeutronError": {"type", "message", "detail"}}.
func (s *Service) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var ae *apiError
	kind := ""
	if errors.As(err, &ae) {
		kind = ae.kind
	}
	p := httpapi.Classify(err)
	msg := p.Message
	switch {
	case p.Denied != "":
		kind, msg = "PolicyNotAuthorized", "(("+p.Denied+")) is disallowed by policy"
	case msg != "":
	case p.Status == http.StatusNotFound:
		msg = "The resource could not be found."
	case p.Status == http.StatusConflict:
		msg = "A conflicting change was made at the same time; try again."
	default:
		s.log.Error("network: internal error", "request_id", httpapi.RequestID(r.Context()), "err", err)
		msg = "Request Failed: internal server error while processing your request."
	}
	if p.Status == http.StatusServiceUnavailable {
		s.log.Error("network: store unavailable", "request_id", httpapi.RequestID(r.Context()), "err", err)
	}
	if kind == "" {
		kind = map[int]string{400: "HTTPBadRequest", 401: "HTTPUnauthorized", 403: "HTTPForbidden", 404: "HTTPNotFound",
			405: "HTTPMethodNotAllowed", 409: "HTTPConflict", 413: "HTTPRequestEntityTooLarge", 503: "HTTPServiceUnavailable"}[p.Status]
		if kind == "" {
			kind = "HTTPInternalServerError"
		}
	}
	httpapi.WriteJSON(w, p.Status, map[string]any{"NeutronError": map[string]string{"type": kind, "message": msg, "detail": ""}})
}
