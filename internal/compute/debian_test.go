package compute_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/keypairs"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/layer3/floatingips"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/layer3/routers"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/security/rules"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/ports"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/subnets"
	"golang.org/x/crypto/ssh"

	"github.com/sovcloud/sov/internal/servertest"
)

// TestDebianGuestSSH is the path a user takes on day one: a Debian cloud
// image (cloud-init, sshd) booted with a keypair on a tenant network behind
// a router, without a config drive; cloud-init takes the key, the user
// data and the instance id from the metadata service and the port's IPv6
// address by DHCPv6 (the router advertises the subnet), and the test logs in
// over SSH through the floating IP as "debian", with the key, checking the
// host key the guest printed on its console. Another project sees nothing.
func TestDebianGuestSSH(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, nil)
	alpha := srv.Provider(t, srv.NewTenant(t, "alpha", ""))
	beta := srv.Provider(t, srv.NewTenant(t, "beta", ""))
	c, nc := computeClient(t, alpha, "2.47"), networkClient(t, alpha)
	imageID := servertest.UploadDebianGuest(t, alpha)
	netID := servertest.TenantNetwork(t, alpha, "deb-net", "10.88.0.0/24")
	public, sn, r := servertest.RoutedToPublic(t, nc, netID)
	// An IPv6 subnet beside, by DHCPv6 (the router advertises it managed).
	v6, err := subnets.Create(ctx, nc, subnets.CreateOpts{NetworkID: netID, CIDR: "fd00:88::/64", IPVersion: 6,
		IPv6AddressMode: "dhcpv6-stateful", IPv6RAMode: "dhcpv6-stateful"}).Extract()
	wantStatus(t, "IPv6 subnet", err, 0)
	_, err = routers.AddInterface(ctx, nc, r.ID, routers.AddInterfaceOpts{SubnetID: v6.ID}).Extract()
	wantStatus(t, "IPv6 interface", err, 0)
	group := listGroups(t, nc, "default")[0]
	_, err = rules.Create(ctx, nc, rules.CreateOpts{SecGroupID: group.ID, Direction: rules.DirIngress, EtherType: rules.EtherType4,
		Protocol: rules.ProtocolTCP, PortRangeMin: 22, PortRangeMax: 22, RemoteIPPrefix: "0.0.0.0/0"}).Extract()
	wantStatus(t, "ssh rule", err, 0)

	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sshPub, _ := ssh.NewPublicKey(pub)
	signer, _ := ssh.NewSignerFromKey(priv)
	_, err = keypairs.Create(ctx, c, keypairs.CreateOpts{Name: "day-one", PublicKey: string(ssh.MarshalAuthorizedKey(sshPub))}).Extract()
	wantStatus(t, "keypair", err, 0)
	noDrive := false
	userData := "#cloud-config\nwrite_files:\n  - path: /etc/sov-user-data\n    content: \"from the metadata service\\n\"\n"
	s, err := servers.Create(ctx, c, keypairs.CreateOptsExt{KeyName: "day-one", CreateOptsBuilder: servers.CreateOpts{
		Name: "debian-vm", ImageRef: imageID, FlavorRef: flavorID(t, c, "SCS-1L-1"), ConfigDrive: &noDrive,
		Networks: []servers.Network{{UUID: netID}}, UserData: []byte(userData)}}, nil).Extract()
	wantStatus(t, "create", err, 0)
	waitStatus(t, c, s.ID, "ACTIVE")
	held := listPorts(t, nc, ports.ListOpts{DeviceID: s.ID})
	fip, err := floatingips.Create(ctx, nc, floatingips.CreateOpts{FloatingNetworkID: public.ID, PortID: held[0].ID}).Extract()
	wantStatus(t, "floating ip", err, 0)

	// cloud-init prints the host keys it made on the console; the
	// client trusts only that one. Under TCG a Debian boot with cloud-init
	// takes 2 minutes on a quiet machine, and up to four times that while
	// the other packages' VM tests run beside it (as in CI): 8 minutes was
	// once not enough.
	console := waitConsoleWithin(t, c, s.ID, "-----END SSH HOST KEY KEYS-----", 15*time.Minute)
	m := regexp.MustCompile(`(?m)^(ssh-ed25519 \S+)`).FindStringSubmatch(console[strings.LastIndex(console, "-----BEGIN SSH HOST KEY KEYS-----"):])
	if m == nil {
		t.Fatalf("no ed25519 host key on the console:\n%s", console)
	}
	hostKey, _, _, _, err := ssh.ParseAuthorizedKey([]byte(m[1]))
	if err != nil {
		t.Fatal(err)
	}
	cfg := &ssh.ClientConfig{User: "debian", Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: ssh.FixedHostKey(hostKey), Timeout: 10 * time.Second}
	var client *ssh.Client
	for end := time.Now().Add(3 * time.Minute); ; time.Sleep(2 * time.Second) {
		client, err = ssh.Dial("tcp", net.JoinHostPort(fip.FloatingIP, "22"), cfg)
		if err == nil {
			break
		}
		if time.Now().After(end) {
			t.Fatalf("ssh debian@%s: %v", fip.FloatingIP, err)
		}
	}
	defer client.Close()
	run := func(cmd string) string {
		t.Helper()
		sess, err := client.NewSession()
		if err != nil {
			t.Fatal(err)
		}
		defer sess.Close()
		out, err := sess.CombinedOutput(cmd)
		if err != nil {
			t.Fatalf("%s: %v\n%s", cmd, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	if got := run("cat /var/lib/cloud/data/instance-id"); got != s.ID {
		t.Errorf("cloud-init's instance id %q, want %s", got, s.ID)
	}
	if got := run("cloud-init query v1.cloud_name"); got != "openstack" {
		t.Errorf("cloud-init's datasource %q, want openstack (the metadata service)", got)
	}
	if got := run("cat /etc/sov-user-data"); got != "from the metadata service" {
		t.Errorf("user data: %q", got)
	}
	if got := run("hostname"); got != "debian-vm" {
		t.Errorf("hostname %q, want the server's name", got)
	}
	if got := run("ls /dev/disk/by-label/"); strings.Contains(got, "config-2") {
		t.Errorf("a config drive is attached: %s", got)
	}
	// The network's DNS server (DHCP gave it: the subnet names none)
	// knows the port's name in the network's domain.
	var v4 string
	for _, ip := range held[0].FixedIPs {
		if !strings.Contains(ip.IPAddress, ":") {
			v4 = ip.IPAddress
		}
	}
	name := "host-" + strings.ReplaceAll(v4, ".", "-") + ".openstacklocal"
	if got := run("getent hosts " + name); !strings.HasPrefix(got, v4+" ") {
		t.Errorf("getent hosts %s: %q", name, got)
	}

	// cloud-init configured the IPv6 address of the port by DHCPv6.
	var v6addr string
	for _, ip := range held[0].FixedIPs {
		if ip.SubnetID == v6.ID {
			v6addr = ip.IPAddress
		}
	}
	for end := time.Now().Add(60 * time.Second); ; time.Sleep(2 * time.Second) {
		got := run("ip -6 -o addr show scope global")
		if v6addr != "" && strings.Contains(got, v6addr+"/") {
			break
		}
		if time.Now().After(end) {
			t.Errorf("guest IPv6 addresses %q lack the port's %q", got, v6addr)
			break
		}
	}

	// The guest goes out through the router as its floating IP: the host's
	// address on the external network sees it so.
	ln, err := net.Listen("tcp", net.JoinHostPort(sn.GatewayIP, "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	from := make(chan string, 1)
	go func() {
		if conn, err := ln.Accept(); err == nil {
			from <- conn.RemoteAddr().(*net.TCPAddr).IP.String()
			conn.Close()
		}
	}()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	run("timeout 10 bash -c 'echo hello > /dev/tcp/" + sn.GatewayIP + "/" + port + "'")
	select {
	case got := <-from:
		if got != fip.FloatingIP {
			t.Errorf("the guest reached the outside as %s, want %s", got, fip.FloatingIP)
		}
	case <-time.After(10 * time.Second):
		t.Error("the outside saw no connection from the guest")
	}

	// Another project sees neither the server nor its floating IP.
	bc, bn := computeClient(t, beta, "2.47"), networkClient(t, beta)
	if _, err := servers.Get(ctx, bc, s.ID).Extract(); err == nil {
		t.Error("beta sees alpha's server")
	}
	if _, err := floatingips.Get(ctx, bn, fip.ID).Extract(); err == nil {
		t.Error("beta sees alpha's floating IP")
	}
}
