package cli_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/sovcloud/sov/internal/servertest"
)

// tofuConfig is the plan of TestOpenTofu: a network with a subnet, a
// router to the cloud's external network, a security group with rules, a
// port in it, a server on that port and a floating IP on the port.
const tofuConfig = `
terraform {
  required_providers {
    openstack = {
      source  = "terraform-provider-openstack/openstack"
      version = "3.4.0"
    }
  }
}

provider "openstack" {
  auth_url            = %q
  user_name           = "alice"
  password            = "alice-pw"
  tenant_name         = "demo"
  user_domain_name    = "Default"
  project_domain_name = "Default"
}

data "openstack_networking_network_v2" "public" {
  name = "public"
}

resource "openstack_networking_network_v2" "net" {
  name           = "tofu-net"
  admin_state_up = true
}

resource "openstack_networking_subnet_v2" "subnet" {
  name            = "tofu-subnet"
  network_id      = openstack_networking_network_v2.net.id
  cidr            = "10.91.0.0/24"
  ip_version      = 4
  dns_nameservers = ["192.0.2.53"]
}

resource "openstack_networking_router_v2" "router" {
  name                = "tofu-router"
  external_network_id = data.openstack_networking_network_v2.public.id
}

resource "openstack_networking_router_interface_v2" "ri" {
  router_id = openstack_networking_router_v2.router.id
  subnet_id = openstack_networking_subnet_v2.subnet.id
}

resource "openstack_networking_secgroup_v2" "web" {
  name        = "tofu-web"
  description = "HTTP and ping from anywhere"
}

resource "openstack_networking_secgroup_rule_v2" "http" {
  direction         = "ingress"
  ethertype         = "IPv4"
  protocol          = "tcp"
  port_range_min    = 80
  port_range_max    = 80
  remote_ip_prefix  = "0.0.0.0/0"
  security_group_id = openstack_networking_secgroup_v2.web.id
}

resource "openstack_networking_secgroup_rule_v2" "icmp" {
  direction         = "ingress"
  ethertype         = "IPv4"
  protocol          = "icmp"
  remote_ip_prefix  = "0.0.0.0/0"
  security_group_id = openstack_networking_secgroup_v2.web.id
}

resource "openstack_networking_port_v2" "port" {
  name               = "tofu-port"
  network_id         = openstack_networking_network_v2.net.id
  admin_state_up     = true
  security_group_ids = [openstack_networking_secgroup_v2.web.id]
  fixed_ip {
    subnet_id  = openstack_networking_subnet_v2.subnet.id
    ip_address = "10.91.0.10"
  }
}

resource "openstack_compute_keypair_v2" "key" {
  name       = "tofu-key"
  public_key = %q
}

resource "openstack_compute_instance_v2" "vm" {
  name        = "tofu-vm"
  image_name  = "guest"
  flavor_name = "SCS-1L-1"
  key_pair    = openstack_compute_keypair_v2.key.name
  network {
    port = openstack_networking_port_v2.port.id
  }
}

resource "openstack_networking_floatingip_v2" "fip" {
  pool = "public"
}

resource "openstack_networking_floatingip_associate_v2" "fip" {
  floating_ip = openstack_networking_floatingip_v2.fip.address
  port_id     = openstack_networking_port_v2.port.id
  depends_on  = [openstack_networking_router_interface_v2.ri]
}

output "floating_ip" {
  value = openstack_networking_floatingip_v2.fip.address
}

output "server_id" {
  value = openstack_compute_instance_v2.vm.id
}
`

