package compute

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/sovcloud/sov/internal/store"
)

// Resize (Nova's resize, confirmResize and revertResize; openstack server
// resize [--confirm|--revert]): on sov's one host a resize is Nova's
// resize to the same host. The server claims the new flavor's resources
// in placement while its migration (a consumer of its own, as Nova's
// migration record) holds the old flavor's until the resize is confirmed
// or reverted, so the host needs room for both (without room the server
// stays as it was, the action failed), and a revert always fits. Its
// VM stops, its root disk is kept aside and grown to the new flavor's
// disk, and it starts again with the new vCPUs and memory (a stopped
// server stays stopped): VERIFY_RESIZE. Confirming drops the kept disk;
// reverting puts it back with the old flavor and its claim. Disks do not
// shrink (a smaller flavor disk is a 400); a volume-backed server changes
// only its vCPUs and memory.

// migrationConsumer is the placement consumer that holds a resized
// server's old flavor until the resize is confirmed or reverted.
func migrationConsumer(srv *server) string {
	return uuid.NewSHA1(uuid.NameSpaceURL, []byte("sov-resize:"+srv.ID)).String()
}

// holdOld has the server's migration hold the old flavor's resources.
func (s *Service) holdOld(ctx context.Context, srv *server, old flavor) error {
	was := *srv
	was.Flavor = old
	return s.placement.Claim(ctx, s.provider, migrationConsumer(srv), srv.ProjectID, srv.UserID, resources(&was), true)
}

// origDisk is where a resized server's root disk waits for the confirm.
func (s *Service) origDisk(srv *server) string {
	return filepath.Join(s.driver.Dir(srv.ID), "disk.qcow2.resize")
}

func (s *Service) resize(q *request, srv *server, arg map[string]any) error {
	ref, _ := arg["flavorRef"].(string)
	if ref == "" {
		return errorf(http.StatusBadRequest, "Invalid input for field/attribute resize. Value: flavorRef is a required property")
	}
	if srv.Status != "ACTIVE" && srv.Status != "SHUTOFF" {
		return errorf(http.StatusConflict, "Cannot 'resize' instance %s while it is in vm_state %s", srv.ID, srv.Status)
	}
	ctx := q.r.Context()
	flv, err := s.getFlavor(ctx, ref)
	if err != nil || !flv.Public && !q.admin() {
		return errorf(http.StatusBadRequest, "Flavor %s could not be found.", ref)
	}
	if flv.ID == srv.Flavor.ID {
		return errorf(http.StatusBadRequest, "When resizing, instances must change flavor!")
	}
	if srv.rootVolume() == nil && flv.Disk < srv.Flavor.Disk {
		return errorf(http.StatusBadRequest, "Resize error: Unable to resize disk down.")
	}
	if srv.ImageID != "" {
		if img, err := s.images.ForBootID(ctx, srv.ImageID); err == nil {
			if err := imageFits(img, flv, true); err != nil { // (the disk only grows)
				return err
			}
		}
	}
	old := srv.Flavor
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		if err := tx.Lock(ctx, "quota "+srv.ProjectID); err != nil {
			return err
		}
		// The quota counts the server at its new flavor from now on.
		if err := s.checkQuota(ctx, tx, srv.ProjectID, 0, flv.VCPUs-old.VCPUs, flv.RAM-old.RAM); err != nil {
			return err
		}
		return store.Affected(tx.Exec(ctx, `UPDATE servers SET status = 'RESIZE', task_state = 'resize_prep', old_flavor = ?, flavor = ?, updated_at = ?
			WHERE id = ? AND task_state = ''`, jsonString(old), jsonString(flv), time.Now().UnixMicro(), srv.ID))
	})
	if errors.Is(err, store.ErrNotFound) {
		return errorf(http.StatusConflict, "Cannot 'resize' instance %s while it is in a task", srv.ID)
	}
	if err != nil {
		return err
	}
	wasRunning := srv.Status == "ACTIVE"
	srv.Flavor = *flv
	s.ops.Go(s.record(q, srv, "resize"), "compute_resize_instance", func(ctx context.Context) error {
		if err := s.holdOld(ctx, srv, old); err != nil {
			return err
		}
		return s.resizeTo(ctx, srv, wasRunning)
	}, func(ctx context.Context, err error) {
		if err == nil {
			power := powerShutdown
			if wasRunning {
				power = powerRunning
			}
			s.setState(ctx, srv.ID, "VERIFY_RESIZE", "", power, "")
			return
		}
		s.log.Error("resize failed", "server", srv.ID, "err", err)
		s.undoResize(ctx, srv)
	})
	q.w.WriteHeader(http.StatusAccepted)
	return nil
}

