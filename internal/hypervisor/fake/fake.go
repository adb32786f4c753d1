// Package fake is a hypervisor.Driver that runs nothing: VMs are entries
// in memory (their directories are real, so disk preparation works as
// with QEMU), started and stopped at once. API tests use it to check
// compute's behaviour in milliseconds; hypervisortest keeps it honest.
package fake

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/sovcloud/sov/internal/hypervisor"
)

// Driver is the fake hypervisor.
type Driver struct {
	dir string
	mu  sync.Mutex
	vms map[string]*vm
}

type vm struct {
	spec    hypervisor.Spec
	running bool
	console []string
	plugged int // NICs plugged in since the start
}

// New returns a fake keeping VM directories under dir.
func New(dir string) (*Driver, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	return &Driver{dir: dir, vms: map[string]*vm{}}, nil
}

// Host is a host far larger than any test asks for.
func (d *Driver) Host() (*hypervisor.Host, error) {
	return &hypervisor.Host{Name: "fake-host", VCPUs: 1024, RAMMiB: 4 << 20, DiskGiB: 100 << 10, Traits: hypervisor.Traits}, nil
}

// Dir is the VM's directory.
func (d *Driver) Dir(id string) string { return filepath.Join(d.dir, id) }

// Start records the VM as running; its console shows a boot line.
func (d *Driver) Start(s *hypervisor.Spec) error {
	if s.Disk == nil || s.Disk.Path == "" {
		return errors.New("fake: a VM needs a disk")
	}
	disks := []*hypervisor.Disk{s.Disk}
	for _, v := range s.Volumes {
		disks = append(disks, v.Disk)
	}
	if err := unlocked(disks...); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	v, ok := d.vms[s.ID]
	if !ok {
		v = &vm{}
		d.vms[s.ID] = v
	}
	if v.running {
		return nil
	}
	v.spec, v.running, v.plugged = *s, true, 0
	v.console = append(v.console, fmt.Sprintf("fake: %s booted with %d vCPUs and %d MiB", s.ID, s.VCPUs, s.RAMMiB))
	return nil
}

func (d *Driver) get(id string) (*vm, error) {
	v, ok := d.vms[id]
	if !ok {
		return nil, fmt.Errorf("fake: no VM %s", id)
	}
	return v, nil
}

// Stop powers the VM off at once.
func (d *Driver) Stop(id string, _ time.Duration) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if v, ok := d.vms[id]; ok {
		v.running = false
	}
	return nil
}

// Reset logs a reset of a running VM.
func (d *Driver) Reset(id string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	v, err := d.get(id)
	if err != nil {
		return err
	}
	if !v.running {
		return fmt.Errorf("fake: %s does not run", id)
	}
	v.console = append(v.console, "fake: reset")
	return nil
}

// Running reports whether the VM runs.
func (d *Driver) Running(id string) (bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	v, ok := d.vms[id]
	return ok && v.running, nil
}

// Destroy forgets the VM and removes its directory.
func (d *Driver) Destroy(id string) error {
	d.mu.Lock()
	delete(d.vms, id)
	d.mu.Unlock()
	return os.RemoveAll(d.Dir(id))
}

// ConsoleLog is the last lines the fake console shows.
func (d *Driver) ConsoleLog(id string, lines int) (string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	v, err := d.get(id)
	if err != nil {
		return "", err
	}
	out := v.console
	if lines > 0 && len(out) > lines {
		out = out[len(out)-lines:]
	}
	return strings.Join(out, "\n") + "\n", nil
}

// SavedSpec is the spec the VM last started with.
func (d *Driver) SavedSpec(id string) (*hypervisor.Spec, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	v, err := d.get(id)
	if err != nil {
		return nil, err
	}
	// As a real driver's, a saved spec has no passphrases.
	b, _ := json.Marshal(v.spec)
	s := &hypervisor.Spec{}
	return s, json.Unmarshal(b, s)
}

// unlocked is an error if an encrypted disk of disks has no passphrase,
// as a real driver could not open it.
func unlocked(disks ...*hypervisor.Disk) error {
	for _, d := range disks {
		if d != nil && d.Encrypted && len(d.Passphrase) == 0 {
			return fmt.Errorf("fake: encrypted disk %s has no passphrase", d.Path)
		}
	}
	return nil
}

// AttachNIC adds the NIC to the running VM's spec.
func (d *Driver) AttachNIC(id string, nic hypervisor.NIC) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	v, err := d.get(id)
	if err != nil {
		return err
	}
	if !v.running {
		return fmt.Errorf("fake: %s is not running", id)
	}
	for _, n := range v.spec.NICs {
		if n.Tap == nic.Tap {
			return nil
		}
	}
	if v.plugged >= hypervisor.MaxHotplugNICs {
		return errors.New("fake: no free slot")
	}
	v.spec.NICs = append(v.spec.NICs, nic)
	v.plugged++
	return nil
}

// DetachNIC takes the NIC on tap from the VM's spec.
func (d *Driver) DetachNIC(id, tap string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	v, err := d.get(id)
	if err != nil {
		return err
	}
	for i, n := range v.spec.NICs {
		if n.Tap == tap {
			v.spec.NICs = append(v.spec.NICs[:i:i], v.spec.NICs[i+1:]...)
			v.plugged = max(v.plugged-1, 0)
			break
		}
	}
	return nil
}

// AttachVolume adds the volume to the running VM's spec.
func (d *Driver) AttachVolume(id string, vol hypervisor.Volume) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	v, err := d.get(id)
	if err != nil {
		return err
	}
	if !v.running {
		return fmt.Errorf("fake: %s is not running", id)
	}
	for _, o := range v.spec.Volumes {
		if o.Serial == vol.Serial {
			return nil
		}
	}
	if len(v.spec.Volumes) >= hypervisor.MaxVolumes {
		return errors.New("fake: no free slot")
	}
	if err := unlocked(vol.Disk); err != nil {
		return err
	}
	v.spec.Volumes = append(v.spec.Volumes, vol)
	return nil
}

// DetachVolume takes the volume with serial from the VM's spec.
func (d *Driver) DetachVolume(id, serial string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	v, err := d.get(id)
	if err != nil {
		return err
	}
	for i, o := range v.spec.Volumes {
		if o.Serial == serial {
			v.spec.Volumes = append(v.spec.Volumes[:i:i], v.spec.Volumes[i+1:]...)
			break
		}
	}
	return nil
}

// ResizeVolume checks that the running VM has the volume.
func (d *Driver) ResizeVolume(id, serial string, size int64) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	v, err := d.get(id)
	if err != nil {
		return err
	}
	if !v.running {
		return fmt.Errorf("fake: %s is not running", id)
	}
	for _, o := range v.spec.Volumes {
		if o.Serial == serial {
			return nil
		}
	}
	if serial == v.spec.RootSerial {
		return nil // the root disk ("": one of an image)
	}
	return fmt.Errorf("fake: %s has no volume %s", id, serial)
}

// CopyVolume checks that the running VM has the volume (the fake copies
// no data; the fake volume backend does).
func (d *Driver) CopyVolume(id, serial string, _ *hypervisor.Disk) error {
	return d.ResizeVolume(id, serial, 0)
}
