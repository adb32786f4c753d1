package openid_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/gophercloud/gophercloud/v2"

	"github.com/sovcloud/sov/internal/servertest"
)

// api calls the identity API with a Keystone token and decodes the answer.
func api(t testing.TB, s *servertest.Server, token, method, path string, body any) (int, map[string]any) {
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

func token(t testing.TB, c *gophercloud.ServiceClient) string {
	t.Helper()
	return c.ProviderClient.Token()
}

// newClient registers an OIDC client as the admin and returns its id and secret.
func newClient(t testing.TB, s *servertest.Server, body map[string]any) (id, secret string) {
	t.Helper()
	code, out := api(t, s, token(t, s.Admin(t)), "POST", "/identity/oidc/clients", map[string]any{"client": body})
	if code != http.StatusCreated {
		t.Fatalf("create client: %d %v", code, out)
	}
	c := out["client"].(map[string]any)
	secret, _ = c["secret"].(string)
	return c["id"].(string), secret
}

// browser is a user agent with cookies that stops at the relying party's
// redirect URI instead of following it.
func browser(t testing.TB, s *servertest.Server, redirectURI string) *http.Client {
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

// loginForm opens an authorization URL and returns the login page's
// action, request id and CSRF token.
func loginForm(t testing.TB, b *http.Client, authURL string) (action, id, csrf string) {
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

// submit posts the login form and returns the response (not followed
// beyond the redirect URI) and its page.
func submit(t testing.TB, b *http.Client, action string, form url.Values) (*http.Response, string) {
	t.Helper()
	resp, err := b.PostForm(action, form)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(page)
}

// signIn runs the browser's part of the code flow: the login form, then
// the redirects back to the client; it returns the code and state the
// client gets.
func signIn(t testing.TB, s *servertest.Server, authURL, redirectURI, user, password string) (code, state string) {
	t.Helper()
	b := browser(t, s, redirectURI)
	action, id, csrf := loginForm(t, b, authURL)
	resp, page := submit(t, b, action, url.Values{"authRequestID": {id}, "csrf": {csrf}, "username": {user}, "password": {password}, "domain": {"Default"}})
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

func ctx() context.Context { return context.Background() }

// must returns v, or panics with err (which fails the test that called it).
func must[T any](v T, err error) T {
	if err != nil {
		panic(fmt.Errorf("%T: %w", v, err))
	}
	return v
}
