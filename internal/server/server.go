// Package server wires sov together: configuration, the store, the API
// services and the HTTP listener, with health, readiness and metrics.
package server

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sovcloud/sov/internal/compute"
	"github.com/sovcloud/sov/internal/engines"
	"github.com/sovcloud/sov/internal/httpapi"
	"github.com/sovcloud/sov/internal/identity"
	"github.com/sovcloud/sov/internal/identity/openid"
	"github.com/sovcloud/sov/internal/image"
	"github.com/sovcloud/sov/internal/keymanager"
	"github.com/sovcloud/sov/internal/loadbalancer"
	"github.com/sovcloud/sov/internal/network"
	"github.com/sovcloud/sov/internal/objectstore"
	"github.com/sovcloud/sov/internal/placement"
	"github.com/sovcloud/sov/internal/policy"
	"github.com/sovcloud/sov/internal/secrets"
	"github.com/sovcloud/sov/internal/service"
	"github.com/sovcloud/sov/internal/store"
	"github.com/sovcloud/sov/internal/volume"
	"github.com/sovcloud/sov/internal/volume/backup"
)

// Config configures a sov server.
type Config struct {
	// DataDir holds the SQLite database and the server's secrets.
	DataDir string
	// Database is a PostgreSQL URL; empty means SQLite in DataDir.
	Database string
	// Listen is the address of the API listener, e.g. "127.0.0.1:5000".
	Listen string
	// PublicURL is the URL clients use for the API listener; empty means
	// http:// plus the address actually listened on.
	PublicURL string
	// AdminPassword is the bootstrap admin's password, used when the admin is created.
	AdminPassword string
	// Identity configures the identity service; its PublicURL is filled in.
	Identity identity.Config
	// OpenID configures the OpenID Connect provider. Its issuer defaults
	// to the public URL + /identity; with an http issuer the provider is
	// off unless OpenID.Insecure allows it.
	OpenID openid.Config
	// S3Listen is the address of the S3 listener, e.g. "127.0.0.1:8080".
	S3Listen string
	// S3PublicURL is the URL clients use for S3; empty means http:// plus
	// the address actually listened on.
	S3PublicURL string
	// S3WebsiteListen, when set, is the address of the S3 website
	// endpoint (static website hosting), e.g. "127.0.0.1:8081".
	S3WebsiteListen string
	// S3 configures object storage; its DataDir defaults to DataDir/objects.
	S3 objectstore.Config
	// Compute configures servers: the accelerator, the hypervisor driver.
	Compute compute.Config
	// Network configures the data plane (its drivers).
	Network network.Config
	// Volume configures block storage (its backend driver).
	Volume volume.Config
	// LoadBalancer configures load balancers (their data plane).
	LoadBalancer loadbalancer.Config
	// TLSCert and TLSKey, when set, are the PEM files of the certificate
	// both listeners serve HTTPS with.
	TLSCert, TLSKey string
	// MasterKeyFile is the file of the master keys that seal every secret
	// at rest; empty means DataDir/master.key. Keep it apart from the
	// database (and out of its backups).
	MasterKeyFile string
	// RotateMasterKey makes a new master key at start, reseals every
	// secret under it and drops the old one.
	RotateMasterKey bool
	// KeyRotation is how often a new token signing key is made; 0 never.
	KeyRotation time.Duration
	// MetricsListen, when set, is the address of a listener of its own for
	// /metrics, which the API listener then no longer serves.
	MetricsListen string
	// LifecycleInterval is how often S3 lifecycle rules run; 0 means hourly.
	LifecycleInterval time.Duration
	// IdleTimeout closes a kept-alive connection that sends no new request
	// for that long; 0 means 2 minutes.
	IdleTimeout time.Duration
	// InactivityTimeout closes a connection whose request body or response
	// moves no byte for that long (transfers that keep moving are never
	// cut); 0 means 1 minute.
	InactivityTimeout time.Duration
	// MaxConnsPerClient caps the connections one client address holds open
	// on each listener; 0 means 512, negative means no limit.
	MaxConnsPerClient int
	// RefreshInterval is how often caches are reloaded from the store, for
	// servers that share one; 0 means every 2 seconds.
	RefreshInterval time.Duration
}

