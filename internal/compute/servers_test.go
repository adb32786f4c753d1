package compute_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/keypairs"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/limits"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/quotasets"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"

	"github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/imagedata"
	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/images"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/security/groups"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/security/rules"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/ports"
	"github.com/sovcloud/sov/internal/engines"
	netfake "github.com/sovcloud/sov/internal/network/fake"
	"github.com/sovcloud/sov/internal/servertest"
)

func waitStatus(t testing.TB, c *gophercloud.ServiceClient, id, want string) *servers.Server {
	t.Helper()
	deadline := time.Now().Add(120 * time.Second)
	for {
		srv, err := servers.Get(ctx, c, id).Extract()
		if err != nil {
			t.Fatalf("get server: %v", err)
		}
		if srv.Status == want && srv.TaskState == "" {
			return srv
		}
		if srv.Status == "ERROR" && want != "ERROR" {
			t.Fatalf("server went to ERROR: %+v", srv.Fault)
		}
		if time.Now().After(deadline) {
			t.Fatalf("server is %s/%s after 120s, want %s", srv.Status, srv.TaskState, want)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

func waitConsole(t testing.TB, c *gophercloud.ServiceClient, id, want string) string {
	t.Helper()
	return waitConsoleWithin(t, c, id, want, 180*time.Second)
}

// waitConsoleWithin waits up to limit for want on a server's console.
func waitConsoleWithin(t testing.TB, c *gophercloud.ServiceClient, id, want string, limit time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		out, err := servers.ShowConsoleOutput(ctx, c, id, servers.ShowConsoleOutputOpts{}).Extract()
		if err != nil {
			t.Fatalf("console output: %v", err)
		}
		if strings.Contains(out, want) {
			return out
		}
		if time.Now().After(deadline) {
			// The end of the console says where the guest is stuck.
			lines := strings.Split(out, "\n")
			t.Fatalf("console lacks %q after %s; its last lines:\n%s", want, limit, strings.Join(lines[max(0, len(lines)-80):], "\n"))
		}
		time.Sleep(500 * time.Millisecond)
	}
}

var flavorID = servertest.FlavorID

func TestServerLifecycle(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, nil)
	alpha := srv.NewTenant(t, "alpha", "")
	p := srv.Provider(t, alpha)
	c := computeClient(t, p, "2.47")
	imageID := servertest.UploadTestGuest(t, p)
	flavor := flavorID(t, c, "SCS-1L-1")
	netID := servertest.TenantNetwork(t, p, "alpha-net", "10.80.0.0/24")

	// With a config drive (the guests of the other tests read the metadata service).
	yes := true
	created, err := servers.Create(ctx, c, servers.CreateOpts{Name: "vm-one", ImageRef: imageID, FlavorRef: flavor,
		Networks: []servers.Network{{UUID: netID}}, ConfigDrive: &yes,
		UserData: []byte("#!/bin/sh\necho user-data-ran-$((6*7))\n"), Metadata: map[string]string{"role": "test"}}, nil).Extract()
	wantStatus(t, "create", err, 0)
	s := waitStatus(t, c, created.ID, "ACTIVE")
	if s.Metadata["role"] != "test" || s.Flavor["original_name"] != "SCS-1L-1" {
		t.Errorf("server = %+v", s)
	}
	out := waitConsole(t, c, created.ID, "sov-guest: ready")
	if strings.Contains(out, "from the metadata service") {
		t.Errorf("the guest did not find its config drive:\n%s", out)
	}
	for _, want := range []string{"instance uuid=" + created.ID, "hostname=vm-one", "user-data-ran-42"} {
		if !strings.Contains(out, want) {
			t.Errorf("console lacks %q:\n%s", want, out)
		}
	}
	// The guest took its port's address by DHCP and answers on it on its network.
	addrs, _ := s.Addresses["alpha-net"].([]any)
	if len(addrs) != 1 {
		t.Fatalf("addresses = %v", s.Addresses)
	}
	ip := addrs[0].(map[string]any)["addr"].(string)
	if !strings.Contains(out, "sov-guest: dhcp "+ip+"/24") {
		t.Errorf("the guest's lease is not its port's address %s:\n%s", ip, out)
	}
	// Its security groups (the project's default) let nothing in from
	// outside the group; a rule for port 80 opens it, and deleted closes it.
	if body, err := servertest.GetOnNetwork(netID, "http://"+ip+"/"); err == nil {
		t.Fatalf("the guest answers %q on port 80 without a rule", body)
	}
	nc := networkClient(t, p)
	groups := listGroups(t, nc, "default")
	web, err := rules.Create(ctx, nc, rules.CreateOpts{SecGroupID: groups[0].ID, Direction: rules.DirIngress, EtherType: rules.EtherType4,
		Protocol: rules.ProtocolTCP, PortRangeMin: 80, PortRangeMax: 80, RemoteIPPrefix: "10.80.0.0/24"}).Extract()
	wantStatus(t, "rule for port 80", err, 0)
	var body string
	for end := time.Now().Add(30 * time.Second); time.Now().Before(end); time.Sleep(300 * time.Millisecond) {
		if body, err = servertest.GetOnNetwork(netID, "http://"+ip+"/"); err == nil {
			break
		}
	}
	if strings.TrimSpace(body) != created.ID {
		dhcpLog, _ := os.ReadFile(filepath.Join(srv.DataDir(), "network", netID, "dnsmasq.log"))
		t.Fatalf("guest at %s answered %q (%v), want its uuid; console:\n%s\ndnsmasq:\n%s", ip, body, err, out, dhcpLog)
	}
	wantStatus(t, "rule delete", rules.Delete(ctx, nc, web.ID).ExtractErr(), 0)
	if body, err := servertest.GetOnNetwork(netID, "http://"+ip+"/"); err == nil {
		t.Errorf("the guest answers %q on port 80 after its rule went", body)
	}

	// Another project sees and touches nothing.
	beta := computeClient(t, srv.Provider(t, srv.NewTenant(t, "beta", "")), "2.47")
	_, err = servers.Get(ctx, beta, created.ID).Extract()
	wantStatus(t, "beta gets", err, http.StatusNotFound)
	wantStatus(t, "beta stops", servers.Stop(ctx, beta, created.ID).ExtractErr(), http.StatusNotFound)
	wantStatus(t, "beta deletes", servers.Delete(ctx, beta, created.ID).ExtractErr(), http.StatusNotFound)
	_, err = servers.ShowConsoleOutput(ctx, beta, created.ID, servers.ShowConsoleOutputOpts{}).Extract()
	wantStatus(t, "beta reads the console", err, http.StatusNotFound)
	pages, _ := servers.List(beta, nil).AllPages(ctx)
	if list, _ := servers.ExtractServers(pages); len(list) != 0 {
		t.Errorf("beta lists %d servers", len(list))
	}

	// A reader of the project sees the server but may not read its console
	// or act on it (Nova's os-console-output needs member).
	reader := computeClient(t, srv.Provider(t, srv.NewTenantUser(t, "alpha", "reader")), "2.47")
	_, err = servers.Get(ctx, reader, created.ID).Extract()
	wantStatus(t, "reader gets", err, 0)
	_, err = servers.ShowConsoleOutput(ctx, reader, created.ID, servers.ShowConsoleOutputOpts{}).Extract()
	wantStatus(t, "reader reads the console", err, http.StatusForbidden)
	wantStatus(t, "reader stops", servers.Stop(ctx, reader, created.ID).ExtractErr(), http.StatusForbidden)

	// Stop, start, soft and hard reboot.
	wantStatus(t, "stop", servers.Stop(ctx, c, created.ID).ExtractErr(), 0)
	waitStatus(t, c, created.ID, "SHUTOFF")
	wantStatus(t, "stop again", servers.Stop(ctx, c, created.ID).ExtractErr(), http.StatusConflict)
	wantStatus(t, "start", servers.Start(ctx, c, created.ID).ExtractErr(), 0)
	waitStatus(t, c, created.ID, "ACTIVE")
	wantStatus(t, "soft reboot", servers.Reboot(ctx, c, created.ID, servers.RebootOpts{Type: servers.SoftReboot}).ExtractErr(), 0)
	waitStatus(t, c, created.ID, "ACTIVE")
	wantStatus(t, "hard reboot", servers.Reboot(ctx, c, created.ID, servers.RebootOpts{Type: servers.HardReboot}).ExtractErr(), 0)
	waitStatus(t, c, created.ID, "ACTIVE")
	// ACTIVE comes before the guest's kernel has booted again: the console
	// shows the new boot a little later.
	for end := time.Now().Add(120 * time.Second); ; time.Sleep(500 * time.Millisecond) {
		out, _ := servers.ShowConsoleOutput(ctx, c, created.ID, servers.ShowConsoleOutputOpts{}).Extract()
		if strings.Count(out, "sov-guest: booting") >= 2 {
			break
		}
		if time.Now().After(end) {
			t.Fatalf("the console shows %d boots after stop/start/reboots", strings.Count(out, "sov-guest: booting"))
		}
	}

	// Rebuilt (2.57) with a new name and user data: the guest boots a new
	// disk, with a new config drive, and runs the new user data.
	c57 := computeClient(t, p, "2.57")
	rebuilt, err := servers.Rebuild(ctx, c57, created.ID, rebuildOpts{"imageRef": imageID, "name": "vm-renewed",
		"user_data": base64.StdEncoding.EncodeToString([]byte("#!/bin/sh\necho rebuilt-$((6*7))\n"))}).Extract()
	wantStatus(t, "rebuild", err, 0)
	if rebuilt.Name != "vm-renewed" || rebuilt.Status != "REBUILD" {
		t.Errorf("the rebuild's answer: %+v", rebuilt)
	}
	waitStatus(t, c, created.ID, "ACTIVE")
	out = waitConsole(t, c, created.ID, "rebuilt-42")
	if !strings.Contains(out, "hostname=vm-renewed") || strings.Contains(out, "user-data-ran-42") {
		t.Errorf("the rebuilt guest's console:\n%s", out)
	}

	deleteAndWait(t, srv, c, created.ID)
}

// rebuildOpts is a rebuild request as it is (gophercloud's RebuildOpts
// has no key_name or user_data).
type rebuildOpts map[string]any

func (o rebuildOpts) ToServerRebuildMap() (map[string]any, error) {
	return map[string]any{"rebuild": map[string]any(o)}, nil
}

func TestServerBadInput(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, servertest.Fake)
	alpha := srv.NewTenant(t, "alpha", "")
	p := srv.Provider(t, alpha)
	c := computeClient(t, p, "")
	imageID := servertest.UploadTestGuest(t, p)
	small, big := flavorID(t, c, "SCS-1L-1"), flavorID(t, c, "SCS-16V-32")
	for _, tc := range []struct {
		name   string
		opts   servers.CreateOptsBuilder
		status int
	}{
		{"unknown-flavor", servers.CreateOpts{Name: "x", ImageRef: imageID, FlavorRef: "nope"}, http.StatusBadRequest},
		{"unknown-image", servers.CreateOpts{Name: "x", ImageRef: "00000000-0000-0000-0000-000000000000", FlavorRef: small}, http.StatusBadRequest},
		{"unknown-key", keypairs.CreateOptsExt{CreateOptsBuilder: servers.CreateOpts{Name: "x", ImageRef: imageID, FlavorRef: small}, KeyName: "nope"}, http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := servers.Create(ctx, c, tc.opts, nil).Extract()
			wantStatus(t, tc.name, err, tc.status)
		})
	}
	// Cores quota (20): one 16-core server fits, a second does not.
	first, err := servers.Create(ctx, c, servers.CreateOpts{Name: "big-1", ImageRef: imageID, FlavorRef: big}, nil).Extract()
	wantStatus(t, "first big server", err, 0)
	_, err = servers.Create(ctx, c, servers.CreateOpts{Name: "big-2", ImageRef: imageID, FlavorRef: big}, nil).Extract()
	wantStatus(t, "over the cores quota", err, http.StatusForbidden)
	// Limits show the quotas and the usage.
	lim, err := limits.Get(ctx, c, nil).Extract()
	wantStatus(t, "limits", err, 0)
	if a := lim.Absolute; a.MaxTotalCores != 20 || a.MaxTotalInstances != 10 || a.MaxTotalRAMSize != 51200 ||
		a.TotalCoresUsed != 16 || a.TotalInstancesUsed != 1 || a.TotalRAMUsed != 32768 {
		t.Errorf("limits = %+v", a)
	}
	qs, err := quotasets.Get(ctx, c, alpha.ProjectID).Extract()
	if err != nil || qs.Cores != 20 || qs.Instances != 10 {
		t.Errorf("quota set = %+v, %v", qs, err)
	}
	// Only an admin sets quotas; with one instance allowed, a second small server is refused.
	one := 1
	_, err = quotasets.Update(ctx, c, alpha.ProjectID, quotasets.UpdateOpts{Instances: &one}).Extract()
	wantStatus(t, "member sets its quota", err, http.StatusForbidden)
	admin := computeClient(t, srv.Admin(t).ProviderClient, "")
	qs, err = quotasets.Update(ctx, admin, alpha.ProjectID, quotasets.UpdateOpts{Instances: &one}).Extract()
	if err != nil || qs.Instances != 1 || qs.Cores != 20 {
		t.Fatalf("admin sets the quota = %+v, %v", qs, err)
	}
	_, err = servers.Create(ctx, c, servers.CreateOpts{Name: "small", ImageRef: imageID, FlavorRef: small}, nil).Extract()
	wantStatus(t, "over the instances quota", err, http.StatusForbidden)
	if lim, _ := limits.Get(ctx, c, nil).Extract(); lim.Absolute.MaxTotalInstances != 1 {
		t.Errorf("limits after the quota change = %+v", lim.Absolute)
	}
	// Another project's private image cannot be used.
	beta := srv.NewTenant(t, "beta", "")
	bc := computeClient(t, srv.Provider(t, beta), "")
	_, err = servers.Create(ctx, bc, servers.CreateOpts{Name: "x", ImageRef: imageID, FlavorRef: small}, nil).Extract()
	wantStatus(t, "another project's image", err, http.StatusBadRequest)
	_, err = quotasets.Get(ctx, bc, alpha.ProjectID).Extract()
	wantStatus(t, "another project's quotas", err, http.StatusForbidden)
	if lim, _ := limits.Get(ctx, bc, nil).Extract(); lim.Absolute.TotalInstancesUsed != 0 {
		t.Errorf("beta's limits count alpha's servers: %+v", lim.Absolute)
	}

	pages, _ := servers.List(c, nil).AllPages(ctx)
	list, _ := servers.ExtractServers(pages)
	if len(list) != 1 || list[0].ID != first.ID {
		t.Errorf("servers after bad requests = %d, want only %s", len(list), first.ID)
	}
	dirs, _ := filepath.Glob(filepath.Join(srv.DataDir(), "instances", "*-*"))
	if len(dirs) > 1 {
		t.Errorf("instance directories after bad requests: %v", dirs)
	}
}

