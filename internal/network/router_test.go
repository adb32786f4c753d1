package network_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/external"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/layer3/floatingips"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/layer3/routers"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/networks"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/ports"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/subnets"

	netfake "github.com/sovcloud/sov/internal/network/fake"
	"github.com/sovcloud/sov/internal/servertest"
)

// TestRoutersFloatingIPs: a project's router joins its subnet to the
// external network; a floating IP goes to a port behind it; another
// project can use none of these, and the pieces in use cannot go.
func TestRoutersFloatingIPs(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, servertest.Fake)
	alpha, beta := srv.NewTenant(t, "alpha", ""), srv.NewTenant(t, "beta", "")
	admin := adminNetworkClient(t, srv)
	a, b := networkClient(t, srv.Provider(t, alpha)), networkClient(t, srv.Provider(t, beta))

	yes := true
	public, err := networks.Create(ctx, admin, external.CreateOptsExt{CreateOptsBuilder: networks.CreateOpts{Name: "public"}, External: &yes}).Extract()
	wantStatus(t, "external network", err, 0)
	no := false
	_, err = subnets.Create(ctx, admin, subnets.CreateOpts{NetworkID: public.ID, CIDR: "203.0.113.0/24", IPVersion: gophercloud.IPv4, EnableDHCP: &no}).Extract()
	wantStatus(t, "external subnet", err, 0)

	net := mustNetwork(t, a, "alpha-net")
	pg, _ := subnets.List(a, subnets.ListOpts{NetworkID: net.ID}).AllPages(ctx)
	sns, _ := subnets.ExtractSubnets(pg)
	sub := sns[0]

	_, err = routers.Create(ctx, a, routers.CreateOpts{Name: "r", GatewayInfo: &routers.GatewayInfo{NetworkID: public.ID, EnableSNAT: &no}}).Extract()
	wantStatus(t, "member turns SNAT off", err, http.StatusForbidden)
	r, err := routers.Create(ctx, a, routers.CreateOpts{Name: "alpha-router", GatewayInfo: &routers.GatewayInfo{NetworkID: public.ID}}).Extract()
	wantStatus(t, "router create", err, 0)
	gw := r.GatewayInfo
	if gw.NetworkID != public.ID || gw.EnableSNAT == nil || !*gw.EnableSNAT || len(gw.ExternalFixedIPs) != 1 || !strings.HasPrefix(gw.ExternalFixedIPs[0].IPAddress, "203.0.113.") {
		t.Fatalf("gateway: %+v", gw)
	}
	iface, err := routers.AddInterface(ctx, a, r.ID, routers.AddInterfaceOpts{SubnetID: sub.ID}).Extract()
	wantStatus(t, "add interface", err, 0)
	ip, err := ports.Get(ctx, a, iface.PortID).Extract()
	wantStatus(t, "interface port", err, 0)
	if ip.DeviceOwner != "network:router_interface" || ip.DeviceID != r.ID || ip.FixedIPs[0].IPAddress != "10.0.0.1" {
		t.Errorf("interface port: %+v", ip)
	}
	_, err = routers.AddInterface(ctx, a, r.ID, routers.AddInterfaceOpts{SubnetID: sub.ID}).Extract()
	wantStatus(t, "the same subnet twice", err, http.StatusBadRequest)

	vm, err := ports.Create(ctx, a, ports.CreateOpts{NetworkID: net.ID, Name: "vm"}).Extract()
	wantStatus(t, "vm port", err, 0)
	fip, err := floatingips.Create(ctx, a, floatingips.CreateOpts{FloatingNetworkID: public.ID, PortID: vm.ID}).Extract()
	wantStatus(t, "floating ip", err, 0)
	if fip.RouterID != r.ID || fip.FixedIP != vm.FixedIPs[0].IPAddress || fip.Status != "ACTIVE" || !strings.HasPrefix(fip.FloatingIP, "203.0.113.") {
		t.Fatalf("floating ip: %+v", fip)
	}
	// The data plane has the router: its gateway and default route, its
	// interface, SNAT and the floating IP.
	dp := srv.Network().Dataplane().(*netfake.Dataplane)
	st := dp.Router(r.ID)
	if st == nil || st.Gateway == nil || st.Gateway.Addrs[0].String() != gw.ExternalFixedIPs[0].IPAddress+"/24" || st.NextHop.String() != "203.0.113.1" ||
		!st.SNAT || len(st.Interfaces) != 1 || st.Interfaces[0].Addrs[0].String() != "10.0.0.1/24" ||
		len(st.Floating) != 1 || st.Floating[0].Address.String() != fip.FloatingIP || st.Floating[0].Fixed.String() != fip.FixedIP {
		t.Fatalf("the router on the data plane: %+v", st)
	}
	_, err = floatingips.Create(ctx, a, floatingips.CreateOpts{FloatingNetworkID: public.ID, PortID: vm.ID}).Extract()
	wantStatus(t, "a second floating ip on the same address", err, http.StatusConflict)
	_, err = floatingips.Create(ctx, a, floatingips.CreateOpts{FloatingNetworkID: net.ID}).Extract()
	wantStatus(t, "floating ip on a tenant network", err, http.StatusBadRequest)
	_, err = floatingips.Create(ctx, a, floatingips.CreateOpts{FloatingNetworkID: public.ID, FloatingIP: "203.0.113.99"}).Extract()
	wantStatus(t, "member picks the floating address", err, http.StatusForbidden)

	// Routes go via addresses on the router's subnets only.
	_, err = routers.Update(ctx, a, r.ID, routers.UpdateOpts{Routes: &[]routers.Route{{DestinationCIDR: "192.168.0.0/16", NextHop: "172.16.0.1"}}}).Extract()
	wantStatus(t, "route via nowhere", err, http.StatusBadRequest)
	withRoute, err := routers.Update(ctx, a, r.ID, routers.UpdateOpts{Routes: &[]routers.Route{{DestinationCIDR: "192.168.0.0/16", NextHop: "10.0.0.254"}}}).Extract()
	wantStatus(t, "route", err, 0)
	if len(withRoute.Routes) != 1 {
		t.Errorf("routes: %+v", withRoute.Routes)
	}

	// Beta can touch none of it; alpha cannot claim beta's router for its subnet.
	shared, err := networks.Create(ctx, admin, networks.CreateOpts{Name: "shared", Shared: &yes}).Extract()
	wantStatus(t, "shared network", err, 0)
	ssub, err := subnets.Create(ctx, admin, subnets.CreateOpts{NetworkID: shared.ID, CIDR: "192.168.50.0/24", IPVersion: gophercloud.IPv4}).Extract()
	wantStatus(t, "shared subnet", err, 0)
	_, err = routers.Get(ctx, b, r.ID).Extract()
	wantStatus(t, "beta shows alpha's router", err, http.StatusNotFound)
	_, err = routers.AddInterface(ctx, b, r.ID, routers.AddInterfaceOpts{SubnetID: sub.ID}).Extract()
	wantStatus(t, "beta adds an interface to alpha's router", err, http.StatusNotFound)
	br, err := routers.Create(ctx, b, routers.CreateOpts{Name: "beta-router", GatewayInfo: &routers.GatewayInfo{NetworkID: public.ID}}).Extract()
	wantStatus(t, "beta's router", err, 0)
	_, err = routers.AddInterface(ctx, b, br.ID, routers.AddInterfaceOpts{SubnetID: sub.ID}).Extract()
	wantStatus(t, "beta attaches alpha's subnet", err, http.StatusNotFound)
	_, err = routers.AddInterface(ctx, b, br.ID, routers.AddInterfaceOpts{PortID: vm.ID}).Extract()
	wantStatus(t, "beta attaches alpha's port", err, http.StatusNotFound)
	_, err = routers.AddInterface(ctx, b, br.ID, routers.AddInterfaceOpts{SubnetID: ssub.ID}).Extract()
	wantStatus(t, "beta takes the gateway of an admin's shared subnet", err, http.StatusForbidden)
	bport, err := ports.Create(ctx, b, ports.CreateOpts{NetworkID: shared.ID}).Extract()
	wantStatus(t, "beta's port on the shared network", err, 0)
	_, err = routers.AddInterface(ctx, b, br.ID, routers.AddInterfaceOpts{PortID: bport.ID}).Extract()
	wantStatus(t, "beta joins its router to the shared network by a port", err, http.StatusForbidden)
	_, err = ports.Create(ctx, a, ports.CreateOpts{NetworkID: net.ID, DeviceOwner: "network:router_interface", DeviceID: br.ID}).Extract()
	wantStatus(t, "alpha's port posing as an interface of beta's router", err, http.StatusForbidden)
	owner := ""
	_, err = ports.Update(ctx, a, iface.PortID, ports.UpdateOpts{DeviceOwner: &owner}).Extract()
	wantStatus(t, "alpha takes its interface port off its router", err, http.StatusForbidden)
	dev, iowner := br.ID, "network:router_interface"
	_, err = ports.Update(ctx, a, vm.ID, ports.UpdateOpts{DeviceOwner: &iowner, DeviceID: &dev}).Extract()
	wantStatus(t, "alpha turns its port into an interface of beta's router", err, http.StatusForbidden)
	wantStatus(t, "beta's router has no interface of alpha's", routers.Delete(ctx, b, br.ID).ExtractErr(), 0)
	bfip, err := floatingips.Create(ctx, b, floatingips.CreateOpts{FloatingNetworkID: public.ID}).Extract()
	wantStatus(t, "beta's floating ip", err, 0)
	_, err = floatingips.Update(ctx, b, bfip.ID, floatingips.UpdateOpts{PortID: &vm.ID}).Extract()
	wantStatus(t, "beta points its floating ip at alpha's port", err, http.StatusNotFound)
	_, err = floatingips.Get(ctx, b, fip.ID).Extract()
	wantStatus(t, "beta shows alpha's floating ip", err, http.StatusNotFound)
	wantStatus(t, "beta deletes alpha's floating ip", floatingips.Delete(ctx, b, fip.ID).ExtractErr(), http.StatusNotFound)

	// In use, then taken apart in order.
	wantStatus(t, "delete the interface port", ports.Delete(ctx, a, iface.PortID).ExtractErr(), http.StatusConflict)
	_, err = routers.RemoveInterface(ctx, a, r.ID, routers.RemoveInterfaceOpts{SubnetID: sub.ID}).Extract()
	wantStatus(t, "remove an interface a floating ip needs", err, http.StatusConflict)
	wantStatus(t, "delete a router with interfaces", routers.Delete(ctx, a, r.ID).ExtractErr(), http.StatusConflict)
	wantStatus(t, "delete the external network in use", networks.Delete(ctx, admin, public.ID).ExtractErr(), http.StatusConflict)
	// The port moves to another address: the floating IP lets go of the old one.
	moved, err := ports.Update(ctx, a, vm.ID, ports.UpdateOpts{FixedIPs: []ports.IP{{IPAddress: "10.0.0.77"}}}).Extract()
	wantStatus(t, "move the port's address", err, 0)
	un, err := floatingips.Get(ctx, a, fip.ID).Extract()
	wantStatus(t, "floating ip after the move", err, 0)
	if moved.FixedIPs[0].IPAddress != "10.0.0.77" || un.PortID != "" || un.RouterID != "" || un.Status != "DOWN" {
		t.Errorf("after the port's address moved: %+v", un)
	}
	if st := dp.Router(r.ID); st == nil || len(st.Floating) != 0 {
		t.Errorf("the router on the data plane keeps the floating IP: %+v", st)
	}
	_, err = routers.RemoveInterface(ctx, a, r.ID, routers.RemoveInterfaceOpts{SubnetID: sub.ID}).Extract()
	wantStatus(t, "remove interface", err, 0)
	wantStatus(t, "delete router", routers.Delete(ctx, a, r.ID).ExtractErr(), 0)
	if dp.Router(r.ID) != nil {
		t.Error("the deleted router is on the data plane")
	}
	wantStatus(t, "delete floating ip", floatingips.Delete(ctx, a, fip.ID).ExtractErr(), 0)
	all, _ := ports.List(admin, ports.ListOpts{NetworkID: public.ID}).AllPages(ctx)
	left, _ := ports.ExtractPorts(all)
	if len(left) != 1 { // beta's floating IP (its router went above)
		t.Errorf("ports left on the external network: %d", len(left))
	}
}

