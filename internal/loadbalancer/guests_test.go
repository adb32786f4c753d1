package loadbalancer_test

import (
	"strings"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/security/groups"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/security/rules"

	"github.com/sovcloud/sov/internal/servertest"
)

// guest boots a test guest (which serves its uuid on port 80) on a
// network and returns its id.
func guest(t *testing.T, c *gophercloud.ServiceClient, image, flavor, network, name string) string {
	t.Helper()
	s, err := servers.Create(ctx, c, servers.CreateOpts{Name: name, ImageRef: image, FlavorRef: flavor,
		Networks: []servers.Network{{UUID: network}}}, nil).Extract()
	if err != nil {
		t.Fatal(err)
	}
	return s.ID
}

// waitGuest waits until a guest is ACTIVE and ready, and returns its address.
func waitGuest(t *testing.T, c *gophercloud.ServiceClient, id string) string {
	t.Helper()
	deadline := time.Now().Add(240 * time.Second)
	for {
		s, err := servers.Get(ctx, c, id).Extract()
		if err != nil {
			t.Fatal(err)
		}
		out, _ := servers.ShowConsoleOutput(ctx, c, id, servers.ShowConsoleOutputOpts{}).Extract()
		if s.Status == "ACTIVE" && strings.Contains(out, "sov-guest: ready") {
			for _, v := range s.Addresses {
				if l, ok := v.([]any); ok && len(l) > 0 {
					return l[0].(map[string]any)["addr"].(string)
				}
			}
			t.Fatalf("server %s has no address: %v", id, s.Addresses)
		}
		if time.Now().After(deadline) || s.Status == "ERROR" {
			t.Fatalf("server %s is %s; console:\n%s", id, s.Status, out)
		}
		time.Sleep(time.Second)
	}
}

// TestLoadBalancerGuests: two real guests behind a load balancer with a
// health monitor and a floating IP on its VIP; requests alternate between
// their uuids; a stopped guest turns its member ERROR and all traffic goes
// to the other; started again, it is back in the rotation.
func TestLoadBalancerGuests(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, nil)
	p := srv.Provider(t, srv.NewTenant(t, "lb-guests", "member"))
	c, nc := lbClient(t, p), netClient(t, p)
	cc, err := openstack.NewComputeV2(p, gophercloud.EndpointOpts{})
	if err != nil {
		t.Fatal(err)
	}
	image := servertest.UploadTestGuest(t, p)
	flavor := servertest.FlavorID(t, cc, "SCS-1L-1")
	netID := servertest.TenantNetwork(t, p, "web", "10.43.0.0/24")
	public, _, _ := servertest.RoutedToPublic(t, nc, netID)
	sn := subnetOf(t, nc, netID)
	gp, _ := groups.List(nc, groups.ListOpts{Name: "default"}).AllPages(ctx)
	gs, _ := groups.ExtractGroups(gp)
	if _, err := rules.Create(ctx, nc, rules.CreateOpts{SecGroupID: gs[0].ID, Direction: rules.DirIngress, EtherType: rules.EtherType4,
		Protocol: rules.ProtocolTCP, PortRangeMin: 80, PortRangeMax: 80, RemoteIPPrefix: sn.CIDR}).Extract(); err != nil {
		t.Fatal(err)
	}
	id1 := guest(t, cc, image, flavor, netID, "web1")
	id2 := guest(t, cc, image, flavor, netID, "web2")

	addr1, addr2 := waitGuest(t, cc, id1), waitGuest(t, cc, id2)
	w := newWeb(t, c, nc, sn, public.ID, steadyMonitor, 80, addr1, addr2)
	url := w.url
	status := func(id string) string { return w.status(t, c, map[string]string{id1: addr1, id2: addr2}[id]) }
	w.online(t, c)
	answers := func() map[string]int {
		seen := map[string]int{}
		for i := 0; i < 6; i++ {
			body, err := fetch(url)
			if err != nil {
				t.Fatalf("through the floating IP: %v", err)
			}
			seen[strings.TrimSpace(body)]++
		}
		return seen
	}
	if seen := answers(); seen[id1] != 3 || seen[id2] != 3 {
		t.Fatalf("answers %v, want three from each guest", seen)
	}

	if err := servers.Stop(ctx, cc, id2).ExtractErr(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the stopped guest's member ERROR", func() (bool, string) { s := status(id2); return s == "ERROR", s })
	if seen := answers(); seen[id1] != 6 {
		t.Fatalf("answers with web2 stopped: %v", seen)
	}
	if err := servers.Start(ctx, cc, id2).ExtractErr(); err != nil {
		t.Fatal(err)
	}
	waitGuest(t, cc, id2)
	waitFor(t, "the started guest's member ONLINE", func() (bool, string) { s := status(id2); return s == "ONLINE", s })
	if seen := answers(); seen[id1] != 3 || seen[id2] != 3 {
		t.Fatalf("answers after web2 started: %v", seen)
	}
}
