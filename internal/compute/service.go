// Package compute is sov's Nova v2.1-compatible compute API: flavors (with
// the SCS standard flavors), keypairs and servers on QEMU virtual machines.
package compute

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"

	"github.com/sovcloud/sov/internal/httpapi"
	"github.com/sovcloud/sov/internal/hypervisor"
	"github.com/sovcloud/sov/internal/hypervisor/fake"
	"github.com/sovcloud/sov/internal/hypervisor/qemu"
	"github.com/sovcloud/sov/internal/image"
	"github.com/sovcloud/sov/internal/ops"
	"github.com/sovcloud/sov/internal/policy"
	"github.com/sovcloud/sov/internal/service"
	"github.com/sovcloud/sov/internal/store"
)

// Config configures the compute service.
type Config struct {
	// DataDir holds instance directories and cached base images.
	DataDir string
	// Accel is the QEMU accelerator: tcg, kvm or auto.
	Accel string
	// Drivers names the hypervisor: "" (QEMU) or "fake" (an in-memory
	// one that runs nothing, for API tests).
	Drivers string
}

// Service serves the compute API.
type Service struct {
	cfg      Config
	db       *store.DB
	identity httpapi.Authenticator
	images   Images
	ports    Ports
	volumes  Volumes
	// placement holds the host's provider (uuid provider) and the claims
	// of its servers.
	placement Placement
	provider  string
	driver    hypervisor.Driver
	log       *slog.Logger
	url       string // e.g. http://127.0.0.1:5000/compute
	// publicURL is the API listener's, e.g. http://127.0.0.1:5000.
	publicURL string
	ops       *ops.Runner // the servers' lifecycle operations and their record
}

// Images is what compute needs of the image service: the boot image a
// caller may use, and an image by id (a kernel, a ramdisk, a server's own).
type Images interface {
	ForBoot(ctx context.Context, c *policy.Credentials, id string) (*image.BootImage, error)
	ForBootID(ctx context.Context, id string) (*image.BootImage, error)
	// Create, Upload and Discard make an image of a server's disk.
	Create(ctx context.Context, c *policy.Credentials, n image.NewImage) error
	Upload(ctx context.Context, id string, data io.Reader, length int64) error
	Discard(ctx context.Context, id string) error
}

// New returns the compute service; its servers' VMs are recorded in engines.
func New(cfg Config, db *store.DB, publicURL string, id httpapi.Authenticator, images Images, ports Ports, volumes Volumes, pl Placement, engines qemu.Engines, log *slog.Logger) (*Service, error) {
	var driver hypervisor.Driver
	var err error
	switch cfg.Drivers {
	case "":
		driver, err = qemu.New(filepath.Join(cfg.DataDir, "instances"), cfg.Accel, engines)
	case "fake":
		driver, err = fake.New(filepath.Join(cfg.DataDir, "instances"))
	default:
		err = fmt.Errorf("compute: unknown drivers %q", cfg.Drivers)
	}
	if err != nil {
		return nil, err
	}
	return &Service{cfg: cfg, db: db, identity: id, images: images, ports: ports, volumes: volumes, placement: pl, driver: driver, log: log, url: publicURL + "/compute", publicURL: publicURL,
		ops: ops.New(db, "server", log)}, nil
}

// Driver is the hypervisor driver running the servers' VMs.
func (s *Service) Driver() hypervisor.Driver { return s.driver }

// Name is the service's name.
func (s *Service) Name() string { return "compute" }

// Catalog is the compute endpoint.
func (s *Service) Catalog() []service.CatalogEntry {
	return []service.CatalogEntry{{Type: "compute", Name: "nova", URL: s.url + "/v2.1"}}
}