// Server is a running sov.
type Server struct {
	// URL is the public base URL of the API listener.
	URL string
	// S3URL is the public base URL of the S3 listener.
	S3URL string
	// MetricsURL is the URL of /metrics.
	MetricsURL string
	// S3WebsiteURL is the URL of the S3 website endpoint, "" when off.
	S3WebsiteURL string

	db       *store.DB
	http     *http.Server
	s3       *http.Server
	metrics  *http.Server // nil unless on a listener of its own
	website  *http.Server // nil unless the website endpoint is on
	identity *identity.Service
	openid   *openid.Provider // nil when off
	images   *image.Service
	compute  *compute.Service
	network  *network.Service
	volumes  *volume.Service
	keys     *keymanager.Service
	lbs      *loadbalancer.Service
	places   *placement.Service
	engines  *engines.Registry
	objects  *objectstore.Server
	// backupKey is the volume service's key to the backups' bucket.
	backupKey objectstore.Credential
	services  *service.Group // every part above, started in order, closed in reverse
	log       *slog.Logger
	closing   sync.Once
	closeErr  error
}

// Start opens the store, bootstraps the cloud and starts serving.
func Start(ctx context.Context, cfg Config, log *slog.Logger) (*Server, error) {
	dir, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("server: data dir: %w", err)
	}
	cfg.DataDir = dir // paths inside it are handed to QEMU and qemu-img
	// Whatever sov (and the engines it starts) creates is its own only.
	syscall.Umask(0o077)
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("server: data dir: %w", err)
	}
	if err := tightenDataDir(cfg.DataDir); err != nil {
		return nil, fmt.Errorf("server: data dir: %w", err)
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = 2 * time.Minute
	}
	if cfg.InactivityTimeout == 0 {
		cfg.InactivityTimeout = time.Minute
	}
	if cfg.MaxConnsPerClient == 0 {
		cfg.MaxConnsPerClient = 512
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("server: listen: %w", err)
	}
	s3ln, err := net.Listen("tcp", cfg.S3Listen)
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("server: listen for S3: %w", err)
	}
	ln, s3ln = httpapi.LimitPerClient(ln, cfg.MaxConnsPerClient), httpapi.LimitPerClient(s3ln, cfg.MaxConnsPerClient)
	s := &Server{URL: strings.TrimSuffix(cfg.PublicURL, "/"), S3URL: strings.TrimSuffix(cfg.S3PublicURL, "/"), log: log}
	scheme := "http://"
	if cfg.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			ln.Close()
			s3ln.Close()
			return nil, fmt.Errorf("server: TLS: %w", err)
		}
		tc := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		ln, s3ln, scheme = tls.NewListener(ln, tc), tls.NewListener(s3ln, tc), "https://"
	}
	if s.URL == "" {
		s.URL = scheme + ln.Addr().String()
	}
	if s.S3URL == "" {
		s.S3URL = scheme + s3ln.Addr().String()
	}
	if err := s.open(ctx, cfg); err != nil {
		ln.Close()
		s3ln.Close()
		return nil, err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	mux := http.NewServeMux()
	s.services.Mount(mux)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /readyz", s.ready)
	promHandler := promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	s.MetricsURL = s.URL + "/metrics"
	if cfg.MetricsListen != "" {
		mln, err := net.Listen("tcp", cfg.MetricsListen)
		if err != nil {
			ln.Close()
			s3ln.Close()
			s.services.Close(ctx)
			return nil, fmt.Errorf("server: listen for metrics: %w", err)
		}
		mmux := http.NewServeMux()
		mmux.Handle("GET /metrics", promHandler)
		s.metrics = &http.Server{Handler: mmux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: cfg.IdleTimeout}
		s.MetricsURL = "http://" + mln.Addr().String() + "/metrics"
		go s.metrics.Serve(mln)
	} else {
		mux.Handle("GET /metrics", promHandler)
	}
	metrics := httpapi.NewMetrics(reg)
	s.http = &http.Server{
		Handler:           httpapi.Wrap(httpapi.Progress(mux, cfg.InactivityTimeout), log, metrics),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       cfg.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
	}
	s.s3 = &http.Server{
		Handler:           httpapi.Wrap(httpapi.Progress(s.objects, cfg.InactivityTimeout), log, metrics),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       cfg.IdleTimeout,
		// The S3 handler answers oversized headers itself, in S3's format.
		MaxHeaderBytes: 1 << 20,
	}
	if cfg.S3WebsiteListen != "" {
		wln, err := net.Listen("tcp", cfg.S3WebsiteListen)
		if err != nil {
			ln.Close()
			s3ln.Close()
			if s.metrics != nil {
				s.metrics.Close()
			}
			s.services.Close(ctx)
			return nil, fmt.Errorf("server: listen for the S3 website endpoint: %w", err)
		}
		wln = httpapi.LimitPerClient(wln, cfg.MaxConnsPerClient)
		// Websites are plain HTTP, as S3's website endpoints are.
		s.website = &http.Server{Handler: httpapi.Wrap(httpapi.Progress(s.objects.Website(), cfg.InactivityTimeout), log, metrics),
			ReadHeaderTimeout: 10 * time.Second, IdleTimeout: cfg.IdleTimeout, MaxHeaderBytes: 64 << 10}
		s.S3WebsiteURL = "http://" + wln.Addr().String()
		go s.website.Serve(wln)
	}
	go s.http.Serve(ln)
	go s.s3.Serve(s3ln)
	lifecycle := cfg.LifecycleInterval
	if lifecycle == 0 {
		lifecycle = time.Hour
	}
	s.services.AddTask(service.Task{Name: "S3 lifecycle", Every: lifecycle, Run: newLifecycleRunner(s.objects, reg).run})
	s.services.RunTasks(ctx)
	return s, nil
}

