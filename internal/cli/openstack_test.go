package cli_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/sovcloud/sov/internal/cli"
	"github.com/sovcloud/sov/internal/engines"
	"github.com/sovcloud/sov/internal/servertest"
)

// syncBuffer is a bytes.Buffer safe for one writer and one reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startUp runs `sov up --tls off` in-process on a free port and returns
// the path of the clouds.yaml it wrote.
func startUp(t *testing.T) (clouds string) {
	t.Helper()
	return startUpTLS(t, "off")
}

// startUpTLS is startUp with the given --tls mode.
func startUpTLS(t *testing.T, tlsMode string) (clouds string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out := &syncBuffer{}
	dataDir := t.TempDir()
	t.Cleanup(func() { servertest.RemoveHostState(dataDir) })
	done := make(chan struct{})
	var upErr error
	go func() {
		defer close(done)
		// Every listener on a free port: tests run side by side.
		upErr = cli.Run(ctx, []string{"up", "--data-dir", dataDir, "--listen", "127.0.0.1:0", "--s3-listen", "127.0.0.1:0",
			"--s3-website-listen", "127.0.0.1:0", "--tls", tlsMode, "--log-level", "warn", "--external-cidr", servertest.RandomExternalCIDR().String()}, out, &syncBuffer{})
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		if upErr != nil {
			t.Errorf("sov up: %v", upErr)
		}
	})
	// A bound for a loaded machine (migrations fsync), not a measure.
	deadline := time.Now().Add(90 * time.Second)
	for !strings.Contains(out.String(), "Press Ctrl-C") {
		select {
		case <-done:
			t.Fatalf("sov up exited: %v\n%s", upErr, out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("sov up did not come up:\n%s", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	m := regexp.MustCompile(`clouds\.yaml\s+(\S+)`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no clouds.yaml in output:\n%s", out.String())
	}
	return m[1]
}

// requireOpenStackCLI skips without the openstack CLI, except in CI where
// its absence is a failure.
func requireOpenStackCLI(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("openstack"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("the openstack CLI (python3-openstackclient) is required in CI")
		}
		t.Skip("openstack CLI not installed")
	}
}

// osc runs the openstack CLI against clouds.yaml and returns its stdout.
func osc(t *testing.T, clouds string, wantOK bool, args ...string) string {
	t.Helper()
	cmd := exec.Command("openstack", args...)
	cmd.Env = append(os.Environ(), "OS_CLIENT_CONFIG_FILE="+clouds)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if wantOK && err != nil {
		t.Fatalf("openstack %s: %v\n%s%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	if !wantOK && err == nil {
		t.Fatalf("openstack %s succeeded, want failure:\n%s", strings.Join(args, " "), stdout.String())
	}
	return stdout.String() + stderr.String()
}

func jsonOut(t *testing.T, s string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(s), v); err != nil {
		t.Fatalf("openstack output is not JSON: %v\n%s", err, s)
	}
}

func TestOpenStackCLI(t *testing.T) {
	t.Parallel()
	requireOpenStackCLI(t)
	clouds := startUp(t)
	admin := []string{"--os-cloud", "sov"}
	run := func(args ...string) string { return osc(t, clouds, true, append(admin, args...)...) }

	var tok map[string]string
	jsonOut(t, run("token", "issue", "-f", "json"), &tok)
	if tok["id"] == "" || tok["project_id"] == "" || tok["expires"] == "" {
		t.Fatalf("token issue = %v", tok)
	}
	if regions := run("region", "list", "-f", "json"); !strings.Contains(regions, "RegionOne") {
		t.Errorf("region list = %s", regions)
	}
	run("project", "create", "demo")
	run("project", "create", "other")
	var projects []map[string]any
	jsonOut(t, run("project", "list", "-f", "json"), &projects)
	if len(projects) != 3 {
		t.Errorf("project list = %v, want admin, demo, other", projects)
	}
	run("user", "create", "--password", "alice-pw", "--domain", "default", "alice")
	run("user", "create", "--password", "bob-pw", "--domain", "default", "bob")
	run("role", "add", "--project", "demo", "--user", "alice", "member")
	run("role", "add", "--project", "other", "--user", "bob", "member")
	var assignments []map[string]any
	jsonOut(t, run("role", "assignment", "list", "--user", "alice", "--project", "demo", "--names", "-f", "json"), &assignments)
	if len(assignments) != 1 || assignments[0]["Role"] != "member" || assignments[0]["User"] != "alice@Default" {
		t.Errorf("role assignment list = %v", assignments)
	}

	// As alice: an application credential, then a token from it.
	authURL := regexp.MustCompile(`auth_url: (\S+)`).FindStringSubmatch(readFile(t, clouds))[1]
	alice := userArgs(authURL, "alice", "demo")
	var ac map[string]any
	jsonOut(t, osc(t, clouds, true, append(alice, "application", "credential", "create", "ci", "-f", "json")...), &ac)
	if ac["secret"] == nil || ac["id"] == nil {
		t.Fatalf("application credential create = %v", ac)
	}
	jsonOut(t, osc(t, filepath.Join(t.TempDir(), "none.yaml"), true, "--os-auth-type", "v3applicationcredential", "--os-auth-url", authURL,
		"--os-application-credential-id", ac["id"].(string), "--os-application-credential-secret", ac["secret"].(string),
		"token", "issue", "-f", "json"), &tok)
	if tok["project_id"] == "" {
		t.Errorf("app credential token = %v", tok)
	}
	var ec2 map[string]any
	jsonOut(t, osc(t, clouds, true, append(alice, "ec2", "credentials", "create", "-f", "json")...), &ec2)
	if ec2["access"] == nil || ec2["secret"] == nil {
		t.Fatalf("ec2 credentials create = %v", ec2)
	}
	var ec2s []map[string]any
	jsonOut(t, osc(t, clouds, true, append(alice, "ec2", "credentials", "list", "-f", "json")...), &ec2s)
	if len(ec2s) != 1 {
		t.Errorf("ec2 credentials list = %v", ec2s)
	}

	// Isolation: bob sees neither alice's project nor her credentials.
	bob := userArgs(authURL, "bob", "other")
	osc(t, clouds, false, append(bob, "project", "show", "demo")...)
	osc(t, clouds, false, append(bob, "user", "show", "alice")...)
	jsonOut(t, osc(t, clouds, true, append(bob, "ec2", "credentials", "list", "-f", "json")...), &ec2s)
	if len(ec2s) != 0 {
		t.Errorf("bob's ec2 credentials list = %v", ec2s)
	}
	// Bad input: unknown names and duplicates fail cleanly.
	if out := osc(t, clouds, false, append(admin, "project", "show", "no-such-project")...); !strings.Contains(out, "No project") {
		t.Errorf("unknown project: %s", out)
	}
	if out := osc(t, clouds, false, append(admin, "project", "create", "demo")...); !strings.Contains(out, "409") && !strings.Contains(out, "Conflict") {
		t.Errorf("duplicate project: %s", out)
	}
}

// userArgs are the flags to act as a user created with password <name>-pw.
// (With --os-cloud, the cloud's own project would win over --os-project-name.)
func userArgs(authURL, name, project string) []string {
	return []string{"--os-auth-url", authURL, "--os-identity-api-version", "3", "--os-username", name, "--os-password", name + "-pw",
		"--os-user-domain-name", "Default", "--os-project-name", project, "--os-project-domain-name", "Default"}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestOpenStackCLIImages(t *testing.T) {
	t.Parallel()
	requireOpenStackCLI(t)
	clouds := startUp(t)
	run := func(wantOK bool, args ...string) string {
		return osc(t, clouds, wantOK, append([]string{"--os-cloud", "sov"}, args...)...)
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "disk.raw")
	data := bytes.Repeat([]byte("sov image "), 50000)
	if err := os.WriteFile(file, data, 0o600); err != nil {
		t.Fatal(err)
	}
	var img map[string]any
	jsonOut(t, run(true, "image", "create", "--disk-format", "raw", "--container-format", "bare", "--file", file,
		"--property", "os_distro=debian", "--property", "os_version=12", "-f", "json", "tiny"), &img)
	if img["disk_format"] != "raw" || img["name"] != "tiny" {
		t.Fatalf("image create = %v", img)
	}
	// (openstacksdk prints the image as created, before its upload.)
	sum := md5.Sum(data)
	jsonOut(t, run(true, "image", "show", "-f", "json", "tiny"), &img)
	if img["status"] != "active" || img["checksum"] != hex.EncodeToString(sum[:]) || fmt.Sprint(img["size"]) != fmt.Sprint(len(data)) {
		t.Errorf("image show = %v", img)
	}
	run(true, "image", "set", "--property", "hw_disk_bus=virtio", "--min-disk", "1", "tiny")
	jsonOut(t, run(true, "image", "show", "-f", "json", "tiny"), &img)
	if props, _ := img["properties"].(map[string]any); props["hw_disk_bus"] != "virtio" || fmt.Sprint(img["min_disk"]) != "1" {
		t.Errorf("image after set = %v", img)
	}
	var list []map[string]any
	jsonOut(t, run(true, "image", "list", "-f", "json"), &list)
	if len(list) != 1 || list[0]["Name"] != "tiny" {
		t.Errorf("image list = %v", list)
	}
	back := filepath.Join(dir, "back.raw")
	run(true, "image", "save", "--file", back, "tiny")
	if got, _ := os.ReadFile(back); !bytes.Equal(got, data) {
		t.Errorf("image save wrote %d bytes, want %d", len(got), len(data))
	}
	run(false, "image", "show", "no-such-image")

	// A qcow2 naming a host file as its backing file is refused (Glance's 400).
	secretFile := filepath.Join(dir, "admin-password")
	os.WriteFile(secretFile, []byte("secret"), 0o600)
	evil := filepath.Join(dir, "evil.qcow2")
	if out, err := exec.Command("qemu-img", "create", "-q", "-f", "qcow2", "-b", secretFile, "-F", "raw", evil, "1M").CombinedOutput(); err != nil {
		t.Fatalf("qemu-img: %v: %s", err, out)
	}
	if out := run(false, "image", "create", "--disk-format", "qcow2", "--container-format", "bare", "--file", evil, "evil"); !strings.Contains(out, "400") {
		t.Errorf("refused upload says:\n%s", out)
	}
	// (openstacksdk deletes an image whose upload failed; none may be active.)
	jsonOut(t, run(true, "image", "list", "--long", "-f", "json"), &list)
	for _, i := range list {
		if i["Name"] == "evil" && i["Status"] != "queued" {
			t.Errorf("refused image = %v", i)
		}
	}
	run(true, "image", "delete", "tiny")
	jsonOut(t, run(true, "image", "list", "-f", "json"), &list)
	if len(list) != 0 {
		t.Errorf("image list after delete = %v", list)
	}

	// Image quotas are Keystone unified limits of the image service.
	var registered []map[string]any
	jsonOut(t, run(true, "registered", "limit", "list", "--service", "glance", "-f", "json"), &registered)
	defaults := map[string]string{}
	for _, l := range registered {
		defaults[fmt.Sprint(l["Resource Name"])] = fmt.Sprint(l["Default Limit"])
	}
	if defaults["image_count_total"] != "100" || defaults["image_size_total"] != "102400" {
		t.Errorf("registered limits = %v", registered)
	}
	run(true, "limit", "create", "--project", "admin", "--service", "glance", "--resource-limit", "1", "image_count_total")
	run(true, "image", "create", "--disk-format", "raw", "--container-format", "bare", "quota-1")
	if out := run(false, "image", "create", "--disk-format", "raw", "--container-format", "bare", "quota-2"); !strings.Contains(out, "413") {
		t.Errorf("an image over the limit:\n%s", out)
	}
}

func TestOpenStackCLIFlavorsKeypairs(t *testing.T) {
	t.Parallel()
	requireOpenStackCLI(t)
	clouds := startUp(t)
	run := func(wantOK bool, args ...string) string {
		return osc(t, clouds, wantOK, append([]string{"--os-cloud", "sov"}, args...)...)
	}
	var list []map[string]any
	jsonOut(t, run(true, "flavor", "list", "-f", "json"), &list)
	names := map[string]bool{}
	for _, f := range list {
		names[fmt.Sprint(f["Name"])] = true
	}
	for _, want := range []string{"SCS-1V-4", "SCS-2V-8", "SCS-1L-1", "SCS-2V-4-20s", "SCS-4V-16-100s"} {
		if !names[want] {
			t.Errorf("flavor list lacks %s", want)
		}
	}
	var f map[string]any
	jsonOut(t, run(true, "flavor", "show", "-f", "json", "SCS-2V-4-20s"), &f)
	if props := fmt.Sprint(f["properties"]); !strings.Contains(props, "scs:disk0-type") || !strings.Contains(props, "ssd") ||
		fmt.Sprint(f["vcpus"]) != "2" || fmt.Sprint(f["ram"]) != "4096" || fmt.Sprint(f["disk"]) != "20" {
		t.Errorf("flavor show = %v", f)
	}
	dir := t.TempDir()
	priv := filepath.Join(dir, "id_generated")
	run(true, "keypair", "create", "--private-key", priv, "generated")
	if b, err := os.ReadFile(priv); err != nil || !strings.Contains(string(b), "PRIVATE KEY") {
		t.Errorf("private key file: %v %.40s", err, b)
	}
	pub := filepath.Join(dir, "id.pub")
	os.WriteFile(pub, []byte("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJbXwFjKQ3oZHLz5a6Xq9Yd0mrdxF2jCxNIFVRmcCgwS test@sov\n"), 0o600)
	run(true, "keypair", "create", "--public-key", pub, "imported")
	jsonOut(t, run(true, "keypair", "list", "-f", "json"), &list)
	if len(list) != 2 {
		t.Errorf("keypair list = %v", list)
	}
	run(false, "keypair", "create", "--public-key", pub, "imported")
	run(true, "keypair", "delete", "generated")
	run(false, "keypair", "show", "generated")
}

func TestOpenStackCLIServers(t *testing.T) {
	t.Parallel()
	requireOpenStackCLI(t)
	clouds := startUp(t)
	run := func(wantOK bool, args ...string) string {
		return osc(t, clouds, wantOK, append([]string{"--os-cloud", "sov"}, args...)...)
	}
	uploadGuestCLI(t, run)
	dir := t.TempDir()
	userData := filepath.Join(dir, "user-data.sh")
	os.WriteFile(userData, []byte("#!/bin/sh\necho cli-user-data-ok\n"), 0o600)
	run(true, "keypair", "create", "--private-key", filepath.Join(dir, "key"), "k1")
	// Without a network the server has no NIC; with the project's only
	// network it is on that one without naming it.
	run(true, "network", "create", "cli-net")
	run(true, "subnet", "create", "--network", "cli-net", "--subnet-range", "10.77.0.0/24", "cli-subnet")

	// In a server group (anti-affinity: one member per host).
	var g map[string]any
	jsonOut(t, run(true, "server", "group", "create", "--policy", "anti-affinity", "-f", "json", "cli-group"), &g)
	var s map[string]any
	jsonOut(t, run(true, "server", "create", "--image", "guest", "--flavor", "SCS-1L-1", "--key-name", "k1", "--user-data", userData,
		"--property", "purpose=cli-test", "--hint", "group="+fmt.Sprint(g["id"]), "--wait", "-f", "json", "cli-vm"), &s)
	if s["status"] != "ACTIVE" || !strings.Contains(fmt.Sprint(s["addresses"]), "cli-net") {
		t.Fatalf("server create --wait = %v", s)
	}
	if out := run(true, "server", "group", "show", "-f", "json", "cli-group"); !strings.Contains(out, fmt.Sprint(s["id"])) || !strings.Contains(out, "anti-affinity") {
		t.Errorf("server group show: %s", out)
	}
	if out := run(true, "server", "group", "list", "-f", "value", "-c", "Name"); strings.TrimSpace(out) != "cli-group" {
		t.Errorf("server group list: %q", out)
	}
	var log string
	for end := time.Now().Add(120 * time.Second); ; time.Sleep(time.Second) {
		log = run(true, "console", "log", "show", "cli-vm")
		if strings.Contains(log, "sov-guest: ready") {
			break
		}
		if time.Now().After(end) {
			t.Fatalf("console log without the guest being ready:\n%s", log)
		}
	}
	for _, want := range []string{"instance uuid=" + fmt.Sprint(s["id"]), "cli-user-data-ok"} {
		if !strings.Contains(log, want) {
			t.Errorf("console log lacks %q:\n%s", want, log)
		}
	}
	var list []map[string]any
	jsonOut(t, run(true, "server", "list", "-f", "json"), &list)
	if len(list) != 1 || list[0]["Status"] != "ACTIVE" || !strings.Contains(fmt.Sprint(list[0]["Networks"]), "10.77.0.") {
		t.Errorf("server list = %v", list)
	}
	if lim := run(true, "limits", "show", "--absolute", "-f", "json"); !strings.Contains(lim, `"totalInstancesUsed"`) || !strings.Contains(lim, `"maxTotalCores"`) {
		t.Errorf("limits show = %s", lim)
	}
	run(true, "server", "set", "--property", "owner=team-a", "--name", "cli-vm-2", "cli-vm")
	var shown map[string]any
	jsonOut(t, run(true, "server", "show", "-f", "json", "cli-vm-2"), &shown)
	if !strings.Contains(fmt.Sprint(shown["properties"]), "team-a") || !strings.Contains(fmt.Sprint(shown["properties"]), "cli-test") {
		t.Errorf("server show after set = %v", shown["properties"])
	}
	run(true, "server", "set", "--name", "cli-vm", "cli-vm-2")
	run(true, "server", "stop", "cli-vm")
	waitCLIStatus(t, run, "cli-vm", "SHUTOFF")
	run(true, "server", "start", "cli-vm")
	waitCLIStatus(t, run, "cli-vm", "ACTIVE")
	run(true, "server", "reboot", "--hard", "--wait", "cli-vm")
	run(true, "server", "rebuild", "--image", "guest", "--wait", "cli-vm")
	waitCLIStatus(t, run, "cli-vm", "ACTIVE")
	run(true, "server", "resize", "--flavor", "SCS-2V-4", "--wait", "cli-vm")
	waitCLIStatus(t, run, "cli-vm", "VERIFY_RESIZE")
	run(true, "server", "resize", "confirm", "cli-vm")
	waitCLIStatus(t, run, "cli-vm", "ACTIVE")
	if out := run(true, "server", "show", "-f", "value", "-c", "flavor", "cli-vm"); !strings.Contains(out, "SCS-2V-4") {
		t.Errorf("the resized server's flavor: %s", out)
	}
	run(true, "server", "image", "create", "--name", "cli-snap", "--wait", "cli-vm")
	if out := run(true, "image", "show", "-f", "value", "-c", "properties", "cli-snap"); !strings.Contains(out, "'image_type': 'snapshot'") {
		t.Errorf("the server's image: %s", out)
	}
	waitCLIStatus(t, run, "cli-vm", "ACTIVE")
	var events []map[string]any
	jsonOut(t, run(true, "server", "event", "list", "-f", "json", "cli-vm"), &events)
	var names []string
	for _, e := range events {
		names = append(names, fmt.Sprint(e["Action"]))
	}
	if strings.Join(names, " ") != "createImage confirmResize resize rebuild reboot start stop create" {
		t.Errorf("server event list = %v", events)
	}
	if len(events) > 0 {
		if ev := run(true, "server", "event", "show", "-f", "json", "cli-vm", fmt.Sprint(events[len(events)-1]["Request ID"])); !strings.Contains(ev, "compute__do_build_and_run_instance") || !strings.Contains(ev, "Success") {
			t.Errorf("server event show of the create:\n%s", ev)
		}
	}
	run(false, "server", "create", "--image", "guest", "--flavor", "no-such-flavor", "bad-vm")
	run(true, "server", "delete", "--wait", "cli-vm")
	run(true, "server", "group", "delete", "cli-group")
	jsonOut(t, run(true, "server", "list", "-f", "json"), &list)
	if len(list) != 0 {
		t.Errorf("server list after delete = %v", list)
	}

	// sov down stops every process the cloud started (a VM, dnsmasq) and
	// removes the network's bridge and the VM's tap.
	run(true, "server", "create", "--image", "guest", "--flavor", "SCS-1L-1", "--wait", "down-vm")
	dataDir := filepath.Dir(clouds)
	if n := len(engines.MarkedProcesses(engines.CloudID(dataDir))); n != 2 {
		t.Errorf("%d engine processes run, want QEMU and dnsmasq", n)
	}
	var out, errOut bytes.Buffer
	var ports []map[string]any
	jsonOut(t, run(true, "port", "list", "--server", "down-vm", "-f", "json"), &ports)
	if len(ports) != 1 {
		t.Fatalf("ports of down-vm = %v", ports)
	}
	tap := "tap" + fmt.Sprint(ports[0]["ID"])[:11]
	netID := strings.TrimSpace(run(true, "network", "show", "-f", "value", "-c", "id", "cli-net"))
	if _, err := netlink.LinkByName(tap); err != nil {
		t.Fatalf("the VM's tap %s: %v", tap, err)
	}
	if err := cli.Run(context.Background(), []string{"down", "--data-dir", dataDir}, &out, &errOut); err != nil {
		t.Fatalf("sov down: %v\n%s", err, errOut.String())
	}
	if pids := engines.MarkedProcesses(engines.CloudID(dataDir)); len(pids) != 0 {
		t.Errorf("after sov down processes %v run", pids)
	}
	if _, err := netlink.LinkByName(tap); err == nil {
		t.Errorf("after sov down tap %s is there", tap)
	}
	if _, err := os.Stat("/run/netns/sovd-" + strings.ReplaceAll(netID, "-", "")[:11]); err == nil {
		t.Errorf("after sov down the network's DHCP namespace is there")
	}
}

// uploadGuestCLI uploads the test guest with the openstack CLI as image
// "guest" (a raw root disk naming its kernel and ramdisk images).
func uploadGuestCLI(t *testing.T, run func(bool, ...string) string) {
	t.Helper()
	kernel, initrd := servertest.TestGuest(t)
	id := func(out string) string {
		var m map[string]any
		jsonOut(t, out, &m)
		return fmt.Sprint(m["id"])
	}
	k := id(run(true, "image", "create", "--disk-format", "aki", "--container-format", "aki", "--file", kernel, "-f", "json", "guest-kernel"))
	r := id(run(true, "image", "create", "--disk-format", "ari", "--container-format", "ari", "--file", initrd, "-f", "json", "guest-ramdisk"))
	disk := filepath.Join(t.TempDir(), "root.raw")
	if err := os.WriteFile(disk, make([]byte, 1<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	run(true, "image", "create", "--disk-format", "raw", "--container-format", "bare", "--file", disk,
		"--property", "kernel_id="+k, "--property", "ramdisk_id="+r, "--property", "os_command_line=console=ttyS0 quiet", "guest")
}

func waitCLIStatus(t *testing.T, run func(bool, ...string) string, name, want string) {
	t.Helper()
	for end := time.Now().Add(60 * time.Second); ; time.Sleep(500 * time.Millisecond) {
		var s map[string]any
		jsonOut(t, run(true, "server", "show", "-f", "json", name), &s)
		if s["status"] == want && (s["OS-EXT-STS:task_state"] == nil || s["OS-EXT-STS:task_state"] == "") {
			return
		}
		if time.Now().After(end) {
			t.Fatalf("server %s is %v, want %s", name, s["status"], want)
		}
	}
}
