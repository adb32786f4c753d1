// Package servertest starts a real sov server for tests: on a free loopback
// port, with a temporary data dir, on SQLite or, when SOV_TEST_POSTGRES names
// a PostgreSQL server, on a fresh PostgreSQL database of its own.
package servertest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"io"
	"log/slog"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"

	"github.com/sovcloud/sov/internal/server"
)

// AdminPassword is the bootstrap admin's password in test servers.
const AdminPassword = "admin-secret"

// Server is a test server.
type Server struct {
	*server.Server
	// AuthURL is the Keystone v3 URL of the server.
	AuthURL string

	cfg server.Config
}

// Start starts a server; edit may change its configuration first.
func Start(t testing.TB, edit func(*server.Config)) *Server {
	t.Helper()
	cfg := server.Config{DataDir: t.TempDir(), Listen: "127.0.0.1:0", AdminPassword: AdminPassword}
	cfg.Identity.BcryptCost = 4 // the minimum: tests hash many passwords
	cfg.RefreshInterval = 100 * time.Millisecond
	if pg := os.Getenv("SOV_TEST_POSTGRES"); pg != "" {
		cfg.Database = freshDatabase(t, pg)
	}
	if edit != nil {
		edit(&cfg)
	}
	return start(t, cfg)
}

// Restart stops the server and starts a new one on the same data dir and database.
func (s *Server) Restart(t testing.TB) *Server {
	t.Helper()
	s.Close()
	return start(t, s.cfg)
}

// Twin starts a second server on the same data dir and database, as a
// second node of one cloud would run.
func (s *Server) Twin(t testing.TB) *Server {
	t.Helper()
	return start(t, s.cfg)
}

func start(t testing.TB, cfg server.Config) *Server {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() && os.Getenv("SOV_TEST_LOG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	srv, err := server.Start(t.Context(), cfg, log)
	if err != nil {
		t.Fatalf("server.Start: %v", err)
	}
	t.Cleanup(func() { srv.Close() })
	return &Server{Server: srv, AuthURL: srv.URL + "/identity/v3", cfg: cfg}
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
	provider, err := openstack.AuthenticatedClient(context.Background(), opts)
	if err != nil {
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
