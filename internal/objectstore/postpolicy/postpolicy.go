// Package postpolicy checks the policy document of an S3 browser upload
// (POST Object) against the form's fields: its expiry and its conditions
// (exact match, eq, starts-with, content-length-range), as AWS defines
// them. The signature over it, and what the upload then does, are
// objectstore's.
package postpolicy

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Error is a refusal as S3 answers it: a status, a code and a message.
type Error struct {
	Status        int
	Code, Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

type document struct {
	Expiration string            `json:"expiration"`
	Conditions []json.RawMessage `json:"conditions"`
}

func invalidPolicy(format string, a ...any) error {
	return &Error{Status: http.StatusBadRequest, Code: "InvalidPolicyDocument", Message: "Invalid Policy: " + fmt.Sprintf(format, a...)}
}

func policyFailed(format string, a ...any) error {
	return &Error{Status: http.StatusForbidden, Code: "AccessDenied", Message: "Invalid according to Policy: " + fmt.Sprintf(format, a...)}
}

// Check decodes the policy (base64 JSON, as a form carries it) and checks
// it at now against values (the form's fields by lower-case name, with the
// bucket and the key). It returns the fields its conditions name and the
// content-length-range ([min, max], nil without one).
func Check(policy string, values map[string]string, now time.Time) (covered map[string]bool, lengths []int64, err error) {
	raw, err := base64.StdEncoding.DecodeString(policy)
	var doc document
	if err != nil || json.Unmarshal(raw, &doc) != nil {
		return nil, nil, invalidPolicy("Invalid JSON.")
	}
	if doc.Expiration == "" {
		return nil, nil, invalidPolicy("Policy missing expiration.")
	}
	exp, err := time.Parse(time.RFC3339, doc.Expiration)
	if err != nil {
		return nil, nil, invalidPolicy("Invalid 'expiration' value: '%s'", doc.Expiration)
	}
	if now.After(exp) {
		return nil, nil, policyFailed("Policy expired.")
	}
	if doc.Conditions == nil {
		return nil, nil, invalidPolicy("Policy missing conditions.")
	}
	covered = map[string]bool{}
	for _, c := range doc.Conditions {
		if err := condition(c, values, covered, &lengths); err != nil {
			return nil, nil, err
		}
	}
	return covered, lengths, nil
}

// condition checks one condition of a POST policy: {"field": "value"},
// ["eq", "$field", "value"], ["starts-with", "$field", "prefix"] or
// ["content-length-range", min, max]; it marks the fields it covers.
func condition(raw json.RawMessage, values map[string]string, covered map[string]bool, lengths *[]int64) error {
	var exact map[string]string
	if json.Unmarshal(raw, &exact) == nil {
		if len(exact) != 1 {
			return invalidPolicy("Invalid Simple-Condition: Simple-Conditions must have exactly one property specified.")
		}
		for k, v := range exact {
			name := strings.ToLower(k)
			covered[name] = true
			if values[name] != v {
				return policyFailed("Policy Condition failed: [\"eq\", \"$%s\", \"%s\"]", k, v)
			}
		}
		return nil
	}
	var list []any
	if json.Unmarshal(raw, &list) != nil || len(list) != 3 {
		return invalidPolicy("Invalid Condition: %s", raw)
	}
	op, _ := list[0].(string)
	if strings.EqualFold(op, "content-length-range") {
		lo, ok1 := list[1].(float64)
		hi, ok2 := list[2].(float64)
		if !ok1 || !ok2 || lo < 0 || hi < lo {
			return invalidPolicy("Invalid content-length-range: %s", raw)
		}
		*lengths = []int64{int64(lo), int64(hi)}
		return nil
	}
	field, ok1 := list[1].(string)
	want, ok2 := list[2].(string)
	if !ok1 || !ok2 || !strings.HasPrefix(field, "$") {
		return invalidPolicy("Invalid Condition: %s", raw)
	}
	name := strings.ToLower(field[1:])
	covered[name] = true
	got := values[name]
	switch strings.ToLower(op) {
	case "eq":
		if got != want {
			return policyFailed("Policy Condition failed: [\"eq\", \"%s\", \"%s\"]", field, want)
		}
	case "starts-with":
		if !strings.HasPrefix(got, want) {
			return policyFailed("Policy Condition failed: [\"starts-with\", \"%s\", \"%s\"]", field, want)
		}
	default:
		return invalidPolicy("Invalid Condition: unknown operation %s", strconv.Quote(op))
	}
	return nil
}
