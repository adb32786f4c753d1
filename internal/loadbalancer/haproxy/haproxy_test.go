package haproxy

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sovcloud/sov/internal/loadbalancer/provider"
	"github.com/sovcloud/sov/internal/network/linux"
	"github.com/sovcloud/sov/internal/testcert"
)

var ctx = context.Background()

// engines is a registry of the test's own: the processes it started.
type engines struct {
	mu    sync.Mutex
	procs map[string]*exec.Cmd
}

func (e *engines) Start(_ context.Context, kind, name string, cmd *exec.Cmd) error {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.procs[kind+"/"+name] = cmd
	return nil
}

func (e *engines) Running(_ context.Context, kind, name string) (int, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	c, ok := e.procs[kind+"/"+name]
	if !ok || syscall.Kill(c.Process.Pid, 0) != nil {
		return 0, false
	}
	// A zombie (exited, not yet waited for) is not running.
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", c.Process.Pid)); err != nil || strings.Contains(string(b), ") Z ") {
		return 0, false
	}
	return c.Process.Pid, true
}

func (e *engines) Stop(_ context.Context, kind, name string, grace time.Duration) error {
	e.mu.Lock()
	c, ok := e.procs[kind+"/"+name]
	delete(e.procs, kind+"/"+name)
	e.mu.Unlock()
	if ok {
		c.Process.Signal(syscall.SIGTERM)
		time.Sleep(100 * time.Millisecond)
		c.Process.Kill()
	}
	return nil
}

func run(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%v: %v: %s", args, err, out)
	}
}

// pair makes two namespaces joined by a veth: the load balancer's (the
// VIP 10.99.0.1) and the members' (10.99.0.11 and .12), and returns their names.
func pair(t *testing.T) (lbNS, memberNS string) {
	t.Helper()
	b := make([]byte, 3)
	rand.Read(b)
	id := hex.EncodeToString(b)
	lbNS, memberNS = "sovtl-"+id, "sovtm-"+id
	run(t, "ip", "netns", "add", lbNS)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", lbNS).Run() })
	run(t, "ip", "netns", "add", memberNS)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", memberNS).Run() })
	run(t, "ip", "link", "add", "lb"+id, "netns", lbNS, "type", "veth", "peer", "name", "mb"+id, "netns", memberNS)
	run(t, "ip", "-n", lbNS, "addr", "add", "10.99.0.1/24", "dev", "lb"+id)
	run(t, "ip", "-n", memberNS, "addr", "add", "10.99.0.11/24", "dev", "mb"+id)
	run(t, "ip", "-n", memberNS, "addr", "add", "10.99.0.12/24", "dev", "mb"+id)
	for _, ns := range []string{lbNS, memberNS} {
		run(t, "ip", "-n", ns, "link", "set", "lo", "up")
	}
	run(t, "ip", "-n", lbNS, "link", "set", "lb"+id, "up")
	run(t, "ip", "-n", memberNS, "link", "set", "mb"+id, "up")
	return lbNS, memberNS
}

// listen opens a TCP listener in a namespace.
func listen(t *testing.T, ns, addr string) net.Listener {
	t.Helper()
	var ln net.Listener
	err := linux.InNamespace(ns, func() (err error) { ln, err = net.Listen("tcp", addr); return err })
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// member serves HTTP answering its name (and /health), until closed.
func member(t *testing.T, ns, addr, name string) *http.Server {
	t.Helper()
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %s", name, r.Header.Get("X-Forwarded-For"))
	})}
	go srv.Serve(listen(t, ns, addr))
	t.Cleanup(func() { srv.Close() })
	return srv
}

