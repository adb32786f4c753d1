package cli_test

import (
	"encoding/json"
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
// created, extended, snapshotted, backed up and deleted; after the
// restart every volume, snapshot and backup settles in a stable status
// (none stays creating, extending, backing-up or deleting), every volume
// acknowledged and not deleted is listed, and the files on disk are
// exactly the listed volumes' and the available snapshots'.
func TestKillKeepsVolumesTruthful(t *testing.T) {
	dir := t.TempDir()
	cmd, authURL, _ := sovProcess(t, dir)
	pw, _ := os.ReadFile(dir + "/admin-password")
	password := strings.TrimSpace(string(pw))
	tok, _, project := adminToken(t, authURL, password)
	base := strings.TrimSuffix(authURL, "/identity/v3") + "/volume/v3"
	if st := cinder(base, tok, "PUT", "os-quota-sets/"+project, `{"quota_set": {"volumes": -1, "gigabytes": -1, "snapshots": -1, "backups": -1, "backup_gigabytes": -1}}`, nil); st != 200 {
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
				switch i % 5 {
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
				case 3: // backed up once available
					for i%5 == 3 && cinder(base, tok, "POST", "backups", `{"backup": {"volume_id": "`+v.Volume.ID+`"}}`, nil) == 400 {
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
	// Backups the same: settled (made or an error), none left deleting.
	var bks struct {
		Backups []struct{ ID, Status string }
	}
	for end := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if st := cinder(base, tok, "GET", "backups/detail", "", &bks); st != 200 {
			t.Fatalf("backup list = %d", st)
		}
		settled := true
		for _, b := range bks.Backups {
			settled = settled && b.Status != "deleting"
		}
		if settled || time.Now().After(end) {
			break
		}
	}
	for _, b := range bks.Backups {
		if b.Status != "available" && b.Status != "error" {
			t.Errorf("backup %s is %s after the restart", b.ID, b.Status)
		}
	}
}

// TestKillSettlesVolumeAttachments kills sov with SIGKILL while volumes
// are attached to and detached from a running server, again and again;
// after the restart each volume is either in-use, attached in the
// server's record and in its VM's spec, or available and in neither (an
// attach or detach cut short is finished or undone), and a volume left
// attached detaches.
func TestKillSettlesVolumeAttachments(t *testing.T) {
	t.Parallel()
	requireOpenStackCLI(t)
	dir := t.TempDir()
	cmd, authURL, _ := sovProcess(t, dir)
	run := func(ok bool, args ...string) string {
		return osc(t, filepath.Join(dir, "clouds.yaml"), ok, append([]string{"--os-cloud", "sov"}, args...)...)
	}
	uploadGuestCLI(t, run)
	var vm map[string]any
	jsonOut(t, run(true, "--os-compute-api-version", "2.37", "server", "create", "--image", "guest", "--flavor", "SCS-1L-1", "--nic", "none", "--wait", "-f", "json", "vm"), &vm)
	serverID := vm["id"].(string)
	for end := time.Now().Add(120 * time.Second); !strings.Contains(run(true, "console", "log", "show", "vm"), "sov-guest: ready"); time.Sleep(time.Second) {
		if time.Now().After(end) {
			t.Fatal("the guest is not ready after 120 s")
		}
	}
	var vols []string
	for _, name := range []string{"v1", "v2"} {
		var v map[string]any
		jsonOut(t, run(true, "volume", "create", "--size", "1", "-f", "json", name), &v)
		waitVolumeCLI(t, run, name, "available")
		vols = append(vols, v["id"].(string))
	}

	pw, _ := os.ReadFile(dir + "/admin-password")
	password := strings.TrimSpace(string(pw))
	tok, _, _ := adminToken(t, authURL, password)
	nova := strings.TrimSuffix(authURL, "/identity/v3") + "/compute/v2.1/servers/" + serverID + "/os-volume_attachments"
	var mu sync.Mutex
	done := 0
	stopped := make(chan struct{})
	go func() { // attach v1, attach v2, detach v1, detach v2, ...
		defer close(stopped)
		for i := 0; ; i++ {
			vol := vols[i%2]
			st := apiRequest(nova, tok, "POST", `{"volumeAttachment": {"volumeId": "`+vol+`"}}`, nil)
			if i%4 >= 2 {
				st = apiRequest(nova+"/"+vol, tok, "DELETE", "", nil)
			}
			if st == 0 {
				return
			}
			mu.Lock()
			done++
			mu.Unlock()
		}
	}()
	for end := time.Now().Add(2 * time.Minute); ; time.Sleep(10 * time.Millisecond) {
		mu.Lock()
		n := done
		mu.Unlock()
		if n >= 5 {
			break
		}
		if time.Now().After(end) {
			t.Fatalf("only %d attaches and detaches in two minutes", n)
		}
	}
	time.Sleep(time.Duration(time.Now().UnixNano()%700) * time.Millisecond) // somewhere in the next one
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	<-stopped

	_, authURL, _ = sovProcess(t, dir)
	tok, _, _ = adminToken(t, authURL, password)
	nova = strings.TrimSuffix(authURL, "/identity/v3") + "/compute/v2.1/servers/" + serverID + "/os-volume_attachments"
	cinderURL := strings.TrimSuffix(authURL, "/identity/v3") + "/volume/v3"
	type vol struct {
		ID, Status  string
		Attachments []struct {
			ServerID string `json:"server_id"`
		}
	}
	var list struct{ Volumes []vol }
	// A detach the restart finishes waits for the guest as any does: up
	// to 8 asks of 20 s each for a busy one (Nova's device_detach_*).
	for end := time.Now().Add(200 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		if st := cinder(cinderURL, tok, "GET", "volumes/detail", "", &list); st != 200 {
			t.Fatalf("volume list = %d", st)
		}
		settled := len(list.Volumes) == 2
		for _, v := range list.Volumes {
			settled = settled && (v.Status == "available" || v.Status == "in-use")
		}
		if settled {
			break
		}
		if time.Now().After(end) {
			t.Fatalf("volumes after the restart: %+v", list.Volumes)
		}
	}
	var atts struct {
		VolumeAttachments []struct{ VolumeID string } `json:"volumeAttachments"`
	}
	if st := apiRequest(nova, tok, "GET", "", &atts); st != 200 {
		t.Fatalf("attachment list = %d", st)
	}
	var spec struct{ Volumes []struct{ Serial string } }
	b, err := os.ReadFile(filepath.Join(dir, "instances", serverID, "spec.json"))
	if err != nil || json.Unmarshal(b, &spec) != nil {
		t.Fatalf("the VM's spec: %v", err)
	}
	for _, v := range list.Volumes {
		inServer := slices.ContainsFunc(atts.VolumeAttachments, func(a struct{ VolumeID string }) bool { return a.VolumeID == v.ID })
		inVM := slices.ContainsFunc(spec.Volumes, func(s struct{ Serial string }) bool { return s.Serial == v.ID })
		attached := v.Status == "in-use"
		if inServer != attached || inVM != attached || (len(v.Attachments) == 1) != attached || attached && v.Attachments[0].ServerID != serverID {
			t.Errorf("volume %s is %s with attachments %+v; in the server's record %v, in its VM %v", v.ID, v.Status, v.Attachments, inServer, inVM)
		}
		if attached {
			if st := apiRequest(nova+"/"+v.ID, tok, "DELETE", "", nil); st != 202 {
				t.Errorf("detach %s after the restart = %d", v.ID, st)
			}
		}
	}
	for _, name := range []string{"v1", "v2"} {
		waitVolumeCLI(t, run, name, "available")
	}
}
