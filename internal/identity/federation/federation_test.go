package federation_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"
	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/groups"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/users"
	"github.com/zitadel/oidc/v3/pkg/client/rp"
	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/sovcloud/sov/internal/servertest"
)

const redirect = "https://app.example/cb"

func must[T any](v T, err error) T {
	if err != nil {
		panic(fmt.Errorf("%T: %w", v, err))
	}
	return v
}

// accessToken signs user in at cloud a through the client and returns the
// access token.
func accessToken(t *testing.T, a *servertest.Server, party rp.RelyingParty, user, password string) string {
	t.Helper()
	b := make([]byte, 32)
	rand.Read(b)
	v := base64.RawURLEncoding.EncodeToString(b)
	code, _ := a.SignIn(t, rp.AuthURL("s", party, rp.WithCodeChallenge(oidc.NewSHACodeChallenge(v))), redirect, user, password)
	return must(rp.CodeExchange[*oidc.IDTokenClaims](context.Background(), code, party, rp.WithCodeVerifier(v))).AccessToken
}

// fedAuth presents a bearer token at cloud b's federation auth endpoint.
func fedAuth(t *testing.T, b *servertest.Server, idp, bearer string) (int, string, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest("POST", b.URL+"/identity/v3/OS-FEDERATION/identity_providers/"+idp+"/protocols/openid/auth", nil)
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp := must(b.HTTPClient.Do(req))
	defer resp.Body.Close()
	out := map[string]any{}
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, resp.Header.Get("X-Subject-Token"), out
}

// trust registers cloud a's OpenID Connect provider at cloud b, as the
// admin, accepting tokens issued to audience, with a mapping that makes a
// user of a member of a project of b for each project they have on a, if
// they are in a's group "b-users".
func trust(t *testing.T, a, b *servertest.Server, audience string) string {
	t.Helper()
	admin := b.AdminToken(t)
	code, out := b.API(t, admin, "PUT", "/identity/v3/OS-FEDERATION/identity_providers/cloud-a", map[string]any{"identity_provider": map[string]any{
		"remote_ids": []string{a.URL + "/identity"}, "description": "cloud A",
		"oidc": map[string]any{"audiences": []string{audience}, "ca_certificate": a.CertPEM(t)}}})
	if code != http.StatusCreated {
		t.Fatalf("create identity provider: %d %v", code, out)
	}
	domain := out["identity_provider"].(map[string]any)["domain_id"].(string)
	rules := []any{map[string]any{
		"local": []any{
			map[string]any{"user": map[string]any{"name": "{0}", "email": "{1}"}},
			map[string]any{"projects": []any{map[string]any{"name": "{2}", "roles": []any{map[string]any{"name": "member"}}}}},
		},
		"remote": []any{
			map[string]any{"type": "preferred_username"}, map[string]any{"type": "email"}, map[string]any{"type": "projects.name"},
			map[string]any{"type": "groups", "any_one_of": []string{"b-users"}},
		},
	}}
	if code, out := b.API(t, admin, "PUT", "/identity/v3/OS-FEDERATION/mappings/cloud-a-map", map[string]any{"mapping": map[string]any{"rules": rules}}); code != http.StatusCreated {
		t.Fatalf("create mapping: %d %v", code, out)
	}
	if code, out := b.API(t, admin, "PUT", "/identity/v3/OS-FEDERATION/identity_providers/cloud-a/protocols/openid", map[string]any{"protocol": map[string]any{"mapping_id": "cloud-a-map"}}); code != http.StatusCreated {
		t.Fatalf("create protocol: %d %v", code, out)
	}
	return domain
}

