package diskimage

import (
	"bytes"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// qemuImg makes an image with the real qemu-img and returns its bytes.
func qemuImg(t testing.TB, args ...string) []byte {
	t.Helper()
	dir := t.TempDir()
	out := filepath.Join(dir, "img")
	secret := filepath.Join(dir, "secret")
	os.WriteFile(secret, []byte("host secret"), 0o600)
	for i, a := range args {
		switch a {
		case "OUT":
			args[i] = out
		case "SECRET":
			args[i] = secret
		}
	}
	// A LUKS header's PBKDF2 calibration may read no CPU time here ("Unable
	// to get accurate CPU usage"): that is tried again.
	for attempt := 1; ; attempt++ {
		b, err := exec.Command("qemu-img", append([]string{"create", "-q"}, args...)...).CombinedOutput()
		if err == nil {
			break
		}
		if attempt < 3 && strings.Contains(string(b), "Unable to get accurate CPU usage") {
			continue
		}
		t.Fatalf("qemu-img create %v: %v: %s", args, err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestInspectRealImages(t *testing.T) {
	cases := []struct {
		name    string
		args    []string
		format  string
		refused bool
	}{
		{"qcow2 v3", []string{"-f", "qcow2", "OUT", "3M"}, "qcow2", false},
		{"qcow2 v2", []string{"-f", "qcow2", "-o", "compat=0.10", "OUT", "2M"}, "qcow2", false},
		{"qcow2 backing file", []string{"-f", "qcow2", "-b", "SECRET", "-F", "raw", "OUT", "1M"}, "", true},
		{"qcow2 backing v2", []string{"-f", "qcow2", "-o", "compat=0.10", "-b", "SECRET", "-F", "raw", "OUT", "1M"}, "", true},
		{"qcow2 external data file", []string{"-f", "qcow2", "-o", "data_file=SECRET", "OUT", "1M"}, "", true},
		{"qcow2 luks", []string{"--object", "secret,id=s0,data=pw", "-f", "qcow2", "-o", "encrypt.format=luks,encrypt.key-secret=s0", "OUT", "1M"}, "", true},
		{"vmdk", []string{"-f", "vmdk", "OUT", "1M"}, "vmdk", false},
		{"vhdx", []string{"-f", "vhdx", "OUT", "1M"}, "vhdx", false},
		{"vpc", []string{"-f", "vpc", "OUT", "1M"}, "vpc", false},
		{"vdi", []string{"-f", "vdi", "OUT", "1M"}, "vdi", false},
		{"qed", []string{"-f", "qed", "OUT", "1M"}, "qed", false},
		{"raw", []string{"-f", "raw", "OUT", "1M"}, "raw", false},
	}
	for _, c := range cases {
		data := qemuImg(t, c.args...)
		info, err := Inspect(bytes.NewReader(data), int64(len(data)))
		if c.refused {
			if !IsRefused(err) {
				t.Errorf("%s: Inspect = %+v, %v; want refused", c.name, info, err)
			}
			continue
		}
		if err != nil || info.Format != c.format {
			t.Errorf("%s: Inspect = %+v, %v; want format %s", c.name, info, err, c.format)
		}
	}
	q := qemuImg(t, "-f", "qcow2", "OUT", "3M")
	if info, _ := Inspect(bytes.NewReader(q), int64(len(q))); info.VirtualSize != 3<<20 {
		t.Errorf("virtual size = %d, want %d", info.VirtualSize, 3<<20)
	}
}

func TestCheckDeclaredFormat(t *testing.T) {
	q := qemuImg(t, "-f", "qcow2", "OUT", "1M")
	raw := make([]byte, 4096)
	for _, c := range []struct {
		declared string
		data     []byte
		ok       bool
	}{
		{"qcow2", q, true},
		{"raw", q, false}, // a qcow2 declared raw
		{"qcow2", raw, false},
		{"raw", raw, true},
		{"aki", raw, true},
		{"iso", raw, true},
		{"vmdk", q, false},
	} {
		_, err := Check(c.declared, bytes.NewReader(c.data), int64(len(c.data)))
		if (err == nil) != c.ok {
			t.Errorf("Check(%s, %d bytes) = %v, want ok=%v", c.declared, len(c.data), err, c.ok)
		}
	}
}

// An extension naming a data file is refused even without the feature bit.
func TestQcow2DataFileExtension(t *testing.T) {
	q := qemuImg(t, "-f", "qcow2", "OUT", "1M")
	hl := binary.BigEndian.Uint32(q[100:])
	off := int(hl)
	// Put a harmless unknown extension first, then the data file name.
	binary.BigEndian.PutUint32(q[off:], 0x12345678)
	binary.BigEndian.PutUint32(q[off+4:], 3)
	off += 16
	binary.BigEndian.PutUint32(q[off:], extDataFile)
	binary.BigEndian.PutUint32(q[off+4:], 4)
	copy(q[off+8:], "/etc")
	binary.BigEndian.PutUint32(q[off+16:], extEnd)
	if _, err := Inspect(bytes.NewReader(q), int64(len(q))); !IsRefused(err) {
		t.Fatalf("Inspect = %v, want refused", err)
	}
}

// FuzzInspect: no input panics, and an accepted qcow2 names no backing file
// and no external data file.
func FuzzInspect(f *testing.F) {
	f.Add(qemuImg(f, "-f", "qcow2", "OUT", "1M")[:512])
	f.Add(qemuImg(f, "-f", "qcow2", "-b", "SECRET", "-F", "raw", "OUT", "1M")[:512])
	f.Add(qemuImg(f, "-f", "qcow2", "-o", "compat=0.10", "OUT", "1M")[:512])
	f.Add(qemuImg(f, "-f", "vmdk", "OUT", "1M")[:512])
	f.Add([]byte("QFI\xfb"))
	f.Fuzz(func(t *testing.T, data []byte) {
		info, err := Inspect(bytes.NewReader(data), int64(len(data)))
		if err != nil || info.Format != "qcow2" {
			return
		}
		be := binary.BigEndian
		if be.Uint64(data[8:]) != 0 || be.Uint32(data[16:]) != 0 {
			t.Fatalf("accepted a qcow2 with a backing file")
		}
		if be.Uint32(data[4:]) == 3 && be.Uint64(data[72:])&incompatDataFile != 0 {
			t.Fatalf("accepted a qcow2 with an external data file")
		}
		if be.Uint32(data[32:]) != 0 {
			t.Fatalf("accepted an encrypted qcow2")
		}
	})
}
