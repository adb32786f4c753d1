// Package engines keeps one rule for every engine process sov starts for
// a resource (QEMU, dnsmasq and radvd today; HAProxy and kubelets later): the
// process is recorded in the store, outlives sov and is adopted by the
// next start; anything running with this cloud's mark that no record
// names is reaped at start; StopAll (sov down) ends them all.
//
// A process is known by its pid and its start time (from /proc), so a pid
// reused by another process after a reboot or a crash is never mistaken
// for the engine, nor killed.
package engines

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/sovcloud/sov/internal/store"
)

// markVar is the environment variable an engine carries: the id of its cloud.
const markVar = "SOV_ENGINE"

// Registry records the engine processes of one cloud on this node.
type Registry struct {
	db    *store.DB
	cloud string
	node  string
}

// CloudID is the mark of the engines of the cloud whose data dir is dir.
func CloudID(dataDir string) string {
	abs, _ := filepath.Abs(dataDir)
	sum := sha256.Sum256([]byte(abs))
	return hex.EncodeToString(sum[:8])
}

// New returns the registry of the cloud with the given id on this node
// (this machine, this boot).
func New(db *store.DB, cloud string) (*Registry, error) {
	host, _ := os.Hostname()
	boot, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return nil, fmt.Errorf("engines: %w", err)
	}
	return &Registry{db: db, cloud: cloud, node: host + "/" + strings.TrimSpace(string(boot))}, nil
}

// stat is the fields of /proc/<pid>/stat after the command name (which
// may hold spaces: they count from its ')'), the state first; nil when the
// process does not run.
func stat(pid int) []string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil
	}
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return nil
	}
	return strings.Fields(string(b[i+1:]))
}

// startTicks is the start time of a process in clock ticks after boot
// (field 22 of /proc/<pid>/stat); 0 when it does not run.
func startTicks(pid int) int64 {
	fields := stat(pid)
	if len(fields) < 20 || fields[0] == "Z" {
		return 0
	}
	n, _ := strconv.ParseInt(fields[19], 10, 64)
	return n
}

// marked reports whether process pid carries the mark of cloud.
func marked(pid int, cloud string) bool {
	env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	if err != nil {
		return false
	}
	for _, kv := range strings.Split(string(env), "\x00") {
		if kv == markVar+"="+cloud {
			return true
		}
	}
	return false
}

// Start starts cmd as the engine kind/name, marked as this cloud's, and
// records it. The process outlives sov; its caller may Wait for it.
func (r *Registry) Start(ctx context.Context, kind, name string, cmd *exec.Cmd) error {
	if cmd.Env == nil {
		cmd.Env = os.Environ()
	}
	cmd.Env = append(cmd.Env, markVar+"="+r.cloud)
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setsid = true // not in sov's session: a terminal's signals do not reach it
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("engines: start %s %s: %w", kind, name, err)
	}
	pid := cmd.Process.Pid
	_, err := r.db.Exec(ctx, `INSERT INTO engine_processes (node, kind, name, pid, start_ticks) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (node, kind, name) DO UPDATE SET pid = excluded.pid, start_ticks = excluded.start_ticks`,
		r.node, kind, name, pid, startTicks(pid))
	if err != nil {
		cmd.Process.Kill()
		return fmt.Errorf("engines: record %s %s: %w", kind, name, err)
	}
	return nil
}

// Running returns the pid of the recorded engine kind/name if it runs.
func (r *Registry) Running(ctx context.Context, kind, name string) (int, bool) {
	var pid int
	var ticks int64
	err := r.db.QueryRow(ctx, `SELECT pid, start_ticks FROM engine_processes WHERE node = ? AND kind = ? AND name = ?`, r.node, kind, name).Scan(&pid, &ticks)
	if err != nil || ticks == 0 || startTicks(pid) != ticks {
		return 0, false
	}
	return pid, true
}

