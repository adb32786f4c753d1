package compute

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/sovcloud/sov/internal/httpapi"
	"github.com/sovcloud/sov/internal/image"
	"github.com/sovcloud/sov/internal/network"
	"github.com/sovcloud/sov/internal/store"
)

// server is a server row.
type server struct {
	ID, ProjectID, UserID, Name string
	Status, TaskState           string
	PowerState                  int
	ImageID                     string
	Flavor                      flavor
	KeyName                     string
	Metadata                    map[string]string
	UserData                    string // base64, as given
	ConfigDrive                 bool
	Ports                       []serverPort
	Volumes                     []serverVolume
	Fault                       string
	Created, Updated, Launched  int64
}

// Nova's power states.
const (
	powerNoState  = 0
	powerRunning  = 1
	powerShutdown = 4
)

const serverColumns = `id, project_id, user_id, name, status, task_state, power_state, image_id, flavor, key_name, metadata, user_data,
	config_drive, ports, volumes, fault, created_at, updated_at, launched_at`

func scanServer(row store.Scanner) (*server, error) {
	s := &server{}
	var flv, meta, ports, vols string
	if err := row.Scan(&s.ID, &s.ProjectID, &s.UserID, &s.Name, &s.Status, &s.TaskState, &s.PowerState, &s.ImageID, &flv, &s.KeyName,
		&meta, &s.UserData, &s.ConfigDrive, &ports, &vols, &s.Fault, &s.Created, &s.Updated, &s.Launched); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(vols), &s.Volumes); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(flv), &s.Flavor); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(ports), &s.Ports); err != nil {
		return nil, err
	}
	return s, json.Unmarshal([]byte(meta), &s.Metadata)
}

func (s *Service) loadServer(ctx context.Context, id string) (*server, error) {
	srv, err := scanServer(s.db.QueryRow(ctx, `SELECT `+serverColumns+` FROM servers WHERE id = ?`, id))
	if errors.Is(store.Row(err), store.ErrNotFound) {
		return nil, errorf(http.StatusNotFound, "Instance %s could not be found.", id)
	}
	return srv, err
}

// serverFor loads the server in the path; other projects' servers look missing.
func (s *Service) serverFor(q *request) (*server, error) {
	srv, err := s.loadServer(q.r.Context(), q.r.PathValue("server_id"))
	if err != nil {
		return nil, err
	}
	if srv.ProjectID != q.creds.ProjectID && !q.admin() {
		return nil, errorf(http.StatusNotFound, "Instance %s could not be found.", srv.ID)
	}
	return srv, nil
}

// setState records a server's status, task and power state (and a fault).
func (s *Service) setState(ctx context.Context, id, status, task string, power int, fault string) error {
	now := time.Now().UnixMicro()
	q := `UPDATE servers SET status = ?, task_state = ?, power_state = ?, fault = ?, updated_at = ?`
	args := []any{status, task, power, fault, now}
	if status == "ACTIVE" {
		q += `, launched_at = CASE WHEN launched_at = 0 THEN ? ELSE launched_at END`
		args = append(args, now)
	}
	_, err := s.db.Exec(ctx, q+` WHERE id = ?`, append(args, id)...)
	return err
}

func isoTime(micros int64) any {
	if micros == 0 {
		return nil
	}
	return time.UnixMicro(micros).UTC().Format("2006-01-02T15:04:05Z")
}

