// Package volume serves the block storage API (Cinder v3) under /volume:
// volume types with their extra specs, volumes and their snapshots whose
// data a backend driver holds (package backend), quotas and limits.
package volume

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/sovcloud/sov/internal/httpapi"
	"github.com/sovcloud/sov/internal/hypervisor"
	"github.com/sovcloud/sov/internal/image"
	"github.com/sovcloud/sov/internal/ops"
	"github.com/sovcloud/sov/internal/policy"
	"github.com/sovcloud/sov/internal/service"
	"github.com/sovcloud/sov/internal/store"
	"github.com/sovcloud/sov/internal/volume/backend"
	"github.com/sovcloud/sov/internal/volume/backend/fake"
	"github.com/sovcloud/sov/internal/volume/backend/file"
	"github.com/sovcloud/sov/internal/volume/backup"
)

// availabilityZone is the one zone of an all-in-one cloud, as compute's.
const availabilityZone = "nova"

// microversions are the Cinder v3 versions sov speaks, 3.0 to 3.50 (what
// each adds: docs/volume.md).
var microversions = httpapi.Microversions{Service: "volume", Major: 3, Min: 0, Max: 50}

// Config configures the volume service.
type Config struct {
	// DataDir holds the file driver's volumes (under volumes/).
	DataDir string
	// Drivers names the backend: "" (file) or "fake" (in memory, for API tests).
	Drivers string
	// Backups is the repository backups go to (nil: none, backups answer
	// 501); the server gives sov's own S3 unless BackupDir names a directory.
	Backups backup.Repository
	// BackupDir, when set, is a directory to keep backups in instead.
	BackupDir string
}

// Images gives the data of the images volumes are made from; the image
// service implements it.
type Images interface {
	ForBoot(ctx context.Context, c *policy.Credentials, id string) (*image.BootImage, error)
	// Create, Upload and Discard make an image of a volume's data.
	Create(ctx context.Context, c *policy.Credentials, n image.NewImage) error
	Upload(ctx context.Context, id string, data io.Reader, length int64) error
	Discard(ctx context.Context, id string) error
}

// Hosts runs the VMs volumes are attached to; compute implements it.
type Hosts interface {
	// ResizeAttached grows a volume attached to server to size bytes in
	// its running VM, or, when the VM does not run, with offline, while
	// the VM cannot start.
	ResizeAttached(ctx context.Context, server, volume string, size int64, offline func(context.Context) error) error
	// SnapshotAttached snapshots a volume attached to server: live gets
	// the function that copies it out of the running VM, or, when the VM
	// does not run, offline runs while the VM cannot start.
	SnapshotAttached(ctx context.Context, server, volume string, live func(copy func(*hypervisor.Disk) error) error, offline func(context.Context) error) error
}

// Service serves the Cinder v3 API.
type Service struct {
	db       *store.DB
	images   Images
	hosts    Hosts
	keys     Keys // nil: no encrypted volumes
	driver   backend.Driver
	backups  backup.Repository
	scratch  string // where exports and restores write their raw files
	ops      *ops.Runner
	identity httpapi.Authenticator
	log      *slog.Logger
	url      string // e.g. http://127.0.0.1:5000/volume
}

// New returns the volume service on the backend cfg names; keys holds
// the keys of encrypted volumes.
func New(cfg Config, db *store.DB, publicURL string, id httpapi.Authenticator, images Images, keys Keys, log *slog.Logger) (*Service, error) {
	s := &Service{db: db, images: images, keys: keys, identity: id, log: log, url: publicURL + "/volume", ops: ops.New(db, "volume", log),
		backups: cfg.Backups, scratch: filepath.Join(cfg.DataDir, "volume-scratch")}
	// What a crash left of exports and restores goes.
	if err := os.RemoveAll(s.scratch); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(s.scratch, 0o700); err != nil {
		return nil, err
	}
	switch cfg.Drivers {
	case "":
		d, err := file.Open(filepath.Join(cfg.DataDir, "volumes"))
		if err != nil {
			return nil, err
		}
		s.driver = d
	case "fake":
		s.driver = fake.New()
	default:
		return nil, fmt.Errorf("volume: unknown drivers %q", cfg.Drivers)
	}
	return s, nil
}

// SetHosts tells the service who runs the VMs its volumes are attached to.
func (s *Service) SetHosts(h Hosts) { s.hosts = h }

// Backend is the driver holding the volumes' data.
func (s *Service) Backend() backend.Driver { return s.driver }

// Name is the service's name.
func (s *Service) Name() string { return "volume" }

