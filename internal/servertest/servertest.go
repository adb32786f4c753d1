// Package servertest starts a real sov server for tests: on a free loopback
// port, with a temporary data dir, on SQLite or, when SOV_TEST_POSTGRES names
// a PostgreSQL server, on a fresh PostgreSQL database of its own.
package servertest

import (
	"bytes"
	"context"
	"errors"
	"net/netip"

	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"database/sql"
	"encoding/hex"
	"encoding/pem"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/ec2credentials"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/projects"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/roles"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/users"

	"github.com/sovcloud/sov/internal/engines"
	"github.com/sovcloud/sov/internal/network/linux"
	"github.com/sovcloud/sov/internal/server"
	"github.com/sovcloud/sov/internal/store"
)

// AdminPassword is the bootstrap admin's password in test servers.
const AdminPassword = "admin-secret"

// Server is a test server.
type Server struct {
	*server.Server
	// AuthURL is the Keystone v3 URL of the server.
	AuthURL string
	// HTTPClient reaches the server (it trusts its certificate under StartTLS).
	HTTPClient *http.Client

	cfg server.Config
}

// Start starts a server; edit may change its configuration first.
func Start(t testing.TB, edit func(*server.Config)) *Server {
	t.Helper()
	cfg := server.Config{DataDir: t.TempDir(), Listen: "127.0.0.1:0", S3Listen: "127.0.0.1:0", S3WebsiteListen: "127.0.0.1:0", AdminPassword: AdminPassword}
	cfg.Identity.BcryptCost = 4 // the minimum: tests hash many passwords
	cfg.RefreshInterval = 100 * time.Millisecond
	cfg.LoadBalancer.HealthInterval = 200 * time.Millisecond
	// The test's VMs and networks go at its end; its external network
	// (host-local: the host takes its gateway) is a subnet of its own.
	t.Cleanup(func() { RemoveHostState(cfg.DataDir) })
	cfg.Network.ExternalCIDR = RandomExternalCIDR()
	if pg := os.Getenv("SOV_TEST_POSTGRES"); pg != "" {
		cfg.Database = freshDatabase(t, pg)
	}
	if edit != nil {
		edit(&cfg)
	}
	return start(t, cfg)
}

// Fake is an edit for Start that runs compute, networks and volumes on the
// fake engines (hypervisor/fake, network/fake, volume/backend/fake):
// servers go ACTIVE at once and nothing touches the host, for tests of the
// API's behaviour rather than of QEMU.
func Fake(cfg *server.Config) {
	cfg.Compute.Drivers, cfg.Network.Drivers, cfg.Volume.Drivers, cfg.LoadBalancer.Driver = "fake", "fake", "fake", "fake"
}

// OpenID is an edit for Start that turns the OpenID Connect provider on
// with the server's http issuer (it is off without TLS otherwise).
func OpenID(cfg *server.Config) { cfg.OpenID.Insecure = true }

// DataDir is the server's data directory.
func (s *Server) DataDir() string { return s.cfg.DataDir }

// Restart stops the server and starts a new one on the same data dir and database.
func (s *Server) Restart(t testing.TB) *Server {
	t.Helper()
	return s.RestartWith(t, nil)
}

// RestartWith is Restart with the configuration changed by edit first.
func (s *Server) RestartWith(t testing.TB, edit func(*server.Config)) *Server {
	t.Helper()
	s.Close()
	cfg := s.cfg
	if edit != nil {
		edit(&cfg)
	}
	return start(t, cfg)
}

// Engine returns the pid of the server's engine process kind/name (a
// server's "qemu", the bridge's "dnsmasq") if it is recorded and runs.
func (s *Server) Engine(t testing.TB, kind, name string) (int, bool) {
	t.Helper()
	r, err := engines.New(s.Store(t), engines.CloudID(s.cfg.DataDir))
	if err != nil {
		t.Fatal(err)
	}
	return r.Running(context.Background(), kind, name)
}

