package server_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sovcloud/sov/internal/server"
	"github.com/sovcloud/sov/internal/servertest"
)

func get(t *testing.T, url string) (int, string, http.Header) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

func TestHealthReadyMetrics(t *testing.T) {
	srv := servertest.Start(t, nil)
	if code, body, _ := get(t, srv.URL+"/healthz"); code != 200 || !strings.Contains(body, "ok") {
		t.Errorf("healthz = %d %q", code, body)
	}
	if code, body, _ := get(t, srv.URL+"/readyz"); code != 200 {
		t.Errorf("readyz = %d %q", code, body)
	}
	srv.Admin(t) // one token issue, so the route shows up in the metrics
	code, body, _ := get(t, srv.URL+"/metrics")
	if code != 200 || !strings.Contains(body, `sov_http_request_duration_seconds_count{code="201",method="POST",route="POST /identity/v3/auth/tokens"}`) {
		t.Errorf("metrics = %d, lacks per-route latency of token issue:\n%.2000s", code, body)
	}
	_, _, h := get(t, srv.URL+"/identity/v3")
	if id := h.Get("X-Openstack-Request-Id"); !strings.HasPrefix(id, "req-") {
		t.Errorf("request id = %q, want req-…", id)
	}
}

func TestRestartKeepsState(t *testing.T) {
	srv := servertest.Start(t, nil)
	tok := srv.Admin(t).Token()
	again := srv.Restart(t)
	if got := tokenCall(t, again, "GET", tok, tok); got != 200 {
		t.Errorf("token from before the restart = %d, want 200 (signing keys persist)", got)
	}
}

func TestRevocationSurvivesRestart(t *testing.T) {
	srv := servertest.Start(t, nil)
	victim := srv.Admin(t).Token()
	caller := srv.Admin(t).Token()
	call := func(s *servertest.Server, method string) int { return tokenCall(t, s, method, caller, victim) }
	if got := call(srv, "DELETE"); got != http.StatusNoContent {
		t.Fatalf("revoke = %d", got)
	}
	again := srv.Restart(t)
	if got := call(again, "GET"); got != http.StatusNotFound {
		t.Errorf("revoked token after restart = %d, want 404", got)
	}
}

// TestServersShareRevocations runs two servers on one store: a token
// revoked through one stops working on the other.
func TestServersShareRevocations(t *testing.T) {
	a := servertest.Start(t, nil)
	b := a.Twin(t)
	victim := a.Admin(t).Token()
	caller := b.Admin(t).Token()
	call := func(s *servertest.Server, method string) int { return tokenCall(t, s, method, caller, victim) }
	if got := call(b, "GET"); got != http.StatusOK {
		t.Fatalf("token of a on b = %d, want 200", got)
	}
	if got := call(a, "DELETE"); got != http.StatusNoContent {
		t.Fatalf("revoke on a = %d", got)
	}
	deadline := time.Now().Add(10 * time.Second)
	for call(b, "GET") != http.StatusNotFound {
		if time.Now().After(deadline) {
			t.Fatal("b still accepts the token revoked on a")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// tokenCall sends method to /auth/tokens with the caller's token about the
// subject token and returns the status.
func tokenCall(t *testing.T, s *servertest.Server, method, caller, subject string) int {
	t.Helper()
	req, _ := http.NewRequest(method, s.AuthURL+"/auth/tokens", nil)
	req.Header.Set("X-Auth-Token", caller)
	req.Header.Set("X-Subject-Token", subject)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestMetricsOnTheirOwnListener: with MetricsListen set, /metrics is served
// there and no longer on the API listener.
func TestMetricsOnTheirOwnListener(t *testing.T) {
	srv := servertest.Start(t, func(cfg *server.Config) { cfg.MetricsListen = "127.0.0.1:0" })
	if code, _, _ := get(t, srv.URL+"/metrics"); code != http.StatusNotFound {
		t.Errorf("API listener /metrics = %d, want 404", code)
	}
	if code, body, _ := get(t, srv.MetricsURL); code != 200 || !strings.Contains(body, "go_goroutines") {
		t.Errorf("%s = %d", srv.MetricsURL, code)
	}
}
