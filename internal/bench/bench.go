// Package bench is the load generator behind `sov bench`: token issue and
// validation against a Keystone v3 endpoint, PUT/GET/LIST against an S3
// endpoint, and the raw disk rate. It speaks only the public APIs, so it
// runs against any Keystone or S3, and reports requests per second,
// latency percentiles and data rates.
package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// Target is the Keystone to measure and the credentials to use.
type Target struct {
	AuthURL       string // e.g. http://127.0.0.1:5000/identity/v3
	Username      string
	Password      string
	UserDomain    string
	Project       string
	ProjectDomain string
}

// authBody is the password authentication request of the target's user,
// scoped to its project.
func (t Target) authBody() map[string]any {
	return map[string]any{"auth": map[string]any{
		"identity": map[string]any{"methods": []string{"password"}, "password": map[string]any{"user": map[string]any{
			"name": t.Username, "password": t.Password, "domain": map[string]any{"name": t.UserDomain}}}},
		"scope": map[string]any{"project": map[string]any{"name": t.Project, "domain": map[string]any{"name": t.ProjectDomain}}},
	}}
}

// Result is the outcome of one load run.
type Result struct {
	Op          string
	Concurrency int
	Requests    int
	Errors      int
	Elapsed     time.Duration
	P50, P99    time.Duration
}

// PerSecond returns the rate of successful requests.
func (r Result) PerSecond() float64 { return float64(r.Requests-r.Errors) / r.Elapsed.Seconds() }

func (r Result) String() string {
	return fmt.Sprintf("%-16s c=%-3d %8.1f req/s  p50 %7.2fms  p99 %7.2fms  (%d requests, %d errors)",
		r.Op, r.Concurrency, r.PerSecond(), ms(r.P50), ms(r.P99), r.Requests, r.Errors)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// Client issues and validates tokens against a Target.
type Client struct {
	t    Target
	http *http.Client
}

// NewClient returns a client that keeps up to conns connections open.
func NewClient(t Target, conns int) *Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = conns
	return &Client{t: t, http: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
}

// Issue gets a new project-scoped token with the password method.
func (c *Client) Issue(ctx context.Context) (string, error) {
	b, _ := json.Marshal(c.t.authBody())
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(c.t.AuthURL, "/")+"/auth/tokens?nocatalog", bytes.NewReader(b))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusCreated {
		return "", fmt.Errorf("issue: %s", resp.Status)
	}
	return resp.Header.Get("X-Subject-Token"), nil
}

// Validate checks subject with caller's token (GET /auth/tokens).
func (c *Client) Validate(ctx context.Context, caller, subject string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(c.t.AuthURL, "/")+"/auth/tokens?nocatalog", nil)
	if err != nil {
		return err
	}
	req.Header.Set("X-Auth-Token", caller)
	req.Header.Set("X-Subject-Token", subject)
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("validate: %s", resp.Status)
	}
	return nil
}

// Load runs op from concurrency goroutines for the duration and collects
// the latencies of the requests that succeeded.
func Load(ctx context.Context, name string, concurrency int, d time.Duration, op func(context.Context) error) Result {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var mu sync.Mutex
	var lat []time.Duration
	errs := 0
	var wg sync.WaitGroup
	start := time.Now()
	for range concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			bad := 0
			for ctx.Err() == nil {
				t0 := time.Now()
				if err := op(context.WithoutCancel(ctx)); err != nil {
					bad++ // failed requests count, but not in the latencies
					continue
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			lat = append(lat, mine...)
			errs += bad
			mu.Unlock()
		}()
	}
	wg.Wait()
	res := Result{Op: name, Concurrency: concurrency, Requests: len(lat) + errs, Errors: errs, Elapsed: time.Since(start)}
	slices.Sort(lat)
	if len(lat) > 0 {
		res.P50 = lat[len(lat)/2]
		res.P99 = lat[len(lat)*99/100]
	}
	return res
}
