package cli_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/ec2credentials"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/tokens"
	"github.com/minio/minio-go/v7"
	miniocreds "github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/sovcloud/sov/internal/cli"
	"github.com/sovcloud/sov/internal/servertest"
)

// sov runs the sov command line in-process and returns its stdout; it
// fails the test unless the command's success is wantOK.
func sov(t *testing.T, wantOK bool, args ...string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := cli.Run(context.Background(), args, &stdout, &stderr)
	if (err == nil) != wantOK {
		t.Fatalf("sov %s: %v\n%s%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String() + stderr.String()
}

// deviceLogin runs `sov login` and, as the user in a browser, signs in on
// the device page with the code it prints; it returns the access token.
func deviceLogin(t *testing.T, a *servertest.Server, clientID, cacert, user, password string) (string, error) {
	t.Helper()
	stdout, stderr := &syncBuffer{}, &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- cli.Run(context.Background(), []string{"login", "--issuer", a.URL + "/identity", "--client-id", clientID, "--ca-file", cacert, "--timeout", "30s"}, stdout, stderr)
	}()
	code := regexp.MustCompile(`enter the code (\S+)`)
	deadline := time.Now().Add(30 * time.Second)
	for code.FindStringSubmatch(stderr.String()) == nil {
		select {
		case err := <-done:
			t.Fatalf("sov login: %v\n%s", err, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("sov login printed no code:\n%s", stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	b := a.Browser("none")
	resp, err := b.Get(a.URL + "/identity/oidc/device")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	form := url.Values{"csrf": {servertest.CSRFCookie(b, resp.Request.URL)}, "user_code": {code.FindStringSubmatch(stderr.String())[1]}, "username": {user}, "password": {password}, "domain": {"Default"}}
	if resp, page := servertest.Submit(t, b, a.URL+"/identity/oidc/device", form); resp.StatusCode != http.StatusOK {
		t.Fatalf("device sign-in: %d %s", resp.StatusCode, page)
	}
	if err := <-done; err != nil {
		return "", err
	}
	return strings.TrimSpace(stdout.String()), nil
}

// TestFederationTrust: `sov federation trust` on cloud B trusts cloud A's
// OpenID Connect provider with the default mapping; a user of A signs in
// with `sov login` (device flow) and, with no account made by hand on B,
// creates, lists and deletes servers on B and stores objects in B's S3
// with an EC2 credential made after the federated login. A user with no
// project on A gets nothing on B, and B's own users see none of it.
func TestFederationTrust(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a := servertest.StartTLS(t, servertest.Fake)
	b := servertest.Start(t, servertest.Fake)
	alice := a.NewTenant(t, "research", "member")
	dir := t.TempDir()
	cacert := filepath.Join(dir, "a.pem")
	os.WriteFile(cacert, []byte(a.CertPEM(t)), 0o600)
	clouds := filepath.Join(dir, "clouds.yaml")
	os.WriteFile(clouds, []byte(fmt.Sprintf(`clouds:
  a:
    auth: {auth_url: %s, username: admin, password: %s, project_name: admin, user_domain_name: Default, project_domain_name: Default}
    cacert: %s
  b:
    auth: {auth_url: %s, username: admin, password: %s, project_name: admin, user_domain_name: Default, project_domain_name: Default}
`, a.AuthURL, servertest.AdminPassword, cacert, b.AuthURL, servertest.AdminPassword)), 0o600)

	out := sov(t, true, "oidc", "client", "create", "--cloud", "a", "--clouds", clouds, "--name", "sov CLI", "--public", "--grant", "device_code")
	m := regexp.MustCompile(`client_id: (\S+)`).FindStringSubmatch(out)
	if m == nil || strings.Contains(out, "client_secret") {
		t.Fatalf("oidc client create: %s", out)
	}
	clientID := m[1]
	if out := sov(t, true, "oidc", "client", "list", "--cloud", "a", "--clouds", clouds); !strings.Contains(out, clientID) {
		t.Fatalf("oidc client list: %s", out)
	}
	out = sov(t, true, "federation", "trust", "--cloud", "b", "--clouds", clouds, "--issuer", a.URL+"/identity", "--audience", clientID,
		"--ca-file", cacert, "--name", "cloud-a")
	dm := regexp.MustCompile(`--os-project-domain-id (\S+)`).FindStringSubmatch(out)
	if dm == nil {
		t.Fatalf("federation trust: %s", out)
	}
	domain := dm[1]
	// Trusting needs a provider that answers.
	sov(t, false, "federation", "trust", "--cloud", "b", "--clouds", clouds, "--issuer", "https://127.0.0.1:1/identity", "--audience", "x")

	access, err := deviceLogin(t, a, clientID, cacert, "research-user", alice.Password)
	if err != nil {
		t.Fatalf("sov login: %v", err)
	}
	// keystoneauth's v3oidcaccesstoken, done with gophercloud: the token
	// at the federation auth endpoint, then a project scope.
	req, _ := http.NewRequest("POST", b.AuthURL+"/OS-FEDERATION/identity_providers/cloud-a/protocols/openid/auth", nil)
	req.Header.Set("Authorization", "Bearer "+access)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	unscoped := resp.Header.Get("X-Subject-Token")
	if resp.StatusCode != http.StatusCreated || unscoped == "" {
		t.Fatalf("federated auth: %d", resp.StatusCode)
	}
	provider, err := openstack.NewClient(b.AuthURL)
	if err != nil {
		t.Fatal(err)
	}
	if err := openstack.Authenticate(ctx, provider, gophercloud.AuthOptions{IdentityEndpoint: b.AuthURL, TokenID: unscoped,
		Scope: &gophercloud.AuthScope{ProjectName: "research", DomainID: domain}}); err != nil {
		t.Fatalf("scope to the mapped project: %v", err)
	}
	compute, _ := openstack.NewComputeV2(provider, gophercloud.EndpointOpts{})
	image := servertest.UploadTestGuest(t, provider)
	srv, err := servers.Create(ctx, compute, servers.CreateOpts{Name: "from-a", FlavorRef: servertest.FlavorID(t, compute, "SCS-1L-1"), ImageRef: image}, nil).Extract()
	if err != nil {
		t.Fatalf("create a server on B: %v", err)
	}
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(100 * time.Millisecond) {
		got, err := servers.Get(ctx, compute, srv.ID).Extract()
		if err != nil {
			t.Fatal(err)
		}
		if got.Status == "ACTIVE" {
			break
		}
		if time.Now().After(deadline) || got.Status == "ERROR" {
			t.Fatalf("server on B: %s", got.Status)
		}
	}
	pages, err := servers.List(compute, nil).AllPages(ctx)
	if err != nil {
		t.Fatalf("list servers on B: %v", err)
	}
	if all, _ := servers.ExtractServers(pages); len(all) != 1 || all[0].ID != srv.ID {
		t.Fatalf("servers on B: %v", all)
	}
	if err := servers.Delete(ctx, compute, srv.ID).ExtractErr(); err != nil {
		t.Fatalf("delete the server on B: %v", err)
	}

	// S3 on B with an EC2 credential the federated user makes.
	ident, _ := openstack.NewIdentityV3(provider, gophercloud.EndpointOpts{})
	user, err := tokens.Get(ctx, ident, provider.Token()).ExtractUser()
	if err != nil {
		t.Fatal(err)
	}
	proj, err := tokens.Get(ctx, ident, provider.Token()).ExtractProject()
	if err != nil {
		t.Fatal(err)
	}
	cred, err := ec2credentials.Create(ctx, ident, user.ID, ec2credentials.CreateOpts{TenantID: proj.ID}).Extract()
	if err != nil {
		t.Fatalf("EC2 credential as the federated user: %v", err)
	}
	s3u, _ := url.Parse(b.S3URL)
	mc, err := minio.New(s3u.Host, &minio.Options{Creds: miniocreds.NewStaticV4(cred.Access, cred.Secret, ""), Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	if err := mc.MakeBucket(ctx, "from-cloud-a", minio.MakeBucketOptions{}); err != nil {
		t.Fatalf("make bucket on B: %v", err)
	}
	if _, err := mc.PutObject(ctx, "from-cloud-a", "hello.txt", strings.NewReader("hello from A"), 12, minio.PutObjectOptions{}); err != nil {
		t.Fatalf("put object on B: %v", err)
	}
	// B's own users see none of it.
	local := b.NewTenant(t, "b-local", "member")
	lc, _ := minio.New(s3u.Host, &minio.Options{Creds: miniocreds.NewStaticV4(local.Access, local.Secret, ""), Region: "us-east-1"})
	if _, err := lc.StatObject(ctx, "from-cloud-a", "hello.txt", minio.StatObjectOptions{}); err == nil {
		t.Fatal("a user of B reads the federated user's object")
	}
	if err := mc.RemoveObject(ctx, "from-cloud-a", "hello.txt", minio.RemoveObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := mc.RemoveBucket(ctx, "from-cloud-a"); err != nil {
		t.Fatal(err)
	}

	// A user of A with no project there maps to no one on B.
	admin := a.AdminToken(t)
	code, outUser := a.API(t, admin, "POST", "/identity/v3/users", map[string]any{"user": map[string]any{"name": "drifter", "password": "drifter-pw", "domain_id": "default"}})
	if code != http.StatusCreated {
		t.Fatalf("create user on A: %d %v", code, outUser)
	}
	lonely, err := deviceLogin(t, a, clientID, cacert, "drifter", "drifter-pw")
	if err != nil {
		t.Fatal(err)
	}
	req, _ = http.NewRequest("POST", b.AuthURL+"/OS-FEDERATION/identity_providers/cloud-a/protocols/openid/auth", nil)
	req.Header.Set("Authorization", "Bearer "+lonely)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("an unmapped user of A on B: %d", resp.StatusCode)
	}
}