// TestOpenTofu applies a plan of every kind of network resource and a
// server with OpenTofu and terraform-provider-openstack as released: the
// floating IP then answers the host with the server's id, a second plan
// finds no drift, another project sees none of it, and destroy leaves
// nothing behind.
func TestOpenTofu(t *testing.T) {
	t.Parallel()
	requireOpenStackCLI(t)
	tofu, cliConfig := servertest.Tofu(t)
	clouds := startUp(t)
	_, alice, bob, authURL := twoProjects(t, clouds)
	uploadGuestCLI(t, alice)

	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	key := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sshPub)))
	if err := os.WriteFile(filepath.Join(dir, "main.tf"), []byte(fmt.Sprintf(tofuConfig, authURL, key)), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (string, error) {
		cmd := exec.Command(tofu, args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "TF_CLI_CONFIG_FILE="+cliConfig, "TF_IN_AUTOMATION=1", "CHECKPOINT_DISABLE=1", "TF_INPUT=0")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		return out.String(), err
	}
	mustRun := func(args ...string) string {
		t.Helper()
		out, err := run(args...)
		if err != nil {
			t.Fatalf("tofu %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	// Whatever happens, destroy what was applied while sov still runs.
	t.Cleanup(func() { run("destroy", "-auto-approve", "-no-color") })

	mustRun("init", "-no-color")
	mustRun("apply", "-auto-approve", "-no-color")
	var outputs map[string]struct{ Value string }
	if err := json.Unmarshal([]byte(mustRun("output", "-json")), &outputs); err != nil {
		t.Fatal(err)
	}
	fip, serverID := outputs["floating_ip"].Value, outputs["server_id"].Value

	// The server answers through its floating IP (the test guest serves
	// its own id on port 80), which the security group lets in.
	var body []byte
	for end := time.Now().Add(120 * time.Second); time.Now().Before(end); time.Sleep(time.Second) {
		resp, err := (&http.Client{Timeout: 2 * time.Second}).Get("http://" + fip + "/")
		if err == nil {
			body, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
			break
		}
	}
	if strings.TrimSpace(string(body)) != serverID {
		t.Errorf("floating IP %s answered %q, want the server's id %s", fip, body, serverID)
	}

	// No drift: a second plan has nothing to do (exit status 0, not 2).
	if out, err := run("plan", "-detailed-exitcode", "-no-color"); err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) && exit.ExitCode() == 2 {
			t.Errorf("tofu plan after apply finds drift:\n%s", out)
		} else {
			t.Errorf("tofu plan: %v\n%s", err, out)
		}
	}

	// Another project sees none of it and cannot take the port.
	bob(false, "network", "show", "tofu-net")
	bob(false, "server", "show", serverID)
	bob(false, "security", "group", "show", "tofu-web")
	bob(false, "router", "show", "tofu-router")
	if out := bob(true, "floating", "ip", "list", "-f", "value"); strings.TrimSpace(out) != "" {
		t.Errorf("bob's floating ip list shows %q", out)
	}
	bob(false, "port", "set", "--name", "taken", "tofu-port")

	// Destroy removes everything it made, and the data plane with it.
	mustRun("destroy", "-auto-approve", "-no-color")
	for what, args := range map[string][]string{
		"servers": {"server", "list"}, "ports": {"port", "list"}, "routers": {"router", "list"},
		"floating ips": {"floating", "ip", "list"}, "keypairs": {"keypair", "list"},
	} {
		if out := alice(true, append(args, "-f", "value")...); strings.TrimSpace(out) != "" {
			t.Errorf("%s left after destroy: %s", what, out)
		}
	}
	if out := alice(true, "network", "list", "-f", "value", "-c", "Name"); strings.TrimSpace(out) != "public" {
		t.Errorf("networks after destroy: %q, want only public", out)
	}
	if out := alice(true, "security", "group", "list", "-f", "value", "-c", "Name"); strings.TrimSpace(out) != "default" {
		t.Errorf("security groups after destroy: %q, want only default", out)
	}
	if resp, err := (&http.Client{Timeout: 2 * time.Second}).Get("http://" + fip + "/"); err == nil {
		resp.Body.Close()
		t.Errorf("the floating IP %s still answers after destroy", fip)
	}
}
