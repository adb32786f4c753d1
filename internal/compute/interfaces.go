package compute

import (
	"context"
	"net/http"
	"slices"

	"github.com/google/uuid"

	"github.com/sovcloud/sov/internal/httpapi"
	"github.com/sovcloud/sov/internal/hypervisor"
	"github.com/sovcloud/sov/internal/network"
	"github.com/sovcloud/sov/internal/network/dataplane"
)

// os-interface: a server's ports, and ports attached to it or detached
// from it later — plugged into its running VM (PCIe hot-plug) or, for a
// stopped server, at its next start.

func interfaceView(a network.Attachment) map[string]any {
	ips := []map[string]string{}
	for _, ip := range a.IPs {
		ips = append(ips, map[string]string{"subnet_id": ip.SubnetID, "ip_address": ip.Address.String()})
	}
	return map[string]any{"port_state": a.Status, "fixed_ips": ips, "port_id": a.PortID, "net_id": a.NetworkID, "mac_addr": a.MAC}
}

func (s *Service) listInterfaces(q *request) error {
	srv, err := s.serverFor(q)
	if err != nil {
		return err
	}
	if err := q.enforce("os_compute_api:os-attach-interfaces:list", srv.ProjectID); err != nil {
		return err
	}
	atts, err := s.attachments(q.r.Context(), srv)
	if err != nil {
		return err
	}
	out := []map[string]any{}
	for _, a := range atts[srv.ID] {
		out = append(out, interfaceView(a))
	}
	httpapi.WriteJSON(q.w, http.StatusOK, map[string]any{"interfaceAttachments": out})
	return nil
}

func (s *Service) showInterface(q *request) error {
	srv, err := s.serverFor(q)
	if err != nil {
		return err
	}
	if err := q.enforce("os_compute_api:os-attach-interfaces:show", srv.ProjectID); err != nil {
		return err
	}
	atts, err := s.attachments(q.r.Context(), srv)
	if err != nil {
		return err
	}
	for _, a := range atts[srv.ID] {
		if a.PortID == q.r.PathValue("port_id") {
			httpapi.WriteJSON(q.w, http.StatusOK, map[string]any{"interfaceAttachment": interfaceView(a)})
			return nil
		}
	}
	return errorf(http.StatusNotFound, "Instance %s is not attached to port %s.", srv.ID, q.r.PathValue("port_id"))
}

// interfaceServer is the server of an attach or detach request, which
// must be ACTIVE or SHUTOFF and between tasks; the caller holds its lock.
func (s *Service) interfaceServer(q *request, action, verb string) (*server, func(), error) {
	srv, err := s.serverFor(q)
	if err != nil {
		return nil, nil, err
	}
	if err := q.enforce(action, srv.ProjectID); err != nil {
		return nil, nil, err
	}
	unlock := s.ops.Lock(srv.ID)
	if srv, err = s.loadServer(q.r.Context(), srv.ID); err != nil { // as it is now, under the lock
		unlock()
		return nil, nil, err
	}
	if (srv.Status != "ACTIVE" && srv.Status != "SHUTOFF") || srv.TaskState != "" {
		unlock()
		return nil, nil, errorf(http.StatusConflict, "Cannot '%s' instance %s while it is in vm_state %s", verb, srv.ID, srv.Status)
	}
	return srv, unlock, nil
}

