package openid_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/domains"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/roles"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/users"
	"github.com/zitadel/oidc/v3/pkg/client/rp"
	"github.com/zitadel/oidc/v3/pkg/client/rs"
	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/sovcloud/sov/internal/servertest"
)

// domainManager makes a domain and a user with the manager role on it, and
// returns the domain's id and the manager's domain-scoped token.
func domainManager(t *testing.T, s *servertest.Server, name string) (string, string) {
	t.Helper()
	admin := s.Admin(t)
	d := must(domains.Create(ctx(), admin, domains.CreateOpts{Name: name}).Extract())
	u := must(users.Create(ctx(), admin, users.CreateOpts{Name: name + "-manager", DomainID: d.ID, Password: "pw-" + name}).Extract())
	pages := must(roles.List(admin, roles.ListOpts{Name: "manager"}).AllPages(ctx()))
	rs, _ := roles.ExtractRoles(pages)
	if err := roles.Assign(ctx(), admin, rs[0].ID, roles.AssignOpts{UserID: u.ID, DomainID: d.ID}).ExtractErr(); err != nil {
		t.Fatal(err)
	}
	m := s.Login(t, gophercloud.AuthOptions{UserID: u.ID, Password: "pw-" + name, Scope: &gophercloud.AuthScope{DomainID: d.ID}})
	return d.ID, token(t, m)
}

