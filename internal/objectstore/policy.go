package objectstore

import (
	"encoding/json"
	"strings"
)

// Bucket policies, for the common cases: statements with Effect Allow or
// Deny, Principal "*" (or {"AWS": "*"} / a list), s3:* actions with
// wildcards, bucket or object resources, and conditions (policycond.go).
// Policies with other principals, or conditions sov does not evaluate,
// are refused when set, so nothing is silently ignored.

type policyDoc struct {
	Version   string
	Statement []policyStatement
}

type policyStatement struct {
	Sid       string `json:",omitempty"`
	Effect    string
	Principal json.RawMessage
	Action    stringList
	Resource  stringList
	Condition json.RawMessage `json:",omitempty"`
}

// stringList is a JSON string or list of strings.
type stringList []string

func (l *stringList) UnmarshalJSON(b []byte) error {
	var one string
	if json.Unmarshal(b, &one) == nil {
		*l = []string{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return err
	}
	*l = many
	return nil
}

func parsePolicy(text, bucket string) (*policyDoc, error) {
	var doc policyDoc
	if !strings.HasPrefix(strings.TrimSpace(text), "{") || json.Unmarshal([]byte(text), &doc) != nil || len(doc.Statement) == 0 {
		return nil, errMalformedPolicy
	}
	for _, st := range doc.Statement {
		if (st.Effect != "Allow" && st.Effect != "Deny") || len(st.Action) == 0 || len(st.Resource) == 0 {
			return nil, s3err(400, "MalformedPolicy", "Each statement needs Effect (Allow or Deny), Action and Resource.")
		}
		if _, err := parseConditions(st.Condition); err != nil {
			return nil, err
		}
		if !publicPrincipal(st.Principal) {
			return nil, s3err(400, "MalformedPolicy", "Only the principal \"*\" is supported.")
		}
		for _, a := range st.Action {
			if !strings.HasPrefix(a, "s3:") && a != "*" {
				return nil, s3err(400, "MalformedPolicy", "Policy has invalid action %s", a)
			}
		}
		for _, r := range st.Resource {
			name, _, _ := strings.Cut(strings.TrimPrefix(r, "arn:aws:s3:::"), "/")
			if !strings.HasPrefix(r, "arn:aws:s3:::") || name != bucket {
				return nil, s3err(400, "MalformedPolicy", "Policy has invalid resource %s", r)
			}
		}
	}
	return &doc, nil
}

func publicPrincipal(p json.RawMessage) bool {
	var s string
	if json.Unmarshal(p, &s) == nil {
		return s == "*"
	}
	var m map[string]stringList
	if json.Unmarshal(p, &m) == nil && len(m) == 1 {
		aws := m["AWS"]
		return len(aws) == 1 && aws[0] == "*"
	}
	return false
}

type policyEffect int

const (
	policyNone policyEffect = iota
	policyAllow
	policyDeny
)

// policyDecision evaluates a bucket policy for action on resource: an
// explicit Deny wins over an Allow; a statement counts only when its
// conditions hold for the request (rc, called only for a statement with
// conditions).
func policyDecision(text, action, resource string, rc func() requestContext) policyEffect {
	if text == "" {
		return policyNone
	}
	var doc policyDoc
	if json.Unmarshal([]byte(text), &doc) != nil {
		return policyNone
	}
	effect := policyNone
	for _, st := range doc.Statement {
		if !matchAny(st.Action, action) || !matchAny(st.Resource, resource) {
			continue
		}
		if cond, err := parseConditions(st.Condition); err != nil || (len(cond) > 0 && !cond.holds(rc())) {
			continue
		}
		if st.Effect == "Deny" {
			return policyDeny
		}
		effect = policyAllow
	}
	return effect
}

func matchAny(patterns []string, s string) bool {
	for _, p := range patterns {
		if p == "*" || wildcardMatch(p, s) {
			return true
		}
	}
	return false
}
