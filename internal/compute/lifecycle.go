package compute

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/sovcloud/sov/internal/diskimage"
	"github.com/sovcloud/sov/internal/httpapi"
	"github.com/sovcloud/sov/internal/hypervisor"
	"github.com/sovcloud/sov/internal/image"
	"github.com/sovcloud/sov/internal/network"
	"github.com/sovcloud/sov/internal/ops"
	"github.com/sovcloud/sov/internal/policy"
	"github.com/sovcloud/sov/internal/store"
)

// record records the action a request asks of a server.
func (s *Service) record(q *request, srv *server, action string) ops.Action {
	a := ops.Action{ResourceID: srv.ID, RequestID: httpapi.RequestID(q.r.Context()), Name: action,
		UserID: q.creds.UserID, ProjectID: q.creds.ProjectID, Start: time.Now()}
	if err := s.ops.Record(q.r.Context(), a); err != nil {
		s.log.Error("recording a server action", "server", srv.ID, "action", action, "err", err)
	}
	return a
}

// spawn builds a server's disk, config drive and NICs and starts its VM:
// the operation of the action that creates it.
func (s *Service) spawn(q *request, srv *server, img *image.BootImage, vols []newVolume) {
	creds := q.creds
	s.act(q, srv, "create", "compute__do_build_and_run_instance", func(ctx context.Context) error {
		s.setState(ctx, srv.ID, "BUILD", "scheduling", powerNoState, "")
		if err := s.placeInGroup(ctx, srv); err != nil {
			return err
		}
		if err := s.claim(ctx, srv); err != nil {
			return err
		}
		err := s.build(ctx, creds, srv, img, vols)
		if err != nil {
			// A server that failed to build holds nothing of the host.
			if rerr := s.placement.Release(ctx, srv.ID); rerr != nil {
				s.log.Error("releasing the resources of a failed build", "server", srv.ID, "err", rerr)
			}
		}
		return err
	}, "ACTIVE")
}

// build makes a server's volumes, disk, config drive and NICs and starts its VM.
func (s *Service) build(ctx context.Context, creds *policy.Credentials, srv *server, img *image.BootImage, vols []newVolume) error {
	if len(vols) > 0 {
		s.setState(ctx, srv.ID, "BUILD", "block_device_mapping", powerNoState, "")
		if err := s.buildVolumes(ctx, creds, srv, vols); err != nil {
			return err
		}
	}
	s.setState(ctx, srv.ID, "BUILD", "spawning", powerNoState, "")
	spec, err := s.prepare(ctx, srv, img)
	if err != nil {
		return err
	}
	return s.driver.Start(spec)
}

// act records the action a request asks of a server and runs its
// operation in the background (one at a time per server); the server then
// has the status target, or ERROR with the failure as its fault.
func (s *Service) act(q *request, srv *server, action, event string, op func(context.Context) error, target string) {
	s.ops.Go(s.record(q, srv, action), event, op, func(ctx context.Context, err error) {
		if err != nil {
			s.log.Error("server action failed", "server", srv.ID, "action", action, "err", err)
			s.setState(ctx, srv.ID, "ERROR", "", powerNoState, faultMessage(err))
			return
		}
		power := powerRunning
		if target == "SHUTOFF" {
			power = powerShutdown
		}
		s.setState(ctx, srv.ID, target, "", power, "")
	})
}

