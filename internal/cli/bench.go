package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/sovcloud/sov/internal/bench"
)

const benchUsage = `usage: sov bench <identity|logins|s3|disk|compute|network> [flags]

  identity  token issue and validation against any Keystone v3
  logins    a health probe's latency alone and during a storm of wrong passwords; wrong-password latency of a known and an unknown user
  s3        PUT/GET of 4 KiB and 64 MiB objects and LIST of 10k objects against any S3
  disk      the raw sequential disk rate, to put beside the s3 figures
  compute   time from POST /servers to ACTIVE and to the first console line; memory per idle VM
  network   port create and list (a page of 100, and all) against any Neutron, with 10 and 10,000 ports on the network
`

// runBench dispatches the bench subcommands.
func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, benchUsage)
		return fmt.Errorf("bench: which one?")
	}
	switch args[0] {
	case "identity":
		return benchIdentity(ctx, args[1:], stdout, stderr)
	case "logins":
		return benchLogins(ctx, args[1:], stdout, stderr)
	case "s3":
		return benchS3(ctx, args[1:], stdout, stderr)
	case "disk":
		return benchDisk(args[1:], stdout, stderr)
	case "compute":
		return benchCompute(ctx, args[1:], stdout, stderr)
	case "network":
		return benchNetwork(ctx, args[1:], stdout, stderr)
	}
	fmt.Fprint(stderr, benchUsage)
	return fmt.Errorf("bench: unknown benchmark %q", args[0])
}

func levels(s string) ([]int, error) {
	var out []int
	for _, l := range strings.Split(s, ",") {
		c, err := strconv.Atoi(strings.TrimSpace(l))
		if err != nil || c < 1 {
			return nil, fmt.Errorf("bench: bad concurrency %q", l)
		}
		out = append(out, c)
	}
	return out, nil
}

