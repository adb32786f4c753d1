package cli

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/sovcloud/sov/internal/localca"
	"github.com/sovcloud/sov/internal/network"
	"github.com/sovcloud/sov/internal/server"
)

// up runs an all-in-one cloud in the foreground until interrupted.
func up(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("up", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg server.Config
	var logLevel string
	fs.StringVar(&cfg.DataDir, "data-dir", "sov-data", "directory for the database, secrets and clouds.yaml")
	fs.StringVar(&cfg.Database, "database", "", "PostgreSQL URL (postgres://...); empty uses SQLite in the data dir")
	fs.StringVar(&cfg.Listen, "listen", "127.0.0.1:5000", "address of the OpenStack API listener")
	fs.StringVar(&cfg.PublicURL, "public-url", "", "URL clients reach the API listener at (default https://<listen>, or http:// with --tls off)")
	fs.StringVar(&cfg.S3Listen, "s3-listen", "127.0.0.1:8080", "address of the S3 listener")
	fs.StringVar(&cfg.S3PublicURL, "s3-public-url", "", "URL clients reach the S3 listener at (default https://<s3-listen>, or http:// with --tls off)")
	fs.StringVar(&cfg.S3.Domain, "s3-domain", "", "domain for virtual-host style S3 (<bucket>.<domain>); path style always works")
	fs.BoolVar(&cfg.S3.SigV2, "s3-sigv2", false, "also accept AWS Signature Version 2 (old S3 clients; it signs no body and uses HMAC-SHA1)")
	fs.StringVar(&cfg.S3WebsiteListen, "s3-website-listen", "127.0.0.1:8081", "address of the S3 website endpoint (static websites of buckets; empty: off)")
	fs.StringVar(&cfg.S3.WebsiteDomain, "s3-website-domain", "", "domain for website hosts (<bucket>.<domain>); a host that is a bucket's name, or the first path segment, names the bucket too")
	fs.StringVar(&cfg.S3.Region, "s3-region", "us-east-1", "region S3 reports for buckets")
	fs.Int64Var(&cfg.S3.QuotaBytes, "s3-quota-bytes", 0, "bytes of object data one project may store (0: no limit)")
	fs.Int64Var(&cfg.S3.QuotaObjects, "s3-quota-objects", 0, "objects one project may store (0: no limit)")
	fs.StringVar(&cfg.Compute.Accel, "accel", "auto", "QEMU accelerator: tcg, kvm or auto (KVM only with hardware virtualisation)")
	fs.StringVar(&cfg.Volume.BackupDir, "volume-backup-dir", "", "directory for volume backups (default: objects in sov's own S3, bucket "+server.VolumeBackupBucket+")")
	tlsMode := fs.String("tls", "auto", "auto: serve HTTPS with a certificate of a CA of the cloud's own (made in <data-dir>/tls) unless --tls-cert is given; off: plain HTTP")
	fs.StringVar(&cfg.TLSCert, "tls-cert", "", "PEM certificate (chain) to serve HTTPS on both listeners")
	fs.StringVar(&cfg.TLSKey, "tls-key", "", "PEM private key of --tls-cert")
	fs.Func("trusted-dashboard", "a URL WebSSO may hand Keystone tokens to (a dashboard's websso endpoint; repeat for more)", func(v string) error {
		cfg.Identity.TrustedDashboards = append(cfg.Identity.TrustedDashboards, v)
		return nil
	})
	fs.StringVar(&cfg.OpenID.Issuer, "oidc-issuer", "", "issuer URL of the OpenID Connect provider (default <public-url>/identity)")
	fs.BoolVar(&cfg.OpenID.Insecure, "oidc-insecure", false, "run the OpenID Connect provider with an http issuer (loopback and tests only; otherwise it is off without TLS)")
	fs.StringVar(&cfg.OpenID.SigningAlgorithm, "oidc-signing-alg", "RS256", "algorithm of the OIDC provider's ID and access tokens: RS256 or ES256")
	fs.DurationVar(&cfg.Identity.TokenLifetime, "token-lifetime", time.Hour, "lifetime of issued tokens")
	fs.IntVar(&cfg.Identity.LockoutAttempts, "lockout-attempts", 0, "lock a user after this many failed logins in a row (0: never)")
	fs.DurationVar(&cfg.Identity.LockoutDuration, "lockout-duration", 5*time.Minute, "how long a locked user stays locked")
	fs.IntVar(&cfg.Identity.LoginFailures, "login-failures", 20, "failed logins a user name or a client address may have in a minute before 429 (0: no limit)")
	fs.StringVar(&cfg.MasterKeyFile, "master-key-file", "", "file of the master keys sealing secrets at rest (default <data-dir>/master.key); keep it apart from the database and its backups")
	fs.BoolVar(&cfg.RotateMasterKey, "rotate-master-key", false, "make a new master key at start, reseal every secret under it and drop the old one")
	fs.DurationVar(&cfg.KeyRotation, "key-rotation", 24*time.Hour, "how often to rotate the token signing key (0: never)")
	fs.StringVar(&cfg.MetricsListen, "metrics-listen", "", "serve /metrics on this address only, not on the API listener (e.g. 127.0.0.1:9100)")
	fs.DurationVar(&cfg.LifecycleInterval, "s3-lifecycle-interval", time.Hour, "how often S3 lifecycle rules run")
	fs.DurationVar(&cfg.IdleTimeout, "idle-timeout", 2*time.Minute, "close kept-alive connections idle for this long")
	fs.DurationVar(&cfg.InactivityTimeout, "inactivity-timeout", time.Minute, "close connections whose request body or response moves no byte for this long")
	fs.IntVar(&cfg.MaxConnsPerClient, "max-conns-per-client", 512, "connections one client address may hold open on each listener (-1: no limit)")
	external := fs.String("external-cidr", network.DefaultExternalCIDR.String(), "subnet of the external network made at first start (host-local: the host takes its first address)")
	externalGateway := fs.String("external-gateway", "", "gateway of that subnet (default its first address; with --external-interface the real router's)")
	externalPool := fs.String("external-pool", "", "addresses of that subnet for router gateways and floating IPs, as FIRST-LAST (default all but the gateway)")
	fs.StringVar(&cfg.Network.ExternalInterface, "external-interface", "", "bridge the external network to this host interface (the real network), instead of host-local")
	fs.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var err error
	if cfg.Network.ExternalCIDR, err = netip.ParsePrefix(*external); err != nil || !cfg.Network.ExternalCIDR.Addr().Is4() || cfg.Network.ExternalCIDR.Bits() > 29 {
		return fmt.Errorf("--external-cidr: want an IPv4 prefix of at most /29, got %q", *external)
	}
	if err := externalFlags(&cfg.Network, *externalGateway, *externalPool); err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	if *tlsMode != "auto" && *tlsMode != "off" {
		return fmt.Errorf("--tls: want auto or off, got %q", *tlsMode)
	}
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level}))
	// Libraries that log through slog's default (zitadel/oidc) log as sov does.
	slog.SetDefault(log)
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return err
	}
	pwFile := filepath.Join(cfg.DataDir, "admin-password")
	password, err := adminPassword(pwFile)
	if err != nil {
		return err
	}
	cfg.AdminPassword = password
	caFile := ""
	if *tlsMode == "auto" && cfg.TLSCert == "" {
		files, err := localca.Ensure(filepath.Join(cfg.DataDir, "tls"), tlsHosts(cfg), time.Now())
		if err != nil {
			return fmt.Errorf("--tls auto: %w", err)
		}
		cfg.TLSCert, cfg.TLSKey = files.Cert, files.Key
		if caFile, err = filepath.Abs(files.CA); err != nil {
			return err
		}
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	start := time.Now()
	srv, err := server.Start(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer srv.Close()
	cloudsFile, err := filepath.Abs(filepath.Join(cfg.DataDir, "clouds.yaml"))
	if err != nil {
		return err
	}
	if err := os.WriteFile(cloudsFile, []byte(CloudsYAML(srv.URL, password, caFile)), 0o600); err != nil {
		return err
	}
	fmt.Fprintf(stdout, `sov is up (ready in %s).

  Identity (Keystone v3)  %s/identity/v3
  Compute (Nova v2.1)     %s/compute/v2.1
  Image (Glance v2)       %s/image
  Network (Neutron v2.0)  %s/network
  Placement               %s/placement
  Block storage (Cinder)  %s/volume/v3
  Key manager (Barbican)  %s/key-manager
  Object storage (S3)     %s   (keys: openstack ec2 credentials create)
%s  Health                  %s/healthz  %s/readyz
  Metrics                 %s

  Admin user      admin (domain Default)
  Admin password  %s   (also in %s)
  Admin project   admin
  clouds.yaml     %s   (cloud "sov")
%s
Try:
  export OS_CLIENT_CONFIG_FILE=%s
  openstack --os-cloud sov token issue
  openstack --os-cloud sov project list

Press Ctrl-C to stop.
`, time.Since(start).Round(time.Millisecond), srv.URL, srv.URL, srv.URL, srv.URL, srv.URL, srv.URL, srv.URL, srv.S3URL, websiteLine(srv.S3WebsiteURL), srv.URL, srv.URL, srv.MetricsURL, password, pwFile, cloudsFile, caLine(caFile), cloudsFile)
	<-ctx.Done()
	return nil
}

// caLine is the line of the cloud's own CA in sov up's greeting.
func caLine(file string) string {
	if file == "" {
		return ""
	}
	return fmt.Sprintf("  CA certificate  %s   (made for this cloud: clouds.yaml names it; aws: AWS_CA_BUNDLE; curl: --cacert)\n", file)
}

// tlsHosts are the names and addresses the server certificate of --tls
// auto must be good for: the listeners' (every address of the host for
// an unspecified one), loopback, the host's name, and the hosts of the
// public URLs and S3 domains.
func tlsHosts(cfg server.Config) []string {
	hosts := []string{"localhost", "127.0.0.1", "::1"}
	if name, err := os.Hostname(); err == nil {
		hosts = append(hosts, name)
	}
	for _, addr := range []string{cfg.Listen, cfg.S3Listen} {
		h, _, err := net.SplitHostPort(addr)
		if err != nil {
			continue
		}
		if ip := net.ParseIP(h); h == "" || (ip != nil && ip.IsUnspecified()) {
			addrs, _ := net.InterfaceAddrs()
			for _, a := range addrs {
				if n, ok := a.(*net.IPNet); ok {
					hosts = append(hosts, n.IP.String())
				}
			}
			continue
		}
		hosts = append(hosts, h)
	}
	for _, u := range []string{cfg.PublicURL, cfg.S3PublicURL, cfg.OpenID.Issuer} {
		if pu, err := url.Parse(u); err == nil && pu.Hostname() != "" {
			hosts = append(hosts, pu.Hostname())
		}
	}
	if cfg.S3.Domain != "" {
		hosts = append(hosts, cfg.S3.Domain, "*."+cfg.S3.Domain)
	}
	slices.Sort(hosts)
	return slices.Compact(hosts)
}

// websiteLine is the line of the S3 website endpoint in sov up's greeting.
func websiteLine(u string) string {
	if u == "" {
		return ""
	}
	return fmt.Sprintf("  S3 websites            %s/<bucket>/   (buckets with a website configuration, public objects)\n", u)
}

// adminPassword returns the admin password kept in path, making one on first use.
func adminPassword(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		return strings.TrimSpace(string(b)), nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	pw := "-"
	for pw[0] == '-' { // a leading '-' would read as an option on command lines
		raw := make([]byte, 18)
		rand.Read(raw)
		pw = base64.RawURLEncoding.EncodeToString(raw)
	}
	return pw, os.WriteFile(path, []byte(pw+"\n"), 0o600)
}

// CloudsYAML renders a clouds.yaml with one cloud "sov" for the admin;
// cacert, when set, is the CA file clients trust the cloud by.
func CloudsYAML(url, password, cacert string) string {
	ca := ""
	if cacert != "" {
		ca = fmt.Sprintf("    cacert: %s\n", cacert)
	}
	return fmt.Sprintf(`clouds:
  sov:
    auth:
      auth_url: %s/identity/v3
      username: admin
      password: %q
      project_name: admin
      user_domain_name: Default
      project_domain_name: Default
    region_name: RegionOne
    interface: public
    identity_api_version: 3
%s`, url, password, ca)
}

// externalFlags reads --external-gateway and --external-pool (addresses
// of --external-cidr) and checks that --external-interface exists.
func externalFlags(cfg *network.Config, gateway, pool string) error {
	cidr := cfg.ExternalCIDR.Masked()
	if gateway != "" {
		a, err := netip.ParseAddr(gateway)
		if err != nil || !cidr.Contains(a) {
			return fmt.Errorf("--external-gateway: want an address of %s, got %q", cidr, gateway)
		}
		cfg.ExternalGateway = a
	}
	if pool != "" {
		first, last, _ := strings.Cut(pool, "-")
		a, err1 := netip.ParseAddr(first)
		b, err2 := netip.ParseAddr(last)
		if err1 != nil || err2 != nil || !cidr.Contains(a) || !cidr.Contains(b) || b.Less(a) {
			return fmt.Errorf("--external-pool: want FIRST-LAST addresses of %s, got %q", cidr, pool)
		}
		cfg.ExternalPool = [2]netip.Addr{a, b}
	}
	if cfg.ExternalInterface != "" {
		if _, err := net.InterfaceByName(cfg.ExternalInterface); err != nil {
			return fmt.Errorf("--external-interface: %w", err)
		}
	}
	return nil
}
