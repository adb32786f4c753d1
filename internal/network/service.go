package network

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/sovcloud/sov/internal/httpapi"
	"github.com/sovcloud/sov/internal/network/dataplane"
	"github.com/sovcloud/sov/internal/network/fake"
	"github.com/sovcloud/sov/internal/network/linux"
	"github.com/sovcloud/sov/internal/service"
	"github.com/sovcloud/sov/internal/store"
)

const (
	availabilityZone = "nova"
	dnsDomain        = "openstacklocal."
	retryInterval    = 10 * time.Second
)

// Config configures the network service.
type Config struct {
	// DataDir holds the data plane's state files.
	DataDir string
	// Drivers names the data plane: "" (linux) or "fake" (in memory, for API tests).
	Drivers string
	// ExternalCIDR is the subnet of the external network made at a cloud's
	// first start (DefaultExternalCIDR when invalid).
	ExternalCIDR netip.Prefix
	// ExternalGateway is that subnet's gateway (its first address when
	// invalid); ExternalPool its addresses for router gateways and
	// floating IPs (all but the gateway when either end is invalid).
	ExternalGateway netip.Addr
	ExternalPool    [2]netip.Addr
	// ExternalInterface, when set, is the host interface the flat network
	// of the external physical network is bridged to: that network is then
	// the real network on the interface, its gateway the real one, instead
	// of host-local.
	ExternalInterface string
}

// Service serves the Neutron v2.0 API: networks, subnets and ports with
// IP address management, security groups and their rules, the default
// rules of new groups, routers, floating IPs, network RBAC, quotas and tags.
type Service struct {
	cfg       Config
	admin     AdminProject
	db        *store.DB
	dataplane dataplane.Driver
	applies   *coalescer // the data plane applies in flight
	pending   pending    // networks to set again
	// pendingRouters are the routers to set again.
	pendingRouters pending

	instancesMu sync.Mutex
	instances   Instances // the metadata service's answers

	identity  httpapi.Authenticator
	log       *slog.Logger
	url       string // e.g. http://127.0.0.1:5000/network
	publicURL string // the API listener's, e.g. http://127.0.0.1:5000
}

// New returns the network service on the data plane cfg names.
func New(cfg Config, db *store.DB, publicURL string, id httpapi.Authenticator, admin AdminProject, engines linux.Engines, log *slog.Logger) (*Service, error) {
	s := &Service{cfg: cfg, admin: admin, db: db, identity: id, log: log, url: publicURL + "/network", publicURL: publicURL, applies: newCoalescer()}
	switch cfg.Drivers {
	case "":
		d, err := linux.Open(filepath.Join(cfg.DataDir, "network"), engines, s)
		if err != nil {
			return nil, err
		}
		s.dataplane = d
	case "fake":
		s.dataplane = fake.NewDataplane()
	default:
		return nil, fmt.Errorf("network: unknown drivers %q", cfg.Drivers)
	}
	return s, nil
}

// Dataplane is the driver the service sets networks on.
func (s *Service) Dataplane() dataplane.Driver { return s.dataplane }

// Name is the service's name.
func (s *Service) Name() string { return "network" }

// Catalog is the network endpoint.
func (s *Service) Catalog() []service.CatalogEntry {
	return []service.CatalogEntry{{Type: "network", Name: "neutron", URL: s.url}}
}

// Start stores the default security group rules and makes the external
// network of a new cloud, then sets every network and router on the data
// plane and prunes what none names.
func (s *Service) Start(ctx context.Context) error {
	if err := s.bootstrapDefaultRules(ctx); err != nil {
		return err
	}
	if err := s.bootstrapExternal(ctx); err != nil {
		return err
	}
	return s.reconcile(ctx)
}

// Close leaves the data plane running for the next start.
func (s *Service) Close(context.Context) error { return s.dataplane.Close() }

type handler func(q *request) error

// authed runs h for a caller with a project-scoped token.
func (s *Service) authed(h handler) http.Handler {
	return httpapi.RequireProject(s.identity, fail(http.StatusForbidden, "HTTPForbidden", "The network API needs a project-scoped token."), s.writeError,
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			q := &request{w: w, r: r, creds: httpapi.CredentialsFrom(r.Context())}
			if err := h(q); err != nil {
				s.writeError(w, r, err)
			}
		}))
}

