// Package qemu runs sov's virtual machines: one QEMU process per server,
// driven over QMP, with its disk, config drive, serial console log and
// sockets in a directory of its own. QEMU processes outlive sov, so after
// a restart the running ones are found again.
//
// QEMU is confined: it opens its disks (with explicit formats and backing
// images, see disks.go), console, QMP socket and tap as root, then, before the
// guest runs, drops to a uid and gid of its own instance (-runas), chroots
// into an empty directory (-chroot) and runs under a seccomp filter
// (-sandbox). A QEMU taken over by its guest holds only the files it was
// given and can open, signal or trace nothing else.
package qemu

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sovcloud/sov/internal/hypervisor"
)

// Instance uids and gids are taken from [uidBase, uidBase+uidCount): one
// each, so no two QEMUs can signal or trace each other or share a file.
const (
	uidBase  = 1_500_000_000
	uidCount = 1_000_000
)

// Engines records the QEMU processes, so that they outlive sov, are
// adopted by its next start and reaped when no record names them (see
// package engines).
type Engines interface {
	Start(ctx context.Context, kind, name string, cmd *exec.Cmd) error
	Running(ctx context.Context, kind, name string) (int, bool)
	Forget(ctx context.Context, kind, name string) error
}

// Driver starts and controls QEMU processes.
type Driver struct {
	dir     string
	accel   string
	engines Engines
	mu      sync.Mutex // uid allocation and saved specs
}

// New returns a driver keeping instance directories under dir. accel is
// "tcg", "kvm" or "auto" (KVM only with hardware virtualisation and no PVM).
func New(dir, accel string, engines Engines) (*Driver, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	if accel == "" || accel == "auto" {
		accel = detectAccel()
	}
	return &Driver{dir: dir, accel: accel, engines: engines}, nil
}

func detectAccel() string {
	cpu, _ := os.ReadFile("/proc/cpuinfo")
	if _, err := os.Stat("/dev/kvm"); err != nil {
		return "tcg"
	}
	if _, err := os.Stat("/sys/module/kvm_pvm"); err == nil {
		return "tcg" // PVM runs only patched guests
	}
	if strings.Contains(string(cpu), " vmx") || strings.Contains(string(cpu), " svm") {
		return "kvm"
	}
	return "tcg"
}

// Accel is the accelerator the driver uses.
func (d *Driver) Accel() string { return d.accel }

// Dir is the directory of an instance's files.
func (d *Driver) Dir(id string) string { return filepath.Join(d.dir, id) }

func (d *Driver) path(id, name string) string { return filepath.Join(d.dir, id, name) }

// emptyRoot is the directory confined QEMUs are chrooted into.
func (d *Driver) emptyRoot() string { return filepath.Join(d.dir, "_empty") }

// args builds the QEMU command line of a spec; keys gets the
// passphrases of its encrypted disks.
func (d *Driver) args(s *hypervisor.Spec, keys *secretFiles) ([]string, error) {
	accel := d.accel
	if accel == "tcg" {
		accel = "tcg,tb-size=128"
	}
	a := []string{"-name", "sov-" + s.ID, "-uuid", s.ID,
		"-machine", "q35", "-accel", accel, "-m", strconv.Itoa(s.RAMMiB), "-smp", strconv.Itoa(s.VCPUs),
		"-nodefaults", "-no-user-config", "-display", "none",
		"-chardev", "file,id=console,append=on,path=" + d.path(s.ID, "console.log"), "-serial", "chardev:console",
		"-qmp", "unix:" + d.path(s.ID, "qmp.sock") + ",server=on,wait=off",
		"-device", "virtio-rng-pci",
		// The system as Nova describes its VMs: cloud-init finds its
		// OpenStack datasource (the metadata service) by this product.
		"-smbios", "type=1,manufacturer=OpenStack Foundation,product=OpenStack Nova,family=Virtual Machine,serial=" + s.ID + ",uuid=" + s.ID,
		// -runas drops privileges after the filter is installed, so set*id
		// calls stay allowed; with all uids changed no capability is left.
		"-sandbox", "on,obsolete=deny,elevateprivileges=allow,spawn=deny,resourcecontrol=deny"}
	if s.UID != 0 {
		a = append(a, "-runas", fmt.Sprintf("%d:%d", s.UID, s.UID), "-chroot", d.emptyRoot())
	}
	disks := []*hypervisor.Disk{s.Disk}
	if s.ConfigDrive != "" {
		disks = append(disks, &hypervisor.Disk{Path: s.ConfigDrive, Format: "raw", ReadOnly: true})
	}
	da, err := diskArgs(disks, s.RootSerial, keys)
	if err != nil {
		return nil, err
	}
	a = append(a, da...)
	if s.Kernel != "" {
		a = append(a, "-kernel", s.Kernel)
		if s.Initrd != "" {
			a = append(a, "-initrd", s.Initrd)
		}
		a = append(a, "-append", s.Append)
	}
	// Each NIC on a PCIe root port of its own, so that it can be
	// unplugged, and free root ports for NICs plugged in later.
	for i, nic := range s.NICs {
		port := "rp" + strconv.Itoa(i)
		s.NICs[i].Slot = port
		a = append(a, "-device", fmt.Sprintf("pcie-root-port,id=%s,chassis=%d,bus=pcie.0", port, i+1),
			"-netdev", "tap,id=net-"+nic.Tap+",ifname="+nic.Tap+",script=no,downscript=no",
			"-device", "virtio-net-pci,netdev=net-"+nic.Tap+",mac="+nic.MAC+",bus="+port+",id=nic-"+nic.Tap)
	}
	for i := range hypervisor.MaxHotplugNICs {
		a = append(a, "-device", fmt.Sprintf("pcie-root-port,id=hp%d,chassis=%d,bus=pcie.0", i, 100+i))
	}
	va, err := volumeArgs(s, keys)
	if err != nil {
		return nil, err
	}
	return append(a, va...), nil
}

