package file_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"testing"

	"github.com/sovcloud/sov/internal/volume/backend/backendtest"
	"github.com/sovcloud/sov/internal/volume/backend/file"
)

// TestDriverSuite runs the driver behaviour suite on qcow2 files, sizes
// read by qemu-img info.
func TestDriverSuite(t *testing.T) {
	if _, err := exec.LookPath("qemu-img"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("qemu-img is required in CI (make test installs qemu-utils)")
		}
		t.Skip("qemu-img not installed")
	}
	d, err := file.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	backendtest.Run(t, d, func(id string) (int64, bool) {
		out, err := exec.Command("qemu-img", "info", "--output=json", "-f", "qcow2", d.Path(id)).Output()
		if err != nil {
			return 0, false
		}
		var info struct {
			VirtualSize int64 `json:"virtual-size"`
		}
		json.Unmarshal(out, &info)
		return info.VirtualSize, true
	})
}
