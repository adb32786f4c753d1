package httpapi

import (
	"net"
	"net/netip"
	"sync"
)

// LimitPerClient returns a listener that keeps at most max connections of
// one client (an IPv4 address, an IPv6 /64) open at a time; further ones
// are closed at once.
// max <= 0 means no limit.
func LimitPerClient(ln net.Listener, max int) net.Listener {
	if max <= 0 {
		return ln
	}
	return &clientLimit{Listener: ln, max: max, open: map[string]int{}}
}

type clientLimit struct {
	net.Listener
	max  int
	mu   sync.Mutex
	open map[string]int
}

func (l *clientLimit) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		host := ClientNet(c.RemoteAddr().String())
		l.mu.Lock()
		ok := l.open[host] < l.max
		if ok {
			l.open[host]++
		}
		l.mu.Unlock()
		if ok {
			return &limitedConn{Conn: c, l: l, host: host}, nil
		}
		c.Close()
	}
}

// ClientNet is what counts as one client in per-client limits: an IPv4
// address, the /64 of an IPv6 address (one client commonly holds a /64).
func ClientNet(addr string) string {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	if ip.Is4() || ip.Is4In6() {
		return ip.Unmap().String()
	}
	p, _ := ip.Prefix(64)
	return p.String()
}

type limitedConn struct {
	net.Conn
	l    *clientLimit
	host string
	once sync.Once
}

func (c *limitedConn) Close() error {
	c.once.Do(func() {
		c.l.mu.Lock()
		if c.l.open[c.host]--; c.l.open[c.host] <= 0 {
			delete(c.l.open, c.host)
		}
		c.l.mu.Unlock()
	})
	return c.Conn.Close()
}