// benchIdentity measures token issue and validation of any Keystone v3 endpoint.
func benchIdentity(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench identity", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var t bench.Target
	identityFlags(fs, &t)
	duration := fs.Duration("duration", 5*time.Second, "length of each load run")
	conc := fs.String("concurrency", "1,16", "comma-separated concurrency levels")
	pid := fs.Int("pid", 0, "if set, print the resident memory of this (local) server process before and after")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if t.AuthURL == "" || t.Password == "" {
		return fmt.Errorf("bench: --auth-url and --password (or OS_AUTH_URL and OS_PASSWORD) are required")
	}
	cs, err := levels(*conc)
	if err != nil {
		return err
	}
	if *pid != 0 {
		fmt.Fprintf(stdout, "server RSS before: %s\n", rss(*pid))
	}
	for _, c := range cs {
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

// benchLogins measures what a storm of wrong passwords does to a Keystone.
func benchLogins(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench logins", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var t bench.Target
	identityFlags(fs, &t)
	probe := fs.String("probe-url", "", "URL timed beside the storm (default: the auth URL's host + /healthz)")
	storm := fs.Int("storm", 16, "concurrent wrong-password logins")
	unknownStorm := fs.Bool("storm-unknown", false, "the storm guesses a new unknown user name each time instead of --username's password")
	duration := fs.Duration("duration", 5*time.Second, "length of each run")
	tries := fs.Int("tries", 9, "wrong logins timed for the known and the unknown user")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if t.AuthURL == "" {
		return fmt.Errorf("bench: --auth-url (or OS_AUTH_URL) is required")
	}
	if *probe == "" {
		*probe = strings.TrimSuffix(strings.TrimSuffix(t.AuthURL, "/"), "/identity/v3") + "/healthz"
	}
	client := bench.NewClient(t, *storm+1)
	// The known user first: once the storm has run, the limits may answer 429.
	known, err := client.WrongLoginLatency(ctx, t.Username, *tries)
	if err != nil {
		return err
	}
	unknown, err := client.WrongLoginLatency(ctx, "no-such-user-"+strconv.FormatInt(time.Now().UnixNano(), 36), *tries)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrong password, known user    median %7.2fms  (%d tries)\n", float64(known.Microseconds())/1000, *tries)
	fmt.Fprintf(stdout, "wrong password, unknown user  median %7.2fms  (%d tries)\n", float64(unknown.Microseconds())/1000, *tries)
	alone := bench.Load(ctx, "probe alone", 1, *duration, func(ctx context.Context) error { return client.Probe(ctx, *probe) })
	fmt.Fprintln(stdout, alone)
	sctx, cancel := context.WithTimeout(ctx, *duration)
	defer cancel()
	type counts struct{ u, l, f int64 }
	done := make(chan counts, 1)
	go func() {
		user := t.Username
		if *unknownStorm {
			user = ""
		}
		u, l, f := client.Storm(sctx, *storm, user)
		done <- counts{u, l, f}
	}()
	during := bench.Load(ctx, "probe+storm", 1, *duration, func(ctx context.Context) error { return client.Probe(ctx, *probe) })
	c := <-done
	target := "user " + t.Username
	if *unknownStorm {
		target = "unknown users"
	}
	fmt.Fprintf(stdout, "%s\n  storm of %d (%s): %d answered 401, %d answered 429, %d errors\n", during, *storm, target, c.u, c.l, c.f)
	return nil
}

// benchS3 measures any S3 endpoint.
func benchS3(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench s3", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var t bench.S3Target
	fs.StringVar(&t.Endpoint, "endpoint", "http://127.0.0.1:8080", "S3 endpoint URL")
	fs.StringVar(&t.AccessKey, "access-key", os.Getenv("AWS_ACCESS_KEY_ID"), "access key")
	fs.StringVar(&t.SecretKey, "secret-key", os.Getenv("AWS_SECRET_ACCESS_KEY"), "secret key")
	fs.StringVar(&t.Region, "region", "us-east-1", "signing region")
	fs.StringVar(&t.Bucket, "bucket", "sov-bench", "bucket to use (created if missing)")
	fs.BoolVar(&t.SignPayload, "sign-payload", false, "hash bodies into the signature (SDK behaviour over plain HTTP) instead of UNSIGNED-PAYLOAD (over HTTPS)")
	duration := fs.Duration("duration", 5*time.Second, "length of each load run")
	conc := fs.String("concurrency", "1,16", "comma-separated concurrency levels")
	listN := fs.Int("list-objects", 10000, "objects in the bucket for the LIST run (0 skips it)")
	large := fs.Int("large-size", 64<<20, "size of the large objects")
	sse := fs.String("sse", "both", "server-side encryption of the PUT/GET runs: none, AES256 (SSE-S3), or both (each run twice, plain first)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var modes []string
	switch *sse {
	case "none":
		modes = []string{""}
	case "AES256":
		modes = []string{"AES256"}
	case "both":
		modes = []string{"", "AES256"}
	default:
		return fmt.Errorf("bench: --sse is none, AES256 or both, not %q", *sse)
	}
	if t.AccessKey == "" || t.SecretKey == "" {
		return fmt.Errorf("bench: --access-key and --secret-key (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY) are required")
	}
	cs, err := levels(*conc)
	if err != nil {
		return err
	}
	clients := map[string]*bench.S3{}
	for _, m := range modes {
		mt := t
		mt.SSE = m
		if clients[m], err = bench.NewS3(ctx, mt); err != nil {
			return err
		}
	}
	b := clients[modes[0]]
	run := time.Now().Format("150405")
	for _, size := range []int{4 << 10, *large} {
		data := bench.Payload(size)
		for _, c := range cs {
			for _, m := range modes {
				label := human(size)
				if m != "" {
					label += " SSE-S3"
				}
				s3PutGet(ctx, stdout, clients[m], fmt.Sprintf("bench-%s/%d-%d%s", run, size, c, m), label, data, c, *duration)
			}
		}
	}
	if *listN > 0 {
		prefix := fmt.Sprintf("bench-list-%d", *listN)
		n, err := b.ListAll(ctx, prefix+"/")
		if err != nil {
			return err
		}
		if n < *listN {
			if err := b.Fill(ctx, prefix, *listN-n, 16, 16); err != nil {
				return err
			}
		}
		var listed int
		d, err := bench.Elapsed(func() error {
			var err error
			listed, err = b.ListAll(ctx, prefix+"/")
			return err
		})
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "LIST      %d objects in %s (%.0f objects/s, %d pages)\n", listed, d.Round(time.Millisecond),
			float64(listed)/d.Seconds(), (listed+999)/1000)
	}
	return nil
}

// s3PutGet runs PUTs of data for the duration, then GETs of what they
// stored, and prints both.
func s3PutGet(ctx context.Context, stdout io.Writer, b *bench.S3, prefix, label string, data []byte, c int, duration time.Duration) {
	keyCh := make(chan string, 1<<16)
	put := bench.Load(ctx, "PUT "+label, c, duration, func(ctx context.Context) error {
		key, err := b.Put(ctx, prefix, data)
		if err == nil {
			select {
			case keyCh <- key:
			default:
			}
		}
		return err
	})
	close(keyCh)
	var keys []string
	for k := range keyCh {
		keys = append(keys, k)
	}
	fmt.Fprintf(stdout, "%s  %8.1f MB/s\n", put, put.MBps(len(data)))
	if len(keys) == 0 {
		return
	}
	var next atomic.Int64
	get := bench.Load(ctx, "GET "+label, c, duration, func(ctx context.Context) error {
		return b.Get(ctx, keys[next.Add(1)%int64(len(keys))], data)
	})
	fmt.Fprintf(stdout, "%s  %8.1f MB/s\n", get, get.MBps(len(data)))
}

func human(size int) string {
	switch {
	case size >= 1<<20:
		return fmt.Sprintf("%dMiB", size>>20)
	case size >= 1<<10:
		return fmt.Sprintf("%dKiB", size>>10)
	}
	return fmt.Sprintf("%dB", size)
}

// benchDisk measures the raw disk rate under a directory.
func benchDisk(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench disk", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", "sov-data", "directory on the disk to measure (the S3 data dir)")
	size := fs.Int64("size", 1<<30, "bytes to write")
	if err := fs.Parse(args); err != nil {
		return err
	}
	w, err := bench.DiskWrite(*dir, *size)
	if err != nil {
		return err
	}
	r, err := bench.DiskRead(*dir, *size)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "disk write+fsync %8.1f MB/s\ndisk read        %8.1f MB/s (%s, page cache included)\n", w, r, human(int(*size)))
	return nil
}

