package servertest

import (
	"bytes"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// API calls the server's API with a Keystone token (and a JSON body when
// not nil) and decodes the JSON answer.
func (s *Server) API(t testing.TB, token, method, path string, body any) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, s.URL+path, rd)
	req.Header.Set("X-Auth-Token", token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.HTTPClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]any{}
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// AdminToken is a token of the bootstrap admin, scoped to the admin project.
func (s *Server) AdminToken(t testing.TB) string {
	t.Helper()
	return s.Admin(t).ProviderClient.Token()
}

// NewOIDCClient registers a client with the server's OpenID Connect
// provider, as the admin, and returns its id and secret ("" when public).
func (s *Server) NewOIDCClient(t testing.TB, body map[string]any) (id, secret string) {
	t.Helper()
	code, out := s.API(t, s.AdminToken(t), "POST", "/identity/oidc/clients", map[string]any{"client": body})
	if code != http.StatusCreated {
		t.Fatalf("create OIDC client: %d %v", code, out)
	}
	c := out["client"].(map[string]any)
	secret, _ = c["secret"].(string)
	return c["id"].(string), secret
}

// Browser is a user agent with cookies that trusts the server's
// certificate and stops at the relying party's redirect URI instead of
// following it.
func (s *Server) Browser(redirectURI string) *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Transport: s.HTTPClient.Transport, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if strings.HasPrefix(req.URL.String(), redirectURI) {
			return http.ErrUseLastResponse
		}
		return nil
	}}
}

var (
	formRequest = regexp.MustCompile(`name="authRequestID" value="([^"]*)"`)
	formCSRF    = regexp.MustCompile(`name="csrf" value="([^"]*)"`)
)

// LoginForm opens an authorization URL in b and returns the login page's
// action, request id and CSRF token.
func LoginForm(t testing.TB, b *http.Client, authURL string) (action, id, csrf string) {
	t.Helper()
	resp, err := b.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m, c := formRequest.FindSubmatch(page), formCSRF.FindSubmatch(page)
	if resp.StatusCode != http.StatusOK || m == nil || c == nil {
		t.Fatalf("login page: %d %s", resp.StatusCode, page)
	}
	return resp.Request.URL.String(), html.UnescapeString(string(m[1])), html.UnescapeString(string(c[1]))
}

// Submit posts the login form and returns the response (not followed
// beyond the redirect URI) and its page.
func Submit(t testing.TB, b *http.Client, action string, form url.Values) (*http.Response, string) {
	t.Helper()
	resp, err := b.PostForm(action, form)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(page)
}

// SignIn runs a browser's part of the code flow at the server's OpenID
// Connect provider for a user of the Default domain: the login form, then
// the redirects back to the client. It returns the code and state the
// client gets.
func (s *Server) SignIn(t testing.TB, authURL, redirectURI, user, password string) (code, state string) {
	t.Helper()
	b := s.Browser(redirectURI)
	action, id, csrf := LoginForm(t, b, authURL)
	resp, page := Submit(t, b, action, url.Values{"authRequestID": {id}, "csrf": {csrf}, "username": {user}, "password": {password}, "domain": {"Default"}})
	loc, err := resp.Location()
	if resp.StatusCode != http.StatusFound || err != nil {
		t.Fatalf("after login: %d %s", resp.StatusCode, page)
	}
	q := loc.Query()
	if q.Get("error") != "" {
		t.Fatalf("authorization error: %s: %s", q.Get("error"), q.Get("error_description"))
	}
	return q.Get("code"), q.Get("state")
}

// CSRFCookie is the OIDC provider's CSRF token that browser b holds for u
// ("" when none): what its login, consent and device forms must post back.
func CSRFCookie(b *http.Client, u *url.URL) string {
	for _, c := range b.Jar.Cookies(u) {
		if c.Name == "sov_oidc_csrf" {
			return c.Value
		}
	}
	return ""
}
