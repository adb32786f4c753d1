package federation_test

import (
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/sovcloud/sov/internal/identity/federation"
	"github.com/sovcloud/sov/internal/server"
	"github.com/sovcloud/sov/internal/servertest"
)

var tokenField = regexp.MustCompile(`name="token" value="([^"]+)"`)

// TestWebSSO: a dashboard trusted by cloud B sends a browser to B's WebSSO
// endpoint for cloud A's provider; the user signs in at A, and B's page
// posts a Keystone token of the federated user to the dashboard. An
// untrusted origin is refused, and the way back works once.
func TestWebSSO(t *testing.T) {
	const origin = "https://dashboard.example/auth/websso/"
	a := servertest.StartTLS(t, servertest.Fake)
	b := servertest.Start(t, func(c *server.Config) { servertest.Fake(c); c.Identity.TrustedDashboards = []string{origin} })
	alice := a.NewTenant(t, "research", "member")
	clientID, secret := a.NewOIDCClient(t, map[string]any{"name": "cloud B", "redirect_uris": []string{b.URL + federation.WebSSORedirectPath}})
	admin := b.AdminToken(t)
	if code, out := b.API(t, admin, "PUT", "/identity/v3/OS-FEDERATION/identity_providers/cloud-a", map[string]any{"identity_provider": map[string]any{
		"remote_ids": []string{a.URL + "/identity"}, "oidc": map[string]any{"client_id": clientID, "client_secret": secret,
			"ca_certificate": a.CertPEM(t), "scopes": []string{"openid", "profile", "projects"}}}}); code != http.StatusCreated {
		t.Fatalf("identity provider: %d %v", code, out)
	}
	rules := []any{map[string]any{
		"local":  []any{map[string]any{"user": map[string]any{"name": "{0}"}}, map[string]any{"projects": []any{map[string]any{"name": "{1}", "roles": []any{map[string]any{"name": "member"}}}}}},
		"remote": []any{map[string]any{"type": "preferred_username"}, map[string]any{"type": "projects.name"}},
	}}
	b.API(t, admin, "PUT", "/identity/v3/OS-FEDERATION/mappings/m", map[string]any{"mapping": map[string]any{"rules": rules}})
	b.API(t, admin, "PUT", "/identity/v3/OS-FEDERATION/identity_providers/cloud-a/protocols/openid", map[string]any{"protocol": map[string]any{"mapping_id": "m"}})

	start := b.URL + "/identity/v3/auth/OS-FEDERATION/identity_providers/cloud-a/protocols/openid/websso?origin=" + url.QueryEscape(origin)
	if resp, err := http.Get(b.URL + "/identity/v3/auth/OS-FEDERATION/identity_providers/cloud-a/protocols/openid/websso?origin=" + url.QueryEscape("https://evil.example/")); err != nil || resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("an untrusted origin: %v %v", resp.StatusCode, err)
	}
	jar, _ := cookiejar.New(nil)
	var back string
	browser := &http.Client{Jar: jar, Transport: a.HTTPClient.Transport, CheckRedirect: func(req *http.Request, _ []*http.Request) error {
		if strings.HasPrefix(req.URL.String(), b.URL+federation.WebSSORedirectPath) {
			back = req.URL.String()
		}
		return nil
	}}
	action, id, csrf := servertest.LoginForm(t, browser, start)
	resp, page := servertest.Submit(t, browser, action, url.Values{"authRequestID": {id}, "csrf": {csrf}, "username": {"research-user"},
		"password": {alice.Password}, "domain": {"Default"}})
	m := tokenField.FindStringSubmatch(page)
	if resp.StatusCode != http.StatusOK || m == nil || !strings.Contains(page, `action="`+origin+`"`) {
		t.Fatalf("the page back from WebSSO: %d %s", resp.StatusCode, page)
	}
	req, _ := http.NewRequest("GET", b.AuthURL+"/auth/tokens", nil)
	req.Header.Set("X-Auth-Token", admin)
	req.Header.Set("X-Subject-Token", m[1])
	check, err := http.DefaultClient.Do(req)
	if err != nil || check.StatusCode != http.StatusOK {
		t.Fatalf("the token WebSSO gave: %v %v", check.StatusCode, err)
	}
	check.Body.Close()
	// The way back works once.
	again, err := browser.Get(back)
	if err != nil {
		t.Fatal(err)
	}
	again.Body.Close()
	if again.StatusCode != http.StatusBadRequest {
		t.Fatalf("the way back a second time: %d", again.StatusCode)
	}
}