// identityFlags registers the flags naming a Keystone and a user.
func identityFlags(fs *flag.FlagSet, t *bench.Target) {
	fs.StringVar(&t.AuthURL, "auth-url", os.Getenv("OS_AUTH_URL"), "Keystone v3 URL, e.g. http://127.0.0.1:5000/identity/v3")
	fs.StringVar(&t.Username, "username", envOr("OS_USERNAME", "admin"), "user name")
	fs.StringVar(&t.Password, "password", os.Getenv("OS_PASSWORD"), "password")
	fs.StringVar(&t.UserDomain, "user-domain", envOr("OS_USER_DOMAIN_NAME", "Default"), "user's domain name")
	fs.StringVar(&t.Project, "project", envOr("OS_PROJECT_NAME", "admin"), "project to scope to")
	fs.StringVar(&t.ProjectDomain, "project-domain", envOr("OS_PROJECT_DOMAIN_NAME", "Default"), "project's domain name")
}

// benchCompute boots servers and times them.
func benchCompute(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench compute", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var t bench.Target
	identityFlags(fs, &t)
	imageName := fs.String("image", "test-guest", "image to boot (name or id)")
	flavorName := fs.String("flavor", "SCS-1L-1", "flavor to boot (name or id)")
	conc := fs.String("concurrency", "1,5", "comma-separated numbers of servers booted at once")
	idle := fs.Duration("idle", 10*time.Second, "wait after the boots before measuring the VMs' memory")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if t.AuthURL == "" || t.Password == "" {
		return fmt.Errorf("bench: --auth-url and --password (or OS_AUTH_URL and OS_PASSWORD) are required")
	}
	cs, err := levels(*conc)
	if err != nil {
		return err
	}
	cc, err := bench.NewCompute(ctx, t)
	if err != nil {
		return err
	}
	flavorID, imageID, err := cc.Resolve(ctx, *flavorName, *imageName)
	if err != nil {
		return err
	}
	for _, n := range cs {
		boots := cc.BootServers(ctx, n, flavorID, imageID)
		var active, console []time.Duration
		var ids []string
		for _, b := range boots {
			if b.Err != nil {
				cc.DeleteServers(ctx, boots)
				return b.Err
			}
			active, console, ids = append(active, b.ToActive), append(console, b.ToConsole), append(ids, b.ID)
		}
		fmt.Fprintf(stdout, "boot x%-2d  to ACTIVE %s   to first console line %s\n", n, spread(active), spread(console))
		time.Sleep(*idle)
		if kb, found := bench.QEMURSS(ids); found > 0 {
			fmt.Fprintf(stdout, "          memory per idle VM (QEMU RSS, %s flavor): %d MiB\n", *flavorName, kb/int64(found)/1024)
		}
		cc.DeleteServers(ctx, boots)
	}
	return nil
}

