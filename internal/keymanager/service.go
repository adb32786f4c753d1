// Package keymanager serves the key manager API (Barbican v1) under
// /key-manager: secrets whose payloads are sealed under sov's master key
// (package secrets, a file apart from the database), their metadata,
// containers that group secrets, and orders that make keys and key pairs.
package keymanager

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/sovcloud/sov/internal/httpapi"
	"github.com/sovcloud/sov/internal/policy"
	"github.com/sovcloud/sov/internal/secrets"
	"github.com/sovcloud/sov/internal/service"
	"github.com/sovcloud/sov/internal/store"
)

// microversions: sov speaks Barbican's API 1.0 (1.1 adds secret consumers).
var microversions = httpapi.Microversions{Service: "key-manager", Major: 1, Min: 0, Max: 0}

// Barbican's limits (max_allowed_secret_in_bytes and
// max_allowed_request_size_in_bytes).
const (
	maxPayloadBytes = 20000
	maxRequestBytes = 25000
)

// Service serves the Barbican v1 API.
type Service struct {
	db       *store.DB
	kek      *secrets.Keyring
	identity httpapi.Authenticator
	log      *slog.Logger
	url      string // e.g. http://127.0.0.1:5000/key-manager
}

// New returns the key manager. It reseals under the primary master key
// the payloads an older one sealed.
func New(ctx context.Context, db *store.DB, kek *secrets.Keyring, publicURL string, id httpapi.Authenticator, log *slog.Logger) (*Service, error) {
	s := &Service{db: db, kek: kek, identity: id, log: log, url: publicURL + "/key-manager"}
	err := kek.Reseal(ctx, db, secrets.Sealed{Table: "km_secrets", Column: "payload", Key: []string{"id"}, Where: "payload <> ''",
		Bind: func(key []string) string { return payloadContext(key[0]) }})
	return s, err
}

// payloadContext binds a sealed payload to its secret.
func payloadContext(id string) string { return "km_secrets:" + id }

// Name is the service's name.
func (s *Service) Name() string { return "key-manager" }

// Catalog is the key manager's endpoint; clients add /v1 themselves.
func (s *Service) Catalog() []service.CatalogEntry {
	return []service.CatalogEntry{{Type: "key-manager", Name: "barbican", URL: s.url}}
}

// writeError writes Barbican's {"code": N, "title": "...", "description": "..."}.
func (s *Service) writeError(w http.ResponseWriter, r *http.Request, err error) {
	p := httpapi.Classify(err)
	msg := p.Message
	switch {
	case p.Denied != "":
		msg = "Forbidden. " + p.Denied + " is not allowed - please review your user/project privileges."
	case msg != "":
	case p.Status == http.StatusNotFound:
		msg = "Not Found."
	case p.Status == http.StatusConflict:
		msg = "Conflict. What the request names changed meanwhile; try again."
	default:
		s.log.Error("key-manager: internal error", "request_id", httpapi.RequestID(r.Context()), "err", err)
		msg = "Internal server error. Request id: " + httpapi.RequestID(r.Context())
	}
	httpapi.WriteJSON(w, p.Status, map[string]any{"code": p.Status, "title": http.StatusText(p.Status), "description": msg})
}

func errorf(code int, format string, a ...any) error { return httpapi.Errorf(code, format, a...) }

// decode reads a JSON body of at most maxRequestBytes into v.
func decode(q *request, v any) error {
	if media, _, _ := strings.Cut(q.r.Header.Get("Content-Type"), ";"); !strings.EqualFold(strings.TrimSpace(media), "application/json") {
		return errorf(http.StatusUnsupportedMediaType, "Unexpected content type. Expected content types are: ['application/json']")
	}
	err := httpapi.DecodeJSON(q.r, v)
	switch httpapi.Classify(err).Status {
	case http.StatusRequestEntityTooLarge:
		return errorf(http.StatusRequestEntityTooLarge, "Provided information too large to process")
	case http.StatusBadRequest:
		return errorf(http.StatusBadRequest, "Malformed JSON")
	}
	return err
}

// request carries what every handler needs.
type request struct {
	w     http.ResponseWriter
	r     *http.Request
	creds *policy.Credentials
}

// enforce checks the policy of action on a resource of project.
func (q *request) enforce(action, project string) error {
	return policy.Enforce(q.creds, action, policy.Target{ProjectID: project})
}

type handler func(q *request) error

func (s *Service) handle(h handler) http.Handler {
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, maxRequestBytes)
		q := &request{w: w, r: r, creds: httpapi.CredentialsFrom(r.Context())}
		if err := h(q); err != nil {
			s.writeError(w, r, err)
		}
	})
	return microversions.Handler(s.writeError,
		httpapi.RequireProject(s.identity, errorf(http.StatusForbidden, "The key manager API needs a project-scoped token."), s.writeError, inner))
}

