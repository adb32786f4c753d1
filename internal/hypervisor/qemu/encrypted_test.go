package qemu

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sovcloud/sov/internal/hypervisor"
)

// luksImage makes a qcow2 file holding an empty LUKS container of size
// bytes opened with passphrase, as the file volume driver makes them.
func luksImage(t *testing.T, path, passphrase string, size string) {
	t.Helper()
	key := filepath.Join(t.TempDir(), "key")
	os.WriteFile(key, []byte(passphrase), 0o600)
	qemuImg(t, "create", "-q", "-f", "luks", "--object", "secret,id=k,file="+key,
		"-o", "key-secret=k,iter-time=50,cipher-alg=aes-128,cipher-mode=xts,ivgen-alg=plain64", path+".luks", size)
	qemuImg(t, "convert", "-q", "-f", "raw", "-O", "qcow2", path+".luks", path)
	os.Remove(path + ".luks")
}

// qemuIO runs a qemu-io command through the disk device on the block
// node node of a running VM, as the guest reads and writes, and returns
// what it printed (into QEMU's log).
func qemuIO(t *testing.T, d *Driver, id, node, command, until string) string {
	t.Helper()
	q, err := dialQMP(d.path(id, "qmp.sock"), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer q.close()
	before, _ := os.ReadFile(d.path(id, "qemu.log"))
	if res, err := q.execute("human-monitor-command", map[string]any{"command-line": "qemu-io -d /machine/peripheral/" + node + "-dev/virtio-backend" + ` "` + command + `"`}); err != nil || len(res) > 4 {
		t.Fatalf("qemu-io %s %s: %v %s", node, command, err, res)
	}
	var text string
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		b, _ := os.ReadFile(d.path(id, "qemu.log"))
		if text = string(b[len(before):]); strings.Contains(text, until) {
			break
		}
	}
	return text
}

