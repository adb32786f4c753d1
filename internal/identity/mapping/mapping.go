// Package mapping is Keystone's federation mapping language: rules whose
// "remote" side matches an identity provider's assertion (the claims of
// an OIDC token, the attributes of a SAML assertion) and whose "local"
// side says who that is here: a user, groups, and projects with roles.
//
// A rule matches when every remote entry does: an entry with only "type"
// needs the attribute and yields its values for "{0}", "{1}"... in the
// order of such entries; "whitelist" and "blacklist" filter those values;
// "any_one_of" and "not_any_of" are conditions (with "regex": true, Go
// regular expressions searched in each value). The results of all
// matching rules are merged: the last user wins, groups and projects add
// up. A local string that is exactly "{N}" of several values stands for
// all of them (group names, group ids, project names: one project each).
package mapping

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Rules is a mapping: its rules, as Keystone's API reads and writes them.
type Rules struct {
	Rules []Rule `json:"rules"`
}

// Rule is one rule of a mapping.
type Rule struct {
	Local  []Local  `json:"local"`
	Remote []Remote `json:"remote"`
}

// Remote is one requirement on the assertion.
type Remote struct {
	Type      string   `json:"type"`
	AnyOneOf  []string `json:"any_one_of,omitempty"`
	NotAnyOf  []string `json:"not_any_of,omitempty"`
	Whitelist []string `json:"whitelist,omitempty"`
	Blacklist []string `json:"blacklist,omitempty"`
	Regex     bool     `json:"regex,omitempty"`

	patterns []*regexp.Regexp
}

// Local is one local entry: a user, a group, groups by name, group ids,
// projects, or the domain of what follows.
type Local struct {
	User     *User     `json:"user,omitempty"`
	Group    *Group    `json:"group,omitempty"`
	Groups   string    `json:"groups,omitempty"`
	GroupIDs string    `json:"group_ids,omitempty"`
	Domain   *Ref      `json:"domain,omitempty"`
	Projects []Project `json:"projects,omitempty"`
}

// User is the local user an assertion maps to.
type User struct {
	ID     string `json:"id,omitempty"`
	Name   string `json:"name,omitempty"`
	Email  string `json:"email,omitempty"`
	Domain *Ref   `json:"domain,omitempty"`
	// Type is "ephemeral" (a shadow user of the identity provider's
	// domain, the default) or "local" (an existing user).
	Type string `json:"type,omitempty"`
}

// Group is a group by id, or by name in a domain.
type Group struct {
	ID     string `json:"id,omitempty"`
	Name   string `json:"name,omitempty"`
	Domain *Ref   `json:"domain,omitempty"`
}

// Project is a project (made when missing) and the roles the user gets on it.
type Project struct {
	Name   string `json:"name"`
	Domain *Ref   `json:"domain,omitempty"`
	Roles  []Ref  `json:"roles"`
}

// Ref names a domain or a role by id or by name.
type Ref struct {
	ID   string `json:"id,omitempty"`
	Name string `json:"name,omitempty"`
}

// Limits of a mapping, so that evaluating one stays cheap.
const (
	maxRules   = 200
	maxEntries = 50
	maxValues  = 500
	maxPattern = 1024
)

// Parse reads and validates a mapping's JSON.
func Parse(raw []byte) (*Rules, error) {
	var r Rules
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("invalid mapping: %v", strings.TrimPrefix(err.Error(), "json: "))
	}
	return &r, r.Validate()
}

