package fake

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/sovcloud/sov/internal/hypervisor"
	"github.com/sovcloud/sov/internal/hypervisor/hypervisortest"
)

func TestFakeDriver(t *testing.T) {
	d, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	hypervisortest.Run(t, d, func(t *testing.T, id string) *hypervisor.Spec {
		os.MkdirAll(d.Dir(id), 0o700)
		disk := filepath.Join(d.Dir(id), "disk.qcow2")
		os.WriteFile(disk, nil, 0o600)
		return &hypervisor.Spec{ID: id, VCPUs: 1, RAMMiB: 64, Disk: &hypervisor.Disk{Path: disk, Format: "qcow2"}}
	})
}
