package cli_test

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/sovcloud/sov/internal/cli"
	"github.com/sovcloud/sov/internal/servertest"
)

// TestBenchCommands runs the bench commands briefly against a real server
// and checks that every measurement line is there, with no errors.
func TestBenchCommands(t *testing.T) {
	srv := servertest.Start(t, nil)
	tn := srv.NewTenant(t, "bench", "")
	ctx := context.Background()
	run := func(args ...string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		if err := cli.Run(ctx, append([]string{"bench"}, args...), &out, &errOut); err != nil {
			t.Fatalf("sov bench %s: %v\n%s", strings.Join(args, " "), err, errOut.String())
		}
		return out.String()
	}
	idOut := run("identity", "--auth-url", srv.AuthURL, "--password", servertest.AdminPassword, "--duration", "200ms", "--concurrency", "1,4")
	s3Out := run("s3", "--endpoint", srv.S3URL, "--access-key", tn.Access, "--secret-key", tn.Secret, "--duration", "200ms",
		"--concurrency", "2", "--large-size", "1048576", "--list-objects", "1200")
	loginOut := run("logins", "--auth-url", srv.AuthURL, "--duration", "300ms", "--storm", "4", "--tries", "3")
	if !regexp.MustCompile(`wrong password, known user\s+median\s+[0-9.]+ms[\s\S]*unknown user\s+median\s+[0-9.]+ms[\s\S]*probe alone[\s\S]*probe\+storm[\s\S]*storm of 4 \(user admin\): [1-9]\d* answered 401, \d+ answered 429, 0 errors`).MatchString(loginOut) {
		t.Errorf("bench logins output:\n%s", loginOut)
	}
	diskOut := run("disk", "--dir", t.TempDir(), "--size", "8388608")
	p := srv.Provider(t, tn)
	servertest.UploadTestGuest(t, p)
	computeOut := run("compute", "--auth-url", srv.AuthURL, "--username", "bench-user", "--password", tn.Password, "--project", "bench",
		"--image", "sov-test-guest", "--concurrency", "2", "--idle", "0s")
	if !regexp.MustCompile(`boot x2\s+to ACTIVE min \S+ median \S+ max \S+\s+to first console line min`).MatchString(computeOut) ||
		!regexp.MustCompile(`memory per idle VM \(QEMU RSS, SCS-1L-1 flavor\): [1-9]\d* MiB`).MatchString(computeOut) {
		t.Errorf("bench compute output:\n%s", computeOut)
	}
	netOut := run("network", "--auth-url", srv.AuthURL, "--password", servertest.AdminPassword, "--duration", "200ms", "--concurrency", "1,4", "--ports", "10,40")
	lines := regexp.MustCompile(`(?m)^\s*(\d+) ports\s+port (create|list 100|list all)\s+c=(\d)\s.*\((\d+) requests, (\d+) errors\)$`).FindAllStringSubmatch(netOut, -1)
	if len(lines) != 12 {
		t.Errorf("bench network output (%d lines):\n%s", len(lines), netOut)
	}
	for _, l := range lines {
		if l[4] == "0" || l[5] != "0" {
			t.Errorf("bench network line with %s requests and %s errors: %s", l[4], l[5], l[0])
		}
	}
	for _, want := range []string{`issue\s+c=1 `, `validate\s+c=4 `, `PUT 4KiB\s+c=2 `, `GET 1MiB\s+c=2 `, `PUT 4KiB SSE-S3\s+c=2 `, `GET 1MiB SSE-S3\s+c=2 `, `LIST\s+1200 objects`, `disk write\+fsync\s+[0-9.]+ MB/s`} {
		if !regexp.MustCompile(want).MatchString(idOut + s3Out + diskOut) {
			t.Errorf("bench output lacks %q:\n%s%s%s", want, idOut, s3Out, diskOut)
		}
	}
	if m := regexp.MustCompile(`\((\d+) requests, (\d+) errors\)`).FindAllStringSubmatch(idOut+s3Out+loginOut, -1); len(m) != 14 {
		t.Errorf("want 14 load lines, got %d:\n%s%s%s", len(m), idOut, s3Out, loginOut)
	} else {
		for _, x := range m {
			if x[1] == "0" || x[2] != "0" {
				t.Errorf("load line with %s requests and %s errors", x[1], x[2])
			}
		}
	}
}
