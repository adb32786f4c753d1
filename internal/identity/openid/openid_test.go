package openid_test

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/groups"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/users"
	"github.com/pquerna/otp/totp"
	"github.com/zitadel/oidc/v3/pkg/client/rp"
	"github.com/zitadel/oidc/v3/pkg/client/rs"
	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/sovcloud/sov/internal/server"
	"github.com/sovcloud/sov/internal/servertest"
)

const redirect = "https://app.example/callback"

var allScopes = []string{"openid", "profile", "email", "groups", "projects", "offline_access"}

func verifier() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// relyingParty is a confidential web client of s and zitadel/oidc's RP for it.
func relyingParty(t *testing.T, s *servertest.Server, extra map[string]any) (rp.RelyingParty, string, string) {
	t.Helper()
	body := map[string]any{"name": "web app", "redirect_uris": []string{redirect}}
	for k, v := range extra {
		body[k] = v
	}
	id, secret := newClient(t, s, body)
	r := must(rp.NewRelyingPartyOIDC(ctx(), s.URL+"/identity", id, secret, redirect, allScopes,
		rp.WithHTTPClient(s.HTTPClient), rp.WithSigningAlgsFromDiscovery()))
	return r, id, secret
}

// TestCodeFlow: a real relying party (zitadel/oidc's RP) signs a Keystone
// user in with the authorization code flow and PKCE, over HTTPS; the ID
// token, userinfo and introspection carry the user's groups, projects and
// roles; codes and refresh tokens are good once, and a refresh token used
// twice revokes its family.
func TestCodeFlow(t *testing.T) {
	s := servertest.StartTLS(t, servertest.Fake)
	tn := s.NewTenant(t, "oidc-a", "member")
	admin := s.Admin(t)
	g := must(groups.Create(ctx(), admin, groups.CreateOpts{Name: "devs", DomainID: "default"}).Extract())
	if err := users.AddToGroup(ctx(), admin, g.ID, tn.UserID).ExtractErr(); err != nil {
		t.Fatal(err)
	}
	party, clientID, secret := relyingParty(t, s, map[string]any{"post_logout_redirect_uris": []string{"https://app.example/bye"}})

	v := verifier()
	authURL := rp.AuthURL("st4te", party, rp.WithCodeChallenge(oidc.NewSHACodeChallenge(v)))
	code, state := signIn(t, s, authURL, redirect, "oidc-a-user", tn.Password)
	if state != "st4te" || code == "" {
		t.Fatalf("code %q state %q", code, state)
	}
	tokens := must(rp.CodeExchange[*oidc.IDTokenClaims](ctx(), code, party, rp.WithCodeVerifier(v)))
	id := tokens.IDTokenClaims
	if id.Subject != tn.UserID || id.PreferredUsername != "oidc-a-user" || id.Issuer != s.URL+"/identity" || !slices.Contains(id.Audience, clientID) {
		t.Fatalf("ID token claims: %+v", id)
	}
	var projects []struct {
		ID    string   `json:"id"`
		Roles []string `json:"roles"`
	}
	b, _ := json.Marshal(id.Claims["projects"])
	json.Unmarshal(b, &projects)
	if len(projects) != 1 || projects[0].ID != tn.ProjectID || !slices.Equal(projects[0].Roles, []string{"member", "reader"}) {
		t.Fatalf("projects claim: %s", b)
	}
	if gs, _ := json.Marshal(id.Claims["groups"]); string(gs) != `["devs"]` {
		t.Fatalf("groups claim: %s", gs)
	}
	if _, err := rp.CodeExchange[*oidc.IDTokenClaims](ctx(), code, party, rp.WithCodeVerifier(v)); err == nil {
		t.Fatal("a code was exchanged twice")
	}

	info := must(rp.Userinfo[*oidc.UserInfo](ctx(), tokens.AccessToken, "Bearer", tn.UserID, party))
	if info.PreferredUsername != "oidc-a-user" || info.Claims["projects"] == nil {
		t.Fatalf("userinfo: %+v", info)
	}
	// The access token is a JWT carrying the same claims, for a cloud that
	// trusts this one to map the user from it alone.
	jws := must(jose.ParseSigned(tokens.AccessToken, []jose.SignatureAlgorithm{jose.RS256}))
	var at map[string]any
	json.Unmarshal(jws.UnsafePayloadWithoutVerification(), &at)
	if at["sub"] != tn.UserID || at["projects"] == nil || at["client_id"] != clientID {
		t.Fatalf("access token claims: %v", at)
	}

	// Refresh tokens rotate; using one twice revokes the family.
	first := tokens.RefreshToken
	next := must(rp.RefreshTokens[*oidc.IDTokenClaims](ctx(), party, first, "", ""))
	if next.RefreshToken == "" || next.RefreshToken == first {
		t.Fatalf("refresh token did not rotate: %q", next.RefreshToken)
	}
	if _, err := rp.RefreshTokens[*oidc.IDTokenClaims](ctx(), party, first, "", ""); err == nil {
		t.Fatal("a used refresh token was accepted")
	}
	if _, err := rp.RefreshTokens[*oidc.IDTokenClaims](ctx(), party, next.RefreshToken, "", ""); err == nil {
		t.Fatal("the family of a reused refresh token was not revoked")
	}

	// Introspection sees an active token until it is revoked.
	res := must(rs.NewResourceServerClientCredentials(ctx(), s.URL+"/identity", clientID, secret, rs.WithClient(s.HTTPClient)))
	fresh := exchange(t, s, party, "oidc-a-user", tn.Password)
	in := must(rs.Introspect[*oidc.IntrospectionResponse](ctx(), res, fresh.AccessToken))
	if !in.Active || in.Subject != tn.UserID || in.ClientID != clientID {
		t.Fatalf("introspection: %+v", in)
	}
	if err := rp.RevokeToken(ctx(), party, fresh.AccessToken, "access_token"); err != nil {
		t.Fatal(err)
	}
	if in := must(rs.Introspect[*oidc.IntrospectionResponse](ctx(), res, fresh.AccessToken)); in.Active {
		t.Fatal("a revoked access token is still active")
	}
	if _, err := rp.Userinfo[*oidc.UserInfo](ctx(), fresh.AccessToken, "Bearer", tn.UserID, party); err == nil {
		t.Fatal("userinfo answered for a revoked token")
	}

	// End-session (logout) ends the user's tokens at the client and sends
	// the browser to the registered post-logout URI, and only there.
	last := exchange(t, s, party, "oidc-a-user", tn.Password)
	loc := must(rp.EndSession(ctx(), party, last.IDToken, "https://app.example/bye", "st", "", nil))
	if loc == nil || loc.Host != "app.example" || loc.Query().Get("state") != "st" {
		t.Fatalf("end session went to %v", loc)
	}
	if _, err := rp.RefreshTokens[*oidc.IDTokenClaims](ctx(), party, last.RefreshToken, "", ""); err == nil {
		t.Fatal("a refresh token outlived the logout")
	}
	if loc, err := rp.EndSession(ctx(), party, last.IDToken, "https://evil.example/", "", "", nil); err == nil && loc != nil && loc.Host == "evil.example" {
		t.Fatal("end session redirected to an unregistered URI")
	}
}

