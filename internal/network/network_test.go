package network_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/attributestags"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/external"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/portsecurity"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/quotas"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/rbacpolicies"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/security/groups"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/security/rules"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/networks"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/ports"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/subnets"
	"github.com/gophercloud/gophercloud/v2/pagination"

	"github.com/sovcloud/sov/internal/network/fake"
	"github.com/sovcloud/sov/internal/servertest"
)

var ctx = context.Background()

var wantStatus = servertest.WantStatus

func networkClient(t *testing.T, p *gophercloud.ProviderClient) *gophercloud.ServiceClient {
	t.Helper()
	c, err := openstack.NewNetworkV2(p, gophercloud.EndpointOpts{})
	if err != nil {
		t.Fatalf("network endpoint from the catalog: %v", err)
	}
	return c
}

func adminNetworkClient(t *testing.T, srv *servertest.Server) *gophercloud.ServiceClient {
	return networkClient(t, srv.Admin(t).ProviderClient)
}

// TestNetworkSubnetPort: a project builds a network, a subnet and ports
// with gophercloud; addresses come from the pools, the DHCP port holds
// one, the default security group is on the port; another project can
// neither see nor touch any of it.
func TestNetworkSubnetPort(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, servertest.Fake)
	alpha, beta := srv.NewTenant(t, "alpha", ""), srv.NewTenant(t, "beta", "")
	a, b := networkClient(t, srv.Provider(t, alpha)), networkClient(t, srv.Provider(t, beta))

	up := true
	net, err := networks.Create(ctx, a, networks.CreateOpts{Name: "alpha-net", AdminStateUp: &up}).Extract()
	wantStatus(t, "network create", err, 0)
	if net.Status != "ACTIVE" || net.ProjectID != alpha.ProjectID || net.Shared {
		t.Fatalf("network: %+v", net)
	}
	sn, err := subnets.Create(ctx, a, subnets.CreateOpts{NetworkID: net.ID, CIDR: "10.0.0.0/24", IPVersion: gophercloud.IPv4, Name: "alpha-sub",
		DNSNameservers: []string{"192.0.2.53"}}).Extract()
	wantStatus(t, "subnet create", err, 0)
	if sn.GatewayIP != "10.0.0.1" || len(sn.AllocationPools) != 1 || sn.AllocationPools[0].Start != "10.0.0.2" || sn.AllocationPools[0].End != "10.0.0.254" {
		t.Fatalf("subnet: gateway %s, pools %+v", sn.GatewayIP, sn.AllocationPools)
	}
	p, err := ports.Create(ctx, a, ports.CreateOpts{NetworkID: net.ID, Name: "alpha-port"}).Extract()
	wantStatus(t, "port create", err, 0)
	if len(p.FixedIPs) != 1 || p.FixedIPs[0].IPAddress != "10.0.0.3" || p.FixedIPs[0].SubnetID != sn.ID || !strings.HasPrefix(p.MACAddress, "fa:16:3e:") {
		t.Fatalf("port: %+v", p)
	}
	if len(p.SecurityGroups) != 1 {
		t.Fatalf("port groups: %v", p.SecurityGroups)
	}
	def, err := groups.Get(ctx, a, p.SecurityGroups[0]).Extract()
	wantStatus(t, "default group", err, 0)
	if def.Name != "default" || len(def.Rules) != 4 {
		t.Fatalf("default group: %s with %d rules", def.Name, len(def.Rules))
	}
	ingressFromSelf := 0
	for _, r := range def.Rules {
		switch r.Direction {
		case "ingress":
			if r.RemoteGroupID != def.ID || r.RemoteIPPrefix != "" {
				t.Errorf("ingress rule not limited to the group: %+v", r)
			}
			ingressFromSelf++
		case "egress":
			if r.RemoteIPPrefix != "" || r.RemoteGroupID != "" {
				t.Errorf("egress rule: %+v", r)
			}
		}
	}
	if ingressFromSelf != 2 {
		t.Errorf("%d ingress rules from the group itself, want 2", ingressFromSelf)
	}
	// The DHCP port holds .2; the fixed address asked for is given.
	all, err := ports.List(a, ports.ListOpts{NetworkID: net.ID, DeviceOwner: "network:dhcp"}).AllPages(ctx)
	wantStatus(t, "dhcp port list", err, 0)
	dhcp, _ := ports.ExtractPorts(all)
	if len(dhcp) != 1 || dhcp[0].FixedIPs[0].IPAddress != "10.0.0.2" {
		t.Fatalf("dhcp ports: %+v", dhcp)
	}
	fixed, err := ports.Create(ctx, a, ports.CreateOpts{NetworkID: net.ID, FixedIPs: []ports.IP{{IPAddress: "10.0.0.50"}}}).Extract()
	wantStatus(t, "port with a fixed address", err, 0)
	if fixed.FixedIPs[0].IPAddress != "10.0.0.50" || fixed.FixedIPs[0].SubnetID != sn.ID {
		t.Fatalf("fixed port: %+v", fixed.FixedIPs)
	}
	all, err = ports.List(a, ports.ListOpts{FixedIPs: []ports.FixedIPOpts{{IPAddress: "10.0.0.50"}}}).AllPages(ctx)
	wantStatus(t, "list by address", err, 0)
	if got, _ := ports.ExtractPorts(all); len(got) != 1 || got[0].ID != fixed.ID {
		t.Errorf("ports by address: %+v", got)
	}

	// Another project sees none of it and can touch none of it.
	_, err = networks.Get(ctx, b, net.ID).Extract()
	wantStatus(t, "beta shows alpha's network", err, http.StatusNotFound)
	_, err = subnets.Get(ctx, b, sn.ID).Extract()
	wantStatus(t, "beta shows alpha's subnet", err, http.StatusNotFound)
	_, err = ports.Get(ctx, b, p.ID).Extract()
	wantStatus(t, "beta shows alpha's port", err, http.StatusNotFound)
	_, err = groups.Get(ctx, b, def.ID).Extract()
	wantStatus(t, "beta shows alpha's group", err, http.StatusNotFound)
	_, err = ports.Create(ctx, b, ports.CreateOpts{NetworkID: net.ID}).Extract()
	wantStatus(t, "beta's port on alpha's network", err, http.StatusNotFound)
	_, err = subnets.Create(ctx, b, subnets.CreateOpts{NetworkID: net.ID, CIDR: "10.9.0.0/24", IPVersion: gophercloud.IPv4}).Extract()
	wantStatus(t, "beta's subnet on alpha's network", err, http.StatusNotFound)
	name := "taken"
	_, err = networks.Update(ctx, b, net.ID, networks.UpdateOpts{Name: &name}).Extract()
	wantStatus(t, "beta renames alpha's network", err, http.StatusNotFound)
	wantStatus(t, "beta deletes alpha's port", ports.Delete(ctx, b, p.ID).ExtractErr(), http.StatusNotFound)
	wantStatus(t, "beta deletes alpha's network", networks.Delete(ctx, b, net.ID).ExtractErr(), http.StatusNotFound)
	_, err = rules.Create(ctx, b, rules.CreateOpts{SecGroupID: def.ID, Direction: rules.DirIngress, EtherType: rules.EtherType4}).Extract()
	wantStatus(t, "beta adds a rule to alpha's group", err, http.StatusNotFound)
	_, err = ports.Create(ctx, b, ports.CreateOpts{NetworkID: mustNetwork(t, b, "beta-net").ID, SecurityGroups: &[]string{def.ID}}).Extract()
	wantStatus(t, "beta's port in alpha's group", err, http.StatusNotFound)
	for _, list := range []func() (int, error){
		func() (int, error) {
			n, err := listNetworks(b, networks.ListOpts{})
			return countOther(n, alpha.ProjectID), err
		},
		func() (int, error) {
			pg, err := ports.List(b, ports.ListOpts{}).AllPages(ctx)
			ps, _ := ports.ExtractPorts(pg)
			n := 0
			for _, p := range ps {
				if p.ProjectID == alpha.ProjectID {
					n++
				}
			}
			return n, err
		},
	} {
		if n, err := list(); err != nil || n != 0 {
			t.Errorf("beta's lists show %d of alpha's resources (%v)", n, err)
		}
	}

	// Deleting in order: a network with ports is in use, then goes.
	wantStatus(t, "delete network with ports", networks.Delete(ctx, a, net.ID).ExtractErr(), http.StatusConflict)
	wantStatus(t, "delete subnet in use", subnets.Delete(ctx, a, sn.ID).ExtractErr(), http.StatusConflict)
	wantStatus(t, "delete port", ports.Delete(ctx, a, p.ID).ExtractErr(), 0)
	wantStatus(t, "delete port", ports.Delete(ctx, a, fixed.ID).ExtractErr(), 0)
	wantStatus(t, "delete network", networks.Delete(ctx, a, net.ID).ExtractErr(), 0)
	all, _ = ports.List(a, ports.ListOpts{NetworkID: net.ID}).AllPages(ctx)
	if left, _ := ports.ExtractPorts(all); len(left) != 0 {
		t.Errorf("ports left after the network went: %+v", left)
	}
}