// get fetches a URL from inside a namespace.
func get(ns, url string) (string, error) {
	c := &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{DisableKeepAlives: true,
		DialContext: func(ctx context.Context, network, addr string) (conn net.Conn, err error) {
			err = linux.InNamespace(ns, func() error {
				var d net.Dialer
				conn, err = d.DialContext(ctx, network, addr)
				return err
			})
			return conn, err
		}}}
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func waitStatus(t *testing.T, d *Driver, lb, member, want string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, err := d.Status(ctx, lb)
		if err == nil && st.Members[member] == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("member %s: %v (%v), want %s", member, st, err, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestHAProxyOnTheWire runs a real HAProxy in a namespace: requests to the
// VIP alternate between two members, a health monitor takes a stopped
// member out and brings it back, a reload keeps an established TCP
// connection, a TCP listener limited to CIDRs refuses others, a killed
// HAProxy is started again by Set, and Remove leaves nothing.
func TestHAProxyOnTheWire(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root for namespaces") // CI runs as root
	}
	lbNS, memberNS := pair(t)
	reg := &engines{procs: map[string]*exec.Cmd{}}
	d, err := New(t.TempDir(), reg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Remove(ctx, "lb1") })
	member(t, memberNS, "10.99.0.11:8080", "one")
	two := member(t, memberNS, "10.99.0.12:8080", "two")
	echo := listen(t, memberNS, "10.99.0.11:7000")
	defer echo.Close()
	go func() {
		for {
			c, err := echo.Accept()
			if err != nil {
				return
			}
			go io.Copy(c, c)
		}
	}()

	vip := netip.MustParseAddr("10.99.0.1")
	lb := &provider.LoadBalancer{ID: "lb1", Namespace: lbNS, VIP: vip,
		Listeners: []provider.Listener{{ID: "web", Protocol: provider.HTTP, Port: 80, DefaultPool: "p1", ForwardedFor: true}},
		Pools: []provider.Pool{{ID: "p1", Protocol: provider.HTTP, Algorithm: provider.RoundRobin,
			Monitor: &provider.Monitor{Type: provider.MonitorHTTP, Delay: 1, Timeout: 1, Rise: 1, Fall: 1, Method: "GET", Path: "/", ExpectedCodes: "200"},
			Members: []provider.Member{
				{ID: "m1", Address: netip.MustParseAddr("10.99.0.11"), Port: 8080, Weight: 1},
				{ID: "m2", Address: netip.MustParseAddr("10.99.0.12"), Port: 8080, Weight: 1},
			}}}}
	if err := d.Set(ctx, lb); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, d, "lb1", "m1", provider.MemberUp)
	waitStatus(t, d, "lb1", "m2", provider.MemberUp)
	seen := map[string]int{}
	for i := 0; i < 6; i++ {
		body, err := get(memberNS, "http://10.99.0.1/")
		if err != nil {
			t.Fatal(err)
		}
		name, xff, _ := strings.Cut(body, " ")
		if xff != "10.99.0.11" && xff != "10.99.0.12" {
			t.Fatalf("X-Forwarded-For %q", xff)
		}
		seen[name]++
	}
	if seen["one"] != 3 || seen["two"] != 3 {
		t.Fatalf("round robin: %v", seen)
	}
	if st, err := d.Status(ctx, "lb1"); err != nil || st.Listeners["web"].TotalConnections != 6 || st.Listeners["web"].BytesOut == 0 {
		t.Fatalf("stats: %+v %v", st, err)
	}

	// A member that stops is taken out; requests go to the other.
	two.Close()
	waitStatus(t, d, "lb1", "m2", provider.MemberDown)
	for i := 0; i < 4; i++ {
		if body, err := get(memberNS, "http://10.99.0.1/"); err != nil || !strings.HasPrefix(body, "one") {
			t.Fatalf("with a member down: %q %v", body, err)
		}
	}
	member(t, memberNS, "10.99.0.12:8080", "two")
	waitStatus(t, d, "lb1", "m2", provider.MemberUp)

	// L7: /static goes to a pool of member two alone, X-Block: yes is
	// rejected, /old is redirected.
	lb.Listeners[0].Policies = []provider.Policy{
		{ID: "block", Action: provider.Reject, Rules: []provider.Rule{{ID: "r1", Type: provider.RuleHeader, Compare: provider.CompareEqual, Key: "X-Block", Value: "yes"}}},
		{ID: "static", Action: provider.RedirectToPool, Pool: "p3", Rules: []provider.Rule{{ID: "r2", Type: provider.RulePath, Compare: provider.CompareStartsWith, Value: "/static"}}},
		{ID: "moved", Action: provider.RedirectToURL, URL: "http://example.test/new", Code: 301,
			Rules: []provider.Rule{{ID: "r3", Type: provider.RulePath, Compare: provider.CompareEqual, Value: "/old"}, {ID: "r4", Type: provider.RuleHostName, Compare: provider.CompareEqual, Value: "10.99.0.1"}}},
		{ID: "never", Action: provider.Reject}, // no rules: never matches
	}
	lb.Pools = append(lb.Pools, provider.Pool{ID: "p3", Protocol: provider.HTTP, Algorithm: provider.RoundRobin,
		Members: []provider.Member{{ID: "s2", Address: netip.MustParseAddr("10.99.0.12"), Port: 8080, Weight: 1}}})
	if err := d.Set(ctx, lb); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 4; i++ {
		if body, err := get(memberNS, "http://10.99.0.1/static/x.css"); err != nil || !strings.HasPrefix(body, "two") {
			t.Fatalf("/static: %q %v", body, err)
		}
	}
	noRedirect := &http.Client{Timeout: 3 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Transport: &http.Transport{DisableKeepAlives: true, DialContext: func(ctx context.Context, network, addr string) (conn net.Conn, err error) {
			err = linux.InNamespace(memberNS, func() error { var d net.Dialer; conn, err = d.DialContext(ctx, network, addr); return err })
			return conn, err
		}}}
	resp, err := noRedirect.Get("http://10.99.0.1/old")
	if err != nil || resp.StatusCode != 301 || resp.Header.Get("Location") != "http://example.test/new" {
		t.Fatalf("/old: %v %v", resp, err)
	}
	resp.Body.Close()
	req, _ := http.NewRequest("GET", "http://10.99.0.1/", nil)
	req.Header.Set("X-Block", "yes")
	if resp, err := noRedirect.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("a request with X-Block: yes got %d", resp.StatusCode)
	}

	// A PING monitor (an external check running ping as HAProxy's
	// workers' user): the member that is there is up, the one that is not
	// is down.
	lb.Pools = append(lb.Pools, provider.Pool{ID: "p4", Protocol: provider.TCP, Algorithm: provider.RoundRobin,
		Monitor: &provider.Monitor{Type: provider.MonitorPing, Delay: 1, Timeout: 1, Rise: 1, Fall: 1},
		Members: []provider.Member{{ID: "ping-here", Address: netip.MustParseAddr("10.99.0.11"), Port: 22, Weight: 1},
			{ID: "ping-gone", Address: netip.MustParseAddr("10.99.0.13"), Port: 22, Weight: 1}}})
	if err := d.Set(ctx, lb); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, d, "lb1", "ping-here", provider.MemberUp)
	waitStatus(t, d, "lb1", "ping-gone", provider.MemberDown)
	lb.Pools = lb.Pools[:len(lb.Pools)-1]

	// TLS termination: a default certificate and one chosen by SNI.
	a, b := testcert.New(t, "a.test"), testcert.New(t, "b.test")
	lb.Listeners = append(lb.Listeners, provider.Listener{ID: "tls", Protocol: provider.TerminatedHTTPS, Port: 443, DefaultPool: "p1",
		ForwardedProto: true, Certificates: [][]byte{a.Bundle(), b.Bundle()}})
	if err := d.Set(ctx, lb); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ sni, want string }{{"", "a.test"}, {"a.test", "a.test"}, {"b.test", "b.test"}} {
		var conn net.Conn
		if err := linux.InNamespace(memberNS, func() (err error) { conn, err = net.Dial("tcp", "10.99.0.1:443"); return err }); err != nil {
			t.Fatal(err)
		}
		tc2 := tls.Client(conn, &tls.Config{ServerName: tc.sni, InsecureSkipVerify: true})
		tc2.SetDeadline(time.Now().Add(5 * time.Second))
		if err := tc2.Handshake(); err != nil {
			t.Fatalf("TLS handshake (SNI %q): %v", tc.sni, err)
		}
		if cn := tc2.ConnectionState().PeerCertificates[0].Subject.CommonName; cn != tc.want {
			t.Fatalf("SNI %q got the certificate of %s", tc.sni, cn)
		}
		fmt.Fprintf(tc2, "GET / HTTP/1.0\r\nHost: x\r\n\r\n")
		body, _ := io.ReadAll(tc2)
		if !strings.Contains(string(body), "200 OK") || !(strings.Contains(string(body), "one") || strings.Contains(string(body), "two")) {
			t.Fatalf("through TLS: %q", body)
		}
		tc2.Close()
	}
	lb.Listeners = lb.Listeners[:1]

	// A TCP listener; a connection made before a reload lives on.
	lb.Listeners = append(lb.Listeners, provider.Listener{ID: "tcp", Protocol: provider.TCP, Port: 7000, DefaultPool: "p2"})
	lb.Pools = append(lb.Pools, provider.Pool{ID: "p2", Protocol: provider.TCP, Algorithm: provider.LeastConnections,
		Members: []provider.Member{{ID: "e1", Address: netip.MustParseAddr("10.99.0.11"), Port: 7000, Weight: 1}}})
	if err := d.Set(ctx, lb); err != nil {
		t.Fatal(err)
	}
	var conn net.Conn
	if err := linux.InNamespace(memberNS, func() (err error) { conn, err = net.Dial("tcp", "10.99.0.1:7000"); return err }); err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	r := bufio.NewReader(conn)
	echoLine := func(s string) {
		t.Helper()
		conn.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := fmt.Fprintln(conn, s); err != nil {
			t.Fatal(err)
		}
		if line, err := r.ReadString('\n'); err != nil || line != s+"\n" {
			t.Fatalf("echo %q: %q %v", s, line, err)
		}
	}
	echoLine("before")
	pid, _ := reg.Running(ctx, engineKind, "lb1")
	lb.Listeners[1].AllowedCIDRs = []netip.Prefix{netip.MustParsePrefix("10.99.0.12/32")}
	if err := d.Set(ctx, lb); err != nil {
		t.Fatal(err)
	}
	if now, _ := reg.Running(ctx, engineKind, "lb1"); now != pid {
		t.Fatalf("a reload restarted HAProxy: %d, then %d", pid, now)
	}
	echoLine("after a reload")
	// Now only 10.99.0.12 may connect; the test's dial comes from .11.
	var refused net.Conn
	err = linux.InNamespace(memberNS, func() (err error) {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("10.99.0.11")}}
		refused, err = d.Dial("tcp", "10.99.0.1:7000")
		return err
	})
	if err == nil {
		refused.SetDeadline(time.Now().Add(3 * time.Second))
		fmt.Fprintln(refused, "x")
		if _, err := bufio.NewReader(refused).ReadString('\n'); err == nil {
			t.Fatal("a source outside allowed_cidrs was served")
		}
		refused.Close()
	}

	// A killed HAProxy is started again by the next Set.
	syscall.Kill(pid, syscall.SIGKILL)
	deadline := time.Now().Add(5 * time.Second)
	for _, ok := reg.Running(ctx, engineKind, "lb1"); ok && time.Now().Before(deadline); _, ok = reg.Running(ctx, engineKind, "lb1") {
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := d.Status(ctx, "lb1"); err == nil {
		t.Fatal("a killed HAProxy still answers")
	}
	if err := d.Set(ctx, lb); err != nil {
		t.Fatal(err)
	}
	if body, err := get(memberNS, "http://10.99.0.1/"); err != nil || body == "" {
		t.Fatalf("after a restart: %q %v", body, err)
	}

	if err := d.Remove(ctx, "lb1"); err != nil {
		t.Fatal(err)
	}
	if _, ok := reg.Running(ctx, engineKind, "lb1"); ok {
		t.Fatal("HAProxy runs after Remove")
	}
	if _, err := os.Stat(d.dir + "/lb1"); !os.IsNotExist(err) {
		t.Fatalf("state left: %v", err)
	}
	if _, err := get(memberNS, "http://10.99.0.1/"); err == nil {
		t.Fatal("the VIP answers after Remove")
	}
}