// exchange signs in and exchanges the code.
func exchange(t *testing.T, s *servertest.Server, party rp.RelyingParty, user, password string) *oidc.Tokens[*oidc.IDTokenClaims] {
	t.Helper()
	v := verifier()
	code, _ := signIn(t, s, rp.AuthURL("s", party, rp.WithCodeChallenge(oidc.NewSHACodeChallenge(v))), redirect, user, password)
	return must(rp.CodeExchange[*oidc.IDTokenClaims](ctx(), code, party, rp.WithCodeVerifier(v)))
}

// TestClientCredentials: a confidential client gets a token for itself;
// a wrong secret gets none.
func TestClientCredentials(t *testing.T) {
	s := servertest.StartTLS(t, servertest.Fake)
	id, secret := newClient(t, s, map[string]any{"name": "service", "grant_types": []string{"client_credentials"}})
	party := must(rp.NewRelyingPartyOIDC(ctx(), s.URL+"/identity", id, secret, "", []string{"openid"}, rp.WithHTTPClient(s.HTTPClient)))
	tok := must(rp.ClientCredentials(ctx(), party, nil))
	res := must(rs.NewResourceServerClientCredentials(ctx(), s.URL+"/identity", id, secret, rs.WithClient(s.HTTPClient)))
	if in := must(rs.Introspect[*oidc.IntrospectionResponse](ctx(), res, tok.AccessToken)); !in.Active || in.Subject != id {
		t.Fatalf("introspection: %+v", in)
	}
	wrong := must(rp.NewRelyingPartyOIDC(ctx(), s.URL+"/identity", id, "not-the-secret", "", []string{"openid"}, rp.WithHTTPClient(s.HTTPClient)))
	if _, err := rp.ClientCredentials(ctx(), wrong, nil); err == nil {
		t.Fatal("a wrong client secret got a token")
	}
	// A client without the grant gets none either.
	party2, _, _ := relyingParty(t, s, nil)
	if _, err := rp.ClientCredentials(ctx(), party2, nil); err == nil {
		t.Fatal("a client without the client_credentials grant got a token")
	}
}