func mustNetwork(t *testing.T, c *gophercloud.ServiceClient, name string) *networks.Network {
	t.Helper()
	n, err := networks.Create(ctx, c, networks.CreateOpts{Name: name}).Extract()
	wantStatus(t, "network create "+name, err, 0)
	_, err = subnets.Create(ctx, c, subnets.CreateOpts{NetworkID: n.ID, CIDR: "10.0.0.0/24", IPVersion: gophercloud.IPv4}).Extract()
	wantStatus(t, "subnet create "+name, err, 0)
	return n
}

func listNetworks(c *gophercloud.ServiceClient, opts networks.ListOpts) ([]networks.Network, error) {
	pg, err := networks.List(c, opts).AllPages(ctx)
	if err != nil {
		return nil, err
	}
	return networks.ExtractNetworks(pg)
}

func countOther(ns []networks.Network, project string) int {
	n := 0
	for _, x := range ns {
		if x.ProjectID == project {
			n++
		}
	}
	return n
}

// TestSharedNetworks: an admin's shared network, and one a project shares
// with another by RBAC, take the other's ports; the other still cannot
// change them; only admins make shared, external or provider networks.
func TestSharedNetworks(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, servertest.Fake)
	alpha, beta, gamma := srv.NewTenant(t, "alpha", ""), srv.NewTenant(t, "beta", ""), srv.NewTenant(t, "gamma", "")
	admin := adminNetworkClient(t, srv)
	a, b, g := networkClient(t, srv.Provider(t, alpha)), networkClient(t, srv.Provider(t, beta)), networkClient(t, srv.Provider(t, gamma))

	yes := true
	_, err := networks.Create(ctx, a, networks.CreateOpts{Name: "mine", Shared: &yes}).Extract()
	wantStatus(t, "member creates a shared network", err, http.StatusForbidden)
	_, err = networks.Create(ctx, a, external.CreateOptsExt{CreateOptsBuilder: networks.CreateOpts{Name: "ext"}, External: &yes}).Extract()
	wantStatus(t, "member creates an external network", err, http.StatusForbidden)
	var provider struct {
		Network map[string]any `json:"network"`
	}
	_, err = a.Post(ctx, a.ServiceURL("networks"), map[string]any{"network": map[string]any{"name": "p", "provider:network_type": "flat"}}, &provider, nil)
	wantStatus(t, "member creates a provider network", err, http.StatusForbidden)

	shared, err := networks.Create(ctx, admin, networks.CreateOpts{Name: "shared", Shared: &yes}).Extract()
	wantStatus(t, "admin creates a shared network", err, 0)
	_, err = subnets.Create(ctx, admin, subnets.CreateOpts{NetworkID: shared.ID, CIDR: "192.168.10.0/24", IPVersion: gophercloud.IPv4}).Extract()
	wantStatus(t, "admin subnet", err, 0)
	bp, err := ports.Create(ctx, b, ports.CreateOpts{NetworkID: shared.ID}).Extract()
	wantStatus(t, "beta's port on the shared network", err, 0)
	if bp.ProjectID != beta.ProjectID {
		t.Errorf("port project %s", bp.ProjectID)
	}
	_, err = subnets.Create(ctx, b, subnets.CreateOpts{NetworkID: shared.ID, CIDR: "192.168.11.0/24", IPVersion: gophercloud.IPv4}).Extract()
	wantStatus(t, "beta's subnet on the shared network", err, http.StatusForbidden)
	wantStatus(t, "beta deletes the shared network", networks.Delete(ctx, b, shared.ID).ExtractErr(), http.StatusForbidden)
	_, err = ports.Create(ctx, b, ports.CreateOpts{NetworkID: shared.ID, FixedIPs: []ports.IP{{IPAddress: "192.168.10.77"}}}).Extract()
	wantStatus(t, "beta picks an address on the shared network", err, http.StatusForbidden)
	off := false
	_, err = ports.Create(ctx, b, portsecurity.PortCreateOptsExt{CreateOptsBuilder: ports.CreateOpts{NetworkID: shared.ID}, PortSecurityEnabled: &off}).Extract()
	wantStatus(t, "beta turns port security off on the shared network", err, http.StatusForbidden)
	_, err = ports.Create(ctx, b, ports.CreateOpts{NetworkID: shared.ID, AllowedAddressPairs: []ports.AddressPair{{IPAddress: "0.0.0.0/0"}}}).Extract()
	wantStatus(t, "beta sends as anyone on the shared network", err, http.StatusForbidden)
	// Gamma sees beta's port on admin's network? No: only the network's owner and the port's project do.
	_, err = ports.Get(ctx, g, bp.ID).Extract()
	wantStatus(t, "gamma shows beta's port", err, http.StatusNotFound)

	// RBAC: alpha shares its network with beta only.
	net := mustNetwork(t, a, "alpha-net")
	_, err = ports.Create(ctx, b, ports.CreateOpts{NetworkID: net.ID}).Extract()
	wantStatus(t, "beta's port before the share", err, http.StatusNotFound)
	pol, err := rbacpolicies.Create(ctx, a, rbacpolicies.CreateOpts{ObjectType: "network", ObjectID: net.ID, Action: rbacpolicies.ActionAccessShared, TargetTenant: beta.ProjectID}).Extract()
	wantStatus(t, "rbac share", err, 0)
	_, err = rbacpolicies.Create(ctx, a, rbacpolicies.CreateOpts{ObjectType: "network", ObjectID: net.ID, Action: rbacpolicies.ActionAccessShared, TargetTenant: "*"}).Extract()
	wantStatus(t, "member shares with everyone", err, http.StatusForbidden)
	sharedPort, err := ports.Create(ctx, b, ports.CreateOpts{NetworkID: net.ID}).Extract()
	wantStatus(t, "beta's port after the share", err, 0)
	_, err = ports.Create(ctx, g, ports.CreateOpts{NetworkID: net.ID}).Extract()
	wantStatus(t, "gamma's port on a network shared with beta", err, http.StatusNotFound)
	_, err = rbacpolicies.Create(ctx, b, rbacpolicies.CreateOpts{ObjectType: "network", ObjectID: net.ID, Action: rbacpolicies.ActionAccessShared, TargetTenant: gamma.ProjectID}).Extract()
	wantStatus(t, "beta re-shares alpha's network", err, http.StatusNotFound)
	wantStatus(t, "unshare while beta has a port", rbacpolicies.Delete(ctx, a, pol.ID).ExtractErr(), http.StatusConflict)
	wantStatus(t, "beta's port goes", ports.Delete(ctx, b, sharedPort.ID).ExtractErr(), 0)
	wantStatus(t, "unshare", rbacpolicies.Delete(ctx, a, pol.ID).ExtractErr(), 0)
	_, err = ports.Create(ctx, b, ports.CreateOpts{NetworkID: net.ID}).Extract()
	wantStatus(t, "beta's port after the unshare", err, http.StatusNotFound)

	ext, err := networks.Create(ctx, admin, external.CreateOptsExt{CreateOptsBuilder: networks.CreateOpts{Name: "public"}, External: &yes}).Extract()
	wantStatus(t, "admin creates an external network", err, 0)
	var found []struct {
		ID       string `json:"id"`
		External bool   `json:"router:external"`
	}
	pg, err := networks.List(b, external.ListOptsExt{ListOptsBuilder: networks.ListOpts{}, External: &yes}).AllPages(ctx)
	wantStatus(t, "list external", err, 0)
	// The cloud's own external network and this one.
	if err := networks.ExtractNetworksInto(pg, &found); err != nil || len(found) != 2 || !slices.ContainsFunc(found, func(f struct {
		ID       string `json:"id"`
		External bool   `json:"router:external"`
	}) bool {
		return f.ID == ext.ID && f.External
	}) {
		t.Errorf("router:external=True: %+v %v", found, err)
	}
	_, err = ports.Create(ctx, b, ports.CreateOpts{NetworkID: ext.ID}).Extract()
	wantStatus(t, "beta's port on the external network", err, http.StatusForbidden)
}

