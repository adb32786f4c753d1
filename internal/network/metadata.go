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
	serveMetadata(l, s.MetadataHandler(networkID))
}

// ServeRouterMetadata serves the metadata service of a router on l, the
// data plane's listener at 169.254.169.254:80 in the router, which takes
// requests only from its interfaces' subnets, each on its own interface.
func (s *Service) ServeRouterMetadata(routerID string, l net.Listener) {
	serveMetadata(l, s.RouterMetadataHandler(routerID))
}

func serveMetadata(l net.Listener, h http.Handler) {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second, IdleTimeout: time.Minute, MaxHeaderBytes: 16 << 10}
	srv.Serve(l)
}

// MetadataHandler is what ServeMetadata serves for a network: the request
// is answered for the server whose port on the network has the request's
// source address (which anti-spoofing vouches for), else 404.
func (s *Service) MetadataHandler(networkID string) http.Handler {
	return s.metadataHandler(`p.network_id = ?`, networkID)
}

// RouterMetadataHandler is what ServeRouterMetadata serves for a router:
// the request is answered for the server whose port on one of the
// router's networks has the request's source address (a router's subnets
// never overlap), else 404.
func (s *Service) RouterMetadataHandler(routerID string) http.Handler {
	return s.metadataHandler(`p.network_id IN (SELECT network_id FROM ports WHERE device_id = ? AND device_owner = '`+ownerRouterInterface+`')`, routerID)
}

// metadataHandler answers for the server whose port, on the networks the
// condition on p (with its argument) selects, holds the source address.
func (s *Service) metadataHandler(networks string, arg string) http.Handler {
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
		var serverID string
		err = store.Row(s.db.QueryRow(ctx, `SELECT p.device_id FROM port_ips pi JOIN ports p ON p.id = pi.port_id
			WHERE `+networks+` AND pi.ip_address = ? AND p.device_owner = ?`, arg, host, ownerCompute).Scan(&serverID))
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