// Store opens another handle on the server's database, closed when the test ends.
func (s *Server) Store(t testing.TB) *store.DB {
	t.Helper()
	dsn := s.cfg.Database
	if dsn == "" {
		dsn = filepath.Join(s.cfg.DataDir, "sov.db")
	}
	db, err := store.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// Twin starts a second server on the same data dir and database, as a
// second node of one cloud would run.
func (s *Server) Twin(t testing.TB) *Server {
	t.Helper()
	return start(t, s.cfg)
}

func start(t testing.TB, cfg server.Config) *Server {
	t.Helper()
	// sov's errors reach the test's log if it fails (what a volume or a
	// server in error says nothing more of).
	errs := &errorLog{}
	log := slog.New(slog.NewTextHandler(errs, &slog.HandlerOptions{Level: slog.LevelError}))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("sov's errors in this test:\n%s", errs.String())
		}
	})
	if testing.Verbose() && os.Getenv("SOV_TEST_LOG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	srv, err := server.Start(t.Context(), cfg, log)
	if err != nil {
		t.Fatalf("server.Start: %v", err)
	}
	t.Cleanup(func() { srv.Close() })
	return &Server{Server: srv, AuthURL: srv.URL + "/identity/v3", cfg: cfg, HTTPClient: http.DefaultClient}
}

// freshDatabase creates an empty database on the PostgreSQL server at admin
// (a postgres:// URL) and drops it when the test ends.
func freshDatabase(t testing.TB, admin string) string {
	t.Helper()
	db, err := sql.Open("pgx", admin)
	if err != nil {
		t.Fatal(err)
	}
	var b [6]byte
	rand.Read(b[:])
	name := "sov_test_" + hex.EncodeToString(b[:])
	if _, err := db.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		db.Exec("DROP DATABASE " + name + " WITH (FORCE)")
		db.Close()
	})
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

// Login authenticates with a password, scoped as the options say, and
// returns an identity client.
func (s *Server) Login(t testing.TB, opts gophercloud.AuthOptions) *gophercloud.ServiceClient {
	t.Helper()
	c, err := s.TryLogin(opts)
	if err != nil {
		t.Fatalf("login as %s: %v", opts.Username+opts.UserID+opts.ApplicationCredentialID, err)
	}
	return c
}

// TryLogin is Login that returns the error.
func (s *Server) TryLogin(opts gophercloud.AuthOptions) (*gophercloud.ServiceClient, error) {
	opts.IdentityEndpoint = s.AuthURL
	provider, err := openstack.NewClient(s.AuthURL)
	if err != nil {
		return nil, err
	}
	provider.HTTPClient = *s.HTTPClient
	if err := openstack.Authenticate(context.Background(), provider, opts); err != nil {
		return nil, err
	}
	return openstack.NewIdentityV3(provider, gophercloud.EndpointOpts{})
}

// Admin logs in as the bootstrap admin, scoped to the admin project.
func (s *Server) Admin(t testing.TB) *gophercloud.ServiceClient {
	t.Helper()
	return s.Login(t, gophercloud.AuthOptions{Username: "admin", Password: AdminPassword, DomainID: "default",
		Scope: &gophercloud.AuthScope{ProjectName: "admin", DomainID: "default"}})
}

// Tenant is a project with a user (and its password) and an EC2 credential for S3.
type Tenant struct {
	ProjectID, UserID, Password, Access, Secret string
}

// Provider logs in as the tenant's user, scoped to its project, and returns
// the provider client that the service clients of gophercloud hang off.
func (s *Server) Provider(t testing.TB, tn Tenant) *gophercloud.ProviderClient {
	t.Helper()
	return s.Login(t, gophercloud.AuthOptions{UserID: tn.UserID, Password: tn.Password, Scope: &gophercloud.AuthScope{ProjectID: tn.ProjectID}}).ProviderClient
}

// NewTenant creates a project, a user with the given role on it (member
// when empty) and an EC2 credential of that user for the project.
func (s *Server) NewTenant(t testing.TB, name, role string) Tenant {
	t.Helper()
	p, err := projects.Create(context.Background(), s.Admin(t), projects.CreateOpts{Name: name, DomainID: "default"}).Extract()
	if err != nil {
		t.Fatalf("create project %s: %v", name, err)
	}
	return s.addUser(t, p.ID, name+"-user", role)
}

