package cli

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/config/clouds"
)

// cloudFlags are the flags that name the cloud a command acts on, as the
// openstack CLI finds it: a cloud of clouds.yaml.
type cloudFlags struct {
	name, file string
}

func (c *cloudFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.name, "cloud", envOr("OS_CLOUD", "sov"), "cloud of clouds.yaml to act on (as openstack --os-cloud)")
	fs.StringVar(&c.file, "clouds", os.Getenv("OS_CLIENT_CONFIG_FILE"), "clouds.yaml to read (default: ./clouds.yaml, ~/.config/openstack/clouds.yaml, /etc/openstack/clouds.yaml; `sov up` writes one into its data dir)")
}

// cloud is an authenticated session with a cloud's identity API.
type cloud struct {
	provider *gophercloud.ProviderClient
	// identity is the identity service's base URL, e.g. https://host/identity.
	identity string
}

// connect logs in to the cloud the flags name.
func (c *cloudFlags) connect(ctx context.Context) (*cloud, error) {
	opts := []clouds.ParseOption{clouds.WithCloudName(c.name)}
	if c.file != "" {
		opts = append(opts, clouds.WithLocations(c.file))
	}
	auth, eo, tlsConfig, err := clouds.Parse(opts...)
	if err != nil {
		return nil, fmt.Errorf("cloud %s: %w", c.name, err)
	}
	p, err := openstack.NewClient(auth.IdentityEndpoint)
	if err != nil {
		return nil, err
	}
	p.HTTPClient = http.Client{Timeout: time.Minute, Transport: &http.Transport{TLSClientConfig: tlsConfig, Proxy: http.ProxyFromEnvironment}}
	if err := openstack.Authenticate(ctx, p, auth); err != nil {
		return nil, fmt.Errorf("cloud %s: log in: %w", c.name, err)
	}
	id, err := openstack.NewIdentityV3(p, eo)
	if err != nil {
		return nil, err
	}
	base := strings.TrimSuffix(strings.TrimSuffix(id.Endpoint, "/"), "/v3")
	return &cloud{provider: p, identity: base}, nil
}

// call sends a JSON request to the identity API (path below its base)
// and decodes the answer into out; an answer outside 2xx is an error
// with the API's message.
func (c *cloud) call(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.identity+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("X-Auth-Token", c.provider.Token())
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.provider.HTTPClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error struct {
				Message string `json:"message"`
			} `json:"error"`
		}
		if json.Unmarshal(raw, &e) == nil && e.Error.Message != "" {
			return fmt.Errorf("%s %s: %s (%d)", method, path, e.Error.Message, resp.StatusCode)
		}
		return fmt.Errorf("%s %s: %s", method, path, resp.Status)
	}
	if out == nil || len(raw) == 0 {
		return nil
	}
	return json.Unmarshal(raw, out)
}

// httpClientTrusting is an HTTP client that trusts the PEM CAs of file
// (the system's when file is "").
func httpClientTrusting(file string) (*http.Client, string, error) {
	if file == "" {
		return &http.Client{Timeout: time.Minute}, "", nil
	}
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, "", err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, "", fmt.Errorf("%s holds no PEM certificate", file)
	}
	return &http.Client{Timeout: time.Minute, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		Proxy: http.ProxyFromEnvironment}}, string(pem), nil
}

// multiFlag is a flag that may be given several times.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }
