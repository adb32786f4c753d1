package qemu

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sovcloud/sov/internal/engines"
	"github.com/sovcloud/sov/internal/hypervisor"
	"github.com/sovcloud/sov/internal/hypervisor/hypervisortest"
	"github.com/sovcloud/sov/internal/store"
)

// qemuImg runs qemu-img. Making a LUKS header, QEMU calibrates PBKDF2
// against the thread's CPU clock, which may read no time here ("Unable to
// get accurate CPU usage"): that is tried again, as the volume driver does.
func qemuImg(t *testing.T, args ...string) {
	t.Helper()
	for attempt := 1; ; attempt++ {
		out, err := exec.Command("qemu-img", args...).CombinedOutput()
		if err == nil {
			return
		}
		if attempt < 3 && strings.Contains(string(out), "Unable to get accurate CPU usage") {
			continue
		}
		t.Fatalf("qemu-img %v: %v: %s", args, err, out)
	}
}

func procStatus(t *testing.T, pid int, field string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("/proc", itoa(pid), "status"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			return strings.Fields(v)[0]
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return ""
}

// testEngines is a registry of engine processes on a store of the test's own.
func testEngines(t *testing.T) *engines.Registry {
	t.Helper()
	dir := t.TempDir()
	db, err := store.Open(context.Background(), filepath.Join(dir, "sov.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	r, err := engines.New(db, engines.CloudID(dir))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { engines.KillMarked(engines.CloudID(dir)) })
	return r
}

func itoa(i int) string { return strconv.Itoa(i) }

// TestPlantedBackingFileIsNotRead starts QEMU on a base image that names a
// host file as its backing file, as if one had got past the upload and boot
// checks: QEMU must not open that file, and reading the disk through QEMU's
// block layer gives zeros, not the file. QEMU runs as its own unprivileged
// uid, chrooted into an empty directory, under seccomp; two instances get
// different uids.
func TestPlantedBackingFileIsNotRead(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("the QEMU driver tests need root (as sov does to run servers)")
	}
	dir := t.TempDir()
	secret := filepath.Join(dir, "admin-password")
	os.WriteFile(secret, []byte("the-admin-password-of-the-host"), 0o600)
	base := filepath.Join(dir, "evil.qcow2")
	qemuImg(t, "create", "-q", "-f", "qcow2", "-b", secret, "-F", "raw", base, "1M")
	d, err := New(filepath.Join(dir, "instances"), "tcg", testEngines(t))
	if err != nil {
		t.Fatal(err)
	}
	start := func(id string) *hypervisor.Spec {
		os.MkdirAll(d.Dir(id), 0o700)
		overlay := filepath.Join(d.Dir(id), "disk.qcow2")
		qemuImg(t, "create", "-q", "-f", "qcow2", "-u", "-F", "qcow2", "-b", base, overlay, "1M")
		s := &hypervisor.Spec{ID: id, VCPUs: 1, RAMMiB: 64, Disk: &hypervisor.Disk{Path: overlay, Format: "qcow2", Backing: &hypervisor.Disk{Path: base, Format: "qcow2", ReadOnly: true}}}
		if err := d.Start(s); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Destroy(id) })
		return s
	}
	a := start("00000000-0000-4000-8000-00000000000a")
	b := start("00000000-0000-4000-8000-00000000000b")

	q, err := dialQMP(d.path(a.ID, "qmp.sock"), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer q.close()
	nodes, err := q.execute("query-named-block-nodes", nil)
	if err != nil {
		t.Fatal(err)
	}
	var opened []struct {
		NodeName string `json:"node-name"`
		File     string
	}
	json.Unmarshal(nodes, &opened)
	var names []string
	for _, n := range opened {
		names = append(names, n.NodeName)
		if n.File == secret {
			t.Errorf("QEMU opened the backing file named in the image as node %s", n.NodeName)
		}
	}
	if strings.Join(names, " ") != "disk0 disk0-file disk0-base disk0-base-file" {
		t.Errorf("block nodes = %v", names)
	}
	// qemu-io reads through the block layer as the guest does; it prints
	// to QEMU's own output.
	if _, err := q.execute("human-monitor-command", map[string]any{"command-line": `qemu-io disk0 "read -v 0 32"`}); err != nil {
		t.Fatal(err)
	}
	var text string
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end) && !strings.Contains(text, "read 32/32"); time.Sleep(50 * time.Millisecond) {
		b, _ := os.ReadFile(d.path(a.ID, "qemu.log"))
		text = string(b)
	}
	if strings.Contains(text, "the-admin") || !strings.Contains(text, "00000000:  00 00 00 00 00 00 00 00") {
		t.Errorf("the guest's disk reads:\n%s", text)
	}

	pidA, _ := d.pid(a.ID)
	pidB, _ := d.pid(b.ID)
	if uid := procStatus(t, pidA, "Uid"); uid != itoa(a.UID) || a.UID < uidBase {
		t.Errorf("QEMU runs as uid %s, spec says %d", uid, a.UID)
	}
	if procStatus(t, pidA, "Gid") != itoa(a.UID) {
		t.Errorf("QEMU runs as gid %s", procStatus(t, pidA, "Gid"))
	}
	if a.UID == b.UID || procStatus(t, pidB, "Uid") != itoa(b.UID) {
		t.Errorf("two instances share uid %d/%d", a.UID, b.UID)
	}
	if sc := procStatus(t, pidA, "Seccomp"); sc != "2" {
		t.Errorf("QEMU seccomp mode = %s, want 2 (filter)", sc)
	}
	if root, _ := os.Readlink(filepath.Join("/proc", itoa(pidA), "root")); root != d.emptyRoot() {
		t.Errorf("QEMU's root is %q, want %q", root, d.emptyRoot())
	}
	if caps := procStatus(t, pidA, "CapEff"); caps != "0000000000000000" {
		t.Errorf("QEMU keeps capabilities %s", caps)
	}
	// The uid survives a restart of the VM.
	if err := d.Stop(a.ID, 0); err != nil {
		t.Fatal(err)
	}
	saved, err := d.SavedSpec(a.ID)
	if err != nil || saved.UID != a.UID {
		t.Fatalf("saved spec = %+v, %v", saved, err)
	}
}

// TestDriverSuite: the QEMU driver shows the behaviour of every
// hypervisor.Driver, on a VM with a blank disk (no guest needed).
func TestDriverSuite(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("the QEMU driver tests need root (as sov does to run servers)")
	}
	d, err := New(filepath.Join(t.TempDir(), "instances"), "tcg", testEngines(t))
	if err != nil {
		t.Fatal(err)
	}
	hypervisortest.Run(t, d, func(t *testing.T, id string) *hypervisor.Spec {
		os.MkdirAll(d.Dir(id), 0o700)
		disk := filepath.Join(d.Dir(id), "disk.qcow2")
		qemuImg(t, "create", "-q", "-f", "qcow2", disk, "1M")
		return &hypervisor.Spec{ID: id, VCPUs: 1, RAMMiB: 64, Disk: &hypervisor.Disk{Path: disk, Format: "qcow2"}}
	})
}
