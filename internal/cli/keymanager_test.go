package cli_test

import (
	"strings"
	"testing"
)

// TestOpenStackCLIKeyManager stores, reads and deletes secrets with the
// openstack CLI's key manager plugin (python3-barbicanclient), orders a
// key, puts secrets in a container; another project sees none of it.
func TestOpenStackCLIKeyManager(t *testing.T) {
	t.Parallel()
	requireOpenStackCLI(t)
	clouds := startUp(t)
	_, alice, bob, _ := twoProjects(t, clouds)

	href := strings.TrimSpace(alice(true, "secret", "store", "--name", "cli-secret", "--payload", "hush", "--payload-content-type", "text/plain", "-f", "value", "-c", "Secret href"))
	if !strings.Contains(href, "/key-manager/v1/secrets/") {
		t.Fatalf("secret store printed %q", href)
	}
	if out := alice(true, "secret", "get", "--payload", "-f", "value", href); strings.TrimSpace(out) != "hush" {
		t.Errorf("secret get --payload: %q", out)
	}
	if out := alice(true, "secret", "get", "-f", "value", "-c", "Name", "-c", "Content types", href); !strings.Contains(out, "cli-secret") || !strings.Contains(out, "text/plain") {
		t.Errorf("secret get: %q", out)
	}
	if out := alice(true, "secret", "list", "-f", "value", "-c", "Secret href"); strings.TrimSpace(out) != href {
		t.Errorf("secret list: %q", out)
	}

	order := strings.TrimSpace(alice(true, "secret", "order", "create", "--name", "cli-key", "--algorithm", "aes", "--bit-length", "256",
		"--mode", "cbc", "--payload-content-type", "application/octet-stream", "-f", "value", "-c", "Order href", "key"))
	if out := alice(true, "secret", "order", "get", "-f", "value", "-c", "Status", order); strings.TrimSpace(out) != "ACTIVE" {
		t.Errorf("order get: %q", out)
	}
	container := strings.TrimSpace(alice(true, "secret", "container", "create", "--name", "cli-bag", "--type", "generic", "--secret", "one="+href, "-f", "value", "-c", "Container href"))
	if out := alice(true, "secret", "container", "get", container); !strings.Contains(out, "cli-bag") {
		t.Errorf("container get: %q", out)
	}

	// Bob: nothing.
	if out := bob(true, "secret", "list", "-f", "value"); strings.TrimSpace(out) != "" {
		t.Errorf("bob's secret list: %q", out)
	}
	bob(false, "secret", "get", "--payload", href)
	bob(false, "secret", "delete", href)
	bob(false, "secret", "container", "get", container)

	alice(true, "secret", "container", "delete", container)
	alice(true, "secret", "delete", href)
	alice(false, "secret", "get", href)
}
