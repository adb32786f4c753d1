package servertest

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
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
