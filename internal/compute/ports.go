package compute

import (
	"context"
	"encoding/json"
	"net/http"
	"net/netip"
	"slices"

	"github.com/google/uuid"

	"github.com/sovcloud/sov/internal/httpapi"
	"github.com/sovcloud/sov/internal/network"
	"github.com/sovcloud/sov/internal/policy"
)

// Ports is what compute needs of the network service: the networks a
// project boots on by default, ports for a server, their binding to this
// host and their release (see network.Service, which implements it).
type Ports interface {
	BootNetworks(ctx context.Context, c *policy.Credentials) ([]string, error)
	Allocate(ctx context.Context, c *policy.Credentials, serverID string, nics []network.NIC) error
	Plug(ctx context.Context, serverID string, portIDs []string) ([]network.Attachment, error)
	Release(ctx context.Context, serverID string, made, given []string) error
	ServerAttachments(ctx context.Context, ports map[string][]string) (map[string][]network.Attachment, error)
	SetServerGroup(ctx context.Context, serverID, project string, portIDs []string, group string, add bool) error
}

// serverPort is one of a server's ports, in the order of its NICs.
type serverPort struct {
	ID string `json:"id"`
	// Made is true for a port compute made for the server (on a network the
	// request named), which goes with it; a port the user gave stays.
	Made bool `json:"made,omitempty"`
}

func portIDs(ps []serverPort) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.ID
	}
	return out
}

// madeAndGiven splits a server's ports into those compute made and the others.
func madeAndGiven(ps []serverPort) (made, given []string) {
	for _, p := range ps {
		if p.Made {
			made = append(made, p.ID)
		} else {
			given = append(given, p.ID)
		}
	}
	return made, given
}

// requestedNetwork is one entry of a create request's "networks".
type requestedNetwork struct {
	UUID    string `json:"uuid"`
	Port    string `json:"port"`
	FixedIP string `json:"fixed_ip"`
	Tag     string `json:"tag"`
}

// nics reads a create request's "networks": a list of networks and
// ports, or (from 2.37, where it is required) "auto" or "none". Without
// it, and with "auto", a server is on the project's only network; with
// several, the request must name one. The new ports' ids are chosen here.
func (s *Service) nics(q *request, raw json.RawMessage) ([]network.NIC, error) {
	var word string
	var list []requestedNetwork
	switch {
	case len(raw) == 0 || string(raw) == "null":
		if q.atLeast(37) {
			return nil, errorf(http.StatusBadRequest, "Invalid input for field/attribute networks. Value: None. 'networks' is a required property")
		}
		word = "default"
	case json.Unmarshal(raw, &word) == nil:
		if !q.atLeast(37) || (word != "auto" && word != "none") {
			return nil, errorf(http.StatusBadRequest, "Invalid input for field/attribute networks. Value: %s.", raw)
		}
	default:
		if err := json.Unmarshal(raw, &list); err != nil {
			return nil, errorf(http.StatusBadRequest, "Invalid input for field/attribute networks. Value: %s.", raw)
		}
	}
	switch word {
	case "none":
		return nil, nil
	case "auto", "default":
		ids, err := s.ports.BootNetworks(q.r.Context(), q.creds)
		if err != nil {
			return nil, err
		}
		switch {
		case len(ids) > 1:
			return nil, errorf(http.StatusConflict, "Multiple possible networks found, use a Network ID to be more specific.")
		case len(ids) == 1:
			return []network.NIC{{PortID: uuid.NewString(), NetworkID: ids[0]}}, nil
		case word == "auto":
			return nil, errorf(http.StatusBadRequest, "Unable to automatically allocate a network for project %s", q.creds.ProjectID)
		}
		return nil, nil
	}
	var nics []network.NIC
	var given []string
	for _, n := range list {
		if n.Tag != "" && !q.atLeast(32) {
			return nil, errorf(http.StatusBadRequest, "Invalid input for field/attribute tag.")
		}
		switch {
		case n.Port != "":
			if n.FixedIP != "" {
				return nil, errorf(http.StatusBadRequest, "Invalid input for field/attribute fixed_ip: a port's addresses are the port's.")
			}
			if slices.Contains(given, n.Port) {
				return nil, errorf(http.StatusBadRequest, "Port %s is given more than once.", n.Port)
			}
			given = append(given, n.Port)
			nics = append(nics, network.NIC{PortID: n.Port})
		case n.UUID != "":
			if n.FixedIP != "" {
				if _, err := netip.ParseAddr(n.FixedIP); err != nil {
					return nil, errorf(http.StatusBadRequest, "Invalid input for field/attribute fixed_ip. Value: %s. '%s' is not a valid IP address", n.FixedIP, n.FixedIP)
				}
			}
			nics = append(nics, network.NIC{PortID: uuid.NewString(), NetworkID: n.UUID, FixedIP: n.FixedIP})
		default:
			return nil, errorf(http.StatusBadRequest, "Invalid input for field/attribute networks: each needs a uuid or a port.")
		}
	}
	return nics, nil
}

// serverPorts are the ports a server's NICs ask for, as the server keeps them.
func serverPorts(nics []network.NIC) []serverPort {
	out := make([]serverPort, len(nics))
	for i, n := range nics {
		out[i] = serverPort{ID: n.PortID, Made: n.NetworkID != ""}
	}
	return out
}

// allocationError is what a create request answers for a port the
// network refused: Nova's 400 for networks and ports it cannot find.
func allocationError(err error) error {
	p := httpapi.Classify(err)
	if p.Status == http.StatusNotFound {
		return errorf(http.StatusBadRequest, "%s", p.Message)
	}
	return err
}

// attachments are the ports of the servers, keyed by server.
func (s *Service) attachments(ctx context.Context, srvs ...*server) (map[string][]network.Attachment, error) {
	want := map[string][]string{}
	for _, srv := range srvs {
		if len(srv.Ports) > 0 {
			want[srv.ID] = portIDs(srv.Ports)
		}
	}
	return s.ports.ServerAttachments(ctx, want)
}

// addresses is a server's "addresses": its fixed and floating addresses
// by network name.
func addresses(atts []network.Attachment) map[string]any {
	out := map[string]any{}
	for _, a := range atts {
		var list []map[string]any
		if l, ok := out[a.NetworkName].([]map[string]any); ok {
			list = l
		}
		for _, ip := range a.IPs {
			list = append(list, map[string]any{"version": version(ip.Address), "addr": ip.Address.String(),
				"OS-EXT-IPS:type": "fixed", "OS-EXT-IPS-MAC:mac_addr": a.MAC})
		}
		for _, f := range a.FloatingIPs {
			ip, _ := netip.ParseAddr(f)
			list = append(list, map[string]any{"version": version(ip), "addr": f, "OS-EXT-IPS:type": "floating", "OS-EXT-IPS-MAC:mac_addr": a.MAC})
		}
		out[a.NetworkName] = list
	}
	return out
}

func version(a netip.Addr) int {
	if a.Is4() {
		return 4
	}
	return 6
}

// securityGroups is a server's "security_groups": its ports' groups by name.
func securityGroups(atts []network.Attachment) []map[string]string {
	var names []string
	for _, a := range atts {
		for _, g := range a.SecurityGroups {
			if !slices.Contains(names, g) {
				names = append(names, g)
			}
		}
	}
	out := []map[string]string{}
	for _, n := range names {
		out = append(out, map[string]string{"name": n})
	}
	return out
}
