package cli_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/sovcloud/sov/internal/cli"
)

// TestOpenStackCLINetworks drives the Neutron API with the openstack CLI:
// a network, subnet, ports and security group rules of one project that
// another cannot see or use until they are shared with it; quotas an
// admin sets; the default group's rules.
func TestOpenStackCLINetworks(t *testing.T) {
	t.Parallel()
	requireOpenStackCLI(t)
	clouds := startUp(t)
	run, alice, bob, _ := twoProjects(t, clouds)

	var net, port map[string]any
	jsonOut(t, alice(true, "network", "create", "demo-net", "-f", "json"), &net)
	alice(true, "subnet", "create", "--network", "demo-net", "--subnet-range", "10.20.0.0/24", "--dns-nameserver", "192.0.2.53", "demo-sub")
	// The network's DHCP server runs in a namespace of its own, on the DHCP port's address.
	ns := "sovd-" + strings.ReplaceAll(net["id"].(string), "-", "")[:11]
	if out, err := exec.Command("ip", "-n", ns, "-br", "addr", "show", "dhcp0").CombinedOutput(); err != nil || !strings.Contains(string(out), "10.20.0.2/24") {
		t.Errorf("DHCP namespace %s: %v %s", ns, err, out)
	}
	alice(true, "security", "group", "create", "web")
	alice(true, "security", "group", "rule", "create", "--protocol", "tcp", "--dst-port", "80", "--remote-group", "web", "web")
	jsonOut(t, alice(true, "port", "create", "--network", "demo-net", "--fixed-ip", "subnet=demo-sub,ip-address=10.20.0.10",
		"--security-group", "web", "demo-port", "-f", "json"), &port)
	if ips, _ := port["fixed_ips"].([]any); len(ips) != 1 || !strings.Contains(port["fixed_ips"].([]any)[0].(map[string]any)["ip_address"].(string), "10.20.0.10") {
		t.Errorf("port create: %v", port)
	}
	var rules []map[string]any
	jsonOut(t, alice(true, "security", "group", "rule", "list", "web", "-f", "json"), &rules)
	if len(rules) != 3 { // two egress defaults and the rule above
		t.Errorf("web's rules: %v", rules)
	}
	// The default group of a fresh project holds the SCS default rules.
	jsonOut(t, alice(true, "security", "group", "rule", "list", "default", "-f", "json"), &rules)
	ingress := 0
	for _, r := range rules {
		if r["Direction"] == "ingress" {
			ingress++
			if r["Remote Security Group"] == nil {
				t.Errorf("default group lets in more than its members: %v", r)
			}
		}
	}
	if len(rules) != 4 || ingress != 2 {
		t.Errorf("default group's rules: %v", rules)
	}

	// Bob sees none of it and cannot put a port on alice's network.
	id := net["id"].(string)
	bob(false, "network", "show", id)
	if out := bob(true, "port", "list", "-f", "value", "-c", "ID"); strings.TrimSpace(out) != "" {
		t.Errorf("bob's port list shows %q", out)
	}
	bob(false, "port", "create", "--network", id, "intruder")
	bob(false, "network", "delete", id)
	// Shared with bob's project, the network takes his port.
	run("network", "rbac", "create", "--target-project", "other", "--action", "access_as_shared", "--type", "network", id)
	bob(true, "port", "create", "--network", id, "guest")

	// Quotas: the admin allows bob's project one network.
	run("quota", "set", "--networks", "1", "other")
	bob(true, "network", "create", "bob-net")
	if out := bob(false, "network", "create", "bob-net-2"); !strings.Contains(out, "Quota exceeded") {
		t.Errorf("second network over quota: %s", out)
	}
	var quota map[string]any
	jsonOut(t, bob(true, "quota", "show", "-f", "json"), &quota)
	if quota["networks"] != float64(1) {
		t.Errorf("quota show: networks %v", quota["networks"])
	}
	// A router to the cloud's external network, and a floating IP on
	// alice's port: on the host, the router's namespace holds it.
	var public map[string]any
	jsonOut(t, run("network", "show", "-f", "json", "public"), &public)
	if public["router:external"] != true || public["provider:network_type"] != "flat" {
		t.Errorf("the cloud's external network: %v", public)
	}
	alice(true, "router", "create", "demo-router")
	alice(true, "router", "set", "--external-gateway", "public", "demo-router")
	alice(true, "router", "add", "subnet", "demo-router", "demo-sub")
	var fip map[string]any
	jsonOut(t, alice(true, "floating", "ip", "create", "public", "-f", "json"), &fip)
	alice(true, "floating", "ip", "set", "--port", "demo-port", fip["floating_ip_address"].(string))
	var fips []map[string]any
	jsonOut(t, alice(true, "floating", "ip", "list", "-f", "json"), &fips)
	if len(fips) != 1 || fips[0]["Fixed IP Address"] != "10.20.0.10" || fips[0]["Port"] != port["id"] {
		t.Errorf("floating ip list: %v", fips)
	}
	routerID := strings.TrimSpace(alice(true, "router", "show", "-f", "value", "-c", "id", "demo-router"))
	routerNS := "sovr-" + strings.ReplaceAll(routerID, "-", "")[:11]
	if addrs, err := exec.Command("ip", "-n", routerNS, "addr").CombinedOutput(); err != nil || !strings.Contains(string(addrs), fip["floating_ip_address"].(string)+"/32") {
		t.Errorf("the router's namespace %s lacks the floating IP: %v\n%s", routerNS, err, addrs)
	}
	bob(false, "floating", "ip", "set", "--port", "guest", fip["floating_ip_address"].(string))
	bob(false, "router", "show", "demo-router")

	// In use, then gone.
	if out := alice(false, "network", "delete", "demo-net"); !strings.Contains(out, "in use") {
		t.Errorf("delete a network in use: %s", out)
	}
	alice(true, "floating", "ip", "delete", fip["floating_ip_address"].(string))
	alice(true, "router", "remove", "subnet", "demo-router", "demo-sub")
	alice(true, "router", "delete", "demo-router")
	alice(true, "port", "delete", "demo-port")
	bob(true, "port", "delete", "guest")
	alice(true, "network", "delete", "demo-net")
}