// TestNetworkBadInput: Neutron's errors for bad input, and nothing changed.
func TestNetworkBadInput(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, servertest.Fake)
	alpha := srv.NewTenant(t, "alpha", "")
	a := networkClient(t, srv.Provider(t, alpha))
	net := mustNetwork(t, a, "net")
	raw := func(method, path, body string) (int, string) {
		req, _ := http.NewRequest(method, a.ServiceURL(path), strings.NewReader(body))
		req.Header.Set("X-Auth-Token", a.Token())
		req.Header.Set("Content-Type", "application/json")
		resp, err := srv.HTTPClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var buf strings.Builder
		fmt.Fprint(&buf, readAll(resp))
		return resp.StatusCode, buf.String()
	}
	for _, c := range []struct {
		what, method, path, body string
		status                   int
		kind                     string
	}{
		{"malformed JSON", "POST", "networks", `{"network": {`, 400, "HTTPBadRequest"},
		{"no resource", "POST", "networks", `{"net": {}}`, 400, "HTTPBadRequest"},
		{"unknown attribute", "POST", "networks", `{"network": {"colour": "red"}}`, 400, "HTTPBadRequest"},
		{"name not a string", "POST", "networks", `{"network": {"name": 7}}`, 400, "HTTPBadRequest"},
		{"mtu too big", "POST", "networks", `{"network": {"mtu": 9000}}`, 400, "HTTPBadRequest"},
		{"another project", "POST", "networks", `{"network": {"project_id": "someone-else"}}`, 400, "HTTPBadRequest"},
		{"bad cidr", "POST", "subnets", `{"subnet": {"network_id": "` + net.ID + `", "ip_version": 4, "cidr": "10.0.0.300/24"}}`, 400, "HTTPBadRequest"},
		{"host bits", "POST", "subnets", `{"subnet": {"network_id": "` + net.ID + `", "ip_version": 4, "cidr": "10.1.0.5/24"}}`, 400, "HTTPBadRequest"},
		{"version mismatch", "POST", "subnets", `{"subnet": {"network_id": "` + net.ID + `", "ip_version": 6, "cidr": "10.1.0.0/24"}}`, 400, "InvalidInput"},
		{"overlap", "POST", "subnets", `{"subnet": {"network_id": "` + net.ID + `", "ip_version": 4, "cidr": "10.0.0.128/25"}}`, 400, "InvalidInput"},
		{"pool outside", "POST", "subnets", `{"subnet": {"network_id": "` + net.ID + `", "ip_version": 4, "cidr": "10.2.0.0/24", "allocation_pools": [{"start": "10.3.0.2", "end": "10.3.0.9"}]}}`, 400, "HTTPBadRequest"},
		{"gateway in pool", "POST", "subnets", `{"subnet": {"network_id": "` + net.ID + `", "ip_version": 4, "cidr": "10.2.0.0/24", "gateway_ip": "10.2.0.5", "allocation_pools": [{"start": "10.2.0.2", "end": "10.2.0.9"}]}}`, 409, "GatewayConflictWithAllocationPools"},
		{"slaac not /64", "POST", "subnets", `{"subnet": {"network_id": "` + net.ID + `", "ip_version": 6, "cidr": "fd00::/80", "ipv6_address_mode": "slaac"}}`, 400, "InvalidInput"},
		{"unknown network", "POST", "subnets", `{"subnet": {"network_id": "no-such-net", "ip_version": 4, "cidr": "10.5.0.0/24"}}`, 404, "NetworkNotFound"},
		{"address outside", "POST", "ports", `{"port": {"network_id": "` + net.ID + `", "fixed_ips": [{"ip_address": "10.7.0.9"}]}}`, 400, "InvalidInput"},
		{"gateway address", "POST", "ports", `{"port": {"network_id": "` + net.ID + `", "fixed_ips": [{"ip_address": "10.0.0.1"}]}}`, 409, "IpAddressInUse"},
		{"dhcp's address", "POST", "ports", `{"port": {"network_id": "` + net.ID + `", "fixed_ips": [{"ip_address": "10.0.0.2"}]}}`, 409, "IpAddressAlreadyAllocated"},
		{"bad mac", "POST", "ports", `{"port": {"network_id": "` + net.ID + `", "mac_address": "01:02:03:04:05:06"}}`, 400, "HTTPBadRequest"},
		{"binding by member", "POST", "ports", `{"port": {"network_id": "` + net.ID + `", "binding:host_id": "h"}}`, 403, "PolicyNotAuthorized"},
		{"no network", "POST", "ports", `{"port": {"name": "x"}}`, 400, "HTTPBadRequest"},
		{"unknown port", "GET", "ports/no-such-port", ``, 404, "PortNotFound"},
		{"bad protocol", "POST", "security-group-rules", `{"security_group_rule": {"security_group_id": "x", "direction": "ingress", "protocol": "tcpp"}}`, 400, "SecurityGroupRuleInvalidProtocol"},
		{"bad direction", "POST", "security-group-rules", `{"security_group_rule": {"security_group_id": "x", "direction": "sideways"}}`, 400, "HTTPBadRequest"},
		{"bad filter", "GET", "networks?colour=red", ``, 400, "HTTPBadRequest"},
		{"bad sort", "GET", "networks?sort_key=colour", ``, 400, "HTTPBadRequest"},
		{"bad marker", "GET", "networks?marker=nope", ``, 400, "HTTPBadRequest"},
		{"default rule by member", "POST", "default-security-group-rules", `{"default_security_group_rule": {"direction": "ingress"}}`, 403, "PolicyNotAuthorized"},
		{"provider filter by member", "GET", "networks?provider:segmentation_id=1", ``, 400, "HTTPBadRequest"},
		{"six fixed ips", "POST", "ports", `{"port": {"network_id": "` + net.ID + `", "fixed_ips": [{"ip_address": "10.0.0.11"}, {"ip_address": "10.0.0.12"}, {"ip_address": "10.0.0.13"}, {"ip_address": "10.0.0.14"}, {"ip_address": "10.0.0.15"}, {"ip_address": "10.0.0.16"}]}}`, 400, "HTTPBadRequest"},
		{"51 tags", "PUT", "networks/" + net.ID + "/tags", `{"tags": [` + manyTags(51) + `]}`, 400, "HTTPBadRequest"},
		{"small MTU", "PUT", "networks/" + net.ID, `{"network": {"mtu": 1000}}`, 200, ""},
		{"IPv6 on a small MTU", "POST", "subnets", `{"subnet": {"network_id": "` + net.ID + `", "ip_version": 6, "cidr": "fd00:9::/64"}}`, 400, "InvalidInput"},
	} {
		status, body := raw(c.method, c.path, c.body)
		if c.kind == "" && status == c.status {
			continue
		}
		if status != c.status || !strings.Contains(body, `"NeutronError"`) || !strings.Contains(body, `"type":"`+c.kind+`"`) {
			t.Errorf("%s: %d %s, want %d %s", c.what, status, body, c.status, c.kind)
		}
	}
	// Port ranges and protocols of rules, on a group of alpha's.
	sg, err := groups.Create(ctx, a, groups.CreateOpts{Name: "web"}).Extract()
	wantStatus(t, "group create", err, 0)
	if len(sg.Rules) != 2 {
		t.Errorf("a new group has %d rules, want the 2 egress defaults", len(sg.Rules))
	}
	for _, c := range []struct {
		what  string
		opts  rules.CreateOpts
		state int
	}{
		{"min > max", rules.CreateOpts{Direction: "ingress", EtherType: "IPv4", Protocol: "tcp", PortRangeMin: 90, PortRangeMax: 80}, 400},
		{"port 70000", rules.CreateOpts{Direction: "ingress", EtherType: "IPv4", Protocol: "udp", PortRangeMin: 70000, PortRangeMax: 70000}, 400},
		{"ports on gre", rules.CreateOpts{Direction: "ingress", EtherType: "IPv4", Protocol: "gre", PortRangeMin: 1, PortRangeMax: 2}, 400},
		{"v6 prefix on v4", rules.CreateOpts{Direction: "ingress", EtherType: "IPv4", Protocol: "tcp", RemoteIPPrefix: "2001:db8::/32"}, 400},
		{"prefix and group", rules.CreateOpts{Direction: "ingress", EtherType: "IPv4", RemoteIPPrefix: "10.0.0.0/8", RemoteGroupID: sg.ID}, 400},
		{"icmp type 300", rules.CreateOpts{Direction: "ingress", EtherType: "IPv4", Protocol: "icmp", PortRangeMin: 300}, 400},
		{"tcp 80 from web", rules.CreateOpts{Direction: "ingress", EtherType: "IPv4", Protocol: "tcp", PortRangeMin: 80, PortRangeMax: 80, RemoteGroupID: sg.ID}, 0},
		{"the same again", rules.CreateOpts{Direction: "ingress", EtherType: "IPv4", Protocol: "6", PortRangeMin: 80, PortRangeMax: 80, RemoteGroupID: sg.ID}, 409},
	} {
		c.opts.SecGroupID = sg.ID
		_, err := rules.Create(ctx, a, c.opts).Extract()
		wantStatus(t, c.what, err, c.state)
	}
	// Nothing was made by the refused requests.
	nets, _ := listNetworks(a, networks.ListOpts{})
	pg, _ := ports.List(a, ports.ListOpts{}).AllPages(ctx)
	ps, _ := ports.ExtractPorts(pg)
	spg, _ := subnets.List(a, subnets.ListOpts{}).AllPages(ctx)
	sns, _ := subnets.ExtractSubnets(spg)
	got, _ := groups.Get(ctx, a, sg.ID).Extract()
	// (The networks and subnets are its own and the cloud's external ones.)
	if len(nets) != 2 || len(ps) != 1 || len(sns) != 2 || len(got.Rules) != 3 {
		t.Errorf("after bad input: %d networks, %d ports (the DHCP one), %d subnets, %d rules", len(nets), len(ps), len(sns), len(got.Rules))
	}
	// The default group cannot go or be renamed by its project.
	def, _ := groups.List(a, groups.ListOpts{Name: "default"}).AllPages(ctx)
	defs, _ := groups.ExtractGroups(def)
	if len(defs) != 1 {
		t.Fatalf("default groups: %d", len(defs))
	}
	wantStatus(t, "delete default group", groups.Delete(ctx, a, defs[0].ID).ExtractErr(), http.StatusConflict)
	other := "other"
	_, err = groups.Update(ctx, a, defs[0].ID, groups.UpdateOpts{Name: other}).Extract()
	wantStatus(t, "rename default group", err, http.StatusConflict)
}

