package cli_test

import (
	"strings"
	"testing"
)

// TestOpenStackCLIPlacement reads the compute host's resource provider,
// inventories, usage, classes, traits and allocation candidates with the
// openstack CLI's placement plugin (python3-osc-placement), as an admin;
// a project member sees only its project's usage.
func TestOpenStackCLIPlacement(t *testing.T) {
	t.Parallel()
	requireOpenStackCLI(t)
	clouds := startUp(t)
	admin, alice, bob, _ := twoProjects(t, clouds)
	v := func(args ...string) []string { return append([]string{"--os-placement-api-version", "1.28"}, args...) }

	rp := strings.Fields(admin(v("resource", "provider", "list", "-f", "value", "-c", "uuid", "-c", "name")...))
	if len(rp) != 2 {
		t.Fatalf("resource provider list: %q", rp)
	}
	if out := admin(v("resource", "provider", "inventory", "list", "-f", "value", "-c", "resource_class", rp[0])...); !strings.Contains(out, "VCPU") || !strings.Contains(out, "MEMORY_MB") {
		t.Errorf("inventory list: %q", out)
	}
	if out := admin(v("resource", "provider", "usage", "show", "-f", "value", rp[0])...); !strings.Contains(out, "VCPU 0") {
		t.Errorf("usage show: %q", out)
	}
	if out := admin(v("resource", "class", "list", "-f", "value")...); !strings.Contains(out, "DISK_GB") {
		t.Errorf("resource class list: %q", out)
	}
	if out := admin(v("trait", "list", "-f", "value")...); !strings.Contains(out, "COMPUTE_VOLUME_ATTACH") {
		t.Errorf("trait list: %q", out)
	}
	if out := admin(v("allocation", "candidate", "list", "--resource", "VCPU=1", "-f", "value")...); !strings.Contains(out, rp[0]) {
		t.Errorf("allocation candidate list: %q", out)
	}
	// Without a version, the plugin negotiates one (1.29) with the root.
	if out := admin("resource", "provider", "list", "-f", "value", "-c", "root_provider_uuid"); strings.TrimSpace(out) != rp[0] {
		t.Errorf("negotiated resource provider list: %q", out)
	}
	// A member sees its project's usage, nothing else.
	alice(false, v("resource", "provider", "list")...)
	project := strings.TrimSpace(alice(true, "token", "issue", "-f", "value", "-c", "project_id"))
	alice(true, v("resource", "usage", "show", project)...)
	other := strings.TrimSpace(bob(true, "token", "issue", "-f", "value", "-c", "project_id"))
	alice(false, v("resource", "usage", "show", other)...)
}
