package objectstore

import (
	"encoding/json"
	"strings"
)

// Bucket policies, for the common cases: statements with Effect Allow or
// Deny; Principal "*", or {"AWS": ...} naming everyone ("*"), a project
// (its id, or arn:aws:iam::<project>:root) or one user
// (arn:aws:iam::<project>:user/<user id>), or {"CanonicalUser": <project>};
// s3:* actions with wildcards, bucket or object resources, and conditions
// (policycond.go). Policies with other principals, NotPrincipal, NotAction,
// NotResource or conditions sov does not evaluate are refused when set,
// so nothing is silently ignored.

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
	// Not supported: a statement with one is refused.
	NotPrincipal, NotAction, NotResource json.RawMessage `json:",omitempty"`
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
		if st.NotPrincipal != nil || st.NotAction != nil || st.NotResource != nil {
			return nil, s3err(400, "MalformedPolicy", "NotPrincipal, NotAction and NotResource are not supported.")
		}
		if _, ok := parsePrincipal(st.Principal); !ok {
			return nil, s3err(400, "MalformedPolicy", "Invalid principal in policy: sov knows \"*\", {\"AWS\": project id, arn:aws:iam::<project>:root or arn:aws:iam::<project>:user/<user id>} and {\"CanonicalUser\": project id}.")
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

// principal is one entry of a statement's Principal.
type principal struct{ project, user string } // both "" for everyone

// parsePrincipal reads a statement's Principal; ok is false for a form sov
// does not know.
func parsePrincipal(p json.RawMessage) (ps []principal, ok bool) {
	var s string
	if json.Unmarshal(p, &s) == nil {
		return []principal{{}}, s == "*"
	}
	var m map[string]stringList
	if json.Unmarshal(p, &m) != nil || len(m) == 0 {
		return nil, false
	}
	for kind, vals := range m {
		for _, v := range vals {
			switch {
			case kind == "AWS" && v == "*":
				ps = append(ps, principal{})
			case kind == "CanonicalUser" && canonicalIDRE.MatchString(v), kind == "AWS" && canonicalIDRE.MatchString(v):
				ps = append(ps, principal{project: v})
			case kind == "AWS" && strings.HasPrefix(v, "arn:aws:iam::"):
				project, rest, _ := strings.Cut(strings.TrimPrefix(v, "arn:aws:iam::"), ":")
				user, isUser := strings.CutPrefix(rest, "user/")
				if !canonicalIDRE.MatchString(project) || (rest != "root" && (!isUser || user == "")) {
					return nil, false
				}
				ps = append(ps, principal{project: project, user: user})
			default:
				return nil, false
			}
		}
	}
	return ps, len(ps) > 0
}

// publicPrincipal reports whether a statement's Principal is everyone.
func publicPrincipal(p json.RawMessage) bool {
	ps, _ := parsePrincipal(p)
	for _, x := range ps {
		if x == (principal{}) {
			return true
		}
	}
	return false
}

// principalMatches reports whether a statement's Principal names the caller
// (nil for anonymous).
func principalMatches(p json.RawMessage, caller *Owner) bool {
	ps, _ := parsePrincipal(p)
	for _, x := range ps {
		if x == (principal{}) || (caller != nil && x.project == caller.ProjectID && (x.user == "" || x.user == caller.UserID)) {
			return true
		}
	}
	return false
}

type policyEffect int

const (
	policyNone policyEffect = iota
	policyAllow
	policyDeny
)

// policyDecision evaluates a bucket policy for the caller (nil for
// anonymous) doing action on resource: an explicit Deny wins over an
// Allow; a statement counts only when it names the caller and its
// conditions hold for the request (rc, called only for a statement with
// conditions).
func policyDecision(text string, caller *Owner, action, resource string, rc func() requestContext) policyEffect {
	if text == "" {
		return policyNone
	}
	var doc policyDoc
	if json.Unmarshal([]byte(text), &doc) != nil {
		return policyNone
	}
	effect := policyNone
	for _, st := range doc.Statement {
		if !matchAny(st.Action, action) || !matchAny(st.Resource, resource) || !principalMatches(st.Principal, caller) {
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
