package compute_test

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/attachinterfaces"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/secgroups"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/security/groups"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/security/rules"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/networks"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/ports"

	"github.com/sovcloud/sov/internal/network/dataplane"
	netfake "github.com/sovcloud/sov/internal/network/fake"
	"github.com/sovcloud/sov/internal/servertest"
)

func networkClient(t *testing.T, p *gophercloud.ProviderClient) *gophercloud.ServiceClient {
	t.Helper()
	c, err := openstack.NewNetworkV2(p, gophercloud.EndpointOpts{})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func listPorts(t *testing.T, c *gophercloud.ServiceClient, opts ports.ListOpts) []ports.Port {
	t.Helper()
	pages, err := ports.List(c, opts).AllPages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	all, err := ports.ExtractPorts(pages)
	if err != nil {
		t.Fatal(err)
	}
	return all
}

// fixedAddrs are a server's fixed addresses on one network.
func fixedAddrs(s *servers.Server, network string) []string {
	var out []string
	list, _ := s.Addresses[network].([]any)
	for _, a := range list {
		m := a.(map[string]any)
		if m["OS-EXT-IPS:type"] == "fixed" {
			out = append(out, m["addr"].(string))
		}
	}
	return out
}

// TestServerPorts: servers are on Neutron ports — made on the networks a
// request names (or the project's only one), or given by the user — and
// those ports are on the data plane while the server holds them; a
// deleted server takes the ports made for it and leaves the given ones.
// Nobody boots on another project's network or port, or on an external
// network, and refused requests change nothing.
func TestServerPorts(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, servertest.Fake)
	alpha := srv.NewTenant(t, "alpha", "")
	p := srv.Provider(t, alpha)
	c := computeClient(t, p, "2.47")
	nc := networkClient(t, p)
	imageID := servertest.UploadTestGuest(t, p)
	flavor := flavorID(t, c, "SCS-1L-1")
	dp := srv.Network().Dataplane().(*netfake.Dataplane)

	// No network: a server without NICs (before 2.37); from 2.37 the
	// request must say, and "auto" needs a network.
	bare, err := servers.Create(ctx, computeClient(t, p, "2.1"), servers.CreateOpts{Name: "bare", ImageRef: imageID, FlavorRef: flavor}, nil).Extract()
	wantStatus(t, "create without networks", err, 0)
	if s := waitStatus(t, c, bare.ID, "ACTIVE"); len(s.Addresses) != 0 {
		t.Errorf("a server without networks has addresses %v", s.Addresses)
	}
	_, err = servers.Create(ctx, c, servers.CreateOpts{Name: "x", ImageRef: imageID, FlavorRef: flavor}, nil).Extract()
	wantStatus(t, "2.47 without networks", err, http.StatusBadRequest)
	_, err = servers.Create(ctx, c, servers.CreateOpts{Name: "x", ImageRef: imageID, FlavorRef: flavor, Networks: "auto"}, nil).Extract()
	wantStatus(t, "auto without a network", err, http.StatusBadRequest)

	// The only network is the default; with two, the request must name one.
	net1 := servertest.TenantNetwork(t, p, "net-one", "10.90.0.0/24")
	auto, err := servers.Create(ctx, c, servers.CreateOpts{Name: "auto", ImageRef: imageID, FlavorRef: flavor, Networks: "auto"}, nil).Extract()
	wantStatus(t, "auto", err, 0)
	if s := waitStatus(t, c, auto.ID, "ACTIVE"); len(fixedAddrs(s, "net-one")) != 1 {
		t.Errorf("auto's addresses = %v", s.Addresses)
	}
	net2 := servertest.TenantNetwork(t, p, "net-two", "10.91.0.0/24")
	_, err = servers.Create(ctx, computeClient(t, p, "2.1"), servers.CreateOpts{Name: "x", ImageRef: imageID, FlavorRef: flavor}, nil).Extract()
	wantStatus(t, "two networks, none named", err, http.StatusConflict)

	// A new port with a chosen address, and a port of the user's.
	given, err := ports.Create(ctx, nc, ports.CreateOpts{NetworkID: net2, Name: "mine"}).Extract()
	wantStatus(t, "port create", err, 0)
	vm, err := servers.Create(ctx, c, servers.CreateOpts{Name: "vm", ImageRef: imageID, FlavorRef: flavor,
		Networks: []servers.Network{{UUID: net1, FixedIP: "10.90.0.50"}, {Port: given.ID}}}, nil).Extract()
	wantStatus(t, "create on a network and a port", err, 0)
	s := waitStatus(t, c, vm.ID, "ACTIVE")
	if got := fixedAddrs(s, "net-one"); !slices.Equal(got, []string{"10.90.0.50"}) {
		t.Errorf("addresses on net-one = %v", s.Addresses)
	}
	if got := fixedAddrs(s, "net-two"); !slices.Equal(got, []string{given.FixedIPs[0].IPAddress}) {
		t.Errorf("addresses on net-two = %v, the port has %v", s.Addresses, given.FixedIPs)
	}
	if len(s.SecurityGroups) != 1 || s.SecurityGroups[0]["name"] != "default" {
		t.Errorf("security groups = %v", s.SecurityGroups)
	}
	held := listPorts(t, nc, ports.ListOpts{DeviceID: vm.ID})
	if len(held) != 2 {
		t.Fatalf("ports of vm = %+v", held)
	}
	var made ports.Port
	for _, pt := range held {
		if pt.DeviceOwner != "compute:nova" || pt.Status != "ACTIVE" {
			t.Errorf("port %s: owner %q status %q", pt.ID, pt.DeviceOwner, pt.Status)
		}
		if pt.ID != given.ID {
			made = pt
		}
	}
	// Each port's tap is on its network in the data plane.
	for _, want := range []struct{ network, port string }{{net1, made.ID}, {net2, given.ID}} {
		st := dp.Network(want.network)
		if st == nil || !slices.ContainsFunc(st.Ports, func(pt dataplane.Port) bool {
			return pt.ID == want.port && pt.Device == "tap"+want.port[:11]
		}) {
			t.Errorf("the data plane of %s lacks port %s: %+v", want.network, want.port, st)
		}
	}
	// The ports are secured with the rules of the project's default group
	// (the SCS defaults: ingress from the group's members, egress to all),
	// and the group's members are the addresses of every port in it.
	var filtered dataplane.Port
	for _, pt := range dp.Network(net1).Ports {
		if pt.ID == made.ID {
			filtered = pt
		}
	}
	st := dp.Network(net1)
	if !filtered.Secured || len(filtered.Rules) != 4 {
		t.Fatalf("the data plane's port = %+v", filtered)
	}
	var defaultGroup string
	for _, r := range filtered.Rules {
		if r.Ingress && r.RemoteGroup != "" {
			defaultGroup = r.RemoteGroup
		}
	}
	members := fmt.Sprint(st.Groups[defaultGroup])
	if defaultGroup == "" || !strings.Contains(members, "10.90.0.50/32") || !strings.Contains(members, given.FixedIPs[0].IPAddress+"/32") {
		t.Errorf("the default group's members = %v (rules %+v)", st.Groups, filtered.Rules)
	}
	// A rule added to the group reaches the port; deleted, it goes.
	ssh, err := rules.Create(ctx, nc, rules.CreateOpts{SecGroupID: defaultGroup, Direction: rules.DirIngress, EtherType: rules.EtherType4,
		Protocol: rules.ProtocolTCP, PortRangeMin: 22, PortRangeMax: 22, RemoteIPPrefix: "192.0.2.0/24"}).Extract()
	wantStatus(t, "rule create", err, 0)
	hasSSH := func() bool {
		for _, pt := range dp.Network(net1).Ports {
			for _, r := range pt.Rules {
				if pt.ID == made.ID && r.PortMin == 22 && r.Remote.String() == "192.0.2.0/24" {
					return true
				}
			}
		}
		return false
	}
	if !hasSSH() {
		t.Error("the new rule is not on the port")
	}
	wantStatus(t, "rule delete", rules.Delete(ctx, nc, ssh.ID).ExtractErr(), 0)
	if hasSSH() {
		t.Error("the deleted rule is still on the port")
	}

	// A group added to the server is on each of its ports; removed, it goes.
	web, err := groups.Create(ctx, nc, groups.CreateOpts{Name: "web"}).Extract()
	wantStatus(t, "group create", err, 0)
	wantStatus(t, "add group", secgroups.AddServer(ctx, c, vm.ID, "web").ExtractErr(), 0)
	for _, pt := range listPorts(t, nc, ports.ListOpts{DeviceID: vm.ID}) {
		if !slices.Contains(pt.SecurityGroups, web.ID) {
			t.Errorf("port %s after addSecurityGroup has %v", pt.ID, pt.SecurityGroups)
		}
	}
	if s := waitStatus(t, c, vm.ID, "ACTIVE"); len(s.SecurityGroups) != 2 {
		t.Errorf("security groups after the add = %v", s.SecurityGroups)
	}
	wantStatus(t, "add an unknown group", secgroups.AddServer(ctx, c, vm.ID, "nope").ExtractErr(), http.StatusNotFound)
	wantStatus(t, "remove group", secgroups.RemoveServer(ctx, c, vm.ID, "web").ExtractErr(), 0)
	wantStatus(t, "remove it again", secgroups.RemoveServer(ctx, c, vm.ID, "web").ExtractErr(), http.StatusNotFound)
	if s := waitStatus(t, c, vm.ID, "ACTIVE"); len(s.SecurityGroups) != 1 {
		t.Errorf("security groups after the removal = %v", s.SecurityGroups)
	}
	// Groups named at create are those of the ports made for the server.
	withWeb, err := servers.Create(ctx, c, servers.CreateOpts{Name: "with-web", ImageRef: imageID, FlavorRef: flavor,
		SecurityGroups: []string{"web"}, Networks: []servers.Network{{UUID: net1}}}, nil).Extract()
	wantStatus(t, "create with a group", err, 0)
	if ps := listPorts(t, nc, ports.ListOpts{DeviceID: withWeb.ID}); len(ps) != 1 || !slices.Equal(ps[0].SecurityGroups, []string{web.ID}) {
		t.Errorf("the port of a server created with group web: %+v", ps)
	}

	// A port in use, an address taken, an address outside the network:
	// refused, and nothing is made.
	before := len(listPorts(t, nc, ports.ListOpts{}))
	for _, tc := range []struct {
		name   string
		nets   []servers.Network
		status int
	}{
		{"port in use", []servers.Network{{Port: given.ID}}, http.StatusConflict},
		{"address taken", []servers.Network{{UUID: net1, FixedIP: "10.90.0.50"}}, http.StatusConflict},
		{"address outside", []servers.Network{{UUID: net1, FixedIP: "10.99.0.5"}}, http.StatusBadRequest},
		{"bad address", []servers.Network{{UUID: net1, FixedIP: "10.90.0.x"}}, http.StatusBadRequest},
		{"unknown network", []servers.Network{{UUID: "00000000-0000-0000-0000-000000000000"}}, http.StatusBadRequest},
		{"second fails", []servers.Network{{UUID: net2}, {UUID: "00000000-0000-0000-0000-000000000000"}}, http.StatusBadRequest},
	} {
		_, err := servers.Create(ctx, c, servers.CreateOpts{Name: "refused", ImageRef: imageID, FlavorRef: flavor, Networks: tc.nets}, nil).Extract()
		wantStatus(t, tc.name, err, tc.status)
	}
	_, err = servers.Create(ctx, c, servers.CreateOpts{Name: "refused", ImageRef: imageID, FlavorRef: flavor,
		SecurityGroups: []string{"nope"}, Networks: []servers.Network{{UUID: net1}}}, nil).Extract()
	wantStatus(t, "an unknown group", err, http.StatusBadRequest)
	if after := len(listPorts(t, nc, ports.ListOpts{})); after != before {
		t.Errorf("refused creates left ports: %d before, %d after", before, after)
	}
	pages, _ := servers.List(c, nil).AllPages(ctx)
	if all, _ := servers.ExtractServers(pages); len(all) != 4 {
		t.Errorf("servers after refused creates = %d, want 4", len(all))
	}

	// Another project boots on none of alpha's networks or ports.
	beta := srv.Provider(t, srv.NewTenant(t, "beta", ""))
	bc := computeClient(t, beta, "2.47")
	free, _ := ports.Create(ctx, nc, ports.CreateOpts{NetworkID: net1, Name: "free"}).Extract()
	wantStatus(t, "beta adds a group to alpha's server", secgroups.AddServer(ctx, bc, vm.ID, "default").ExtractErr(), http.StatusNotFound)
	for name, nets := range map[string][]servers.Network{"alpha's network": {{UUID: net1}}, "alpha's port": {{Port: free.ID}}} {
		_, err := servers.Create(ctx, bc, servers.CreateOpts{Name: "intruder", ImageRef: imageID, FlavorRef: flavor, Networks: nets}, nil).Extract()
		if err == nil {
			t.Errorf("beta boots on %s", name)
		}
	}
	if pt, _ := ports.Get(ctx, nc, free.ID).Extract(); pt.DeviceID != "" {
		t.Errorf("beta's attempt bound alpha's port to %s", pt.DeviceID)
	}
	// An external network is for admins to boot on.
	admin := srv.Admin(t).ProviderClient
	ext := servertest.TenantNetwork(t, admin, "ext", "10.92.0.0/24")
	yes := true
	if _, err := networks.Update(ctx, networkClient(t, admin), ext, networks.UpdateOpts{Shared: new(bool)}).Extract(); err != nil {
		t.Fatal(err)
	}
	if _, err := networks.Update(ctx, networkClient(t, admin), ext, externalOpts{yes}).Extract(); err != nil {
		t.Fatal(err)
	}
	_, err = servers.Create(ctx, c, servers.CreateOpts{Name: "x", ImageRef: imageID, FlavorRef: flavor, Networks: []servers.Network{{UUID: ext}}}, nil).Extract()
	if err == nil {
		t.Error("a member boots on an external network")
	}
	// A network with a server's port is in use.
	wantStatus(t, "delete net-one", networks.Delete(ctx, nc, net1).ExtractErr(), http.StatusConflict)

	// The delete takes the made port and unbinds the given one.
	deleteAndWait(t, srv, c, vm.ID)
	if _, err := ports.Get(ctx, nc, made.ID).Extract(); err == nil {
		t.Error("the port made for the server outlived it")
	}
	pt, err := ports.Get(ctx, nc, given.ID).Extract()
	if err != nil || pt.DeviceID != "" || pt.DeviceOwner != "" || pt.Status != "DOWN" {
		t.Errorf("the given port after the delete = %+v, %v", pt, err)
	}
	if st := dp.Network(net2); st == nil || len(st.Ports) != 0 {
		t.Errorf("the data plane of net-two still has ports: %+v", st)
	}
	// The given port boots another server.
	again, err := servers.Create(ctx, c, servers.CreateOpts{Name: "again", ImageRef: imageID, FlavorRef: flavor, Networks: []servers.Network{{Port: given.ID}}}, nil).Extract()
	wantStatus(t, "boot on the released port", err, 0)
	waitStatus(t, c, again.ID, "ACTIVE")
}

