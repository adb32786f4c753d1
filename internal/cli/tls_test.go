package cli_test

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// TestUpTLSAuto: `sov up` serves HTTPS by default with a certificate of a
// CA of its own, which the clouds.yaml it writes names: the openstack CLI
// and the aws CLI work through it, the OpenID Connect provider is on with
// an https issuer, and a client that does not trust the CA is refused.
func TestUpTLSAuto(t *testing.T) {
	t.Parallel()
	requireOpenStackCLI(t)
	clouds := startUpTLS(t, "auto")
	yaml := readFile(t, clouds)
	authURL := regexp.MustCompile(`auth_url: (\S+)`).FindStringSubmatch(yaml)[1]
	m := regexp.MustCompile(`cacert: (\S+)`).FindStringSubmatch(yaml)
	if !strings.HasPrefix(authURL, "https://") || m == nil {
		t.Fatalf("clouds.yaml:\n%s", yaml)
	}
	caFile := m[1]
	run := func(args ...string) string {
		return osc(t, clouds, true, append([]string{"--os-cloud", "sov"}, args...)...)
	}
	var tok map[string]string
	jsonOut(t, run("token", "issue", "-f", "json"), &tok)
	if tok["id"] == "" {
		t.Fatalf("token issue over TLS = %v", tok)
	}

	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	trusting := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	base := strings.TrimSuffix(authURL, "/v3")
	resp, err := trusting.Get(base + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	var disc map[string]any
	json.NewDecoder(resp.Body).Decode(&disc)
	resp.Body.Close()
	if disc["issuer"] != base || !strings.HasPrefix(disc["token_endpoint"].(string), "https://") {
		t.Fatalf("discovery over TLS: %v", disc)
	}
	if _, err := http.Get(base + "/v3"); err == nil {
		t.Fatal("a client that does not trust the cloud's CA got an answer")
	}

	// S3 over TLS with the aws CLI, trusting the CA.
	var ec2 map[string]any
	jsonOut(t, run("ec2", "credentials", "create", "-f", "json"), &ec2)
	s3URL := strings.TrimSpace(run("endpoint", "list", "--service", "object-store-s3", "--interface", "public", "-f", "value", "-c", "URL"))
	if !strings.HasPrefix(s3URL, "https://") {
		t.Fatalf("S3 endpoint %q", s3URL)
	}
	aws := func(args ...string) string {
		cmd := exec.Command("/usr/bin/aws", append([]string{"--endpoint-url", s3URL, "--region", "us-east-1"}, args...)...)
		cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID="+ec2["access"].(string), "AWS_SECRET_ACCESS_KEY="+ec2["secret"].(string), "AWS_CA_BUNDLE="+caFile)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("aws %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	aws("s3", "mb", "s3://tls-bucket")
	if out := aws("s3", "ls"); !strings.Contains(out, "tls-bucket") {
		t.Fatalf("aws s3 ls = %s", out)
	}
}
