package cli_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sovcloud/sov/internal/network/dataplane"
	"github.com/sovcloud/sov/internal/store"
)

// haproxyPid is the recorded HAProxy of a load balancer of the cloud in
// dir, if it runs.
func haproxyPid(t *testing.T, dir, lb string) int {
	t.Helper()
	db, err := store.Open(context.Background(), filepath.Join(dir, "sov.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var pid int
	db.QueryRow(context.Background(), `SELECT pid FROM engine_processes WHERE kind = 'haproxy' AND name = ?`, lb).Scan(&pid)
	if pid == 0 || !alive(pid) {
		return 0
	}
	return pid
}

// alive reports whether a process runs (a zombie does not).
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	return err == nil && !strings.Contains(string(b), ") Z ")
}

// served reports whether HAProxy answers at url (503: no member is up,
// as none runs here, but the data plane is there).
func served(url string) bool {
	c := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get(url)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusServiceUnavailable
}

// TestKillSettlesLoadBalancers kills sov with SIGKILL while a load
// balancer's listeners change: HAProxy serves on through the kill; after
// the restart the load balancer is ACTIVE again (not stuck PENDING), its
// HAProxy is the same process (adopted), every listener the API lists is
// served, and a cascade delete leaves no process or namespace.
func TestKillSettlesLoadBalancers(t *testing.T) {
	dir := t.TempDir()
	cmd, authURL, _ := sovProcess(t, dir)
	pw, _ := os.ReadFile(dir + "/admin-password")
	password := strings.TrimSpace(string(pw))
	tok, _, _ := adminToken(t, authURL, password)
	root := strings.TrimSuffix(authURL, "/identity/v3")
	base := root + "/network"
	lbURL := root + "/load-balancer/v2/lbaas/"
	lbAPI := func(method, path, body string, out any) int { return apiRequest(lbURL+path, tok, method, body, out) }

	var n struct{ Network struct{ ID string } }
	if st := neutron(t, base, tok, "POST", "networks", `{"network": {"name": "lb"}}`, &n); st != 201 {
		t.Fatalf("network create = %d", st)
	}
	var sn struct{ Subnet struct{ ID string } }
	if st := neutron(t, base, tok, "POST", "subnets", fmt.Sprintf(`{"subnet": {"network_id": %q, "ip_version": 4, "cidr": "10.71.0.0/24"}}`, n.Network.ID), &sn); st != 201 {
		t.Fatalf("subnet create = %d", st)
	}
	var public struct{ Networks []struct{ ID string } }
	neutron(t, base, tok, "GET", "networks?name=public", "", &public)
	var r struct{ Router struct{ ID string } }
	if st := neutron(t, base, tok, "POST", "routers", fmt.Sprintf(`{"router": {"external_gateway_info": {"network_id": %q}}}`, public.Networks[0].ID), &r); st != 201 {
		t.Fatalf("router create = %d", st)
	}
	if st := neutron(t, base, tok, "PUT", "routers/"+r.Router.ID+"/add_router_interface", fmt.Sprintf(`{"subnet_id": %q}`, sn.Subnet.ID), nil); st != 200 {
		t.Fatalf("router interface = %d", st)
	}

	var lb struct {
		LoadBalancer struct {
			ID, VipPortID, ProvisioningStatus string
		} `json:"loadbalancer"`
	}
	status := func() string {
		var out struct {
			LoadBalancer struct {
				ProvisioningStatus string `json:"provisioning_status"`
			} `json:"loadbalancer"`
		}
		lbAPI("GET", "loadbalancers/"+lb.LoadBalancer.ID, "", &out)
		return out.LoadBalancer.ProvisioningStatus
	}
	waitActive := func() {
		t.Helper()
		for deadline := time.Now().Add(60 * time.Second); status() != "ACTIVE"; time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("load balancer is %q", status())
			}
		}
	}
	if st := lbAPI("POST", "loadbalancers", fmt.Sprintf(`{"loadbalancer": {"vip_subnet_id": %q}}`, sn.Subnet.ID), &lb); st != 201 {
		t.Fatalf("loadbalancer create = %d", st)
	}
	waitActive()
	var vip struct {
		LoadBalancer struct {
			VipPortID string `json:"vip_port_id"`
		} `json:"loadbalancer"`
	}
	lbAPI("GET", "loadbalancers/"+lb.LoadBalancer.ID, "", &vip)
	var fip struct {
		FloatingIP struct {
			Address string `json:"floating_ip_address"`
		} `json:"floatingip"`
	}
	if st := neutron(t, base, tok, "POST", "floatingips", fmt.Sprintf(`{"floatingip": {"floating_network_id": %q, "port_id": %q}}`,
		public.Networks[0].ID, vip.LoadBalancer.VipPortID), &fip); st != 201 {
		t.Fatalf("floating ip = %d", st)
	}
	listener := func(port int) int {
		return lbAPI("POST", "listeners", fmt.Sprintf(`{"listener": {"loadbalancer_id": %q, "protocol": "HTTP", "protocol_port": %d}}`, lb.LoadBalancer.ID, port), nil)
	}
	if st := listener(80); st != 201 {
		t.Fatalf("listener create = %d", st)
	}
	waitActive()
	url := "http://" + fip.FloatingIP.Address + "/"
	for deadline := time.Now().Add(30 * time.Second); !served(url); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("HAProxy does not answer through the floating IP")
		}
	}
	pid := haproxyPid(t, dir, lb.LoadBalancer.ID)
	if pid == 0 {
		t.Fatal("no HAProxy recorded")
	}

	// A listener change, and the kill while it is (probably) in flight.
	if st := listener(81); st != 201 {
		t.Fatalf("second listener create = %d", st)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	if !served(url) {
		t.Fatal("HAProxy stopped serving when sov was killed")
	}

	cmd, authURL, _ = sovProcess(t, dir)
	tok, _, _ = adminToken(t, authURL, password)
	root = strings.TrimSuffix(authURL, "/identity/v3")
	lbURL = root + "/load-balancer/v2/lbaas/"
	waitActive()
	if now := haproxyPid(t, dir, lb.LoadBalancer.ID); now != pid {
		t.Fatalf("HAProxy after the restart: %d, before %d", now, pid)
	}
	var ls struct {
		Listeners []struct {
			ProtocolPort       int    `json:"protocol_port"`
			ProvisioningStatus string `json:"provisioning_status"`
		}
	}
	lbAPI("GET", "listeners", "", &ls)
	if len(ls.Listeners) != 2 {
		t.Fatalf("listeners after the restart: %+v", ls.Listeners)
	}
	for _, l := range ls.Listeners {
		if l.ProvisioningStatus != "ACTIVE" {
			t.Fatalf("listener %d is %s after the restart", l.ProtocolPort, l.ProvisioningStatus)
		}
		u := fmt.Sprintf("http://%s:%d/", fip.FloatingIP.Address, l.ProtocolPort)
		for deadline := time.Now().Add(30 * time.Second); !served(u); time.Sleep(100 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("listener %d is not served after the restart", l.ProtocolPort)
			}
		}
	}

	if st := lbAPI("DELETE", "loadbalancers/"+lb.LoadBalancer.ID+"?cascade=true", "", nil); st != 204 {
		t.Fatalf("cascade delete = %d", st)
	}
	for deadline := time.Now().Add(30 * time.Second); lbAPI("GET", "loadbalancers/"+lb.LoadBalancer.ID, "", nil) != 404; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the load balancer was not deleted")
		}
	}
	if alive(pid) {
		t.Fatal("HAProxy runs after the delete")
	}
	if _, err := os.Stat("/run/netns/" + dataplane.PortNamespace(vip.LoadBalancer.VipPortID)); err == nil {
		t.Fatal("the VIP's namespace is left")
	}
	if out, _ := exec.Command("pgrep", "-f", "loadbalancers/"+lb.LoadBalancer.ID).Output(); len(out) > 0 {
		t.Fatalf("processes of the load balancer left: %s", out)
	}
}
