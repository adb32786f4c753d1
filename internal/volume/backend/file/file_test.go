package file_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/sovcloud/sov/internal/volume/backend/backendtest"
	"github.com/sovcloud/sov/internal/volume/backend/file"
)

// qemuIO reads and writes the driver's qcow2 files with qemu-img and
// qemu-io, as QEMU would for a guest.
type qemuIO struct{ d *file.Driver }

func (p qemuIO) Size(id string) (int64, bool) {
	out, err := exec.Command("qemu-img", "info", "--output=json", "-f", "qcow2", p.d.Path(id)).Output()
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
	exec.Command("qemu-io", "-f", "qcow2", "-c", fmt.Sprintf("write -P %d 1M 1M", pattern), p.d.Path(id)).Run()
}

// Read finds which pattern the volume holds at 1 MiB.
func (p qemuIO) Read(id string) (byte, bool) {
	for _, pattern := range []byte{0xa1, 0xa2, 0xa3} {
		out, err := exec.Command("qemu-io", "-f", "qcow2", "-c", fmt.Sprintf("read -P %d 1M 1M", pattern), p.d.Path(id)).CombinedOutput()
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
	backendtest.Run(t, d, qemuIO{d})
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
	if err := d.Import(context.Background(), "0f0f0f0f-0000-4000-8000-00000000000f", f, "qcow2", 4<<20); err != nil {
		t.Fatalf("import: %v", err)
	}
	if got, ok := (qemuIO{d}).Read("0f0f0f0f-0000-4000-8000-00000000000f"); ok {
		t.Errorf("the volume holds the backing file's pattern %#x", got)
	}
}
