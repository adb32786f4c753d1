// Package haproxy is the load balancer data plane of an all-in-one sov:
// one HAProxy (Debian's) per load balancer, in the namespace the network
// made for its VIP port, in master-worker mode. A change renders the whole
// configuration again, checks it (haproxy -c) and reloads the master
// (SIGUSR2): new workers take the listening sockets over from the old
// ones (the stats socket exposes them), which finish their connections.
// HAProxy is an engine process: recorded, adopted by the next start,
// started again when it died, stopped by sov down. Its workers drop root
// for the haproxy user (or nobody).
package haproxy

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sovcloud/sov/internal/loadbalancer/provider"
)

// engineKind is the kind of HAProxy's engine records.
const engineKind = "haproxy"

// Engines records engine processes (package engines).
type Engines interface {
	Start(ctx context.Context, kind, name string, cmd *exec.Cmd) error
	Running(ctx context.Context, kind, name string) (int, bool)
	Stop(ctx context.Context, kind, name string, grace time.Duration) error
}

// Driver runs load balancers' HAProxies. Their state (configuration,
// stats socket, log) is in dir/<id>.
type Driver struct {
	dir         string
	engines     Engines
	user, group string
	maxconn     int // per HAProxy, what sov's file descriptor limit allows

	mu    sync.Mutex
	locks map[string]*sync.Mutex // one change at a time per load balancer
}

// lock takes the lock of one load balancer's data plane.
func (d *Driver) lock(id string) (unlock func()) {
	d.mu.Lock()
	m, ok := d.locks[id]
	if !ok {
		m = &sync.Mutex{}
		d.locks[id] = m
	}
	d.mu.Unlock()
	m.Lock()
	return m.Unlock
}

// New returns the driver; it needs the haproxy binary.
func New(dir string, engines Engines) (*Driver, error) {
	if _, err := exec.LookPath("haproxy"); err != nil {
		return nil, fmt.Errorf("haproxy: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	d := &Driver{dir: dir, engines: engines, maxconn: 50000, locks: map[string]*sync.Mutex{}}
	// HAProxy needs two descriptors a connection; it inherits sov's limit.
	var lim syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) == nil && int(lim.Cur/2)-500 < d.maxconn {
		d.maxconn = max(int(lim.Cur/2)-500, 100)
	}
	for _, u := range [][2]string{{"haproxy", "haproxy"}, {"nobody", "nogroup"}} {
		if _, err := user.Lookup(u[0]); err == nil {
			if _, err := user.LookupGroup(u[1]); err == nil {
				d.user, d.group = u[0], u[1]
				break
			}
		}
	}
	return d, nil
}

// runDir holds what must have a short path or be reachable by HAProxy's
// workers: stats sockets (a Unix socket path has at most 97 characters
// for HAProxy, more than a data dir's may leave) and the ping script.
const runDir = "/run/sov-haproxy"

// statsSocket is the stats socket of the load balancer whose state
// directory is dir: named by a hash of dir, so clouds never share one.
func statsSocket(dir string) string {
	sum := sha256.Sum256([]byte(dir))
	return filepath.Join(runDir, hex.EncodeToString(sum[:12])+".sock")
}

// pingScript is the external check of PING monitors, where HAProxy's
// workers (not root, so not in sov's data dir) may run it: HAProxy calls
// it with the proxy's and the server's address and port.
const pingScript = runDir + "/ping.sh"

func writePingScript() error {
	return writeFile(pingScript, "#!/bin/sh\nexec ping -q -n -c 1 -W 1 \"$3\" >/dev/null 2>&1\n", 0o755)
}

// Set writes lb's configuration and starts its HAProxy, or reloads the
// one running, then waits until the workers serve what it says.
func (d *Driver) Set(ctx context.Context, lb *provider.LoadBalancer) error {
	defer d.lock(lb.ID)()
	dir := filepath.Join(d.dir, lb.ID)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := os.MkdirAll(runDir, 0o755); err != nil {
		return err
	}
	if pinged(lb) {
		if err := writePingScript(); err != nil {
			return err
		}
	}
	if err := writeCertificates(dir, lb); err != nil {
		return err
	}
	cfg := filepath.Join(dir, "haproxy.cfg")
	next := cfg + ".next"
	if err := writeFile(next, config(lb, dir, d.user, d.group, d.maxconn), 0o600); err != nil {
		return err
	}
	if out, err := exec.CommandContext(ctx, "haproxy", "-c", "-f", next).CombinedOutput(); err != nil {
		return fmt.Errorf("haproxy: configuration of load balancer %s: %v: %s", lb.ID, err, out)
	}
	if err := os.Rename(next, cfg); err != nil {
		return err
	}
	old := ""
	if pid, ok := d.engines.Running(ctx, engineKind, lb.ID); ok {
		old = workerPid(dir)
		if err := syscall.Kill(pid, syscall.SIGUSR2); err != nil {
			return fmt.Errorf("haproxy: reload %s: %w", lb.ID, err)
		}
	} else if err := d.start(ctx, lb, dir, cfg); err != nil {
		return err
	}
	return d.await(ctx, lb, dir, old)
}

// workerPid is the pid of the worker that answers the stats socket ("" if none).
func workerPid(dir string) string {
	c, err := net.DialTimeout("unix", statsSocket(dir), time.Second)
	if err != nil {
		return ""
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := io.WriteString(c, "show info\n"); err != nil {
		return ""
	}
	sc := bufio.NewScanner(c)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "Pid: "); ok {
			return v
		}
	}
	return ""
}

