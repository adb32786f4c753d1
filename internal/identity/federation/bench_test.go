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
// example OpenID Provider (the third party of the tests) on the same
// machine, in the same run: client credentials and refresh at
// concurrency 1 and 16, every answer checked for its token. Run with
//
//	go test -run '^$' -bench TokenEndpoint -benchtime 2000x ./internal/identity/federation
func BenchmarkTokenEndpoint(b *testing.B) {
	ctx := context.Background()
	const cb = "https://bench.example/cb"
	s := servertest.Start(b, func(c *server.Config) { servertest.Fake(c); servertest.OpenID(c); c.OpenID.SigningAlgorithm = benchAlg })
	tn := s.NewTenant(b, "bench", "member")
	svc, svcSecret := s.NewOIDCClient(b, map[string]any{"name": "svc", "grant_types": []string{"client_credentials", "authorization_code", "refresh_token"},
		"redirect_uris": []string{cb}})
	sov := &provider{token: s.URL + "/identity/oidc/token", client: svc, secret: svcSecret, refresh: func(b *testing.B) string {
		party := must(rp.NewRelyingPartyOIDC(ctx, s.URL+"/identity", svc, svcSecret, cb, []string{"openid", "offline_access"}))
		code, _ := s.SignIn(b, rp.AuthURL("s", party), cb, "bench-user", tn.Password)
		return must(rp.CodeExchange[*oidc.IDTokenClaims](ctx, code, party)).RefreshToken
	}}
	issuer := exampleIdP(b, "bench-web", "bench-secret", cb)
	example := &provider{token: issuer + "/oauth/token", client: "sid1", secret: "verysecret", refresh: func(b *testing.B) string {
		party := must(rp.NewRelyingPartyOIDC(ctx, issuer, "bench-web", "bench-secret", cb, []string{"openid", "offline_access"}))
		return must(rp.CodeExchange[*oidc.IDTokenClaims](ctx, exampleSignIn(b, rp.AuthURL("s", party), cb), party)).RefreshToken
	}}
	for _, p := range []struct {
		name string
		p    *provider
	}{{"sov", sov}, {"example-op", example}} {
		for _, c := range []int{1, 16} {
			hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: c}}
			b.Run(fmt.Sprintf("%s/client_credentials/c%d", p.name, c), func(b *testing.B) {
				run(b, c, func(string) (string, error) {
					_, err := tokenRequest(hc, p.p, url.Values{"grant_type": {"client_credentials"}, "scope": {"openid"}})
					return "", err
				}, make([]string, c))
			})
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

// benchAlg is the algorithm sov signs with in BenchmarkTokenEndpoint.
var benchAlg = "ES256"
