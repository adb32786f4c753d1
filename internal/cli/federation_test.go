package cli_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/groups"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/users"
	"github.com/zitadel/oidc/v3/pkg/client/rp"
	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/sovcloud/sov/internal/servertest"
)

// TestOpenStackCLIFederation: on cloud B, the openstack CLI registers
// cloud A's OpenID Connect provider (identity provider, mapping,
// federation protocol), and A's user and A's service client then use B
// through keystoneauth's OIDC plugins: v3oidcaccesstoken with a token
// from A, v3oidcauthcode with a code from A's login page, and
// v3oidcclientcredentials against A's token endpoint.
func TestOpenStackCLIFederation(t *testing.T) {
	t.Parallel()
	requireOpenStackCLI(t)
	ctx := context.Background()
	a := servertest.StartTLS(t, servertest.Fake)
	b := servertest.Start(t, servertest.Fake)
	alice := a.NewTenant(t, "research", "member")
	g, err := groups.Create(ctx, a.Admin(t), groups.CreateOpts{Name: "b-users", DomainID: "default"}).Extract()
	if err != nil {
		t.Fatal(err)
	}
	if err := users.AddToGroup(ctx, a.Admin(t), g.ID, alice.UserID).ExtractErr(); err != nil {
		t.Fatal(err)
	}
	const redirect = "https://b.example/cb"
	web, webSecret := a.NewOIDCClient(t, map[string]any{"name": "cloud B", "redirect_uris": []string{redirect}})
	svc, svcSecret := a.NewOIDCClient(t, map[string]any{"name": "B automation", "grant_types": []string{"client_credentials"}})
	dir := t.TempDir()
	cacert := filepath.Join(dir, "a.pem")
	os.WriteFile(cacert, []byte(a.CertPEM(t)), 0o600)
	rules := filepath.Join(dir, "rules.json")
	os.WriteFile(rules, []byte(`[
		{"local": [{"user": {"name": "{0}"}}, {"projects": [{"name": "{1}", "roles": [{"name": "member"}]}]}],
		 "remote": [{"type": "preferred_username"}, {"type": "projects.name"}, {"type": "groups", "any_one_of": ["b-users"]},
		            {"type": "client_id", "any_one_of": ["`+web+`"]}]},
		{"local": [{"user": {"name": "svc-{0}"}}, {"projects": [{"name": "automation", "roles": [{"name": "member"}]}]}],
		 "remote": [{"type": "sub"}, {"type": "client_id", "any_one_of": ["`+svc+`"]}]}]`), 0o600)

	none := filepath.Join(dir, "none.yaml")
	badmin := []string{"--os-auth-url", b.AuthURL, "--os-identity-api-version", "3", "--os-username", "admin", "--os-password", servertest.AdminPassword,
		"--os-user-domain-name", "Default", "--os-project-name", "admin", "--os-project-domain-name", "Default"}
	run := func(args ...string) string { return osc(t, none, true, append(badmin, args...)...) }
	run("identity", "provider", "create", "--remote-id", a.URL+"/identity", "--description", "cloud A", "cloud-a")
	run("mapping", "create", "--rules", rules, "cloud-a-map")
	run("federation", "protocol", "create", "--identity-provider", "cloud-a", "--mapping", "cloud-a-map", "openid")
	var idps []map[string]any
	jsonOut(t, run("identity", "provider", "list", "-f", "json"), &idps)
	if len(idps) != 1 || idps[0]["ID"] != "cloud-a" {
		t.Fatalf("identity provider list = %v", idps)
	}
	var idp map[string]any
	jsonOut(t, run("identity", "provider", "show", "cloud-a", "-f", "json"), &idp)
	if !strings.Contains(toJSON(idp["remote_ids"]), a.URL+"/identity") {
		t.Fatalf("identity provider show = %v", idp)
	}
	if out := run("federation", "protocol", "list", "--identity-provider", "cloud-a", "-f", "json"); !strings.Contains(out, "cloud-a-map") {
		t.Fatalf("federation protocol list = %s", out)
	}
	if out := run("mapping", "show", "cloud-a-map", "-f", "json"); !strings.Contains(out, "b-users") {
		t.Fatalf("mapping show = %s", out)
	}
	// What the openstack CLI cannot say (Keystone keeps it in Apache's
	// mod_auth_openidc): the audiences B accepts and A's CA, through sov's API.
	if code, out := b.API(t, b.AdminToken(t), "PATCH", "/identity/v3/OS-FEDERATION/identity_providers/cloud-a", map[string]any{"identity_provider": map[string]any{
		"oidc": map[string]any{"audiences": []string{web, svc}, "ca_certificate": a.CertPEM(t)}}}); code != 200 {
		t.Fatalf("set the provider's audiences: %d %v", code, out)
	}
	domain := idp["domain_id"].(string)

	fed := func(auth ...string) []string {
		return append([]string{"--os-auth-url", b.AuthURL, "--os-identity-api-version", "3", "--os-identity-provider", "cloud-a",
			"--os-protocol", "openid", "--os-project-domain-id", domain}, auth...)
	}
	party, err := rp.NewRelyingPartyOIDC(ctx, a.URL+"/identity", web, webSecret, redirect, []string{"openid", "profile", "groups", "projects"}, rp.WithHTTPClient(a.HTTPClient))
	if err != nil {
		t.Fatal(err)
	}
	// v3oidcaccesstoken: a token A issued.
	code, _ := a.SignIn(t, rp.AuthURL("s", party), redirect, "research-user", alice.Password)
	tokens, err := rp.CodeExchange[*oidc.IDTokenClaims](ctx, code, party)
	if err != nil {
		t.Fatal(err)
	}
	var tok map[string]any
	jsonOut(t, osc(t, none, true, append(fed("--os-auth-type", "v3oidcaccesstoken", "--os-access-token", tokens.AccessToken,
		"--os-project-name", "research"), "token", "issue", "-f", "json")...), &tok)
	if tok["project_id"] == nil || tok["user_id"] == nil {
		t.Fatalf("federated token = %v", tok)
	}
	if out := osc(t, none, true, append(fed("--os-auth-type", "v3oidcaccesstoken", "--os-access-token", tokens.AccessToken,
		"--os-project-name", "research"), "server", "list", "-f", "json")...); strings.TrimSpace(out) != "[]" {
		t.Fatalf("server list as the federated user = %s", out)
	}
	// v3oidcauthcode: keystoneauth exchanges a code from A's login page.
	code, _ = a.SignIn(t, rp.AuthURL("s", party), redirect, "research-user", alice.Password)
	jsonOut(t, osc(t, none, true, append(fed("--os-auth-type", "v3oidcauthcode", "--os-client-id", web, "--os-client-secret", webSecret,
		"--os-discovery-endpoint", a.URL+"/identity/.well-known/openid-configuration", "--os-cacert", cacert, "--os-openid-scope", "openid profile groups projects",
		"--os-code", code, "--os-redirect-uri", redirect, "--os-project-name", "research"), "token", "issue", "-f", "json")...), &tok)
	if tok["project_id"] == nil {
		t.Fatalf("auth code token = %v", tok)
	}
	// v3oidcclientcredentials: A's service client, mapped to its own user and project.
	jsonOut(t, osc(t, none, true, append(fed("--os-auth-type", "v3oidcclientcredentials", "--os-client-id", svc, "--os-client-secret", svcSecret,
		"--os-discovery-endpoint", a.URL+"/identity/.well-known/openid-configuration", "--os-cacert", cacert, "--os-openid-scope", "openid",
		"--os-project-name", "automation"), "token", "issue", "-f", "json")...), &tok)
	if tok["project_id"] == nil {
		t.Fatalf("client credentials token = %v", tok)
	}
	// A wrong client secret, or a token A never issued, get nothing.
	osc(t, none, false, append(fed("--os-auth-type", "v3oidcclientcredentials", "--os-client-id", svc, "--os-client-secret", "wrong",
		"--os-discovery-endpoint", a.URL+"/identity/.well-known/openid-configuration", "--os-cacert", cacert, "--os-openid-scope", "openid",
		"--os-project-name", "automation"), "token", "issue")...)
	osc(t, none, false, append(fed("--os-auth-type", "v3oidcaccesstoken", "--os-access-token", "forged.token.value",
		"--os-project-name", "research"), "token", "issue")...)
}

func toJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
