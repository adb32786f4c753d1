package servertest

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
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
	kernels, _ := filepath.Glob("/boot/vmlinuz-*-cloud-amd64")
	dir := CachedBuild(t, "test-guest", "scripts/build-test-guest.sh", []string{"testdata/guest/init", "testdata/guest/udhcpc.script"}, kernels...)
	return filepath.Join(dir, "vmlinuz"), filepath.Join(dir, "initrd.img")
}

// UploadTestGuest uploads the test guest as Nova boots such images: a
// kernel (aki), a ramdisk (ari) and a small root disk naming both.
func UploadTestGuest(t testing.TB, p *gophercloud.ProviderClient) string {
	t.Helper()
	kernel, initrd := TestGuest(t)
	return uploadAMI(t, p, "sov-test-guest", kernel, initrd, "raw", bytes.NewReader(make([]byte, 1<<20)), map[string]string{
		"os_command_line": "console=ttyS0 quiet", "os_distro": "busybox"})
}

// DebianGuest returns the directory of the Debian cloud image built by
// scripts/build-debian-guest.sh (vmlinuz, initrd.img, root.qcow2), building
// it on first use and caching it by the script's hash.
func DebianGuest(t testing.TB) string {
	t.Helper()
	if _, err := exec.LookPath("debootstrap"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("debootstrap is required in CI (make test installs it)")
		}
		t.Skip("debootstrap not installed")
	}
	return CachedBuild(t, "debian-guest", "scripts/build-debian-guest.sh", nil)
}

// UploadDebianGuest uploads the Debian cloud image as image "debian-12"
// (and its kernel and ramdisk) and returns its id.
func UploadDebianGuest(t testing.TB, p *gophercloud.ProviderClient) string {
	t.Helper()
	dir := DebianGuest(t)
	root, err := os.Open(filepath.Join(dir, "root.qcow2"))
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	return uploadAMI(t, p, "debian-12", filepath.Join(dir, "vmlinuz"), filepath.Join(dir, "initrd.img"), "qcow2", root, map[string]string{
		"os_command_line": "root=/dev/vda console=ttyS0", "os_distro": "debian", "os_version": "12", "os_admin_user": "debian"})
}

// uploadAMI uploads an AMI-style image: the kernel (aki) and ramdisk (ari)
// files as images of their own, then the root disk naming both.
func uploadAMI(t testing.TB, p *gophercloud.ProviderClient, name, kernel, initrd, format string, root io.Reader, props map[string]string) string {
	t.Helper()
	ic, err := openstack.NewImageV2(p, gophercloud.EndpointOpts{})
	if err != nil {
		t.Fatal(err)
	}
	upload := func(name, format string, body io.Reader, props map[string]string) string {
		container := format
		if format == "raw" || format == "qcow2" {
			container = "bare"
		}
		img, err := images.Create(context.Background(), ic, images.CreateOpts{Name: name, DiskFormat: format, ContainerFormat: container, Properties: props}).Extract()
		if err != nil {
			t.Fatalf("create image %s: %v", name, err)
		}
		if err := imagedata.Upload(context.Background(), ic, img.ID, body).ExtractErr(); err != nil {
			t.Fatalf("upload %s: %v", name, err)
		}
		return img.ID
	}
	file := func(path string) io.Reader {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return f
	}
	props["kernel_id"] = upload(name+"-kernel", "aki", file(kernel), nil)
	props["ramdisk_id"] = upload(name+"-ramdisk", "ari", file(initrd), nil)
	return upload(name, format, root, props)
}