// Start makes sure of the standard flavors, records the host in
// placement, then settles the servers an earlier run left (Recover).
func (s *Service) Start(ctx context.Context) error {
	if err := s.Bootstrap(ctx); err != nil {
		return err
	}
	if err := s.registerHost(ctx); err != nil {
		return err
	}
	if err := s.ops.Recover(ctx); err != nil {
		return err
	}
	return s.Recover(ctx)
}

// Close waits for lifecycle operations in flight; VMs stay, for the next start.
func (s *Service) Close(context.Context) error {
	s.ops.Wait()
	return nil
}

func errorf(code int, format string, a ...any) error { return httpapi.Errorf(code, format, a...) }

// writeError writes {"<fault>": {"code": N, "message": "..."}}.
func (s *Service) writeError(w http.ResponseWriter, r *http.Request, err error) {
	httpapi.FaultWriter{Service: "compute", Fallback: "computeFault", Log: s.log}.Write(w, r, err)
}

// request carries what every compute handler needs.
type request struct {
	w     http.ResponseWriter
	r     *http.Request
	creds *policy.Credentials // the caller's, computed once per request
	minor int                 // the negotiated microversion 2.<minor>
}

// admin reports whether the caller is a cloud administrator, who sees
// every project's servers, flavors and key pairs.
func (q *request) admin() bool { return q.creds.HasRole(policy.Admin) }

// enforce checks the policy of action on a resource of project.
func (q *request) enforce(action, project string) error {
	return policy.Enforce(q.creds, action, policy.Target{ProjectID: project})
}

// atLeast reports whether the request's microversion is 2.minor or later.
func (q *request) atLeast(minor int) bool { return q.minor >= minor }

type handler func(q *request) error

// microversions are the compute API's: 2.1 without a header.
var microversions = httpapi.Microversions{Service: "compute", Legacy: "X-OpenStack-Nova-API-Version", Major: 2, Min: 1, Max: 96}

func (s *Service) handle(h handler) http.Handler {
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := &request{w: w, r: r, creds: httpapi.CredentialsFrom(r.Context()), minor: httpapi.Minor(r)}
		if err := h(q); err != nil {
			s.writeError(w, r, err)
		}
	})
	return microversions.Handler(s.writeError,
		httpapi.RequireProject(s.identity, errorf(http.StatusForbidden, "The compute API needs a project-scoped token."), s.writeError, inner))
}

