// Package hypervisor is the seam between compute and the engine that runs
// virtual machines: the Driver interface, the Spec of a VM and its disks.
// qemu is the real driver, fake an in-memory one for API tests;
// hypervisortest is the suite both pass.
package hypervisor

import "time"

// Driver runs virtual machines. Every method is idempotent where that
// makes sense (Start of a running VM, Stop of a stopped one), and VMs
// outlive the process that started them: a new Driver on the same
// directory finds them again.
type Driver interface {
	// Start starts the VM of spec (or does nothing if it runs) and saves
	// the spec, so the VM can start again without its first inputs.
	Start(spec *Spec) error
	// Stop asks the VM to power off and ends it after grace.
	Stop(id string, grace time.Duration) error
	// Reset resets a running VM, as a hardware reset.
	Reset(id string) error
	// Running reports whether the VM runs.
	Running(id string) (bool, error)
	// Destroy ends the VM and removes its directory.
	Destroy(id string) error
	// ConsoleLog is the last lines of the VM's serial console.
	ConsoleLog(id string, lines int) (string, error)
	// SavedSpec is the spec the VM last started with.
	SavedSpec(id string) (*Spec, error)
	// Dir is the VM's directory, where its disk overlay and config drive go.
	Dir(id string) string
	// AttachNIC plugs a NIC on an existing tap into the running VM (PCIe
	// hot-plug) and adds it to the saved spec.
	AttachNIC(id string, nic NIC) error
	// DetachNIC unplugs the NIC on tap from the running VM, once the
	// guest has let go of it, and takes it from the saved spec.
	DetachNIC(id, tap string) error
	// AttachVolume plugs a volume into the running VM (PCIe hot-plug) and
	// adds it to the saved spec; attaching one the VM has does nothing.
	AttachVolume(id string, v Volume) error
	// DetachVolume unplugs the volume with serial from the running VM,
	// once the guest has let go of it, and takes it from the saved spec;
	// a volume the VM does not have is fine.
	DetachVolume(id, serial string) error
	// ResizeVolume grows the volume with serial (attached, or the root
	// disk) in the running VM to size bytes (the engine grows its data and
	// tells the guest).
	ResizeVolume(id, serial string, size int64) error
	// CopyVolume copies the data the volume with serial (attached, or the
	// root disk: "" for one made of an image, whose copy holds its base's
	// data too) has now into target, a disk of its size, while the guest
	// runs on (a point-in-time copy: later writes do not reach it).
	CopyVolume(id, serial string, target *Disk) error
	// Host is what the host offers VMs, for placement.
	Host() (*Host, error)
}

// Host is what a hypervisor's host has for VMs: its processors, memory
// and the disk of its VMs' files, and the os-traits of what it can do.
type Host struct {
	Name            string
	VCPUs           int
	RAMMiB, DiskGiB int64
	Traits          []string
}

// Traits are the os-traits of what every sov compute host can do.
var Traits = []string{"COMPUTE_NODE", "COMPUTE_ARCH_X86_64", "HW_ARCH_X86_64", "COMPUTE_DEVICE_TAGGING",
	"COMPUTE_NET_ATTACH_INTERFACE", "COMPUTE_NET_ATTACH_INTERFACE_WITH_TAG", "COMPUTE_VOLUME_ATTACH",
	"COMPUTE_VOLUME_ATTACH_WITH_TAG", "COMPUTE_VOLUME_EXTEND", "COMPUTE_IMAGE_TYPE_QCOW2", "COMPUTE_IMAGE_TYPE_RAW",
	"COMPUTE_IMAGE_TYPE_AMI", "COMPUTE_IMAGE_TYPE_AKI", "COMPUTE_IMAGE_TYPE_ARI", "COMPUTE_NET_VIF_MODEL_VIRTIO",
	"COMPUTE_STORAGE_BUS_VIRTIO"}

// MaxHotplugNICs is how many NICs a running VM can take by hot-plug.
const MaxHotplugNICs = 4

// MaxVolumes is how many volumes a VM can have, at start or plugged in later.
const MaxVolumes = 16

// Spec describes a virtual machine.
type Spec struct {
	ID     string // the server's uuid
	VCPUs  int
	RAMMiB int
	// Disk is the root disk (a qcow2 overlay on its base image, or a volume).
	Disk *Disk
	// RootSerial is the serial of a root disk that is a volume (its id).
	RootSerial string `json:",omitempty"`
	// ConfigDrive is an ISO image or "".
	ConfigDrive string
	// Kernel, Initrd and Append boot a kernel directly instead of the disk.
	Kernel, Initrd, Append string
	// NICs are the VM's network interfaces, in order.
	NICs []NIC
	// Volumes are the block storage volumes attached to the VM.
	Volumes []Volume
	// UID is the uid and gid the instance's engine runs as, chosen by the
	// driver at first start (0 when sov does not run as root).
	UID int
}

// NIC is a network interface on an existing tap device.
type NIC struct {
	Tap, MAC string
	// Slot is the PCIe root port the NIC is on, set by the driver.
	Slot string `json:",omitempty"`
}

// Volume is a block storage volume attached to a VM.
type Volume struct {
	// Serial is the disk's serial number the guest sees (the volume's id,
	// as Nova sets it; virtio-blk shows its first 20 characters).
	Serial string
	Disk   *Disk
	// Slot is the PCIe root port the volume is on, set by the driver.
	Slot string `json:",omitempty"`
}

// Disk is a disk image the VM opens. Its format is always named, so the
// engine never probes the data; its backing image, if any, is named too,
// so the engine never follows a file name written in the image's header.
type Disk struct {
	Path string
	// Format is "qcow2" or "raw".
	Format   string
	ReadOnly bool
	// Backing is the image under a qcow2 overlay; nil means none, whatever
	// the image's header says.
	Backing *Disk
	// Encrypted says the image holds a LUKS container (QEMU's luks format
	// on the image Format names): the guest sees its plaintext, the
	// image's file never holds any.
	Encrypted bool `json:",omitempty"`
	// Passphrase opens an encrypted disk's LUKS container. It is never
	// saved with a spec: whoever starts the VM again gives it again.
	Passphrase []byte `json:"-"`
	// Throttle limits the guest's I/O on the disk (nil: no limits).
	Throttle *Throttle `json:",omitempty"`
	// Shared says other VMs may write the disk while this one has it open
	// (a multi-attach volume). Only a raw disk can be shared: a qcow2
	// file's metadata has one writer.
	Shared bool `json:",omitempty"`
}

// Throttle is a disk's I/O limits, as QEMU's block_set_io_throttle takes
// them (and Cinder's front-end QoS specs give them): bytes and operations
// per second, in total, read and written (0: no limit).
type Throttle struct {
	BPS, BPSRead, BPSWrite, IOPS, IOPSRead, IOPSWrite int64
	// Bursts above the limits (QEMU's *_max).
	BPSMax, BPSReadMax, BPSWriteMax, IOPSMax, IOPSReadMax, IOPSWriteMax int64
	// SizeIOPS: a larger operation counts as one per this many bytes.
	SizeIOPS int64
}
