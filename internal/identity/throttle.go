package identity

import (
	"context"
	"net/http"
	"runtime"
	"sync"
	"time"

	"github.com/sovcloud/sov/internal/httpapi"
)

// loginGuard bounds what unauthenticated callers can make sov do: bcrypt
// comparisons run a few at a time (half the CPUs, so the rest of the
// cloud keeps answering during a password storm), and a user name or a
// client address with too many failed logins in a minute is refused
// before any hashing, with 429.
type loginGuard struct {
	hashing chan struct{} // one slot per concurrent bcrypt comparison
	limit   int           // failed logins per key and window; 0: no limit
	window  time.Duration

	mu    sync.Mutex // protects fails
	fails map[string]*failures
}

type failures struct {
	start time.Time
	n     int
}

// maxFailureKeys bounds the memory of the failure counts.
const maxFailureKeys = 100_000

func newLoginGuard(limit int) *loginGuard {
	return &loginGuard{hashing: make(chan struct{}, max(1, runtime.GOMAXPROCS(0)/2)), limit: limit,
		window: time.Minute, fails: map[string]*failures{}}
}

// hash runs one bcrypt comparison when a slot is free.
func (g *loginGuard) hash(ctx context.Context, compare func() bool) (bool, error) {
	select {
	case g.hashing <- struct{}{}:
	case <-ctx.Done():
		return false, ctx.Err()
	}
	defer func() { <-g.hashing }()
	return compare(), nil
}

// reserve counts a login attempt against each of its keys (a user, a
// client address) before any hashing, so that a burst of parallel guesses
// is counted as it arrives; it refuses with 429 when any key has used up
// its attempts in the current window. A login that succeeds gives its
// attempts back (release): what remains counts failures.
func (g *loginGuard) reserve(keys ...string) error {
	if g.limit <= 0 {
		return nil
	}
	now := time.Now()
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, k := range keys {
		if f := g.fails[k]; f != nil && now.Sub(f.start) < g.window && f.n >= g.limit {
			return httpapi.Errorf(http.StatusTooManyRequests, "Too many failed authentications; try again later.")
		}
	}
	if len(g.fails) >= maxFailureKeys {
		g.forgetOld(now)
	}
	for _, k := range keys {
		f := g.fails[k]
		if f == nil || now.Sub(f.start) >= g.window {
			f = &failures{start: now}
			g.fails[k] = f
		}
		f.n++
	}
	return nil
}

// release gives back the attempts of a login that succeeded.
func (g *loginGuard) release(keys ...string) {
	if g.limit <= 0 {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, k := range keys {
		if f := g.fails[k]; f != nil && f.n > 0 {
			f.n--
		}
	}
}

// forgetOld drops the counts whose window has passed; only if that frees
// nothing are all counts dropped (g.mu held).
func (g *loginGuard) forgetOld(now time.Time) {
	for k, f := range g.fails {
		if now.Sub(f.start) >= g.window {
			delete(g.fails, k)
		}
	}
	if len(g.fails) >= maxFailureKeys {
		clear(g.fails)
	}
}

// sourceKey is the failure key of the client that sent r: its IPv4
// address, or its IPv6 /64 (one client commonly holds a whole /64).
func sourceKey(r *http.Request) string { return addrKey(r.RemoteAddr) }

// addrKey is the failure-count key of a client address (host:port or host).
func addrKey(addr string) string { return "source:" + httpapi.ClientNet(addr) }