func manyTags(n int) string {
	var tags []string
	for i := range n {
		tags = append(tags, fmt.Sprintf(`"t%d"`, i))
	}
	return strings.Join(tags, ", ")
}

func readAll(resp *http.Response) string {
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			return b.String()
		}
	}
}

// TestNetworkListsQuotasTags: paging with links, fields, sorting, tag
// filters, quotas an admin sets, and the SCS default rules.
func TestNetworkListsQuotasTags(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, servertest.Fake)
	alpha := srv.NewTenant(t, "alpha", "")
	a := networkClient(t, srv.Provider(t, alpha))
	admin := adminNetworkClient(t, srv)
	for i := range 7 {
		n, err := networks.Create(ctx, a, networks.CreateOpts{Name: fmt.Sprintf("net-%d", i)}).Extract()
		wantStatus(t, "create", err, 0)
		if i%3 == 0 {
			_, err := attributestags.ReplaceAll(ctx, a, "networks", n.ID, attributestags.ReplaceAllOpts{Tags: []string{"third", fmt.Sprint("n", i)}}).Extract()
			wantStatus(t, "tags", err, 0)
		}
	}
	pages, names := 0, []string{}
	err := networks.List(a, networks.ListOpts{ProjectID: alpha.ProjectID, Limit: 3, SortKey: "name", SortDir: "desc"}).EachPage(ctx, func(_ context.Context, p pagination.Page) (bool, error) {
		ns, err := networks.ExtractNetworks(p)
		pages++
		for _, n := range ns {
			names = append(names, n.Name)
		}
		return true, err
	})
	if err != nil || pages != 3 || len(names) != 7 || names[0] != "net-6" || names[6] != "net-0" {
		t.Fatalf("paged: %d pages %v %v", pages, names, err)
	}
	tagged, err := listNetworks(a, networks.ListOpts{Tags: "third"})
	if err != nil || len(tagged) != 3 {
		t.Errorf("tags=third: %d %v", len(tagged), err)
	}
	notTagged, _ := listNetworks(a, networks.ListOpts{ProjectID: alpha.ProjectID, NotTagsAny: "n0,n3"})
	if len(notTagged) != 5 {
		t.Errorf("not-tags-any=n0,n3: %d", len(notTagged))
	}
	var onlyNames struct {
		Networks []map[string]any `json:"networks"`
	}
	_, err = a.Get(ctx, a.ServiceURL("networks")+"?fields=name&fields=id&name=net-1", &onlyNames, nil)
	if err != nil || len(onlyNames.Networks) != 1 || len(onlyNames.Networks[0]) != 2 || onlyNames.Networks[0]["name"] != "net-1" {
		t.Errorf("fields: %+v %v", onlyNames, err)
	}

	// Quotas: the admin gives alpha room for one more network.
	_, err = quotas.Update(ctx, a, alpha.ProjectID, quotas.UpdateOpts{Network: gophercloud.IntToPointer(8)}).Extract()
	wantStatus(t, "member sets its quota", err, http.StatusForbidden)
	q, err := quotas.Update(ctx, admin, alpha.ProjectID, quotas.UpdateOpts{Network: gophercloud.IntToPointer(8)}).Extract()
	wantStatus(t, "admin sets the quota", err, 0)
	if q.Network != 8 || q.Port != 500 {
		t.Errorf("quota: %+v", q)
	}
	_, err = networks.Create(ctx, a, networks.CreateOpts{Name: "eighth"}).Extract()
	wantStatus(t, "eighth network", err, 0)
	_, err = networks.Create(ctx, a, networks.CreateOpts{Name: "ninth"}).Extract()
	wantStatus(t, "ninth network", err, http.StatusConflict)
	d, err := quotas.GetDetail(ctx, a, alpha.ProjectID).Extract()
	wantStatus(t, "quota details", err, 0)
	if d.Network.Used != 8 || d.Network.Limit != 8 {
		t.Errorf("quota details: %+v", d.Network)
	}

	// The default rules, as the SCS scs-0115 check reads them.
	var dr struct {
		Rules []struct {
			Direction, Ethertype string
			RemoteIPPrefix       *string `json:"remote_ip_prefix"`
			RemoteGroupID        *string `json:"remote_group_id"`
			UsedInDefault        bool    `json:"used_in_default_sg"`
			UsedInNonDefault     bool    `json:"used_in_non_default_sg"`
		} `json:"default_security_group_rules"`
	}
	_, err = a.Get(ctx, a.ServiceURL("default-security-group-rules"), &dr, nil)
	if err != nil || len(dr.Rules) != 4 {
		t.Fatalf("default rules: %+v %v", dr, err)
	}
	for _, r := range dr.Rules {
		switch {
		case r.Direction == "egress" && r.RemoteIPPrefix == nil && r.UsedInDefault && r.UsedInNonDefault:
		case r.Direction == "ingress" && r.RemoteGroupID != nil && *r.RemoteGroupID == "PARENT" && r.UsedInDefault && !r.UsedInNonDefault:
		default:
			t.Errorf("default rule not as scs-0115 asks: %+v", r)
		}
	}
}