// TestLoginRefusals: a wrong password, a missing or foreign CSRF token, an
// unregistered redirect URI, a public client without PKCE and prompt=none
// are each refused, and no code reaches the client.
func TestLoginRefusals(t *testing.T) {
	s := servertest.StartTLS(t, servertest.Fake)
	tn := s.NewTenant(t, "oidc-r", "member")
	party, _, _ := relyingParty(t, s, nil)
	v := verifier()
	authURL := rp.AuthURL("s", party, rp.WithCodeChallenge(oidc.NewSHACodeChallenge(v)))

	b := s.Browser(redirect)
	action, id, csrf := servertest.LoginForm(t, b, authURL)
	form := url.Values{"authRequestID": {id}, "csrf": {csrf}, "username": {"oidc-r-user"}, "password": {"wrong"}, "domain": {"Default"}}
	if resp, page := servertest.Submit(t, b, action, form); resp.StatusCode != http.StatusUnauthorized || !strings.Contains(page, `role="alert"`) {
		t.Fatalf("wrong password: %d %s", resp.StatusCode, page)
	}
	// The page sets a fresh CSRF token each time it renders.
	_, id, csrf = servertest.LoginForm(t, b, authURL)
	form = url.Values{"authRequestID": {id}, "username": {"oidc-r-user"}, "password": {tn.Password}, "domain": {"Default"}}
	if resp, _ := servertest.Submit(t, b, action, form); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("missing CSRF token: %d", resp.StatusCode)
	}
	// Another browser's token (the attacker's own) does not match this one's cookie.
	_, _, attacker := servertest.LoginForm(t, s.Browser(redirect), authURL)
	form.Set("csrf", attacker)
	if resp, _ := servertest.Submit(t, b, action, form); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("foreign CSRF token: %d", resp.StatusCode)
	}
	_ = csrf

	// An unregistered redirect URI gets an error page, never a redirect there.
	evil := strings.Replace(authURL, url.QueryEscape(redirect), url.QueryEscape("https://evil.example/cb"), 1)
	resp, err := s.Browser("https://evil.example").Get(evil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode < 400 || strings.HasPrefix(resp.Header.Get("Location"), "https://evil.example") {
		t.Fatalf("unregistered redirect URI: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}

	// A public client must use PKCE.
	pub, _ := newClient(t, s, map[string]any{"name": "cli", "public": true, "redirect_uris": []string{"http://127.0.0.1/cb"}})
	noPKCE := s.URL + "/identity/oidc/authorize?" + url.Values{"client_id": {pub}, "redirect_uri": {"http://127.0.0.1/cb"},
		"response_type": {"code"}, "scope": {"openid"}, "state": {"x"}}.Encode()
	resp, err = s.Browser("http://127.0.0.1/cb").Get(noPKCE)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc, _ := resp.Location(); loc == nil || loc.Query().Get("error") != "invalid_request" || loc.Query().Get("code") != "" {
		t.Fatalf("public client without PKCE: %d %v", resp.StatusCode, resp.Header.Get("Location"))
	}
	// prompt=none cannot be honoured: there is no login session.
	resp, err = s.Browser(redirect).Get(rp.AuthURL("s", party, rp.WithCodeChallenge(oidc.NewSHACodeChallenge(v)), rp.WithPrompt("none")))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc, _ := resp.Location(); loc == nil || loc.Query().Get("error") != "login_required" {
		t.Fatalf("prompt=none: %d %v", resp.StatusCode, resp.Header.Get("Location"))
	}
	// An unknown request id gets an error page without a form.
	resp, err = b.Get(s.URL + "/identity/oidc/login?authRequestID=nope")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("unknown request: %d", resp.StatusCode)
	}
}

// TestKeys: the key set publishes RS256 and ES256 keys, the next ones
// before they sign; after a rotation tokens signed before it still verify
// and new ones are signed by the key published in advance. A provider
// configured for ES256 signs its ID tokens with it.
func TestKeys(t *testing.T) {
	s := servertest.StartTLS(t, func(c *server.Config) { servertest.Fake(c); c.OpenID.SigningAlgorithm = "ES256" })
	tn := s.NewTenant(t, "oidc-k", "member")
	set := keySet(t, s)
	algs := map[string]int{}
	for _, k := range set.Keys {
		algs[k.Algorithm]++
	}
	if algs["RS256"] != 2 || algs["ES256"] != 2 {
		t.Fatalf("key set: %v", algs)
	}
	party, _, _ := relyingParty(t, s, nil)
	before := exchange(t, s, party, "oidc-k-user", tn.Password)
	if alg := header(t, before.IDToken); alg != "ES256" {
		t.Fatalf("ID token signed with %s", alg)
	}
	if err := s.OpenID().RotateKeys(ctx()); err != nil {
		t.Fatal(err)
	}
	after := keySet(t, s)
	for _, k := range set.Keys {
		if len(after.Key(k.KeyID)) != 1 {
			t.Fatalf("key %s left the key set at rotation", k.KeyID)
		}
	}
	fresh := exchange(t, s, party, "oidc-k-user", tn.Password)
	kid := jwsKeyID(t, fresh.IDToken)
	if kid == jwsKeyID(t, before.IDToken) || len(set.Key(kid)) != 1 {
		t.Fatalf("after rotation the token is signed by %s, which was not published before", kid)
	}
	v := rp.NewIDTokenVerifier(s.URL+"/identity", party.OAuthConfig().ClientID, rp.NewRemoteKeySet(s.HTTPClient, s.URL+"/identity/oidc/keys"),
		rp.WithSupportedSigningAlgorithms("ES256"))
	if _, err := rp.VerifyIDToken[*oidc.IDTokenClaims](ctx(), before.IDToken, v); err != nil {
		t.Fatalf("a token signed before the rotation: %v", err)
	}
}

func keySet(t *testing.T, s *servertest.Server) jose.JSONWebKeySet {
	t.Helper()
	resp := must(s.HTTPClient.Get(s.URL + "/identity/oidc/keys"))
	defer resp.Body.Close()
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatal(err)
	}
	return set
}