func (s *Service) attachInterface(q *request) error {
	var body struct {
		Attachment *struct {
			PortID   string `json:"port_id"`
			NetID    string `json:"net_id"`
			FixedIPs []struct {
				IPAddress string `json:"ip_address"`
			} `json:"fixed_ips"`
			Tag string `json:"tag"`
		} `json:"interfaceAttachment"`
	}
	if err := httpapi.DecodeJSON(q.r, &body); err != nil {
		return err
	}
	b := body.Attachment
	if b == nil || (b.PortID == "" && b.NetID == "") {
		return errorf(http.StatusBadRequest, "Invalid input for field/attribute interfaceAttachment: a port_id or a net_id is required.")
	}
	if b.PortID != "" && (b.NetID != "" || len(b.FixedIPs) > 0) {
		return errorf(http.StatusBadRequest, "Invalid input for field/attribute interfaceAttachment: a port_id comes alone.")
	}
	if len(b.FixedIPs) > 1 {
		return errorf(http.StatusBadRequest, "Invalid input for field/attribute fixed_ips: at most one.")
	}
	srv, unlock, err := s.interfaceServer(q, "os_compute_api:os-attach-interfaces:create", "attach_interface")
	if err != nil {
		return err
	}
	defer unlock()
	nic := network.NIC{PortID: b.PortID}
	if b.PortID == "" {
		nic = network.NIC{PortID: uuid.NewString(), NetworkID: b.NetID}
		if len(b.FixedIPs) == 1 {
			nic.FixedIP = b.FixedIPs[0].IPAddress
		}
	} else if slices.ContainsFunc(srv.Ports, func(p serverPort) bool { return p.ID == b.PortID }) {
		return errorf(http.StatusConflict, "Port %s is still in use.", b.PortID)
	}
	ctx := q.r.Context()
	ports := append(slices.Clone(srv.Ports), serverPorts([]network.NIC{nic})...)
	// The server names the port first, so a crash leaves no port it does not name.
	if err := s.setPorts(ctx, srv.ID, ports); err != nil {
		return err
	}
	fail := func(err error) error {
		s.setPorts(ctx, srv.ID, srv.Ports)
		made, given := madeAndGiven(serverPorts([]network.NIC{nic}))
		s.ports.Release(ctx, srv.ID, made, given)
		return err
	}
	if err := s.ports.Allocate(ctx, q.creds, srv.ID, []network.NIC{nic}); err != nil {
		s.setPorts(ctx, srv.ID, srv.Ports)
		return allocationError(err)
	}
	atts, err := s.ports.Plug(ctx, srv.ID, []string{nic.PortID})
	if err != nil || len(atts) != 1 {
		return fail(faultf(err, "The port could not be set up on this host"))
	}
	if running, _ := s.driver.Running(srv.ID); running {
		if err := s.driver.AttachNIC(srv.ID, hypervisor.NIC{Tap: atts[0].Device, MAC: atts[0].MAC}); err != nil {
			s.log.Error("hot-plugging a NIC", "server", srv.ID, "port", nic.PortID, "err", err)
			return fail(errorf(http.StatusConflict, "Failed to attach network adapter device to %s", srv.ID))
		}
	}
	httpapi.WriteJSON(q.w, http.StatusOK, map[string]any{"interfaceAttachment": interfaceView(atts[0])})
	return nil
}

func (s *Service) detachInterface(q *request) error {
	srv, unlock, err := s.interfaceServer(q, "os_compute_api:os-attach-interfaces:delete", "detach_interface")
	if err != nil {
		return err
	}
	defer unlock()
	portID := q.r.PathValue("port_id")
	i := slices.IndexFunc(srv.Ports, func(p serverPort) bool { return p.ID == portID })
	if i < 0 {
		return errorf(http.StatusNotFound, "Port %s is not attached", portID)
	}
	ctx := q.r.Context()
	if running, _ := s.driver.Running(srv.ID); running {
		if err := s.driver.DetachNIC(srv.ID, dataplane.DeviceName(portID)); err != nil {
			s.log.Error("unplugging a NIC", "server", srv.ID, "port", portID, "err", err)
			return errorf(http.StatusConflict, "Failed to detach network adapter device from %s", srv.ID)
		}
	}
	gone := srv.Ports[i]
	if err := s.setPorts(ctx, srv.ID, slices.Delete(slices.Clone(srv.Ports), i, i+1)); err != nil {
		return err
	}
	made, given := madeAndGiven([]serverPort{gone})
	if err := s.ports.Release(ctx, srv.ID, made, given); err != nil {
		return err
	}
	q.w.WriteHeader(http.StatusAccepted)
	return nil
}

// setPorts records a server's ports.
func (s *Service) setPorts(ctx context.Context, id string, ports []serverPort) error {
	_, err := s.db.Exec(ctx, `UPDATE servers SET ports = ? WHERE id = ?`, jsonString(ports), id)
	return err
}