// serverJSON is a server as Nova shows it; atts are its ports (for detail).
func (s *Service) serverJSON(q *request, srv *server, detail bool, atts []network.Attachment) map[string]any {
	m := map[string]any{"id": srv.ID, "name": srv.Name, "links": s.links("servers", srv.ID)}
	if !detail {
		return m
	}
	var flv any = map[string]any{"id": srv.Flavor.ID, "links": s.links("flavors", srv.Flavor.ID)}
	if q.atLeast(47) {
		flv = map[string]any{"vcpus": srv.Flavor.VCPUs, "ram": srv.Flavor.RAM, "disk": srv.Flavor.Disk, "ephemeral": srv.Flavor.Ephemeral,
			"swap": srv.Flavor.Swap, "original_name": srv.Flavor.Name, "extra_specs": srv.Flavor.ExtraSpecs}
	}
	vmState := map[string]string{"BUILD": "building", "ACTIVE": "active", "SHUTOFF": "stopped", "ERROR": "error",
		"REBOOT": "active", "HARD_REBOOT": "active", "REBUILD": "active", "RESIZE": "active", "VERIFY_RESIZE": "resized",
		"REVERT_RESIZE": "resized"}[srv.Status]
	task := any(nil)
	if srv.TaskState != "" {
		task = srv.TaskState
	}
	configDrive := ""
	if srv.ConfigDrive {
		configDrive = "True"
	}
	keyName := any(nil)
	if srv.KeyName != "" {
		keyName = srv.KeyName
	}
	m["status"], m["tenant_id"], m["user_id"], m["metadata"] = srv.Status, srv.ProjectID, srv.UserID, srv.Metadata
	var img any = "" // booted from a volume
	if srv.ImageID != "" {
		img = map[string]any{"id": srv.ImageID, "links": s.links("images", srv.ImageID)}
	}
	m["hostId"], m["image"], m["flavor"], m["addresses"] = hostID(srv.ProjectID), img, flv, addresses(atts)
	m["created"], m["updated"], m["accessIPv4"], m["accessIPv6"] = isoTime(srv.Created), isoTime(srv.Updated), "", ""
	m["key_name"], m["config_drive"], m["progress"] = keyName, configDrive, 0
	m["OS-EXT-STS:vm_state"], m["OS-EXT-STS:task_state"], m["OS-EXT-STS:power_state"] = vmState, task, srv.PowerState
	m["OS-EXT-AZ:availability_zone"], m["OS-SRV-USG:launched_at"], m["OS-SRV-USG:terminated_at"] = "nova", usageTime(srv.Launched), nil
	attached := []any{}
	for _, v := range srv.Volumes {
		a := map[string]any{"id": v.VolumeID}
		if q.atLeast(3) {
			a["delete_on_termination"] = v.DeleteOnTermination
		}
		attached = append(attached, a)
	}
	m["OS-DCF:diskConfig"], m["os-extended-volumes:volumes_attached"] = "MANUAL", attached
	if groups := securityGroups(atts); len(groups) > 0 {
		m["security_groups"] = groups
	}
	if srv.Status == "ERROR" && srv.Fault != "" {
		m["fault"] = map[string]any{"code": 500, "message": srv.Fault, "created": isoTime(srv.Updated)}
	}
	return m
}

// usageTime formats launched_at as Nova does (microseconds, no zone).
func usageTime(micros int64) any {
	if micros == 0 {
		return nil
	}
	return time.UnixMicro(micros).UTC().Format("2006-01-02T15:04:05.000000")
}

// hostID is Nova's per-project opaque host id: the one host, hashed with the project.
func hostID(project string) string {
	return strings.ReplaceAll(uuid.NewSHA1(uuid.NameSpaceOID, []byte("sov-host/"+project)).String(), "-", "")
}

var serverNameRE = regexp.MustCompile(`^[^\x00-\x1f]{1,255}$`)

// hostname makes a DNS-safe host name from a server name.
func hostname(name string) string {
	h := strings.Trim(regexp.MustCompile(`[^a-z0-9-]+`).ReplaceAllString(strings.ToLower(name), "-"), "-")
	if len(h) > 63 {
		h = h[:63]
	}
	if h == "" {
		h = "server"
	}
	return h
}

type createServerBody struct {
	Server struct {
		Name        *string           `json:"name"`
		ImageRef    *string           `json:"imageRef"`
		FlavorRef   *string           `json:"flavorRef"`
		KeyName     string            `json:"key_name"`
		UserData    string            `json:"user_data"`
		Metadata    map[string]string `json:"metadata"`
		ConfigDrive json.RawMessage   `json:"config_drive"`
		Networks    json.RawMessage   `json:"networks"`
		Groups      []struct {
			Name string `json:"name"`
		} `json:"security_groups"`
		MinCount  *int            `json:"min_count"`
		MaxCount  *int            `json:"max_count"`
		AdminPass string          `json:"adminPass"`
		BDMs      json.RawMessage `json:"block_device_mapping_v2"`
	} `json:"server"`
	Hints    *schedulerHints `json:"os:scheduler_hints"`
	OldHints *schedulerHints `json:"OS-SCH-HNT:scheduler_hints"`
}