// Register adds the network API to mux under /network.
func (s *Service) Register(mux *http.ServeMux) {
	api := http.NewServeMux()
	api.HandleFunc("GET /network", s.versions)
	api.HandleFunc("GET /network/{$}", s.versions)
	api.Handle("GET /network/v2.0", s.authed(s.resources))
	api.Handle("GET /network/v2.0/{$}", s.authed(s.resources))
	api.Handle("GET /network/v2.0/extensions", s.authed(s.listExtensions))
	api.Handle("GET /network/v2.0/extensions/{alias}", s.authed(s.showExtension))
	api.Handle("GET /network/v2.0/availability_zones", s.authed(s.availabilityZones))
	for _, r := range []struct {
		collection                       string
		list, create, show, update, drop handler
	}{
		{"networks", s.listNetworks, s.createNetwork, s.showNetwork, s.updateNetwork, s.deleteNetwork},
		{"subnets", s.listSubnets, s.createSubnet, s.showSubnet, s.updateSubnet, s.deleteSubnet},
		{"ports", s.listPorts, s.createPort, s.showPort, s.updatePort, s.deletePort},
		{"security-groups", s.listGroups, s.createGroup, s.showGroup, s.updateGroup, s.deleteGroup},
		{"security-group-rules", s.listRules, s.createRule, s.showRule, nil, s.deleteRule},
		{"default-security-group-rules", s.listDefaultRules, s.createDefaultRule, s.showDefaultRule, nil, s.deleteDefaultRule},
		{"rbac-policies", s.listRBAC, s.createRBAC, s.showRBAC, nil, s.deleteRBAC},
		{"routers", s.listRouters, s.createRouter, s.showRouter, s.updateRouter, s.deleteRouter},
		{"floatingips", s.listFloating, s.createFloating, s.showFloating, s.updateFloating, s.deleteFloating},
	} {
		base := "/network/v2.0/" + r.collection
		api.Handle("GET "+base, s.authed(r.list))
		api.Handle("POST "+base, s.authed(r.create))
		api.Handle("GET "+base+"/{id}", s.authed(r.show))
		if r.update != nil {
			api.Handle("PUT "+base+"/{id}", s.authed(r.update))
		}
		api.Handle("DELETE "+base+"/{id}", s.authed(r.drop))
	}
	api.Handle("PUT /network/v2.0/routers/{id}/add_router_interface", s.authed(s.addInterface))
	api.Handle("PUT /network/v2.0/routers/{id}/remove_router_interface", s.authed(s.removeInterface))
	api.Handle("GET /network/v2.0/{collection}/{id}/tags", s.authed(s.tags))
	api.Handle("PUT /network/v2.0/{collection}/{id}/tags", s.authed(s.tags))
	api.Handle("DELETE /network/v2.0/{collection}/{id}/tags", s.authed(s.tags))
	api.Handle("GET /network/v2.0/{collection}/{id}/tags/{tag}", s.authed(s.tags))
	api.Handle("PUT /network/v2.0/{collection}/{id}/tags/{tag}", s.authed(s.tags))
	api.Handle("DELETE /network/v2.0/{collection}/{id}/tags/{tag}", s.authed(s.tags))
	api.Handle("GET /network/v2.0/quotas", s.authed(s.listQuotas))
	api.Handle("GET /network/v2.0/quotas/{project}", s.authed(s.showQuota))
	api.Handle("PUT /network/v2.0/quotas/{project}", s.authed(s.updateQuota))
	api.Handle("DELETE /network/v2.0/quotas/{project}", s.authed(s.deleteQuota))
	api.Handle("GET /network/v2.0/quotas/{project}/details", s.authed(s.showQuotaDetails))
	api.Handle("GET /network/v2.0/quotas/{project}/default", s.authed(s.showDefaultQuota))
	api.Handle("GET /network/v2.0/network-ip-availabilities", s.authed(s.listIPAvailability))
	api.Handle("GET /network/v2.0/network-ip-availabilities/{id}", s.authed(s.showIPAvailability))
	api.HandleFunc("/network/", func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, r, fail(http.StatusNotFound, "HTTPNotFound", "The resource could not be found."))
	})
	// Neutron also answers every path with a ".json" suffix.
	mux.Handle("/network", api)
	mux.Handle("/network/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, ".json") {
			r2 := r.Clone(r.Context())
			r2.URL.Path = strings.TrimSuffix(r.URL.Path, ".json")
			r2.URL.RawPath = ""
			r = r2
		}
		api.ServeHTTP(w, r)
	}))
}

func (s *Service) versions(w http.ResponseWriter, r *http.Request) {
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"versions": []map[string]any{{
		"id": "v2.0", "status": "CURRENT", "links": []map[string]string{{"rel": "self", "href": s.url + "/v2.0/"}},
	}}})
}

func (s *Service) resources(q *request) error {
	var out []map[string]any
	for _, c := range []struct{ name, collection string }{
		{"network", "networks"}, {"subnet", "subnets"}, {"port", "ports"}, {"security_group", "security-groups"},
		{"security_group_rule", "security-group-rules"}, {"rbac_policy", "rbac-policies"}, {"router", "routers"}, {"floatingip", "floatingips"},
	} {
		out = append(out, map[string]any{"name": c.name, "collection": c.collection,
			"links": []map[string]string{{"rel": "self", "href": s.url + "/v2.0/" + c.collection}}})
	}
	httpapi.WriteJSON(q.w, http.StatusOK, map[string]any{"resources": out})
	return nil
}

