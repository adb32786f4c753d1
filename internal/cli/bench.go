package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/sovcloud/sov/internal/bench"
)

// runBench measures token issue and validation of any Keystone v3 endpoint.
func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var t bench.Target
	fs.StringVar(&t.AuthURL, "auth-url", os.Getenv("OS_AUTH_URL"), "Keystone v3 URL, e.g. http://127.0.0.1:5000/identity/v3")
	fs.StringVar(&t.Username, "username", envOr("OS_USERNAME", "admin"), "user name")
	fs.StringVar(&t.Password, "password", os.Getenv("OS_PASSWORD"), "password")
	fs.StringVar(&t.UserDomain, "user-domain", envOr("OS_USER_DOMAIN_NAME", "Default"), "user's domain name")
	fs.StringVar(&t.Project, "project", envOr("OS_PROJECT_NAME", "admin"), "project to scope to")
	fs.StringVar(&t.ProjectDomain, "project-domain", envOr("OS_PROJECT_DOMAIN_NAME", "Default"), "project's domain name")
	duration := fs.Duration("duration", 5*time.Second, "length of each load run")
	levels := fs.String("concurrency", "1,16", "comma-separated concurrency levels")
	pid := fs.Int("pid", 0, "if set, print the resident memory of this (local) server process before and after")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if t.AuthURL == "" || t.Password == "" {
		return fmt.Errorf("bench: --auth-url and --password (or OS_AUTH_URL and OS_PASSWORD) are required")
	}
	if *pid != 0 {
		fmt.Fprintf(stdout, "server RSS before: %s\n", rss(*pid))
	}
	for _, l := range strings.Split(*levels, ",") {
		c, err := strconv.Atoi(strings.TrimSpace(l))
		if err != nil || c < 1 {
			return fmt.Errorf("bench: bad concurrency %q", l)
		}
		client := bench.NewClient(t, c)
		caller, err := client.Issue(ctx)
		if err != nil {
			return fmt.Errorf("bench: first token: %w", err)
		}
		fmt.Fprintln(stdout, bench.Load(ctx, "issue", c, *duration, func(ctx context.Context) error {
			_, err := client.Issue(ctx)
			return err
		}))
		fmt.Fprintln(stdout, bench.Load(ctx, "validate", c, *duration, func(ctx context.Context) error {
			return client.Validate(ctx, caller, caller)
		}))
	}
	if *pid != 0 {
		fmt.Fprintf(stdout, "server RSS after:  %s\n", rss(*pid))
	}
	return nil
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// rss reads VmRSS of a local process from /proc.
func rss(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return err.Error()
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}