// TestServersSurviveRestart restarts sov under a running server: the VM
// runs on and is found again; a VM that died meanwhile shows SHUTOFF.
func TestServersSurviveRestart(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, nil)
	alpha := srv.NewTenant(t, "alpha", "")
	p := srv.Provider(t, alpha)
	c := computeClient(t, p, "")
	imageID := servertest.UploadTestGuest(t, p)
	// The project's only network: the server is on it without naming it.
	netID := servertest.TenantNetwork(t, p, "alpha-net", "10.81.0.0/24")
	created, err := servers.Create(ctx, c, servers.CreateOpts{Name: "survivor", ImageRef: imageID, FlavorRef: flavorID(t, c, "SCS-1L-1")}, nil).Extract()
	wantStatus(t, "create", err, 0)
	waitStatus(t, c, created.ID, "ACTIVE")
	waitConsole(t, c, created.ID, "sov-guest: ready")
	qemuPID, ok := srv.Engine(t, "qemu", created.ID)
	dhcpPID, dok := srv.Engine(t, "dnsmasq", netID)
	if !ok || !dok {
		t.Fatalf("engines recorded: qemu %v, dnsmasq %v", ok, dok)
	}
	// A process marked as this cloud's engine that no record names (as a
	// crash between starting and recording would leave) is reaped at start.
	stray := exec.Command("sleep", "300")
	stray.Env = append(os.Environ(), "SOV_ENGINE="+engines.CloudID(srv.DataDir()))
	if err := stray.Start(); err != nil {
		t.Fatal(err)
	}
	strayDone := make(chan error, 1)
	go func() { strayDone <- stray.Wait() }()

	srv = srv.Restart(t)
	c = computeClient(t, srv.Provider(t, alpha), "")
	s, err := servers.Get(ctx, c, created.ID).Extract()
	if err != nil || s.Status != "ACTIVE" {
		t.Fatalf("after restart = %+v, %v", s, err)
	}
	if after, _ := srv.Engine(t, "qemu", created.ID); after != qemuPID {
		t.Errorf("the VM was restarted (pid %d -> %d), want the same process", qemuPID, after)
	}
	if after, _ := srv.Engine(t, "dnsmasq", netID); after != dhcpPID {
		t.Errorf("dnsmasq was not adopted (pid %d -> %d)", dhcpPID, after)
	}
	select {
	case <-strayDone:
	case <-time.After(10 * time.Second):
		stray.Process.Kill()
		t.Error("an unrecorded engine process survived the start")
	}
	out, _ := servers.ShowConsoleOutput(ctx, c, created.ID, servers.ShowConsoleOutputOpts{}).Extract()
	if strings.Count(out, "sov-guest: booting") != 1 {
		t.Errorf("console after restart shows %d boots", strings.Count(out, "sov-guest: booting"))
	}

	// The VM dies while sov is down: it comes back as SHUTOFF, and starts again.
	srv.Close()
	pid := qemuPID
	syscall.Kill(pid, syscall.SIGKILL)
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if syscall.Kill(pid, 0) != nil {
			break
		}
	}
	srv = srv.Restart(t)
	c = computeClient(t, srv.Provider(t, alpha), "")
	if s, _ := servers.Get(ctx, c, created.ID).Extract(); s.Status != "SHUTOFF" {
		t.Fatalf("after the VM died = %s, want SHUTOFF", s.Status)
	}
	wantStatus(t, "start", servers.Start(ctx, c, created.ID).ExtractErr(), 0)
	waitStatus(t, c, created.ID, "ACTIVE")
	waitConsole(t, c, created.ID, "sov-guest: ready")
}

