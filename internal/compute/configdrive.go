package compute

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// configDrive writes an OpenStack config drive (an ISO 9660 image labelled
// config-2) with meta_data.json, user_data and network_data.json, as
// cloud-init's ConfigDrive datasource reads it.
func configDrive(path string, srv *server, publicKey string) error {
	dir, err := os.MkdirTemp(filepath.Dir(path), "configdrive-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	seed := make([]byte, 512)
	rand.Read(seed)
	meta := map[string]any{"uuid": srv.ID, "name": srv.Name, "hostname": hostname(srv.Name), "launch_index": 0,
		"availability_zone": "nova", "project_id": srv.ProjectID, "meta": srv.Metadata, "devices": []any{},
		"random_seed": base64.StdEncoding.EncodeToString(seed)}
	if srv.KeyName != "" {
		meta["public_keys"] = map[string]string{srv.KeyName: publicKey}
		meta["keys"] = []map[string]string{{"name": srv.KeyName, "type": "ssh", "data": publicKey}}
	}
	network := map[string]any{"links": []any{}, "networks": []any{}, "services": []any{}}
	if srv.MAC != "" {
		network = map[string]any{
			"links":    []map[string]any{{"id": "tap0", "type": "phy", "ethernet_mac_address": srv.MAC, "mtu": 1500, "vif_id": srv.ID}},
			"networks": []map[string]any{{"id": "network0", "type": "ipv4_dhcp", "link": "tap0", "network_id": networkName}},
			"services": []any{},
		}
	}
	files := map[string]any{"meta_data.json": meta, "network_data.json": network, "vendor_data.json": map[string]any{}, "vendor_data2.json": map[string]any{}}
	for _, version := range []string{"latest", "2018-08-27", "2012-08-10"} {
		d := filepath.Join(dir, "openstack", version)
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
		for name, v := range files {
			b, _ := json.Marshal(v)
			if err := os.WriteFile(filepath.Join(d, name), b, 0o644); err != nil {
				return err
			}
		}
		if srv.UserData != "" {
			data, err := base64.StdEncoding.DecodeString(srv.UserData)
			if err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(d, "user_data"), data, 0o644); err != nil {
				return err
			}
		}
	}
	out, err := exec.Command("genisoimage", "-quiet", "-o", path, "-V", "config-2", "-r", "-J", "-l", dir).CombinedOutput()
	if err != nil {
		return fmt.Errorf("config drive: genisoimage: %v: %s", err, out)
	}
	return nil
}
