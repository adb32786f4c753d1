package cli_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
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
	req, _ := http.NewRequest(method, base+"/v2.0/"+path, bytes.NewBufferString(body))
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
// made and removed on three networks; after the restart every network's
// DHCP server runs and serves exactly the ports the API lists, and no
// namespace, bridge or state is left of a network that was deleted.
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

	// Ports come and go on the three networks until the kill.
	var wg sync.WaitGroup
	var mu sync.Mutex
	acked := 0
	stop := make(chan struct{})
	for _, n := range nets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				var p struct{ Port struct{ ID string } }
				if neutron(t, base, tok, "POST", "ports", fmt.Sprintf(`{"port": {"network_id": %q}}`, n), &p) != 201 {
					return
				}
				mu.Lock()
				acked++
				mu.Unlock()
				if i%3 == 0 && neutron(t, base, tok, "DELETE", "ports/"+p.Port.ID, "", nil) != 204 {
					return
				}
			}
		}()
	}
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(5 * time.Millisecond) {
		mu.Lock()
		n := acked
		mu.Unlock()
		if n >= 30 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d ports made in a minute", n)
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
	if _, err := os.Stat(filepath.Join(state, gone)); err == nil {
		t.Errorf("state of the deleted network %s is back", gone)
	}
	if _, err := os.Stat("/run/netns/sovd-" + strings.ReplaceAll(gone, "-", "")[:11]); err == nil {
		t.Errorf("the deleted network's namespace is there")
	}
}