func header(t *testing.T, raw string) string {
	t.Helper()
	return string(must(jose.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256, jose.ES256})).Signatures[0].Header.Algorithm)
}

func jwsKeyID(t *testing.T, raw string) string {
	t.Helper()
	return must(jose.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256, jose.ES256})).Signatures[0].Header.KeyID
}

// TestDiscovery: the discovery document names the issuer, the endpoints
// under it, PKCE S256 and the grants; without TLS the provider is off
// unless an insecure issuer is allowed.
func TestDiscovery(t *testing.T) {
	s := servertest.StartTLS(t, servertest.Fake)
	resp := must(s.HTTPClient.Get(s.URL + "/identity/.well-known/openid-configuration"))
	var d oidc.DiscoveryConfiguration
	json.NewDecoder(resp.Body).Decode(&d)
	resp.Body.Close()
	if d.Issuer != s.URL+"/identity" || d.TokenEndpoint != s.URL+"/identity/oidc/token" || d.JwksURI != s.URL+"/identity/oidc/keys" ||
		!slices.Contains(d.CodeChallengeMethodsSupported, oidc.CodeChallengeMethodS256) ||
		!slices.Contains(d.GrantTypesSupported, oidc.GrantTypeClientCredentials) {
		t.Fatalf("discovery: %+v", d)
	}

	plain := servertest.Start(t, servertest.Fake)
	resp = must(http.Get(plain.URL + "/identity/.well-known/openid-configuration"))
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("discovery on plain HTTP: %d", resp.StatusCode)
	}
	insecure := servertest.Start(t, func(c *server.Config) { servertest.Fake(c); servertest.OpenID(c) })
	resp = must(http.Get(insecure.URL + "/identity/.well-known/openid-configuration"))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("discovery with an insecure issuer allowed: %d", resp.StatusCode)
	}
}