// TestCloudToCloud: a user of cloud a, with an access token from a's
// OpenID Connect provider, gets a Keystone token on cloud b, is mapped to
// a shadow user in the provider's domain with a project of b, and lists
// servers there; a user a's mapping rules out, and tokens that are forged,
// unsigned, for another audience or from a provider b does not trust get
// nothing.
func TestCloudToCloud(t *testing.T) {
	a := servertest.StartTLS(t, servertest.Fake)
	b := servertest.Start(t, servertest.Fake)
	ctx := context.Background()
	alice := a.NewTenant(t, "research", "member")
	bob := a.NewTenantUser(t, "research", "reader")
	aAdmin := a.Admin(t)
	g := must(groups.Create(ctx, aAdmin, groups.CreateOpts{Name: "b-users", DomainID: "default"}).Extract())
	if err := users.AddToGroup(ctx, aAdmin, g.ID, alice.UserID).ExtractErr(); err != nil {
		t.Fatal(err)
	}
	if code, _ := a.API(t, a.AdminToken(t), "PATCH", "/identity/v3/users/"+alice.UserID, map[string]any{"user": map[string]any{"email": "alice@a.example"}}); code != http.StatusOK {
		t.Fatalf("set email: %d", code)
	}
	clientID, secret := a.NewOIDCClient(t, map[string]any{"name": "cloud B", "redirect_uris": []string{redirect}})
	party := must(rp.NewRelyingPartyOIDC(ctx, a.URL+"/identity", clientID, secret, redirect,
		[]string{"openid", "profile", "email", "groups", "projects"}, rp.WithHTTPClient(a.HTTPClient)))
	domain := trust(t, a, b, clientID)

	tok := accessToken(t, a, party, "research-user", alice.Password)
	code, subject, out := fedAuth(t, b, "cloud-a", tok)
	if code != http.StatusCreated || subject == "" {
		t.Fatalf("federated auth: %d %v", code, out)
	}
	user := out["token"].(map[string]any)["user"].(map[string]any)
	fed, _ := user["OS-FEDERATION"].(map[string]any)
	if user["name"] != "research-user" || user["domain"].(map[string]any)["id"] != domain || fed == nil ||
		fed["identity_provider"].(map[string]any)["id"] != "cloud-a" {
		t.Fatalf("federated token's user: %v", user)
	}
	// The unscoped token rescopes to the mapped project, made on b, and works there.
	provider := must(openstack.NewClient(b.AuthURL))
	err := openstack.Authenticate(ctx, provider, gophercloud.AuthOptions{IdentityEndpoint: b.AuthURL, TokenID: subject,
		Scope: &gophercloud.AuthScope{ProjectName: "research", DomainID: domain}})
	if err != nil {
		t.Fatalf("rescope to the mapped project: %v", err)
	}
	compute := must(openstack.NewComputeV2(provider, gophercloud.EndpointOpts{}))
	if _, err := servers.List(compute, nil).AllPages(ctx); err != nil {
		t.Fatalf("list servers as the federated user: %v", err)
	}
	// A second login is the same user.
	if _, again, _ := fedAuth(t, b, "cloud-a", accessToken(t, a, party, "research-user", alice.Password)); again == "" {
		t.Fatal("second federated login failed")
	}
	code, out = b.API(t, b.AdminToken(t), "GET", "/identity/v3/users?domain_id="+domain, nil)
	if l, _ := out["users"].([]any); code != http.StatusOK || len(l) != 1 {
		t.Fatalf("shadow users: %d %v", code, out)
	}

	// A user the mapping rules out (not in b-users) gets nothing.
	if code, _, _ := fedAuth(t, b, "cloud-a", accessToken(t, a, party, "research-reader", bob.Password)); code != http.StatusUnauthorized {
		t.Fatalf("unmapped user: %d", code)
	}
	// No token, a forged signature, alg none, another client's token, a
	// token of an identity provider b does not know.
	if code, _, _ := fedAuth(t, b, "cloud-a", ""); code != http.StatusUnauthorized {
		t.Fatalf("no token: %d", code)
	}
	parts := strings.Split(tok, ".")
	for name, bad := range map[string]string{
		"forged":                       parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString([]byte("not a signature")),
		"alg none":                     base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none"}`)) + "." + parts[1] + ".",
		"self-signed with another key": selfSigned(t, parts[1]),
		"opaque garbage":               "not-a-jwt",
	} {
		if code, _, _ := fedAuth(t, b, "cloud-a", bad); code != http.StatusUnauthorized {
			t.Errorf("%s token: %d", name, code)
		}
	}
	other, otherSecret := a.NewOIDCClient(t, map[string]any{"name": "another app", "redirect_uris": []string{redirect}})
	otherParty := must(rp.NewRelyingPartyOIDC(ctx, a.URL+"/identity", other, otherSecret, redirect,
		[]string{"openid", "profile", "email", "groups", "projects"}, rp.WithHTTPClient(a.HTTPClient)))
	if code, _, _ := fedAuth(t, b, "cloud-a", accessToken(t, a, otherParty, "research-user", alice.Password)); code != http.StatusUnauthorized {
		t.Errorf("token for another audience: %d", code)
	}
	if code, _, _ := fedAuth(t, b, "no-such-idp", tok); code != http.StatusNotFound {
		t.Errorf("unknown identity provider: %d", code)
	}
	// An identity provider whose remote ids do not name a's issuer refuses a's tokens.
	admin := b.AdminToken(t)
	b.API(t, admin, "PUT", "/identity/v3/OS-FEDERATION/identity_providers/elsewhere", map[string]any{"identity_provider": map[string]any{
		"remote_ids": []string{"https://elsewhere.example"}, "oidc": map[string]any{"audiences": []string{clientID}}}})
	b.API(t, admin, "PUT", "/identity/v3/OS-FEDERATION/identity_providers/elsewhere/protocols/openid", map[string]any{"protocol": map[string]any{"mapping_id": "cloud-a-map"}})
	if code, _, _ := fedAuth(t, b, "elsewhere", tok); code != http.StatusUnauthorized {
		t.Errorf("token of an untrusted issuer: %d", code)
	}
	// A disabled provider refuses everyone.
	b.API(t, admin, "PATCH", "/identity/v3/OS-FEDERATION/identity_providers/cloud-a", map[string]any{"identity_provider": map[string]any{"enabled": false}})
	if code, _, _ := fedAuth(t, b, "cloud-a", tok); code != http.StatusForbidden {
		t.Errorf("disabled identity provider: %d", code)
	}
	// Only admins manage federation.
	member := b.NewTenant(t, "b-project", "member")
	mt := b.Login(t, gophercloud.AuthOptions{UserID: member.UserID, Password: member.Password, Scope: &gophercloud.AuthScope{ProjectID: member.ProjectID}}).ProviderClient.Token()
	for _, req := range []struct{ method, path string }{{"GET", "/identity_providers"}, {"GET", "/mappings"},
		{"PUT", "/identity_providers/mine"}, {"DELETE", "/mappings/cloud-a-map"}, {"GET", "/identity_providers/cloud-a/protocols"}} {
		if code, _ := b.API(t, mt, req.method, "/identity/v3/OS-FEDERATION"+req.path, map[string]any{"identity_provider": map[string]any{}}); code != http.StatusForbidden {
			t.Errorf("member %s %s: %d", req.method, req.path, code)
		}
	}
}