// schedulerHints are the hints of a create request: a server group to
// join; the hints that choose among hosts mean nothing on sov's one host.
type schedulerHints struct {
	Group json.RawMessage `json:"group"`
}

// group is the server group the hints name ("" for none).
func (h *schedulerHints) group() (string, error) {
	if h == nil || len(h.Group) == 0 {
		return "", nil
	}
	var g string
	if err := json.Unmarshal(h.Group, &g); err != nil {
		return "", errorf(http.StatusBadRequest, "Invalid input for field/attribute group: a server group's uuid.")
	}
	return g, nil
}

func (s *Service) createServer(q *request) error {
	if err := q.enforce("os_compute_api:servers:create", q.creds.ProjectID); err != nil {
		return err
	}
	var body createServerBody
	if err := httpapi.DecodeJSON(q.r, &body); err != nil {
		return err
	}
	b := &body.Server
	if b.Name == nil || !serverNameRE.MatchString(*b.Name) || strings.TrimSpace(*b.Name) == "" {
		return errorf(http.StatusBadRequest, "Invalid input for field/attribute name.")
	}
	vols, localImage, err := readBDMs(b.BDMs)
	if err != nil {
		return err
	}
	imageRef := localImage
	if b.ImageRef != nil && *b.ImageRef != "" {
		if localImage != "" && localImage != *b.ImageRef || slices.ContainsFunc(vols, func(v newVolume) bool { return v.Root }) {
			return badBDM("Boot sequence for the instance and image/block device mapping combination is not valid.")
		}
		imageRef = *b.ImageRef
	}
	bootVolume := slices.ContainsFunc(vols, func(v newVolume) bool { return v.Root })
	if imageRef == "" && !bootVolume {
		return badBDM("You specified more local devices than the limit allows; a server needs an imageRef or a volume with boot_index 0.")
	}
	if b.FlavorRef == nil {
		return errorf(http.StatusBadRequest, "Invalid input for field/attribute flavorRef.")
	}
	if (b.MinCount != nil && *b.MinCount != 1) || (b.MaxCount != nil && *b.MaxCount != 1) {
		return errorf(http.StatusBadRequest, "Only one server per request is supported.")
	}
	if len(b.UserData) > 65535 {
		return errorf(http.StatusBadRequest, "User data too large. User data must be no larger than 65535 bytes once base64 encoded.")
	}
	if b.UserData != "" {
		if _, err := base64.StdEncoding.DecodeString(b.UserData); err != nil {
			return errorf(http.StatusBadRequest, "Invalid input for field/attribute user_data. Value: not base64 encoded")
		}
	}
	if err := validMetadata(b.Metadata); err != nil {
		return err
	}
	// No config drive unless asked for, as in Nova: the metadata service
	// on the server's networks tells the guest about itself.
	configDrive := false
	if len(b.ConfigDrive) > 0 && string(b.ConfigDrive) != "null" {
		var v any
		json.Unmarshal(b.ConfigDrive, &v)
		switch v := v.(type) {
		case bool:
			configDrive = v
		case string:
			bv, ok := httpapi.ParseBool(v)
			if !ok && v != "" {
				return errorf(http.StatusBadRequest, "Invalid input for field/attribute config_drive. Value: %s.", v)
			}
			configDrive = bv
		default:
			return errorf(http.StatusBadRequest, "Invalid input for field/attribute config_drive. Value: %s.", b.ConfigDrive)
		}
	}
	nics, err := s.nics(q, b.Networks)
	if err != nil {
		return err
	}
	// Security groups go on the ports made for the server (Nova's rule:
	// a port the user gives keeps its own).
	for i := range nics {
		if nics[i].NetworkID == "" {
			continue
		}
		for _, g := range b.Groups {
			if g.Name == "" {
				return errorf(http.StatusBadRequest, "Invalid input for field/attribute security_groups.")
			}
			nics[i].SecurityGroups = append(nics[i].SecurityGroups, g.Name)
		}
	}
	ctx := q.r.Context()
	// An image of a volume-backed server (Nova's snapshot of one): the
	// server boots from volumes made of the image's snapshots.
	if imageRef != "" && !bootVolume {
		if boot, err := s.images.ForBoot(ctx, q.creds, imageRef); err == nil {
			mapped, ok, err := imageMappingOf(boot)
			if err != nil {
				return err
			}
			if ok {
				vols, imageRef, bootVolume = append(mapped, vols...), "", true
			}
		}
	}
	if err := s.checkBDMs(ctx, q, vols); err != nil {
		return err
	}
	// The image of the root disk: the server's, or its boot volume's.
	img := &image.BootImage{}
	for _, v := range vols {
		if v.Root && v.Source == "image" {
			imageRef = v.UUID
		}
	}
	if imageRef != "" {
		if img, err = s.images.ForBoot(ctx, q.creds, imageRef); err != nil {
			return errorf(http.StatusBadRequest, "Image %s could not be found.", imageRef)
		}
	}
	if err := s.checkBootFiles(ctx, q, img); err != nil {
		return err
	}
	flv, err := s.getFlavor(ctx, *b.FlavorRef)
	if err != nil {
		return errorf(http.StatusBadRequest, "Flavor %s could not be found.", *b.FlavorRef)
	}
	if !flv.Public && !q.admin() {
		return errorf(http.StatusBadRequest, "Flavor %s could not be found.", *b.FlavorRef)
	}
	if err := imageFits(img, flv, bootVolume); err != nil {
		return err
	}
	if b.KeyName != "" {
		if _, err := s.keypairOf(ctx, q.creds.UserID, b.KeyName); err != nil {
			return errorf(http.StatusBadRequest, "Invalid key_name provided.")
		}
	}
	now := time.Now().UnixMicro()
	imageID := img.ID
	if bootVolume {
		imageID = "" // as Nova shows a server booted from a volume
	}
	srv := &server{ID: uuid.NewString(), ProjectID: q.creds.ProjectID, UserID: q.creds.UserID, Name: *b.Name, Status: "BUILD",
		TaskState: "scheduling", ImageID: imageID, Flavor: *flv, KeyName: b.KeyName, Metadata: b.Metadata, UserData: b.UserData,
		ConfigDrive: configDrive, Ports: serverPorts(nics), Created: now, Updated: now}
	if srv.Metadata == nil {
		srv.Metadata = map[string]string{}
	}
	hints := body.Hints
	if hints == nil {
		hints = body.OldHints
	}
	group, err := hints.group()
	if err != nil {
		return err
	}
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		if err := s.checkQuota(ctx, tx, q.creds.ProjectID, 1, flv.VCPUs, flv.RAM); err != nil {
			return err
		}
		if err := s.joinGroup(ctx, tx, q, group, srv.ID, now); err != nil {
			return err
		}
		flvJSON, _ := json.Marshal(srv.Flavor)
		metaJSON, _ := json.Marshal(srv.Metadata)
		return store.Insert(ctx, tx, "servers", store.Values{}.
			Set("id", srv.ID).Set("project_id", srv.ProjectID).Set("user_id", srv.UserID).Set("name", srv.Name).
			Set("status", srv.Status).Set("task_state", srv.TaskState).Set("power_state", powerNoState).
			Set("image_id", srv.ImageID).Set("flavor", string(flvJSON)).Set("key_name", srv.KeyName).
			Set("metadata", string(metaJSON)).Set("user_data", srv.UserData).Set("config_drive", srv.ConfigDrive).
			Set("ports", jsonString(srv.Ports)).Set("fault", "").Set("created_at", now).Set("updated_at", now).Set("launched_at", 0))
	})
	if err != nil {
		return err
	}
	// The ports come after the server's record, which names them first, so
	// a crash in between leaves none that a delete of the server misses.
	if err := s.ports.Allocate(ctx, q.creds, srv.ID, nics); err != nil {
		if _, derr := s.db.Exec(ctx, `DELETE FROM server_group_members WHERE server_id = ?`, srv.ID); derr != nil {
			s.log.Error("taking a server whose ports were refused out of its group", "server", srv.ID, "err", derr)
		}
		if _, derr := s.db.Exec(ctx, `DELETE FROM servers WHERE id = ?`, srv.ID); derr != nil {
			s.log.Error("removing a server whose ports were refused", "server", srv.ID, "err", derr)
		}
		return allocationError(err)
	}
	if bootVolume {
		img = nil // the root disk is the volume
	}
	s.spawn(q, srv, img, vols)
	adminPass := b.AdminPass
	if adminPass == "" {
		pw := make([]byte, 9)
		rand.Read(pw)
		adminPass = base64.RawURLEncoding.EncodeToString(pw)
	}
	q.w.Header().Set("Location", s.url+"/v2.1/servers/"+srv.ID)
	httpapi.WriteJSON(q.w, http.StatusAccepted, map[string]any{"server": map[string]any{"id": srv.ID, "links": s.links("servers", srv.ID),
		"adminPass": adminPass, "OS-DCF:diskConfig": "MANUAL"}})
	return nil
}