// TestClientsAPI: admins manage every client, a domain manager only its
// domain's (another's are not found), members none; bad input gets 400 and
// changes nothing; deleting a client ends its tokens.
func TestClientsAPI(t *testing.T) {
	s := servertest.StartTLS(t, servertest.Fake)
	admin := token(t, s.Admin(t))
	domA, mgrA := domainManager(t, s, "clients-a")
	_, mgrB := domainManager(t, s, "clients-b")
	tn := s.NewTenant(t, "clients-m", "member")
	member := token(t, s.Login(t, gophercloud.AuthOptions{UserID: tn.UserID, Password: tn.Password, Scope: &gophercloud.AuthScope{ProjectID: tn.ProjectID}}))

	body := map[string]any{"client": map[string]any{"name": "a-app", "redirect_uris": []string{redirect}}}
	code, out := api(t, s, mgrA, "POST", "/identity/oidc/clients", body)
	if code != http.StatusCreated {
		t.Fatalf("manager creates a client in its domain: %d %v", code, out)
	}
	c := out["client"].(map[string]any)
	id := c["id"].(string)
	if c["domain_id"] != domA || c["secret"] == nil || c["public"] != false {
		t.Fatalf("created client: %v", c)
	}
	if code, out := api(t, s, mgrA, "GET", "/identity/oidc/clients/"+id, nil); code != http.StatusOK || out["client"].(map[string]any)["secret"] != nil {
		t.Fatalf("show: %d %v (the secret is shown only at creation)", code, out)
	}
	// The manager's client signs in its domain's users, no one else's.
	if code, out := api(t, s, admin, "POST", "/identity/v3/users", map[string]any{"user": map[string]any{"name": "a-person", "password": "a-person-pw", "domain_id": domA}}); code != http.StatusCreated {
		t.Fatalf("user in domain a: %d %v", code, out)
	}
	party := must(rp.NewRelyingPartyOIDC(ctx(), s.URL+"/identity", id, c["secret"].(string), redirect, []string{"openid"}, rp.WithHTTPClient(s.HTTPClient)))
	for _, who := range []struct {
		user, password, domain string
		want                   int
	}{{"clients-m-user", tn.Password, "Default", http.StatusForbidden}, {"a-person", "a-person-pw", "clients-a", http.StatusFound}} {
		b := s.Browser(redirect)
		action, rid, csrf := servertest.LoginForm(t, b, rp.AuthURL("s", party, rp.WithCodeChallenge(oidc.NewSHACodeChallenge(verifier()))))
		resp, page := servertest.Submit(t, b, action, url.Values{"authRequestID": {rid}, "csrf": {csrf}, "username": {who.user}, "password": {who.password}, "domain": {who.domain}})
		if resp.StatusCode != who.want {
			t.Errorf("%s at domain a's client: %d %s", who.user, resp.StatusCode, page)
		}
	}
	for _, who := range []struct{ name, token string }{{"other domain's manager", mgrB}, {"member", member}} {
		if code, _ := api(t, s, who.token, "GET", "/identity/oidc/clients/"+id, nil); code != http.StatusNotFound && code != http.StatusForbidden {
			t.Errorf("%s shows the client: %d", who.name, code)
		}
		if code, _ := api(t, s, who.token, "PATCH", "/identity/oidc/clients/"+id, map[string]any{"client": map[string]any{"redirect_uris": []string{"https://evil.example/cb"}}}); code < 400 {
			t.Errorf("%s updates the client: %d", who.name, code)
		}
		if code, _ := api(t, s, who.token, "DELETE", "/identity/oidc/clients/"+id, nil); code < 400 {
			t.Errorf("%s deletes the client: %d", who.name, code)
		}
		_, out := api(t, s, who.token, "GET", "/identity/oidc/clients", nil)
		if l, _ := out["clients"].([]any); len(l) != 0 {
			t.Errorf("%s lists %d clients", who.name, len(l))
		}
	}
	if code, _ := api(t, s, member, "POST", "/identity/oidc/clients", body); code != http.StatusForbidden {
		t.Errorf("member creates a client: %d", code)
	}
	if code, _ := api(t, s, mgrB, "POST", "/identity/oidc/clients", map[string]any{"client": map[string]any{"name": "x", "domain_id": domA, "redirect_uris": []string{redirect}}}); code != http.StatusForbidden {
		t.Errorf("manager creates a client in another domain: %d", code)
	}
	if _, out := api(t, s, admin, "GET", "/identity/oidc/clients", nil); len(out["clients"].([]any)) != 1 {
		t.Errorf("admin lists %v", out)
	}

	// Bad input: 400, nothing made or changed.
	for _, bad := range []string{
		`{"client": {"name": "x", "redirect_uris": ["/relative"]}}`,
		`{"client": {"name": "x", "redirect_uris": ["https://a.example/cb#frag"]}}`,
		`{"client": {"name": "x", "redirect_uris": ["https://a.example/cb"], "grant_types": ["implicit"]}}`,
		`{"client": {"name": "x", "redirect_uris": ["https://a.example/cb"], "scopes": ["admin"]}}`,
		`{"client": {"name": "x", "public": true, "grant_types": ["client_credentials"]}}`,
		`{"client": {"name": "x", "domain_id": "nope", "redirect_uris": ["https://a.example/cb"]}}`,
		`{"client": {"name": "x"}}`,
		`{"client": {"name": ""}}`,
		`{"client": {"name": 5}}`,
		`{"client": `,
		`[]`,
	} {
		req, _ := http.NewRequest("POST", s.URL+"/identity/oidc/clients", strings.NewReader(bad))
		req.Header.Set("X-Auth-Token", admin)
		resp := must(s.HTTPClient.Do(req))
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", bad, resp.StatusCode)
		}
	}
	if code, _ := api(t, s, admin, "PATCH", "/identity/oidc/clients/"+id, map[string]any{"client": map[string]any{"redirect_uris": []string{"nope"}}}); code != http.StatusBadRequest {
		t.Errorf("bad update: %d", code)
	}
	if code, _ := api(t, s, admin, "PATCH", "/identity/oidc/clients/"+id, map[string]any{"client": map[string]any{"public": true}}); code != http.StatusBadRequest {
		t.Errorf("making a client public: %d", code)
	}
	_, out = api(t, s, admin, "GET", "/identity/oidc/clients", nil)
	if l := out["clients"].([]any); len(l) != 1 || l[0].(map[string]any)["redirect_uris"].([]any)[0] != redirect {
		t.Errorf("after bad input: %v", out)
	}
	if code, _ := api(t, s, "not-a-token", "GET", "/identity/oidc/clients", nil); code != http.StatusUnauthorized {
		t.Errorf("no token: %d", code)
	}

	// A deleted client's tokens end with it.
	sid, secret := newClient(t, s, map[string]any{"name": "svc", "grant_types": []string{"client_credentials"}})
	party = must(rp.NewRelyingPartyOIDC(ctx(), s.URL+"/identity", sid, secret, "", []string{"openid"}, rp.WithHTTPClient(s.HTTPClient)))
	tok := must(rp.ClientCredentials(ctx(), party, nil))
	if code, _ := api(t, s, admin, "DELETE", "/identity/oidc/clients/"+sid, nil); code != http.StatusNoContent {
		t.Fatalf("delete: %d", code)
	}
	if code, _ := api(t, s, admin, "GET", "/identity/oidc/clients/"+sid, nil); code != http.StatusNotFound {
		t.Fatalf("deleted client: %d", code)
	}
	if code, _ := api(t, s, mgrA, "DELETE", "/identity/oidc/clients/"+id, nil); code != http.StatusNoContent {
		t.Fatalf("manager deletes its client: %d", code)
	}
	other, otherSecret := newClient(t, s, map[string]any{"name": "rs", "grant_types": []string{"client_credentials"}})
	res := must(rs.NewResourceServerClientCredentials(ctx(), s.URL+"/identity", other, otherSecret, rs.WithClient(s.HTTPClient)))
	if in := must(rs.Introspect[*oidc.IntrospectionResponse](ctx(), res, tok.AccessToken)); in.Active {
		t.Fatal("a deleted client's token is still active")
	}
}
