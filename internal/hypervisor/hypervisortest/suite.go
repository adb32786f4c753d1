// Package hypervisortest is the behaviour every hypervisor.Driver shows,
// as one test suite that the real driver and the fake both pass.
package hypervisortest

import (
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
	if err := d.Stop(id, time.Second); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	running(false, "after Stop")
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
