package servertest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// Hydra runs ORY Hydra v2 (built by scripts/build-hydra.sh from the Go
// module proxy on first use, cached by the script's hash) for the test,
// in memory, on free loopback ports, with a client of the client
// credentials grant; it returns the issuer and that client's id and
// secret. Hydra stops when the test ends.
func Hydra(t testing.TB, jwt bool) (issuer, clientID, secret string) {
	t.Helper()
	bin := filepath.Join(CachedBuild(t, "hydra", "scripts/build-hydra.sh", nil), "hydra")
	free := func() string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		return fmt.Sprint(l.Addr().(*net.TCPAddr).Port)
	}
	public, admin := free(), free()
	issuer = "http://127.0.0.1:" + public
	strategy := "opaque"
	if jwt {
		strategy = "jwt"
	}
	cmd := exec.Command(bin, "serve", "all", "--dev")
	cmd.Env = append(os.Environ(), "DSN=memory", "URLS_SELF_ISSUER="+issuer, "SERVE_PUBLIC_HOST=127.0.0.1", "SERVE_PUBLIC_PORT="+public,
		"SERVE_ADMIN_HOST=127.0.0.1", "SERVE_ADMIN_PORT="+admin, "SECRETS_SYSTEM=sov-benchmark-secret-of-32-chars!", "LOG_LEVEL=warn",
		"STRATEGIES_ACCESS_TOKEN="+strategy)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	adminURL := "http://127.0.0.1:" + admin
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(100 * time.Millisecond) {
		if resp, err := http.Get(adminURL + "/health/ready"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("hydra did not get ready")
		}
	}
	clientID, secret = "sov-bench", "sov-bench-secret-0123456789"
	body, _ := json.Marshal(map[string]any{"client_id": clientID, "client_secret": secret, "grant_types": []string{"client_credentials"},
		"token_endpoint_auth_method": "client_secret_basic"})
	resp, err := http.Post(adminURL+"/admin/clients", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("hydra client: %s", resp.Status)
	}
	return issuer, clientID, secret
}
