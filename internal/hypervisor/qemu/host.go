package qemu

import (
	"bufio"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/sovcloud/sov/internal/hypervisor"
)

// guestCPUTraits are the os-traits of the CPU QEMU gives guests (its
// default model, qemu64, under TCG or KVM alike).
var guestCPUTraits = []string{"HW_CPU_X86_MMX", "HW_CPU_X86_SSE", "HW_CPU_X86_SSE2", "HW_CPU_X86_SSE3"}

// Host is the machine's processors, memory (/proc/meminfo) and the size
// of the file system of the instances' directory.
func (d *Driver) Host() (*hypervisor.Host, error) {
	name, err := os.Hostname()
	if err != nil {
		return nil, err
	}
	h := &hypervisor.Host{Name: name, VCPUs: runtime.NumCPU(), Traits: slices.Concat(hypervisor.Traits, guestCPUTraits)}
	if h.RAMMiB, err = memTotalMiB(); err != nil {
		return nil, err
	}
	var fs syscall.Statfs_t
	if err := syscall.Statfs(d.dir, &fs); err != nil {
		return nil, err
	}
	h.DiskGiB = int64(fs.Blocks) * fs.Bsize >> 30
	return h, nil
}

// memTotalMiB reads MemTotal from /proc/meminfo.
func memTotalMiB() (int64, error) {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "MemTotal:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb >> 10, err
		}
	}
	return 0, os.ErrNotExist
}
