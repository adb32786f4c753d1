// Package loadbalancer serves the load balancer API (Octavia v2) under
// /load-balancer: load balancers with a VIP on a tenant network,
// listeners, pools, members and health monitors, their provisioning and
// operating statuses, stats, status trees and quotas. A load balancer's
// changes are set on its data plane (package provider's Driver: HAProxy,
// or a fake) in the background, one at a time per load balancer, while it
// is PENDING_*; its VIP is a port the network makes (Network).
package loadbalancer

import (
	"context"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/sovcloud/sov/internal/httpapi"
	"github.com/sovcloud/sov/internal/loadbalancer/fake"
	"github.com/sovcloud/sov/internal/loadbalancer/haproxy"
	"github.com/sovcloud/sov/internal/loadbalancer/provider"
	"github.com/sovcloud/sov/internal/network"
	"github.com/sovcloud/sov/internal/ops"
	"github.com/sovcloud/sov/internal/policy"
	"github.com/sovcloud/sov/internal/service"
	"github.com/sovcloud/sov/internal/store"
)

// providerName is the one provider sov offers.
const providerName = "sov"

// maxBody is the largest request body the API reads.
const maxBody = 1 << 20

// Config configures the load balancer service.
type Config struct {
	DataDir string
	// Driver is the data plane: "" for HAProxy, "fake" for API tests.
	Driver string
	// HealthInterval is how often members' health is read (0: 2 s).
	HealthInterval time.Duration
}

// Network is what the load balancer asks of the network service.
type Network interface {
	CreateVIP(ctx context.Context, c *policy.Credentials, req network.VIPRequest) (*network.VIP, error)
	PlugVIP(ctx context.Context, lb string, listeners []network.VIPListener) error
	ReleaseVIP(ctx context.Context, lb string, made bool) error
	SubnetUsable(ctx context.Context, c *policy.Credentials, id string) error
}

// KeyManager reads the certificates of TLS-terminating listeners from
// their project's key manager (keymanager.Service).
type KeyManager interface {
	TLSBundle(ctx context.Context, project, ref string) ([]byte, error)
}

// Service serves the Octavia v2 API.
type Service struct {
	db        *store.DB
	net       Network
	keys      KeyManager
	driver    provider.Driver
	ops       *ops.Runner
	identity  httpapi.Authenticator
	log       *slog.Logger
	url       string // the API's public URL
	public    string // the listener's
	interval  time.Duration
	inflight  counter    // changes scheduled and not yet settled, by load balancer
	repairing sync.Map   // load balancers whose data plane is being set again
	statsMu   sync.Mutex // one update of the kept counters at a time
	// Fake is the fake data plane when Config.Driver is "fake".
	Fake *fake.Driver
}

// New returns the load balancer service.
func New(cfg Config, db *store.DB, publicURL string, id httpapi.Authenticator, net Network, keys KeyManager, engines haproxy.Engines, log *slog.Logger) (*Service, error) {
	s := &Service{db: db, net: net, keys: keys, ops: ops.New(db, "loadbalancer", log), identity: id, log: log,
		url: publicURL + "/load-balancer", public: publicURL, interval: cfg.HealthInterval}
	if s.interval == 0 {
		s.interval = 2 * time.Second
	}
	switch cfg.Driver {
	case "fake":
		s.Fake = fake.New()
		s.driver = s.Fake
	default:
		d, err := haproxy.New(filepath.Join(cfg.DataDir, "loadbalancers"), engines)
		if err != nil {
			return nil, err
		}
		s.driver = d
	}
	return s, nil
}

// Name is the service's name.
func (s *Service) Name() string { return "load-balancer" }

// Catalog is the load balancer's endpoint; clients add /v2 themselves.
func (s *Service) Catalog() []service.CatalogEntry {
	return []service.CatalogEntry{{Type: "load-balancer", Name: "octavia", URL: s.url}}
}

// Close waits for the changes in flight; the HAProxies keep running.
func (s *Service) Close(context.Context) error {
	s.ops.Wait()
	return nil
}

// writeError writes Octavia's fault: {"faultcode", "faultstring", "debuginfo"}.
func (s *Service) writeError(w http.ResponseWriter, r *http.Request, err error) {
	p := httpapi.Classify(err)
	msg := p.Message
	switch {
	case p.Denied != "":
		msg = "Policy does not allow this request to be performed."
	case msg != "":
	case p.Status == http.StatusNotFound:
		msg = "Not Found"
	case p.Status == http.StatusConflict:
		msg = "What the request names changed meanwhile; try again."
	case p.Status == http.StatusServiceUnavailable:
		msg = "The service is unavailable."
	default:
		s.log.Error("load-balancer: internal error", "request_id", httpapi.RequestID(r.Context()), "err", err)
		msg = "Internal server error. Request id: " + httpapi.RequestID(r.Context())
	}
	code := "Client"
	if p.Status >= 500 {
		code = "Server"
	}
	httpapi.WriteJSON(w, p.Status, map[string]any{"faultcode": code, "faultstring": msg, "debuginfo": nil})
}