// Quotas per project (Nova's defaults).
const (
	quotaInstances = 10
	quotaCores     = 20
	quotaRAM       = 51200
)

// usage is what a project's servers use of its quota.
type usage struct{ instances, cores, ram int }

func (s *Service) projectUsage(ctx context.Context, q store.Querier, project string) (usage, error) {
	rows, err := q.Query(ctx, `SELECT flavor FROM servers WHERE project_id = ?`, project)
	if err != nil {
		return usage{}, err
	}
	defer rows.Close()
	var u usage
	for rows.Next() {
		var raw string
		var f flavor
		if err := rows.Scan(&raw); err != nil {
			return usage{}, err
		}
		if err := json.Unmarshal([]byte(raw), &f); err != nil {
			return usage{}, err
		}
		u.instances, u.cores, u.ram = u.instances+1, u.cores+f.VCPUs, u.ram+f.RAM
	}
	return u, rows.Err()
}

// checkBootFiles checks that the caller may use the kernel and ramdisk
// images an image names.
func (s *Service) checkBootFiles(ctx context.Context, q *request, img *image.BootImage) error {
	for _, ref := range []string{img.Properties["kernel_id"], img.Properties["ramdisk_id"]} {
		if ref == "" {
			continue
		}
		if _, err := s.images.ForBoot(ctx, q.creds, ref); err != nil {
			return errorf(http.StatusBadRequest, "Image %s refers to kernel or ramdisk image %s, which cannot be used.", img.ID, ref)
		}
	}
	return nil
}

