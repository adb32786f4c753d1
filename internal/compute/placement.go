package compute

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"slices"

	"github.com/google/uuid"

	"github.com/sovcloud/sov/internal/placement"
	"github.com/sovcloud/sov/internal/store"
)

// Placement records compute's host as a resource provider and the
// resources its servers take of it, refusing claims beyond its capacity;
// the placement service implements it.
type Placement interface {
	RegisterHost(ctx context.Context, h placement.Host) error
	Claim(ctx context.Context, provider, consumer, project, user string, resources map[string]int64, force bool) error
	Release(ctx context.Context, consumer string) error
	Consumers(ctx context.Context, provider string) ([]string, error)
}

// Nova's defaults for a host's inventories: four vCPUs per processor
// (initial_cpu_allocation_ratio), memory kept for the host
// (reserved_host_memory_mb) and neither memory nor disk overcommitted.
const (
	cpuAllocationRatio    = 4.0
	reservedHostMemoryMiB = 512
)

// registerHost records the host in placement: its processors, memory and
// disk, and its traits. The provider's uuid is the host's name and data
// dir's, so it stays the same across restarts.
func (s *Service) registerHost(ctx context.Context) error {
	h, err := s.driver.Host()
	if err != nil {
		return err
	}
	dir, err := filepath.Abs(s.cfg.DataDir)
	if err != nil {
		return err
	}
	s.provider = uuid.NewSHA1(uuid.NameSpaceURL, []byte("sov-compute-host:"+h.Name+":"+dir)).String()
	vcpus := int64(h.VCPUs)
	invs := map[string]placement.Inventory{
		"VCPU":      {Total: vcpus, MinUnit: 1, MaxUnit: vcpus, StepSize: 1, AllocationRatio: cpuAllocationRatio},
		"MEMORY_MB": {Total: h.RAMMiB, Reserved: min(reservedHostMemoryMiB, h.RAMMiB-1), MinUnit: 1, MaxUnit: h.RAMMiB, StepSize: 1, AllocationRatio: 1},
	}
	disk := max(h.DiskGiB, 1) // servers always ask for their disks
	invs["DISK_GB"] = placement.Inventory{Total: disk, MinUnit: 1, MaxUnit: disk, StepSize: 1, AllocationRatio: 1}
	return s.placement.RegisterHost(ctx, placement.Host{UUID: s.provider, Name: h.Name, Inventories: invs, Traits: h.Traits})
}

// resources is what a server takes of its host, as Nova counts it: its
// flavor's vCPUs and memory, and its root disk (unless a volume),
// ephemeral disk and swap.
func resources(srv *server) map[string]int64 {
	disk := int64(srv.Flavor.Ephemeral) + int64(srv.Flavor.Swap+1023)/1024
	if srv.rootVolume() == nil {
		disk += int64(srv.Flavor.Disk)
	}
	return map[string]int64{"VCPU": int64(srv.Flavor.VCPUs), "MEMORY_MB": int64(srv.Flavor.RAM), "DISK_GB": disk}
}

// claim takes a server's resources of the host, or fails as Nova's
// scheduler does when no host has room.
func (s *Service) claim(ctx context.Context, srv *server) error {
	err := s.placement.Claim(ctx, s.provider, srv.ID, srv.ProjectID, srv.UserID, resources(srv), false)
	if errors.Is(err, placement.ErrNoCapacity) {
		return faultf(err, "No valid host was found. There are not enough hosts available.")
	}
	return err
}

// healAllocations makes placement's record match the servers at start:
// a server built holds its resources (even beyond what the host has now),
// one whose build a stop interrupted (it fails, Recover says) and a
// consumer that is no server hold nothing; servers in ERROR and those
// being deleted keep what they have.
func (s *Service) healAllocations(ctx context.Context, all []*server) error {
	ids := make([]string, 0, len(all))
	for _, srv := range all {
		if srv.Status == "ERROR" || srv.TaskState == "deleting" {
			ids = append(ids, srv.ID)
			continue
		}
		if srv.Status == "BUILD" {
			continue
		}
		ids = append(ids, srv.ID)
		if err := s.placement.Claim(ctx, s.provider, srv.ID, srv.ProjectID, srv.UserID, resources(srv), true); err != nil {
			return err
		}
	}
	// A resize not confirmed or reverted yet: its migration holds the old
	// flavor.
	rows, err := s.db.Query(ctx, `SELECT id, old_flavor FROM servers WHERE old_flavor != ''`)
	if err != nil {
		return err
	}
	type resized struct{ id, old string }
	pending, err := store.Collect(rows, func(row store.Scanner) (*resized, error) {
		var r resized
		return &r, row.Scan(&r.id, &r.old)
	})
	if err != nil {
		return err
	}
	for _, r := range pending {
		i := slices.IndexFunc(all, func(srv *server) bool { return srv.ID == r.id })
		var old flavor
		if i < 0 || json.Unmarshal([]byte(r.old), &old) != nil {
			continue
		}
		ids = append(ids, migrationConsumer(all[i]))
		if err := s.holdOld(ctx, all[i], old); err != nil {
			return err
		}
	}
	consumers, err := s.placement.Consumers(ctx, s.provider)
	if err != nil {
		return err
	}
	for _, c := range consumers {
		if !slices.Contains(ids, c) {
			if err := s.placement.Release(ctx, c); err != nil {
				return err
			}
		}
	}
	return nil
}