// Register adds the compute API to mux under /compute.
func (s *Service) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /compute", s.versions)
	mux.HandleFunc("GET /compute/{$}", s.versions)
	mux.HandleFunc("GET /compute/v2.1", s.version)
	mux.HandleFunc("GET /compute/v2.1/{$}", s.version)
	h := func(pattern string, fn handler) { mux.Handle(pattern, s.handle(fn)) }
	h("GET /compute/v2.1/flavors", s.listFlavors(false))
	h("GET /compute/v2.1/flavors/detail", s.listFlavors(true))
	h("POST /compute/v2.1/flavors", s.createFlavor)
	h("GET /compute/v2.1/flavors/{flavor_id}", s.showFlavor)
	h("DELETE /compute/v2.1/flavors/{flavor_id}", s.deleteFlavor)
	h("GET /compute/v2.1/flavors/{flavor_id}/os-extra_specs", s.listExtraSpecs)
	h("POST /compute/v2.1/flavors/{flavor_id}/os-extra_specs", s.setExtraSpecs)
	h("GET /compute/v2.1/flavors/{flavor_id}/os-extra_specs/{key}", s.showExtraSpec)
	h("PUT /compute/v2.1/flavors/{flavor_id}/os-extra_specs/{key}", s.updateExtraSpec)
	h("DELETE /compute/v2.1/flavors/{flavor_id}/os-extra_specs/{key}", s.deleteExtraSpec)
	h("GET /compute/v2.1/servers", s.listServers(false))
	h("GET /compute/v2.1/servers/detail", s.listServers(true))
	h("POST /compute/v2.1/servers", s.createServer)
	h("GET /compute/v2.1/servers/{server_id}", s.showServer)
	h("GET /compute/v2.1/servers/{server_id}/os-instance-actions", s.listActions)
	h("GET /compute/v2.1/servers/{server_id}/os-instance-actions/{request_id}", s.showAction)
	h("PUT /compute/v2.1/servers/{server_id}", s.updateServer)
	h("DELETE /compute/v2.1/servers/{server_id}", s.deleteServer)
	h("GET /compute/v2.1/servers/{server_id}/metadata", s.showMetadata)
	h("POST /compute/v2.1/servers/{server_id}/metadata", s.setMetadata(false))
	h("PUT /compute/v2.1/servers/{server_id}/metadata", s.setMetadata(true))
	h("GET /compute/v2.1/servers/{server_id}/metadata/{key}", s.showMetadataItem)
	h("PUT /compute/v2.1/servers/{server_id}/metadata/{key}", s.setMetadataItem)
	h("DELETE /compute/v2.1/servers/{server_id}/metadata/{key}", s.deleteMetadataItem)
	h("POST /compute/v2.1/servers/{server_id}/action", s.serverAction)
	h("GET /compute/v2.1/servers/{server_id}/os-interface", s.listInterfaces)
	h("POST /compute/v2.1/servers/{server_id}/os-interface", s.attachInterface)
	h("GET /compute/v2.1/servers/{server_id}/os-interface/{port_id}", s.showInterface)
	h("DELETE /compute/v2.1/servers/{server_id}/os-interface/{port_id}", s.detachInterface)
	h("GET /compute/v2.1/servers/{server_id}/os-volume_attachments", s.listVolumeAttachments)
	h("POST /compute/v2.1/servers/{server_id}/os-volume_attachments", s.attachVolume)
	h("GET /compute/v2.1/servers/{server_id}/os-volume_attachments/{volume_id}", s.showVolumeAttachment)
	h("PUT /compute/v2.1/servers/{server_id}/os-volume_attachments/{volume_id}", s.swapVolume)
	h("DELETE /compute/v2.1/servers/{server_id}/os-volume_attachments/{volume_id}", s.detachVolume)
	h("GET /compute/v2.1/limits", s.limits)
	h("GET /compute/v2.1/os-quota-sets/{project_id}", s.quotaSet)
	h("PUT /compute/v2.1/os-quota-sets/{project_id}", s.updateQuotaSet)
	h("GET /compute/v2.1/os-keypairs", s.listKeypairs)
	h("POST /compute/v2.1/os-keypairs", s.createKeypair)
	h("GET /compute/v2.1/os-keypairs/{name}", s.showKeypair)
	h("DELETE /compute/v2.1/os-keypairs/{name}", s.deleteKeypair)
	h("GET /compute/v2.1/os-server-groups", s.listServerGroups)
	h("POST /compute/v2.1/os-server-groups", s.createServerGroup)
	h("GET /compute/v2.1/os-server-groups/{id}", s.showServerGroup)
	h("DELETE /compute/v2.1/os-server-groups/{id}", s.deleteServerGroup)
	mux.HandleFunc("/compute/", func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, r, errorf(http.StatusNotFound, "The resource could not be found."))
	})
}

func (s *Service) versionDoc() map[string]any {
	return map[string]any{"id": "v2.1", "status": "CURRENT", "version": microversions.String(microversions.Max), "min_version": microversions.String(microversions.Min),
		"updated": "2013-07-23T11:33:21Z", "links": []map[string]string{{"rel": "self", "href": s.url + "/v2.1/"}},
		"media-types": []map[string]string{{"base": "application/json", "type": "application/vnd.openstack.compute+json;version=2.1"}}}
}

func (s *Service) versions(w http.ResponseWriter, r *http.Request) {
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"versions": []any{s.versionDoc()}})
}

func (s *Service) version(w http.ResponseWriter, r *http.Request) {
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"version": s.versionDoc()})
}
