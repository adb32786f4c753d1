package identity_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/users"

	"github.com/sovcloud/sov/internal/server"
	"github.com/sovcloud/sov/internal/servertest"
)

// from returns an HTTP client whose connections come from the loopback
// address ip, as a distinct client would.
func from(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	return &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		return d.DialContext(ctx, network, addr)
	}}}
}

// TestFailedLoginLimits: after 3 failed logins in a minute, a client
// address gets 429 for any user, and a user name gets 429 from any address,
// before any password is checked; others are not affected.
func TestFailedLoginLimits(t *testing.T) {
	srv := servertest.Start(t, func(cfg *server.Config) { cfg.Identity.LoginFailures = 3 })
	for _, name := range []string{"alice", "bob"} {
		if _, err := users.Create(ctx, srv.Admin(t), users.CreateOpts{Name: name, DomainID: "default", Password: name + "-pw"}).Extract(); err != nil {
			t.Fatal(err)
		}
	}
	login := func(c *http.Client, name, password string) int {
		t.Helper()
		body := fmt.Sprintf(`{"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": %q, "domain": {"id": "default"}, "password": %q}}}}}`, name, password)
		resp, err := c.Post(srv.AuthURL+"/auth/tokens", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	attacker, victim, bystander := from("127.0.0.2"), from("127.0.0.3"), from("127.0.0.4")
	for i := range 3 {
		if code := login(attacker, fmt.Sprintf("guess-%d", i), "x"); code != http.StatusUnauthorized {
			t.Fatalf("failed login %d = %d, want 401", i, code)
		}
	}
	if code := login(attacker, "bob", "bob-pw"); code != http.StatusTooManyRequests {
		t.Errorf("the limited address logs in as bob: %d, want 429", code)
	}
	if code := login(bystander, "bob", "bob-pw"); code != http.StatusCreated {
		t.Errorf("another address logs in as bob: %d, want 201", code)
	}
	for i := range 3 { // from three addresses, none over its own limit
		login(from(fmt.Sprintf("127.0.1.%d", i+1)), "alice", "wrong")
	}
	if code := login(victim, "alice", "alice-pw"); code != http.StatusTooManyRequests {
		t.Errorf("alice, after 3 failures for her name elsewhere: %d, want 429", code)
	}
	if code := login(victim, "bob", "bob-pw"); code != http.StatusCreated {
		t.Errorf("bob from alice's address: %d, want 201", code)
	}
}
