package compute_test

import (
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/volumeattach"

	"github.com/sovcloud/sov/internal/hypervisor"
	"github.com/sovcloud/sov/internal/servertest"
)

// BenchmarkVolumeAttach measures the latency of hot-plugging a volume
// into a running test guest and of taking it out again, through Nova's
// os-volume_attachments (attach until the volume is in-use, detach until
// the attachment is gone and the volume available), beside the baseline
// of the hypervisor driver plugging a bare qcow2 file into the same VM (no
// API, store or volume service in between). It reports p50 and p99 of
// each in milliseconds:
//
//	go test -run '^$' -bench VolumeAttach -benchtime 20x ./internal/compute
func BenchmarkVolumeAttach(b *testing.B) {
	srv := servertest.Start(b, nil)
	alpha := srv.NewTenant(b, "alpha", "")
	p := srv.Provider(b, alpha)
	c, vc := computeClient(b, p, "2.79"), volumeClient(b, p)
	s, err := servers.Create(ctx, c, servers.CreateOpts{Name: "bench", ImageRef: servertest.UploadTestGuest(b, p),
		FlavorRef: flavorID(b, c, "SCS-1L-1"), Networks: "none"}, nil).Extract()
	wantStatus(b, "create", err, 0)
	waitStatus(b, c, s.ID, "ACTIVE")
	waitConsole(b, c, s.ID, "sov-guest: ready")
	vol := newVolume(b, vc, "bench")
	hv := srv.Compute().Driver()
	bare := filepath.Join(b.TempDir(), "bare.qcow2")
	if out, err := exec.Command("qemu-img", "create", "-q", "-f", "qcow2", bare, "1G").CombinedOutput(); err != nil {
		b.Fatalf("qemu-img: %v: %s", err, out)
	}
	const bareSerial = "bare-baseline"

	var attach, detach, bareAttach, bareDetach []time.Duration
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		_, err := volumeattach.Create(ctx, c, s.ID, volumeattach.CreateOpts{VolumeID: vol}).Extract()
		wantStatus(b, "attach", err, 0)
		waitVolumeStatus(b, vc, vol, "in-use")
		attach = append(attach, time.Since(start))
		if spec, err := hv.SavedSpec(s.ID); err != nil || !slices.ContainsFunc(spec.Volumes, func(v hypervisor.Volume) bool { return v.Serial == vol }) {
			b.Fatalf("the VM does not have the volume attached: %v", err)
		}

		start = time.Now()
		wantStatus(b, "detach", volumeattach.Delete(ctx, c, s.ID, vol).ExtractErr(), 0)
		waitDetached(b, c, s.ID, vol)
		waitVolumeStatus(b, vc, vol, "available")
		detach = append(detach, time.Since(start))

		start = time.Now()
		if err := hv.AttachVolume(s.ID, hypervisor.Volume{Serial: bareSerial, Disk: &hypervisor.Disk{Path: bare, Format: "qcow2"}}); err != nil {
			b.Fatalf("bare attach: %v", err)
		}
		bareAttach = append(bareAttach, time.Since(start))
		start = time.Now()
		if err := hv.DetachVolume(s.ID, bareSerial); err != nil {
			b.Fatalf("bare detach: %v", err)
		}
		bareDetach = append(bareDetach, time.Since(start))
	}
	b.StopTimer()
	for name, d := range map[string][]time.Duration{"attach": attach, "detach": detach, "bare-attach": bareAttach, "bare-detach": bareDetach} {
		b.ReportMetric(percentile(d, 50), name+"-p50-ms")
		b.ReportMetric(percentile(d, 99), name+"-p99-ms")
	}
}

// percentile is the p-th percentile of d in milliseconds (nearest rank).
func percentile(d []time.Duration, p int) float64 {
	s := slices.Clone(d)
	slices.Sort(s)
	i := max((len(s)*p+99)/100-1, 0)
	return float64(s[i].Microseconds()) / 1000
}
