package cli_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/sovcloud/sov/internal/cli"
	"github.com/sovcloud/sov/internal/servertest"
)

// TestMain lets the test binary act as the sov command when SOV_TEST_MAIN is
// set, so that tests can run (and kill) real sov processes.
func TestMain(m *testing.M) {
	if os.Getenv("SOV_TEST_MAIN") == "1" {
		if err := cli.Run(context.Background(), os.Args[1:], os.Stdout, os.Stderr); err != nil {
			fmt.Fprintln(os.Stderr, "sov:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// sovProcess starts `sov up` as a child process and returns it with its
// identity and S3 URLs.
func sovProcess(t *testing.T, dataDir string) (cmd *exec.Cmd, authURL, s3URL string) {
	t.Helper()
	// After the process is killed (cleanups run last first): its networks,
	// the external one of its first start too, leave the host.
	t.Cleanup(func() { servertest.RemoveHostState(dataDir) })
	cmd = exec.Command(os.Args[0], "up", "--data-dir", dataDir, "--listen", "127.0.0.1:0", "--s3-listen", "127.0.0.1:0", "--s3-website-listen", "127.0.0.1:0", "--log-level", "error", "--tls", "off",
		"--external-cidr", servertest.RandomExternalCIDR().String())
	cmd.Env = append(os.Environ(), "SOV_TEST_MAIN=1")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	lines := bufio.NewScanner(stdout)
	identityRE := regexp.MustCompile(`Identity \(Keystone v3\)\s+(\S+)`)
	s3RE := regexp.MustCompile(`Object storage \(S3\)\s+(\S+)`)
	for lines.Scan() {
		if m := identityRE.FindStringSubmatch(lines.Text()); m != nil {
			authURL = m[1]
		}
		if m := s3RE.FindStringSubmatch(lines.Text()); m != nil {
			s3URL = m[1]
			go io.Copy(io.Discard, stdout)
			return cmd, authURL, s3URL
		}
	}
	t.Fatal("sov up printed no S3 endpoint")
	return nil, "", ""
}

// adminToken issues an admin token and returns it with the admin's user and project ids.
func adminToken(t *testing.T, authURL, password string) (token, userID, projectID string) {
	t.Helper()
	body := fmt.Sprintf(`{"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": "admin", "domain": {"id": "default"}, "password": %q}}},
		"scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}}`, password)
	resp, err := http.Post(authURL+"/auth/tokens", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Token struct {
			User    struct{ ID string }
			Project struct{ ID string }
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 201 {
		t.Fatalf("token issue = %d, %v", resp.StatusCode, err)
	}
	return resp.Header.Get("X-Subject-Token"), out.Token.User.ID, out.Token.Project.ID
}

// TestKillLosesNoAcknowledgedWrite creates projects, kills sov with SIGKILL
// right after the last acknowledgement, restarts it and finds every project.
func TestKillLosesNoAcknowledgedWrite(t *testing.T) {
	dir := t.TempDir()
	cmd, authURL, _ := sovProcess(t, dir)
	pw, err := os.ReadFile(dir + "/admin-password")
	if err != nil {
		t.Fatal(err)
	}
	password := strings.TrimSpace(string(pw))
	tok, _, _ := adminToken(t, authURL, password)
	var created []string
	for i := range 20 {
		req, _ := http.NewRequest("POST", authURL+"/projects", bytes.NewBufferString(fmt.Sprintf(`{"project": {"name": "p%d"}}`, i)))
		req.Header.Set("X-Auth-Token", tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var out struct{ Project struct{ ID string } }
		json.NewDecoder(resp.Body).Decode(&out)
		resp.Body.Close()
		if resp.StatusCode != 201 {
			t.Fatalf("create project = %d", resp.StatusCode)
		}
		created = append(created, out.Project.ID)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()

	_, authURL, _ = sovProcess(t, dir)
	tok, _, _ = adminToken(t, authURL, password)
	for _, id := range created {
		req, _ := http.NewRequest("GET", authURL+"/projects/"+id, nil)
		req.Header.Set("X-Auth-Token", tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("project %s after kill -9 = %d, want 200", id, resp.StatusCode)
		}
	}
}
