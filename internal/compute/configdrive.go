package compute

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/sovcloud/sov/internal/network"
)

// configDrive writes an OpenStack config drive (an ISO 9660 image labelled
// config-2) with meta_data.json, user_data and network_data.json (of the
// server's ports atts), as cloud-init's ConfigDrive datasource reads it.
func configDrive(path string, srv *server, publicKey string, atts []network.Attachment) error {
	dir, err := os.MkdirTemp(filepath.Dir(path), "configdrive-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	files, err := openstackFiles(srv, publicKey, atts)
	if err != nil {
		return err
	}
	for _, version := range openstackVersions {
		d := filepath.Join(dir, "openstack", version)
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
		for name, b := range files {
			if err := os.WriteFile(filepath.Join(d, name), b, 0o644); err != nil {
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

// openstackVersions are the metadata versions sov writes and serves.
var openstackVersions = []string{"latest", "2018-08-27", "2012-08-10"}

// openstackFiles are the files of one version of the OpenStack metadata
// (config drive and metadata service): meta_data.json, network_data.json,
// vendor data, and user_data if the server has some.
func openstackFiles(srv *server, publicKey string, atts []network.Attachment) (map[string][]byte, error) {
	seed := make([]byte, 512)
	rand.Read(seed)
	meta := map[string]any{"uuid": srv.ID, "name": srv.Name, "hostname": hostname(srv.Name), "launch_index": 0,
		"availability_zone": "nova", "project_id": srv.ProjectID, "meta": srv.Metadata, "devices": []any{},
		"random_seed": base64.StdEncoding.EncodeToString(seed)}
	if srv.KeyName != "" {
		meta["public_keys"] = map[string]string{srv.KeyName: publicKey}
		meta["keys"] = []map[string]string{{"name": srv.KeyName, "type": "ssh", "data": publicKey}}
	}
	files := map[string][]byte{}
	for name, v := range map[string]any{"meta_data.json": meta, "network_data.json": networkData(atts),
		"vendor_data.json": map[string]any{}, "vendor_data2.json": map[string]any{}} {
		files[name], _ = json.Marshal(v)
	}
	if srv.UserData != "" {
		data, err := base64.StdEncoding.DecodeString(srv.UserData)
		if err != nil {
			return nil, err
		}
		files["user_data"] = data
	}
	return files, nil
}

// networkData is network_data.json as Nova writes it: a link per port,
// a network per fixed address (DHCP, SLAAC or static with its routes),
// and the DNS servers.
func networkData(atts []network.Attachment) map[string]any {
	links, networks, services := []any{}, []any{}, []any{}
	var dns []string
	for _, a := range atts {
		links = append(links, map[string]any{"id": a.Device, "vif_id": a.PortID, "type": "tap", "mtu": a.MTU, "ethernet_mac_address": a.MAC})
		for _, ip := range a.IPs {
			n := map[string]any{"id": "network" + strconv.Itoa(len(networks)), "link": a.Device, "network_id": a.NetworkID}
			switch {
			case ip.Address.Is4() && ip.DHCP:
				n["type"] = "ipv4_dhcp"
			case ip.Address.Is6() && ip.IPv6Mode != "":
				n["type"] = "ipv6_" + ip.IPv6Mode
			default:
				kind := "ipv4"
				if ip.Address.Is6() {
					kind = "ipv6"
				}
				n["type"], n["ip_address"], n["netmask"] = kind, ip.Address.String(), netmask(ip.CIDR)
				routes := []any{}
				if ip.Gateway.IsValid() {
					dflt := netip.PrefixFrom(netip.IPv4Unspecified(), 0)
					if ip.Address.Is6() {
						dflt = netip.PrefixFrom(netip.IPv6Unspecified(), 0)
					}
					routes = append(routes, map[string]any{"network": dflt.Addr().String(), "netmask": netmask(dflt), "gateway": ip.Gateway.String()})
				}
				for _, r := range ip.Routes {
					routes = append(routes, map[string]any{"network": r.Destination.Addr().String(), "netmask": netmask(r.Destination), "gateway": r.Nexthop.String()})
				}
				n["routes"] = routes
			}
			for _, d := range ip.DNS {
				if !slices.Contains(dns, d.String()) {
					dns = append(dns, d.String())
					services = append(services, map[string]any{"type": "dns", "address": d.String()})
				}
			}
			networks = append(networks, n)
		}
	}
	return map[string]any{"links": links, "networks": networks, "services": services}
}

// netmask is a prefix's mask written as an address (255.255.255.0, ffff:ffff:ffff:ffff::).
func netmask(p netip.Prefix) string {
	m := net.CIDRMask(p.Bits(), p.Addr().BitLen())
	a, _ := netip.AddrFromSlice(m)
	return a.String()
}