// NewTenantUser adds another user, with the given role and its own EC2
// credential, to the project of an existing tenant.
func (s *Server) NewTenantUser(t testing.TB, project, role string) Tenant {
	t.Helper()
	pages, err := projects.List(s.Admin(t), projects.ListOpts{Name: project}).AllPages(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ps, _ := projects.ExtractProjects(pages)
	if len(ps) != 1 {
		t.Fatalf("project %s not found", project)
	}
	return s.addUser(t, ps[0].ID, project+"-"+role, role)
}

func (s *Server) addUser(t testing.TB, projectID, name, role string) Tenant {
	t.Helper()
	if role == "" {
		role = "member"
	}
	admin := s.Admin(t)
	u, err := users.Create(context.Background(), admin, users.CreateOpts{Name: name, DomainID: "default", Password: name + "-pw"}).Extract()
	if err != nil {
		t.Fatalf("create user: %v", err)
	}
	pages, err := roles.List(admin, roles.ListOpts{Name: role}).AllPages(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	rs, _ := roles.ExtractRoles(pages)
	if len(rs) != 1 {
		t.Fatalf("role %s not found", role)
	}
	if err := roles.Assign(context.Background(), admin, rs[0].ID, roles.AssignOpts{UserID: u.ID, ProjectID: projectID}).ExtractErr(); err != nil {
		t.Fatalf("assign role: %v", err)
	}
	client := s.Login(t, gophercloud.AuthOptions{UserID: u.ID, Password: name + "-pw", Scope: &gophercloud.AuthScope{ProjectID: projectID}})
	cred, err := ec2credentials.Create(context.Background(), client, u.ID, ec2credentials.CreateOpts{TenantID: projectID}).Extract()
	if err != nil {
		t.Fatalf("create ec2 credential: %v", err)
	}
	return Tenant{ProjectID: projectID, UserID: u.ID, Password: name + "-pw", Access: cred.Access, Secret: cred.Secret}
}

// StartTLS is Start with both listeners serving HTTPS, with a fresh
// self-signed certificate for 127.0.0.1 that the server's HTTPClient trusts.
func StartTLS(t testing.TB, edit func(*server.Config)) *Server {
	t.Helper()
	pool := x509.NewCertPool()
	tlsEdit := selfSigned(t, pool)
	s := Start(t, func(c *server.Config) {
		tlsEdit(c)
		if edit != nil {
			edit(c)
		}
	})
	s.HTTPClient = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	return s
}

// selfSigned makes a certificate for 127.0.0.1, adds it to pool and
// returns the configuration change that serves it.
func selfSigned(t testing.TB, pool *x509.CertPool) func(*server.Config) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "sov test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool.AddCert(cert)
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600)
	return func(c *server.Config) { c.TLSCert, c.TLSKey = certFile, keyFile }
}

// CertPEM is the PEM of the certificate a StartTLS server serves (its
// own CA: it is self-signed).
func (s *Server) CertPEM(t testing.TB) string {
	t.Helper()
	b, err := os.ReadFile(s.cfg.TLSCert)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// RandomExternalCIDR is a /24 of 10.200.0.0/13 for a test cloud's
// external network, so that clouds side by side do not give the host
// one gateway address twice.
func RandomExternalCIDR() netip.Prefix {
	var b [2]byte
	rand.Read(b[:])
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 200 + b[0]%8, b[1], 0}), 24)
}

// RemoveHostState ends the engine processes of a test's data dir (its
// VMs and DHCP servers), recorded or not, and removes its networks'
// bridges, taps and namespaces.
func RemoveHostState(dataDir string) {
	engines.KillMarked(engines.CloudID(dataDir))
	linux.RemoveAll(filepath.Join(dataDir, "network"))
}

// IsStatus reports whether err is an HTTP error of gophercloud with status.
func IsStatus(err error, status int) bool {
	var e gophercloud.ErrUnexpectedResponseCode
	return errors.As(err, &e) && e.Actual == status
}

// WantStatus fails the test unless err is an HTTP error of gophercloud with
// the given status; status 0 means err must be nil.
func WantStatus(t testing.TB, what string, err error, status int) {
	t.Helper()
	if status == 0 {
		if err != nil {
			t.Fatalf("%s: unexpected error %v", what, err)
		}
		return
	}
	var e gophercloud.ErrUnexpectedResponseCode
	if !errors.As(err, &e) {
		t.Fatalf("%s: got error %v, want HTTP %d", what, err, status)
	}
	if e.Actual != status {
		t.Fatalf("%s: got HTTP %d (%s), want %d", what, e.Actual, e.Body, status)
	}
}

// errorLog keeps what sov logs (its first MiB), for a failed test.
type errorLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *errorLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.b.Len() < 1<<20 {
		l.b.Write(p)
	}
	return len(p), nil
}

func (l *errorLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
