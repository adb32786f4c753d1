package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// Compute drives the compute API of a cloud to measure server boots.
type Compute struct {
	c                  *Client
	token              string
	compute, imageBase string
}

// NewCompute logs in and finds the compute and image endpoints in the catalog.
func NewCompute(ctx context.Context, t Target) (*Compute, error) {
	c := NewClient(t, 8)
	var out struct {
		Token struct {
			Catalog []struct {
				Type      string
				Endpoints []struct{ Interface, URL string }
			}
		}
	}
	resp, err := c.do(ctx, http.MethodPost, strings.TrimSuffix(t.AuthURL, "/")+"/auth/tokens", "", t.authBody(), &out)
	if err != nil {
		return nil, err
	}
	cc := &Compute{c: c, token: resp.Header.Get("X-Subject-Token")}
	for _, svc := range out.Token.Catalog {
		for _, ep := range svc.Endpoints {
			if ep.Interface == "public" && svc.Type == "compute" {
				cc.compute = ep.URL
			}
			if ep.Interface == "public" && svc.Type == "image" {
				cc.imageBase = ep.URL
			}
		}
	}
	if cc.compute == "" || cc.imageBase == "" {
		return nil, fmt.Errorf("bench: the catalog lacks a compute or image endpoint")
	}
	return cc, nil
}

// do sends a JSON request and decodes a JSON answer into out.
func (c *Client) do(ctx context.Context, method, url, token string, in, out any) (*http.Response, error) {
	var body io.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("X-Auth-Token", token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		return resp, fmt.Errorf("%s %s: %s: %.300s", method, url, resp.Status, raw)
	}
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			return resp, err
		}
	}
	return resp, nil
}

// Resolve finds a flavor and an image by name (or id).
func (cc *Compute) Resolve(ctx context.Context, flavor, image string) (flavorID, imageID string, err error) {
	var fl struct{ Flavors []struct{ ID, Name string } }
	if _, err := cc.c.do(ctx, http.MethodGet, cc.compute+"/flavors", cc.token, nil, &fl); err != nil {
		return "", "", err
	}
	for _, f := range fl.Flavors {
		if f.Name == flavor || f.ID == flavor {
			flavorID = f.ID
		}
	}
	var im struct{ Images []struct{ ID, Name string } }
	if _, err := cc.c.do(ctx, http.MethodGet, cc.imageBase+"/v2/images?limit=1000", cc.token, nil, &im); err != nil {
		return "", "", err
	}
	for _, i := range im.Images {
		if i.Name == image || i.ID == image {
			imageID = i.ID
		}
	}
	if flavorID == "" || imageID == "" {
		return "", "", fmt.Errorf("bench: flavor %q or image %q not found", flavor, image)
	}
	return flavorID, imageID, nil
}

// Boot is the timing of one server boot.
type Boot struct {
	ID                  string
	ToActive, ToConsole time.Duration
	Err                 error
}

// BootServers creates n servers at once and times each until ACTIVE and
// until its console shows a first line.
func (cc *Compute) BootServers(ctx context.Context, n int, flavorID, imageID string) []Boot {
	boots := make([]Boot, n)
	var wg sync.WaitGroup
	for i := range boots {
		wg.Add(1)
		go func() {
			defer wg.Done()
			boots[i] = cc.boot(ctx, fmt.Sprintf("bench-%d-%d", time.Now().UnixNano()%100000, i), flavorID, imageID)
		}()
	}
	wg.Wait()
	return boots
}

func (cc *Compute) boot(ctx context.Context, name, flavorID, imageID string) Boot {
	start := time.Now()
	var created struct{ Server struct{ ID string } }
	_, err := cc.c.do(ctx, http.MethodPost, cc.compute+"/servers", cc.token,
		map[string]any{"server": map[string]any{"name": name, "imageRef": imageID, "flavorRef": flavorID}}, &created)
	if err != nil {
		return Boot{Err: err}
	}
	b := Boot{ID: created.Server.ID}
	deadline := start.Add(5 * time.Minute)
	for b.ToActive == 0 || b.ToConsole == 0 {
		if time.Now().After(deadline) {
			b.Err = fmt.Errorf("server %s: not booted after 5 minutes", b.ID)
			return b
		}
		if b.ToActive == 0 {
			var s struct{ Server struct{ Status string } }
			if _, err := cc.c.do(ctx, http.MethodGet, cc.compute+"/servers/"+b.ID, cc.token, nil, &s); err != nil {
				b.Err = err
				return b
			}
			switch s.Server.Status {
			case "ACTIVE":
				b.ToActive = time.Since(start)
			case "ERROR":
				b.Err = fmt.Errorf("server %s went to ERROR", b.ID)
				return b
			}
		}
		if b.ToConsole == 0 {
			var out struct{ Output string }
			cc.c.do(ctx, http.MethodPost, cc.compute+"/servers/"+b.ID+"/action", cc.token, map[string]any{"os-getConsoleOutput": map[string]any{"length": 1}}, &out)
			if strings.Contains(out.Output, "\n") {
				b.ToConsole = time.Since(start)
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return b
}

// DeleteServers deletes the servers of boots.
func (cc *Compute) DeleteServers(ctx context.Context, boots []Boot) {
	for _, b := range boots {
		if b.ID != "" {
			cc.c.do(ctx, http.MethodDelete, cc.compute+"/servers/"+b.ID, cc.token, nil, nil)
		}
	}
}

// QEMURSS sums the resident memory of the local QEMU processes of the
// servers (found by the "sov-<id>" name on their command line), in KiB.
func QEMURSS(ids []string) (total int64, found int) {
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		cmdline, err := os.ReadFile(p)
		if err != nil || !bytes.Contains(cmdline, []byte("qemu-system")) {
			continue
		}
		if !slices.ContainsFunc(ids, func(id string) bool { return bytes.Contains(cmdline, []byte("sov-"+id)) }) {
			continue
		}
		status, _ := os.ReadFile(filepath.Join(filepath.Dir(p), "status"))
		for _, line := range strings.Split(string(status), "\n") {
			if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
				var kb int64
				fmt.Sscan(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), &kb)
				total += kb
				found++
			}
		}
	}
	return total, found
}