// TestConfig checks the rendering of what the wire test does not reach.
func TestConfig(t *testing.T) {
	lb := &provider.LoadBalancer{ID: "x", VIP: netip.MustParseAddr("fd00::1"),
		Listeners: []provider.Listener{{ID: "l", Protocol: provider.HTTP, Port: 80, DefaultPool: "p", ConnectionLimit: 10}},
		Pools: []provider.Pool{{ID: "p", Protocol: provider.HTTP, Algorithm: provider.SourceIP, Persistence: provider.PersistAppCookie, CookieName: "JSESSIONID",
			Monitor: &provider.Monitor{Type: provider.MonitorPing, Delay: 5, Timeout: 2, Rise: 2, Fall: 3},
			Members: []provider.Member{{ID: "m", Address: netip.MustParseAddr("fd00::5"), Port: 80, Weight: 3, Backup: true, Down: true}}}}}
	cfg := config(lb, "/d", "haproxy", "haproxy", 1000)
	for _, want := range []string{"bind [fd00::1]:80", "maxconn 10", "balance source", "stick store-response res.cook(JSESSIONID)",
		"external-check command " + pingScript, "insecure-fork-wanted", "server m [fd00::5]:80 weight 3 check inter 5s fall 3 rise 2 backup disabled"} {
		if !strings.Contains(cfg, want) {
			t.Errorf("config lacks %q:\n%s", want, cfg)
		}
	}
	if got := codesPattern("200-202, 404"); got != "^(200|201|202|404)$" {
		t.Errorf("codes: %s", got)
	}
}
