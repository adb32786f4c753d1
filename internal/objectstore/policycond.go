package objectstore

import (
	"encoding/json"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Conditions of bucket policy statements: the common operators (String*,
// Numeric*, Date*, Bool, IpAddress, NotIpAddress, Null, each also with
// IfExists) over the common keys of the request. A policy naming an
// operator or key sov does not evaluate is refused when it is set, never
// evaluated as if the condition were absent.

// conditionBlock is a statement's Condition: operator -> key -> values.
type conditionBlock map[string]map[string]stringList

// conditionKeys are the keys sov knows, in lower case.
var conditionKeys = map[string]bool{
	"aws:sourceip": true, "aws:securetransport": true, "aws:currenttime": true, "aws:epochtime": true,
	"aws:useragent": true, "aws:referer": true, "s3:prefix": true, "s3:delimiter": true, "s3:max-keys": true,
	"s3:x-amz-acl": true, "s3:x-amz-content-sha256": true, "s3:signatureversion": true, "s3:authtype": true,
	"s3:versionid": true,
}

// tagConditionKeys name a tag after their prefix: s3:ExistingObjectTag/<key>
// (the tags of the object acted on) and s3:RequestObjectTag/<key> (the
// tags a request sets).
var tagConditionKeys = []string{"s3:existingobjecttag/", "s3:requestobjecttag/"}

func knownConditionKey(key string) bool {
	key = strings.ToLower(key)
	for _, p := range tagConditionKeys {
		if rest, ok := strings.CutPrefix(key, p); ok {
			return rest != ""
		}
	}
	return conditionKeys[key]
}

// conditionKind is the type of value an operator compares.
func conditionKind(op string) (kind string, negated, ok bool) {
	op = strings.TrimSuffix(op, "IfExists")
	switch op {
	case "StringEquals", "StringEqualsIgnoreCase", "StringLike":
		return "string", false, true
	case "StringNotEquals", "StringNotEqualsIgnoreCase", "StringNotLike":
		return "string", true, true
	case "NumericEquals", "NumericLessThan", "NumericLessThanEquals", "NumericGreaterThan", "NumericGreaterThanEquals":
		return "number", false, true
	case "NumericNotEquals":
		return "number", true, true
	case "DateEquals", "DateLessThan", "DateLessThanEquals", "DateGreaterThan", "DateGreaterThanEquals":
		return "date", false, true
	case "DateNotEquals":
		return "date", true, true
	case "Bool":
		return "bool", false, true
	case "IpAddress":
		return "ip", false, true
	case "NotIpAddress":
		return "ip", true, true
	case "Null":
		return "null", false, true
	}
	return "", false, false
}

// parseConditions checks a statement's Condition when a policy is set.
func parseConditions(raw json.RawMessage) (conditionBlock, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var c conditionBlock
	if json.Unmarshal(raw, &c) != nil {
		return nil, s3err(400, "MalformedPolicy", "Conditions must map operators to keys and values.")
	}
	for op, keys := range c {
		kind, _, ok := conditionKind(op)
		if !ok {
			return nil, s3err(400, "MalformedPolicy", "The condition operator %s is not supported.", op)
		}
		if len(keys) == 0 {
			return nil, s3err(400, "MalformedPolicy", "The condition operator %s names no key.", op)
		}
		for key, vals := range keys {
			if len(vals) == 0 {
				return nil, s3err(400, "MalformedPolicy", "The condition key %s has no value.", key)
			}
			if !knownConditionKey(key) {
				return nil, s3err(400, "MalformedPolicy", "The condition key %s is not supported.", key)
			}
			for _, v := range vals {
				if _, ok := parseValue(kind, v); !ok {
					return nil, s3err(400, "MalformedPolicy", "Invalid value %q for the condition operator %s.", v, op)
				}
			}
		}
	}
	return c, nil
}

func parseValue(kind, v string) (any, bool) {
	switch kind {
	case "number":
		f, err := strconv.ParseFloat(v, 64)
		return f, err == nil
	case "date":
		if t, err := time.Parse(time.RFC3339, v); err == nil {
			return t, true
		}
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			return time.Unix(n, 0), true
		}
		return nil, false
	case "bool", "null":
		b, err := strconv.ParseBool(v)
		return b, err == nil
	case "ip":
		if p, err := netip.ParsePrefix(v); err == nil {
			return p, true
		}
		a, err := netip.ParseAddr(v)
		if err != nil {
			return nil, false
		}
		return netip.PrefixFrom(a, a.BitLen()), true
	}
	return v, true
}

// requestContext holds the condition keys' values of a request.
type requestContext map[string]string

func (s *Server) requestContext(req *request) requestContext {
	r := req.r
	c := requestContext{"aws:securetransport": strconv.FormatBool(r.TLS != nil),
		"aws:currenttime": time.Now().UTC().Format(time.RFC3339), "aws:epochtime": strconv.FormatInt(time.Now().Unix(), 10)}
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		c["aws:sourceip"] = host
	}
	for key, header := range map[string]string{"aws:useragent": "User-Agent", "aws:referer": "Referer",
		"s3:x-amz-acl": "X-Amz-Acl", "s3:x-amz-content-sha256": "X-Amz-Content-Sha256"} {
		if v := r.Header.Get(header); v != "" {
			c[key] = v
		}
	}
	for key, param := range map[string]string{"s3:prefix": "prefix", "s3:delimiter": "delimiter", "s3:max-keys": "max-keys", "s3:versionid": "versionId"} {
		if vs, ok := req.q[param]; ok {
			c[key] = strings.Join(vs, ",")
		}
	}
	addTags(c, "s3:existingobjecttag/", req.objectTags)
	if req.requestTags != nil {
		addTags(c, "s3:requestobjecttag/", *req.requestTags)
	} else if v := r.Header.Get("X-Amz-Tagging"); v != "" {
		addTags(c, "s3:requestobjecttag/", v)
	}
	if req.sig != nil && req.sig.owner != nil {
		c["s3:signatureversion"] = "AWS4-HMAC-SHA256"
		c["s3:authtype"] = "REST-HEADER"
		if req.q.Get("X-Amz-Algorithm") != "" {
			c["s3:authtype"] = "REST-QUERY-STRING"
		}
	}
	return c
}

