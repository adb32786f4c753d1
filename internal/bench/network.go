package bench

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
)

// Network drives a Neutron API to measure port create and list.
type Network struct {
	c       *Client
	token   string
	url     string // the network endpoint, e.g. http://127.0.0.1:5000/network
	project string
	net     string // the network the ports go on
}

// NewNetwork logs in, finds the network endpoint and makes a network with
// a subnet large enough for the ports (and lifts the project's port
// quota, which needs an admin).
func NewNetwork(ctx context.Context, t Target, conns int) (*Network, error) {
	c := NewClient(t, conns)
	var out struct {
		Token struct {
			Project struct{ ID string }
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
	n := &Network{c: c, token: resp.Header.Get("X-Subject-Token"), project: out.Token.Project.ID}
	for _, svc := range out.Token.Catalog {
		for _, ep := range svc.Endpoints {
			if ep.Interface == "public" && svc.Type == "network" {
				n.url = strings.TrimSuffix(ep.URL, "/")
			}
		}
	}
	if n.url == "" {
		return nil, fmt.Errorf("bench: the catalog lacks a network endpoint")
	}
	if _, err := c.do(ctx, http.MethodPut, n.url+"/v2.0/quotas/"+n.project, n.token, map[string]any{"quota": map[string]any{"port": -1}}, nil); err != nil {
		return nil, fmt.Errorf("bench: lifting the port quota (needs an admin): %w", err)
	}
	var nw struct{ Network struct{ ID string } }
	if _, err := c.do(ctx, http.MethodPost, n.url+"/v2.0/networks", n.token, map[string]any{"network": map[string]any{"name": "sov-bench"}}, &nw); err != nil {
		return nil, err
	}
	n.net = nw.Network.ID
	if _, err := c.do(ctx, http.MethodPost, n.url+"/v2.0/subnets", n.token, map[string]any{"subnet": map[string]any{
		"network_id": n.net, "ip_version": 4, "cidr": "10.128.0.0/14", "enable_dhcp": false}}, nil); err != nil {
		n.Close(ctx)
		return nil, err
	}
	return n, nil
}

// CreatePort makes one port on the bench network and returns its id.
func (n *Network) CreatePort(ctx context.Context) (string, error) {
	var p struct{ Port struct{ ID string } }
	_, err := n.c.do(ctx, http.MethodPost, n.url+"/v2.0/ports", n.token, map[string]any{"port": map[string]any{"network_id": n.net}}, &p)
	return p.Port.ID, err
}

// ListPorts lists the network's ports (limit > 0: one page of that many)
// and checks that the list is not empty.
func (n *Network) ListPorts(ctx context.Context, limit int) error {
	url := n.url + "/v2.0/ports?network_id=" + n.net
	if limit > 0 {
		url += fmt.Sprintf("&limit=%d", limit)
	}
	var out struct{ Ports []struct{ ID string } }
	if _, err := n.c.do(ctx, http.MethodGet, url, n.token, nil, &out); err != nil {
		return err
	}
	if len(out.Ports) == 0 {
		return fmt.Errorf("bench: the port list is empty")
	}
	return nil
}

// Fill makes ports until the network has total, c at a time.
func (n *Network) Fill(ctx context.Context, total, have, c int) error {
	var left atomic.Int64
	left.Store(int64(total - have))
	var wg sync.WaitGroup
	errs := make(chan error, c)
	for range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for left.Add(-1) >= 0 {
				if _, err := n.CreatePort(ctx); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// Close deletes the bench network's ports and the network.
func (n *Network) Close(ctx context.Context) error {
	var out struct{ Ports []struct{ ID string } }
	if _, err := n.c.do(ctx, http.MethodGet, n.url+"/v2.0/ports?fields=id&network_id="+n.net, n.token, nil, &out); err != nil {
		return err
	}
	ids := make(chan string)
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := range ids {
				n.c.do(ctx, http.MethodDelete, n.url+"/v2.0/ports/"+id, n.token, nil, nil)
			}
		}()
	}
	for _, p := range out.Ports {
		ids <- p.ID
	}
	close(ids)
	wg.Wait()
	_, err := n.c.do(ctx, http.MethodDelete, n.url+"/v2.0/networks/"+n.net, n.token, nil, nil)
	return err
}
