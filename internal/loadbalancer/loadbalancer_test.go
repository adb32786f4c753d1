package loadbalancer_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/loadbalancer/v2/l7policies"
	"github.com/gophercloud/gophercloud/v2/openstack/loadbalancer/v2/listeners"
	"github.com/gophercloud/gophercloud/v2/openstack/loadbalancer/v2/loadbalancers"
	"github.com/gophercloud/gophercloud/v2/openstack/loadbalancer/v2/monitors"
	"github.com/gophercloud/gophercloud/v2/openstack/loadbalancer/v2/pools"
	"github.com/gophercloud/gophercloud/v2/openstack/loadbalancer/v2/providers"
	"github.com/gophercloud/gophercloud/v2/openstack/loadbalancer/v2/quotas"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/networks"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/ports"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/subnets"

	"github.com/sovcloud/sov/internal/servertest"
)

var ctx = context.Background()

func lbClient(t testing.TB, p *gophercloud.ProviderClient) *gophercloud.ServiceClient {
	t.Helper()
	c, err := openstack.NewLoadBalancerV2(p, gophercloud.EndpointOpts{})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func netClient(t testing.TB, p *gophercloud.ProviderClient) *gophercloud.ServiceClient {
	t.Helper()
	c, err := openstack.NewNetworkV2(p, gophercloud.EndpointOpts{})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// subnetOf is the one subnet of a network.
func subnetOf(t testing.TB, nc *gophercloud.ServiceClient, network string) *subnets.Subnet {
	t.Helper()
	pages, err := subnets.List(nc, subnets.ListOpts{NetworkID: network}).AllPages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	all, _ := subnets.ExtractSubnets(pages)
	if len(all) != 1 {
		t.Fatalf("network %s has %d subnets", network, len(all))
	}
	return &all[0]
}

// waitLB waits until a load balancer's provisioning status is want.
func waitLB(t testing.TB, c *gophercloud.ServiceClient, id, want string) *loadbalancers.LoadBalancer {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		lb, err := loadbalancers.Get(ctx, c, id).Extract()
		if err != nil {
			t.Fatalf("get load balancer: %v", err)
		}
		if lb.ProvisioningStatus == want {
			return lb
		}
		if time.Now().After(deadline) || (lb.ProvisioningStatus == "ERROR" && want != "ERROR") {
			t.Fatalf("load balancer %s is %s, want %s", id, lb.ProvisioningStatus, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitFor polls cond until it holds.
func waitFor(t testing.TB, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ok, got := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still %s", what, got)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// raw sends body as is and returns the status and the decoded answer.
func raw(t *testing.T, c *gophercloud.ServiceClient, method, path, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, c.ResourceBase+path, strings.NewReader(body))
	req.Header.Set("X-Auth-Token", c.TokenID)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

// TestLoadBalancerLifecycle drives the API with gophercloud on the fake
// data plane: a load balancer on a tenant subnet, a listener, a pool with
// two members and a health monitor; statuses follow the members' health;
// bad input and changes while PENDING are refused; cascade delete.
func TestLoadBalancerLifecycle(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, servertest.Fake)
	p := srv.Provider(t, srv.NewTenant(t, "lb-a", "member"))
	c, nc := lbClient(t, p), netClient(t, p)
	netID := servertest.TenantNetwork(t, p, "web", "10.20.0.0/24")
	sn := subnetOf(t, nc, netID)

	provs, err := providers.List(c, nil).AllPages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if pl, _ := providers.ExtractProviders(provs); len(pl) != 1 || pl[0].Name != "sov" {
		t.Fatalf("providers: %+v", pl)
	}

	lb, err := loadbalancers.Create(ctx, c, loadbalancers.CreateOpts{Name: "web", VipSubnetID: sn.ID}).Extract()
	if err != nil {
		t.Fatal(err)
	}
	if lb.ProvisioningStatus != "PENDING_CREATE" || lb.Provider != "sov" || lb.VipNetworkID != netID || lb.VipPortID == "" {
		t.Fatalf("created: %+v", lb)
	}
	if !netip.MustParsePrefix("10.20.0.0/24").Contains(netip.MustParseAddr(lb.VipAddress)) {
		t.Fatalf("VIP %s not on the subnet", lb.VipAddress)
	}
	lb = waitLB(t, c, lb.ID, "ACTIVE")
	port, err := ports.Get(ctx, nc, lb.VipPortID).Extract()
	if err != nil {
		t.Fatal(err)
	}
	if port.DeviceOwner != "Octavia" || port.DeviceID != "lb-"+lb.ID || port.Status != "ACTIVE" {
		t.Fatalf("VIP port: %+v", port)
	}
	servertest.WantStatus(t, "delete the VIP port", ports.Delete(ctx, nc, port.ID).ExtractErr(), http.StatusConflict)
	_, err = ports.Update(ctx, nc, port.ID, ports.UpdateOpts{FixedIPs: []ports.IP{{SubnetID: sn.ID, IPAddress: "10.20.0.99"}}}).Extract()
	servertest.WantStatus(t, "move the VIP port's address", err, http.StatusConflict)
	name := "renamed"
	if _, err := ports.Update(ctx, nc, port.ID, ports.UpdateOpts{Name: &name}).Extract(); err != nil {
		t.Fatalf("rename the VIP port: %v", err)
	}

	ls, err := listeners.Create(ctx, c, listeners.CreateOpts{LoadbalancerID: lb.ID, Protocol: listeners.ProtocolHTTP, ProtocolPort: 80,
		InsertHeaders: map[string]string{"X-Forwarded-For": "true"}}).Extract()
	if err != nil {
		t.Fatal(err)
	}
	waitLB(t, c, lb.ID, "ACTIVE")
	pool, err := pools.Create(ctx, c, pools.CreateOpts{ListenerID: ls.ID, Protocol: pools.ProtocolHTTP, LBMethod: pools.LBMethodRoundRobin}).Extract()
	if err != nil {
		t.Fatal(err)
	}
	waitLB(t, c, lb.ID, "ACTIVE")
	var memberIDs []string
	for _, a := range []string{"10.20.0.11", "10.20.0.12"} {
		m, err := pools.CreateMember(ctx, c, pool.ID, pools.CreateMemberOpts{Address: a, ProtocolPort: 8080, SubnetID: sn.ID}).Extract()
		if err != nil {
			t.Fatalf("member %s: %v", a, err)
		}
		memberIDs = append(memberIDs, m.ID)
		waitLB(t, c, lb.ID, "ACTIVE")
	}
	hm, err := monitors.Create(ctx, c, monitors.CreateOpts{PoolID: pool.ID, Type: monitors.TypeHTTP, Delay: 2, Timeout: 1, MaxRetries: 2,
		URLPath: "/health", ExpectedCodes: "200-204"}).Extract()
	if err != nil {
		t.Fatal(err)
	}
	waitLB(t, c, lb.ID, "ACTIVE")

	// What the data plane was given.
	dp := srv.LoadBalancers().Fake.Get(lb.ID)
	if len(dp.Listeners) != 1 || dp.Listeners[0].DefaultPool != pool.ID || !dp.Listeners[0].ForwardedFor || len(dp.Pools) != 1 ||
		len(dp.Pools[0].Members) != 2 || dp.Pools[0].Monitor == nil || dp.Pools[0].Monitor.Path != "/health" || dp.VIP.String() != lb.VipAddress {
		t.Fatalf("data plane: %+v", dp)
	}

	memberStatus := func(id string) string {
		m, err := pools.GetMember(ctx, c, pool.ID, id).Extract()
		if err != nil {
			t.Fatal(err)
		}
		return m.OperatingStatus
	}
	waitFor(t, "members ONLINE", func() (bool, string) {
		a, b := memberStatus(memberIDs[0]), memberStatus(memberIDs[1])
		return a == "ONLINE" && b == "ONLINE", a + " " + b
	})
	srv.LoadBalancers().Fake.SetDown(netip.MustParseAddr("10.20.0.11"), true)
	waitFor(t, "member down", func() (bool, string) {
		lbNow, _ := loadbalancers.Get(ctx, c, lb.ID).Extract()
		pl, _ := pools.Get(ctx, c, pool.ID).Extract()
		m := memberStatus(memberIDs[0])
		return m == "ERROR" && pl.OperatingStatus == "DEGRADED" && lbNow.OperatingStatus == "DEGRADED", m + " " + pl.OperatingStatus + " " + lbNow.OperatingStatus
	})
	srv.LoadBalancers().Fake.SetDown(netip.MustParseAddr("10.20.0.11"), false)
	waitFor(t, "member up again", func() (bool, string) {
		lbNow, _ := loadbalancers.Get(ctx, c, lb.ID).Extract()
		return memberStatus(memberIDs[0]) == "ONLINE" && lbNow.OperatingStatus == "ONLINE", lbNow.OperatingStatus
	})

	st, err := loadbalancers.GetStatuses(ctx, c, lb.ID).Extract()
	if err != nil {
		t.Fatal(err)
	}
	if tree := st.Loadbalancer; len(tree.Listeners) != 1 || len(tree.Listeners[0].Pools) != 1 || len(tree.Listeners[0].Pools[0].Members) != 2 {
		t.Fatalf("status tree: %+v", tree)
	}
	// Octavia names the monitor of a pool of the tree health_monitor
	// (gophercloud reads healthmonitor).
	if _, body := raw(t, c, "GET", "lbaas/loadbalancers/"+lb.ID+"/status", ""); !strings.Contains(jsonString(body), `"health_monitor":{"id":"`+hm.ID) {
		t.Fatalf("status tree: %v", body)
	}
	if _, err := loadbalancers.GetStats(ctx, c, lb.ID).Extract(); err != nil {
		t.Fatal(err)
	}

	// Bad input, in Octavia's format, changing nothing.
	_, err = listeners.Create(ctx, c, listeners.CreateOpts{LoadbalancerID: lb.ID, Protocol: listeners.ProtocolTCP, ProtocolPort: 80}).Extract()
	servertest.WantStatus(t, "a second listener on port 80", err, http.StatusConflict)
	_, err = listeners.Create(ctx, c, listeners.CreateOpts{LoadbalancerID: lb.ID, Protocol: listeners.ProtocolUDP, ProtocolPort: 53}).Extract()
	servertest.WantStatus(t, "a UDP listener", err, http.StatusNotImplemented)
	_, err = pools.CreateMember(ctx, c, pool.ID, pools.CreateMemberOpts{Address: "10.20.0.11", ProtocolPort: 8080}).Extract()
	servertest.WantStatus(t, "the same member twice", err, http.StatusConflict)
	_, err = pools.CreateMember(ctx, c, pool.ID, pools.CreateMemberOpts{Address: "169.254.169.254", ProtocolPort: 80}).Extract()
	servertest.WantStatus(t, "the metadata address as a member", err, http.StatusBadRequest)
	_, err = monitors.Create(ctx, c, monitors.CreateOpts{PoolID: pool.ID, Type: monitors.TypeTCP, Delay: 2, Timeout: 1, MaxRetries: 2}).Extract()
	servertest.WantStatus(t, "a second monitor", err, http.StatusConflict)
	_, err = monitors.Create(ctx, c, monitors.CreateOpts{PoolID: pool.ID, Type: monitors.TypeHTTP, Delay: 1, Timeout: 5, MaxRetries: 2}).Extract()
	servertest.WantStatus(t, "a timeout beyond the delay", err, http.StatusBadRequest)
	if err := monitors.Delete(ctx, c, hm.ID).ExtractErr(); err != nil {
		t.Fatal(err)
	}
	waitLB(t, c, lb.ID, "ACTIVE")
	for _, path := range []string{"/a\nfrontend x", "/a#b", "/a'b", "/a\"b", "health"} {
		_, err = monitors.Create(ctx, c, monitors.CreateOpts{PoolID: pool.ID, Type: monitors.TypeHTTP, Delay: 2, Timeout: 1, MaxRetries: 2, URLPath: path}).Extract()
		servertest.WantStatus(t, "a monitor with url_path "+path, err, http.StatusBadRequest)
	}
	if hm, err = monitors.Create(ctx, c, monitors.CreateOpts{PoolID: pool.ID, Type: monitors.TypeHTTP, Delay: 2, Timeout: 1, MaxRetries: 2,
		URLPath: "/health?full=1", ExpectedCodes: "200-204"}).Extract(); err != nil {
		t.Fatal(err)
	}
	waitLB(t, c, lb.ID, "ACTIVE")
	_, err = loadbalancers.Get(ctx, c, "00000000-0000-0000-0000-000000000000").Extract()
	servertest.WantStatus(t, "an unknown load balancer", err, http.StatusNotFound)
	for _, tc := range []struct{ method, path, body string }{
		{"POST", "lbaas/loadbalancers", `{"loadbalancer": {"vip_subnet_id": `},
		{"POST", "lbaas/loadbalancers", `{"loadbalancer": {"vip_subnet_id": "` + sn.ID + `", "colour": "red"}}`},
		{"POST", "lbaas/loadbalancers", `{"loadbalancer": {"vip_subnet_id": 7}}`},
		{"POST", "lbaas/loadbalancers", `{"loadbalancer": {"name": "no vip"}}`},
		{"POST", "lbaas/loadbalancers", `{"loadbalancer": {"vip_subnet_id": "` + sn.ID + `", "provider": "amphora"}}`},
		{"POST", "lbaas/listeners", `{"listener": {"loadbalancer_id": "` + lb.ID + `", "protocol": "HTTP", "protocol_port": 70000}}`},
		{"POST", "lbaas/listeners", `{"listener": {"loadbalancer_id": "` + lb.ID + `", "protocol": "TCP", "protocol_port": 81, "insert_headers": {"X-Forwarded-For": "true"}}}`},
		{"POST", "lbaas/pools", `{"pool": {"loadbalancer_id": "` + lb.ID + `", "protocol": "TCP", "lb_algorithm": "ROUND_ROBIN", "session_persistence": {"type": "HTTP_COOKIE"}}}`},
		{"POST", "lbaas/pools", `{"pool": {"listener_id": "` + ls.ID + `", "protocol": "TCP", "lb_algorithm": "ROUND_ROBIN"}}`},
	} {
		status, body := raw(t, c, tc.method, tc.path, tc.body)
		if status != http.StatusBadRequest || body["faultstring"] == nil {
			t.Errorf("%s %s %s: %d %v", tc.method, tc.path, tc.body, status, body)
		}
	}
	if status, _ := raw(t, c, "GET", "octavia/amphorae", ""); status != http.StatusNotImplemented {
		t.Errorf("amphorae: %d", status)
	}
	all, err := loadbalancers.List(c, nil).AllPages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if l, _ := loadbalancers.ExtractLoadBalancers(all); len(l) != 1 {
		t.Fatalf("bad input made load balancers: %d", len(l))
	}

	// L7: /static to a second pool; requests with X-Block: yes rejected
	// first (position 1).
	static, err := pools.Create(ctx, c, pools.CreateOpts{LoadbalancerID: lb.ID, Name: "static", Protocol: pools.ProtocolHTTP, LBMethod: pools.LBMethodRoundRobin}).Extract()
	if err != nil {
		t.Fatal(err)
	}
	waitLB(t, c, lb.ID, "ACTIVE")
	toStatic, err := l7policies.Create(ctx, c, l7policies.CreateOpts{ListenerID: ls.ID, Action: l7policies.ActionRedirectToPool, RedirectPoolID: static.ID}).Extract()
	if err != nil {
		t.Fatal(err)
	}
	waitLB(t, c, lb.ID, "ACTIVE")
	if _, err := l7policies.CreateRule(ctx, c, toStatic.ID, l7policies.CreateRuleOpts{RuleType: l7policies.TypePath, CompareType: l7policies.CompareTypeStartWith, Value: "/static"}).Extract(); err != nil {
		t.Fatal(err)
	}
	waitLB(t, c, lb.ID, "ACTIVE")
	reject, err := l7policies.Create(ctx, c, l7policies.CreateOpts{ListenerID: ls.ID, Action: l7policies.ActionReject, Position: 1}).Extract()
	if err != nil {
		t.Fatal(err)
	}
	waitLB(t, c, lb.ID, "ACTIVE")
	if _, err := l7policies.CreateRule(ctx, c, reject.ID, l7policies.CreateRuleOpts{RuleType: l7policies.TypeHeader, CompareType: l7policies.CompareTypeEqual, Key: "X-Block", Value: "yes"}).Extract(); err != nil {
		t.Fatal(err)
	}
	waitLB(t, c, lb.ID, "ACTIVE")
	if p, err := l7policies.Get(ctx, c, toStatic.ID).Extract(); err != nil || p.Position != 2 || len(p.Rules) != 1 {
		t.Fatalf("the policy after one was put before it: %+v %v", p, err)
	}
	if pl := srv.LoadBalancers().Fake.Get(lb.ID).Listeners[0].Policies; len(pl) != 2 || pl[0].ID != reject.ID || pl[1].Pool != static.ID ||
		len(pl[1].Rules) != 1 || pl[1].Rules[0].Value != "/static" || pl[0].Rules[0].Key != "X-Block" {
		t.Fatalf("policies on the data plane: %+v", pl)
	}
	_, err = l7policies.CreateRule(ctx, c, toStatic.ID, l7policies.CreateRuleOpts{RuleType: l7policies.TypePath, CompareType: l7policies.CompareTypeEqual, Value: "/a b"}).Extract()
	servertest.WantStatus(t, "a rule value with a space", err, http.StatusBadRequest)
	_, err = l7policies.CreateRule(ctx, c, toStatic.ID, l7policies.CreateRuleOpts{RuleType: l7policies.TypeSSLConnHasCert, CompareType: l7policies.CompareTypeEqual, Value: "True"}).Extract()
	servertest.WantStatus(t, "an SSL rule", err, http.StatusNotImplemented)
	_, err = l7policies.CreateRule(ctx, c, toStatic.ID, l7policies.CreateRuleOpts{RuleType: l7policies.TypePath, CompareType: l7policies.CompareTypeRegex, Value: "^/(a+)+$"}).Extract()
	servertest.WantStatus(t, "a regex that backtracks", err, http.StatusBadRequest)
	var many []string
	for i := range 51 {
		many = append(many, fmt.Sprintf("192.0.2.%d/32", i))
	}
	_, err = listeners.Create(ctx, c, listeners.CreateOpts{LoadbalancerID: lb.ID, Protocol: listeners.ProtocolTCP, ProtocolPort: 2222, AllowedCIDRs: many}).Extract()
	servertest.WantStatus(t, "51 allowed CIDRs", err, http.StatusBadRequest)
	_, err = l7policies.Create(ctx, c, l7policies.CreateOpts{ListenerID: ls.ID, Action: l7policies.ActionRedirectToURL, RedirectURL: "javascript:alert(1)"}).Extract()
	servertest.WantStatus(t, "a redirect to a non-HTTP URL", err, http.StatusBadRequest)
	servertest.WantStatus(t, "delete a pool a policy uses", pools.Delete(ctx, c, static.ID).ExtractErr(), http.StatusConflict)

	// Another load balancer's pool is no pool of this one's.
	lb2, err := loadbalancers.Create(ctx, c, loadbalancers.CreateOpts{Name: "second", VipSubnetID: sn.ID}).Extract()
	if err != nil {
		t.Fatal(err)
	}
	waitLB(t, c, lb2.ID, "ACTIVE")
	foreign, err := pools.Create(ctx, c, pools.CreateOpts{LoadbalancerID: lb2.ID, Protocol: pools.ProtocolHTTP, LBMethod: pools.LBMethodRoundRobin}).Extract()
	if err != nil {
		t.Fatal(err)
	}
	waitLB(t, c, lb2.ID, "ACTIVE")
	_, err = listeners.Update(ctx, c, ls.ID, listeners.UpdateOpts{DefaultPoolID: &foreign.ID}).Extract()
	servertest.WantStatus(t, "another load balancer's pool as a default pool", err, http.StatusBadRequest)
	_, err = l7policies.Create(ctx, c, l7policies.CreateOpts{ListenerID: ls.ID, Action: l7policies.ActionRedirectToPool, RedirectPoolID: foreign.ID}).Extract()
	servertest.WantStatus(t, "a policy to another load balancer's pool", err, http.StatusBadRequest)
	if l, _ := listeners.Get(ctx, c, ls.ID).Extract(); l.DefaultPoolID != pool.ID {
		t.Fatalf("the listener's default pool is now %s", l.DefaultPoolID)
	}

	// A change while another is in flight is a 409 (the store holds the
	// load balancer PENDING_UPDATE as a change in flight does).
	db := srv.Store(t)
	if _, err := db.Exec(ctx, `UPDATE lb_loadbalancers SET provisioning_status = 'PENDING_UPDATE' WHERE id = ?`, lb.ID); err != nil {
		t.Fatal(err)
	}
	_, err = listeners.Create(ctx, c, listeners.CreateOpts{LoadbalancerID: lb.ID, Protocol: listeners.ProtocolTCP, ProtocolPort: 443}).Extract()
	servertest.WantStatus(t, "a listener while PENDING_UPDATE", err, http.StatusConflict)
	servertest.WantStatus(t, "delete while PENDING_UPDATE", loadbalancers.Delete(ctx, c, lb.ID, loadbalancers.DeleteOpts{Cascade: true}).ExtractErr(), http.StatusConflict)
	if _, err := db.Exec(ctx, `UPDATE lb_loadbalancers SET provisioning_status = 'ACTIVE' WHERE id = ?`, lb.ID); err != nil {
		t.Fatal(err)
	}

	// Admin down takes the members out of the data plane's rotation.
	down := false
	if _, err := pools.UpdateMember(ctx, c, pool.ID, memberIDs[1], pools.UpdateMemberOpts{AdminStateUp: &down}).Extract(); err != nil {
		t.Fatal(err)
	}
	waitLB(t, c, lb.ID, "ACTIVE")
	waitFor(t, "member offline", func() (bool, string) { s := memberStatus(memberIDs[1]); return s == "OFFLINE", s })
	seen := 0
	for _, dp := range srv.LoadBalancers().Fake.Get(lb.ID).Pools {
		for _, m := range dp.Members {
			seen++
			if m.Down != (m.ID == memberIDs[1]) {
				t.Fatalf("member on the data plane: %+v", m)
			}
		}
	}
	if seen != 2 {
		t.Fatalf("%d members on the data plane", seen)
	}

	servertest.WantStatus(t, "delete with children", loadbalancers.Delete(ctx, c, lb.ID, nil).ExtractErr(), http.StatusBadRequest)
	if err := loadbalancers.Delete(ctx, c, lb.ID, loadbalancers.DeleteOpts{Cascade: true}).ExtractErr(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "load balancer gone", func() (bool, string) {
		_, err := loadbalancers.Get(ctx, c, lb.ID).Extract()
		return servertest.IsStatus(err, http.StatusNotFound), "still there"
	})
	_, err = ports.Get(ctx, nc, lb.VipPortID).Extract()
	servertest.WantStatus(t, "the VIP port after delete", err, http.StatusNotFound)
	_, err = pools.Get(ctx, c, pool.ID).Extract()
	servertest.WantStatus(t, "the pool after delete", err, http.StatusNotFound)
	if srv.LoadBalancers().Fake.Get(lb.ID) != nil {
		t.Fatal("the data plane still has the load balancer")
	}
}

// TestLoadBalancerIsolation: another project cannot see, change or use a
// load balancer, nor put a VIP or members on this project's subnet; its
// quota holds.
func TestLoadBalancerIsolation(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, servertest.Fake)
	pa := srv.Provider(t, srv.NewTenant(t, "lb-owner", "member"))
	b := srv.NewTenant(t, "lb-other", "member")
	pb := srv.Provider(t, b)
	ca, cb := lbClient(t, pa), lbClient(t, pb)
	sn := subnetOf(t, netClient(t, pa), servertest.TenantNetwork(t, pa, "a", "10.30.0.0/24"))
	snB := subnetOf(t, netClient(t, pb), servertest.TenantNetwork(t, pb, "b", "10.30.0.0/24"))

	lb, err := loadbalancers.Create(ctx, ca, loadbalancers.CreateOpts{VipSubnetID: sn.ID}).Extract()
	if err != nil {
		t.Fatal(err)
	}
	waitLB(t, ca, lb.ID, "ACTIVE")
	pool, err := pools.Create(ctx, ca, pools.CreateOpts{LoadbalancerID: lb.ID, Protocol: pools.ProtocolTCP, LBMethod: pools.LBMethodLeastConnections}).Extract()
	if err != nil {
		t.Fatal(err)
	}
	waitLB(t, ca, lb.ID, "ACTIVE")

	_, err = loadbalancers.Get(ctx, cb, lb.ID).Extract()
	servertest.WantStatus(t, "B reads A's load balancer", err, http.StatusNotFound)
	name := "mine"
	_, err = loadbalancers.Update(ctx, cb, lb.ID, loadbalancers.UpdateOpts{Name: &name}).Extract()
	servertest.WantStatus(t, "B renames A's load balancer", err, http.StatusNotFound)
	servertest.WantStatus(t, "B deletes A's load balancer", loadbalancers.Delete(ctx, cb, lb.ID, loadbalancers.DeleteOpts{Cascade: true}).ExtractErr(), http.StatusNotFound)
	_, err = listeners.Create(ctx, cb, listeners.CreateOpts{LoadbalancerID: lb.ID, Protocol: listeners.ProtocolTCP, ProtocolPort: 22}).Extract()
	servertest.WantStatus(t, "B adds a listener to A's load balancer", err, http.StatusNotFound)
	_, err = pools.CreateMember(ctx, cb, pool.ID, pools.CreateMemberOpts{Address: "10.30.0.9", ProtocolPort: 22}).Extract()
	servertest.WantStatus(t, "B adds a member to A's pool", err, http.StatusNotFound)
	_, err = loadbalancers.Create(ctx, cb, loadbalancers.CreateOpts{VipSubnetID: sn.ID}).Extract()
	servertest.WantStatus(t, "B puts a VIP on A's subnet", err, http.StatusBadRequest)
	// On a network shared with it, B may put a VIP but not pick its address.
	shared := true
	adminNet := netClient(t, srv.Admin(t).ProviderClient)
	if _, err := networks.Update(ctx, adminNet, sn.NetworkID, networks.UpdateOpts{Shared: &shared}).Extract(); err != nil {
		t.Fatal(err)
	}
	_, err = loadbalancers.Create(ctx, cb, loadbalancers.CreateOpts{VipSubnetID: sn.ID, VipAddress: "10.30.0.200"}).Extract()
	servertest.WantStatus(t, "B picks a VIP address on A's shared network", err, http.StatusBadRequest)
	onShared, err := loadbalancers.Create(ctx, cb, loadbalancers.CreateOpts{VipSubnetID: sn.ID}).Extract()
	if err != nil {
		t.Fatalf("B's VIP on A's shared network: %v", err)
	}
	waitLB(t, cb, onShared.ID, "ACTIVE")
	if err := loadbalancers.Delete(ctx, cb, onShared.ID, nil).ExtractErr(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "B's load balancer gone", func() (bool, string) {
		_, err := loadbalancers.Get(ctx, cb, onShared.ID).Extract()
		return servertest.IsStatus(err, http.StatusNotFound), "still there"
	})
	shared = false
	if _, err := networks.Update(ctx, adminNet, sn.NetworkID, networks.UpdateOpts{Shared: &shared}).Extract(); err != nil {
		t.Fatal(err)
	}
	// An admin makes a load balancer for B: its VIP port is B's.
	adminLB := lbClient(t, srv.Admin(t).ProviderClient)
	forB, err := loadbalancers.Create(ctx, adminLB, loadbalancers.CreateOpts{VipSubnetID: snB.ID, ProjectID: b.ProjectID}).Extract()
	if err != nil {
		t.Fatal(err)
	}
	if vp, err := ports.Get(ctx, adminNet, forB.VipPortID).Extract(); err != nil || vp.ProjectID != b.ProjectID || forB.ProjectID != b.ProjectID {
		t.Fatalf("an admin's load balancer for B: %+v, its port %+v (%v)", forB, vp, err)
	}
	waitLB(t, adminLB, forB.ID, "ACTIVE")
	if err := loadbalancers.Delete(ctx, adminLB, forB.ID, nil).ExtractErr(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the admin's load balancer for B gone", func() (bool, string) {
		_, err := loadbalancers.Get(ctx, adminLB, forB.ID).Extract()
		return servertest.IsStatus(err, http.StatusNotFound), "still there"
	})
	_, err = pools.CreateMember(ctx, ca, pool.ID, pools.CreateMemberOpts{Address: "10.30.0.9", ProtocolPort: 22, SubnetID: snB.ID}).Extract()
	servertest.WantStatus(t, "A names B's subnet for a member", err, http.StatusBadRequest)
	for _, pages := range []func() (int, error){
		func() (int, error) {
			p, err := loadbalancers.List(cb, nil).AllPages(ctx)
			l, _ := loadbalancers.ExtractLoadBalancers(p)
			return len(l), err
		},
		func() (int, error) {
			p, err := pools.List(cb, nil).AllPages(ctx)
			l, _ := pools.ExtractPools(p)
			return len(l), err
		},
	} {
		if n, err := pages(); err != nil || n != 0 {
			t.Fatalf("B lists %d of A's resources (%v)", n, err)
		}
	}
	if lbNow := waitLB(t, ca, lb.ID, "ACTIVE"); lbNow.Name != "" {
		t.Fatalf("B's requests changed A's load balancer: %+v", lbNow)
	}

	// Quotas: an admin caps B at one load balancer.
	one := 1
	admin := lbClient(t, srv.Admin(t).ProviderClient)
	if _, err := quotas.Update(ctx, admin, b.ProjectID, quotas.UpdateOpts{Loadbalancer: &one}).Extract(); err != nil {
		t.Fatal(err)
	}
	_, err = quotas.Update(ctx, cb, b.ProjectID, quotas.UpdateOpts{Loadbalancer: &one}).Extract()
	servertest.WantStatus(t, "B sets its own quota", err, http.StatusForbidden)
	first, err := loadbalancers.Create(ctx, cb, loadbalancers.CreateOpts{VipSubnetID: snB.ID}).Extract()
	if err != nil {
		t.Fatal(err)
	}
	_, err = loadbalancers.Create(ctx, cb, loadbalancers.CreateOpts{VipSubnetID: snB.ID}).Extract()
	servertest.WantStatus(t, "B beyond its quota", err, http.StatusForbidden)
	if first.VipNetworkID == lb.VipNetworkID {
		t.Fatal("B's VIP is on A's network")
	}
}

func jsonString(v any) string { b, _ := json.Marshal(v); return string(b) }

// TestBatchMembers replaces a pool's members in one request (gophercloud's
// BatchUpdateMembers): listed ones are updated or made, the others go.
func TestBatchMembers(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, servertest.Fake)
	p := srv.Provider(t, srv.NewTenant(t, "batch", "member"))
	c := lbClient(t, p)
	sn := subnetOf(t, netClient(t, p), servertest.TenantNetwork(t, p, "web", "10.46.0.0/24"))
	lb, err := loadbalancers.Create(ctx, c, loadbalancers.CreateOpts{VipSubnetID: sn.ID}).Extract()
	if err != nil {
		t.Fatal(err)
	}
	waitLB(t, c, lb.ID, "ACTIVE")
	pool, err := pools.Create(ctx, c, pools.CreateOpts{LoadbalancerID: lb.ID, Protocol: pools.ProtocolTCP, LBMethod: pools.LBMethodRoundRobin}).Extract()
	if err != nil {
		t.Fatal(err)
	}
	waitLB(t, c, lb.ID, "ACTIVE")
	for _, a := range []string{"10.46.0.11", "10.46.0.12"} {
		if _, err := pools.CreateMember(ctx, c, pool.ID, pools.CreateMemberOpts{Address: a, ProtocolPort: 22}).Extract(); err != nil {
			t.Fatal(err)
		}
		waitLB(t, c, lb.ID, "ACTIVE")
	}
	keep, weight := "kept", 5
	err = pools.BatchUpdateMembers(ctx, c, pool.ID, []pools.BatchUpdateMemberOpts{
		{Address: "10.46.0.11", ProtocolPort: 22, Name: &keep, Weight: &weight},
		{Address: "10.46.0.13", ProtocolPort: 22},
	}).ExtractErr()
	if err != nil {
		t.Fatal(err)
	}
	waitLB(t, c, lb.ID, "ACTIVE")
	pages, err := pools.ListMembers(c, pool.ID, nil).AllPages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ms, _ := pools.ExtractMembers(pages)
	got := map[string]pools.Member{}
	for _, m := range ms {
		got[m.Address] = m
	}
	if len(ms) != 2 || got["10.46.0.11"].Name != "kept" || got["10.46.0.11"].Weight != 5 || got["10.46.0.13"].ProvisioningStatus != "ACTIVE" {
		t.Fatalf("members after the batch: %+v", ms)
	}
	err = pools.BatchUpdateMembers(ctx, c, pool.ID, []pools.BatchUpdateMemberOpts{{Address: "10.46.0.14", ProtocolPort: 22}, {Address: "10.46.0.14", ProtocolPort: 22}}).ExtractErr()
	servertest.WantStatus(t, "one member twice in a batch", err, http.StatusConflict)
	other := lbClient(t, srv.Provider(t, srv.NewTenant(t, "batch-other", "member")))
	err = pools.BatchUpdateMembers(ctx, other, pool.ID, []pools.BatchUpdateMemberOpts{{Address: "10.46.0.15", ProtocolPort: 22}}).ExtractErr()
	servertest.WantStatus(t, "another project's batch", err, http.StatusNotFound)
	if dp := srv.LoadBalancers().Fake.Get(lb.ID); len(dp.Pools[0].Members) != 2 {
		t.Fatalf("members on the data plane: %+v", dp.Pools[0].Members)
	}
}
