package loadbalancer

import (
	"encoding/json"
	"net/http"
	"slices"
	"sort"
	"strings"

	"github.com/sovcloud/sov/internal/httpapi"
)

// attrs are the attributes of one resource in a request body, read one
// by one with Octavia's (WSME's) errors.
type attrs map[string]json.RawMessage

// decode reads {"<root>": {...}} and refuses attributes not in allowed.
func decode(q *request, root string, allowed ...string) (attrs, error) {
	var outer map[string]json.RawMessage
	err := httpapi.DecodeJSON(q.r, &outer)
	switch httpapi.Classify(err).Status {
	case http.StatusRequestEntityTooLarge:
		return nil, errorf(http.StatusRequestEntityTooLarge, "Request Entity Too Large")
	case http.StatusBadRequest:
		return nil, errorf(http.StatusBadRequest, "Invalid JSON in the request body.")
	}
	if err != nil {
		return nil, err
	}
	inner, ok := outer[root]
	if !ok || len(outer) != 1 {
		return nil, errorf(http.StatusBadRequest, "Missing argument: \"%s\"", root)
	}
	var a attrs
	if err := json.Unmarshal(inner, &a); err != nil || a == nil {
		return nil, errorf(http.StatusBadRequest, "Invalid input for field/attribute %s. Value: '%s'. Value should be an object.", root, inner)
	}
	var unknown []string
	for k := range a {
		if !slices.Contains(allowed, k) {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return nil, errorf(http.StatusBadRequest, "Invalid input for field/attribute %s. Value: '%s'. Unknown attribute for argument %s: %s",
			root, inner, root, strings.Join(unknown, ", "))
	}
	return a, nil
}

func (a attrs) has(k string) bool { _, ok := a[k]; return ok }

// null reports whether k is given as null.
func (a attrs) null(k string) bool { return string(a[k]) == "null" }

func invalid(field string, v json.RawMessage, why string) error {
	return errorf(http.StatusBadRequest, "Invalid input for field/attribute %s. Value: '%s'. %s", field, strings.Trim(string(v), `"`), why)
}

// str reads a string of at most max characters (null: "").
func (a attrs) str(k string, dst *string, max int) error {
	v, ok := a[k]
	if !ok || a.null(k) {
		if ok {
			*dst = ""
		}
		return nil
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		return invalid(k, v, "Wrong type. Expected '<class 'str'>', got '"+jsonType(v)+"'")
	}
	if len(s) > max {
		return invalid(k, v, "Value should have a maximum character requirement of "+itoa(max))
	}
	*dst = s
	return nil
}

// oneOf reads a string that must be one of values.
func (a attrs) oneOf(k string, dst *string, values ...string) error {
	var s string
	if !a.has(k) {
		return nil
	}
	if err := a.str(k, &s, 255); err != nil {
		return err
	}
	if !slices.Contains(values, s) {
		return invalid(k, a[k], "Value should be one of: "+strings.Join(values, ", "))
	}
	*dst = s
	return nil
}

// integer reads an integer in [min, max].
func (a attrs) integer(k string, dst *int, min, max int) error {
	v, ok := a[k]
	if !ok {
		return nil
	}
	var n json.Number
	dec := json.NewDecoder(strings.NewReader(string(v)))
	dec.UseNumber()
	if err := dec.Decode(&n); err != nil || strings.ContainsAny(n.String(), ".eE") {
		return invalid(k, v, "Wrong type. Expected '<class 'int'>', got '"+jsonType(v)+"'")
	}
	i, err := n.Int64()
	if err != nil || i < int64(min) || i > int64(max) {
		return invalid(k, v, "Value should be greater or equal to "+itoa(min)+" and lower or equal to "+itoa(max))
	}
	*dst = int(i)
	return nil
}

// boolean reads true or false.
func (a attrs) boolean(k string, dst *bool) error {
	v, ok := a[k]
	if !ok {
		return nil
	}
	if err := json.Unmarshal(v, dst); err != nil {
		return invalid(k, v, "Wrong type. Expected '<class 'bool'>', got '"+jsonType(v)+"'")
	}
	return nil
}

// strs reads a list of strings (null: none).
func (a attrs) strs(k string, dst *[]string) error {
	v, ok := a[k]
	if !ok {
		return nil
	}
	if a.null(k) {
		*dst = nil
		return nil
	}
	var l []string
	if err := json.Unmarshal(v, &l); err != nil {
		return invalid(k, v, "Wrong type. Expected a list of strings")
	}
	*dst = l
	return nil
}

func jsonType(v json.RawMessage) string {
	switch s := strings.TrimSpace(string(v)); {
	case strings.HasPrefix(s, `"`):
		return "<class 'str'>"
	case s == "true" || s == "false":
		return "<class 'bool'>"
	case strings.HasPrefix(s, "["):
		return "<class 'list'>"
	case strings.HasPrefix(s, "{"):
		return "<class 'dict'>"
	case s == "null":
		return "<class 'NoneType'>"
	}
	return "<class 'int'>"
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// tagsOf reads the tags attribute (at most 50 of at most 255 characters).
func (a attrs) tags(dst *string) error {
	if !a.has("tags") {
		return nil
	}
	var tags []string
	if err := a.strs("tags", &tags); err != nil {
		return err
	}
	if len(tags) > 50 {
		return invalid("tags", a["tags"], "Too many tags")
	}
	for _, t := range tags {
		if t == "" || len(t) > 255 {
			return invalid("tags", a["tags"], "A tag has 1 to 255 characters")
		}
	}
	*dst = jsonText(orEmpty(tags))
	return nil
}

func jsonText(v any) string { b, _ := json.Marshal(v); return string(b) }

func orEmpty[T any](v []T) []T {
	if v == nil {
		return []T{}
	}
	return v
}

// fromJSON reads JSON text kept in a column.
func fromJSON[T any](text string) T {
	var v T
	json.Unmarshal([]byte(text), &v)
	return v
}

// decodeInto reads attribute k into v.
func (a attrs) decodeInto(k string, v any) error {
	if err := json.Unmarshal(a[k], v); err != nil {
		return invalid(k, a[k], "Wrong type. Expected '"+jsonType([]byte("{}"))+"', got '"+jsonType(a[k])+"'")
	}
	return nil
}
