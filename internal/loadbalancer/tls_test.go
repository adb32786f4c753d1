package loadbalancer_test

import (
	"bytes"
	"encoding/base64"
	"net/http"
	"testing"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/keymanager/v1/containers"
	"github.com/gophercloud/gophercloud/v2/openstack/keymanager/v1/secrets"
	"github.com/gophercloud/gophercloud/v2/openstack/loadbalancer/v2/listeners"
	"github.com/gophercloud/gophercloud/v2/openstack/loadbalancer/v2/loadbalancers"
	"software.sslmate.com/src/go-pkcs12"

	"github.com/sovcloud/sov/internal/servertest"
	"github.com/sovcloud/sov/internal/testcert"
)

// certificateContainer stores a certificate and its key in the key
// manager of p's project as a "certificate" container and returns its ref.
func certificateContainer(t testing.TB, p *gophercloud.ProviderClient, pair *testcert.Pair) string {
	t.Helper()
	kc, err := openstack.NewKeyManagerV1(p, gophercloud.EndpointOpts{})
	if err != nil {
		t.Fatal(err)
	}
	store := func(name, payload string) string {
		s, err := secrets.Create(ctx, kc, secrets.CreateOpts{Name: name, SecretType: secrets.OpaqueSecret, Payload: payload,
			PayloadContentType: "text/plain"}).Extract()
		if err != nil {
			t.Fatal(err)
		}
		return s.SecretRef
	}
	c, err := containers.Create(ctx, kc, containers.CreateOpts{Type: containers.CertificateContainer, Name: pair.Cert.Subject.CommonName,
		SecretRefs: []containers.SecretRef{{Name: "certificate", SecretRef: store("cert", string(pair.CertPEM))},
			{Name: "private_key", SecretRef: store("key", string(pair.KeyPEM))}}}).Extract()
	if err != nil {
		t.Fatal(err)
	}
	return c.ContainerRef
}

// pkcs12Secret stores a certificate and its key as one PKCS#12 secret,
// as Octavia's guides have users do, and returns its ref.
func pkcs12Secret(t *testing.T, p *gophercloud.ProviderClient, pair *testcert.Pair) string {
	t.Helper()
	kc, err := openstack.NewKeyManagerV1(p, gophercloud.EndpointOpts{})
	if err != nil {
		t.Fatal(err)
	}
	pfx, err := pkcs12.Modern.Encode(pair.Key, pair.Cert, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	s, err := secrets.Create(ctx, kc, secrets.CreateOpts{Name: "p12", SecretType: secrets.OpaqueSecret, Payload: base64.StdEncoding.EncodeToString(pfx),
		PayloadContentType: "application/octet-stream", PayloadContentEncoding: "base64"}).Extract()
	if err != nil {
		t.Fatal(err)
	}
	return s.SecretRef
}

// TestTerminatedHTTPS: a TERMINATED_HTTPS listener takes its default
// certificate from a key manager container and an SNI one from a PKCS#12
// secret; the data plane gets both with their keys; another project's
// certificate, a missing one and certificates on an HTTP listener are 400s.
func TestTerminatedHTTPS(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, servertest.Fake)
	p := srv.Provider(t, srv.NewTenant(t, "tls-a", "member"))
	pb := srv.Provider(t, srv.NewTenant(t, "tls-b", "member"))
	c := lbClient(t, p)
	sn := subnetOf(t, netClient(t, p), servertest.TenantNetwork(t, p, "web", "10.44.0.0/24"))
	a, b := testcert.New(t, "a.test"), testcert.New(t, "b.test")
	def, sni := certificateContainer(t, p, a), pkcs12Secret(t, p, b)
	theirs := certificateContainer(t, pb, testcert.New(t, "c.test"))

	lb, err := loadbalancers.Create(ctx, c, loadbalancers.CreateOpts{VipSubnetID: sn.ID}).Extract()
	if err != nil {
		t.Fatal(err)
	}
	waitLB(t, c, lb.ID, "ACTIVE")
	for _, tc := range []struct {
		what string
		opts listeners.CreateOpts
	}{
		{"another project's certificate", listeners.CreateOpts{DefaultTlsContainerRef: theirs}},
		{"no certificate", listeners.CreateOpts{}},
		{"a reference to nothing", listeners.CreateOpts{DefaultTlsContainerRef: def + "x"}},
		{"an SNI certificate of another project", listeners.CreateOpts{DefaultTlsContainerRef: def, SniContainerRefs: []string{theirs}}},
	} {
		tc.opts.LoadbalancerID, tc.opts.Protocol, tc.opts.ProtocolPort = lb.ID, listeners.ProtocolTerminatedHTTPS, 443
		_, err := listeners.Create(ctx, c, tc.opts).Extract()
		servertest.WantStatus(t, tc.what, err, http.StatusBadRequest)
	}
	_, err = listeners.Create(ctx, c, listeners.CreateOpts{LoadbalancerID: lb.ID, Protocol: listeners.ProtocolHTTP, ProtocolPort: 80, DefaultTlsContainerRef: def}).Extract()
	servertest.WantStatus(t, "a certificate on an HTTP listener", err, http.StatusBadRequest)

	ls, err := listeners.Create(ctx, c, listeners.CreateOpts{LoadbalancerID: lb.ID, Protocol: listeners.ProtocolTerminatedHTTPS, ProtocolPort: 443,
		DefaultTlsContainerRef: def, SniContainerRefs: []string{sni}, InsertHeaders: map[string]string{"X-Forwarded-Proto": "true"}}).Extract()
	if err != nil {
		t.Fatal(err)
	}
	if ls.DefaultTlsContainerRef != def || len(ls.SniContainerRefs) != 1 || ls.SniContainerRefs[0] != sni {
		t.Fatalf("listener: %+v", ls)
	}
	waitLB(t, c, lb.ID, "ACTIVE")
	dp := srv.LoadBalancers().Fake.Get(lb.ID).Listeners[0]
	if len(dp.Certificates) != 2 || !dp.ForwardedProto || !bytes.Contains(dp.Certificates[0], a.CertPEM) || !bytes.Contains(dp.Certificates[0], a.KeyPEM) ||
		!bytes.Contains(dp.Certificates[1], []byte("PRIVATE KEY")) {
		t.Fatalf("certificates on the data plane: %d, %q", len(dp.Certificates), dp.Certificates)
	}
}