// TestServerBuildFailure boots where the network cannot be set up on the
// host: the server goes to ERROR with a fault that names no host detail,
// and deleting it leaves no port.
func TestServerBuildFailure(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, servertest.Fake)
	alpha := srv.NewTenant(t, "alpha", "")
	p := srv.Provider(t, alpha)
	c := computeClient(t, p, "")
	imageID := servertest.UploadTestGuest(t, p)
	servertest.TenantNetwork(t, p, "alpha-net", "10.82.0.0/24")
	srv.Network().Dataplane().(*netfake.Dataplane).Fail(errors.New("bridge: operation not permitted in " + srv.DataDir()))
	created, err := servers.Create(ctx, c, servers.CreateOpts{Name: "doomed", ImageRef: imageID, FlavorRef: flavorID(t, c, "SCS-1L-1")}, nil).Extract()
	wantStatus(t, "create", err, 0)
	s := waitStatus(t, c, created.ID, "ERROR")
	if !strings.Contains(s.Fault.Message, "network could not be set up") || strings.Contains(s.Fault.Message, srv.DataDir()) {
		t.Errorf("fault = %+v", s.Fault)
	}
	deleteAndWait(t, srv, c, created.ID)
	nc := networkClient(t, p)
	if all := listPorts(t, nc, ports.ListOpts{DeviceID: created.ID}); len(all) != 0 {
		t.Errorf("ports of the deleted server: %v", all)
	}
}

