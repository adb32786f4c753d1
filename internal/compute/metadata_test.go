package compute_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/keypairs"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/layer3/routers"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/subnets"

	"github.com/sovcloud/sov/internal/servertest"
)

// TestMetadataService asks the metadata service of a network as a guest
// would, by its source address: the server behind the address gets its
// own OpenStack and EC2 metadata (uuid, user data, key, addresses,
// network_data.json); an address no server holds, and the address on
// another network, get nothing; through a router, the server on one of
// its networks gets its own, through another router nothing.
func TestMetadataService(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, servertest.Fake)
	p := srv.Provider(t, srv.NewTenant(t, "alpha", ""))
	c := computeClient(t, p, "2.47")
	imageID := servertest.UploadTestGuest(t, p)
	netID := servertest.TenantNetwork(t, p, "alpha-net", "10.93.0.0/24")
	other := servertest.TenantNetwork(t, p, "other-net", "10.94.0.0/24")
	key, err := keypairs.Create(ctx, c, keypairs.CreateOpts{Name: "k"}).Extract()
	wantStatus(t, "keypair", err, 0)
	no := false
	created, err := servers.Create(ctx, c, keypairs.CreateOptsExt{CreateOptsBuilder: servers.CreateOpts{Name: "Meta Server", ImageRef: imageID,
		FlavorRef: flavorID(t, c, "SCS-1L-1"), ConfigDrive: &no, UserData: []byte("#!/bin/sh\necho hi\n"),
		Networks: []servers.Network{{UUID: netID, FixedIP: "10.93.0.40"}}}, KeyName: "k"}, nil).Extract()
	wantStatus(t, "create", err, 0)
	waitStatus(t, c, created.ID, "ACTIVE")

	get := func(network, from, path string) (int, string) {
		r := httptest.NewRequest(http.MethodGet, "http://169.254.169.254"+path, nil)
		r.RemoteAddr = from + ":40000"
		w := httptest.NewRecorder()
		srv.Network().MetadataHandler(network).ServeHTTP(w, r)
		return w.Code, w.Body.String()
	}
	code, body := get(netID, "10.93.0.40", "/openstack/latest/meta_data.json")
	var meta struct {
		UUID, Hostname string
		PublicKeys     map[string]string `json:"public_keys"`
	}
	if code != 200 || json.Unmarshal([]byte(body), &meta) != nil || meta.UUID != created.ID || meta.Hostname != "meta-server" ||
		meta.PublicKeys["k"] != key.PublicKey {
		t.Errorf("meta_data.json: %d %s", code, body)
	}
	for path, want := range map[string]string{
		"/openstack/latest/user_data":                 "#!/bin/sh\necho hi\n",
		"/latest/user-data":                           "#!/bin/sh\necho hi\n",
		"/latest/meta-data/local-ipv4":                "10.93.0.40",
		"/latest/meta-data/hostname":                  "meta-server",
		"/2009-04-04/meta-data/instance-id":           "i-" + strings.ReplaceAll(created.ID, "-", "")[:8],
		"/latest/meta-data/public-keys/":              "0=k",
		"/latest/meta-data/public-keys/0/openssh-key": key.PublicKey,
	} {
		if code, got := get(netID, "10.93.0.40", path); code != 200 || got != want {
			t.Errorf("%s: %d %q, want %q", path, code, got, want)
		}
	}
	if code, body := get(netID, "10.93.0.40", "/openstack/latest/network_data.json"); code != 200 || !strings.Contains(body, `"ethernet_mac_address"`) {
		t.Errorf("network_data.json: %d %s", code, body)
	}
	for _, tc := range []struct{ network, from string }{{netID, "10.93.0.41"}, {other, "10.93.0.40"}} {
		if code, body := get(tc.network, tc.from, "/openstack/latest/meta_data.json"); code != http.StatusNotFound || strings.Contains(body, created.ID) {
			t.Errorf("from %s on %s: %d %s", tc.from, tc.network, code, body)
		}
	}
	if code, _ := get(netID, "10.93.0.40", "/openstack/1999-01-01/meta_data.json"); code != http.StatusNotFound {
		t.Errorf("an unknown version: %d", code)
	}

	// Through a router: for the servers on its interfaces' networks only.
	nc := networkClient(t, p)
	router := func(name, network string) string {
		r, err := routers.Create(ctx, nc, routers.CreateOpts{Name: name}).Extract()
		wantStatus(t, "router", err, 0)
		pg, _ := subnets.List(nc, subnets.ListOpts{NetworkID: network}).AllPages(ctx)
		sns, _ := subnets.ExtractSubnets(pg)
		_, err = routers.AddInterface(ctx, nc, r.ID, routers.AddInterfaceOpts{SubnetID: sns[0].ID}).Extract()
		wantStatus(t, "interface", err, 0)
		return r.ID
	}
	viaRouter := func(routerID, from string) (int, string) {
		r := httptest.NewRequest(http.MethodGet, "http://169.254.169.254/openstack/latest/meta_data.json", nil)
		r.RemoteAddr = from + ":40000"
		w := httptest.NewRecorder()
		srv.Network().RouterMetadataHandler(routerID).ServeHTTP(w, r)
		return w.Code, w.Body.String()
	}
	if code, body := viaRouter(router("alpha-router", netID), "10.93.0.40"); code != 200 || !strings.Contains(body, created.ID) {
		t.Errorf("through the network's router: %d %s", code, body)
	}
	if code, body := viaRouter(router("other-router", other), "10.93.0.40"); code != http.StatusNotFound || strings.Contains(body, created.ID) {
		t.Errorf("through a router of another network: %d %s", code, body)
	}
}