// TestDeviceFlow: a public client (a command line) gets a user code; the
// user signs in with it on the device page; the client's polling then
// gets the user's tokens, once. A wrong code, or a client without the
// grant, gets nothing.
func TestDeviceFlow(t *testing.T) {
	s := servertest.StartTLS(t, servertest.Fake)
	tn := s.NewTenant(t, "oidc-d", "member")
	id, _ := newClient(t, s, map[string]any{"name": "sov CLI", "public": true, "grant_types": []string{string(oidc.GrantTypeDeviceCode)}})
	party := must(rp.NewRelyingPartyOIDC(ctx(), s.URL+"/identity", id, "", "", []string{"openid", "projects"}, rp.WithHTTPClient(s.HTTPClient)))
	auth := must(rp.DeviceAuthorization(ctx(), []string{"openid", "projects"}, party, nil))
	if auth.UserCode == "" || !strings.HasPrefix(auth.VerificationURIComplete, s.URL+"/identity/oidc/device?user_code=") {
		t.Fatalf("device authorization: %+v", auth)
	}
	// Before the user signs in the device is told to wait.
	poll := url.Values{"grant_type": {string(oidc.GrantTypeDeviceCode)}, "device_code": {auth.DeviceCode}, "client_id": {id}}
	resp := must(s.HTTPClient.PostForm(s.URL+"/identity/oidc/token", poll))
	var pending map[string]any
	json.NewDecoder(resp.Body).Decode(&pending)
	resp.Body.Close()
	if pending["error"] != "authorization_pending" {
		t.Fatalf("poll before sign-in: %d %v", resp.StatusCode, pending)
	}
	b := s.Browser("none")
	page := must(b.Get(auth.VerificationURIComplete))
	page.Body.Close()
	form := url.Values{"csrf": {servertest.CSRFCookie(b, page.Request.URL)}, "user_code": {"WRONGCODE"}, "username": {"oidc-d-user"}, "password": {tn.Password}, "domain": {"Default"}}
	if resp, _ := servertest.Submit(t, b, s.URL+"/identity/oidc/device", form); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("wrong user code: %d", resp.StatusCode)
	}
	form.Set("user_code", auth.UserCode)
	form.Set("csrf", csrfOf(t, b, s))
	if resp, body := servertest.Submit(t, b, s.URL+"/identity/oidc/device", form); resp.StatusCode != http.StatusOK || !strings.Contains(body, "You are signed in") {
		t.Fatalf("device sign-in: %d %s", resp.StatusCode, body)
	}
	tok := must(rp.DeviceAccessToken(ctx(), auth.DeviceCode, time.Second, party))
	jws := must(jose.ParseSigned(tok.AccessToken, []jose.SignatureAlgorithm{jose.RS256}))
	var claims map[string]any
	json.Unmarshal(jws.UnsafePayloadWithoutVerification(), &claims)
	if claims["sub"] != tn.UserID || claims["projects"] == nil {
		t.Fatalf("device token claims: %v", claims)
	}
	if _, err := rp.DeviceAccessToken(ctx(), auth.DeviceCode, time.Second, party); err == nil {
		t.Fatal("a device code gave tokens twice")
	}
	// A client without the grant gets no device code.
	web, secret := newClient(t, s, map[string]any{"name": "web", "redirect_uris": []string{redirect}})
	webParty := must(rp.NewRelyingPartyOIDC(ctx(), s.URL+"/identity", web, secret, "", []string{"openid"}, rp.WithHTTPClient(s.HTTPClient)))
	if _, err := rp.DeviceAuthorization(ctx(), []string{"openid"}, webParty, nil); err == nil {
		t.Fatal("a client without the device grant got a device code")
	}
}