// allocateUID gives a spec the lowest instance uid no other instance holds.
func (d *Driver) allocateUID(s *hypervisor.Spec) error {
	if s.UID != 0 || os.Geteuid() != 0 {
		return nil
	}
	entries, err := os.ReadDir(d.dir)
	if err != nil {
		return err
	}
	used := map[int]bool{}
	for _, e := range entries {
		if e.Name() == s.ID {
			continue
		}
		if other, err := d.SavedSpec(e.Name()); err == nil {
			used[other.UID] = true
		}
	}
	for uid := uidBase; uid < uidBase+uidCount; uid++ {
		if !used[uid] {
			s.UID = uid
			return nil
		}
	}
	return errors.New("qemu: no free instance uid")
}

// Start launches the VM of spec; the process runs on after sov exits.
func (d *Driver) Start(s *hypervisor.Spec) error {
	if running, _ := d.Running(s.ID); running {
		return nil
	}
	if err := os.MkdirAll(d.Dir(s.ID), 0o700); err != nil {
		return err
	}
	if err := os.MkdirAll(d.emptyRoot(), 0o555); err != nil {
		return err
	}
	d.mu.Lock()
	err := d.allocateUID(s)
	var args []string
	keys := &secretFiles{}
	defer keys.close()
	if err == nil {
		args, err = d.args(s, keys)
	}
	if err == nil {
		err = d.saveSpec(s)
	}
	d.mu.Unlock()
	if err != nil {
		return err
	}
	os.Remove(d.path(s.ID, "qmp.sock"))
	logf, err := os.OpenFile(d.path(s.ID, "qemu.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command("qemu-system-x86_64", args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.ExtraFiles = keys.files
	if err := d.engines.Start(context.Background(), "qemu", s.ID, cmd); err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.After(30 * time.Second)
	for {
		if q, err := dialQMP(d.path(s.ID, "qmp.sock"), time.Second); err == nil {
			q.close()
			return nil
		}
		select {
		case <-exited:
			out, _ := os.ReadFile(d.path(s.ID, "qemu.log"))
			return fmt.Errorf("qemu exited at start: %s", lastLines(string(out), 5))
		case <-deadline:
			cmd.Process.Kill()
			return errors.New("qemu: no QMP socket after 30s")
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (d *Driver) saveSpec(s *hypervisor.Spec) error {
	spec, _ := json.Marshal(s)
	return os.WriteFile(d.path(s.ID, "spec.json"), spec, 0o600)
}

// SavedSpec returns the spec an instance was last started with.
func (d *Driver) SavedSpec(id string) (*hypervisor.Spec, error) {
	b, err := os.ReadFile(d.path(id, "spec.json"))
	if err != nil {
		return nil, err
	}
	s := &hypervisor.Spec{}
	return s, json.Unmarshal(b, s)
}

// pid returns the QEMU process of an instance, if it runs.
func (d *Driver) pid(id string) (int, bool) {
	return d.engines.Running(context.Background(), "qemu", id)
}

// Running reports whether the VM's QEMU process is running (a guest that
// has shut down counts as not running).
func (d *Driver) Running(id string) (bool, error) {
	if _, ok := d.pid(id); !ok {
		return false, nil
	}
	q, err := dialQMP(d.path(id, "qmp.sock"), 2*time.Second)
	if err != nil {
		return false, err
	}
	defer q.close()
	out, err := q.execute("query-status", nil)
	if err != nil {
		return false, err
	}
	var st struct{ Status string }
	json.Unmarshal(out, &st)
	return st.Status != "shutdown", nil
}

// Stop asks the guest to power off (ACPI) and ends QEMU after grace.
func (d *Driver) Stop(id string, grace time.Duration) error {
	pid, ok := d.pid(id)
	if !ok {
		return nil
	}
	if q, err := dialQMP(d.path(id, "qmp.sock"), 2*time.Second); err == nil {
		q.execute("system_powerdown", nil)
		q.close()
	}
	for end := time.Now().Add(grace); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if _, ok := d.pid(id); !ok {
			return nil
		}
	}
	if q, err := dialQMP(d.path(id, "qmp.sock"), 2*time.Second); err == nil {
		q.execute("quit", nil)
		q.close()
	}
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if _, ok := d.pid(id); !ok {
			return nil
		}
	}
	return syscall.Kill(pid, syscall.SIGKILL)
}

// Reset resets the VM at once, as a hard reboot.
func (d *Driver) Reset(id string) error {
	q, err := dialQMP(d.path(id, "qmp.sock"), 2*time.Second)
	if err != nil {
		return err
	}
	defer q.close()
	_, err = q.execute("system_reset", nil)
	return err
}

// Destroy ends the VM and removes all its files and its record.
func (d *Driver) Destroy(id string) error {
	if err := d.Stop(id, 0); err != nil {
		return err
	}
	if err := d.engines.Forget(context.Background(), "qemu", id); err != nil {
		return err
	}
	return os.RemoveAll(d.Dir(id))
}

// ConsoleLog returns the last lines of the serial console (all for lines <= 0).
func (d *Driver) ConsoleLog(id string, lines int) (string, error) {
	b, err := os.ReadFile(d.path(id, "console.log"))
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	if lines <= 0 {
		return string(b), nil
	}
	return lastLines(string(b), lines), nil
}

func lastLines(s string, n int) string {
	lines := strings.SplitAfter(s, "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "")
}