// spread formats min/median/max of durations.
func spread(ds []time.Duration) string {
	slices.Sort(ds)
	r := func(d time.Duration) string { return d.Round(10 * time.Millisecond).String() }
	return fmt.Sprintf("min %s median %s max %s", r(ds[0]), r(ds[len(ds)/2]), r(ds[len(ds)-1]))
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

// benchNetwork measures port create and list of a Neutron API at
// concurrency levels, with the network holding each of the sizes of ports.
func benchNetwork(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench network", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var t bench.Target
	identityFlags(fs, &t)
	duration := fs.Duration("duration", 5*time.Second, "length of each load run")
	conc := fs.String("concurrency", "1,16", "comma-separated concurrency levels")
	sizes := fs.String("ports", "10,10000", "comma-separated numbers of ports on the network before each run")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if t.AuthURL == "" || t.Password == "" {
		return fmt.Errorf("bench: --auth-url and --password (or OS_AUTH_URL and OS_PASSWORD) are required")
	}
	cs, err := levels(*conc)
	if err != nil {
		return err
	}
	ns, err := levels(*sizes)
	if err != nil {
		return err
	}
	n, err := bench.NewNetwork(ctx, t, 32)
	if err != nil {
		return err
	}
	defer n.Close(context.WithoutCancel(ctx))
	have := 0
	for _, size := range ns {
		if size > have {
			if err := n.Fill(ctx, size, have, 16); err != nil {
				return err
			}
			have = size
		}
		for _, c := range cs {
			var made atomic.Int64
			res := bench.Load(ctx, "port create", c, *duration, func(ctx context.Context) error {
				_, err := n.CreatePort(ctx)
				if err == nil {
					made.Add(1)
				}
				return err
			})
			have += int(made.Load())
			fmt.Fprintf(stdout, "%6d ports  %s\n", size, res)
			fmt.Fprintf(stdout, "%6d ports  %s\n", have, bench.Load(ctx, "port list 100", c, *duration, func(ctx context.Context) error { return n.ListPorts(ctx, 100) }))
			fmt.Fprintf(stdout, "%6d ports  %s\n", have, bench.Load(ctx, "port list all", c, *duration, func(ctx context.Context) error { return n.ListPorts(ctx, 0) }))
		}
	}
	return nil
}