// open builds every part of the cloud and starts them in order: the
// store, identity, image, the engine registry, network, placement, compute, volumes, the key manager, load balancers and object storage.
func (s *Server) open(ctx context.Context, cfg Config) error {
	dsn := cfg.Database
	if dsn == "" {
		dsn = filepath.Join(cfg.DataDir, "sov.db")
	}
	db, err := store.Open(ctx, dsn)
	if err != nil {
		return err
	}
	s.db = db
	if err := s.build(ctx, cfg); err != nil {
		db.Close()
		return err
	}
	s.services = &service.Group{Log: s.log, Register: func(ctx context.Context, e service.CatalogEntry) error {
		return s.identity.RegisterService(ctx, e.Type, e.Name, e.URL)
	}}
	reap := func(ctx context.Context) error {
		// Engine processes of this cloud that no record names are
		// leftovers of a crash: they go before compute adopts any.
		n, err := s.engines.Reap(ctx)
		if n > 0 {
			s.log.Info("ended engine processes that no record names", "processes", n)
		}
		return err
	}
	parts := []service.Service{part{name: "store", close: func(context.Context) error { return db.Close() }}, s.identity}
	if s.openid != nil {
		parts = append(parts, s.openid)
	}
	return s.services.Start(ctx, append(parts, s.images, part{name: "engines", start: reap}, s.network, s.places, s.compute, s.volumes, s.keys, s.lbs, s.objects)...)
}