// Catalog is the block storage endpoint, under both of Cinder's types.
func (s *Service) Catalog() []service.CatalogEntry {
	return []service.CatalogEntry{
		{Type: "block-storage", Name: "cinder", URL: s.url + "/v3"},
		{Type: "volumev3", Name: "cinderv3", URL: s.url + "/v3"},
	}
}

// Start makes the default volume type of a new cloud and brings the
// volumes a stop of sov interrupted to a truthful status.
func (s *Service) Start(ctx context.Context) error {
	if err := s.bootstrapDefaultType(ctx); err != nil {
		return err
	}
	if err := s.ops.Recover(ctx); err != nil {
		return err
	}
	if err := s.recover(ctx); err != nil {
		return err
	}
	if err := s.recoverSnapshots(ctx); err != nil {
		return err
	}
	if err := s.recoverUploads(ctx); err != nil {
		return err
	}
	return s.recoverBackups(ctx)
}

// Close waits for the operations in flight.
func (s *Service) Close(context.Context) error {
	s.ops.Wait()
	return nil
}

// writeError writes Cinder's {"<fault>": {"code": N, "message": "..."}}.
func (s *Service) writeError(w http.ResponseWriter, r *http.Request, err error) {
	httpapi.FaultWriter{Service: "volume", Fallback: "cinderFault", Log: s.log}.Write(w, r, err)
}

func errorf(code int, format string, a ...any) error { return httpapi.Errorf(code, format, a...) }

// request carries what every handler needs.
type request struct {
	w     http.ResponseWriter
	r     *http.Request
	creds *policy.Credentials
	minor int // the negotiated microversion 3.<minor>
}

// atLeast reports whether the request's microversion is 3.minor or later.
func (q *request) atLeast(minor int) bool { return q.minor >= minor }

func (q *request) admin() bool { return q.creds.HasRole(policy.Admin) }

// enforce checks the policy of action on a resource of project.
func (q *request) enforce(action, project string) error {
	return policy.Enforce(q.creds, action, policy.Target{ProjectID: project})
}

// callerRequest is a request of c's that another service makes in the
// process (compute's volumes and snapshots): no URL, no response.
func callerRequest(ctx context.Context, c *policy.Credentials) *request {
	return &request{r: (&http.Request{URL: &url.URL{}}).WithContext(ctx), creds: c}
}

type handler func(q *request) error

func (s *Service) handle(h handler) http.Handler {
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := &request{w: w, r: r, creds: httpapi.CredentialsFrom(r.Context()), minor: httpapi.Minor(r)}
		if p, _ := r.Context().Value(projectKey{}).(string); p != "" && p != q.creds.ProjectID {
			s.writeError(w, r, errorf(http.StatusBadRequest, "Malformed request url"))
			return
		}
		if err := h(q); err != nil {
			s.writeError(w, r, err)
		}
	})
	return microversions.Handler(s.writeError,
		httpapi.RequireProject(s.identity, errorf(http.StatusForbidden, "The block storage API needs a project-scoped token."), s.writeError, inner))
}