// imageFits checks an image's min_ram and (but on a boot volume) min_disk
// against a flavor.
func imageFits(img *image.BootImage, flv *flavor, bootVolume bool) error {
	if img.MinRAM > flv.RAM {
		return errorf(http.StatusBadRequest, "Flavor's memory is too small for requested image.")
	}
	if img.MinDisk > flv.Disk && flv.Disk > 0 && !bootVolume {
		return errorf(http.StatusBadRequest, "Flavor's disk is too small for requested image.")
	}
	return nil
}

// checkQuota checks that a project's quotas hold instances, vcpus and
// ram more (a new server's, or what a resize adds; what shrinks is fine).
func (s *Service) checkQuota(ctx context.Context, tx *store.Tx, project string, instances, vcpus, ram int) error {
	u, err := s.projectUsage(ctx, tx, project)
	if err != nil {
		return err
	}
	limit, err := s.quotaOf(ctx, tx, project)
	if err != nil {
		return err
	}
	for _, c := range []struct {
		name            string
		req, used, max_ int
	}{{"instances", instances, u.instances, limit.instances}, {"cores", vcpus, u.cores, limit.cores}, {"ram", ram, u.ram, limit.ram}} {
		if c.max_ < 0 || c.req <= 0 {
			continue // -1: unlimited
		}
		if c.used+c.req > c.max_ {
			return errorf(http.StatusForbidden, "Quota exceeded for %s: Requested %d, but already used %d of %d %s", c.name, c.req, c.used, c.max_, c.name)
		}
	}
	return nil
}

