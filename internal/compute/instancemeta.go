package compute

import (
	"net/http"
	"slices"
	"sort"
	"strings"

	"github.com/sovcloud/sov/internal/network"
)

// The metadata service, as Nova's: what a guest reads at
// http://169.254.169.254/ about itself. The network service listens there
// on each network, finds the server behind the request's source address
// and hands the request to ServeMetadata.

var ec2Versions = []string{"1.0", "2007-01-19", "2007-03-01", "2007-08-29", "2007-10-10", "2007-12-15",
	"2008-02-01", "2008-09-01", "2009-04-04", "latest"}

// ServeMetadata answers a metadata request of the server: the OpenStack
// tree (/openstack/<version>/meta_data.json, network_data.json, user_data,
// vendor_data.json) and the EC2 one (/<version>/meta-data/..., user-data).
func (s *Service) ServeMetadata(w http.ResponseWriter, r *http.Request, serverID string) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		http.Error(w, "405 Method Not Allowed", http.StatusMethodNotAllowed)
		return
	}
	ctx := r.Context()
	srv, err := s.loadServer(ctx, serverID)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	pub := ""
	if srv.KeyName != "" {
		pub, _ = s.keypairOf(ctx, srv.UserID, srv.KeyName)
	}
	all, err := s.attachments(ctx, srv)
	if err != nil {
		http.Error(w, "500 Internal Server Error", http.StatusInternalServerError)
		return
	}
	atts := all[srv.ID]
	files, err := openstackFiles(srv, pub, atts)
	if err != nil {
		http.Error(w, "500 Internal Server Error", http.StatusInternalServerError)
		return
	}
	path := strings.Trim(r.URL.Path, "/")
	parts := strings.Split(path, "/")
	switch {
	case path == "":
		text(w, append(slices.Clone(ec2Versions), "openstack"))
	case parts[0] == "openstack":
		switch {
		case len(parts) == 1:
			text(w, append(slices.Clone(openstackVersions[1:]), "latest"))
		case !slices.Contains(openstackVersions, parts[1]):
			http.NotFound(w, r)
		case len(parts) == 2:
			var names []string
			for name := range files {
				names = append(names, name)
			}
			sort.Strings(names)
			text(w, names)
		case len(parts) == 3 && files[parts[2]] != nil:
			if strings.HasSuffix(parts[2], ".json") {
				w.Header().Set("Content-Type", "application/json")
			} else {
				w.Header().Set("Content-Type", "text/plain")
			}
			w.Write(files[parts[2]])
		default:
			http.NotFound(w, r)
		}
	case slices.Contains(ec2Versions, parts[0]):
		s.ec2(w, r, srv, pub, atts, files, parts[1:])
	default:
		http.NotFound(w, r)
	}
}

// ec2 answers the EC2 tree of one version: parts is the path below it.
func (s *Service) ec2(w http.ResponseWriter, r *http.Request, srv *server, pub string, atts []network.Attachment, files map[string][]byte, parts []string) {
	if len(parts) == 0 || parts[0] == "" {
		items := []string{"meta-data/"}
		if files["user_data"] != nil {
			items = append(items, "user-data")
		}
		text(w, items)
		return
	}
	if parts[0] == "user-data" && len(parts) == 1 {
		if files["user_data"] == nil {
			http.NotFound(w, r)
			return
		}
		w.Write(files["user_data"])
		return
	}
	if parts[0] != "meta-data" {
		http.NotFound(w, r)
		return
	}
	local, public := "", ""
	var groups []string
	for _, a := range atts {
		for _, ip := range a.IPs {
			if ip.Address.Is4() && local == "" {
				local = ip.Address.String()
			}
		}
		if len(a.FloatingIPs) > 0 && public == "" {
			public = a.FloatingIPs[0]
		}
		for _, g := range a.SecurityGroups {
			if !slices.Contains(groups, g) {
				groups = append(groups, g)
			}
		}
	}
	host := hostname(srv.Name)
	values := map[string]string{
		"ami-id": "ami-" + shortID(srv.ImageID), "ami-launch-index": "0",
		"hostname": host, "instance-action": "none", "instance-id": "i-" + shortID(srv.ID), "instance-type": srv.Flavor.Name,
		"local-hostname": host, "local-ipv4": local, "public-hostname": host, "public-ipv4": public,
		"reservation-id": "r-" + shortID(srv.ID), "security-groups": strings.Join(groups, "\n"),
		"placement/availability-zone": "nova",
	}
	key := strings.Join(parts[1:], "/")
	switch {
	case key == "":
		items := []string{"placement/"}
		for k := range values {
			if !strings.Contains(k, "/") {
				items = append(items, k)
			}
		}
		if pub != "" {
			items = append(items, "public-keys/")
		}
		sort.Strings(items)
		text(w, items)
	case key == "placement":
		text(w, []string{"availability-zone"})
	case strings.HasPrefix(key, "public-keys") && pub != "":
		switch strings.TrimPrefix(key, "public-keys") {
		case "":
			text(w, []string{"0=" + srv.KeyName})
		case "/0":
			text(w, []string{"openssh-key"})
		case "/0/openssh-key":
			w.Write([]byte(pub))
		default:
			http.NotFound(w, r)
		}
	case values[key] != "" || key == "public-ipv4" || key == "security-groups":
		w.Write([]byte(values[key]))
	default:
		http.NotFound(w, r)
	}
}

// shortID is the first 8 hex digits of a uuid, for EC2-style ids.
func shortID(id string) string {
	id = strings.ReplaceAll(id, "-", "")
	if len(id) > 8 {
		id = id[:8]
	}
	return id
}

func text(w http.ResponseWriter, lines []string) {
	w.Header().Set("Content-Type", "text/plain")
	w.Write([]byte(strings.Join(lines, "\n")))
}