// prepare plugs a server's ports, makes its files and returns its VM spec.
func (s *Service) prepare(ctx context.Context, srv *server, img *image.BootImage) (*hypervisor.Spec, error) {
	dir := s.driver.Dir(srv.ID)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	atts, err := s.plug(ctx, srv)
	if err != nil {
		return nil, err
	}
	spec := &hypervisor.Spec{ID: srv.ID, VCPUs: srv.Flavor.VCPUs, RAMMiB: srv.Flavor.RAM}
	var props map[string]string // of the image the root disk is made of
	if root := srv.rootVolume(); root != nil {
		// Booted from a volume: it is the root disk, the properties of
		// its image (kernel, ramdisk, command line) say how to boot it.
		if spec.Disk, err = s.volumes.Disk(ctx, root.Attachment); err != nil {
			return nil, faultf(err, "The boot volume %s could not be attached", root.VolumeID)
		}
		spec.RootSerial = root.VolumeID
		if props, err = s.volumes.ImageMetadata(ctx, root.Attachment); err != nil {
			return nil, err
		}
	} else {
		if spec.Disk, err = s.rootDisk(srv, img); err != nil {
			return nil, err
		}
		props = img.Properties
	}
	// Direct kernel boot (images with kernel_id and ramdisk_id, as in Nova).
	if kid := props["kernel_id"]; kid != "" {
		k, err := s.images.ForBootID(ctx, kid)
		if err != nil {
			return nil, fmt.Errorf("kernel image %s: %w", kid, err)
		}
		if spec.Kernel, err = s.cacheBase(k); err != nil {
			return nil, err
		}
		spec.Append = "console=ttyS0 root=/dev/vda"
		if v := props["os_command_line"]; v != "" {
			spec.Append = v
		}
		if rid := props["ramdisk_id"]; rid != "" {
			r, err := s.images.ForBootID(ctx, rid)
			if err != nil {
				return nil, fmt.Errorf("ramdisk image %s: %w", rid, err)
			}
			if spec.Initrd, err = s.cacheBase(r); err != nil {
				return nil, err
			}
		}
	}
	if srv.ConfigDrive {
		pub := ""
		if srv.KeyName != "" {
			pub, _ = s.keypairOf(ctx, srv.UserID, srv.KeyName)
		}
		spec.ConfigDrive = filepath.Join(dir, "config.iso")
		if err := configDrive(spec.ConfigDrive, srv, pub, atts); err != nil {
			return nil, err
		}
	}
	spec.NICs = nics(atts)
	if spec.Volumes, err = s.volumeDisks(ctx, srv); err != nil {
		return nil, err
	}
	return spec, nil
}

// rootDisk makes a server's root disk: a qcow2 overlay on its image, of
// the flavor's size at least.
func (s *Service) rootDisk(srv *server, img *image.BootImage) (*hypervisor.Disk, error) {
	base, err := s.cacheBase(img)
	if err != nil {
		return nil, err
	}
	info, err := checkBase(base, img.DiskFormat)
	if err != nil {
		return nil, err
	}
	disk := &hypervisor.Disk{Path: filepath.Join(s.driver.Dir(srv.ID), "disk.qcow2"), Format: "qcow2", Backing: &hypervisor.Disk{Path: base, Format: info.Format, ReadOnly: true}}
	size := max(int64(srv.Flavor.Disk)<<30, info.VirtualSize)
	// -u: the base was inspected above; qemu-img need not open it.
	args := []string{"create", "-q", "-f", "qcow2", "-u", "-F", info.Format, "-b", base, disk.Path, strconv.FormatInt(size, 10)}
	if out, err := exec.Command("qemu-img", args...).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("qemu-img create: %v: %s", err, out)
	}
	return disk, nil
}

// plug binds the server's ports to this host, which puts their taps on
// their networks, and returns them in the order of its NICs.
func (s *Service) plug(ctx context.Context, srv *server) ([]network.Attachment, error) {
	atts, err := s.ports.Plug(ctx, srv.ID, portIDs(srv.Ports))
	if err != nil {
		return nil, faultf(err, "The server's network could not be set up on this host")
	}
	return atts, nil
}

// nics are the VM's NICs on its ports' taps.
func nics(atts []network.Attachment) []hypervisor.NIC {
	var out []hypervisor.NIC
	for _, a := range atts {
		out = append(out, hypervisor.NIC{Tap: a.Device, MAC: a.MAC})
	}
	return out
}

