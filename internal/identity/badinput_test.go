package identity_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/projects"
)

// rawCall sends a request with the admin token and returns status and body.
func (c *cloud) rawCall(method, path, body string) (int, map[string]any, http.Header) {
	c.t.Helper()
	req, err := http.NewRequest(method, c.AuthURL+path, strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("X-Auth-Token", c.admin.Token())
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	json.Unmarshal(b, &m)
	return resp.StatusCode, m, resp.Header
}

func (c *cloud) projectCount() int {
	c.t.Helper()
	pages, err := projects.List(c.admin, nil).AllPages(ctx)
	if err != nil {
		c.t.Fatal(err)
	}
	ps, _ := projects.ExtractProjects(pages)
	return len(ps)
}

func TestBadInput(t *testing.T) {
	c := newCloud(t)
	other := c.domain("other")
	before := c.projectCount()
	huge := `{"project": {"name": "x", "description": "` + strings.Repeat("a", 2<<20) + `"}}`
	cases := []struct {
		name, method, path, body string
		status                   int
	}{
		{"malformed-json", "POST", "/projects", `{"project": {"name": `, 400},
		{"not-an-object", "POST", "/projects", `[1,2]`, 400},
		{"wrong-type", "POST", "/projects", `{"project": {"name": 42}}`, 400},
		{"wrong-type-enabled", "POST", "/projects", `{"project": {"name": "x", "enabled": "yes"}}`, 400},
		{"missing-name", "POST", "/projects", `{"project": {}}`, 400},
		{"empty-name", "POST", "/projects", `{"project": {"name": "  "}}`, 400},
		{"empty-body", "POST", "/projects", ``, 400},
		{"trailing-data", "POST", "/projects", `{"project": {"name": "x"}} {}`, 400},
		{"oversized", "POST", "/projects", huge, 413},
		{"unknown-domain", "POST", "/projects", `{"project": {"name": "x", "domain_id": "nope"}}`, 400},
		{"move-domain", "PATCH", "/projects/PROJECT", `{"project": {"domain_id": "` + other.ID + `"}}`, 400},
		{"unknown-project", "GET", "/projects/0123456789abcdef0123456789abcdef", ``, 404},
		{"unknown-user", "PATCH", "/users/nope", `{"user": {"name": "x"}}`, 404},
		{"unknown-role-grant", "PUT", "/projects/PROJECT/users/ADMIN/roles/nope", ``, 404},
		{"unknown-path", "GET", "/nothing-here", ``, 404},
		{"auth-two-methods", "POST", "/auth/tokens", `{"auth": {"identity": {"methods": ["password", "token"]}}}`, 400},
		{"auth-bad-type", "POST", "/auth/tokens", `{"auth": {"identity": {"methods": "password"}}}`, 400},
		{"long-password", "POST", "/users", `{"user": {"name": "long", "password": "` + strings.Repeat("p", 73) + `"}}`, 400},
		{"long-password-update", "PATCH", "/users/ADMIN", `{"user": {"password": "` + strings.Repeat("p", 100) + `"}}`, 400},
		{"bad-interface", "POST", "/endpoints", `{"endpoint": {"interface": "secret", "url": "http://x", "service_id": "y"}}`, 400},
	}
	p := c.project("target", "default")
	before++
	status, m, _ := c.rawCall("GET", "/users?name=admin", "")
	if status != 200 {
		t.Fatalf("list users = %d", status)
	}
	adminUser := m["users"].([]any)[0].(map[string]any)["id"].(string)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := strings.NewReplacer("PROJECT", p.ID, "ADMIN", adminUser).Replace(tc.path)
			status, body, _ := c.rawCall(tc.method, path, tc.body)
			if status != tc.status {
				t.Fatalf("%s %s = %d %v, want %d", tc.method, path, status, body, tc.status)
			}
			e, ok := body["error"].(map[string]any)
			if !ok || e["code"] != float64(tc.status) || e["message"] == "" || e["title"] == "" {
				t.Errorf("error body = %v, want Keystone's {error: {code, title, message}}", body)
			}
		})
	}
	if after := c.projectCount(); after != before {
		t.Errorf("projects: %d before, %d after bad requests", before, after)
	}
	got, _ := projects.Get(ctx, c.admin, p.ID).Extract()
	if got.DomainID != "default" {
		t.Errorf("project moved to %s", got.DomainID)
	}
}

func TestUnauthenticated(t *testing.T) {
	c := newCloud(t)
	req, _ := http.NewRequest("GET", c.AuthURL+"/projects", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Keystone uri=") {
		t.Errorf("no token: %d %q, want 401 with WWW-Authenticate", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	// Version discovery needs no token.
	for path, want := range map[string]int{"": 200, "/": 200} {
		resp, err := http.Get(c.AuthURL + path)
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			Version struct{ ID, Status string }
		}
		json.NewDecoder(resp.Body).Decode(&doc)
		resp.Body.Close()
		if resp.StatusCode != want || doc.Version.Status != "stable" {
			t.Errorf("GET v3%s = %d %+v", path, resp.StatusCode, doc)
		}
	}
	resp, err = http.Get(strings.TrimSuffix(c.AuthURL, "/v3"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMultipleChoices {
		t.Errorf("GET /identity = %d, want 300", resp.StatusCode)
	}
	resp, err = http.Post(c.AuthURL+"/auth/tokens", "application/json", bytes.NewReader([]byte(`{"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": "admin", "domain": {"id": "default"}, "password": "nope"}}}}}`)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Errorf("wrong password = %d, want 401", resp.StatusCode)
	}
}
