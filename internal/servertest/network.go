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
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/layer3/routers"
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

// RoutedToPublic gives the project of nc a router from the cloud's
// external network "public" to the first subnet of netID and returns the
// external network, its subnet and the router.
func RoutedToPublic(t testing.TB, nc *gophercloud.ServiceClient, netID string) (*networks.Network, *subnets.Subnet, *routers.Router) {
	t.Helper()
	ctx := context.Background()
	pg, err := networks.List(nc, networks.ListOpts{Name: "public"}).AllPages(ctx)
	WantStatus(t, "list public", err, 0)
	public, _ := networks.ExtractNetworks(pg)
	if len(public) != 1 {
		t.Fatalf("external networks named public: %+v", public)
	}
	sn, err := subnets.Get(ctx, nc, public[0].Subnets[0]).Extract()
	WantStatus(t, "public's subnet", err, 0)
	r, err := routers.Create(ctx, nc, routers.CreateOpts{Name: "r", GatewayInfo: &routers.GatewayInfo{NetworkID: public[0].ID}}).Extract()
	WantStatus(t, "router", err, 0)
	pg, _ = subnets.List(nc, subnets.ListOpts{NetworkID: netID}).AllPages(ctx)
	own, _ := subnets.ExtractSubnets(pg)
	_, err = routers.AddInterface(ctx, nc, r.ID, routers.AddInterfaceOpts{SubnetID: own[0].ID}).Extract()
	WantStatus(t, "interface", err, 0)
	return &public[0], sn, r
}