// Register adds the block storage API to mux under /volume. Paths take
// the project id after /v3 or not, as Cinder's do (the catalog has none).
func (s *Service) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /volume", s.versions)
	mux.HandleFunc("GET /volume/{$}", s.versions)
	mux.HandleFunc("GET /volume/v3", s.version)
	mux.HandleFunc("GET /volume/v3/{$}", s.version)
	routes := []struct {
		method, path string
		h            handler
	}{
		{"GET", "/types", s.listTypes},
		{"POST", "/types", s.createType},
		{"GET", "/types/{id}", s.showType},
		{"PUT", "/types/{id}", s.updateType},
		{"DELETE", "/types/{id}", s.deleteType},
		{"GET", "/types/{id}/extra_specs", s.listExtraSpecs},
		{"POST", "/types/{id}/extra_specs", s.setExtraSpecs},
		{"GET", "/types/{id}/extra_specs/{key}", s.showExtraSpec},
		{"PUT", "/types/{id}/extra_specs/{key}", s.updateExtraSpec},
		{"DELETE", "/types/{id}/extra_specs/{key}", s.deleteExtraSpec},
		{"GET", "/types/{id}/encryption", s.listEncryption},
		{"POST", "/types/{id}/encryption", s.createEncryption},
		{"GET", "/types/{id}/encryption/{key}", s.showEncryption},
		{"PUT", "/types/{id}/encryption/{key}", s.updateEncryption},
		{"DELETE", "/types/{id}/encryption/{key}", s.deleteEncryption},
		{"GET", "/volumes/{id}/encryption", s.volumeEncryptionMetadata},
		{"GET", "/qos-specs", s.listQoS},
		{"POST", "/qos-specs", s.createQoS},
		{"GET", "/qos-specs/{id}", s.showQoS},
		{"PUT", "/qos-specs/{id}", s.updateQoS},
		{"DELETE", "/qos-specs/{id}", s.deleteQoS},
		{"PUT", "/qos-specs/{id}/delete_keys", s.deleteQoSKeys},
		{"GET", "/qos-specs/{id}/associations", s.qosAssociations},
		{"GET", "/qos-specs/{id}/associate", s.associateQoS(true, false)},
		{"GET", "/qos-specs/{id}/disassociate", s.associateQoS(false, false)},
		{"GET", "/qos-specs/{id}/disassociate_all", s.associateQoS(false, true)},
		{"GET", "/volumes", s.listVolumes(false)},
		{"GET", "/volumes/detail", s.listVolumes(true)},
		{"POST", "/volumes", s.createVolume},
		{"GET", "/volumes/{id}", s.showVolume},
		{"PUT", "/volumes/{id}", s.updateVolume},
		{"DELETE", "/volumes/{id}", s.deleteVolume},
		{"POST", "/volumes/{id}/action", s.volumeAction},
		{"GET", "/volumes/summary", s.volumeSummary},
		{"GET", "/backups", s.listBackups(false)},
		{"GET", "/backups/detail", s.listBackups(true)},
		{"POST", "/backups", s.createBackup},
		{"GET", "/backups/{id}", s.showBackup},
		{"PUT", "/backups/{id}", s.updateBackup},
		{"DELETE", "/backups/{id}", s.deleteBackup},
		{"POST", "/backups/{id}/restore", s.restoreBackup},
		{"GET", "/attachments", s.listAttachments(false)},
		{"GET", "/attachments/detail", s.listAttachments(true)},
		{"POST", "/attachments", newAttachments(s.createAttachment)},
		{"GET", "/attachments/{id}", newAttachments(s.showAttachment)},
		{"PUT", "/attachments/{id}", newAttachments(s.updateAttachment)},
		{"DELETE", "/attachments/{id}", newAttachments(s.deleteAttachment)},
		{"POST", "/attachments/{id}/action", newAttachments(s.attachmentAction)},
		{"GET", "/snapshots", s.listSnapshots(false)},
		{"GET", "/snapshots/detail", s.listSnapshots(true)},
		{"POST", "/snapshots", s.createSnapshot},
		{"GET", "/snapshots/{id}", s.showSnapshot},
		{"PUT", "/snapshots/{id}", s.updateSnapshot},
		{"DELETE", "/snapshots/{id}", s.deleteSnapshot},
		{"GET", "/os-quota-sets/{project}", s.showQuota},
		{"PUT", "/os-quota-sets/{project}", s.updateQuota},
		{"DELETE", "/os-quota-sets/{project}", s.deleteQuota},
		{"GET", "/os-quota-sets/{project}/defaults", s.showDefaultQuota},
		{"GET", "/limits", s.limits},
		{"GET", "/os-availability-zone", s.availabilityZones},
		{"GET", "/volumes/{id}/metadata", s.getMetadata(s.volumeMeta)},
		{"POST", "/volumes/{id}/metadata", s.setMetadata(s.volumeMeta, false)},
		{"PUT", "/volumes/{id}/metadata", s.setMetadata(s.volumeMeta, true)},
		{"GET", "/volumes/{id}/metadata/{key}", s.getMetadatum(s.volumeMeta)},
		{"PUT", "/volumes/{id}/metadata/{key}", s.putMetadatum(s.volumeMeta)},
		{"DELETE", "/volumes/{id}/metadata/{key}", s.deleteMetadatum(s.volumeMeta)},
		{"GET", "/snapshots/{id}/metadata", s.getMetadata(s.snapshotMeta)},
		{"POST", "/snapshots/{id}/metadata", s.setMetadata(s.snapshotMeta, false)},
		{"PUT", "/snapshots/{id}/metadata", s.setMetadata(s.snapshotMeta, true)},
		{"GET", "/snapshots/{id}/metadata/{key}", s.getMetadatum(s.snapshotMeta)},
		{"PUT", "/snapshots/{id}/metadata/{key}", s.putMetadatum(s.snapshotMeta)},
		{"DELETE", "/snapshots/{id}/metadata/{key}", s.deleteMetadatum(s.snapshotMeta)},
		{"POST", "/os-volume-transfer", s.createTransfer},
		{"GET", "/os-volume-transfer", s.listTransfers(false)},
		{"GET", "/os-volume-transfer/detail", s.listTransfers(true)},
		{"GET", "/os-volume-transfer/{id}", s.showTransfer},
		{"DELETE", "/os-volume-transfer/{id}", s.deleteTransfer},
		{"POST", "/os-volume-transfer/{id}/accept", s.acceptTransfer},
	}
	api := http.NewServeMux()
	for _, rt := range routes {
		api.Handle(rt.method+" /volume/v3"+rt.path, s.handle(rt.h))
	}
	for _, path := range []string{"POST /volume/v3/backups/{id}/action", "GET /volume/v3/backups/{id}/export_record", "POST /volume/v3/backups/import_record",
		"/volume/v3/snapshots/{id}/action"} {
		api.Handle(path, s.handle(func(q *request) error {
			return errorf(http.StatusNotImplemented, "This part of the block storage API is not implemented yet.")
		}))
	}
	for _, c := range notYet {
		h := s.handle(func(q *request) error {
			return errorf(http.StatusNotImplemented, "The block storage API has no %s yet.", c)
		})
		api.Handle("/volume/v3/"+c, h)
		api.Handle("/volume/v3/"+c+"/", h)
	}
	api.Handle("/volume/", s.handle(func(q *request) error {
		return errorf(http.StatusNotFound, "The resource could not be found.")
	}))
	mux.Handle("/volume/", api)
	mux.Handle("/volume/v3/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// A first segment that names no collection is a project id
		// (Cinder's older URLs): it goes, and must be the token's.
		rest := strings.TrimPrefix(r.URL.Path, "/volume/v3/")
		seg, tail, _ := strings.Cut(rest, "/")
		if projectID.MatchString(seg) {
			r2 := r.Clone(context.WithValue(r.Context(), projectKey{}, seg))
			r2.URL.Path, r2.URL.RawPath = "/volume/v3/"+tail, ""
			r = r2
		}
		api.ServeHTTP(w, r)
	}))
}

