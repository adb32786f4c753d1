package compute_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"

	"github.com/sovcloud/sov/internal/servertest"
)

// TestTenantNetworksOnTheWire boots real guests: two of alpha's on one
// network reach each other (the default group lets its members in); a
// guest of beta's on a network with the same CIDR, with the address of
// one of alpha's, does not reach the other; and a guest that takes an
// address not its own reaches nobody.
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
	boot := func(c *gophercloud.ServiceClient, name, image, network, ip, script string) string {
		s, err := servers.Create(ctx, c, servers.CreateOpts{Name: name, ImageRef: image, FlavorRef: flavor,
			Networks: []servers.Network{{UUID: network, FixedIP: ip}}, UserData: []byte("#!/bin/sh\n" + script)}, nil).Extract()
		wantStatus(t, "create "+name, err, 0)
		return s.ID
	}
	// alpha-1 reaches alpha-2, waits for alpha-2 to have reached it, then
	// takes an address not its own and tries again.
	one := boot(ac, "alpha-1", imageID, alphaNet, "10.85.0.10", fetch("peer", "10.85.0.11", 60)+"sleep 20\n"+
		"ip addr flush dev eth0; ip addr add 10.85.0.99/24 dev eth0\n"+fetch("spoofed", "10.85.0.11", 5))
	two := boot(ac, "alpha-2", imageID, alphaNet, "10.85.0.11", fetch("peer", "10.85.0.10", 60))
	intruder := boot(bc, "beta-1", betaImage, betaNet, "10.85.0.10", fetch("alpha-2", "10.85.0.11", 10))

	if out := waitConsole(t, ac, two, "peer: "); !strings.Contains(out, "peer: "+one) {
		t.Errorf("alpha-2 did not reach alpha-1 on their network:\n%s", out)
	}
	out := waitConsole(t, ac, one, "spoofed: ")
	if !strings.Contains(out, "peer: "+two) {
		t.Errorf("alpha-1 did not reach alpha-2 on their network:\n%s", out)
	}
	if !strings.Contains(out, "spoofed: nothing") {
		t.Errorf("alpha-1 reached alpha-2 from an address not its own:\n%s", out)
	}
	bout := waitConsole(t, bc, intruder, "alpha-2: ")
	if !strings.Contains(bout, "sov-guest: dhcp 10.85.0.10/24") {
		t.Errorf("beta's guest is not on its own network:\n%s", bout)
	}
	if !strings.Contains(bout, "alpha-2: nothing") || strings.Contains(bout, one) || strings.Contains(bout, two) {
		t.Errorf("beta's guest reached alpha's network:\n%s", bout)
	}
}
