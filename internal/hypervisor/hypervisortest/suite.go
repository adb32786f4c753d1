// Package hypervisortest is the behaviour every hypervisor.Driver shows,
// as one test suite that the real driver and the fake both pass.
package hypervisortest

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sovcloud/sov/internal/hypervisor"
)

// Run drives d through a VM's life. newSpec returns the spec of a VM with
// the given id whose disk exists (the suite makes the VM's directory).
func Run(t *testing.T, d hypervisor.Driver, newSpec func(t *testing.T, id string) *hypervisor.Spec) {
	t.Helper()
	const id = "00000000-0000-4000-8000-0000000000c1"
	running := func(want bool, when string) {
		t.Helper()
		got, err := d.Running(id)
		if err != nil || got != want {
			t.Fatalf("%s: Running = %v, %v; want %v", when, got, err, want)
		}
	}
	if h, err := d.Host(); err != nil || h.Name == "" || h.VCPUs < 1 || h.RAMMiB < 1 || h.DiskGiB < 1 || !slices.Contains(h.Traits, "COMPUTE_NODE") {
		t.Errorf("Host = %+v, %v", h, err)
	}
	running(false, "before Start")
	if _, err := d.SavedSpec(id); err == nil {
		t.Error("a VM never started has a saved spec")
	}
	spec := newSpec(t, id)
	if err := d.Start(spec); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { d.Destroy(id) })
	running(true, "after Start")
	if err := d.Start(spec); err != nil {
		t.Errorf("Start of a running VM: %v", err)
	}
	saved, err := d.SavedSpec(id)
	if err != nil || saved.ID != id || saved.VCPUs != spec.VCPUs || saved.RAMMiB != spec.RAMMiB || saved.Disk == nil || saved.Disk.Path != spec.Disk.Path {
		t.Errorf("SavedSpec = %+v, %v", saved, err)
	}
	if !strings.HasPrefix(spec.Disk.Path, d.Dir(id)) {
		t.Errorf("the disk %s is not in the VM's directory %s", spec.Disk.Path, d.Dir(id))
	}
	if err := d.Reset(id); err != nil {
		t.Errorf("Reset: %v", err)
	}
	running(true, "after Reset")
	if _, err := d.ConsoleLog(id, 10); err != nil {
		t.Errorf("ConsoleLog: %v", err)
	}
	vol := hypervisor.Volume{Serial: "7f8e0b44-0000-4000-8000-000000000001", Disk: &hypervisor.Disk{Path: filepath.Join(t.TempDir(), "vol.raw"), Format: "raw"}}
	if err := os.WriteFile(vol.Disk.Path, make([]byte, 1<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	volumes := func(want int, when string) []hypervisor.Volume {
		t.Helper()
		saved, err := d.SavedSpec(id)
		if err != nil || len(saved.Volumes) != want {
			t.Fatalf("%s: saved spec = %+v, %v; want %d volumes", when, saved, err, want)
		}
		return saved.Volumes
	}
	if err := d.AttachVolume(id, vol); err != nil {
		t.Fatalf("AttachVolume: %v", err)
	}
	if err := d.AttachVolume(id, vol); err != nil {
		t.Errorf("AttachVolume again: %v", err)
	}
	if v := volumes(1, "after AttachVolume"); v[0].Serial != vol.Serial || v[0].Disk.Path != vol.Disk.Path {
		t.Errorf("saved volume = %+v", v[0])
	}
	if err := d.ResizeVolume(id, vol.Serial, 2<<20); err != nil {
		t.Errorf("ResizeVolume: %v", err)
	}
	if err := d.ResizeVolume(id, "7f8e0b44-0000-4000-8000-00000000ffff", 2<<20); err == nil {
		t.Error("ResizeVolume of a volume the VM does not have succeeded")
	}
	copyOf := &hypervisor.Disk{Path: filepath.Join(t.TempDir(), "copy.raw"), Format: "raw"}
	if err := os.WriteFile(copyOf.Path, make([]byte, 2<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := d.CopyVolume(id, vol.Serial, copyOf); err != nil {
		t.Errorf("CopyVolume: %v", err)
	}
	if err := d.CopyVolume(id, "7f8e0b44-0000-4000-8000-00000000ffff", copyOf); err == nil {
		t.Error("CopyVolume of a volume the VM does not have succeeded")
	}
	if err := d.Stop(id, time.Second); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	running(false, "after Stop")
	// A volume plugged in stays at the next start.
	saved, err = d.SavedSpec(id)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Start(saved); err != nil {
		t.Fatalf("Start with a volume: %v", err)
	}
	running(true, "after a start with a volume")
	volumes(1, "after a start with a volume")
	if err := d.Stop(id, time.Second); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if err := d.DetachVolume(id, vol.Serial); err != nil {
		t.Fatalf("DetachVolume of a stopped VM: %v", err)
	}
	if err := d.DetachVolume(id, vol.Serial); err != nil {
		t.Errorf("DetachVolume again: %v", err)
	}
	volumes(0, "after DetachVolume")
	if err := d.Stop(id, time.Second); err != nil {
		t.Errorf("Stop of a stopped VM: %v", err)
	}
	// A stopped VM starts again from its saved spec.
	saved, err = d.SavedSpec(id)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Start(saved); err != nil {
		t.Fatalf("Start from the saved spec: %v", err)
	}
	running(true, "after a restart")
	if err := d.Destroy(id); err != nil {
		t.Fatalf("Destroy: %v", err)
	}
	running(false, "after Destroy")
	if _, err := d.SavedSpec(id); err == nil {
		t.Error("a destroyed VM still has a saved spec")
	}
}