// TestExternalNetworkAtFirstStart: a new cloud has the external network
// "public" (flat on the external physical network, a subnet without DHCP
// whose first address is the host's), which every project sees and routes
// to; an admin may delete it, and a restart does not bring it back.
func TestExternalNetworkAtFirstStart(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, servertest.Fake)
	admin := adminNetworkClient(t, srv)
	a := networkClient(t, srv.Provider(t, srv.NewTenant(t, "alpha", "")))
	yes := true
	pg, err := networks.List(a, external.ListOptsExt{ListOptsBuilder: networks.ListOpts{Name: "public"}, External: &yes}).AllPages(ctx)
	wantStatus(t, "list", err, 0)
	var found []struct {
		ID      string   `json:"id"`
		Type    string   `json:"provider:network_type"`
		Subnets []string `json:"subnets"`
	}
	if err := networks.ExtractNetworksInto(pg, &found); err != nil || len(found) != 1 || len(found[0].Subnets) != 1 {
		t.Fatalf("the external network: %+v %v", found, err)
	}
	public := found[0].ID
	sn, err := subnets.Get(ctx, a, found[0].Subnets[0]).Extract()
	wantStatus(t, "its subnet", err, 0)
	if sn.EnableDHCP || !strings.HasPrefix(sn.CIDR, "10.20") || !strings.HasSuffix(sn.GatewayIP, ".1") {
		t.Errorf("the external subnet: %+v", sn)
	}
	if shown, _ := networks.Get(ctx, admin, public).Extract(); shown == nil || shown.ProjectID == "" {
		t.Errorf("the external network has no owner: %+v", shown)
	}
	r, err := routers.Create(ctx, a, routers.CreateOpts{Name: "r", GatewayInfo: &routers.GatewayInfo{NetworkID: public}}).Extract()
	wantStatus(t, "a member's router to it", err, 0)
	wantStatus(t, "delete it in use", networks.Delete(ctx, admin, public).ExtractErr(), http.StatusConflict)
	wantStatus(t, "the router goes", routers.Delete(ctx, a, r.ID).ExtractErr(), 0)
	wantStatus(t, "a member deletes it", networks.Delete(ctx, a, public).ExtractErr(), http.StatusForbidden)
	wantStatus(t, "the admin deletes it", networks.Delete(ctx, admin, public).ExtractErr(), 0)
	srv = srv.Restart(t)
	pg, _ = networks.List(adminNetworkClient(t, srv), networks.ListOpts{Name: "public"}).AllPages(ctx)
	if again, _ := networks.ExtractNetworks(pg); len(again) != 0 {
		t.Errorf("the deleted external network came back: %+v", again)
	}
}