// externalOpts sets router:external on a network.
type externalOpts struct{ External bool }

func (o externalOpts) ToNetworkUpdateMap() (map[string]any, error) {
	return map[string]any{"network": map[string]any{"router:external": o.External}}, nil
}

// TestServerInterfaces: os-interface lists a server's ports, attaches a
// new port on a network (or the caller's own port) to a running or a
// stopped server and detaches it again (a port compute made goes, a given
// one stays); other projects and readers change nothing, and a running
// server takes at most four plugged-in NICs.
func TestServerInterfaces(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, servertest.Fake)
	alpha := srv.NewTenant(t, "alpha", "")
	p := srv.Provider(t, alpha)
	c := computeClient(t, p, "2.47")
	nc := networkClient(t, p)
	imageID := servertest.UploadTestGuest(t, p)
	net1 := servertest.TenantNetwork(t, p, "net-one", "10.95.0.0/24")
	net2 := servertest.TenantNetwork(t, p, "net-two", "10.96.0.0/24")
	vm, err := servers.Create(ctx, c, servers.CreateOpts{Name: "vm", ImageRef: imageID, FlavorRef: flavorID(t, c, "SCS-1L-1"),
		Networks: []servers.Network{{UUID: net1}}}, nil).Extract()
	wantStatus(t, "create", err, 0)
	waitStatus(t, c, vm.ID, "ACTIVE")
	list := func() []attachinterfaces.Interface {
		t.Helper()
		pages, err := attachinterfaces.List(c, vm.ID).AllPages(ctx)
		wantStatus(t, "list interfaces", err, 0)
		all, _ := attachinterfaces.ExtractInterfaces(pages)
		return all
	}
	if l := list(); len(l) != 1 || l[0].NetID != net1 || len(l[0].FixedIPs) != 1 || l[0].PortState != "ACTIVE" {
		t.Fatalf("interfaces = %+v", l)
	}
	// A new port on net-two with a chosen address, while the server runs.
	att, err := attachinterfaces.Create(ctx, c, vm.ID, attachinterfaces.CreateOpts{NetworkID: net2, FixedIPs: []attachinterfaces.FixedIP{{IPAddress: "10.96.0.44"}}}).Extract()
	wantStatus(t, "attach a network", err, 0)
	if att.NetID != net2 || att.FixedIPs[0].IPAddress != "10.96.0.44" || att.PortState != "ACTIVE" {
		t.Errorf("attached = %+v", att)
	}
	if s := waitStatus(t, c, vm.ID, "ACTIVE"); len(fixedAddrs(s, "net-two")) != 1 {
		t.Errorf("addresses after the attach = %v", s.Addresses)
	}
	// The caller's own port, on a stopped server; the same port again is in use.
	mine, err := ports.Create(ctx, nc, ports.CreateOpts{NetworkID: net1, Name: "mine"}).Extract()
	wantStatus(t, "port create", err, 0)
	wantStatus(t, "stop", servers.Stop(ctx, c, vm.ID).ExtractErr(), 0)
	waitStatus(t, c, vm.ID, "SHUTOFF")
	_, err = attachinterfaces.Create(ctx, c, vm.ID, attachinterfaces.CreateOpts{PortID: mine.ID}).Extract()
	wantStatus(t, "attach a port to the stopped server", err, 0)
	_, err = attachinterfaces.Create(ctx, c, vm.ID, attachinterfaces.CreateOpts{PortID: mine.ID}).Extract()
	wantStatus(t, "attach it again", err, http.StatusConflict)
	if l := list(); len(l) != 3 {
		t.Errorf("interfaces after two attaches = %+v", l)
	}
	wantStatus(t, "start", servers.Start(ctx, c, vm.ID).ExtractErr(), 0)
	waitStatus(t, c, vm.ID, "ACTIVE")

	// Others change nothing.
	beta := srv.Provider(t, srv.NewTenant(t, "beta", ""))
	bc := computeClient(t, beta, "2.47")
	_, err = attachinterfaces.Create(ctx, bc, vm.ID, attachinterfaces.CreateOpts{NetworkID: net1}).Extract()
	wantStatus(t, "beta attaches to alpha's server", err, http.StatusNotFound)
	wantStatus(t, "beta detaches from alpha's server", attachinterfaces.Delete(ctx, bc, vm.ID, mine.ID).ExtractErr(), http.StatusNotFound)
	betaNet := servertest.TenantNetwork(t, beta, "beta-net", "10.97.0.0/24")
	_, err = attachinterfaces.Create(ctx, c, vm.ID, attachinterfaces.CreateOpts{NetworkID: betaNet}).Extract()
	wantStatus(t, "alpha attaches beta's network", err, http.StatusBadRequest)
	reader := computeClient(t, srv.Provider(t, srv.NewTenantUser(t, "alpha", "reader")), "2.47")
	_, err = attachinterfaces.Create(ctx, reader, vm.ID, attachinterfaces.CreateOpts{NetworkID: net1}).Extract()
	wantStatus(t, "a reader attaches", err, http.StatusForbidden)
	if l := list(); len(l) != 3 {
		t.Errorf("interfaces after refused attaches = %d", len(l))
	}

	// Detach: the port compute made goes, the given one is unbound.
	wantStatus(t, "detach the made port", attachinterfaces.Delete(ctx, c, vm.ID, att.PortID).ExtractErr(), 0)
	if _, err := ports.Get(ctx, nc, att.PortID).Extract(); err == nil {
		t.Error("the detached port compute made is still there")
	}
	wantStatus(t, "detach it again", attachinterfaces.Delete(ctx, c, vm.ID, att.PortID).ExtractErr(), http.StatusNotFound)
	wantStatus(t, "detach the given port", attachinterfaces.Delete(ctx, c, vm.ID, mine.ID).ExtractErr(), 0)
	if pt, err := ports.Get(ctx, nc, mine.ID).Extract(); err != nil || pt.DeviceID != "" {
		t.Errorf("the detached given port = %+v, %v", pt, err)
	}
	if l := list(); len(l) != 1 {
		t.Errorf("interfaces after the detaches = %+v", l)
	}
	// At most four NICs plugged into a running server; the fifth leaves no port.
	for i := range 4 {
		_, err := attachinterfaces.Create(ctx, c, vm.ID, attachinterfaces.CreateOpts{NetworkID: net2}).Extract()
		wantStatus(t, fmt.Sprint("plug ", i), err, 0)
	}
	before := len(listPorts(t, nc, ports.ListOpts{}))
	_, err = attachinterfaces.Create(ctx, c, vm.ID, attachinterfaces.CreateOpts{NetworkID: net2}).Extract()
	wantStatus(t, "a fifth plug", err, http.StatusConflict)
	if after := len(listPorts(t, nc, ports.ListOpts{})); after != before {
		t.Errorf("the refused plug left a port: %d before, %d after", before, after)
	}
}
