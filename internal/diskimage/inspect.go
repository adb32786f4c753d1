// Package diskimage inspects disk image files that users upload, before
// anything (qemu-img, QEMU) opens them: it tells the format from the data
// itself, reads a qcow2 image's virtual size, and refuses every image that
// names another file (a backing file, an external data file) or needs a
// secret (encryption). A qcow2 whose header names a host file would
// otherwise hand that file to the guest as its disk.
package diskimage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Info is what inspection found in an image.
type Info struct {
	// Format is "raw" or the format whose signature the data carries
	// ("qcow2", "vmdk", "vhdx", "vpc", "vdi", "qed", "luks", "parallels",
	// "bochs", "cloop").
	Format string
	// VirtualSize is the size of the disk the image holds.
	VirtualSize int64
}

// Error is an image that sov refuses; its message can be shown to users.
type Error struct{ Reason string }

func (e *Error) Error() string { return e.Reason }

func refuse(format string, a ...any) error { return &Error{Reason: fmt.Sprintf(format, a...)} }

// signatures are the magic bytes QEMU's format probes look for, at their offsets.
var signatures = []struct {
	format string
	offset int64
	magic  string
}{
	{"qcow2", 0, "QFI\xfb"},
	{"qed", 0, "QED\x00"},
	{"vmdk", 0, "KDMV"},
	{"vmdk", 0, "COWD"},
	{"vmdk", 0, "# Disk DescriptorFile"},
	{"vhdx", 0, "vhdxfile"},
	{"vpc", 0, "conectix"},
	{"vdi", 0x40, "\x7f\x10\xda\xbe"},
	{"luks", 0, "LUKS\xba\xbe"},
	{"parallels", 0, "WithoutFreeSpace"},
	{"parallels", 0, "WithouFreSpacExt"},
	{"bochs", 0, "Bochs Virtual HD Image"},
	{"cloop", 0, "#!/bin/sh\n#V2.0 Format\n"},
}

// Inspect reads an image of size bytes and returns its format and virtual
// size, or an *Error when the image is unsafe to open or malformed.
func Inspect(r io.ReaderAt, size int64) (Info, error) {
	for _, s := range signatures {
		buf := make([]byte, len(s.magic))
		if n, _ := r.ReadAt(buf, s.offset); n == len(buf) && string(buf) == s.magic {
			if s.format == "qcow2" {
				return inspectQcow2(r, size)
			}
			return Info{Format: s.format, VirtualSize: size}, nil
		}
	}
	return Info{Format: "raw", VirtualSize: size}, nil
}

// Check inspects an image stored with the disk format declared by its
// owner: the data must be of that format (data in any other known format
// is refused when declared raw, since raw is never probed) and safe.
func Check(declared string, r io.ReaderAt, size int64) (Info, error) {
	info, err := Inspect(r, size)
	if err != nil {
		return info, err
	}
	if info.Format != declared && (info.Format != "raw" || declared == "qcow2") {
		return info, refuse("Image data is in the %s format, not the declared disk format %s.", info.Format, declared)
	}
	return info, nil
}

// qcow2 header fields (big-endian), from QEMU's docs/interop/qcow2.txt.
const (
	qcowVersion       = 4
	qcowBackingOffset = 8
	qcowBackingSize   = 16
	qcowClusterBits   = 20
	qcowSize          = 24
	qcowCryptMethod   = 32
	qcowIncompatible  = 72
	qcowHeaderLength  = 100
	qcowV2HeaderLen   = 72
	qcowV3MinHeader   = 104

	incompatDirty        = 1 << 0
	incompatCorrupt      = 1 << 1
	incompatDataFile     = 1 << 2
	incompatCompression  = 1 << 3
	incompatExtendedL2   = 1 << 4
	knownIncompatFeature = incompatDirty | incompatCorrupt | incompatDataFile | incompatCompression | incompatExtendedL2

	extEnd        = 0
	extDataFile   = 0x44415441
	extEncryption = 0x0537be77
)

func inspectQcow2(r io.ReaderAt, size int64) (Info, error) {
	head := make([]byte, qcowV3MinHeader)
	n, _ := r.ReadAt(head, 0)
	if n < qcowV2HeaderLen {
		return Info{}, refuse("The qcow2 header is truncated.")
	}
	be := binary.BigEndian
	version := be.Uint32(head[qcowVersion:])
	if version != 2 && version != 3 {
		return Info{}, refuse("qcow2 version %d is not supported.", version)
	}
	if be.Uint64(head[qcowBackingOffset:]) != 0 || be.Uint32(head[qcowBackingSize:]) != 0 {
		return Info{}, refuse("The qcow2 image names a backing file; images must be self-contained.")
	}
	if bits := be.Uint32(head[qcowClusterBits:]); bits < 9 || bits > 21 {
		return Info{}, refuse("The qcow2 cluster size 2^%d is invalid.", bits)
	}
	virtual := be.Uint64(head[qcowSize:])
	if virtual > 1<<62 {
		return Info{}, refuse("The qcow2 virtual size is invalid.")
	}
	if be.Uint32(head[qcowCryptMethod:]) != 0 {
		return Info{}, refuse("Encrypted qcow2 images are not supported.")
	}
	extStart := int64(qcowV2HeaderLen)
	if version == 3 {
		if n < qcowV3MinHeader {
			return Info{}, refuse("The qcow2 header is truncated.")
		}
		features := be.Uint64(head[qcowIncompatible:])
		if features&incompatDataFile != 0 {
			return Info{}, refuse("The qcow2 image names an external data file; images must be self-contained.")
		}
		if features&incompatCorrupt != 0 {
			return Info{}, refuse("The qcow2 image is marked corrupt.")
		}
		if features&^knownIncompatFeature != 0 {
			return Info{}, refuse("The qcow2 image uses unknown incompatible features %#x.", features&^knownIncompatFeature)
		}
		hl := int64(be.Uint32(head[qcowHeaderLength:]))
		if hl < qcowV3MinHeader || hl%8 != 0 {
			return Info{}, refuse("The qcow2 header length %d is invalid.", hl)
		}
		extStart = hl
	}
	if err := checkQcow2Extensions(r, extStart, int64(1)<<be.Uint32(head[qcowClusterBits:])); err != nil {
		return Info{}, err
	}
	return Info{Format: "qcow2", VirtualSize: int64(virtual)}, nil
}

// checkQcow2Extensions walks the header extensions, which live in the
// image's first cluster, and refuses those that reference other files or
// secrets.
func checkQcow2Extensions(r io.ReaderAt, off, cluster int64) error {
	ext := make([]byte, 8)
	for off+8 <= cluster {
		if n, _ := r.ReadAt(ext, off); n < len(ext) {
			return refuse("The qcow2 header extensions are truncated.")
		}
		typ, length := binary.BigEndian.Uint32(ext), int64(binary.BigEndian.Uint32(ext[4:]))
		switch typ {
		case extEnd:
			return nil
		case extDataFile:
			return refuse("The qcow2 image names an external data file; images must be self-contained.")
		case extEncryption:
			return refuse("Encrypted qcow2 images are not supported.")
		}
		off += 8 + (length+7)&^7
	}
	if off > cluster {
		return refuse("The qcow2 header extensions overrun the first cluster.")
	}
	return nil
}

// IsRefused reports whether err is an image refused by inspection.
func IsRefused(err error) bool {
	var e *Error
	return errors.As(err, &e)
}
