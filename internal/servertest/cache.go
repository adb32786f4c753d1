package servertest

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
)

// RepoRoot is the root of sov's source tree.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// CachedBuild returns the directory the build script (a path in the
// repository) fills, running it on first use. The directory sits under the
// user cache directory, keyed by the script, the repository files it reads
// and the extra keys, so a change of any of them builds anew and the
// heavy builds (a guest, OpenTofu) are done once per machine. A build that
// fails skips the test, except in CI, where that is a failure.
func CachedBuild(t testing.TB, name, script string, inputs []string, extra ...string) string {
	t.Helper()
	root := RepoRoot()
	h := sha256.New()
	for _, f := range append([]string{script}, inputs...) {
		b, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		h.Write(b)
	}
	for _, e := range extra {
		h.Write([]byte(e + "\x00"))
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	dir := filepath.Join(cache, "sov", name+"-"+hex.EncodeToString(h.Sum(nil))[:16])
	if _, err := os.Stat(dir); err == nil {
		return dir
	}
	// One build at a time across the test processes, into a directory of
	// its own that takes the final name only when complete.
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		t.Fatal(err)
	}
	lock, err := os.OpenFile(dir+".lock", os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); err == nil {
		return dir
	}
	tmp := dir + ".building"
	os.RemoveAll(tmp)
	out, err := exec.Command(filepath.Join(root, script), tmp).CombinedOutput()
	if err == nil {
		err = os.Rename(tmp, dir)
	}
	if err != nil {
		os.RemoveAll(tmp)
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s: %v\n%s", script, err, out)
		}
		t.Skipf("cannot run %s: %v\n%s", script, err, out)
	}
	return dir
}