// Validate checks the rules and compiles their patterns.
func (r *Rules) Validate() error {
	if len(r.Rules) == 0 || len(r.Rules) > maxRules {
		return fmt.Errorf("a mapping has 1 to %d rules", maxRules)
	}
	for i := range r.Rules {
		rule := &r.Rules[i]
		if len(rule.Local) == 0 || len(rule.Remote) == 0 || len(rule.Local) > maxEntries || len(rule.Remote) > maxEntries {
			return fmt.Errorf("rule %d: 'local' and 'remote' each need 1 to %d entries", i, maxEntries)
		}
		for j := range rule.Remote {
			if err := rule.Remote[j].compile(); err != nil {
				return fmt.Errorf("rule %d, remote %d: %w", i, j, err)
			}
		}
		for j, l := range rule.Local {
			if err := l.validate(); err != nil {
				return fmt.Errorf("rule %d, local %d: %w", i, j, err)
			}
		}
	}
	return nil
}

func (rm *Remote) compile() error {
	if rm.Type == "" {
		return errors.New("'type' is required")
	}
	n := 0
	for _, l := range [][]string{rm.AnyOneOf, rm.NotAnyOf, rm.Whitelist, rm.Blacklist} {
		if l != nil {
			n++
		}
		if len(l) > maxValues {
			return fmt.Errorf("at most %d values", maxValues)
		}
	}
	if n > 1 {
		return errors.New("at most one of any_one_of, not_any_of, whitelist and blacklist")
	}
	rm.patterns = nil
	if !rm.Regex {
		return nil
	}
	if rm.AnyOneOf == nil && rm.NotAnyOf == nil {
		return errors.New("'regex' applies to any_one_of and not_any_of only")
	}
	for _, p := range append(slices.Clone(rm.AnyOneOf), rm.NotAnyOf...) {
		if len(p) > maxPattern {
			return fmt.Errorf("a pattern is longer than %d characters", maxPattern)
		}
		re, err := regexp.Compile(p)
		if err != nil {
			return fmt.Errorf("pattern %q: %v", p, err)
		}
		rm.patterns = append(rm.patterns, re)
	}
	return nil
}

func (l Local) validate() error {
	set := 0
	for _, b := range []bool{l.User != nil, l.Group != nil, l.GroupIDs != "", l.Projects != nil} {
		if b {
			set++
		}
	}
	switch {
	case l.Groups != "" && (l.Domain == nil || set > 0):
		return errors.New("'groups' goes with the 'domain' they are in, and nothing else")
	case set > 1:
		return errors.New("one of user, group, groups, group_ids and projects per entry")
	case set == 0 && l.Groups == "" && l.Domain == nil:
		return errors.New("an entry names a user, a group, groups, group_ids, projects or a domain")
	}
	if u := l.User; u != nil {
		if u.Type != "" && u.Type != "ephemeral" && u.Type != "local" {
			return fmt.Errorf("user type %q: want ephemeral or local", u.Type)
		}
		if u.ID == "" && u.Name == "" {
			return errors.New("a user needs a name or an id")
		}
	}
	if g := l.Group; g != nil && g.ID == "" && (g.Name == "" || g.Domain == nil) {
		return errors.New("a group needs an id, or a name and a domain")
	}
	for _, p := range l.Projects {
		if p.Name == "" || len(p.Roles) == 0 {
			return errors.New("a project needs a name and roles")
		}
		for _, r := range p.Roles {
			if r.Name == "" && r.ID == "" {
				return errors.New("a role needs a name or an id")
			}
		}
	}
	return nil
}

// Assertion is what an identity provider said about a user: each
// attribute's values.
type Assertion map[string][]string

// Result is who an assertion maps to.
type Result struct {
	User User
	// Domain is the domain a rule named on its own, for a user that
	// names none.
	Domain   *Ref
	Groups   []Group
	Projects []Project
}

// Evaluate applies the rules to an assertion. It reports false when no
// rule matched.
func (r *Rules) Evaluate(a Assertion) (*Result, bool) {
	res := &Result{}
	matched := false
	for _, rule := range r.Rules {
		maps, ok := match(rule.Remote, a)
		if !ok {
			continue
		}
		matched = true
		for _, l := range rule.Local {
			apply(res, l, maps)
		}
	}
	return res, matched
}

