package federation_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"testing"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/zitadel/oidc/v3/example/server/exampleop"
	"github.com/zitadel/oidc/v3/example/server/storage"
	"github.com/zitadel/oidc/v3/pkg/client/rp"
	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/sovcloud/sov/internal/servertest"
)

// exampleIdP runs zitadel/oidc's example OpenID Provider (a third party:
// not sov's code) with a web client of its own, and returns its issuer.
func exampleIdP(t testing.TB, clientID, secret, redirectURI string) string {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	issuer := "http://" + srv.Listener.Addr().String()
	storage.RegisterClients(storage.WebClient(clientID, secret, redirectURI))
	st := storage.NewStorage(storage.NewUserStore(issuer))
	srv.Config.Handler = exampleop.SetupServer(issuer, st, slog.New(slog.NewTextHandler(io.Discard, nil)), false)
	srv.Start()
	t.Cleanup(srv.Close)
	return issuer
}

var exampleLoginID = regexp.MustCompile(`name="id" value="([^"]+)"`)

// exampleSignIn signs the example provider's test user in through its
// login page and returns the code its client gets.
func exampleSignIn(t testing.TB, authURL, redirectURI string) string {
	t.Helper()
	b := (&servertest.Server{HTTPClient: http.DefaultClient}).Browser(redirectURI)
	resp := must(b.Get(authURL))
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := exampleLoginID.FindSubmatch(page)
	if m == nil {
		t.Fatalf("example login page: %d %s", resp.StatusCode, page)
	}
	host := resp.Request.URL.Hostname()
	resp = must(b.PostForm(resp.Request.URL.String(), url.Values{"id": {string(m[1])}, "username": {"test-user@" + host}, "password": {"verysecure"}}))
	resp.Body.Close()
	loc, err := resp.Location()
	if err != nil || loc.Query().Get("code") == "" {
		t.Fatalf("example login: %d %v", resp.StatusCode, resp.Header.Get("Location"))
	}
	return loc.Query().Get("code")
}

// TestThirdPartyProvider: sov trusts a third-party OpenID Provider that
// issues opaque access tokens; sov validates them by introspection (as
// the client it is registered as there), maps the user, and honours the
// provider's revocation of the token.
func TestThirdPartyProvider(t *testing.T) {
	const cbURL = "https://sov-b.example/cb"
	issuer := exampleIdP(t, "sov-b", "sov-b-secret", cbURL)
	b := servertest.Start(t, servertest.Fake)
	ctx := context.Background()
	admin := b.AdminToken(t)
	code, out := b.API(t, admin, "PUT", "/identity/v3/OS-FEDERATION/identity_providers/example", map[string]any{"identity_provider": map[string]any{
		"remote_ids": []string{issuer}, "oidc": map[string]any{"audiences": []string{"sov-b"}, "client_id": "sov-b", "client_secret": "sov-b-secret"}}})
	if code != http.StatusCreated {
		t.Fatalf("identity provider: %d %v", code, out)
	}
	if _, ok := out["identity_provider"].(map[string]any)["oidc"].(map[string]any)["client_secret"]; ok {
		t.Fatal("the API shows the provider's client secret")
	}
	domain := out["identity_provider"].(map[string]any)["domain_id"].(string)
	rules := []any{map[string]any{
		"local":  []any{map[string]any{"user": map[string]any{"id": "{0}", "name": "{1}"}}, map[string]any{"projects": []any{map[string]any{"name": "example-users", "roles": []any{map[string]any{"name": "member"}}}}}},
		"remote": []any{map[string]any{"type": "sub"}, map[string]any{"type": "preferred_username"}},
	}}
	b.API(t, admin, "PUT", "/identity/v3/OS-FEDERATION/mappings/example", map[string]any{"mapping": map[string]any{"rules": rules}})
	b.API(t, admin, "PUT", "/identity/v3/OS-FEDERATION/identity_providers/example/protocols/openid", map[string]any{"protocol": map[string]any{"mapping_id": "example"}})

	party := must(rp.NewRelyingPartyOIDC(ctx, issuer, "sov-b", "sov-b-secret", cbURL, []string{"openid", "profile", "email"}))
	v := make([]byte, 32)
	rand.Read(v)
	verifier := base64.RawURLEncoding.EncodeToString(v)
	code2 := exampleSignIn(t, rp.AuthURL("s", party, rp.WithCodeChallenge(oidc.NewSHACodeChallenge(verifier))), cbURL)
	tokens := must(rp.CodeExchange[*oidc.IDTokenClaims](ctx, code2, party, rp.WithCodeVerifier(verifier)))

	status, subject, body := fedAuth(t, b, "example", tokens.AccessToken)
	if status != http.StatusCreated {
		t.Fatalf("federated auth with the third party's opaque token: %d %v", status, body)
	}
	provider := must(openstack.NewClient(b.AuthURL))
	if err := openstack.Authenticate(ctx, provider, gophercloud.AuthOptions{IdentityEndpoint: b.AuthURL, TokenID: subject,
		Scope: &gophercloud.AuthScope{ProjectName: "example-users", DomainID: domain}}); err != nil {
		t.Fatalf("rescope: %v", err)
	}
	// The provider revokes the token: sov's next login with it fails.
	if err := rp.RevokeToken(ctx, party, tokens.AccessToken, "access_token"); err != nil {
		t.Fatal(err)
	}
	if status, _, _ := fedAuth(t, b, "example", tokens.AccessToken); status != http.StatusUnauthorized {
		t.Fatalf("a token the provider revoked: %d", status)
	}
	// With a wrong secret at the provider, sov cannot introspect: 502, never a login.
	b.API(t, admin, "PATCH", "/identity/v3/OS-FEDERATION/identity_providers/example", map[string]any{"identity_provider": map[string]any{
		"oidc": map[string]any{"audiences": []string{"sov-b"}, "client_id": "sov-b", "client_secret": "wrong"}}})
	fresh := must(rp.CodeExchange[*oidc.IDTokenClaims](ctx, exampleSignIn(t, rp.AuthURL("s", party, rp.WithCodeChallenge(oidc.NewSHACodeChallenge(verifier))), cbURL), party, rp.WithCodeVerifier(verifier)))
	if status, _, _ := fedAuth(t, b, "example", fresh.AccessToken); status != http.StatusBadGateway {
		t.Fatalf("introspection with a wrong secret: %d", status)
	}
}
