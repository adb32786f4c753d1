package identity

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sovcloud/sov/internal/httpapi"
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

// TestParallelGuessesAreCounted: a burst of logins that all arrive before
// any has failed is counted as it arrives: only the limit's worth get to
// the password check, the rest are refused at once.
func TestParallelGuessesAreCounted(t *testing.T) {
	s := testService(t, Config{LoginFailures: 3})
	ctx := context.Background()
	var wg sync.WaitGroup
	var refused atomic.Int32
	before := s.pw.hashes.Load()
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.authPassword(ctx, &userRef{Name: "admin", Domain: &nameRef{ID: DefaultDomainID}, Password: fmt.Sprint("guess", i)}, "source:burst")
			if code, _, _ := httpapi.Status(err); code == 429 {
				refused.Add(1)
			}
		}()
	}
	wg.Wait()
	if refused.Load() != 17 || s.pw.hashes.Load()-before != 3 {
		t.Errorf("of 20 parallel guesses %d were refused and %d checked; want 17 and 3", refused.Load(), s.pw.hashes.Load()-before)
	}
	// A right password from elsewhere is refused too (the user's limit), but
	// a successful login gives its attempt back.
	s2 := testService(t, Config{LoginFailures: 2})
	for range 5 {
		if _, err := s2.authPassword(ctx, &userRef{Name: "admin", Domain: &nameRef{ID: DefaultDomainID}, Password: "right"}, "source:good"); err != nil {
			t.Fatalf("successful logins used up the limit: %v", err)
		}
	}
}