// addTags puts tags (URL query encoding) into c under prefix + tag key.
func addTags(c requestContext, prefix, tags string) {
	if tags == "" {
		return
	}
	q, err := url.ParseQuery(tags)
	if err != nil {
		return
	}
	for k, vs := range q {
		c[prefix+strings.ToLower(k)] = vs[0]
	}
}

// holds reports whether every condition of a block holds for the request.
func (c conditionBlock) holds(rc requestContext) bool {
	for op, keys := range c {
		kind, negated, _ := conditionKind(op)
		ifExists := strings.HasSuffix(op, "IfExists")
		base := strings.TrimSuffix(op, "IfExists")
		for key, vals := range keys {
			have, present := rc[strings.ToLower(key)]
			if kind == "null" {
				want, _ := strconv.ParseBool(vals[0])
				if want == present {
					return false
				}
				continue
			}
			if !present {
				if ifExists || negated {
					continue
				}
				return false
			}
			matched := false
			for _, v := range vals {
				if compare(base, kind, have, v) {
					matched = true
					break
				}
			}
			if matched == negated {
				return false
			}
		}
	}
	return true
}

// compare applies a (positive form of an) operator to a request value.
func compare(op, kind, have, want string) bool {
	switch kind {
	case "string":
		switch {
		case strings.Contains(op, "IgnoreCase"):
			return strings.EqualFold(have, want)
		case strings.HasSuffix(op, "Like"):
			return globMatch(want, have)
		}
		return have == want
	case "number":
		h, err := strconv.ParseFloat(have, 64)
		w, _ := strconv.ParseFloat(want, 64)
		return err == nil && ordered(op, h-w)
	case "date":
		h, ok := parseValue("date", have)
		w, _ := parseValue("date", want)
		return ok && ordered(op, float64(h.(time.Time).Sub(w.(time.Time))))
	case "bool":
		return strings.EqualFold(have, want)
	case "ip":
		a, err := netip.ParseAddr(have)
		p, _ := parseValue("ip", want)
		return err == nil && p.(netip.Prefix).Contains(a.Unmap())
	}
	return false
}

// ordered reads the comparison in an operator's name for d = have - want.
func ordered(op string, d float64) bool {
	switch {
	case strings.HasSuffix(op, "LessThanEquals"):
		return d <= 0
	case strings.HasSuffix(op, "LessThan"):
		return d < 0
	case strings.HasSuffix(op, "GreaterThanEquals"):
		return d >= 0
	case strings.HasSuffix(op, "GreaterThan"):
		return d > 0
	}
	return d == 0 // Equals, and the positive form of NotEquals
}

// globMatch matches s against a pattern with any number of '*' and '?'.
func globMatch(pattern, s string) bool {
	for len(pattern) > 0 {
		switch pattern[0] {
		case '*':
			for i := len(s); i >= 0; i-- {
				if globMatch(pattern[1:], s[i:]) {
					return true
				}
			}
			return false
		case '?':
			if len(s) == 0 {
				return false
			}
			pattern, s = pattern[1:], s[1:]
		default:
			if len(s) == 0 || s[0] != pattern[0] {
				return false
			}
			pattern, s = pattern[1:], s[1:]
		}
	}
	return len(s) == 0
}