// Register adds the key manager API to mux under /key-manager.
func (s *Service) Register(mux *http.ServeMux) {
	mux.Handle("GET /key-manager", microversions.Handler(s.writeError, http.HandlerFunc(s.versions)))
	mux.Handle("GET /key-manager/{$}", microversions.Handler(s.writeError, http.HandlerFunc(s.versions)))
	mux.Handle("GET /key-manager/v1", s.handle(s.version))
	mux.Handle("GET /key-manager/v1/{$}", s.handle(s.version))
	routes := []struct {
		method, path string
		h            handler
	}{
		{"POST", "/secrets", s.createSecret},
		{"GET", "/secrets", s.listSecrets},
		{"GET", "/secrets/{id}", s.getSecret},
		{"PUT", "/secrets/{id}", s.putPayload},
		{"DELETE", "/secrets/{id}", s.deleteSecret},
		{"GET", "/secrets/{id}/payload", s.getPayload},
		{"GET", "/secrets/{id}/metadata", s.getMetadata},
		{"PUT", "/secrets/{id}/metadata", s.putMetadata},
		{"POST", "/secrets/{id}/metadata", s.addMetadatum},
		{"GET", "/secrets/{id}/metadata/{key}", s.getMetadatum},
		{"PUT", "/secrets/{id}/metadata/{key}", s.putMetadatum},
		{"DELETE", "/secrets/{id}/metadata/{key}", s.deleteMetadatum},
		{"POST", "/containers", s.createContainer},
		{"GET", "/containers", s.listContainers},
		{"GET", "/containers/{id}", s.getContainer},
		{"DELETE", "/containers/{id}", s.deleteContainer},
		{"POST", "/containers/{id}/secrets", s.addContainerSecret},
		{"DELETE", "/containers/{id}/secrets", s.removeContainerSecret},
		{"GET", "/containers/{id}/consumers", s.listConsumers},
		{"POST", "/containers/{id}/consumers", s.addConsumer},
		{"DELETE", "/containers/{id}/consumers", s.removeConsumer},
		{"POST", "/orders", s.createOrder},
		{"GET", "/orders", s.listOrders},
		{"GET", "/orders/{id}", s.getOrder},
		{"DELETE", "/orders/{id}", s.deleteOrder},
	}
	// barbicanclient writes collections with a trailing slash ("secrets/").
	for _, rt := range routes {
		mux.Handle(rt.method+" /key-manager/v1"+rt.path, s.handle(rt.h))
		mux.Handle(rt.method+" /key-manager/v1"+rt.path+"/{$}", s.handle(rt.h))
	}
	// What sov does not offer answers 501 in Barbican's format: per-user
	// ACLs, secret consumers (API 1.1), certificate authorities, quotas,
	// secret stores and transport keys.
	for _, p := range []string{"/secrets/{id}/acl", "/containers/{id}/acl", "/secrets/{id}/consumers", "/cas", "/cas/{rest...}",
		"/quotas", "/project-quotas", "/project-quotas/{rest...}", "/secret-stores", "/secret-stores/{rest...}", "/transport_keys", "/transport_keys/{rest...}"} {
		mux.Handle("/key-manager/v1"+p, s.handle(func(q *request) error {
			return errorf(http.StatusNotImplemented, "Not implemented by sov's key manager.")
		}))
	}
}

func (s *Service) versionView() map[string]any {
	return map[string]any{"id": "v1", "status": "stable",
		"links": []map[string]string{{"rel": "self", "href": s.url + "/v1/"},
			{"rel": "describedby", "type": "text/html", "href": "https://docs.openstack.org/"}},
		"media-types": []map[string]string{{"base": "application/json", "type": "application/vnd.openstack.key-manager-v1+json"}}}
}

func (s *Service) versions(w http.ResponseWriter, r *http.Request) {
	httpapi.WriteJSON(w, http.StatusMultipleChoices, map[string]any{"versions": map[string]any{"values": []map[string]any{s.versionView()}}})
}

func (s *Service) version(q *request) error {
	httpapi.WriteJSON(q.w, http.StatusOK, map[string]any{"version": s.versionView()})
	return nil
}

// barbicanTime is how Barbican writes times (UTC, no zone).
func barbicanTime(micros int64) string {
	return time.UnixMicro(micros).UTC().Format("2006-01-02T15:04:05.000000")
}

func now() int64 { return time.Now().UnixMicro() }
