package cli_test

import (
	"strings"
	"testing"
	"time"
)

// TestOpenStackCLILoadBalancer builds a load balancer with the openstack
// CLI's load balancer plugin (python3-octaviaclient) on a real sov:
// create --wait, a listener, a pool, two members and a health monitor;
// members with nothing behind them turn ERROR; another project sees and
// changes nothing; a cascade delete removes it all.
func TestOpenStackCLILoadBalancer(t *testing.T) {
	t.Parallel()
	requireOpenStackCLI(t)
	clouds := startUp(t)
	_, alice, bob, _ := twoProjects(t, clouds)
	alice(true, "network", "create", "lb-net")
	alice(true, "subnet", "create", "--network", "lb-net", "--subnet-range", "10.60.0.0/24", "lb-subnet")

	if out := alice(true, "loadbalancer", "provider", "list", "-f", "value"); !strings.Contains(out, "sov") {
		t.Fatalf("provider list: %q", out)
	}
	var lb map[string]any
	jsonOut(t, alice(true, "loadbalancer", "create", "--name", "web", "--vip-subnet-id", "lb-subnet", "--wait", "-f", "json"), &lb)
	if lb["provisioning_status"] != "ACTIVE" || lb["provider"] != "sov" || !strings.HasPrefix(lb["vip_address"].(string), "10.60.0.") {
		t.Fatalf("loadbalancer create: %v", lb)
	}
	alice(true, "loadbalancer", "listener", "create", "--name", "http", "--protocol", "HTTP", "--protocol-port", "80", "--wait", "web")
	alice(true, "loadbalancer", "pool", "create", "--name", "backends", "--listener", "http", "--protocol", "HTTP",
		"--lb-algorithm", "ROUND_ROBIN", "--wait")
	for _, addr := range []string{"10.60.0.21", "10.60.0.22"} {
		alice(true, "loadbalancer", "member", "create", "--address", addr, "--protocol-port", "8080", "--subnet-id", "lb-subnet", "--wait", "backends")
	}
	alice(true, "loadbalancer", "healthmonitor", "create", "--name", "check", "--delay", "1", "--timeout", "1", "--max-retries", "1",
		"--max-retries-down", "1", "--type", "HTTP", "--url-path", "/healthz", "--wait", "backends")
	if out := alice(true, "loadbalancer", "member", "list", "-f", "value", "-c", "address", "-c", "provisioning_status", "backends"); strings.Count(out, "ACTIVE") != 2 {
		t.Fatalf("member list: %q", out)
	}
	// Nothing answers at the members' addresses: the checks fail.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(500 * time.Millisecond) {
		out := alice(true, "loadbalancer", "member", "list", "-f", "value", "-c", "operating_status", "backends")
		if strings.Count(out, "ERROR") == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("members' operating status: %q", out)
		}
	}
	if out := alice(true, "loadbalancer", "show", "-f", "value", "-c", "operating_status", "web"); strings.TrimSpace(out) != "DEGRADED" {
		t.Errorf("load balancer with every member down: %q", out)
	}
	if out := alice(true, "loadbalancer", "status", "show", "web"); !strings.Contains(out, "10.60.0.21") || !strings.Contains(out, "health_monitor") {
		t.Fatalf("status show: %q", out)
	}
	alice(true, "loadbalancer", "stats", "show", "web")
	if out := alice(true, "loadbalancer", "list", "-f", "value", "-c", "name"); strings.TrimSpace(out) != "web" {
		t.Fatalf("loadbalancer list: %q", out)
	}
	alice(true, "loadbalancer", "l7policy", "create", "--action", "REJECT", "--name", "block", "--wait", "http")
	// (python3-octaviaclient 3.1's l7rule create --wait shows the rule
	// with its policy's and its own ids swapped, a 404 from any Octavia:
	// wait for the load balancer instead.)
	alice(true, "loadbalancer", "l7rule", "create", "--type", "HEADER", "--key", "X-Block", "--compare-type", "EQUAL_TO", "--value", "yes", "block")
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		out := alice(true, "loadbalancer", "show", "-f", "value", "-c", "provisioning_status", "web")
		if strings.TrimSpace(out) == "ACTIVE" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("load balancer after l7rule create: %q", out)
		}
	}
	if out := alice(true, "loadbalancer", "l7rule", "list", "-f", "value", "-c", "type", "-c", "value", "block"); strings.TrimSpace(out) != "HEADER yes" {
		t.Errorf("l7rule list: %q", out)
	}
	alice(false, "loadbalancer", "listener", "create", "--protocol", "UDP", "--protocol-port", "53", "web")
	alice(false, "loadbalancer", "listener", "create", "--protocol", "HTTP", "--protocol-port", "80", "web")

	// Another project: nothing to see, touch or join.
	if out := bob(true, "loadbalancer", "list", "-f", "value"); strings.TrimSpace(out) != "" {
		t.Errorf("bob's loadbalancer list: %q", out)
	}
	id := lb["id"].(string)
	bob(false, "loadbalancer", "show", id)
	bob(false, "loadbalancer", "set", "--name", "mine", id)
	bob(false, "loadbalancer", "delete", "--cascade", id)
	bob(false, "loadbalancer", "create", "--vip-subnet-id", lb["vip_subnet_id"].(string))

	alice(true, "loadbalancer", "delete", "--cascade", "--wait", "web")
	if out := alice(true, "loadbalancer", "list", "-f", "value"); strings.TrimSpace(out) != "" {
		t.Errorf("loadbalancer list after delete: %q", out)
	}
	alice(false, "port", "show", lb["vip_port_id"].(string))
}