// checkBase inspects a server's base image before it boots, as uploads
// are inspected (images stored before that check are refused here), and
// returns the format QEMU opens it with.
func checkBase(path, declared string) (diskimage.Info, error) {
	f, err := os.Open(path)
	if err != nil {
		return diskimage.Info{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return diskimage.Info{}, err
	}
	info, err := diskimage.Check(declared, f, fi.Size())
	if err != nil {
		return info, err
	}
	if info.Format != "qcow2" && info.Format != "raw" {
		return info, &diskimage.Error{Reason: fmt.Sprintf("disk format %s cannot be booted; convert the image to qcow2 or raw.", info.Format)}
	}
	return info, nil
}

// cacheBase links an image's data into the instances' base directory, so
// servers keep their backing file (and kernel and ramdisk) when the image
// is deleted.
func (s *Service) cacheBase(img *image.BootImage) (string, error) {
	dir := filepath.Join(s.cfg.DataDir, "instances", "_base")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	path := filepath.Join(dir, filepath.Base(img.Path))
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	if err := os.Link(img.Path, path); err != nil && !os.IsExist(err) {
		return "", err
	}
	return path, nil
}

// destroy ends a server's VM, removes its files, lets its ports go (those
// it was given stay), then the record of its actions and its own. It runs
// under the server's lock.
func (s *Service) destroy(ctx context.Context, srv *server) {
	if err := s.driver.Destroy(srv.ID); err != nil {
		s.log.Error("destroying server", "server", srv.ID, "err", err)
	}
	made, given := madeAndGiven(srv.Ports)
	if err := s.ports.Release(ctx, srv.ID, made, given); err != nil {
		s.log.Error("releasing the ports of a server", "server", srv.ID, "err", err)
	}
	s.releaseVolumes(ctx, srv)
	for _, consumer := range []string{srv.ID, migrationConsumer(srv)} { // (a resize's, if it was not confirmed)
		if err := s.placement.Release(ctx, consumer); err != nil {
			s.log.Error("releasing the resources of a server", "server", srv.ID, "err", err)
		}
	}
	if _, err := s.db.Exec(ctx, `DELETE FROM server_group_members WHERE server_id = ?`, srv.ID); err != nil {
		s.log.Error("taking a server out of its group", "server", srv.ID, "err", err)
	}
	// The actions go first: a server that is gone has none left.
	if err := s.ops.Forget(ctx, srv.ID); err != nil {
		s.log.Error("deleting the actions of a server", "server", srv.ID, "err", err)
	}
	if _, err := s.db.Exec(ctx, `DELETE FROM servers WHERE id = ?`, srv.ID); err != nil {
		s.log.Error("deleting server record", "server", srv.ID, "err", err)
	}
}

// restart starts the VM of an existing server again, with the spec it was
// started with (its disk, config drive and boot files stay), on the ports
// and volumes it has now.
func (s *Service) restart(ctx context.Context, srv *server) error {
	spec, err := s.driver.SavedSpec(srv.ID)
	if err != nil {
		// Never started: build it as new.
		var img *image.BootImage
		if srv.rootVolume() == nil {
			if img, err = s.images.ForBootID(ctx, srv.ImageID); err != nil {
				return err
			}
		}
		if spec, err = s.prepare(ctx, srv, img); err != nil {
			return err
		}
		return s.driver.Start(spec)
	}
	atts, err := s.plug(ctx, srv)
	if err != nil {
		return err
	}
	spec.NICs = nics(atts)
	spec.VCPUs, spec.RAMMiB = srv.Flavor.VCPUs, srv.Flavor.RAM // a resize changes them
	if spec.Volumes, err = s.volumeDisks(ctx, srv); err != nil {
		return err
	}
	// A boot volume anew too: an encrypted one's passphrase is not saved.
	if root := srv.rootVolume(); root != nil {
		if spec.Disk, err = s.volumes.Disk(ctx, root.Attachment); err != nil {
			return faultf(err, "The boot volume %s could not be attached", root.VolumeID)
		}
	}
	return s.driver.Start(spec)
}

func (s *Service) serverAction(q *request) error {
	srv, err := s.serverFor(q)
	if err != nil {
		return err
	}
	var body map[string]any
	if err := httpapi.DecodeJSON(q.r, &body); err != nil {
		return err
	}
	if len(body) != 1 {
		return errorf(http.StatusBadRequest, "There is either no action or more than one action in the request.")
	}
	var action string
	var arg map[string]any // the action's object, nil for {"os-start": null}
	for k, v := range body {
		action, arg = k, asObject(v)
	}
	switch {
	case slices.Contains([]string{"os-getConsoleOutput", "os-start", "os-stop", "reboot", "rebuild", "createImage", "resize", "confirmResize",
		"revertResize", "addSecurityGroup", "removeSecurityGroup"}, action):
	case slices.Contains(novaActions, action):
		return errorf(http.StatusNotImplemented, "The server action %s is not implemented yet.", action)
	default:
		return errorf(http.StatusBadRequest, "Unsupported server action %q.", action)
	}
	kind, _ := arg["type"].(string) // of a reboot
	if action == "reboot" && kind != "SOFT" && kind != "HARD" {
		return errorf(http.StatusBadRequest, "Invalid input for field/attribute type. Value: %v", arg["type"])
	}
	// Every action, the console output included, needs member (as in Nova).
	if err := q.enforce("os_compute_api:servers:action", srv.ProjectID); err != nil {
		return err
	}
	switch action {
	case "os-getConsoleOutput":
		return s.consoleOutput(q, srv, arg["length"])
	case "addSecurityGroup", "removeSecurityGroup":
		name, _ := arg["name"].(string)
		if name == "" {
			return errorf(http.StatusBadRequest, "Security group name cannot be empty")
		}
		if err := s.ports.SetServerGroup(q.r.Context(), srv.ID, srv.ProjectID, portIDs(srv.Ports), name, action == "addSecurityGroup"); err != nil {
			return err
		}
		q.w.WriteHeader(http.StatusAccepted)
		return nil
	}
	if srv.TaskState != "" {
		return errorf(http.StatusConflict, "Cannot act on instance %s while it is in task_state %s", srv.ID, srv.TaskState)
	}
	switch action {
	case "rebuild":
		return s.rebuild(q, srv, arg)
	case "createImage":
		return s.createImage(q, srv, arg)
	case "resize":
		return s.resize(q, srv, arg)
	case "confirmResize":
		return s.confirmResize(q, srv)
	case "revertResize":
		return s.revertResize(q, srv)
	}
	ctx := q.r.Context()
	switch action {
	case "os-start":
		if srv.Status != "SHUTOFF" {
			return errorf(http.StatusConflict, "Cannot 'start' instance %s while it is in vm_state %s", srv.ID, srv.Status)
		}
		s.setState(ctx, srv.ID, "SHUTOFF", "powering-on", powerShutdown, "")
		s.act(q, srv, "start", "compute_start_instance", func(ctx context.Context) error { return s.restart(ctx, srv) }, "ACTIVE")
	case "os-stop":
		if srv.Status != "ACTIVE" && srv.Status != "ERROR" {
			return errorf(http.StatusConflict, "Cannot 'stop' instance %s while it is in vm_state %s", srv.ID, srv.Status)
		}
		s.setState(ctx, srv.ID, srv.Status, "powering-off", srv.PowerState, "")
		s.act(q, srv, "stop", "compute_stop_instance", func(context.Context) error { return s.driver.Stop(srv.ID, 10*time.Second) }, "SHUTOFF")
	case "reboot":
		if srv.Status != "ACTIVE" && !(kind == "HARD" && (srv.Status == "SHUTOFF" || srv.Status == "ERROR")) {
			return errorf(http.StatusConflict, "Cannot 'reboot' instance %s while it is in vm_state %s", srv.ID, srv.Status)
		}
		status, task := "REBOOT", "rebooting"
		if kind == "HARD" {
			status, task = "HARD_REBOOT", "rebooting_hard"
		}
		s.setState(ctx, srv.ID, status, task, srv.PowerState, "")
		s.act(q, srv, "reboot", "compute_reboot_instance", func(ctx context.Context) error {
			if running, _ := s.driver.Running(srv.ID); running && kind == "HARD" {
				return s.driver.Reset(srv.ID)
			}
			if err := s.driver.Stop(srv.ID, 10*time.Second); err != nil {
				return err
			}
			return s.restart(ctx, srv)
		}, "ACTIVE")
	}
	q.w.WriteHeader(http.StatusAccepted)
	return nil
}

// novaActions are the server actions Nova has that sov does not yet: 501.
var novaActions = []string{"createBackup", "changePassword", "pause", "unpause",
	"suspend", "resume", "lock", "unlock", "rescue", "unrescue", "shelve", "shelveOffload", "unshelve", "migrate", "os-migrateLive",
	"evacuate", "os-resetState", "forceDelete", "restore", "trigger_crash_dump", "addFixedIp", "removeFixedIp", "addFloatingIp",
	"removeFloatingIp", "injectNetworkInfo", "os-resetNetwork", "os-getVNCConsole", "os-getSPICEConsole", "os-getSerialConsole",
	"os-getRDPConsole"}

func asObject(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

func (s *Service) consoleOutput(q *request, srv *server, length any) error {
	n := -1
	switch v := length.(type) {
	case nil:
	case float64:
		n = int(v)
	case string:
		var err error
		if n, err = strconv.Atoi(v); err != nil {
			return errorf(http.StatusBadRequest, "Invalid input for field/attribute length.")
		}
	default:
		return errorf(http.StatusBadRequest, "Invalid input for field/attribute length.")
	}
	out, err := s.driver.ConsoleLog(srv.ID, n)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(q.w, http.StatusOK, map[string]any{"output": out})
	return nil
}

// Recover finds the servers' VMs again after a restart: a server recorded
// as running whose VM is gone is SHUTOFF; one mid-operation is settled.
func (s *Service) Recover(ctx context.Context) error {
	rows, err := s.db.Query(ctx, `SELECT `+serverColumns+` FROM servers`)
	if err != nil {
		return err
	}
	all, err := store.Collect(rows, scanServer)
	if err != nil {
		return err
	}
	if err := s.healAllocations(ctx, all); err != nil {
		return err
	}
	for _, srv := range all {
		if srv.TaskState != "deleting" && slices.ContainsFunc(srv.Volumes, func(v serverVolume) bool { return v.State != "attached" }) {
			// In the background, under the server's lock: a guest takes
			// its time to let go of a disk.
			s.ops.Go(ops.Action{ResourceID: srv.ID}, "", func(ctx context.Context) error {
				if srv, err := s.loadServer(ctx, srv.ID); err == nil {
					s.settleVolumes(ctx, srv)
				}
				return nil
			}, nil)
		}
		running, _ := s.driver.Running(srv.ID)
		switch {
		case srv.TaskState == "deleting":
			s.ops.Go(ops.Action{ResourceID: srv.ID}, "", func(ctx context.Context) error { s.destroy(ctx, srv); return nil }, nil)
		case srv.Status == "VERIFY_RESIZE" && srv.TaskState == "":
			// A resize waiting for its confirm or revert waits on.
		case srv.Status == "RESIZE":
			// A resize cut short failed: the server is back at its old flavor.
			s.ops.Go(ops.Action{ResourceID: srv.ID}, "", func(ctx context.Context) error { s.undoResize(ctx, srv); return nil }, nil)
		case running:
			s.setState(ctx, srv.ID, "ACTIVE", "", powerRunning, "")
		case srv.Status == "ERROR":
		case srv.Status == "BUILD":
			s.setState(ctx, srv.ID, "ERROR", "", powerNoState, "The build was interrupted by a restart of sov.")
		default:
			s.setState(ctx, srv.ID, "SHUTOFF", "", powerShutdown, "")
		}
	}
	return nil
}