// TestUpExternalFlags: sov up refuses an external gateway or pool outside
// --external-cidr and an --external-interface the host lacks, before it
// starts anything.
func TestUpExternalFlags(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ args, want string }{
		{"--external-gateway 10.9.9.1", "--external-gateway"},
		{"--external-gateway nonsense", "--external-gateway"},
		{"--external-pool 172.24.4.10", "--external-pool"},
		{"--external-pool 172.24.4.20-172.24.4.10", "--external-pool"},
		{"--external-pool 172.24.4.10-172.24.5.10", "--external-pool"},
		{"--external-interface sovnosuch0", "--external-interface"},
	} {
		dir := t.TempDir()
		args := append([]string{"up", "--data-dir", dir, "--listen", "127.0.0.1:0", "--external-cidr", "172.24.4.0/24"}, strings.Fields(tc.args)...)
		err := cli.Run(context.Background(), args, &syncBuffer{}, &syncBuffer{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("sov up %s: %v, want an error about %s", tc.args, err, tc.want)
		}
		if _, err := os.Stat(filepath.Join(dir, "sov.db")); err == nil {
			t.Errorf("sov up %s made a database", tc.args)
		}
	}
}

// twoProjects makes the projects demo and other, with the members alice
// (demo) and bob (other), and returns the openstack CLI as the cloud's
// admin, as alice and as bob, and the auth URL.
func twoProjects(t *testing.T, clouds string) (admin func(args ...string) string, alice, bob func(ok bool, args ...string) string, authURL string) {
	t.Helper()
	admin = func(args ...string) string {
		return osc(t, clouds, true, append([]string{"--os-cloud", "sov"}, args...)...)
	}
	admin("project", "create", "demo")
	admin("project", "create", "other")
	admin("user", "create", "--password", "alice-pw", "--domain", "default", "alice")
	admin("user", "create", "--password", "bob-pw", "--domain", "default", "bob")
	admin("role", "add", "--project", "demo", "--user", "alice", "member")
	admin("role", "add", "--project", "other", "--user", "bob", "member")
	authURL = regexp.MustCompile(`auth_url: (\S+)`).FindStringSubmatch(readFile(t, clouds))[1]
	alice = func(ok bool, args ...string) string {
		return osc(t, clouds, ok, append(userArgs(authURL, "alice", "demo"), args...)...)
	}
	bob = func(ok bool, args ...string) string {
		return osc(t, clouds, ok, append(userArgs(authURL, "bob", "other"), args...)...)
	}
	return admin, alice, bob, authURL
}