func jsonString(v any) string { b, _ := json.Marshal(v); return string(b) }

func (s *Service) keypairOf(ctx context.Context, user, name string) (string, error) {
	var pub string
	err := store.Row(s.db.QueryRow(ctx, `SELECT public_key FROM keypairs WHERE user_id = ? AND name = ?`, user, name).Scan(&pub))
	return pub, err
}

// serverList is what server lists filter and sort on.
var serverList = &httpapi.ListSpec{
	Columns: map[string]httpapi.Column{
		"status":     {SQL: "status", Filter: true, Upper: true},
		"image":      {SQL: "image_id", Filter: true},
		"name":       {SQL: "name", Sort: true},
		"created_at": {SQL: "created_at", Sort: true},
	},
	DefaultSort: []httpapi.Sort{{Key: "created_at", Desc: true}},
}

// listServers serves the server lists, paged in the store (limit,
// marker, sort_key/sort_dir, servers_links). The name filter is a regular
// expression, as in Nova, applied to each page.
func (s *Service) listServers(detail bool) handler {
	return func(q *request) error {
		query := q.r.URL.Query()
		lq, err := httpapi.ParseList(q.r, serverList)
		if err != nil {
			return err
		}
		scope, args := `project_id = ?`, []any{q.creds.ProjectID}
		if q.admin() && (query.Get("all_tenants") == "1" || strings.EqualFold(query.Get("all_tenants"), "true")) {
			scope, args = `1 = 1`, nil
		}
		var nameRE *regexp.Regexp
		if n := query.Get("name"); n != "" {
			if nameRE, err = regexp.Compile(n); err != nil {
				nameRE = regexp.MustCompile(regexp.QuoteMeta(n))
			}
		}
		rows, err := lq.Query(q.r.Context(), s.db, "servers", serverColumns, scope, args...)
		if err != nil {
			return err
		}
		page, err := store.Collect(rows, scanServer)
		if err != nil {
			return err
		}
		page, more := httpapi.More(lq, page)
		var atts map[string][]network.Attachment
		if detail {
			if atts, err = s.attachments(q.r.Context(), page...); err != nil {
				return err
			}
		}
		out := []map[string]any{}
		for _, srv := range page {
			if nameRE == nil || nameRE.MatchString(srv.Name) {
				out = append(out, s.serverJSON(q, srv, detail, atts[srv.ID]))
			}
		}
		body := map[string]any{"servers": out}
		if len(page) > 0 {
			if links := lq.Links(q.r, s.publicURL, more, page[len(page)-1].ID); links != nil {
				body["servers_links"] = links
			}
		}
		httpapi.WriteJSON(q.w, http.StatusOK, body)
		return nil
	}
}

func (s *Service) showServer(q *request) error {
	srv, err := s.serverFor(q)
	if err != nil {
		return err
	}
	atts, err := s.attachments(q.r.Context(), srv)
	if err != nil {
		return err
	}
	view := s.serverJSON(q, srv, true, atts[srv.ID])
	if q.atLeast(71) {
		if view["server_groups"], err = s.groupsOf(q.r.Context(), srv.ID); err != nil {
			return err
		}
	}
	httpapi.WriteJSON(q.w, http.StatusOK, map[string]any{"server": view})
	return nil
}

func (s *Service) deleteServer(q *request) error {
	srv, err := s.serverFor(q)
	if err != nil {
		return err
	}
	if err := q.enforce("os_compute_api:servers:delete", srv.ProjectID); err != nil {
		return err
	}
	if err := s.setState(q.r.Context(), srv.ID, srv.Status, "deleting", srv.PowerState, srv.Fault); err != nil {
		return err
	}
	s.ops.Go(s.record(q, srv, "delete"), "compute_terminate_instance", func(ctx context.Context) error { s.destroy(ctx, srv); return nil }, nil)
	q.w.WriteHeader(http.StatusNoContent)
	return nil
}
