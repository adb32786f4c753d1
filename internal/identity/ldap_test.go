package identity_test

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"
	"github.com/gophercloud/gophercloud/v2"

	"github.com/sovcloud/sov/internal/servertest"
)

// TestLDAPDomain: a domain reads its users and groups from a real slapd
// (StartTLS, a service account); roles assigned in sov to a directory
// group let its members work; passwords are checked by the directory; the
// domain's users and groups are read-only; a user gone from the directory
// is gone at the next sync.
func TestLDAPDomain(t *testing.T) {
	ldapURL, ca := servertest.Slapd(t, servertest.LDAPPeople)
	c := newCloud(t)
	admin := c.AdminToken(t)
	corp := c.domain("corp")
	cfg := map[string]any{"identity": map[string]any{"driver": "ldap"}, "ldap": map[string]any{"url": ldapURL, "use_tls": true, "tls_cacert": ca,
		"user": servertest.SlapdAdmin, "password": servertest.SlapdPassword, "suffix": servertest.SlapdSuffix}}
	// A directory that does not answer with the configuration: nothing stored.
	bad := map[string]any{"identity": map[string]any{"driver": "ldap"}, "ldap": map[string]any{"url": ldapURL, "use_tls": true, "tls_cacert": ca,
		"user": servertest.SlapdAdmin, "password": "wrong", "suffix": servertest.SlapdSuffix}}
	if code, _ := c.API(t, admin, "PUT", "/identity/v3/domains/"+corp.ID+"/config", map[string]any{"config": bad}); code != http.StatusBadRequest {
		t.Fatalf("a wrong bind password: %d", code)
	}
	if code, out := c.API(t, admin, "PUT", "/identity/v3/domains/"+corp.ID+"/config", map[string]any{"config": cfg}); code != http.StatusCreated {
		t.Fatalf("domain config: %d %v", code, out)
	}
	code, out := c.API(t, admin, "GET", "/identity/v3/domains/"+corp.ID+"/config", nil)
	if code != http.StatusOK || strings.Contains(toJSON(out), servertest.SlapdPassword) {
		t.Fatalf("config shown: %d %v", code, out)
	}
	_, out = c.API(t, admin, "GET", "/identity/v3/users?domain_id="+corp.ID, nil)
	if names := toJSON(out["users"]); !strings.Contains(names, `"ada"`) || !strings.Contains(names, `"bob"`) {
		t.Fatalf("users of the LDAP domain: %s", names)
	}
	_, out = c.API(t, admin, "GET", "/identity/v3/groups?domain_id="+corp.ID, nil)
	groups, _ := out["groups"].([]any)
	if len(groups) != 1 || groups[0].(map[string]any)["name"] != "researchers" {
		t.Fatalf("groups of the LDAP domain: %v", out)
	}
	groupID := groups[0].(map[string]any)["id"].(string)
	p := c.project("lab", corp.ID)
	if code, _ := c.API(t, admin, "PUT", "/identity/v3/projects/"+p.ID+"/groups/"+groupID+"/roles/"+c.roleID("member"), nil); code != http.StatusNoContent {
		t.Fatalf("grant to the directory group: %d", code)
	}
	login := func(name, password string) error {
		_, err := c.TryLogin(gophercloud.AuthOptions{Username: name, Password: password, DomainName: "corp",
			Scope: &gophercloud.AuthScope{ProjectID: p.ID}})
		return err
	}
	if err := login("ada", "ada-pw"); err != nil {
		t.Fatalf("ada, a researcher: %v", err)
	}
	for _, bad := range []struct{ name, pw string }{{"ada", "wrong"}, {"bob", "bob-pw"}, {"nobody", "x"}} {
		if err := login(bad.name, bad.pw); !servertest.IsStatus(err, http.StatusUnauthorized) && !servertest.IsStatus(err, http.StatusBadRequest) {
			t.Errorf("%s/%q: %v", bad.name, bad.pw, err)
		}
	}
	// An empty password would be an anonymous bind to LDAP: refused before.
	if code, _ := c.API(t, "", "POST", "/identity/v3/auth/tokens", map[string]any{"auth": map[string]any{"identity": map[string]any{
		"methods": []string{"password"}, "password": map[string]any{"user": map[string]any{"name": "ada", "domain": map[string]any{"name": "corp"}, "password": ""}}}}}); code != http.StatusUnauthorized {
		t.Errorf("empty password: %d", code)
	}
	// Read-only in sov.
	for _, req := range []struct{ method, path string }{{"POST", "/identity/v3/users"}, {"POST", "/identity/v3/groups"},
		{"PATCH", "/identity/v3/groups/" + groupID}, {"DELETE", "/identity/v3/groups/" + groupID}} {
		body := map[string]any{"user": map[string]any{"name": "x", "domain_id": corp.ID}, "group": map[string]any{"name": "x", "domain_id": corp.ID}}
		if code, _ := c.API(t, admin, req.method, req.path, body); code != http.StatusForbidden {
			t.Errorf("%s %s in the LDAP domain: %d", req.method, req.path, code)
		}
	}
	// Only admins see or change the configuration.
	tn := c.NewTenant(t, "plain", "member")
	mt := c.Login(t, gophercloud.AuthOptions{UserID: tn.UserID, Password: tn.Password, Scope: &gophercloud.AuthScope{ProjectID: tn.ProjectID}}).ProviderClient.Token()
	if code, _ := c.API(t, mt, "GET", "/identity/v3/domains/"+corp.ID+"/config", nil); code != http.StatusForbidden {
		t.Errorf("member reads the config: %d", code)
	}

	// bob leaves the directory: gone at the next sync.
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM([]byte(ca))
	conn, err := ldap.DialURL(ldapURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.StartTLS(&tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}); err != nil {
		t.Fatal(err)
	}
	if err := conn.Bind(servertest.SlapdAdmin, servertest.SlapdPassword); err != nil {
		t.Fatal(err)
	}
	if err := conn.Del(ldap.NewDelRequest("cn=u1002,ou=Users,"+servertest.SlapdSuffix, nil)); err != nil {
		t.Fatal(err)
	}
	if err := c.Identity().SyncDirectories(ctx); err != nil {
		t.Fatal(err)
	}
	_, out = c.API(t, admin, "GET", "/identity/v3/users?domain_id="+corp.ID, nil)
	if names := toJSON(out["users"]); strings.Contains(names, `"bob"`) || !strings.Contains(names, `"ada"`) {
		t.Fatalf("after bob left: %s", names)
	}
}

func toJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
