// Package placement serves the Placement API under /placement: resource
// providers (each compute host registers itself) with inventories of
// resource classes, traits and aggregates; allocations of consumers
// (servers) against them, refused beyond capacity; usages and allocation
// candidates. Compute claims a server's resources through its Go API
// (claims.go) before it builds the server.
package placement

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/sovcloud/sov/internal/httpapi"
	"github.com/sovcloud/sov/internal/policy"
	"github.com/sovcloud/sov/internal/service"
	"github.com/sovcloud/sov/internal/store"
)

// microversions are the Placement versions sov speaks (what each adds:
// docs/placement.md).
var microversions = httpapi.Microversions{Service: "placement", Major: 1, Min: 0, Max: 29}

// Service serves the Placement API.
type Service struct {
	db       *store.DB
	identity httpapi.Authenticator
	log      *slog.Logger
	url      string // e.g. http://127.0.0.1:5000/placement
}

// New returns the placement service.
func New(db *store.DB, publicURL string, id httpapi.Authenticator, log *slog.Logger) *Service {
	return &Service{db: db, identity: id, log: log, url: publicURL + "/placement"}
}

// Name is the service's name.
func (s *Service) Name() string { return "placement" }

// Catalog is the placement endpoint.
func (s *Service) Catalog() []service.CatalogEntry {
	return []service.CatalogEntry{{Type: "placement", Name: "placement", URL: s.url}}
}

// apiError is an error with Placement's error code.
type apiError struct {
	status    int
	msg, code string
}

func (e *apiError) Error() string   { return e.msg }
func (e *apiError) HTTPStatus() int { return e.status }

// Error codes of Placement's errors.
const (
	codeUndefined        = "placement.undefined_code"
	codeConcurrentUpdate = "placement.concurrent_update"
	codeInventoryInUse   = "placement.inventory.inuse"
	codeDuplicateName    = "placement.duplicate_name"
	codeBadValue         = "placement.query.bad_value"
	codeMissingValue     = "placement.query.missing_value"
)

func errorf(status int, code, format string, a ...any) error {
	return &apiError{status: status, msg: fmt.Sprintf(format, a...), code: code}
}

// badRequest is a 400 of the undefined code, Placement's usual one.
func badRequest(format string, a ...any) error {
	return errorf(http.StatusBadRequest, codeUndefined, format, a...)
}

// explanations are what Placement's errors (WebOb's) say before their message.
var explanations = map[int]string{
	http.StatusBadRequest:    "The server could not comply with the request since it is either malformed or otherwise incorrect.",
	http.StatusForbidden:     "Access was denied to this resource.",
	http.StatusNotFound:      "The resource could not be found.",
	http.StatusConflict:      "There was a conflict when trying to complete your request.",
	http.StatusNotAcceptable: "The resource could not be generated that was acceptable to your browser (content of type application/json.",
}

// writeError writes Placement's {"errors": [{"status", "title", "detail",
// "request_id", "code" (1.23)}]}, the detail as WebOb words it; a 406 for
// the version names the versions there are.
func (s *Service) writeError(w http.ResponseWriter, r *http.Request, err error) {
	p := httpapi.Classify(err)
	code := codeUndefined
	var ae *apiError
	if errors.As(err, &ae) {
		code = ae.code
	}
	detail := p.Message
	switch {
	case p.Denied != "":
		detail = "Policy does not allow " + p.Denied + " to be performed."
	case detail != "", p.Status == http.StatusNotFound, p.Status == http.StatusConflict:
	default:
		s.log.Error("placement: internal error", "request_id", httpapi.RequestID(r.Context()), "err", err)
		detail = "Unexpected error. Request id: " + httpapi.RequestID(r.Context())
	}
	if e, ok := explanations[p.Status]; ok {
		detail = e + "\n\n " + detail + "  "
	}
	body := map[string]any{"status": p.Status, "title": http.StatusText(p.Status), "detail": detail, "request_id": httpapi.RequestID(r.Context())}
	if httpapi.Minor(r) >= 23 {
		body["code"] = code
	}
	if p.Status == http.StatusNotAcceptable {
		body["min_version"], body["max_version"] = microversions.String(microversions.Min), microversions.String(microversions.Max)
	}
	httpapi.WriteJSON(w, p.Status, map[string]any{"errors": []map[string]any{body}})
}

// request carries what every handler needs.
type request struct {
	w     http.ResponseWriter
	r     *http.Request
	creds *policy.Credentials
	minor int // the negotiated microversion 1.<minor>
}

func (q *request) atLeast(minor int) bool { return q.minor >= minor }

type handler func(q *request) error

// handle authenticates a request and checks Placement's policy: the
// admin's, but a project's usages, which its readers see too.
func (s *Service) handle(action string, h handler) http.Handler {
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := &request{w: w, r: r, creds: httpapi.CredentialsFrom(r.Context()), minor: httpapi.Minor(r)}
		target := q.creds.ProjectID
		if action == "usages" {
			target = r.URL.Query().Get("project_id") // a project's reader reads its own usages
		}
		if err := policy.Enforce(q.creds, "placement:"+action, policy.Target{ProjectID: target}); err != nil {
			s.writeError(w, r, err)
			return
		}
		if err := h(q); err != nil {
			s.writeError(w, r, err)
		}
	})
	return microversions.Handler(s.writeError,
		httpapi.RequireProject(s.identity, errorf(http.StatusForbidden, codeUndefined, "Placement needs a project-scoped token."), s.writeError, inner))
}

