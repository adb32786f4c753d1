package compute_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/attachinterfaces"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/layer3/floatingips"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/security/rules"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/ports"

	"github.com/sovcloud/sov/internal/servertest"
)

// TestTenantNetworksOnTheWire boots real guests: two of alpha's on one
// network reach each other (the default group lets its members in); a
// guest of beta's on a network with the same CIDR, with the address of
// one of alpha's, does not reach the other; a guest that takes an address
// not its own reaches nobody; and guests without a config drive learn
// their own uuid and user data (the address of one of alpha's on beta's
// network is beta's guest to its metadata service) from the metadata
// service.
func TestTenantNetworksOnTheWire(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, nil)
	alpha := srv.Provider(t, srv.NewTenant(t, "alpha", ""))
	beta := srv.Provider(t, srv.NewTenant(t, "beta", ""))
	ac, bc := computeClient(t, alpha, "2.47"), computeClient(t, beta, "2.47")
	imageID := servertest.UploadTestGuest(t, alpha)
	betaImage := servertest.UploadTestGuest(t, beta)
	flavor := flavorID(t, ac, "SCS-1L-1")
	alphaNet := servertest.TenantNetwork(t, alpha, "alpha-net", "10.85.0.0/24")
	betaNet := servertest.TenantNetwork(t, beta, "beta-net", "10.85.0.0/24")

	// fetch asks addr's web server for a while and prints what it answered, or that nothing did.
	fetch := func(label, addr string, tries int) string {
		// busybox's wget crashes in the test guest; its nc speaks HTTP/1.0 well enough.
		return "ok=0; for i in $(seq " + strconv.Itoa(tries) + "); do printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 2 " + addr + " 80 > /tmp/o; " +
			"if grep -q '^HTTP/1.[01] 200' /tmp/o; then echo \"" + label + ": $(tail -n 1 /tmp/o)\"; ok=1; break; fi; sleep 1; done; [ $ok = 1 ] || echo \"" + label + ": nothing\"\n"
	}
	// Without a config drive a guest learns its uuid and user data from
	// the metadata service.
	boot := func(c *gophercloud.ServiceClient, name, image, network, ip string, configDrive bool, script string) string {
		s, err := servers.Create(ctx, c, servers.CreateOpts{Name: name, ImageRef: image, FlavorRef: flavor, ConfigDrive: &configDrive,
			Networks: []servers.Network{{UUID: network, FixedIP: ip}}, UserData: []byte("#!/bin/sh\n" + script)}, nil).Extract()
		wantStatus(t, "create "+name, err, 0)
		return s.ID
	}
	// alpha-1 reaches alpha-2, waits for alpha-2 to have reached it, then
	// takes an address not its own and tries again.
	one := boot(ac, "alpha-1", imageID, alphaNet, "10.85.0.10", true, fetch("peer", "10.85.0.11", 60)+"sleep 20\n"+
		"ip addr flush dev eth0; ip addr add 10.85.0.99/24 dev eth0\n"+fetch("spoofed", "10.85.0.11", 5))
	two := boot(ac, "alpha-2", imageID, alphaNet, "10.85.0.11", false, fetch("peer", "10.85.0.10", 60))
	intruder := boot(bc, "beta-1", betaImage, betaNet, "10.85.0.10", false, fetch("alpha-2", "10.85.0.11", 10))

	if out := waitConsole(t, ac, two, "peer: "); !strings.Contains(out, "peer: "+one) || !strings.Contains(out, "from the metadata service") || !strings.Contains(out, "instance uuid="+two) {
		t.Errorf("alpha-2 did not learn who it is from the metadata service or did not reach alpha-1:\n%s", out)
	}
	out := waitConsole(t, ac, one, "spoofed: ")
	if !strings.Contains(out, "peer: "+two) {
		t.Errorf("alpha-1 did not reach alpha-2 on their network:\n%s", out)
	}
	if !strings.Contains(out, "spoofed: nothing") {
		t.Errorf("alpha-1 reached alpha-2 from an address not its own:\n%s", out)
	}
	bout := waitConsole(t, bc, intruder, "alpha-2: ")
	if !strings.Contains(bout, "sov-guest: dhcp 10.85.0.10/24") || !strings.Contains(bout, "instance uuid="+intruder) {
		t.Errorf("beta's guest is not on its own network:\n%s", bout)
	}
	if !strings.Contains(bout, "alpha-2: nothing") || strings.Contains(bout, one) || strings.Contains(bout, two) {
		t.Errorf("beta's guest reached alpha's network:\n%s", bout)
	}
}