// TestSLAACAddress: an IPv6 SLAAC subnet gives a port the address its MAC makes.
func TestSLAACAddress(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, servertest.Fake)
	alpha := srv.NewTenant(t, "alpha", "")
	a := networkClient(t, srv.Provider(t, alpha))
	n, err := networks.Create(ctx, a, networks.CreateOpts{Name: "v6"}).Extract()
	wantStatus(t, "network", err, 0)
	_, err = subnets.Create(ctx, a, subnets.CreateOpts{NetworkID: n.ID, CIDR: "fd12:3456:789a:1::/64", IPVersion: gophercloud.IPv6,
		IPv6AddressMode: "slaac", IPv6RAMode: "slaac"}).Extract()
	wantStatus(t, "subnet", err, 0)
	p, err := ports.Create(ctx, a, ports.CreateOpts{NetworkID: n.ID, MACAddress: "fa:16:3e:11:22:33"}).Extract()
	wantStatus(t, "port", err, 0)
	if len(p.FixedIPs) != 1 || p.FixedIPs[0].IPAddress != "fd12:3456:789a:1:f816:3eff:fe11:2233" {
		t.Errorf("SLAAC address: %+v", p.FixedIPs)
	}
}

// TestDataplaneFollowsTheModel: the data plane gets each network's DHCP
// port and reservations as they change, and loses the network with its
// last DHCP subnet; a restart sets every network again.
func TestDataplaneFollowsTheModel(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, servertest.Fake)
	alpha := srv.NewTenant(t, "alpha", "")
	a := networkClient(t, srv.Provider(t, alpha))
	dp := srv.Network().Dataplane().(*fake.Dataplane)
	n := mustNetwork(t, a, "net")
	st := dp.Network(n.ID)
	if st == nil || st.DHCP == nil || st.DHCP.Addrs[0].String() != "10.0.0.2/24" || st.Segment < 1 || len(st.Subnets) != 1 {
		t.Fatalf("state after the subnet: %+v", st)
	}
	p, err := ports.Create(ctx, a, ports.CreateOpts{NetworkID: n.ID, MACAddress: "fa:16:3e:12:34:56"}).Extract()
	wantStatus(t, "port", err, 0)
	st = dp.Network(n.ID)
	if len(st.Hosts) != 1 || st.Hosts[0].MAC != "fa:16:3e:12:34:56" || st.Hosts[0].Addrs[0].String() != p.FixedIPs[0].IPAddress || st.Hosts[0].HostName(st.Hosts[0].Addrs[0]) != "host-10-0-0-3" {
		t.Fatalf("reservations after the port: %+v", st.Hosts)
	}
	wantStatus(t, "port delete", ports.Delete(ctx, a, p.ID).ExtractErr(), 0)
	if st = dp.Network(n.ID); len(st.Hosts) != 0 {
		t.Errorf("reservations after the port went: %+v", st.Hosts)
	}
	srv = srv.Restart(t)
	if st = srv.Network().Dataplane().(*fake.Dataplane).Network(n.ID); st == nil || st.DHCP == nil {
		t.Errorf("state after a restart: %+v", st)
	}
	a = networkClient(t, srv.Provider(t, alpha))
	wantStatus(t, "network delete", networks.Delete(ctx, a, n.ID).ExtractErr(), 0)
	if st = srv.Network().Dataplane().(*fake.Dataplane).Network(n.ID); st != nil {
		t.Errorf("state after the network went: %+v", st)
	}
}

