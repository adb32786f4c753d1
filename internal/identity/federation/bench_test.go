package federation_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zitadel/oidc/v3/pkg/client/rp"
	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/sovcloud/sov/internal/server"
	"github.com/sovcloud/sov/internal/servertest"
)

// provider is an OpenID provider under load: its token endpoint, a
// confidential client, and how to get a refresh token for the
// refresh-grant runs.
type provider struct {
	token          string
	client, secret string
	refresh        func(b *testing.B) string
}

// run sends b.N requests from c workers; each worker's request returns
// what its next request needs (a refresh token) and fails the benchmark
// when the answer is not a token. It reports requests/s, p50 and p99.
func run(b *testing.B, c int, next func(state string) (string, error), starts []string) {
	lat := make([]time.Duration, b.N)
	var i atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Value
	b.ResetTimer()
	t0 := time.Now()
	for w := 0; w < c; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			state := starts[w]
			for {
				n := i.Add(1) - 1
				if n >= int64(b.N) {
					return
				}
				s := time.Now()
				var err error
				state, err = next(state)
				lat[n] = time.Since(s)
				if err != nil {
					failed.Store(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(t0)
	b.StopTimer()
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
	slices.Sort(lat)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "req/s")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}

// tokenRequest posts a grant to a token endpoint and returns the answer's
// refresh token (or access token); an answer without one is an error.
func tokenRequest(hc *http.Client, p *provider, form url.Values) (string, error) {
	req, _ := http.NewRequest("POST", p.token, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(p.client, p.secret)
	resp, err := hc.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var out struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.AccessToken == "" {
		return "", fmt.Errorf("token endpoint: %s: %v", resp.Status, err)
	}
	if form.Get("grant_type") == "refresh_token" && out.RefreshToken == "" {
		return "", fmt.Errorf("no refresh token in the answer")
	}
	return out.RefreshToken, nil
}

// BenchmarkTokenEndpoint: sov's token endpoint beside zitadel/oidc's
// example OpenID Provider (the third party of the tests; in memory, opaque
// tokens) and ORY Hydra v2.3.0 (in memory, opaque and JWT access tokens;
// built on first use by scripts/build-hydra.sh) on the same machine, in
// the same run: client credentials and refresh (not Hydra's) at
// concurrency 1 and 16, every answer checked for its token. Run with
//
//	go test -run '^$' -bench TokenEndpoint -benchtime 2000x ./internal/identity/federation
func BenchmarkTokenEndpoint(b *testing.B) {
	ctx := context.Background()
	const cb = "https://bench.example/cb"
	sovProvider := func(alg string) *provider {
		s := servertest.Start(b, func(c *server.Config) { servertest.Fake(c); servertest.OpenID(c); c.OpenID.SigningAlgorithm = alg })
		tn := s.NewTenant(b, "bench", "member")
		svc, svcSecret := s.NewOIDCClient(b, map[string]any{"name": "svc", "grant_types": []string{"client_credentials", "authorization_code", "refresh_token"},
			"redirect_uris": []string{cb}})
		return &provider{token: s.URL + "/identity/oidc/token", client: svc, secret: svcSecret, refresh: func(b *testing.B) string {
			party := must(rp.NewRelyingPartyOIDC(ctx, s.URL+"/identity", svc, svcSecret, cb, []string{"openid", "offline_access"}))
			code, _ := s.SignIn(b, rp.AuthURL("s", party), cb, "bench-user", tn.Password)
			return must(rp.CodeExchange[*oidc.IDTokenClaims](ctx, code, party)).RefreshToken
		}}
	}
	issuer := exampleIdP(b, "bench-web", "bench-secret", cb)
	example := &provider{token: issuer + "/oauth/token", client: "sid1", secret: "verysecret", refresh: func(b *testing.B) string {
		party := must(rp.NewRelyingPartyOIDC(ctx, issuer, "bench-web", "bench-secret", cb, []string{"openid", "offline_access"}))
		return must(rp.CodeExchange[*oidc.IDTokenClaims](ctx, exampleSignIn(b, rp.AuthURL("s", party), cb), party)).RefreshToken
	}}
	providers := []struct {
		name string
		p    *provider
	}{{"sov-RS256", sovProvider("RS256")}, {"sov-ES256", sovProvider("ES256")}, {"example-op", example}}
	for _, jwt := range []bool{false, true} {
		iss, id, secret := servertest.Hydra(b, jwt)
		name := "hydra-opaque"
		if jwt {
			name = "hydra-jwt"
		}
		providers = append(providers, struct {
			name string
			p    *provider
		}{name, &provider{token: iss + "/oauth2/token", client: id, secret: secret}})
	}
	for _, p := range providers {
		for _, c := range []int{1, 16} {
			hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: c}}
			b.Run(fmt.Sprintf("%s/client_credentials/c%d", p.name, c), func(b *testing.B) {
				run(b, c, func(string) (string, error) {
					_, err := tokenRequest(hc, p.p, url.Values{"grant_type": {"client_credentials"}, "scope": {"openid"}})
					return "", err
				}, make([]string, c))
			})
			if p.p.refresh == nil {
				continue // Hydra's refresh needs its login and consent apps
			}
			refresh := *p.p
			if p.name == "example-op" {
				refresh.client, refresh.secret = "bench-web", "bench-secret"
			}
			b.Run(fmt.Sprintf("%s/refresh/c%d", p.name, c), func(b *testing.B) {
				starts := make([]string, c)
				for i := range starts {
					starts[i] = p.p.refresh(b)
				}
				run(b, c, func(rt string) (string, error) {
					return tokenRequest(hc, &refresh, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}})
				}, starts)
			})
		}
	}
}