// csrfOf renders the device page again and returns its fresh CSRF token.
func csrfOf(t *testing.T, b *http.Client, s *servertest.Server) string {
	t.Helper()
	resp := must(b.Get(s.URL + "/identity/oidc/device"))
	resp.Body.Close()
	csrf := servertest.CSRFCookie(b, resp.Request.URL)
	if csrf == "" {
		t.Fatal("no CSRF cookie")
	}
	return csrf
}

// TestLoginTOTP: a user with a TOTP credential signs in on the login page
// only with a current code beside the password.
func TestLoginTOTP(t *testing.T) {
	s := servertest.StartTLS(t, servertest.Fake)
	tn := s.NewTenant(t, "oidc-t", "member")
	const secret = "JBSWY3DPEHPK3PXPJBSWY3DP"
	if code, out := api(t, s, s.AdminToken(t), "POST", "/identity/v3/credentials", map[string]any{"credential": map[string]any{
		"type": "totp", "user_id": tn.UserID, "blob": secret}}); code != http.StatusCreated {
		t.Fatalf("TOTP credential: %d %v", code, out)
	}
	party, _, _ := relyingParty(t, s, nil)
	v := verifier()
	authURL := rp.AuthURL("s", party, rp.WithCodeChallenge(oidc.NewSHACodeChallenge(v)))
	b := s.Browser(redirect)
	action, id, csrf := servertest.LoginForm(t, b, authURL)
	form := url.Values{"authRequestID": {id}, "csrf": {csrf}, "username": {"oidc-t-user"}, "password": {tn.Password}, "domain": {"Default"}}
	if resp, page := servertest.Submit(t, b, action, form); resp.StatusCode != http.StatusUnauthorized || !strings.Contains(page, "authenticator code") {
		t.Fatalf("password without the code: %d", resp.StatusCode)
	}
	_, id, csrf = servertest.LoginForm(t, b, authURL)
	code, err := totp.GenerateCode(secret, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	form.Set("authRequestID", id)
	form.Set("csrf", csrf)
	form.Set("code", code)
	resp, page := servertest.Submit(t, b, action, form)
	loc, _ := resp.Location()
	if resp.StatusCode != http.StatusFound || loc == nil || loc.Query().Get("code") == "" {
		t.Fatalf("password and code: %d %s", resp.StatusCode, page)
	}
	must(rp.CodeExchange[*oidc.IDTokenClaims](ctx(), loc.Query().Get("code"), party, rp.WithCodeVerifier(v)))
}

// TestConsent: a client that requires consent shows the user what it asks
// for after the sign-in; allow finishes it with a code, deny sends the
// browser back with access_denied and no code.
func TestConsent(t *testing.T) {
	s := servertest.StartTLS(t, servertest.Fake)
	tn := s.NewTenant(t, "oidc-c", "member")
	party, _, _ := relyingParty(t, s, map[string]any{"require_consent": true})
	answer := func(decision string) *url.URL {
		t.Helper()
		v := verifier()
		b := s.Browser(redirect)
		action, id, csrf := servertest.LoginForm(t, b, rp.AuthURL("st", party, rp.WithCodeChallenge(oidc.NewSHACodeChallenge(v))))
		resp, page := servertest.Submit(t, b, action, url.Values{"authRequestID": {id}, "csrf": {csrf}, "username": {"oidc-c-user"},
			"password": {tn.Password}, "domain": {"Default"}})
		if resp.StatusCode != http.StatusOK || !strings.Contains(page, "see your projects and your roles") {
			t.Fatalf("consent page: %d %s", resp.StatusCode, page)
		}
		resp, page = servertest.Submit(t, b, s.URL+"/identity/oidc/consent", url.Values{"authRequestID": {id},
			"csrf": {servertest.CSRFCookie(b, resp.Request.URL)}, "decision": {decision}})
		loc, err := resp.Location()
		if err != nil {
			t.Fatalf("after %s: %d %s", decision, resp.StatusCode, page)
		}
		return loc
	}
	if loc := answer("allow"); loc.Query().Get("code") == "" || loc.Query().Get("state") != "st" {
		t.Fatalf("allow: %v", loc)
	}
	if loc := answer("deny"); loc.Query().Get("error") != "access_denied" || loc.Query().Get("code") != "" || loc.Query().Get("state") != "st" {
		t.Fatalf("deny: %v", loc)
	}
}

// TestDisabledUser: once a user is disabled, their refresh tokens, and the
// access tokens they hold, stop working at the provider.
func TestDisabledUser(t *testing.T) {
	s := servertest.StartTLS(t, servertest.Fake)
	tn := s.NewTenant(t, "oidc-x", "member")
	_, clientID, secret := relyingParty(t, s, nil)
	// Only openid and offline_access: no claim needs the user's record.
	v := verifier()
	minimal := must(rp.NewRelyingPartyOIDC(ctx(), s.URL+"/identity", clientID, secret, redirect, []string{"openid", "offline_access"}, rp.WithHTTPClient(s.HTTPClient)))
	code, _ := signIn(t, s, rp.AuthURL("s", minimal, rp.WithCodeChallenge(oidc.NewSHACodeChallenge(v))), redirect, "oidc-x-user", tn.Password)
	tokens := must(rp.CodeExchange[*oidc.IDTokenClaims](ctx(), code, minimal, rp.WithCodeVerifier(v)))
	if code, _ := api(t, s, s.AdminToken(t), "PATCH", "/identity/v3/users/"+tn.UserID, map[string]any{"user": map[string]any{"enabled": false}}); code != http.StatusOK {
		t.Fatalf("disable: %d", code)
	}
	if _, err := rp.RefreshTokens[*oidc.IDTokenClaims](ctx(), minimal, tokens.RefreshToken, "", ""); err == nil {
		t.Fatal("a disabled user's refresh token worked")
	}
	res := must(rs.NewResourceServerClientCredentials(ctx(), s.URL+"/identity", clientID, secret, rs.WithClient(s.HTTPClient)))
	if in := must(rs.Introspect[*oidc.IntrospectionResponse](ctx(), res, tokens.AccessToken)); in.Active {
		t.Fatal("a disabled user's access token is active")
	}
	if _, err := rp.Userinfo[*oidc.UserInfo](ctx(), tokens.AccessToken, "Bearer", tn.UserID, minimal); err == nil {
		t.Fatal("userinfo answered for a disabled user")
	}
}