// extensions are the Neutron API extensions sov has, as aliases and names.
var extensions = []struct{ alias, name, description string }{
	{"allowed-address-pairs", "Allowed Address Pairs", "Provides allowed address pairs"},
	{"availability_zone", "Availability Zone", "The availability zone extension."},
	{"binding", "Port Binding", "Expose port bindings of a virtual port to external application"},
	{"dns-integration", "DNS Integration", "Provides integration with DNS."},
	{"empty-string-filtering", "Empty String Filtering Extension", "Allow filtering by attributes with empty string value"},
	{"external-net", "Neutron external network", "Adds external network attribute to network resource."},
	{"ext-gw-mode", "Neutron L3 Configurable external gateway mode", "Extension of the router abstraction for specifying whether SNAT should occur on the external gateway"},
	{"extraroute", "Neutron Extra Route", "Extra routes configuration for L3 router"},
	{"fip-port-details", "Floating IP Port Details Extension", "Add port_details attribute to Floating IP resource"},
	{"fields", "Fields", "Ability to select only the fields a response shows."},
	{"filter-validation", "Filter parameters validation", "Provides validation on filter parameters."},
	{"network-ip-availability", "Network IP Availability", "Provides IP availability data for each network and subnet."},
	{"network_availability_zone", "Network Availability Zone", "Availability zone support for network."},
	{"net-mtu", "Network MTU", "Provides MTU attribute for a network resource."},
	{"net-mtu-writable", "Network MTU (writable)", "Provides a writable MTU attribute for a network resource."},
	{"pagination", "Pagination support", "Extension that indicates that pagination is enabled."},
	{"port-security", "Port Security", "Provides port security"},
	{"project-id", "project_id field enabled", "Extension that indicates that project_id field is enabled."},
	{"provider", "Provider Network", "Expose mapping of virtual networks to physical networks"},
	{"quotas", "Quota management support", "Expose functions for quotas management per project"},
	{"quota_details", "Quota details management support", "Expose functions for quotas usage statistics per project"},
	{"router", "Neutron L3 Router", "Router abstraction for basic L3 forwarding between L2 Neutron networks and access to external networks via a NAT gateway."},
	{"router_availability_zone", "Router Availability Zone", "Availability zone support for router."},
	{"rbac-policies", "RBAC Policies", "Allows creation and modification of policies that control tenant access to resources."},
	{"security-group", "security-group", "The security groups extension."},
	{"security-groups-default-rules", "Default rules for security groups", "Configure set of security group rules used as default rules for every new security group."},
	{"sorting", "Sorting support", "Extension that indicates that sorting is enabled."},
	{"standard-attr-description", "standard-attr-description", "Extension to add descriptions to standard attributes"},
	{"standard-attr-revisions", "Resource revision numbers", "This extension will display the revision number of neutron resources."},
	{"standard-attr-tag", "Tag support for resources with standard attribute: subnet, trunk, network_segment_range, router, network, policy, subnetpool, port, security_group, floatingip", "Enables to set tag on resources with standard attribute."},
	{"standard-attr-timestamp", "Resource timestamps", "Adds created_at and updated_at fields to all Neutron resources that have Neutron standard attributes."},
	{"stateful-security-group", "Stateful security group", "Indicates if the security group is stateful or not"},
	{"tag-creation", "Tag creation extension", "Allow to set tags on resource creation."},
}

func extensionView(alias, name, description string) map[string]any {
	return map[string]any{"alias": alias, "name": name, "description": description, "updated": "2024-01-01T00:00:00-00:00", "links": []any{}}
}

func (s *Service) listExtensions(q *request) error {
	var out []map[string]any
	for _, e := range extensions {
		out = append(out, extensionView(e.alias, e.name, e.description))
	}
	httpapi.WriteJSON(q.w, http.StatusOK, map[string]any{"extensions": out})
	return nil
}

func (s *Service) showExtension(q *request) error {
	alias := q.r.PathValue("alias")
	for _, e := range extensions {
		if e.alias == alias {
			httpapi.WriteJSON(q.w, http.StatusOK, map[string]any{"extension": extensionView(e.alias, e.name, e.description)})
			return nil
		}
	}
	return fail(http.StatusNotFound, "HTTPNotFound", "Extension with alias %s does not exist", alias)
}

func (s *Service) availabilityZones(q *request) error {
	httpapi.WriteJSON(q.w, http.StatusOK, map[string]any{"availability_zones": []map[string]string{
		{"name": availabilityZone, "resource": "network", "state": "available"},
	}})
	return nil
}