// route is one route of the API, at or after a microversion.
type route struct {
	method, path, action string
	since                int
	h                    handler
}

// Register adds the Placement API to mux under /placement.
func (s *Service) Register(mux *http.ServeMux) {
	root := microversions.Handler(s.writeError, http.HandlerFunc(s.root))
	mux.Handle("GET /placement", root)
	mux.Handle("GET /placement/{$}", root)
	for _, rt := range []route{
		{"GET", "/resource_providers", "resource_providers:list", 0, s.listProviders},
		{"POST", "/resource_providers", "resource_providers:create", 0, s.createProvider},
		{"GET", "/resource_providers/{uuid}", "resource_providers:show", 0, s.showProvider},
		{"PUT", "/resource_providers/{uuid}", "resource_providers:update", 0, s.updateProvider},
		{"DELETE", "/resource_providers/{uuid}", "resource_providers:delete", 0, s.deleteProvider},
		{"GET", "/resource_providers/{uuid}/inventories", "resource_providers:inventories:list", 0, s.listInventories},
		{"PUT", "/resource_providers/{uuid}/inventories", "resource_providers:inventories:update", 0, s.putInventories},
		{"POST", "/resource_providers/{uuid}/inventories", "resource_providers:inventories:create", 0, s.createInventory},
		{"DELETE", "/resource_providers/{uuid}/inventories", "resource_providers:inventories:delete", 5, s.deleteInventories},
		{"GET", "/resource_providers/{uuid}/inventories/{rc}", "resource_providers:inventories:show", 0, s.showInventory},
		{"PUT", "/resource_providers/{uuid}/inventories/{rc}", "resource_providers:inventories:update", 0, s.putInventory},
		{"DELETE", "/resource_providers/{uuid}/inventories/{rc}", "resource_providers:inventories:delete", 0, s.deleteInventory},
		{"GET", "/resource_providers/{uuid}/usages", "resource_providers:usages", 0, s.providerUsages},
		{"GET", "/resource_providers/{uuid}/allocations", "resource_providers:allocations:list", 0, s.providerAllocations},
		{"GET", "/resource_providers/{uuid}/aggregates", "resource_providers:aggregates:list", 1, s.listAggregates},
		{"PUT", "/resource_providers/{uuid}/aggregates", "resource_providers:aggregates:update", 1, s.putAggregates},
		{"GET", "/resource_providers/{uuid}/traits", "resource_providers:traits:list", 6, s.providerTraits},
		{"PUT", "/resource_providers/{uuid}/traits", "resource_providers:traits:update", 6, s.putProviderTraits},
		{"DELETE", "/resource_providers/{uuid}/traits", "resource_providers:traits:delete", 6, s.deleteProviderTraits},
		{"GET", "/resource_classes", "resource_classes:list", 2, s.listClasses},
		{"POST", "/resource_classes", "resource_classes:create", 2, s.createClass},
		{"GET", "/resource_classes/{name}", "resource_classes:show", 2, s.showClass},
		{"PUT", "/resource_classes/{name}", "resource_classes:update", 7, s.putClass},
		{"DELETE", "/resource_classes/{name}", "resource_classes:delete", 2, s.deleteClass},
		{"GET", "/traits", "traits:list", 6, s.listTraits},
		{"GET", "/traits/{name}", "traits:show", 6, s.showTrait},
		{"PUT", "/traits/{name}", "traits:update", 6, s.putTrait},
		{"DELETE", "/traits/{name}", "traits:delete", 6, s.deleteTrait},
		{"GET", "/allocations/{consumer}", "allocations:list", 0, s.showAllocations},
		{"PUT", "/allocations/{consumer}", "allocations:update", 0, s.putAllocations},
		{"DELETE", "/allocations/{consumer}", "allocations:delete", 0, s.deleteAllocations},
		{"POST", "/allocations", "allocations:manage", 13, s.postAllocations},
		{"GET", "/usages", "usages", 9, s.usages},
		{"GET", "/allocation_candidates", "allocation_candidates:list", 10, s.allocationCandidates},
	} {
		rt := rt
		mux.Handle(rt.method+" /placement"+rt.path, s.handle(rt.action, func(q *request) error {
			if !q.atLeast(rt.since) {
				return errorf(http.StatusNotFound, codeUndefined, "The resource could not be found.")
			}
			return rt.h(q)
		}))
	}
	// Reshaping a provider tree (1.30) is beyond what sov speaks.
	mux.Handle("POST /placement/reshaper", s.handle("reshaper:reshape", func(q *request) error {
		return errorf(http.StatusNotImplemented, codeUndefined, "Not implemented by sov's placement: reshaper.")
	}))
}

// root is Placement's version document, answered without a token.
func (s *Service) root(w http.ResponseWriter, r *http.Request) {
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"versions": []map[string]any{{
		"id": "v1.0", "status": "CURRENT", "min_version": microversions.String(microversions.Min), "max_version": microversions.String(microversions.Max),
		"links": []map[string]string{{"rel": "self", "href": ""}}}}})
}