func errorf(code int, format string, a ...any) error { return httpapi.Errorf(code, format, a...) }

// notFound is Octavia's NotFound: "<Resource> <id> could not be found."
func notFound(resource, id string) error {
	return errorf(http.StatusNotFound, "%s %s could not be found.", resource, id)
}

// immutable is Octavia's 409 for a load balancer with a change in flight.
func immutable(id string) error {
	return errorf(http.StatusConflict, "Load Balancer %s is immutable and cannot be updated.", id)
}

// request carries what every handler needs.
type request struct {
	w     http.ResponseWriter
	r     *http.Request
	creds *policy.Credentials
	db    *store.DB
	base  string // the listener's public URL, before the path
}

func (q *request) ctx() context.Context { return q.r.Context() }

// enforce checks Octavia's rule os_load-balancer_api:<action> on a
// resource of project.
func (q *request) enforce(action, project string) error {
	return policy.Enforce(q.creds, "os_load-balancer_api:"+action, policy.Target{ProjectID: project})
}

func (q *request) admin() bool { return q.creds.HasRole(policy.Admin) }

// scope is the condition of the rows the caller sees: an admin all, else
// its project's.
func (q *request) scope() (string, []any) {
	if q.admin() {
		return "1 = 1", nil
	}
	return "project_id = ?", []any{q.creds.ProjectID}
}

type handler func(q *request) error

func (s *Service) handle(h handler) http.Handler {
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		q := &request{w: w, r: r, creds: httpapi.CredentialsFrom(r.Context()), db: s.db, base: s.public}
		if err := h(q); err != nil {
			s.writeError(w, r, err)
		}
	})
	return httpapi.RequireProject(s.identity, errorf(http.StatusForbidden, "The load balancer API needs a project-scoped token."), s.writeError, inner)
}

// Register adds the Octavia v2 API to mux under /load-balancer (as
// /v2/lbaas/... and /v2.0/lbaas/...).
func (s *Service) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /load-balancer", s.versions)
	mux.HandleFunc("GET /load-balancer/{$}", s.versions)
	routes := []struct {
		method, path string
		h            handler
	}{
		{"GET", "/loadbalancers", s.listLBs},
		{"POST", "/loadbalancers", s.createLB},
		{"GET", "/loadbalancers/{id}", s.showLB},
		{"PUT", "/loadbalancers/{id}", s.updateLB},
		{"DELETE", "/loadbalancers/{id}", s.deleteLB},
		{"GET", "/loadbalancers/{id}/stats", s.lbStats},
		{"GET", "/loadbalancers/{id}/status", s.lbStatus},
		{"PUT", "/loadbalancers/{id}/failover", s.failoverLB},
		{"GET", "/listeners", s.listListeners},
		{"POST", "/listeners", s.createListener},
		{"GET", "/listeners/{id}", s.showListener},
		{"PUT", "/listeners/{id}", s.updateListener},
		{"DELETE", "/listeners/{id}", s.deleteListener},
		{"GET", "/listeners/{id}/stats", s.listenerStats},
		{"GET", "/pools", s.listPools},
		{"POST", "/pools", s.createPool},
		{"GET", "/pools/{id}", s.showPool},
		{"PUT", "/pools/{id}", s.updatePool},
		{"DELETE", "/pools/{id}", s.deletePool},
		{"GET", "/pools/{id}/members", s.listMembers},
		{"POST", "/pools/{id}/members", s.createMember},
		{"PUT", "/pools/{id}/members", s.batchMembers},
		{"GET", "/pools/{id}/members/{member}", s.showMember},
		{"PUT", "/pools/{id}/members/{member}", s.updateMember},
		{"DELETE", "/pools/{id}/members/{member}", s.deleteMember},
		{"GET", "/healthmonitors", s.listMonitors},
		{"POST", "/healthmonitors", s.createMonitor},
		{"GET", "/healthmonitors/{id}", s.showMonitor},
		{"PUT", "/healthmonitors/{id}", s.updateMonitor},
		{"DELETE", "/healthmonitors/{id}", s.deleteMonitor},
		{"GET", "/l7policies", s.listPolicies},
		{"POST", "/l7policies", s.createPolicy},
		{"GET", "/l7policies/{id}", s.showPolicy},
		{"PUT", "/l7policies/{id}", s.updatePolicy},
		{"DELETE", "/l7policies/{id}", s.deletePolicy},
		{"GET", "/l7policies/{id}/rules", s.listRules},
		{"POST", "/l7policies/{id}/rules", s.createRule},
		{"GET", "/l7policies/{id}/rules/{rule}", s.showRule},
		{"PUT", "/l7policies/{id}/rules/{rule}", s.updateRule},
		{"DELETE", "/l7policies/{id}/rules/{rule}", s.deleteRule},
		{"GET", "/providers", s.listProviders},
		{"GET", "/providers/{name}/flavor_capabilities", s.providerCapabilities},
		{"GET", "/providers/{name}/availability_zone_capabilities", s.providerCapabilities},
		{"GET", "/flavors", s.emptyList("flavors")},
		{"GET", "/flavorprofiles", s.emptyList("flavorprofiles")},
		{"GET", "/availabilityzones", s.emptyList("availability_zones")},
		{"GET", "/availabilityzoneprofiles", s.emptyList("availability_zone_profiles")},
		{"GET", "/quotas", s.listQuotas},
		{"GET", "/quotas/defaults", s.defaultQuotas},
		{"GET", "/quotas/{project}", s.showQuota},
		{"PUT", "/quotas/{project}", s.updateQuota},
		{"DELETE", "/quotas/{project}", s.deleteQuota},
	}
	for _, v := range []string{"/v2", "/v2.0"} {
		for _, rt := range routes {
			mux.Handle(rt.method+" /load-balancer"+v+"/lbaas"+rt.path, s.handle(rt.h))
		}
		// What the sov provider does not offer answers Octavia's 501
		// ProviderNotImplementedError: amphorae, and flavors or zones
		// of its own.
		// gophercloud asks for quotas without lbaas/.
		for _, rt := range routes {
			if strings.HasPrefix(rt.path, "/quotas") {
				mux.Handle(rt.method+" /load-balancer"+v+rt.path, s.handle(rt.h))
			}
		}
		for _, p := range []string{"/octavia/amphorae", "/octavia/amphorae/{rest...}"} {
			mux.Handle("/load-balancer"+v+p, s.handle(s.unsupported("amphorae")))
		}
		for _, p := range []string{"/lbaas/flavors", "/lbaas/flavorprofiles", "/lbaas/availabilityzones", "/lbaas/availabilityzoneprofiles"} {
			mux.Handle("POST /load-balancer"+v+p, s.handle(s.unsupported("flavors and availability zones")))
		}
	}
}

