// Package provider is the seam between the load balancer API (the
// Octavia model) and a data plane: the Driver interface, and the state of
// one load balancer it is given whole after each change. The real driver
// is package haproxy (one HAProxy per load balancer in its VIP's
// namespace); package fake serves API tests.
package provider

import (
	"context"
	"net/netip"
)

// Driver runs the data plane of load balancers.
type Driver interface {
	// Set makes the data plane of lb what lb says (starting it, or
	// reloading it without dropping established connections).
	Set(ctx context.Context, lb *LoadBalancer) error
	// Remove ends a load balancer's data plane; a gone one is fine.
	Remove(ctx context.Context, id string) error
	// Status is the health of a load balancer's members and its counters.
	Status(ctx context.Context, id string) (*Status, error)
	// Prune ends the data planes of load balancers not in keep.
	Prune(ctx context.Context, keep []string) error
}

// LoadBalancer is one load balancer as the data plane runs it: what is
// administratively down is left out or marked so by the caller.
type LoadBalancer struct {
	ID        string
	Namespace string // the namespace of its VIP port, made by the network
	VIP       netip.Addr
	Listeners []Listener
	Pools     []Pool
}

// The protocols of listeners and pools.
const (
	HTTP            = "HTTP"
	HTTPS           = "HTTPS"
	TCP             = "TCP"
	TerminatedHTTPS = "TERMINATED_HTTPS"
)

// Listener is one frontend: a port of the VIP.
type Listener struct {
	ID       string
	Protocol string // HTTP, HTTPS (passed through), TCP or TERMINATED_HTTPS
	Port     int
	// ConnectionLimit is the most connections at once (0: no limit).
	ConnectionLimit int
	// Timeouts in milliseconds.
	TimeoutClientData, TimeoutMemberConnect, TimeoutMemberData, TimeoutTCPInspect int
	// ForwardedFor, ForwardedPort and ForwardedProto add
	// X-Forwarded-For, X-Forwarded-Port and X-Forwarded-Proto (HTTP and
	// TERMINATED_HTTPS listeners).
	ForwardedFor, ForwardedPort, ForwardedProto bool
	// Certificates of a TERMINATED_HTTPS listener, each a PEM file of
	// certificate, chain and key: the default first, then those chosen
	// by the name a client asks for (SNI).
	Certificates [][]byte
	AllowedCIDRs []netip.Prefix // none: everyone
	DefaultPool  string         // a pool's id, "" for none
	// Policies are the listener's L7 policies in position order (HTTP).
	Policies []Policy
}

// The actions of L7 policies.
const (
	RedirectToPool = "REDIRECT_TO_POOL"
	RedirectToURL  = "REDIRECT_TO_URL"
	RedirectPrefix = "REDIRECT_PREFIX"
	Reject         = "REJECT"
)

// Policy is an L7 policy: when all its rules match a request, its action.
type Policy struct {
	ID     string
	Action string
	// Pool is where REDIRECT_TO_POOL sends the request; URL and Prefix
	// where the redirects point, with the HTTP Code.
	Pool, URL, Prefix string
	Code              int
	Rules             []Rule // none: the policy never matches
}

// The types and comparisons of L7 rules.
const (
	RuleHostName = "HOST_NAME"
	RulePath     = "PATH"
	RuleFileType = "FILE_TYPE"
	RuleHeader   = "HEADER"
	RuleCookie   = "COOKIE"

	CompareEqual      = "EQUAL_TO"
	CompareStartsWith = "STARTS_WITH"
	CompareEndsWith   = "ENDS_WITH"
	CompareContains   = "CONTAINS"
	CompareRegex      = "REGEX"
)

// Rule is one condition of an L7 policy.
type Rule struct {
	ID, Type, Compare string
	Key, Value        string // Key names the header or cookie
	Invert            bool
}

// The algorithms of pools.
const (
	RoundRobin       = "ROUND_ROBIN"
	LeastConnections = "LEAST_CONNECTIONS"
	SourceIP         = "SOURCE_IP"
)

// The kinds of session persistence.
const (
	PersistSourceIP   = "SOURCE_IP"
	PersistHTTPCookie = "HTTP_COOKIE"
	PersistAppCookie  = "APP_COOKIE"
)

// Pool is a set of members one algorithm balances over.
type Pool struct {
	ID        string
	Protocol  string
	Algorithm string
	// Persistence is the kind of session persistence ("" for none) and
	// CookieName the application's cookie (APP_COOKIE).
	Persistence, CookieName string
	Members                 []Member
	Monitor                 *Monitor // nil: members are not checked
}

// Member is one backend server.
type Member struct {
	ID      string
	Address netip.Addr
	Port    int
	Weight  int
	Backup  bool
	// Down is a member an admin took out (admin_state_up false).
	Down bool
	// MonitorAddress and MonitorPort are where checks go (zero: the member's).
	MonitorAddress netip.Addr
	MonitorPort    int
}

// The types of health monitors.
const (
	MonitorHTTP  = "HTTP"
	MonitorHTTPS = "HTTPS"
	MonitorTCP   = "TCP"
	MonitorPing  = "PING"
)

// Monitor checks a pool's members.
type Monitor struct {
	Type string
	// Delay between checks, Timeout of one, in seconds.
	Delay, Timeout int
	// Rise is how many checks in a row bring a member up, Fall down.
	Rise, Fall int
	// HTTP(S): the request and the status codes that pass (as Octavia
	// writes them: "200", "200,202", "200-204").
	Method, Path, ExpectedCodes string
}

// The health of a member.
const (
	MemberUp      = "UP"
	MemberDown    = "DOWN"
	MemberNoCheck = "NO_CHECK" // not monitored
	MemberDrain   = "DRAIN"    // taken out by an admin
)

// Status is what the data plane reports of a load balancer.
type Status struct {
	// Members is the health of each member by id.
	Members map[string]string
	// Listeners are the counters of each listener by id.
	Listeners map[string]Stats
}

// Stats are a listener's counters since its data plane started.
type Stats struct {
	ActiveConnections, TotalConnections int64
	BytesIn, BytesOut, RequestErrors    int64
}
