package haproxy

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/sovcloud/sov/internal/loadbalancer/provider"
)

// config renders a load balancer as HAProxy's configuration, much as
// Octavia's amphora template does: a frontend per listener, a backend per
// pool with a server per member (named by their ids, which the stats
// socket reports back). dir is the load balancer's state directory; user
// and group are whom the workers run as; maxconn is the most connections
// at once the file descriptors allow.
func config(lb *provider.LoadBalancer, dir, user, group string, maxconn int) string {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format+"\n", a...) }
	w("global")
	w("    maxconn %d", maxconn)
	w("    nbthread 1") // a load balancer takes one core at most
	w("    stats socket %s mode 600 level admin expose-fd listeners", statsSocket(dir))
	w("    stats timeout 10s")
	if user != "" {
		w("    user %s", user)
		w("    group %s", group)
	}
	if pinged(lb) {
		// PING monitors run ping through an external check, as Octavia's.
		w("    external-check")
		w("    insecure-fork-wanted")
	}
	w("")
	w("defaults")
	w("    retries 3")
	w("    option redispatch")
	w("    timeout connect 5s")
	w("    timeout client 50s")
	w("    timeout server 50s")
	w("")
	modes := map[string]string{}
	for _, l := range lb.Listeners {
		mode := "tcp"
		if l.Protocol == provider.HTTP || l.Protocol == provider.TerminatedHTTPS {
			mode = "http"
		}
		if l.DefaultPool != "" {
			modes[l.DefaultPool] = mode
		}
		bind := joinHostPort(lb.VIP.String(), l.Port)
		if l.Protocol == provider.TerminatedHTTPS {
			// The first certificate is the default; HAProxy picks the
			// others by the name the client asks for (SNI).
			bind += " ssl"
			for i := range l.Certificates {
				bind += " crt " + certPath(dir, l.ID, i)
			}
		}
		w("frontend %s", l.ID)
		limit := l.ConnectionLimit
		if limit <= 0 || limit > maxconn {
			limit = maxconn
		}
		w("    maxconn %d", limit)
		w("    bind %s", bind)
		w("    mode %s", mode)
		w("    timeout client %dms", orDefault(l.TimeoutClientData, 50000))
		if len(l.AllowedCIDRs) > 0 {
			var cidrs []string
			for _, c := range l.AllowedCIDRs {
				cidrs = append(cidrs, c.Masked().String())
			}
			w("    tcp-request connection reject unless { src %s }", strings.Join(cidrs, " "))
		}
		if mode == "http" {
			if l.ForwardedFor {
				w("    option forwardfor")
			}
			if l.ForwardedPort {
				w("    http-request set-header X-Forwarded-Port %%[dst_port]")
			}
			if l.ForwardedProto {
				w("    http-request set-header X-Forwarded-Proto %s", map[bool]string{true: "https", false: "http"}[l.Protocol == provider.TerminatedHTTPS])
			}
		} else if l.TimeoutTCPInspect > 0 {
			w("    tcp-request inspect-delay %dms", l.TimeoutTCPInspect)
		}
		for _, line := range policyLines(l.Policies) {
			w("    %s", line)
		}
		if l.DefaultPool != "" {
			w("    default_backend %s", l.DefaultPool)
		}
		w("")
	}
	timeouts := map[string]provider.Listener{}
	for _, l := range lb.Listeners {
		timeouts[l.DefaultPool] = l
	}
	for _, p := range lb.Pools {
		mode := modes[p.ID]
		if mode == "" {
			mode = "tcp"
			if p.Protocol == provider.HTTP {
				mode = "http"
			}
		}
		w("backend %s", p.ID)
		w("    mode %s", mode)
		switch p.Algorithm {
		case provider.LeastConnections:
			w("    balance leastconn")
		case provider.SourceIP:
			w("    balance source")
		default:
			w("    balance roundrobin")
		}
		l := timeouts[p.ID]
		w("    timeout connect %dms", orDefault(l.TimeoutMemberConnect, 5000))
		w("    timeout server %dms", orDefault(l.TimeoutMemberData, 50000))
		cookie := ""
		switch p.Persistence {
		case provider.PersistSourceIP:
			w("    stick-table type ipv6 size 10k")
			w("    stick on src")
		case provider.PersistHTTPCookie:
			if mode == "http" {
				w("    cookie SRV insert indirect nocache")
				cookie = "SRV"
			}
		case provider.PersistAppCookie:
			if mode == "http" && validCookie.MatchString(p.CookieName) {
				w("    stick-table type string len 64 size 10k")
				w("    stick store-response res.cook(%s)", p.CookieName)
				w("    stick match req.cook(%s)", p.CookieName)
			}
		}
		check := ""
		if m := p.Monitor; m != nil {
			w("    timeout check %ds", m.Timeout)
			switch m.Type {
			case provider.MonitorHTTP, provider.MonitorHTTPS:
				if mode == "http" {
					w("    option httpchk")
					w("    http-check send meth %s uri %s", m.Method, m.Path)
				} else {
					w("    option httpchk %s %s", m.Method, m.Path)
				}
				w("    http-check expect rstatus %s", codesPattern(m.ExpectedCodes))
			case provider.MonitorPing:
				w("    option external-check")
				w("    external-check command %s", pingScript)
			}
			check = fmt.Sprintf(" check inter %ds fall %d rise %d", m.Delay, m.Fall, m.Rise)
			if m.Type == provider.MonitorHTTPS {
				check += " check-ssl verify none"
			}
		}
		for _, mb := range p.Members {
			line := fmt.Sprintf("    server %s %s weight %d", mb.ID, joinHostPort(mb.Address.String(), mb.Port), mb.Weight)
			if check != "" {
				line += check
				if mb.MonitorAddress.IsValid() {
					line += " addr " + mb.MonitorAddress.String()
				}
				if mb.MonitorPort > 0 {
					line += " port " + strconv.Itoa(mb.MonitorPort)
				}
			}
			if cookie != "" {
				line += " cookie " + mb.ID
			}
			if mb.Backup {
				line += " backup"
			}
			if mb.Down {
				line += " disabled"
			}
			w("%s", line)
		}
		w("")
	}
	return b.String()
}

