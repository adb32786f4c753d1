package engines

import (
	"context"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/sovcloud/sov/internal/store"
)

func testRegistry(t *testing.T) (*Registry, *store.DB) {
	t.Helper()
	dir := t.TempDir()
	db, err := store.Open(context.Background(), filepath.Join(dir, "sov.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	r, err := New(db, CloudID(dir))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { KillMarked(r.cloud) })
	return r, db
}

// sleeper starts `sleep` as an engine of r and reaps it when it ends.
func sleeper(t *testing.T, r *Registry, name string) (*exec.Cmd, <-chan struct{}) {
	t.Helper()
	cmd := exec.Command("sleep", "300")
	if err := r.Start(context.Background(), "test", name, cmd); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	return cmd, done
}

func ended(done <-chan struct{}) bool {
	select {
	case <-done:
		return true
	case <-time.After(5 * time.Second):
		return false
	}
}

func TestRecordAdoptReapStop(t *testing.T) {
	ctx := context.Background()
	r, db := testRegistry(t)
	a, aDone := sleeper(t, r, "a")
	_, bDone := sleeper(t, r, "b")
	if pid, ok := r.Running(ctx, "test", "a"); !ok || pid != a.Process.Pid {
		t.Fatalf("Running(a) = %d, %v; want %d", pid, ok, a.Process.Pid)
	}
	// The next start of sov (a new registry on the same store) adopts both.
	again, _ := New(db, r.cloud)
	if n, err := again.Reap(ctx); err != nil || n != 0 {
		t.Fatalf("Reap = %d, %v; want nothing reaped", n, err)
	}
	if _, ok := again.Running(ctx, "test", "b"); !ok {
		t.Error("a recorded engine is not adopted")
	}
	// Another cloud's engine is none of this cloud's business.
	other, _ := testRegistry(t)
	_, otherDone := sleeper(t, other, "x")
	// An engine whose record is lost is reaped at the next start.
	if err := again.Forget(ctx, "test", "a"); err != nil {
		t.Fatal(err)
	}
	if n, err := again.Reap(ctx); err != nil || n != 1 || !ended(aDone) {
		t.Errorf("Reap = %d, %v; want the unrecorded engine ended", n, err)
	}
	select {
	case <-otherDone:
		t.Error("Reap ended another cloud's engine")
	default:
	}
	if err := again.StopAll(ctx, time.Second); err != nil || !ended(bDone) {
		t.Errorf("StopAll = %v; want every engine ended", err)
	}
	if _, ok := again.Running(ctx, "test", "b"); ok {
		t.Error("a stopped engine is still recorded as running")
	}
}

// TestReusedPidIsNotTheEngine: a record whose pid now belongs to another
// process (its start time differs) is not running, and Reap drops the
// record without touching that process.
func TestReusedPidIsNotTheEngine(t *testing.T) {
	ctx := context.Background()
	r, db := testRegistry(t)
	stranger := exec.Command("sleep", "300")
	if err := stranger.Start(); err != nil {
		t.Fatal(err)
	}
	defer stranger.Process.Kill()
	if _, err := db.Exec(ctx, `INSERT INTO engine_processes (node, kind, name, pid, start_ticks) VALUES (?, ?, ?, ?, ?)`,
		r.node, "test", "old", stranger.Process.Pid, startTicks(stranger.Process.Pid)-1); err != nil {
		t.Fatal(err)
	}
	if _, ok := r.Running(ctx, "test", "old"); ok {
		t.Error("a reused pid counts as the engine")
	}
	if _, err := r.Reap(ctx); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(stranger.Process.Pid, 0); err != nil {
		t.Errorf("Reap touched a process that was not the engine: %v", err)
	}
	var n int
	db.QueryRow(ctx, `SELECT COUNT(*) FROM engine_processes`).Scan(&n)
	if n != 0 {
		t.Errorf("%d stale records kept", n)
	}
}