// build constructs the services. Their constructors reseal what an older
// master key sealed; after them the older keys go.
func (s *Server) build(ctx context.Context, cfg Config) error {
	keyFile := cfg.MasterKeyFile
	if keyFile == "" {
		keyFile = filepath.Join(cfg.DataDir, "master.key")
	}
	kek, err := secrets.Load(keyFile, filepath.Join(cfg.DataDir, "credential.key"))
	if err == nil && cfg.RotateMasterKey {
		err = kek.Rotate()
	}
	if err != nil {
		return err
	}
	idc := cfg.Identity
	idc.PublicURL = s.URL
	idc.Admin = identity.BootstrapConfig{AdminUser: "admin", AdminPassword: cfg.AdminPassword, AdminProject: "admin"}
	idc.KeyRotation = cfg.KeyRotation
	if idc.RefreshInterval = cfg.RefreshInterval; idc.RefreshInterval == 0 {
		idc.RefreshInterval = 2 * time.Second
	}
	if s.identity, err = identity.New(ctx, idc, s.db, kek, s.log); err != nil {
		return err
	}
	if s.openid, err = s.openIDProvider(ctx, cfg, kek, idc.RefreshInterval); err != nil {
		return err
	}
	if s.keys, err = keymanager.New(ctx, s.db, kek, s.URL, s.identity, s.log); err != nil {
		return err
	}
	if s.images, err = image.New(s.db, filepath.Join(cfg.DataDir, "images"), s.URL, s.identity, s.log); err != nil {
		return err
	}
	if s.engines, err = engines.New(s.db, engines.CloudID(cfg.DataDir)); err != nil {
		return err
	}
	ncfg := cfg.Network
	ncfg.DataDir = cfg.DataDir
	if s.network, err = network.New(ncfg, s.db, s.URL, s.identity, s.identity, s.engines, s.log); err != nil {
		return err
	}
	vcfg := cfg.Volume
	vcfg.DataDir = cfg.DataDir
	if vcfg.Backups, err = s.backupRepository(vcfg.BackupDir); err != nil {
		return err
	}
	if s.volumes, err = volume.New(vcfg, s.db, s.URL, s.identity, s.images, s.keys, s.log); err != nil {
		return err
	}
	ccfg := cfg.Compute
	ccfg.DataDir = cfg.DataDir
	s.places = placement.New(s.db, s.URL, s.identity, s.log)
	if s.compute, err = compute.New(ccfg, s.db, s.URL, s.identity, s.images, s.network, s.volumes, s.places, s.engines, s.log); err != nil {
		return err
	}
	lcfg := cfg.LoadBalancer
	lcfg.DataDir = cfg.DataDir
	if s.lbs, err = loadbalancer.New(lcfg, s.db, s.URL, s.identity, s.network, s.keys, s.engines, s.log); err != nil {
		return err
	}
	s.network.SetInstances(s.compute) // the metadata service answers for compute's servers
	s.volumes.SetHosts(s.compute)     // attached volumes grow in their VMs
	s3cfg := cfg.S3
	if s3cfg.DataDir == "" {
		s3cfg.DataDir = filepath.Join(cfg.DataDir, "objects")
	}
	s3cfg.PublicURL = s.S3URL
	s3cfg.Reserved = map[string]string{VolumeBackupBucket: volumeBackupOwner.ProjectID}
	if s.objects, err = objectstore.New(ctx, s3cfg, s.db, s.lookupEC2, kek, s.log); err != nil {
		return err
	}
	// Every secret is sealed under the primary master key now.
	return kek.Prune()
}

// openIDProvider makes the OpenID Connect provider, or nil when its
// issuer is http and no insecure issuer is allowed.
func (s *Server) openIDProvider(ctx context.Context, cfg Config, kek *secrets.Keyring, refresh time.Duration) (*openid.Provider, error) {
	oc := cfg.OpenID
	if oc.Issuer == "" {
		oc.Issuer = s.URL + "/identity"
	}
	if strings.HasPrefix(oc.Issuer, "http://") && !oc.Insecure {
		s.log.Warn("the OpenID Connect provider is off: its issuer must be https (serve TLS, or allow an insecure issuer)", "issuer", oc.Issuer)
		return nil, nil
	}
	if oc.KeyRotation == 0 {
		oc.KeyRotation = cfg.KeyRotation
	}
	if oc.RefreshInterval == 0 {
		oc.RefreshInterval = refresh
	}
	return openid.New(ctx, oc, s.db, kek, s.identity, s.log)
}

// part is a piece of the server that is not an API service (the store,
// the engine registry), with what its start and close do.
type part struct {
	name         string
	start, close func(context.Context) error
}

func (p part) Name() string { return p.name }

func (p part) Start(ctx context.Context) error {
	if p.start == nil {
		return nil
	}
	return p.start(ctx)
}

func (p part) Close(ctx context.Context) error {
	if p.close == nil {
		return nil
	}
	return p.close(ctx)
}