// TestServerRefusesPlantedImage boots an image whose stored data was
// replaced, past the upload check, by a qcow2 naming a host file as its
// backing file (as images stored before that check could be): the boot
// check refuses it, the server goes to ERROR and its fault names no host path.
func TestServerRefusesPlantedImage(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, nil)
	alpha := srv.NewTenant(t, "alpha", "")
	p := srv.Provider(t, alpha)
	c := computeClient(t, p, "")
	guest := servertest.UploadTestGuest(t, p)
	ic, err := openstack.NewImageV2(p, gophercloud.EndpointOpts{})
	if err != nil {
		t.Fatal(err)
	}
	g, err := images.Get(ctx, ic, guest).Extract()
	wantStatus(t, "get guest", err, 0)
	dir := t.TempDir()
	clean, evil := filepath.Join(dir, "clean.qcow2"), filepath.Join(dir, "evil.qcow2")
	secret := filepath.Join(srv.DataDir(), "admin-password")
	for _, args := range [][]string{{clean, "1M"}, {"-u", "-b", secret, "-F", "raw", evil, "1M"}} {
		if out, err := exec.Command("qemu-img", append([]string{"create", "-q", "-f", "qcow2"}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("qemu-img: %v: %s", err, out)
		}
	}
	img, err := images.Create(ctx, ic, images.CreateOpts{Name: "planted", DiskFormat: "qcow2", ContainerFormat: "bare",
		Properties: map[string]string{"kernel_id": fmt.Sprint(g.Properties["kernel_id"]), "ramdisk_id": fmt.Sprint(g.Properties["ramdisk_id"])}}).Extract()
	wantStatus(t, "create image", err, 0)
	f, _ := os.Open(clean)
	wantStatus(t, "upload", imagedata.Upload(ctx, ic, img.ID, f).ExtractErr(), 0)
	f.Close()
	stored, _ := filepath.Glob(filepath.Join(srv.DataDir(), "images", img.ID+"-*"))
	if len(stored) != 1 {
		t.Fatalf("stored files of the image: %v", stored)
	}
	planted, _ := os.ReadFile(evil)
	if err := os.WriteFile(stored[0], planted, 0o600); err != nil {
		t.Fatal(err)
	}
	created, err := servers.Create(ctx, c, servers.CreateOpts{Name: "planted", ImageRef: img.ID, FlavorRef: flavorID(t, c, "SCS-1L-1")}, nil).Extract()
	wantStatus(t, "create", err, 0)
	s := waitStatus(t, c, created.ID, "ERROR")
	if !strings.Contains(s.Fault.Message, "backing file") || strings.Contains(s.Fault.Message, srv.DataDir()) {
		t.Errorf("fault = %+v", s.Fault)
	}
	deleteAndWait(t, srv, c, created.ID)
}

