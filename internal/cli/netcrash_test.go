package cli_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sovcloud/sov/internal/servertest"
)

// neutron sends one request to the network API and decodes the answer.
func neutron(t *testing.T, base, token, method, path, body string, out any) int {
	t.Helper()
	return apiRequest(base+"/v2.0/"+path, token, method, body, out)
}

// apiRequest sends one request with a token to an OpenStack API and
// decodes the answer; 0 when sov does not answer (it was killed).
func apiRequest(url, token, method, body string, out any) int {
	req, _ := http.NewRequest(method, url, bytes.NewBufferString(body))
	req.Header.Set("X-Auth-Token", token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0 // sov was killed
	}
	defer resp.Body.Close()
	if out != nil {
		json.NewDecoder(resp.Body).Decode(out)
	}
	return resp.StatusCode
}

// TestKillKeepsDataplaneInStep kills sov with SIGKILL while ports are
// made and removed on three networks, security group rules on a bound
// port's group and routers; after the restart every network's DHCP server
// runs and serves exactly the ports the API lists, the port's filter holds
// exactly the rules the API lists, every router the API lists has its
// namespace and no other router's state is left, and no namespace,
// bridge or state is left of a network that was deleted.
func TestKillKeepsDataplaneInStep(t *testing.T) {
	dir := t.TempDir()
	t.Cleanup(func() { servertest.RemoveHostState(dir) })
	cmd, authURL, _ := sovProcess(t, dir)
	pw, _ := os.ReadFile(dir + "/admin-password")
	password := strings.TrimSpace(string(pw))
	tok, _, _ := adminToken(t, authURL, password)
	base := strings.TrimSuffix(authURL, "/identity/v3") + "/network"

	var nets []string
	for i := range 4 {
		var n struct{ Network struct{ ID string } }
		if st := neutron(t, base, tok, "POST", "networks", fmt.Sprintf(`{"network": {"name": "n%d"}}`, i), &n); st != 201 {
			t.Fatalf("network create = %d", st)
		}
		if st := neutron(t, base, tok, "POST", "subnets", fmt.Sprintf(`{"subnet": {"network_id": %q, "ip_version": 4, "cidr": "10.70.%d.0/24"}}`, n.Network.ID, i), nil); st != 201 {
			t.Fatalf("subnet create = %d", st)
		}
		nets = append(nets, n.Network.ID)
	}
	// One network goes before the kill.
	if st := neutron(t, base, tok, "DELETE", "networks/"+nets[3], "", nil); st != 204 {
		t.Fatalf("network delete = %d", st)
	}
	gone := nets[3]
	nets = nets[:3]

	// A port bound to a VM of this host (as compute binds them) in a group
	// of its own: the group's rules are in its network's filter.
	var sg struct {
		SecurityGroup struct{ ID string } `json:"security_group"`
	}
	if st := neutron(t, base, tok, "POST", "security-groups", `{"security_group": {"name": "crash"}}`, &sg); st != 201 {
		t.Fatalf("security group create = %d", st)
	}
	bound := fmt.Sprintf(`{"port": {"network_id": %q, "device_owner": "compute:nova", "device_id": "0b0e0f00-0000-4000-8000-000000000001",
		"binding:host_id": "crash-host", "security_groups": [%q]}}`, nets[0], sg.SecurityGroup.ID)
	if st := neutron(t, base, tok, "POST", "ports", bound, nil); st != 201 {
		t.Fatalf("bound port create = %d", st)
	}
	var public struct{ Networks []struct{ ID string } }
	if st := neutron(t, base, tok, "GET", "networks?name=public", "", &public); st != 200 || len(public.Networks) != 1 {
		t.Fatalf("public network: %d %v", st, public)
	}

	// Ports come and go on the three networks, rules in the group and
	// routers to the external network, until the kill.
	var wg sync.WaitGroup
	var mu sync.Mutex
	acked, rulesAcked, routersAcked := 0, 0, 0
	var goneRouters []string
	stop := make(chan struct{})
	loop := func(step func(i int) bool) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if !step(i) {
					return
				}
			}
		}()
	}
	loop(func(i int) bool {
		var r struct {
			SecurityGroupRule struct{ ID string } `json:"security_group_rule"`
		}
		if neutron(t, base, tok, "POST", "security-group-rules", fmt.Sprintf(`{"security_group_rule": {"security_group_id": %q,
			"direction": "ingress", "protocol": "tcp", "port_range_min": %d, "port_range_max": %d}}`, sg.SecurityGroup.ID, 20000+i, 20000+i), &r) != 201 {
			return false
		}
		mu.Lock()
		rulesAcked++
		mu.Unlock()
		return i%3 != 0 || neutron(t, base, tok, "DELETE", "security-group-rules/"+r.SecurityGroupRule.ID, "", nil) == 204
	})
	loop(func(i int) bool {
		var r struct{ Router struct{ ID string } }
		if neutron(t, base, tok, "POST", "routers", fmt.Sprintf(`{"router": {"name": "r%d", "external_gateway_info": {"network_id": %q}}}`, i, public.Networks[0].ID), &r) != 201 {
			return false
		}
		mu.Lock()
		routersAcked++
		mu.Unlock()
		if i%2 == 0 {
			return true
		}
		if neutron(t, base, tok, "DELETE", "routers/"+r.Router.ID, "", nil) != 204 {
			return false
		}
		mu.Lock()
		goneRouters = append(goneRouters, r.Router.ID)
		mu.Unlock()
		return true
	})
	for _, n := range nets {
		loop(func(i int) bool {
			var p struct{ Port struct{ ID string } }
			if neutron(t, base, tok, "POST", "ports", fmt.Sprintf(`{"port": {"network_id": %q}}`, n), &p) != 201 {
				return false
			}
			mu.Lock()
			acked++
			mu.Unlock()
			return i%3 != 0 || neutron(t, base, tok, "DELETE", "ports/"+p.Port.ID, "", nil) == 204
		})
	}
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(5 * time.Millisecond) {
		mu.Lock()
		n, nr, nt := acked, rulesAcked, routersAcked
		mu.Unlock()
		if n >= 30 && nr >= 5 && nt >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("in a minute only %d ports, %d rules and %d routers made", n, nr, nt)
		}
	}
	cmd.Process.Signal(syscall.SIGKILL)
	close(stop)
	wg.Wait()
	cmd.Wait()

	_, authURL, _ = sovProcess(t, dir)
	tok, _, _ = adminToken(t, authURL, password)
	base = strings.TrimSuffix(authURL, "/identity/v3") + "/network"
	state := filepath.Join(dir, "network")
	for _, n := range nets {
		var ports struct {
			Ports []struct {
				MAC      string `json:"mac_address"`
				Owner    string `json:"device_owner"`
				FixedIPs []struct {
					IP string `json:"ip_address"`
				} `json:"fixed_ips"`
			}
		}
		if st := neutron(t, base, tok, "GET", "ports?network_id="+n, "", &ports); st != 200 {
			t.Fatalf("port list = %d", st)
		}
		var want []string
		for _, p := range ports.Ports {
			if p.Owner != "network:dhcp" {
				want = append(want, p.MAC+","+p.FixedIPs[0].IP+",host-"+strings.ReplaceAll(p.FixedIPs[0].IP, ".", "-"))
			}
		}
		slices.Sort(want)
		hosts, err := os.ReadFile(filepath.Join(state, n, "hosts"))
		if err != nil {
			t.Fatalf("network %s has no DHCP reservations after the restart: %v", n, err)
		}
		if got := strings.Fields(string(hosts)); !slices.Equal(got, want) {
			t.Errorf("network %s: DHCP serves %d reservations, the API lists %d ports:\n%v\n%v", n, len(got), len(want), got, want)
		}
		pid, err := os.ReadFile(filepath.Join(state, n, "dnsmasq.pid"))
		if err != nil {
			t.Fatalf("network %s: %v", n, err)
		}
		if _, err := os.Stat("/proc/" + strings.TrimSpace(string(pid))); err != nil {
			t.Errorf("network %s: its dnsmasq (%s) does not run", n, strings.TrimSpace(string(pid)))
		}
		if _, err := os.Stat("/run/netns/sovd-" + strings.ReplaceAll(n, "-", "")[:11]); err != nil {
			t.Errorf("network %s: no DHCP namespace: %v", n, err)
		}
	}
	// The bound port's filter has the group's rules, each once.
	var rules struct {
		Rules []struct {
			Protocol *string
			Min      *int `json:"port_range_min"`
		} `json:"security_group_rules"`
	}
	if st := neutron(t, base, tok, "GET", "security-group-rules?security_group_id="+sg.SecurityGroup.ID, "", &rules); st != 200 {
		t.Fatalf("rule list = %d", st)
	}
	var want []string
	for _, r := range rules.Rules {
		if r.Min != nil {
			want = append(want, strconv.Itoa(*r.Min))
		}
	}
	table, err := exec.Command("nft", "list", "table", "inet", "sovn_"+strings.ReplaceAll(nets[0], "-", "")[:11]).CombinedOutput()
	if err != nil {
		t.Fatalf("the filter of network %s: %v %s", nets[0], err, table)
	}
	var got []string
	for _, m := range regexp.MustCompile(`tcp dport (2\d{4}) `).FindAllStringSubmatch(string(table), -1) {
		got = append(got, m[1])
	}
	slices.Sort(want)
	slices.Sort(got)
	if len(want) == 0 || !slices.Equal(got, want) {
		t.Errorf("the filter has rules for ports %v, the API lists %v", got, want)
	}
	// Every router listed has its namespace; no other router's state is left.
	var routers struct{ Routers []struct{ ID string } }
	if st := neutron(t, base, tok, "GET", "routers", "", &routers); st != 200 {
		t.Fatalf("router list = %d", st)
	}
	var listed []string
	for _, r := range routers.Routers {
		listed = append(listed, r.ID)
		if _, err := os.Stat("/run/netns/sovr-" + strings.ReplaceAll(r.ID, "-", "")[:11]); err != nil {
			t.Errorf("router %s has no namespace: %v", r.ID, err)
		}
	}
	entries, _ := os.ReadDir(filepath.Join(state, "routers"))
	var kept []string
	for _, e := range entries {
		kept = append(kept, e.Name())
	}
	slices.Sort(listed)
	if !slices.Equal(kept, listed) {
		t.Errorf("router state on the host %v, the API lists %v", kept, listed)
	}
	for _, id := range goneRouters {
		if _, err := os.Stat("/run/netns/sovr-" + strings.ReplaceAll(id, "-", "")[:11]); err == nil {
			t.Errorf("the deleted router %s has a namespace", id)
		}
	}
	if _, err := os.Stat(filepath.Join(state, gone)); err == nil {
		t.Errorf("state of the deleted network %s is back", gone)
	}
	if _, err := os.Stat("/run/netns/sovd-" + strings.ReplaceAll(gone, "-", "")[:11]); err == nil {
		t.Errorf("the deleted network's namespace is there")
	}
}