// VolumeBackupBucket is the bucket of sov's S3 that volume backups go to,
// which only the volume service may create.
const VolumeBackupBucket = "sov-volume-backups"

// volumeBackupOwner is the owner of the backups' bucket and objects: no
// Keystone user or project (their ids are 32 hex digits), so no EC2
// credential of a user reaches them.
var volumeBackupOwner = objectstore.Owner{UserID: "sov-volume-backup", ProjectID: "sov-volume-backup"}

// backupRepository is where volume backups go: dir, or sov's own S3,
// reached in the process (the S3 handler, no listener) with a key made
// for this run and known only to it.
func (s *Server) backupRepository(dir string) (backup.Repository, error) {
	if dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, err
		}
		return backup.Dir(dir), nil
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	s.backupKey = objectstore.Credential{Secret: hex.EncodeToString(key), Owner: volumeBackupOwner}
	objects := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { s.objects.ServeHTTP(w, r) })
	return backup.NewS3("http://sov.internal", backupAccessKey, s.backupKey.Secret, VolumeBackupBucket, backup.Handler{Handler: objects})
}

// backupAccessKey is the access key of the volume service's S3 key.
const backupAccessKey = "SOV-VOLUME-BACKUP"

// lookupEC2 gives the object store the EC2 credentials of the identity
// service, and the volume service's own key.
func (s *Server) lookupEC2(ctx context.Context, access string) (*objectstore.Credential, error) {
	if access == backupAccessKey && s.backupKey.Secret != "" {
		c := s.backupKey
		return &c, nil
	}
	c, err := s.identity.LookupEC2(ctx, access)
	if err != nil {
		return nil, err
	}
	readOnly := !slices.Contains(c.Roles, policy.Member)
	return &objectstore.Credential{Secret: c.Secret, Owner: objectstore.Owner{UserID: c.UserID, ProjectID: c.ProjectID, ReadOnly: readOnly}}, nil
}

func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	var one int
	if err := s.db.QueryRow(ctx, `SELECT 1`).Scan(&one); err != nil {
		http.Error(w, "store not ready: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintln(w, "ready")
}

// Identity returns the identity service.
func (s *Server) Identity() *identity.Service { return s.identity }

// OpenID returns the OpenID Connect provider, nil when it is off.
func (s *Server) OpenID() *openid.Provider { return s.openid }

// Network returns the network service.(tests read its data plane).
func (s *Server) Network() *network.Service { return s.network }

// Volumes is the block storage service.
func (s *Server) Volumes() *volume.Service { return s.volumes }

// Compute is the compute service.
func (s *Server) Compute() *compute.Service { return s.compute }

// LoadBalancers is the load balancer service.
func (s *Server) LoadBalancers() *loadbalancer.Service { return s.lbs }

// Objects returns the S3 service.
func (s *Server) Objects() *objectstore.Server { return s.objects }

// Close stops serving, waiting up to a few seconds for requests in flight,
// and closes the store. Calling it again does nothing.
func (s *Server) Close() error {
	s.closing.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.closeErr = errors.Join(s.http.Shutdown(ctx), s.s3.Shutdown(ctx))
		if s.metrics != nil {
			s.closeErr = errors.Join(s.closeErr, s.metrics.Shutdown(ctx))
		}
		if s.website != nil {
			s.closeErr = errors.Join(s.closeErr, s.website.Shutdown(ctx))
		}
		// The VMs run on; the DHCP server stops with sov.
		s.closeErr = errors.Join(s.closeErr, s.services.Close(ctx))
	})
	return s.closeErr
}

// tightenDataDir makes the data dir and what it holds at its top (the
// database, secrets, the services' directories) accessible to sov alone,
// also where an earlier version or an operator left them open.
func tightenDataDir(dir string) error {
	if err := os.Chmod(dir, 0o700); err != nil {
		return err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		mode := os.FileMode(0o600)
		if e.IsDir() {
			mode = 0o700
		} else if !e.Type().IsRegular() {
			continue
		}
		if err := os.Chmod(filepath.Join(dir, e.Name()), mode); err != nil {
			return err
		}
	}
	return nil
}