// TestEncryptedDisks: QEMU opens LUKS disks, the root disk and a volume
// given at start and a volume plugged in later, with passphrases that
// never reach its command line or the saved spec; data written through
// them is on the host only encrypted, a live copy is of the encrypted
// container, a volume grows (the one plugged in with I/O limits through
// its throttle node, whose group has the limits), a wrong passphrase is
// refused with nothing left behind, and a VM whose passphrases are not
// given again does not start.
func TestEncryptedDisks(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("the QEMU driver tests need root (as sov does to run servers)")
	}
	d, err := New(filepath.Join(t.TempDir(), "instances"), "tcg", testEngines(t))
	if err != nil {
		t.Fatal(err)
	}
	id := "00000000-0000-4000-8000-0000000000e1"
	os.MkdirAll(d.Dir(id), 0o700)
	dir := t.TempDir()
	rootKey, coldKey, hotKey := strings.Repeat("a1", 32), strings.Repeat("b2", 32), strings.Repeat("c3", 32)
	root, cold, hot := filepath.Join(dir, "root.qcow2"), filepath.Join(dir, "cold.qcow2"), filepath.Join(dir, "hot.qcow2")
	luksImage(t, root, rootKey, "4M")
	luksImage(t, cold, coldKey, "4M")
	luksImage(t, hot, hotKey, "4M")
	coldSerial, hotSerial := "7f8e0b44-0000-4000-8000-0000000000c1", "7f8e0b44-0000-4000-8000-0000000000c2"
	spec := &hypervisor.Spec{ID: id, VCPUs: 1, RAMMiB: 64, RootSerial: "7f8e0b44-0000-4000-8000-0000000000c0",
		Disk: &hypervisor.Disk{Path: root, Format: "qcow2", Encrypted: true, Passphrase: []byte(rootKey)},
		Volumes: []hypervisor.Volume{{Serial: coldSerial, Disk: &hypervisor.Disk{Path: cold, Format: "qcow2", Encrypted: true, Passphrase: []byte(coldKey),
			Throttle: &hypervisor.Throttle{IOPS: 300}}}}}
	if err := d.Start(spec); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Destroy(id) })

	pid, _ := d.pid(id)
	cmdline, _ := os.ReadFile(filepath.Join("/proc", itoa(pid), "cmdline"))
	saved, _ := os.ReadFile(d.path(id, "spec.json"))
	for _, k := range []string{rootKey, coldKey} {
		if bytes.Contains(cmdline, []byte(k)) || bytes.Contains(saved, []byte(k)) {
			t.Errorf("a passphrase is on QEMU's command line or in the saved spec")
		}
	}
	if err := d.AttachVolume(id, hypervisor.Volume{Serial: "7f8e0b44-0000-4000-8000-0000000000c3",
		Disk: &hypervisor.Disk{Path: hot, Format: "qcow2", Encrypted: true, Passphrase: []byte(coldKey)}}); err == nil {
		t.Error("a volume opened with another volume's passphrase was attached")
	}
	limits := &hypervisor.Throttle{BPS: 50 << 20, IOPSWrite: 400, IOPSWriteMax: 1000}
	if err := d.AttachVolume(id, hypervisor.Volume{Serial: hotSerial,
		Disk: &hypervisor.Disk{Path: hot, Format: "qcow2", Encrypted: true, Passphrase: []byte(hotKey), Throttle: limits}}); err != nil {
		t.Fatalf("attach an encrypted volume: %v", err)
	}
	s, _ := d.SavedSpec(id)
	hotSlot := s.Volumes[1].Slot

	// What the guest writes (pattern 0x5a) reads back through QEMU and is
	// not on the host's files.
	for _, node := range []string{"disk0", s.Volumes[0].Slot, hotSlot} {
		if out := qemuIO(t, d, id, node, "write -P 0x5a 0 64k", "wrote 65536/65536"); !strings.Contains(out, "wrote 65536/65536") {
			t.Fatalf("write to %s: %s", node, out)
		}
		if out := qemuIO(t, d, id, node, "read -P 0x5a 0 64k", "read 65536/65536"); !strings.Contains(out, "read 65536/65536") {
			t.Errorf("read back from %s: %s", node, out)
		}
	}
	plain := bytes.Repeat([]byte{0x5a}, 4096)
	for _, f := range []string{root, cold, hot} {
		if b, err := os.ReadFile(f); err != nil || bytes.Contains(b, plain) {
			t.Errorf("%s holds the plaintext (%v)", f, err)
		}
	}
	// A live copy is of the container: encrypted, opened by the same key.
	copyOf := filepath.Join(dir, "copy.qcow2")
	info, _ := exec.Command("qemu-img", "info", "-U", "--output=json", hot).Output()
	var container struct {
		VirtualSize int64 `json:"virtual-size"`
	}
	if err := json.Unmarshal(info, &container); err != nil {
		t.Fatal(err)
	}
	qemuImg(t, "create", "-q", "-f", "qcow2", copyOf, itoa(int(container.VirtualSize)))
	if err := d.CopyVolume(id, hotSerial, &hypervisor.Disk{Path: copyOf, Format: "qcow2"}); err != nil {
		t.Fatalf("copy the encrypted volume: %v", err)
	}
	if b, _ := os.ReadFile(copyOf); bytes.Contains(b, plain) {
		t.Error("the copy of an encrypted volume holds the plaintext")
	}
	key := filepath.Join(dir, "hot.key")
	os.WriteFile(key, []byte(hotKey), 0o600)
	out, err := exec.Command("qemu-img", "convert", "--object", "secret,id=k,file="+key, "--image-opts",
		"driver=luks,key-secret=k,file.driver=qcow2,file.file.driver=file,file.file.filename="+copyOf, "-O", "raw", filepath.Join(dir, "copy.raw")).CombinedOutput()
	if b, _ := os.ReadFile(filepath.Join(dir, "copy.raw")); err != nil || !bytes.HasPrefix(b, bytes.Repeat([]byte{0x5a}, 65536)) {
		t.Errorf("the copy, opened with the volume's key, lacks the data (%v: %s)", err, out)
	}
	// Grown live: the luks node grows the container under it.
	if err := d.ResizeVolume(id, hotSerial, 8<<20); err != nil {
		t.Errorf("resize the encrypted volume: %v", err)
	}
	q, err := dialQMP(d.path(id, "qmp.sock"), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := q.execute("query-named-block-nodes", map[string]any{"flat": true})
	q.close()
	var nodes []struct {
		NodeName string `json:"node-name"`
		Drv      string
		Image    struct {
			VirtualSize int64 `json:"virtual-size"`
		}
	}
	json.Unmarshal(raw, &nodes)
	names := map[string]bool{}
	for _, n := range nodes {
		names[n.NodeName] = true
		if n.NodeName == hotSlot && (n.Drv != "throttle" || n.Image.VirtualSize != 8<<20) ||
			n.NodeName == hotSlot+"-luks" && (n.Drv != "luks" || n.Image.VirtualSize != 8<<20) {
			t.Errorf("the hot-plugged volume's node: %+v", n)
		}
	}
	if names[volumeSlot(2)] || names[volumeSlot(2)+"-data"] || !names[hotSlot+"-luks"] {
		t.Errorf("the refused attach left nodes, or the throttled one lacks its luks node: %v", names)
	}
	// The throttled volume's group has its limits.
	q, err = dialQMP(d.path(id, "qmp.sock"), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	raw, err = q.execute("qom-get", map[string]any{"path": "/objects/" + throttleID(hotSlot), "property": "limits"})
	q.close()
	var got map[string]int64
	json.Unmarshal(raw, &got)
	if err != nil || got["bps-total"] != 50<<20 || got["iops-write"] != 400 || got["iops-write-max"] != 1000 || got["iops-total"] != 0 {
		t.Errorf("the throttled volume's limits: %s, %v", raw, err)
	}

	// Started again from the saved spec alone (without the volume plugged
	// in last, which a VM without a guest would not let go of live): the
	// passphrases are not there, and QEMU is not started without them.
	if err := d.Stop(id, 0); err != nil {
		t.Fatal(err)
	}
	if err := d.DetachVolume(id, hotSerial); err != nil {
		t.Fatalf("detach the encrypted volume: %v", err)
	}
	again, err := d.SavedSpec(id)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Start(again); err == nil || !strings.Contains(err.Error(), "no passphrase") {
		t.Errorf("start without passphrases: %v", err)
	}
	again.Disk.Passphrase, again.Volumes[0].Disk.Passphrase = []byte(rootKey), []byte(coldKey)
	if err := d.Start(again); err != nil {
		t.Fatalf("start again with the passphrases: %v", err)
	}
	if out := qemuIO(t, d, id, again.Volumes[0].Slot, "read -P 0x5a 0 64k", "read 65536/65536"); !strings.Contains(out, "read 65536/65536") {
		t.Errorf("after a restart, the volume reads: %s", out)
	}
	// The volume given at start has its limits too.
	q, err = dialQMP(d.path(id, "qmp.sock"), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	raw, err = q.execute("qom-get", map[string]any{"path": "/objects/" + throttleID(again.Volumes[0].Slot), "property": "limits"})
	q.close()
	got = nil
	json.Unmarshal(raw, &got)
	if err != nil || got["iops-total"] != 300 {
		t.Errorf("the limits of the volume given at start: %s, %v", raw, err)
	}
}
