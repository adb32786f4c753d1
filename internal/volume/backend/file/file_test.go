package file_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sovcloud/sov/internal/volume/backend"
	"github.com/sovcloud/sov/internal/volume/backend/backendtest"
	"github.com/sovcloud/sov/internal/volume/backend/file"
)

// qemuIO reads and writes the driver's qcow2 files with qemu-img and
// qemu-io, as QEMU would for a guest: through the LUKS container of
// encrypted volumes, whose passphrase is in the file key.
type qemuIO struct {
	d   *file.Driver
	key string // "" when the volumes are not encrypted
}

// image is qemu-img's and qemu-io's arguments that open a volume.
func (p qemuIO) image(id string) []string {
	if p.key == "" {
		disk, err := p.d.Disk(context.Background(), id)
		if err != nil {
			return []string{"-f", "qcow2", p.d.Path(id)}
		}
		return []string{"-f", disk.Format, disk.Path}
	}
	return []string{"--object", "secret,id=k,file=" + p.key, "--image-opts",
		"driver=luks,key-secret=k,file.driver=qcow2,file.file.driver=file,file.file.filename=" + p.d.Path(id)}
}

func (p qemuIO) Size(id string) (int64, bool) {
	out, err := exec.Command("qemu-img", append([]string{"info", "--output=json"}, p.image(id)...)...).Output()
	if err != nil {
		return 0, false
	}
	var info struct {
		VirtualSize int64 `json:"virtual-size"`
	}
	json.Unmarshal(out, &info)
	return info.VirtualSize, true
}

// Write writes 1 MiB of the pattern at 1 MiB into the volume.
func (p qemuIO) Write(id string, pattern byte) {
	exec.Command("qemu-io", append([]string{"-c", fmt.Sprintf("write -P %d 1M 1M", pattern)}, p.image(id)...)...).Run()
}

// Read finds which pattern the volume holds at 1 MiB.
func (p qemuIO) Read(id string) (byte, bool) {
	for _, pattern := range []byte{0xa1, 0xa2, 0xa3} {
		out, err := exec.Command("qemu-io", append([]string{"-c", fmt.Sprintf("read -P %d 1M 1M", pattern)}, p.image(id)...)...).CombinedOutput()
		// (qemu-io reports a mismatch in its output, not its exit status.)
		if err == nil && strings.Contains(string(out), "read ") && !strings.Contains(string(out), "Pattern verification failed") {
			return pattern, true
		}
	}
	return 0, false
}

// TestDriverSuite runs the driver behaviour suite on qcow2 files.
func TestDriverSuite(t *testing.T) {
	for _, tool := range []string{"qemu-img", "qemu-io"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s is required in CI (make test installs qemu-utils)", tool)
			}
			t.Skipf("%s not installed", tool)
		}
	}
	d, err := file.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	backendtest.Run(t, d, qemuIO{d: d}, nil)
}

// TestEncryptedDriverSuite runs the suite on encrypted volumes (AES-256
// in XTS mode), then reads every file the driver kept: none holds the
// patterns written through the containers.
func TestEncryptedDriverSuite(t *testing.T) {
	dir := t.TempDir()
	d, err := file.Open(filepath.Join(dir, "volumes"))
	if err != nil {
		t.Fatal(err)
	}
	passphrase := []byte(strings.Repeat("5e", 64))
	key := filepath.Join(dir, "key")
	os.WriteFile(key, passphrase, 0o600)
	backendtest.Run(t, d, qemuIO{d: d, key: key}, &backend.Encryption{Passphrase: passphrase, Cipher: "aes-xts-plain64", KeyBits: 512})
	var files int
	filepath.WalkDir(dir, func(path string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() || path == key {
			return err
		}
		files++
		b, err := os.ReadFile(path)
		for _, pattern := range []byte{0xa1, 0xa2, 0xa3} {
			if bytes.Contains(b, bytes.Repeat([]byte{pattern}, 4096)) {
				t.Errorf("%s holds the plaintext pattern %#x", path, pattern)
			}
		}
		return err
	})
	if files < 4 {
		t.Errorf("only %d files were read", files)
	}
	// Other ciphers and key sizes are refused, and leave no file.
	for _, enc := range []backend.Encryption{{Passphrase: passphrase, Cipher: "aes-cbc-essiv:sha256", KeyBits: 256},
		{Passphrase: passphrase, Cipher: "aes-xts-plain64", KeyBits: 128}} {
		if err := d.Create(context.Background(), "01010101-0000-4000-8000-000000000001", 1<<20, &enc); err == nil {
			t.Errorf("a volume of %s with %d bits was made", enc.Cipher, enc.KeyBits)
		}
	}
	if ids, _ := d.List(context.Background()); slices.Contains(ids, "01010101-0000-4000-8000-000000000001") {
		t.Error("a refused volume left its file")
	}
}

// TestImportNeverReadsABackingFile: a qcow2 image naming a backing file
// (a user's upload could name any host file) becomes a volume without
// the backing file's data.
func TestImportNeverReadsABackingFile(t *testing.T) {
	if _, err := exec.LookPath("qemu-io"); err != nil {
		t.Skip("qemu-io not installed")
	}
	dir := t.TempDir()
	secret := dir + "/secret.raw"
	if out, err := exec.Command("sh", "-c", "qemu-img create -q -f raw "+secret+" 4M && qemu-io -f raw -c 'write -P 161 1M 1M' "+secret+
		" && qemu-img create -q -f qcow2 -b "+secret+" -F raw "+dir+"/planted.qcow2").CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	d, err := file.Open(dir + "/volumes")
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(dir + "/planted.qcow2")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := d.Import(context.Background(), "0f0f0f0f-0000-4000-8000-00000000000f", f, "qcow2", 4<<20, nil); err != nil {
		t.Fatalf("import: %v", err)
	}
	if got, ok := (qemuIO{d: d}).Read("0f0f0f0f-0000-4000-8000-00000000000f"); ok {
		t.Errorf("the volume holds the backing file's pattern %#x", got)
	}
}
