package identity

import (
	"context"
	"net"
	"net/http"
	"runtime"
	"sync"
	"time"
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

// check refuses, with 429, a login whose keys (a user, a client address)
// failed too often in the current window.
func (g *loginGuard) check(keys ...string) error {
	if g.limit <= 0 {
		return nil
	}
	now := time.Now()
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, k := range keys {
		if f := g.fails[k]; f != nil && now.Sub(f.start) < g.window && f.n >= g.limit {
			return &Error{Code: http.StatusTooManyRequests, Message: "Too many failed authentications; try again later."}
		}
	}
	return nil
}

// failed counts a failed login against its keys.
func (g *loginGuard) failed(keys ...string) {
	if g.limit <= 0 {
		return
	}
	now := time.Now()
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.fails) >= maxFailureKeys {
		clear(g.fails)
	}
	for _, k := range keys {
		f := g.fails[k]
		if f == nil || now.Sub(f.start) >= g.window {
			f = &failures{start: now}
			g.fails[k] = f
		}
		f.n++
	}
}

// sourceKey is the failure key of the client that sent r.
func sourceKey(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	return "source:" + host
}