// Forget drops the record of an engine.
func (r *Registry) Forget(ctx context.Context, kind, name string) error {
	_, err := r.db.Exec(ctx, `DELETE FROM engine_processes WHERE node = ? AND kind = ? AND name = ?`, r.node, kind, name)
	return err
}

// Stop ends the engine kind/name, if it runs (SIGTERM, SIGKILL after
// grace), and forgets it.
func (r *Registry) Stop(ctx context.Context, kind, name string, grace time.Duration) error {
	if pid, ok := r.Running(ctx, kind, name); ok {
		terminate(pid, grace)
	}
	return r.Forget(ctx, kind, name)
}

// terminate sends SIGTERM to pid and SIGKILL after grace if it still runs.
func terminate(pid int, grace time.Duration) {
	ticks := startTicks(pid)
	syscall.Kill(pid, syscall.SIGTERM)
	for end := time.Now().Add(grace); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if startTicks(pid) != ticks {
			return
		}
	}
	if startTicks(pid) == ticks {
		syscall.Kill(pid, syscall.SIGKILL)
	}
}

type record struct {
	kind, name string
	pid        int
	ticks      int64
}

func (r *Registry) records(ctx context.Context) ([]record, error) {
	rows, err := r.db.Query(ctx, `SELECT kind, name, pid, start_ticks FROM engine_processes WHERE node = ?`, r.node)
	if err != nil {
		return nil, err
	}
	return store.Collect(rows, func(row store.Scanner) (record, error) {
		var e record
		return e, row.Scan(&e.kind, &e.name, &e.pid, &e.ticks)
	})
}

// Reap drops the records of engines that no longer run, and ends every
// process marked as this cloud's that no record names and that no
// recorded engine started. It returns how many it ended.
func (r *Registry) Reap(ctx context.Context) (int, error) {
	recs, err := r.records(ctx)
	if err != nil {
		return 0, err
	}
	known := map[int]bool{}
	for _, e := range recs {
		if e.ticks != 0 && startTicks(e.pid) == e.ticks {
			known[e.pid] = true
		} else if err := r.Forget(ctx, e.kind, e.name); err != nil {
			return 0, err
		}
	}
	n := 0
	for _, pid := range MarkedProcesses(r.cloud) {
		if !known[pid] && !descends(pid, known) {
			terminate(pid, 2*time.Second)
			n++
		}
	}
	return n, nil
}

// descends reports whether a process is a child (or grandchild, ...) of
// one of the engines: HAProxy's workers are its master's children, and
// carry its mark.
func descends(pid int, engines map[int]bool) bool {
	for i := 0; i < 16 && pid > 1; i++ {
		if pid = parent(pid); engines[pid] {
			return true
		}
	}
	return false
}

// parent is the parent of a process (field 4 of /proc/<pid>/stat); 0
// when it does not run.
func parent(pid int) int {
	fields := stat(pid)
	if len(fields) < 2 {
		return 0
	}
	n, _ := strconv.Atoi(fields[1])
	return n
}

// StopAll ends every recorded engine of this node and forgets them; then
// any marked process left.
func (r *Registry) StopAll(ctx context.Context, grace time.Duration) error {
	recs, err := r.records(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range recs {
		errs = append(errs, r.Stop(ctx, e.kind, e.name, grace))
	}
	for _, pid := range MarkedProcesses(r.cloud) {
		terminate(pid, grace)
	}
	return errors.Join(errs...)
}

// MarkedProcesses returns the pids of the running processes marked as
// engines of cloud.
func MarkedProcesses(cloud string) []int {
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		if marked(pid, cloud) && startTicks(pid) != 0 {
			pids = append(pids, pid)
		}
	}
	return pids
}

// KillMarked ends every process marked as an engine of cloud, recorded or
// not: for tests and for sov down without a store.
func KillMarked(cloud string) {
	for _, pid := range MarkedProcesses(cloud) {
		terminate(pid, time.Second)
	}
}