// unsupported answers Octavia's ProviderNotImplementedError.
func (s *Service) unsupported(what string) handler {
	return func(q *request) error {
		return errorf(http.StatusNotImplemented, "Provider '%s' does not support a requested action: This provider does not support %s.", providerName, what)
	}
}

// versions lists the API's versions, as Octavia's root does.
func (s *Service) versions(w http.ResponseWriter, r *http.Request) {
	var vs []map[string]any
	for i, v := range apiVersions {
		status := "SUPPORTED"
		if i == len(apiVersions)-1 {
			status = "CURRENT"
		}
		vs = append(vs, map[string]any{"id": v, "status": status, "updated": "2023-01-01T00:00:00Z",
			"links": []map[string]string{{"href": s.url + "/v2", "rel": "self"}}})
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"versions": vs})
}

// apiVersions are the Octavia API versions sov answers as (those whose
// features it has; listing them lets clients use what came with each).
var apiVersions = []string{"v2.0", "v2.1", "v2.2", "v2.3", "v2.4", "v2.5", "v2.6", "v2.7", "v2.8", "v2.9", "v2.10",
	"v2.11", "v2.12", "v2.13", "v2.14", "v2.15", "v2.16", "v2.17", "v2.18", "v2.19", "v2.20", "v2.21", "v2.22", "v2.23",
	"v2.24", "v2.25"}

func (s *Service) listProviders(q *request) error {
	if err := q.enforce("provider:get_all", q.creds.ProjectID); err != nil {
		return err
	}
	httpapi.WriteJSON(q.w, http.StatusOK, map[string]any{"providers": []map[string]string{
		{"name": providerName, "description": "sov: HAProxy in a network namespace on the VIP's network."}}})
	return nil
}

func (s *Service) providerCapabilities(q *request) error {
	if err := q.enforce("provider:get_all", q.creds.ProjectID); err != nil {
		return err
	}
	if q.r.PathValue("name") != providerName {
		return errorf(http.StatusBadRequest, "Provider '%s' is not enabled.", q.r.PathValue("name"))
	}
	key := "flavor_capabilities"
	if strings.Contains(q.r.URL.Path, "availability_zone") {
		key = "availability_zone_capabilities"
	}
	httpapi.WriteJSON(q.w, http.StatusOK, map[string]any{key: []any{}})
	return nil
}

// emptyList answers a list sov has nothing in (flavors, zones).
func (s *Service) emptyList(collection string) handler {
	return func(q *request) error {
		if err := q.enforce("provider:get_all", q.creds.ProjectID); err != nil {
			return err
		}
		httpapi.WriteJSON(q.w, http.StatusOK, map[string]any{collection: []any{}, collection + "_links": []any{}})
		return nil
	}
}

// octaviaTime is how Octavia writes times.
func octaviaTime(unix int64) string { return time.Unix(unix, 0).UTC().Format("2006-01-02T15:04:05") }