// match checks a rule's remote side and returns the direct maps.
func match(reqs []Remote, a Assertion) ([][]string, bool) {
	var maps [][]string
	for _, req := range reqs {
		values := a[req.Type]
		if len(values) == 0 {
			return nil, false
		}
		switch {
		case req.AnyOneOf != nil:
			if !req.any(req.AnyOneOf, values) {
				return nil, false
			}
		case req.NotAnyOf != nil:
			if req.any(req.NotAnyOf, values) {
				return nil, false
			}
		default:
			if req.Whitelist != nil {
				values = slices.DeleteFunc(slices.Clone(values), func(v string) bool { return !slices.Contains(req.Whitelist, v) })
			} else if req.Blacklist != nil {
				values = slices.DeleteFunc(slices.Clone(values), func(v string) bool { return slices.Contains(req.Blacklist, v) })
			}
			maps = append(maps, values)
		}
	}
	return maps, true
}

// any reports whether any value is one of list (or matches one of its
// patterns).
func (req *Remote) any(list, values []string) bool {
	for _, v := range values {
		if req.Regex {
			for _, re := range req.patterns {
				if re.MatchString(v) {
					return true
				}
			}
		} else if slices.Contains(list, v) {
			return true
		}
	}
	return false
}

var placeholder = regexp.MustCompile(`\{([0-9]+)\}`)

// expand substitutes the direct maps into s: a string that is exactly
// "{N}" stands for all of N's values; elsewhere each "{N}" is its values
// joined by commas. A reference to a missing map expands to nothing.
func expand(s string, maps [][]string) []string {
	if m := placeholder.FindStringSubmatch(s); m != nil && m[0] == s {
		i, _ := strconv.Atoi(m[1])
		if i < len(maps) {
			return slices.Clone(maps[i])
		}
		return nil
	}
	return []string{placeholder.ReplaceAllStringFunc(s, func(p string) string {
		i, _ := strconv.Atoi(p[1 : len(p)-1])
		if i < len(maps) {
			return strings.Join(maps[i], ",")
		}
		return ""
	})}
}

func one(s string, maps [][]string) string {
	return strings.Join(expand(s, maps), ",")
}

func ref(r *Ref, maps [][]string) *Ref {
	if r == nil {
		return nil
	}
	return &Ref{ID: one(r.ID, maps), Name: one(r.Name, maps)}
}

func apply(res *Result, l Local, maps [][]string) {
	switch {
	case l.User != nil:
		u := User{ID: one(l.User.ID, maps), Name: one(l.User.Name, maps), Email: one(l.User.Email, maps),
			Domain: ref(l.User.Domain, maps), Type: l.User.Type}
		if u.Domain == nil {
			u.Domain = ref(l.Domain, maps)
		}
		res.User = u
	case l.Group != nil:
		res.Groups = append(res.Groups, Group{ID: one(l.Group.ID, maps), Name: one(l.Group.Name, maps), Domain: ref(l.Group.Domain, maps)})
	case l.Groups != "":
		for _, name := range expand(l.Groups, maps) {
			if name != "" {
				res.Groups = append(res.Groups, Group{Name: name, Domain: ref(l.Domain, maps)})
			}
		}
	case l.GroupIDs != "":
		for _, id := range expand(l.GroupIDs, maps) {
			if id != "" {
				res.Groups = append(res.Groups, Group{ID: id})
			}
		}
	case l.Projects != nil:
		for _, p := range l.Projects {
			roles := make([]Ref, len(p.Roles))
			for i, r := range p.Roles {
				roles[i] = *ref(&r, maps)
			}
			for _, name := range expand(p.Name, maps) {
				if name != "" {
					res.Projects = append(res.Projects, Project{Name: name, Domain: ref(p.Domain, maps), Roles: roles})
				}
			}
		}
	case l.Domain != nil:
		res.Domain = ref(l.Domain, maps)
	}
}
