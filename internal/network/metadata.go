package network

import (
	"context"
	"net"
	"net/http"
	"time"

	"github.com/sovcloud/sov/internal/store"
)

// Instances answers the metadata service's requests for a server; compute
// implements it.
type Instances interface {
	ServeMetadata(w http.ResponseWriter, r *http.Request, serverID string)
}

// SetInstances names what answers for the servers behind the metadata
// service (compute, which starts after the network service).
func (s *Service) SetInstances(i Instances) {
	s.instancesMu.Lock()
	defer s.instancesMu.Unlock()
	s.instances = i
}

// ServeMetadata serves the metadata service of a network on l, the data
// plane's listener at 169.254.169.254:80 on the network, until l closes.
func (s *Service) ServeMetadata(networkID string, l net.Listener) {
	srv := &http.Server{Handler: s.MetadataHandler(networkID), ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second, IdleTimeout: time.Minute, MaxHeaderBytes: 16 << 10}
	srv.Serve(l)
}

// MetadataHandler is what ServeMetadata serves for a network: the request
// is answered for the server whose port on the network has the request's
// source address (which anti-spoofing vouches for), else 404.
func (s *Service) MetadataHandler(networkID string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Guests' simple clients (busybox nc) close their side once the
		// request is sent, which would cancel the request's context.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 10*time.Second)
		defer cancel()
		r = r.WithContext(ctx)
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil {
			http.NotFound(w, r)
			return
		}
		serverID, err := s.serverAt(r.Context(), networkID, host)
		s.instancesMu.Lock()
		inst := s.instances
		s.instancesMu.Unlock()
		if err != nil || serverID == "" || inst == nil {
			http.NotFound(w, r)
			return
		}
		inst.ServeMetadata(w, r, serverID)
	})
}

// serverAt is the server whose port on the network holds the address.
func (s *Service) serverAt(ctx context.Context, networkID, addr string) (string, error) {
	var id string
	err := store.Row(s.db.QueryRow(ctx, `SELECT p.device_id FROM port_ips pi JOIN ports p ON p.id = pi.port_id
		WHERE p.network_id = ? AND pi.ip_address = ? AND p.device_owner = ?`, networkID, addr, ownerCompute).Scan(&id))
	return id, err
}