// start runs HAProxy in the load balancer's namespace (`ip netns exec`
// execs it, so the recorded pid is the master's), in the foreground.
func (d *Driver) start(ctx context.Context, lb *provider.LoadBalancer, dir, cfg string) error {
	logf, err := os.OpenFile(filepath.Join(dir, "haproxy.log"), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	os.Remove(statsSocket(dir))
	cmd := exec.Command("ip", "netns", "exec", lb.Namespace, "haproxy", "-W", "-db", "-f", cfg)
	// Nothing of sov's environment reaches HAProxy (its configuration
	// could name variables).
	cmd.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := d.engines.Start(ctx, engineKind, lb.ID, cmd); err != nil {
		return fmt.Errorf("haproxy: start %s: %w", lb.ID, err)
	}
	go cmd.Wait()
	return nil
}

// await waits until a worker other than old answers the stats socket
// (a reload is done when the new worker does) and reports exactly lb's
// frontends and servers.
func (d *Driver) await(ctx context.Context, lb *provider.LoadBalancer, dir, old string) error {
	var want []string
	for _, l := range lb.Listeners {
		want = append(want, l.ID+"/FRONTEND")
	}
	for _, p := range lb.Pools {
		for _, m := range p.Members {
			want = append(want, p.ID+"/"+m.ID)
		}
	}
	slices.Sort(want)
	deadline := time.Now().Add(15 * time.Second)
	var last error
	for time.Now().Before(deadline) {
		rows, err := showStat(dir)
		if pid := workerPid(dir); err == nil && (pid == "" || pid == old) {
			err = fmt.Errorf("the old worker %s still answers", old)
		} else if err == nil {
			var have []string
			for _, r := range rows {
				if r["svname"] != "BACKEND" && r["pxname"] != "stats" {
					have = append(have, r["pxname"]+"/"+r["svname"])
				}
			}
			slices.Sort(have)
			if slices.Equal(have, want) {
				return nil
			}
			err = fmt.Errorf("serves %v", have)
		}
		last = err
		if _, ok := d.engines.Running(ctx, engineKind, lb.ID); !ok {
			log, _ := os.ReadFile(filepath.Join(dir, "haproxy.log"))
			return fmt.Errorf("haproxy: load balancer %s exited: %s", lb.ID, log)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("haproxy: load balancer %s not serving within 15s: %v", lb.ID, last)
}

// Remove stops a load balancer's HAProxy and removes its state.
func (d *Driver) Remove(ctx context.Context, id string) error {
	defer d.lock(id)()
	err := d.engines.Stop(ctx, engineKind, id, 5*time.Second)
	dir := filepath.Join(d.dir, id)
	if rerr := os.Remove(statsSocket(dir)); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
		err = errors.Join(err, rerr)
	}
	return errors.Join(err, os.RemoveAll(dir))
}

// Prune stops the HAProxies of load balancers not in keep.
func (d *Driver) Prune(ctx context.Context, keep []string) error {
	entries, err := os.ReadDir(d.dir)
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range entries {
		if e.IsDir() && !slices.Contains(keep, e.Name()) {
			errs = append(errs, d.Remove(ctx, e.Name()))
		}
	}
	return errors.Join(errs...)
}

// Status reads the health of members and the listeners' counters from
// the stats socket. A load balancer whose HAProxy does not answer has
// every member down.
func (d *Driver) Status(ctx context.Context, id string) (*provider.Status, error) {
	rows, err := showStat(filepath.Join(d.dir, id))
	if err != nil {
		return nil, err
	}
	st := &provider.Status{Members: map[string]string{}, Listeners: map[string]provider.Stats{}}
	for _, r := range rows {
		switch r["svname"] {
		case "FRONTEND":
			st.Listeners[r["pxname"]] = provider.Stats{ActiveConnections: num(r["scur"]), TotalConnections: num(r["stot"]),
				BytesIn: num(r["bin"]), BytesOut: num(r["bout"]), RequestErrors: num(r["ereq"])}
		case "BACKEND":
		default:
			st.Members[r["svname"]] = health(r["status"], st.Members[r["svname"]])
		}
	}
	return st, nil
}

// health reads a server's status ("UP", "UP 1/3", "DOWN", "DOWN 1/2",
// "no check", "MAINT"); a member in several backends takes the worst.
func health(status, before string) string {
	var h string
	switch s := strings.ToUpper(status); {
	case strings.HasPrefix(s, "MAINT"), strings.HasPrefix(s, "DRAIN"):
		h = provider.MemberDrain
	case strings.HasPrefix(s, "NO CHECK"):
		h = provider.MemberNoCheck
	case strings.HasPrefix(s, "UP"), strings.HasPrefix(s, "NOLB"):
		h = provider.MemberUp
	default:
		h = provider.MemberDown
	}
	if before == provider.MemberDown {
		return before
	}
	return h
}

func num(s string) int64 { n, _ := strconv.ParseInt(s, 10, 64); return n }

// showStat asks the stats socket for "show stat" and returns its rows by
// column name.
func showStat(dir string) ([]map[string]string, error) {
	c, err := net.DialTimeout("unix", statsSocket(dir), time.Second)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := io.WriteString(c, "show stat\n"); err != nil {
		return nil, err
	}
	br := bufio.NewReader(c)
	header, err := br.ReadString('\n')
	if err != nil || !strings.HasPrefix(header, "# ") {
		return nil, fmt.Errorf("haproxy: stats socket said %q: %v", header, err)
	}
	cols := strings.Split(strings.TrimSuffix(strings.TrimPrefix(header, "# "), "\n"), ",")
	r := csv.NewReader(br)
	r.FieldsPerRecord = -1
	var rows []map[string]string
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			return rows, nil
		}
		if err != nil {
			return nil, err
		}
		row := map[string]string{}
		for i, v := range rec {
			if i < len(cols) {
				row[cols[i]] = v
			}
		}
		rows = append(rows, row)
	}
}

func writeFile(path, content string, mode os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), mode); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// writeCertificates puts the listeners' certificates (with their keys)
// where the configuration names them, readable by root alone, and removes
// those no listener has any more.
func writeCertificates(dir string, lb *provider.LoadBalancer) error {
	certs := filepath.Join(dir, "certs")
	if err := os.MkdirAll(certs, 0o700); err != nil {
		return err
	}
	keep := map[string]bool{}
	for _, l := range lb.Listeners {
		for i, pem := range l.Certificates {
			path := certPath(dir, l.ID, i)
			keep[filepath.Base(path)] = true
			if err := writeFile(path, string(pem), 0o600); err != nil {
				return err
			}
		}
	}
	entries, err := os.ReadDir(certs)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if !keep[e.Name()] {
			os.Remove(filepath.Join(certs, e.Name()))
		}
	}
	return nil
}