// BenchmarkFederatedAuth: Keystone federated logins at cloud B with an
// access token of cloud A (JWT, checked with A's cached keys; a shadow
// user mapped and a Keystone token issued each time), at concurrency 1
// and 16; then logins with tokens A mints while it rotates its keys every
// 100 ms, which must all succeed ("failed" is reported, and fails the run).
func BenchmarkFederatedAuth(b *testing.B) {
	ctx := context.Background()
	a := servertest.Start(b, func(c *server.Config) { servertest.Fake(c); servertest.OpenID(c) })
	cb := servertest.Start(b, servertest.Fake)
	svc, secret := a.NewOIDCClient(b, map[string]any{"name": "svc", "grant_types": []string{"client_credentials"}})
	admin := cb.AdminToken(b)
	cb.API(b, admin, "PUT", "/identity/v3/OS-FEDERATION/identity_providers/cloud-a", map[string]any{"identity_provider": map[string]any{
		"remote_ids": []string{a.URL + "/identity"}, "oidc": map[string]any{"audiences": []string{svc}}}})
	rules := []any{map[string]any{"local": []any{map[string]any{"user": map[string]any{"name": "svc-{0}"}}}, "remote": []any{map[string]any{"type": "sub"}}}}
	cb.API(b, admin, "PUT", "/identity/v3/OS-FEDERATION/mappings/m", map[string]any{"mapping": map[string]any{"rules": rules}})
	cb.API(b, admin, "PUT", "/identity/v3/OS-FEDERATION/identity_providers/cloud-a/protocols/openid", map[string]any{"protocol": map[string]any{"mapping_id": "m"}})
	party := must(rp.NewRelyingPartyOIDC(ctx, a.URL+"/identity", svc, secret, "", []string{"openid"}))
	authURL := cb.URL + "/identity/v3/OS-FEDERATION/identity_providers/cloud-a/protocols/openid/auth"
	login := func(hc *http.Client, token string) error {
		req, _ := http.NewRequest("POST", authURL, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated || resp.Header.Get("X-Subject-Token") == "" {
			return fmt.Errorf("federated auth: %s", resp.Status)
		}
		return nil
	}
	tok := must(rp.ClientCredentials(ctx, party, nil)).AccessToken
	for _, c := range []int{1, 16} {
		hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: c}}
		b.Run(fmt.Sprintf("login/c%d", c), func(b *testing.B) {
			run(b, c, func(string) (string, error) { return "", login(hc, tok) }, make([]string, c))
		})
	}
	b.Run("rotating/c16", func(b *testing.B) {
		hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
		stop := make(chan struct{})
		var rotations atomic.Int64
		go func() {
			for {
				select {
				case <-stop:
					return
				case <-time.After(100 * time.Millisecond):
					if a.OpenID().RotateKeys(ctx) == nil {
						rotations.Add(1)
					}
				}
			}
		}()
		var failed atomic.Int64
		run(b, 16, func(string) (string, error) {
			t, err := rp.ClientCredentials(ctx, party, nil)
			if err == nil {
				err = login(hc, t.AccessToken)
			}
			if err != nil {
				failed.Add(1)
			}
			return "", nil
		}, make([]string, 16))
		close(stop)
		b.ReportMetric(float64(rotations.Load()), "rotations")
		b.ReportMetric(float64(failed.Load()), "failed")
		if failed.Load() > 0 {
			b.Fatalf("%d logins failed while keys rotated", failed.Load())
		}
	})
}
