package cli_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// cinder sends one request to the block storage API and decodes the answer.
func cinder(base, token, method, path, body string, out any) int {
	return apiRequest(base+"/"+path, token, method, body, out)
}

// TestKillKeepsVolumesTruthful kills sov with SIGKILL while volumes are
// created, extended, snapshotted and deleted; after the restart every
// volume and snapshot settles in a stable status (none stays creating,
// extending or deleting), every volume acknowledged and not deleted is
// listed, and the files on disk are exactly the listed volumes' and the
// available snapshots'.
func TestKillKeepsVolumesTruthful(t *testing.T) {
	dir := t.TempDir()
	cmd, authURL, _ := sovProcess(t, dir)
	pw, _ := os.ReadFile(dir + "/admin-password")
	password := strings.TrimSpace(string(pw))
	tok, _, project := adminToken(t, authURL, password)
	base := strings.TrimSuffix(authURL, "/identity/v3") + "/volume/v3"
	if st := cinder(base, tok, "PUT", "os-quota-sets/"+project, `{"quota_set": {"volumes": -1, "gigabytes": -1, "snapshots": -1}}`, nil); st != 200 {
		t.Fatalf("quota update = %d", st)
	}

	var wg sync.WaitGroup
	var mu sync.Mutex
	var kept []string
	acked := 0
	stop := make(chan struct{})
	for w := 0; w < 3; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				var v struct{ Volume struct{ ID string } }
				if cinder(base, tok, "POST", "volumes", `{"volume": {"size": 1}}`, &v) != 202 {
					return
				}
				mu.Lock()
				acked++
				mu.Unlock()
				switch i % 4 {
				case 0: // deleted once available
					for cinder(base, tok, "DELETE", "volumes/"+v.Volume.ID, "", nil) == 400 {
						time.Sleep(10 * time.Millisecond)
					}
				case 1: // extended once available
					for cinder(base, tok, "POST", "volumes/"+v.Volume.ID+"/action", `{"os-extend": {"new_size": 2}}`, nil) == 400 {
						time.Sleep(10 * time.Millisecond)
					}
					mu.Lock()
					kept = append(kept, v.Volume.ID)
					mu.Unlock()
				case 2: // snapshotted once available
					for cinder(base, tok, "POST", "snapshots", `{"snapshot": {"volume_id": "`+v.Volume.ID+`"}}`, nil) == 400 {
						time.Sleep(10 * time.Millisecond)
					}
					fallthrough
				default:
					mu.Lock()
					kept = append(kept, v.Volume.ID)
					mu.Unlock()
				}
			}
		}()
	}
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(5 * time.Millisecond) {
		mu.Lock()
		n := acked
		mu.Unlock()
		if n >= 15 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d volumes made in a minute", n)
		}
	}
	cmd.Process.Signal(syscall.SIGKILL)
	close(stop)
	wg.Wait()
	cmd.Wait()

	_, authURL, _ = sovProcess(t, dir)
	tok, _, _ = adminToken(t, authURL, password)
	base = strings.TrimSuffix(authURL, "/identity/v3") + "/volume/v3"
	var list struct {
		Volumes []struct{ ID, Status string }
	}
	for end := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if st := cinder(base, tok, "GET", "volumes/detail", "", &list); st != 200 {
			t.Fatalf("volume list = %d", st)
		}
		settled := true
		for _, v := range list.Volumes {
			settled = settled && v.Status != "deleting"
		}
		if settled || time.Now().After(end) {
			break
		}
	}
	var listed []string
	for _, v := range list.Volumes {
		if v.Status != "available" && v.Status != "error" && v.Status != "error_extending" {
			t.Errorf("volume %s is %s after the restart", v.ID, v.Status)
		}
		listed = append(listed, v.ID)
	}
	for _, id := range kept {
		if !slices.Contains(listed, id) {
			t.Errorf("acknowledged volume %s is gone", id)
		}
	}
	files, _ := filepath.Glob(filepath.Join(dir, "volumes", "*.qcow2*"))
	var onDisk []string
	for _, f := range files {
		onDisk = append(onDisk, strings.TrimSuffix(filepath.Base(f), ".qcow2"))
	}
	slices.Sort(onDisk)
	slices.Sort(listed)
	var made []string // volumes whose creation was cut short have no file
	for _, id := range listed {
		if slices.Contains(onDisk, id) {
			made = append(made, id)
		}
	}
	if !slices.Equal(onDisk, made) {
		t.Errorf("files on disk %v, listed volumes %v", onDisk, listed)
	}
	for _, v := range list.Volumes {
		if v.Status == "available" && !slices.Contains(onDisk, v.ID) {
			t.Errorf("available volume %s has no file", v.ID)
		}
	}
	// Snapshots the same: settled, and their files exactly the available ones'.
	var snaps struct {
		Snapshots []struct{ ID, Status string }
	}
	for end := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if st := cinder(base, tok, "GET", "snapshots/detail", "", &snaps); st != 200 {
			t.Fatalf("snapshot list = %d", st)
		}
		settled := true
		for _, sn := range snaps.Snapshots {
			settled = settled && sn.Status != "deleting"
		}
		if settled || time.Now().After(end) {
			break
		}
	}
	files, _ = filepath.Glob(filepath.Join(dir, "volumes", "snapshots", "*.qcow2*"))
	var snapFiles, available []string
	for _, f := range files {
		snapFiles = append(snapFiles, strings.TrimSuffix(filepath.Base(f), ".qcow2"))
	}
	for _, sn := range snaps.Snapshots {
		switch sn.Status {
		case "available":
			available = append(available, sn.ID)
		case "error":
		default:
			t.Errorf("snapshot %s is %s after the restart", sn.ID, sn.Status)
		}
	}
	slices.Sort(snapFiles)
	slices.Sort(available)
	if !slices.Equal(snapFiles, available) {
		t.Errorf("snapshot files %v, available snapshots %v", snapFiles, available)
	}
}