// projectID is what a project id in a path looks like (32 hex digits,
// or a UUID with dashes); a collection name never does.
var projectID = regexp.MustCompile(`^([0-9a-f]{32}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$`)

// notYet are Cinder's collections sov does not have yet: 501, not 404.
var notYet = []string{"volume-transfers", "groups",
	"group_types", "group_snapshots", "messages", "manageable_volumes", "manageable_snapshots", "os-services", "scheduler-stats",
	"capabilities", "workers", "clusters", "os-hosts", "extensions", "consistencygroups", "cgsnapshots", "resource_filters"}

type projectKey struct{}

func (s *Service) versionView() map[string]any {
	return map[string]any{"id": "v3.0", "status": "CURRENT", "version": microversions.String(microversions.Max),
		"min_version": microversions.String(microversions.Min), "updated": "2023-01-01T00:00:00Z",
		"links":       []map[string]string{{"rel": "self", "href": s.url + "/v3/"}},
		"media-types": []map[string]string{{"base": "application/json", "type": "application/vnd.openstack.volume+json;version=3"}}}
}

func (s *Service) versions(w http.ResponseWriter, r *http.Request) {
	httpapi.WriteJSON(w, http.StatusMultipleChoices, map[string]any{"versions": []map[string]any{s.versionView()}})
}

func (s *Service) version(w http.ResponseWriter, r *http.Request) {
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"versions": []map[string]any{s.versionView()}})
}

func (s *Service) availabilityZones(q *request) error {
	httpapi.WriteJSON(q.w, http.StatusOK, map[string]any{"availabilityZoneInfo": []map[string]any{
		{"zoneName": availabilityZone, "zoneState": map[string]bool{"available": true}}}})
	return nil
}

// boolValue reads a boolean of a body as Cinder takes it: true or false,
// or a string of them (any case, or 1/0); absent or null is false.
func boolValue(raw json.RawMessage) (value, ok bool) {
	if len(raw) == 0 || string(raw) == "null" {
		return false, true
	}
	var v any
	json.Unmarshal(raw, &v)
	switch v := v.(type) {
	case bool:
		return v, true
	case string:
		return httpapi.ParseBool(v)
	}
	return false, false
}

// cinderTime is how Cinder writes times.
func cinderTime(micros int64) string {
	return time.UnixMicro(micros).UTC().Format("2006-01-02T15:04:05.000000")
}
