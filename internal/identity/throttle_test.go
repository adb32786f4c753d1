package identity

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sovcloud/sov/internal/secrets"
	"github.com/sovcloud/sov/internal/store"
)

func testService(t *testing.T, cfg Config) *Service {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "sov.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	kek, err := secrets.Load(filepath.Join(t.TempDir(), "master.key"), "")
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(ctx, cfg, db, kek, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Bootstrap(ctx, BootstrapConfig{AdminUser: "admin", AdminPassword: "right", AdminProject: "admin"}); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestUnknownUsersCostTheSameHashWork: a login as a user that does not
// exist runs one bcrypt comparison, as a wrong password of a known user
// does, so the answer's timing does not tell which names exist.
func TestUnknownUsersCostTheSameHashWork(t *testing.T) {
	s := testService(t, Config{})
	ctx := context.Background()
	for _, ref := range []*userRef{
		{Name: "nobody", Domain: &nameRef{ID: DefaultDomainID}, Password: "x"},
		{Name: "admin", Domain: &nameRef{ID: DefaultDomainID}, Password: "wrong"},
		{Name: "admin", Domain: &nameRef{Name: "no-such-domain"}, Password: "x"},
		{ID: "0123456789abcdef0123456789abcdef", Password: "x"},
	} {
		before := s.pw.hashes.Load()
		if _, err := s.authPassword(ctx, ref, "source:test"); err == nil {
			t.Fatalf("%+v authenticated", ref)
		}
		if n := s.pw.hashes.Load() - before; n != 1 {
			t.Errorf("login as %+v ran %d bcrypt comparisons, want 1", ref, n)
		}
	}
	before := s.pw.hashes.Load()
	if err := s.authAppCred(ctx, &Token{}, &appCredAuth{ID: "nope", Secret: "x"}, nil, "source:test"); err == nil {
		t.Fatal("an unknown application credential authenticated")
	}
	if n := s.pw.hashes.Load() - before; n != 1 {
		t.Errorf("an unknown application credential ran %d bcrypt comparisons, want 1", n)
	}
}

// TestHashWorkIsBounded: no more bcrypt comparisons run at once than the
// guard has slots, however many logins arrive together.
func TestHashWorkIsBounded(t *testing.T) {
	g := newLoginGuard(0)
	var running, most atomic.Int32
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			g.hash(context.Background(), func() bool {
				n := running.Add(1)
				for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
				}
				time.Sleep(5 * time.Millisecond)
				running.Add(-1)
				return false
			})
		}()
	}
	wg.Wait()
	if int(most.Load()) != cap(g.hashing) {
		t.Errorf("%d comparisons ran at once, want %d", most.Load(), cap(g.hashing))
	}
	// A waiting login whose client went away stops waiting.
	for range cap(g.hashing) {
		g.hashing <- struct{}{}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := g.hash(ctx, func() bool { return true }); err == nil {
		t.Error("a cancelled login got a hashing slot")
	}
}
