package compute_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/volumeattach"

	"github.com/sovcloud/sov/internal/hypervisor"
	"github.com/sovcloud/sov/internal/servertest"
)

// ioScript is user data for the test guest: for each disk serial, once
// the disk is there, it writes and then reads ioMiB of it sequentially
// (1 MiB blocks, O_DIRECT, so neither the guest's cache nor a lazy flush
// counts) and prints how long each took, in hundredths of a second from
// /proc/uptime.
const ioMiB = 768

func ioScript(serials ...string) string {
	return `#!/bin/sh
up() { cut -d' ' -f1 /proc/uptime | tr -d .; }
for serial in ` + strings.Join(serials, " ") + `; do
	dev=""
	i=0
	while [ -z "$dev" ]; do
		for s in /sys/block/vd*/serial; do
			[ "$(cat "$s" 2>/dev/null)" = "$serial" ] && { d=${s%/serial}; dev=/dev/${d##*/}; }
		done
		[ -z "$dev" ] && { sleep 1; i=$((i+1)); [ $i -gt 900 ] && exit 1; }
	done
	t0=$(up)
	dd if=/dev/zero of=$dev bs=1M count=` + strconv.Itoa(ioMiB) + ` oflag=direct 2>/dev/null && sync
	t1=$(up)
	dd if=$dev of=/dev/null bs=1M count=` + strconv.Itoa(ioMiB) + ` iflag=direct 2>/dev/null
	t2=$(up)
	echo "io-bench: $serial write $((t1-t0)) read $((t2-t1))"
done
`
}

// BenchmarkGuestVolumeIO measures sequential throughput inside a test
// guest on a volume sov attaches (the file driver's qcow2 file, through
// Nova's os-volume_attachments), beside the same guest on a bare qcow2
// file the hypervisor driver plugs in with no sov in between, and beside
// the host writing and reading a file of its disk with O_DIRECT. It
// reports MB/s of each, and the volume's cost against the bare file:
//
//	go test -run '^$' -bench GuestVolumeIO -benchtime 1x ./internal/compute
//
// Under TCG the guest is far below the host; the comparison that counts
// is the volume against the bare file.
func BenchmarkGuestVolumeIO(b *testing.B) {
	srv := servertest.Start(b, nil)
	p := srv.Provider(b, srv.NewTenant(b, "alpha", ""))
	c, vc := computeClient(b, p, "2.79"), volumeClient(b, p)
	vol := newVolume(b, vc, "bench")
	const bareSerial = "bare-baseline"
	yes := true
	s, err := servers.Create(ctx, c, servers.CreateOpts{Name: "io", ImageRef: servertest.UploadTestGuest(b, p), FlavorRef: flavorID(b, c, "SCS-1L-1"),
		Networks: "none", ConfigDrive: &yes, UserData: []byte(ioScript(vol[:20], bareSerial, vol[:20], bareSerial))}, nil).Extract()
	wantStatus(b, "create", err, 0)
	waitStatus(b, c, s.ID, "ACTIVE")
	waitConsole(b, c, s.ID, "sov-guest: running user_data")
	bare := filepath.Join(b.TempDir(), "bare.qcow2")
	if out, err := exec.Command("qemu-img", "create", "-q", "-f", "qcow2", bare, "1G").CombinedOutput(); err != nil {
		b.Fatalf("qemu-img: %v: %s", err, out)
	}
	b.ResetTimer()
	_, err = volumeattach.Create(ctx, c, s.ID, volumeattach.CreateOpts{VolumeID: vol}).Extract()
	wantStatus(b, "attach", err, 0)
	if err := srv.Compute().Driver().AttachVolume(s.ID, hypervisor.Volume{Serial: bareSerial, Disk: &hypervisor.Disk{Path: bare, Format: "qcow2"}}); err != nil {
		b.Fatalf("bare attach: %v", err)
	}
	// Each disk twice, alternately: the second round's figures count (the
	// first also allocates the qcow2 clusters).
	var out string
	for end := time.Now().Add(20 * time.Minute); strings.Count(out, "io-bench: ") < 4; time.Sleep(time.Second) {
		if time.Now().After(end) {
			b.Fatalf("the guest's figures after 20 minutes:\n%s", out)
		}
		out, _ = servers.ShowConsoleOutput(ctx, c, s.ID, servers.ShowConsoleOutputOpts{}).Extract()
	}
	b.StopTimer()
	rates := map[string][2]float64{}
	for _, m := range regexp.MustCompile(`io-bench: (\S+) write (\d+) read (\d+)`).FindAllStringSubmatch(out, -1) {
		w, _ := strconv.ParseFloat(m[2], 64)
		r, _ := strconv.ParseFloat(m[3], 64)
		if w == 0 || r == 0 {
			b.Fatalf("a run too short to time: %s", m[0])
		}
		name := "volume"
		if m[1] == bareSerial {
			name = "bare"
		}
		rates[name] = [2]float64{ioMiB * 1.048576 / (w / 100), ioMiB * 1.048576 / (r / 100)} // the last round's
	}
	if len(rates) != 2 {
		b.Fatalf("the guest's figures: %v\n%s", rates, out)
	}
	hostW, hostR := hostIO(b)
	b.ReportMetric(rates["volume"][0], "volume-write-MB/s")
	b.ReportMetric(rates["volume"][1], "volume-read-MB/s")
	b.ReportMetric(rates["bare"][0], "bare-write-MB/s")
	b.ReportMetric(rates["bare"][1], "bare-read-MB/s")
	b.ReportMetric(hostW, "host-write-MB/s")
	b.ReportMetric(hostR, "host-read-MB/s")
	b.ReportMetric(100*(1-rates["volume"][0]/rates["bare"][0]), "write-cost-%")
	b.ReportMetric(100*(1-rates["volume"][1]/rates["bare"][1]), "read-cost-%")
}

// hostIO writes and reads ioMiB of a file on the host's disk (where the
// volumes are) with O_DIRECT, and returns MB/s of each.
func hostIO(b *testing.B) (write, read float64) {
	f := filepath.Join(b.TempDir(), "host.raw")
	run := func(args ...string) float64 {
		start := time.Now()
		if out, err := exec.Command("dd", args...).CombinedOutput(); err != nil {
			b.Fatalf("dd %v: %v: %s", args, err, out)
		}
		return float64(ioMiB) * 1.048576 / time.Since(start).Seconds()
	}
	write = run("if=/dev/zero", "of="+f, "bs=1M", fmt.Sprintf("count=%d", ioMiB), "oflag=direct", "conv=fsync")
	read = run("if="+f, "of=/dev/null", "bs=1M", fmt.Sprintf("count=%d", ioMiB), "iflag=direct")
	os.Remove(f)
	return write, read
}