// selfSigned is a JWT with the payload of a real token, signed by a key
// of its own (naming a key id the provider never published).
func selfSigned(t *testing.T, payload string) string {
	t.Helper()
	key := must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader))
	signer := must(jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, (&jose.SignerOptions{}).WithHeader("kid", "attacker")))
	raw := must(base64.RawURLEncoding.DecodeString(payload))
	return must(must(signer.Sign(raw)).CompactSerialize())
}

// TestKeyRotationDuringLogins: cloud A rotates its signing keys again and
// again while its tokens keep logging in at cloud B: no login fails, since
// each new key was published before it signed and B fetches keys it does
// not know.
func TestKeyRotationDuringLogins(t *testing.T) {
	a := servertest.StartTLS(t, servertest.Fake)
	b := servertest.Start(t, servertest.Fake)
	ctx := context.Background()
	svc, secret := a.NewOIDCClient(t, map[string]any{"name": "svc", "grant_types": []string{"client_credentials"}})
	admin := b.AdminToken(t)
	b.API(t, admin, "PUT", "/identity/v3/OS-FEDERATION/identity_providers/cloud-a", map[string]any{"identity_provider": map[string]any{
		"remote_ids": []string{a.URL + "/identity"}, "oidc": map[string]any{"audiences": []string{svc}, "ca_certificate": a.CertPEM(t)}}})
	rules := []any{map[string]any{"local": []any{map[string]any{"user": map[string]any{"name": "svc-{0}"}}}, "remote": []any{map[string]any{"type": "sub"}}}}
	b.API(t, admin, "PUT", "/identity/v3/OS-FEDERATION/mappings/m", map[string]any{"mapping": map[string]any{"rules": rules}})
	b.API(t, admin, "PUT", "/identity/v3/OS-FEDERATION/identity_providers/cloud-a/protocols/openid", map[string]any{"protocol": map[string]any{"mapping_id": "m"}})
	party := must(rp.NewRelyingPartyOIDC(ctx, a.URL+"/identity", svc, secret, "", []string{"openid"}, rp.WithHTTPClient(a.HTTPClient)))
	failed := 0
	for round := 0; round < 4; round++ {
		for i := 0; i < 5; i++ {
			tok := must(rp.ClientCredentials(ctx, party, nil))
			if code, _, out := fedAuth(t, b, "cloud-a", tok.AccessToken); code != http.StatusCreated {
				failed++
				t.Errorf("round %d: %d %v", round, code, out)
			}
		}
		if err := a.OpenID().RotateKeys(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if failed > 0 {
		t.Fatalf("%d logins failed across rotations", failed)
	}
}
