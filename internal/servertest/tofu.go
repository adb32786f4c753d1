package servertest

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// Tofu returns the OpenTofu binary and the path of a CLI configuration
// that installs terraform-provider-openstack from a local filesystem
// mirror only, both built by scripts/build-tofu.sh from the Go module proxy
// on first use and cached by the script's hash (the versions are in it).
func Tofu(t testing.TB) (bin, cliConfig string) {
	t.Helper()
	dir := CachedBuild(t, "tofu", "scripts/build-tofu.sh", nil)
	cliConfig = filepath.Join(t.TempDir(), "tofurc")
	conf := fmt.Sprintf(`provider_installation {
  filesystem_mirror {
    path    = %q
    include = ["registry.opentofu.org/terraform-provider-openstack/openstack"]
  }
}
`, filepath.Join(dir, "mirror"))
	if err := os.WriteFile(cliConfig, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, "tofu"), cliConfig
}
