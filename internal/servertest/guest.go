package servertest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/imagedata"
	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/images"
)

// TestGuest returns the kernel and initramfs of sov's test guest, building
// them with scripts/build-test-guest.sh on first use and caching them under
// the user cache directory, keyed by the build inputs. Without QEMU the
// test is skipped, except in CI, where that is a failure.
func TestGuest(t testing.TB) (kernel, initrd string) {
	t.Helper()
	for _, bin := range []string{"qemu-system-x86_64", "qemu-img", "genisoimage", "dnsmasq"} {
		if _, err := exec.LookPath(bin); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s is required in CI (make test installs it)", bin)
			}
			t.Skipf("%s not installed", bin)
		}
	}
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	h := sha256.New()
	for _, f := range []string{"scripts/build-test-guest.sh", "testdata/guest/init", "testdata/guest/udhcpc.script"} {
		b, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		h.Write(b)
	}
	kernels, _ := filepath.Glob("/boot/vmlinuz-*-cloud-amd64")
	for _, k := range kernels {
		h.Write([]byte(k))
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	dir := filepath.Join(cache, "sov", "test-guest-"+hex.EncodeToString(h.Sum(nil))[:16])
	kernel, initrd = filepath.Join(dir, "vmlinuz"), filepath.Join(dir, "initrd.img")
	if _, err := os.Stat(initrd); err == nil {
		return kernel, initrd
	}
	out, err := exec.Command(filepath.Join(root, "scripts", "build-test-guest.sh"), dir).CombinedOutput()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("building the test guest: %v\n%s", err, out)
		}
		t.Skipf("cannot build the test guest: %v\n%s", err, out)
	}
	return kernel, initrd
}

// UploadTestGuest uploads the test guest as Nova boots such images: a
// kernel (aki), a ramdisk (ari) and a small root disk naming both.
func UploadTestGuest(t testing.TB, p *gophercloud.ProviderClient) string {
	t.Helper()
	kernel, initrd := TestGuest(t)
	ic, err := openstack.NewImageV2(p, gophercloud.EndpointOpts{})
	if err != nil {
		t.Fatal(err)
	}
	upload := func(name, format, path string, data []byte, props map[string]string) string {
		container := format
		if format == "raw" {
			container = "bare"
		}
		img, err := images.Create(context.Background(), ic, images.CreateOpts{Name: name, DiskFormat: format, ContainerFormat: container, Properties: props}).Extract()
		if err != nil {
			t.Fatalf("create image %s: %v", name, err)
		}
		var body io.Reader = bytes.NewReader(data)
		if path != "" {
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			body = f
		}
		if err := imagedata.Upload(context.Background(), ic, img.ID, body).ExtractErr(); err != nil {
			t.Fatalf("upload %s: %v", name, err)
		}
		return img.ID
	}
	k := upload("guest-kernel", "aki", kernel, nil, nil)
	r := upload("guest-ramdisk", "ari", initrd, nil, nil)
	if fi, err := os.Stat(filepath.Dir(kernel)); err != nil || !fi.IsDir() {
		t.Fatal(err)
	}
	return upload("sov-test-guest", "raw", "", make([]byte, 1<<20), map[string]string{
		"kernel_id": k, "ramdisk_id": r, "os_command_line": "console=ttyS0 quiet", "os_distro": "busybox"})
}