// undoResize puts a server whose resize failed (or a stop of sov cut
// short) back as it was: its old flavor (old_flavor) and claim, the
// migration's released, its kept disk; ACTIVE if its VM runs, else
// SHUTOFF.
func (s *Service) undoResize(ctx context.Context, srv *server) {
	var raw string
	if err := s.db.QueryRow(ctx, `SELECT old_flavor FROM servers WHERE id = ?`, srv.ID).Scan(&raw); err != nil {
		s.log.Error("resize: the old flavor", "server", srv.ID, "err", err)
		return
	}
	var old flavor
	if json.Unmarshal([]byte(raw), &old) == nil {
		if _, err := s.db.Exec(ctx, `UPDATE servers SET flavor = ?, old_flavor = '' WHERE id = ?`, raw, srv.ID); err != nil {
			s.log.Error("resize: the old flavor", "server", srv.ID, "err", err)
		}
		was := *srv
		was.Flavor = old
		if err := s.placement.Claim(ctx, s.provider, srv.ID, srv.ProjectID, srv.UserID, resources(&was), true); err != nil {
			s.log.Error("resize: the old claim", "server", srv.ID, "err", err)
		}
	}
	if err := s.placement.Release(ctx, migrationConsumer(srv)); err != nil {
		s.log.Error("resize: the migration's claim", "server", srv.ID, "err", err)
	}
	if err := os.Rename(s.origDisk(srv), filepath.Join(s.driver.Dir(srv.ID), "disk.qcow2")); err != nil && !errors.Is(err, os.ErrNotExist) {
		s.log.Error("resize: the old disk", "server", srv.ID, "err", err)
	}
	status, power := "SHUTOFF", powerShutdown
	if running, _ := s.driver.Running(srv.ID); running {
		status, power = "ACTIVE", powerRunning
	}
	s.setState(ctx, srv.ID, status, "", power, "")
}

// resizeTo moves a server to its new flavor (srv.Flavor, recorded).
func (s *Service) resizeTo(ctx context.Context, srv *server, start bool) error {
	s.setState(ctx, srv.ID, "RESIZE", "resize_migrating", powerRunning, "")
	if err := s.claim(ctx, srv); err != nil {
		return err
	}
	if err := s.driver.Stop(srv.ID, 10*time.Second); err != nil {
		return err
	}
	if srv.rootVolume() == nil {
		if err := s.keepDisk(ctx, srv); err != nil {
			return err
		}
	}
	s.setState(ctx, srv.ID, "RESIZE", "resize_finish", powerShutdown, "")
	if !start {
		return nil // its next start is at the new flavor
	}
	return s.restart(ctx, srv)
}

// keepDisk puts a copy of the root disk aside (sparse) and grows the
// disk to the flavor's size.
func (s *Service) keepDisk(ctx context.Context, srv *server) error {
	disk := filepath.Join(s.driver.Dir(srv.ID), "disk.qcow2")
	if out, err := exec.CommandContext(ctx, "cp", "--sparse=always", "--reflink=auto", disk, s.origDisk(srv)).CombinedOutput(); err != nil {
		return fmt.Errorf("keeping the disk: %v: %s", err, out)
	}
	size, err := virtualSize(ctx, disk)
	if err != nil {
		return err
	}
	if want := int64(srv.Flavor.Disk) << 30; want > size {
		return qemuImg(ctx, "resize", "-q", "-f", "qcow2", disk, strconv.FormatInt(want, 10))
	}
	return nil
}

// confirmResize drops a resized server's kept disk and old flavor.
func (s *Service) confirmResize(q *request, srv *server) error {
	if srv.Status != "VERIFY_RESIZE" {
		return errorf(http.StatusConflict, "Cannot 'confirmResize' instance %s while it is in vm_state %s", srv.ID, srv.Status)
	}
	ctx := q.r.Context()
	if _, err := s.db.Exec(ctx, `UPDATE servers SET old_flavor = '' WHERE id = ?`, srv.ID); err != nil {
		return err
	}
	s.act(q, srv, "confirmResize", "compute_confirm_resize", func(ctx context.Context) error {
		if err := s.placement.Release(ctx, migrationConsumer(srv)); err != nil {
			return err
		}
		err := os.Remove(s.origDisk(srv))
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return err
	}, map[bool]string{true: "ACTIVE", false: "SHUTOFF"}[srv.PowerState == powerRunning])
	q.w.WriteHeader(http.StatusNoContent)
	return nil
}

// revertResize puts a resized server back: its kept disk, its old flavor
// and its old claim (forced: they were its own).
func (s *Service) revertResize(q *request, srv *server) error {
	if srv.Status != "VERIFY_RESIZE" {
		return errorf(http.StatusConflict, "Cannot 'revertResize' instance %s while it is in vm_state %s", srv.ID, srv.Status)
	}
	ctx := q.r.Context()
	var raw string
	if err := s.db.QueryRow(ctx, `SELECT old_flavor FROM servers WHERE id = ?`, srv.ID).Scan(&raw); err != nil {
		return store.Row(err)
	}
	var old flavor
	if err := json.Unmarshal([]byte(raw), &old); err != nil {
		return fmt.Errorf("the old flavor of %s: %w", srv.ID, err)
	}
	if _, err := s.db.Exec(ctx, `UPDATE servers SET status = 'REVERT_RESIZE', task_state = 'resize_reverting', flavor = ?, old_flavor = '', updated_at = ?
		WHERE id = ?`, raw, time.Now().UnixMicro(), srv.ID); err != nil {
		return err
	}
	running := srv.PowerState == powerRunning
	srv.Flavor = old
	s.act(q, srv, "revertResize", "compute_revert_resize", func(ctx context.Context) error {
		if err := s.placement.Claim(ctx, s.provider, srv.ID, srv.ProjectID, srv.UserID, resources(srv), true); err != nil {
			return err
		}
		if err := s.placement.Release(ctx, migrationConsumer(srv)); err != nil {
			return err
		}
		if err := s.driver.Stop(srv.ID, 10*time.Second); err != nil {
			return err
		}
		if srv.rootVolume() == nil {
			if err := os.Rename(s.origDisk(srv), filepath.Join(s.driver.Dir(srv.ID), "disk.qcow2")); err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
		}
		if !running {
			return nil
		}
		return s.restart(ctx, srv)
	}, map[bool]string{true: "ACTIVE", false: "SHUTOFF"}[running])
	q.w.WriteHeader(http.StatusAccepted)
	return nil
}
