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
	"sync/atomic"
	"time"
)

// WrongLogin sends one password authentication that must fail, for the
// named user with a wrong password, and returns its status: 401, or 429
// when the target limits failed logins. Any other answer is an error.
func (c *Client) WrongLogin(ctx context.Context, user string) (int, error) {
	body := map[string]any{"auth": map[string]any{"identity": map[string]any{"methods": []string{"password"},
		"password": map[string]any{"user": map[string]any{"name": user, "password": "not-the-password", "domain": map[string]any{"name": c.t.UserDomain}}}}}}
	b, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(c.t.AuthURL, "/")+"/auth/tokens", bytes.NewReader(b))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized && resp.StatusCode != http.StatusTooManyRequests {
		return resp.StatusCode, fmt.Errorf("wrong login: %s", resp.Status)
	}
	return resp.StatusCode, nil
}

// Probe GETs url and wants 200 (a health endpoint, to time beside a storm).
func (c *Client) Probe(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("probe: %s", resp.Status)
	}
	return nil
}

// Storm runs wrong logins from n goroutines until ctx ends, for user (or,
// when user is "", a new unknown name each time), and counts the answers.
func (c *Client) Storm(ctx context.Context, n int, user string) (unauthorized, limited, failed int64) {
	var u, l, f, seq atomic.Int64
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				name := user
				if name == "" {
					name = fmt.Sprintf("storm-%d", seq.Add(1))
				}
				code, err := c.WrongLogin(context.WithoutCancel(ctx), name)
				switch {
				case err != nil:
					f.Add(1)
				case code == http.StatusTooManyRequests:
					l.Add(1)
				default:
					u.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	return u.Load(), l.Load(), f.Load()
}

// WrongLoginLatency times tries wrong logins of user and returns the median.
func (c *Client) WrongLoginLatency(ctx context.Context, user string, tries int) (time.Duration, error) {
	var lat []time.Duration
	for range tries {
		t0 := time.Now()
		if _, err := c.WrongLogin(ctx, user); err != nil {
			return 0, err
		}
		lat = append(lat, time.Since(t0))
	}
	slices.Sort(lat)
	return lat[len(lat)/2], nil
}
