package network

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/sovcloud/sov/internal/httpapi"
	"github.com/sovcloud/sov/internal/policy"
)

// request carries what every network handler needs.
type request struct {
	w     http.ResponseWriter
	r     *http.Request
	creds *policy.Credentials // the caller's, computed once per request
}

// admin reports whether the caller is a cloud administrator, who sees and
// acts on every project's resources.
func (q *request) admin() bool { return q.creds.HasRole(policy.Admin) }

// enforce checks the policy of action on a resource of project.
func (q *request) enforce(action, project string) error {
	return policy.Enforce(q.creds, action, policy.Target{ProjectID: project})
}

// write answers one resource, {"<name>": {...}}, trimmed to the fields
// the request asks for.
func (q *request) write(status int, name string, v map[string]any) {
	httpapi.WriteJSON(q.w, status, map[string]any{name: q.fields(v)})
}

// fields keeps the attributes ?fields= names (all without it).
func (q *request) fields(v map[string]any) map[string]any {
	want := q.r.URL.Query()["fields"]
	if len(want) == 0 {
		return v
	}
	out := make(map[string]any, len(want))
	for _, f := range want {
		if x, ok := v[f]; ok {
			out[f] = x
		}
	}
	return out
}

// attrs are one resource's attributes in a request body.
type attrs map[string]json.RawMessage

// readBody reads {"<resource>": {...}}.
func readBody(r *http.Request, resource string) (attrs, error) {
	var b map[string]json.RawMessage
	if err := httpapi.DecodeJSON(r, &b); err != nil {
		return nil, badRequest("%s", err.Error())
	}
	raw, ok := b[resource]
	if !ok || len(b) != 1 {
		return nil, badRequest("Unable to find '%s' in request body", resource)
	}
	var a attrs
	if err := json.Unmarshal(raw, &a); err != nil || a == nil {
		return nil, badRequest("Invalid input for %s. Reason: it must be an object.", resource)
	}
	return a, nil
}

// allow refuses attributes outside names.
func (a attrs) allow(names ...string) error {
	var bad []string
	for k := range a {
		if !slices.Contains(names, k) {
			bad = append(bad, k)
		}
	}
	if len(bad) > 0 {
		sort.Strings(bad)
		return badRequest("Unrecognized attribute(s) '%s'", strings.Join(bad, ", "))
	}
	return nil
}

func invalid(name, format string, v ...any) error {
	return badRequest("Invalid input for %s. Reason: %s.", name, fmt.Sprintf(format, v...))
}

// has reports whether the body sets name (to anything, null included).
func (a attrs) has(name string) bool { _, ok := a[name]; return ok }

// null reports whether the body sets name to null.
func (a attrs) null(name string) bool { return string(a[name]) == "null" }

// str reads a string of at most max bytes into dst, if set.
func (a attrs) str(name string, dst *string, max int) error {
	raw, ok := a[name]
	if !ok {
		return nil
	}
	if err := json.Unmarshal(raw, dst); err != nil || a.null(name) {
		return invalid(name, "%s is not a valid string", raw)
	}
	if len(*dst) > max {
		return invalid(name, "'%s' exceeds maximum length of %d", *dst, max)
	}
	return nil
}

// boolean reads a boolean (or "true"/"false", as Neutron converts) into dst, if set.
func (a attrs) boolean(name string, dst *bool) error {
	raw, ok := a[name]
	if !ok {
		return nil
	}
	if err := json.Unmarshal(raw, dst); err == nil && !a.null(name) {
		return nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		if b, ok := httpapi.ParseBool(s); ok {
			*dst = b
			return nil
		}
	}
	return invalid(name, "'%s' cannot be converted to boolean", strings.Trim(string(raw), `"`))
}

// integer reads an integer (or a string of one) into dst, if set.
func (a attrs) integer(name string, dst *int) error {
	raw, ok := a[name]
	if !ok {
		return nil
	}
	var f json.Number
	if err := json.Unmarshal(raw, &f); err == nil {
		if n, err := strconv.Atoi(f.String()); err == nil {
			*dst = n
			return nil
		}
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		if n, err := strconv.Atoi(s); err == nil {
			*dst = n
			return nil
		}
	}
	return invalid(name, "'%s' is not an integer", strings.Trim(string(raw), `"`))
}

// decode reads a structured attribute (a list, an object) into dst, if set.
func (a attrs) decode(name string, dst any) error {
	raw, ok := a[name]
	if !ok {
		return nil
	}
	if err := json.Unmarshal(raw, dst); err != nil {
		return invalid(name, "'%s' is not valid", raw)
	}
	return nil
}

// stamp is a time as Neutron writes it.
func stamp(unix int64) string { return time.Unix(unix, 0).UTC().Format("2006-01-02T15:04:05Z") }

// standard adds the attributes every Neutron resource has.
func standard(v map[string]any, id, project, name, description string, tags []string, revision int, created, updated int64) map[string]any {
	if tags == nil {
		tags = []string{}
	}
	v["id"], v["tenant_id"], v["project_id"], v["name"], v["description"] = id, project, project, name, description
	v["tags"], v["revision_number"], v["created_at"], v["updated_at"] = tags, revision, stamp(created), stamp(updated)
	return v
}