// TestRouterAdvertisesIPv6: a router's interfaces on IPv6 subnets carry,
// to the data plane, the subnets whose ipv6_ra_mode is set (the router
// sends their advertisements) and no others; the network's state has
// the subnets' modes for DHCPv6. Another project cannot attach them.
func TestRouterAdvertisesIPv6(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, servertest.Fake)
	a := networkClient(t, srv.Provider(t, srv.NewTenant(t, "alpha", "")))
	b := networkClient(t, srv.Provider(t, srv.NewTenant(t, "beta", "")))
	net, err := networks.Create(ctx, a, networks.CreateOpts{Name: "v6"}).Extract()
	wantStatus(t, "network", err, 0)
	v6 := func(cidr, mode string) *subnets.Subnet {
		opts := subnets.CreateOpts{NetworkID: net.ID, CIDR: cidr, IPVersion: gophercloud.IPv6, IPv6AddressMode: mode, IPv6RAMode: mode}
		sn, err := subnets.Create(ctx, a, opts).Extract()
		wantStatus(t, "subnet "+cidr, err, 0)
		return sn
	}
	slaac, stateful, plain := v6("fd00:1::/64", "slaac"), v6("fd00:2::/64", "dhcpv6-stateful"), v6("fd00:3::/64", "")
	r, err := routers.Create(ctx, a, routers.CreateOpts{Name: "r6"}).Extract()
	wantStatus(t, "router", err, 0)
	for _, sn := range []*subnets.Subnet{slaac, stateful, plain} {
		_, err := routers.AddInterface(ctx, a, r.ID, routers.AddInterfaceOpts{SubnetID: sn.ID}).Extract()
		wantStatus(t, "interface "+sn.CIDR, err, 0)
		_, err = routers.AddInterface(ctx, b, r.ID, routers.AddInterfaceOpts{SubnetID: sn.ID}).Extract()
		wantStatus(t, "beta on alpha's router", err, http.StatusNotFound)
	}
	dp := srv.Network().Dataplane().(*netfake.Dataplane)
	var adverts []string
	for _, p := range dp.Router(r.ID).Interfaces {
		for _, sn := range p.Advertise {
			adverts = append(adverts, sn.CIDR.String()+" "+sn.RAMode)
		}
	}
	slices.Sort(adverts)
	if strings.Join(adverts, ",") != "fd00:1::/64 slaac,fd00:2::/64 dhcpv6-stateful" {
		t.Errorf("the router advertises %v", adverts)
	}
	var modes []string
	for _, sn := range dp.Network(net.ID).Subnets {
		modes = append(modes, sn.AddressMode)
	}
	slices.Sort(modes)
	if strings.Join(modes, ",") != ",dhcpv6-stateful,slaac" {
		t.Errorf("the network's subnets' address modes: %v", modes)
	}
}