// TestFloatingIPOnTheWire boots a real guest behind a router to the
// cloud's external network: its floating IP answers the host once a rule
// lets port 80 in, and the guest reaches a server outside (on the host,
// at the external network's gateway) as its floating IP.
func TestFloatingIPOnTheWire(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, nil)
	alpha := srv.Provider(t, srv.NewTenant(t, "alpha", ""))
	c := computeClient(t, alpha, "2.47")
	nc := networkClient(t, alpha)
	imageID := servertest.UploadTestGuest(t, alpha)
	netID := servertest.TenantNetwork(t, alpha, "alpha-net", "10.86.0.0/24")
	public, sn, _ := servertest.RoutedToPublic(t, nc, netID)

	// A server outside, on the host's address on the external network.
	seen := make(chan string, 10)
	ln, err := net.Listen("tcp", net.JoinHostPort(sn.GatewayIP, "0"))
	if err != nil {
		t.Fatal(err)
	}
	outside := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		select {
		case seen <- host:
		default:
		}
		fmt.Fprintln(w, "outside")
	})}
	go outside.Serve(ln)
	t.Cleanup(func() { outside.Close() })
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	script := "for i in $(seq 120); do printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 2 " + sn.GatewayIP + " " + port +
		" | grep -q outside && echo 'outside: reached' && break; sleep 1; done\n"
	s, err := servers.Create(ctx, c, servers.CreateOpts{Name: "web", ImageRef: imageID, FlavorRef: flavorID(t, c, "SCS-1L-1"),
		Networks: []servers.Network{{UUID: netID}}, UserData: []byte("#!/bin/sh\n" + script)}, nil).Extract()
	wantStatus(t, "create", err, 0)
	waitStatus(t, c, s.ID, "ACTIVE")
	held := listPorts(t, nc, ports.ListOpts{DeviceID: s.ID})
	fip, err := floatingips.Create(ctx, nc, floatingips.CreateOpts{FloatingNetworkID: public.ID, PortID: held[0].ID}).Extract()
	wantStatus(t, "floating ip", err, 0)
	group := listGroups(t, nc, "default")[0]
	_, err = rules.Create(ctx, nc, rules.CreateOpts{SecGroupID: group.ID, Direction: rules.DirIngress, EtherType: rules.EtherType4,
		Protocol: rules.ProtocolTCP, PortRangeMin: 80, PortRangeMax: 80, RemoteIPPrefix: "0.0.0.0/0"}).Extract()
	wantStatus(t, "rule", err, 0)

	out := waitConsole(t, c, s.ID, "outside: reached")
	select {
	case from := <-seen:
		if from != fip.FloatingIP {
			t.Errorf("the guest reached the outside as %s, want its floating IP %s", from, fip.FloatingIP)
		}
	case <-time.After(10 * time.Second):
		t.Errorf("the outside server saw no request; console:\n%s", out)
	}
	var body []byte
	for end := time.Now().Add(60 * time.Second); time.Now().Before(end); time.Sleep(500 * time.Millisecond) {
		resp, err := (&http.Client{Timeout: 2 * time.Second}).Get("http://" + fip.FloatingIP + "/")
		if err == nil {
			body, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
			break
		}
	}
	if strings.TrimSpace(string(body)) != s.ID {
		t.Errorf("the floating IP %s answered %q, want the server's uuid", fip.FloatingIP, body)
	}
	if shown := waitStatus(t, c, s.ID, "ACTIVE"); !strings.Contains(fmt.Sprint(shown.Addresses), fip.FloatingIP) {
		t.Errorf("the server's addresses lack its floating IP: %v", shown.Addresses)
	}
}

// TestNICHotPlugOnTheWire plugs a port on a second network into a running
// guest, which sees the NIC appear and takes the port's address from that
// network's DHCP, then unplugs it: the guest lets go of the NIC.
func TestNICHotPlugOnTheWire(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, nil)
	alpha := srv.Provider(t, srv.NewTenant(t, "alpha", ""))
	c := computeClient(t, alpha, "2.47")
	imageID := servertest.UploadTestGuest(t, alpha)
	net1 := servertest.TenantNetwork(t, alpha, "net-one", "10.87.0.0/24")
	net2 := servertest.TenantNetwork(t, alpha, "net-two", "10.88.0.0/24")
	script := "for i in $(seq 180); do [ -e /sys/class/net/eth1 ] && break; sleep 1; done\n" +
		"ip link set eth1 up; udhcpc -i eth1 -s /bin/udhcpc.script -t 10 -T 1 -n -q >/dev/null 2>&1\n" +
		"echo \"eth1: $(ip -4 -o addr show eth1 | awk '{print $4}')\"\n" +
		"for i in $(seq 180); do [ -e /sys/class/net/eth1 ] || break; sleep 1; done; echo 'eth1: gone'\n"
	s, err := servers.Create(ctx, c, servers.CreateOpts{Name: "plug", ImageRef: imageID, FlavorRef: flavorID(t, c, "SCS-1L-1"),
		Networks: []servers.Network{{UUID: net1}}, UserData: []byte("#!/bin/sh\n" + script)}, nil).Extract()
	wantStatus(t, "create", err, 0)
	waitStatus(t, c, s.ID, "ACTIVE")
	waitConsole(t, c, s.ID, "running user_data")
	att, err := attachinterfaces.Create(ctx, c, s.ID, attachinterfaces.CreateOpts{NetworkID: net2}).Extract()
	wantStatus(t, "hot-plug", err, 0)
	out := waitConsole(t, c, s.ID, "eth1: ")
	if !strings.Contains(out, "eth1: "+att.FixedIPs[0].IPAddress+"/24") {
		t.Errorf("the guest's new NIC is not on its port's address %s:\n%s", att.FixedIPs[0].IPAddress, out)
	}
	wantStatus(t, "unplug", attachinterfaces.Delete(ctx, c, s.ID, att.PortID).ExtractErr(), 0)
	waitConsole(t, c, s.ID, "eth1: gone")
}