// validCookie is a cookie name HAProxy's configuration can carry as is.
var validCookie = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

func orDefault(v, def int) int {
	if v <= 0 {
		return def
	}
	return v
}

func joinHostPort(host string, port int) string {
	if strings.Contains(host, ":") {
		return "[" + host + "]:" + strconv.Itoa(port)
	}
	return host + ":" + strconv.Itoa(port)
}

// codesPattern turns Octavia's expected codes ("200", "200,202",
// "200-204") into a regular expression of the status.
func codesPattern(codes string) string {
	var alts []string
	for _, part := range strings.Split(codes, ",") {
		lo, hi, isRange := strings.Cut(strings.TrimSpace(part), "-")
		a, err1 := strconv.Atoi(lo)
		b, err2 := strconv.Atoi(hi)
		if !isRange {
			b, err2 = a, err1
		}
		if err1 != nil || err2 != nil {
			continue
		}
		for c := a; c <= b && c <= 599; c++ {
			alts = append(alts, strconv.Itoa(c))
		}
	}
	if len(alts) == 0 {
		alts = []string{"200"}
	}
	return "^(" + strings.Join(alts, "|") + ")$"
}

func pinged(lb *provider.LoadBalancer) bool {
	for _, p := range lb.Pools {
		if p.Monitor != nil && p.Monitor.Type == provider.MonitorPing {
			return true
		}
	}
	return false
}

// policyLines are a listener's L7 policies as HAProxy's ACLs and actions,
// as Octavia renders them: an ACL per rule, a policy's action when all
// its rules hold; rejects, then redirects, then pools, each in position
// order (the order HAProxy's phases take them in anyway).
func policyLines(policies []provider.Policy) []string {
	var acls, rejects, redirects, pools []string
	for _, p := range policies {
		if len(p.Rules) == 0 {
			continue // a policy without rules never matches
		}
		var conds []string
		for _, r := range p.Rules {
			name := "rule_" + r.ID
			acls = append(acls, "acl "+name+" "+aclExpr(r))
			if r.Invert {
				name = "!" + name
			}
			conds = append(conds, name)
		}
		cond := " if " + strings.Join(conds, " ")
		switch p.Action {
		case provider.Reject:
			rejects = append(rejects, "http-request reject"+cond)
		case provider.RedirectToURL:
			redirects = append(redirects, fmt.Sprintf("redirect code %d location %s%s", p.Code, p.URL, cond))
		case provider.RedirectPrefix:
			redirects = append(redirects, fmt.Sprintf("redirect code %d prefix %s%s", p.Code, p.Prefix, cond))
		case provider.RedirectToPool:
			pools = append(pools, "use_backend "+p.Pool+cond)
		}
	}
	return append(append(append(acls, rejects...), redirects...), pools...)
}

// aclExpr is the fetch and match of an L7 rule.
func aclExpr(r provider.Rule) string {
	match := map[string]string{provider.CompareEqual: "-m str", provider.CompareStartsWith: "-m beg", provider.CompareEndsWith: "-m end",
		provider.CompareContains: "-m sub", provider.CompareRegex: "-m reg"}[r.Compare]
	switch r.Type {
	case provider.RuleHostName:
		return "req.hdr(host),field(1,:) -i " + match + " " + r.Value
	case provider.RulePath:
		return "path " + match + " " + r.Value
	case provider.RuleFileType:
		if r.Compare == provider.CompareRegex {
			return "path -m reg " + r.Value
		}
		return "path_end -m str ." + r.Value
	case provider.RuleHeader:
		return "req.hdr(" + r.Key + ") " + match + " " + r.Value
	case provider.RuleCookie:
		return "req.cook(" + r.Key + ") " + match + " " + r.Value
	}
	return "always_false"
}

// certPath is where the i-th certificate of a listener is kept for HAProxy.
func certPath(dir, listener string, i int) string {
	return filepath.Join(dir, "certs", listener+"-"+strconv.Itoa(i)+".pem")
}