// TestIPAvailability: admins see how full each network's pools are, by
// network and IP version; members may not look.
func TestIPAvailability(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, servertest.Fake)
	alpha := srv.NewTenant(t, "alpha", "")
	a := networkClient(t, srv.Provider(t, alpha))
	admin := adminNetworkClient(t, srv)
	n := mustNetwork(t, a, "net")
	other, err := networks.Create(ctx, a, networks.CreateOpts{Name: "v6only"}).Extract()
	wantStatus(t, "network", err, 0)
	_, err = subnets.Create(ctx, a, subnets.CreateOpts{NetworkID: other.ID, CIDR: "fd00:1::/64", IPVersion: gophercloud.IPv6}).Extract()
	wantStatus(t, "v6 subnet", err, 0)
	var out struct {
		List []struct {
			ID    string      `json:"network_id"`
			Total json.Number `json:"total_ips"` // an IPv6 /64 holds 2^64 - 2
			Used  int         `json:"used_ips"`
		} `json:"network_ip_availabilities"`
	}
	_, err = admin.Get(ctx, admin.ServiceURL("network-ip-availabilities")+"?network_id="+n.ID, &out, nil)
	if err != nil || len(out.List) != 1 || out.List[0].Total != "253" || out.List[0].Used != 1 {
		t.Errorf("by network: %+v %v", out, err)
	}
	_, err = admin.Get(ctx, admin.ServiceURL("network-ip-availabilities")+"?ip_version=6", &out, nil)
	if err != nil || len(out.List) != 1 || out.List[0].ID != other.ID || out.List[0].Total != "18446744073709551614" {
		t.Errorf("by IP version: %+v %v", out, err)
	}
	_, err = a.Get(ctx, a.ServiceURL("network-ip-availabilities"), &out, nil)
	wantStatus(t, "a member's look", err, http.StatusForbidden)
}
