package server_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/projects"

	"github.com/sovcloud/sov/internal/server"
	"github.com/sovcloud/sov/internal/servertest"
)

// cutProxy forwards TCP connections to a target until cut, which closes
// the listener and every connection, as a store that goes away would.
type cutProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	conns  []net.Conn
}

func newCutProxy(t *testing.T, addr, target string) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, target: target}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			go func() { io.Copy(up, c); up.Close() }()
			go func() { io.Copy(c, up); c.Close() }()
		}
	}()
	t.Cleanup(p.cut)
	return p
}

func (p *cutProxy) cut() {
	p.ln.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// TestStoreUnavailable: with its PostgreSQL out of reach, every API says
// so (503) instead of 401, 400 or InvalidAccessKeyId, which would send
// users and tools after the wrong problem; once it is back, all works.
func TestStoreUnavailable(t *testing.T) {
	if os.Getenv("SOV_TEST_POSTGRES") == "" {
		t.Skip("only a remote store (PostgreSQL) goes out of reach; the PostgreSQL pass of make test runs this")
	}
	var proxy *cutProxy
	srv := servertest.Start(t, func(cfg *server.Config) {
		u, err := url.Parse(cfg.Database)
		if err != nil {
			t.Fatal(err)
		}
		proxy = newCutProxy(t, "127.0.0.1:0", u.Host)
		u.Host = proxy.ln.Addr().String()
		cfg.Database = u.String()
	})
	admin := srv.Admin(t)
	tn := srv.NewTenant(t, "alpha", "")
	other := srv.NewTenant(t, "beta", "") // its EC2 key is not looked up before the cut
	proxy.cut()

	// Identity: a password login (401 before), a project create (400 before).
	_, err := openstack.AuthenticatedClient(context.Background(), gophercloud.AuthOptions{IdentityEndpoint: srv.AuthURL,
		Username: "alpha-user", Password: tn.Password, DomainID: "default", Scope: &gophercloud.AuthScope{ProjectID: tn.ProjectID}})
	servertest.WantStatus(t, "token issue", err, http.StatusServiceUnavailable)
	_, err = projects.Create(context.Background(), admin, projects.CreateOpts{Name: "during-outage", DomainID: "default"}).Extract()
	servertest.WantStatus(t, "project create", err, http.StatusServiceUnavailable)
	// Image and compute lists.
	for _, path := range []string{"/image/v2/images", "/compute/v2.1/servers"} {
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		req.Header.Set("X-Auth-Token", admin.Token())
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("GET %s = %d, want 503", path, resp.StatusCode)
		}
	}
	// S3 (InvalidAccessKeyId before).
	c := s3.New(s3.Options{BaseEndpoint: aws.String(srv.S3URL), Region: "us-east-1", UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(other.Access, other.Secret, ""), RetryMaxAttempts: 1})
	_, err = c.ListBuckets(context.Background(), &s3.ListBucketsInput{})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "ServiceUnavailable" {
		t.Errorf("S3 with the store out of reach: %v", err)
	}
	if code, body, _ := get(t, srv.URL+"/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("readyz = %d %q", code, body)
	}

	// Back again: the same requests succeed.
	newCutProxy(t, proxy.ln.Addr().String(), proxy.target)
	if _, err := c.ListBuckets(context.Background(), &s3.ListBucketsInput{}); err != nil {
		t.Errorf("S3 after the store is back: %v", err)
	}
	if _, err := projects.Create(context.Background(), admin, projects.CreateOpts{Name: "after-outage", DomainID: "default"}).Extract(); err != nil {
		t.Errorf("project create after the store is back: %v", err)
	}
}
