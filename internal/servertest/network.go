package servertest

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/networks"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/subnets"

	"github.com/sovcloud/sov/internal/network/linux"
)

// TenantNetwork makes a network with one IPv4 subnet of cidr (DHCP on)
// in the project of p and returns the network's id.
func TenantNetwork(t testing.TB, p *gophercloud.ProviderClient, name, cidr string) string {
	t.Helper()
	c, err := openstack.NewNetworkV2(p, gophercloud.EndpointOpts{})
	if err != nil {
		t.Fatal(err)
	}
	n, err := networks.Create(context.Background(), c, networks.CreateOpts{Name: name}).Extract()
	if err != nil {
		t.Fatalf("network create: %v", err)
	}
	if _, err := subnets.Create(context.Background(), c, subnets.CreateOpts{NetworkID: n.ID, CIDR: cidr, IPVersion: gophercloud.IPv4, Name: name + "-subnet"}).Extract(); err != nil {
		t.Fatalf("subnet create: %v", err)
	}
	return n.ID
}

// GetOnNetwork fetches url from the DHCP namespace of a network (which
// sits on the network's L2 domain, as a guest would) and returns the body.
func GetOnNetwork(networkID, url string) (string, error) {
	ns := "sovd-" + strings.ReplaceAll(networkID, "-", "")[:11]
	c := &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{DisableKeepAlives: true,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return DialIn(ctx, ns, network, addr)
		}}}
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// DialIn dials addr from the named network namespace.
func DialIn(ctx context.Context, ns, network, addr string) (c net.Conn, err error) {
	err = linux.InNamespace(ns, func() error {
		var d net.Dialer
		c, err = d.DialContext(ctx, network, addr)
		return err
	})
	return c, err
}
