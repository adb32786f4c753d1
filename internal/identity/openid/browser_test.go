package openid_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/zitadel/oidc/v3/pkg/client/rp"
	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/sovcloud/sov/internal/servertest"
)

// chromium starts a headless Chromium for the test (Debian's chromium;
// its absence fails the test in CI).
func chromium(t *testing.T) context.Context {
	t.Helper()
	bin, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("chromium is required in CI")
		}
		t.Skip("chromium not installed")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(bin), chromedp.NoSandbox,
		// The test server's certificate is self-signed; the browser is told
		// so, as a user who trusts it would be.
		chromedp.Flag("ignore-certificate-errors", true))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel2 := chromedp.NewContext(actx)
	t.Cleanup(cancel2)
	ctx, cancel3 := context.WithTimeout(ctx, 2*time.Minute)
	t.Cleanup(cancel3)
	return ctx
}

// TestLoginPageInChromium: a real browser signs in on the login page of
// the code flow with PKCE; a wrong password, a form without its CSRF
// token and an unregistered redirect URI are refused there, and the code
// the browser brings back is good once.
func TestLoginPageInChromium(t *testing.T) {
	s := servertest.StartTLS(t, servertest.Fake)
	tn := s.NewTenant(t, "oidc-b", "member")
	bctx := chromium(t)

	// The client's redirect URI: a page that keeps the code it is given.
	var mu sync.Mutex
	var codes []string
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/callback" {
			mu.Lock()
			codes = append(codes, r.URL.Query().Get("code"))
			mu.Unlock()
		}
		w.Write([]byte("<html><body><p id=done>signed in</p></body></html>"))
	}))
	t.Cleanup(app.Close)
	cb := app.URL + "/callback"
	id, secret := newClient(t, s, map[string]any{"name": "browser app", "redirect_uris": []string{cb}})
	party := must(rp.NewRelyingPartyOIDC(ctx(), s.URL+"/identity", id, secret, cb, []string{"openid", "profile"}, rp.WithHTTPClient(s.HTTPClient)))
	v := verifier()
	authURL := rp.AuthURL("st", party, rp.WithCodeChallenge(oidc.NewSHACodeChallenge(v)))

	fill := func(password string) chromedp.Action[chromedp.Void] {
		return chromedp.Steps(
			chromedp.WaitVisible(chromedp.ID("username")),
			chromedp.SendKeys(chromedp.ID("username"), "oidc-b-user"),
			chromedp.SendKeys(chromedp.ID("password"), password),
		)
	}
	// errorAfter signs in with password after setup and returns the
	// page's alert.
	errorAfter := func(password string, setup ...chromedp.Action[chromedp.Void]) string {
		t.Helper()
		steps := append([]chromedp.Action[chromedp.Void]{chromedp.Navigate(authURL), fill(password)}, setup...)
		steps = append(steps, chromedp.Submit(chromedp.ID("password")), chromedp.WaitVisible(chromedp.CSS(".error")))
		if err := chromedp.Do(bctx, steps...); err != nil {
			t.Fatal(err)
		}
		alert, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS(".error")))
		if err != nil {
			t.Fatal(err)
		}
		return alert
	}
	if alert := errorAfter("wrong"); !strings.Contains(alert, "wrong") {
		t.Fatalf("wrong password: %q", alert)
	}
	// The form without its CSRF token.
	removeCSRF := func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		_, err := chromedp.Evaluate[bool](`document.querySelector('input[name=csrf]').remove(), true`)(ctx, tg)
		return chromedp.Void{}, err
	}
	if alert := errorAfter(tn.Password, removeCSRF); !strings.Contains(alert, "did not come from this page") {
		t.Fatalf("missing CSRF token: %q", alert)
	}
	// An unregistered redirect URI: an error page at sov, never the app.
	evil := strings.Replace(authURL, url.QueryEscape(cb), url.QueryEscape("https://evil.example/cb"), 1)
	if err := chromedp.Do(bctx, chromedp.Navigate(evil)); err != nil {
		t.Fatal(err)
	}
	loc, _ := chromedp.Run(bctx, chromedp.Location())
	body, _ := chromedp.Run(bctx, chromedp.Text(chromedp.CSS("body")))
	if !strings.HasPrefix(loc, s.URL) || !strings.Contains(body, "redirect_uri") {
		t.Fatalf("unregistered redirect URI: at %s: %s", loc, body)
	}
	// The right password: back at the app with a code.
	if err := chromedp.Do(bctx, chromedp.Navigate(authURL), fill(tn.Password), chromedp.Submit(chromedp.ID("password")),
		chromedp.WaitVisible(chromedp.ID("done"))); err != nil {
		t.Fatal(err)
	}
	loc, _ = chromedp.Run(bctx, chromedp.Location())
	mu.Lock()
	code := codes[len(codes)-1]
	mu.Unlock()
	if !strings.HasPrefix(loc, cb) || code == "" {
		t.Fatalf("after sign-in at %s with code %q", loc, code)
	}
	tokens := must(rp.CodeExchange[*oidc.IDTokenClaims](ctx(), code, party, rp.WithCodeVerifier(v)))
	if tokens.IDTokenClaims.PreferredUsername != "oidc-b-user" {
		t.Fatalf("ID token: %+v", tokens.IDTokenClaims)
	}
	if _, err := rp.CodeExchange[*oidc.IDTokenClaims](ctx(), code, party, rp.WithCodeVerifier(v)); err == nil {
		t.Fatal("the browser's code was exchanged twice")
	}
}