// TestServerOutlivesItsImage deletes the image of a running server: the
// server keeps its backing file and stops and starts as before.
func TestServerOutlivesItsImage(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, nil)
	alpha := srv.NewTenant(t, "alpha", "")
	p := srv.Provider(t, alpha)
	c := computeClient(t, p, "")
	imageID := servertest.UploadTestGuest(t, p)
	created, err := servers.Create(ctx, c, servers.CreateOpts{Name: "orphan", ImageRef: imageID, FlavorRef: flavorID(t, c, "SCS-1L-1")}, nil).Extract()
	wantStatus(t, "create", err, 0)
	waitStatus(t, c, created.ID, "ACTIVE")
	ic, err := openstack.NewImageV2(p, gophercloud.EndpointOpts{})
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, "delete image", images.Delete(ctx, ic, imageID).ExtractErr(), 0)
	wantStatus(t, "stop", servers.Stop(ctx, c, created.ID).ExtractErr(), 0)
	waitStatus(t, c, created.ID, "SHUTOFF")
	wantStatus(t, "start", servers.Start(ctx, c, created.ID).ExtractErr(), 0)
	waitStatus(t, c, created.ID, "ACTIVE")
	waitConsole(t, c, created.ID, "sov-guest: ready")
}

func TestServerMetadataAndRename(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, servertest.Fake)
	alpha := srv.NewTenant(t, "alpha", "")
	p := srv.Provider(t, alpha)
	c := computeClient(t, p, "")
	imageID := servertest.UploadTestGuest(t, p)
	created, err := servers.Create(ctx, c, servers.CreateOpts{Name: "meta", ImageRef: imageID, FlavorRef: flavorID(t, c, "SCS-1L-1"),
		Metadata: map[string]string{"a": "1"}}, nil).Extract()
	wantStatus(t, "create", err, 0)
	md, err := servers.UpdateMetadata(ctx, c, created.ID, servers.MetadataOpts{"b": "2"}).Extract()
	if err != nil || md["a"] != "1" || md["b"] != "2" {
		t.Fatalf("merge = %v, %v", md, err)
	}
	md, err = servers.ResetMetadata(ctx, c, created.ID, servers.MetadataOpts{"c": "3"}).Extract()
	if err != nil || len(md) != 1 || md["c"] != "3" {
		t.Fatalf("replace = %v, %v", md, err)
	}
	item, err := servers.CreateMetadatum(ctx, c, created.ID, servers.MetadatumOpts{"d": "4"}).Extract()
	if err != nil || item["d"] != "4" {
		t.Fatalf("set item = %v, %v", item, err)
	}
	item, err = servers.Metadatum(ctx, c, created.ID, "d").Extract()
	if err != nil || item["d"] != "4" {
		t.Fatalf("get item = %v, %v", item, err)
	}
	wantStatus(t, "delete item", servers.DeleteMetadatum(ctx, c, created.ID, "d").ExtractErr(), 0)
	_, err = servers.Metadatum(ctx, c, created.ID, "d").Extract()
	wantStatus(t, "get deleted item", err, http.StatusNotFound)
	_, err = servers.UpdateMetadata(ctx, c, created.ID, servers.MetadataOpts{strings.Repeat("k", 300): "x"}).Extract()
	wantStatus(t, "key too long", err, http.StatusBadRequest)
	renamed, err := servers.Update(ctx, c, created.ID, servers.UpdateOpts{Name: "renamed"}).Extract()
	if err != nil || renamed.Name != "renamed" {
		t.Fatalf("rename = %+v, %v", renamed, err)
	}
	// Malformed actions are refused.
	for body, want := range map[string]int{`{"os-start": null, "os-stop": null}`: 400, `{"os-levitate": null}`: 400,
		`{"reboot": {"type": "GENTLE"}}`: 400, `{"reboot": "HARD"}`: 400, `{"os-getConsoleOutput": {"length": "x"}}`: 400} {
		_, err := c.Post(ctx, c.ServiceURL("servers", created.ID, "action"), json.RawMessage(body), nil, &gophercloud.RequestOpts{OkCodes: []int{202}})
		wantStatus(t, body, err, want)
	}
	// Another project can neither read nor change any of it.
	beta := computeClient(t, srv.Provider(t, srv.NewTenant(t, "beta", "")), "")
	_, err = servers.Metadata(ctx, beta, created.ID).Extract()
	wantStatus(t, "beta reads metadata", err, http.StatusNotFound)
	_, err = servers.UpdateMetadata(ctx, beta, created.ID, servers.MetadataOpts{"evil": "1"}).Extract()
	wantStatus(t, "beta sets metadata", err, http.StatusNotFound)
	_, err = servers.Update(ctx, beta, created.ID, servers.UpdateOpts{Name: "stolen"}).Extract()
	wantStatus(t, "beta renames", err, http.StatusNotFound)
	got, _ := servers.Get(ctx, c, created.ID).Extract()
	if got.Name != "renamed" || len(got.Metadata) != 1 || got.Metadata["c"] != "3" {
		t.Errorf("server after all = %s %v", got.Name, got.Metadata)
	}
}

// deleteAndWait deletes a server and checks that it and its files are gone.
func deleteAndWait(t *testing.T, srv *servertest.Server, c *gophercloud.ServiceClient, id string) {
	t.Helper()
	wantStatus(t, "delete", servers.Delete(ctx, c, id).ExtractErr(), 0)
	for end := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if _, err := servers.Get(ctx, c, id).Extract(); err != nil {
			wantStatus(t, "get deleted", err, http.StatusNotFound)
			break
		}
		if time.Now().After(end) {
			t.Fatal("server not gone 30s after delete")
		}
	}
	if _, err := os.Stat(filepath.Join(srv.DataDir(), "instances", id)); !os.IsNotExist(err) {
		t.Errorf("instance directory left behind: %v", err)
	}
}

func listGroups(t *testing.T, c *gophercloud.ServiceClient, name string) []groups.SecGroup {
	t.Helper()
	pages, err := groups.List(c, groups.ListOpts{Name: name}).AllPages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	all, err := groups.ExtractGroups(pages)
	if err != nil || len(all) == 0 {
		t.Fatalf("groups named %s: %v, %v", name, all, err)
	}
	return all
}
