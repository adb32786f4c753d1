package mapping

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestEvaluate(t *testing.T) {
	tests := []struct {
		name    string
		rules   string
		in      Assertion
		want    *Result
		matched bool
	}{
		{
			name: "direct user and groups in a domain",
			rules: `{"rules": [{"local": [{"user": {"name": "{0}", "email": "{1}"}}, {"groups": "{2}", "domain": {"name": "fed"}}],
				"remote": [{"type": "preferred_username"}, {"type": "email"}, {"type": "groups"}]}]}`,
			in: Assertion{"preferred_username": {"alice"}, "email": {"a@example.org"}, "groups": {"devs", "ops"}},
			want: &Result{User: User{Name: "alice", Email: "a@example.org"},
				Groups: []Group{{Name: "devs", Domain: &Ref{Name: "fed"}}, {Name: "ops", Domain: &Ref{Name: "fed"}}}},
			matched: true,
		},
		{
			name:    "a missing attribute fails the rule",
			rules:   `{"rules": [{"local": [{"user": {"name": "{0}"}}], "remote": [{"type": "preferred_username"}, {"type": "email"}]}]}`,
			in:      Assertion{"preferred_username": {"alice"}},
			want:    &Result{},
			matched: false,
		},
		{
			name: "any_one_of with a regex, not_any_of",
			rules: `{"rules": [{"local": [{"user": {"name": "{0}"}}, {"group": {"id": "g1"}}],
				"remote": [{"type": "sub"}, {"type": "groups", "any_one_of": ["^staff-.*$"], "regex": true}, {"type": "groups", "not_any_of": ["banned"]}]}]}`,
			in:      Assertion{"sub": {"u1"}, "groups": {"staff-it"}},
			want:    &Result{User: User{Name: "u1"}, Groups: []Group{{ID: "g1"}}},
			matched: true,
		},
		{
			name: "not_any_of refuses",
			rules: `{"rules": [{"local": [{"user": {"name": "{0}"}}],
				"remote": [{"type": "sub"}, {"type": "groups", "not_any_of": ["banned"]}]}]}`,
			in:      Assertion{"sub": {"u1"}, "groups": {"x", "banned"}},
			want:    &Result{},
			matched: false,
		},
		{
			name: "whitelist filters the values it yields",
			rules: `{"rules": [{"local": [{"user": {"name": "{0}"}}, {"group_ids": "{1}"}],
				"remote": [{"type": "sub"}, {"type": "groups", "whitelist": ["a", "c"]}]}]}`,
			in:      Assertion{"sub": {"u"}, "groups": {"a", "b", "c"}},
			want:    &Result{User: User{Name: "u"}, Groups: []Group{{ID: "a"}, {ID: "c"}}},
			matched: true,
		},
		{
			name: "one project per value, rules merge",
			rules: `{"rules": [
				{"local": [{"user": {"name": "{0}"}}], "remote": [{"type": "sub"}]},
				{"local": [{"projects": [{"name": "p-{0}", "roles": [{"name": "reader"}]}, {"name": "{0}", "roles": [{"name": "member"}]}]}],
				 "remote": [{"type": "projects.name"}]}]}`,
			in: Assertion{"sub": {"u"}, "projects.name": {"x", "y"}},
			want: &Result{User: User{Name: "u"}, Projects: []Project{
				{Name: "p-x,y", Roles: []Ref{{Name: "reader"}}},
				{Name: "x", Roles: []Ref{{Name: "member"}}}, {Name: "y", Roles: []Ref{{Name: "member"}}}}},
			matched: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Parse([]byte(tt.rules))
			if err != nil {
				t.Fatal(err)
			}
			got, matched := r.Evaluate(tt.in)
			if matched != tt.matched || !reflect.DeepEqual(got, tt.want) {
				g, _ := json.Marshal(got)
				w, _ := json.Marshal(tt.want)
				t.Errorf("got %s (matched %v), want %s (matched %v)", g, matched, w, tt.matched)
			}
		})
	}
}

func TestParseRefuses(t *testing.T) {
	for _, bad := range []string{
		`{}`,
		`{"rules": []}`,
		`{"rules": [{"local": [], "remote": [{"type": "a"}]}]}`,
		`{"rules": [{"local": [{"user": {"name": "x"}}], "remote": [{}]}]}`,
		`{"rules": [{"local": [{"user": {"name": "x"}}], "remote": [{"type": "a", "any_one_of": ["("], "regex": true}]}]}`,
		`{"rules": [{"local": [{"user": {"name": "x"}}], "remote": [{"type": "a", "any_one_of": ["x"], "not_any_of": ["y"]}]}]}`,
		`{"rules": [{"local": [{"user": {"name": "x", "type": "root"}}], "remote": [{"type": "a"}]}]}`,
		`{"rules": [{"local": [{"groups": "{0}"}], "remote": [{"type": "a"}]}]}`,
		`{"rules": [{"local": [{"user": {"name": "x"}, "group": {"id": "g"}}], "remote": [{"type": "a"}]}]}`,
		`{"rules": [{"local": [{"projects": [{"name": "p"}]}], "remote": [{"type": "a"}]}]}`,
		`{"rules": [{"local": [{"unknown": 1}], "remote": [{"type": "a"}]}]}`,
		`{"rules": [{"local": [{"user": {"name": "x"}}], "remote": [{"type": "a", "whitelist": ["x"], "regex": true}]}]}`,
	} {
		if _, err := Parse([]byte(bad)); err == nil {
			t.Errorf("accepted %s", bad)
		}
	}
}

// FuzzMapping: any mapping that parses evaluates any assertion without
// panicking, and yields only values from the rules and the assertion.
func FuzzMapping(f *testing.F) {
	f.Add(`{"rules": [{"local": [{"user": {"name": "{0}"}}, {"groups": "{1}", "domain": {"id": "d"}}], "remote": [{"type": "a"}, {"type": "b", "any_one_of": [".*"], "regex": true}]}]}`, "a", "x;y")
	f.Add(`{"rules": [{"local": [{"projects": [{"name": "{0}", "roles": [{"name": "member"}]}]}], "remote": [{"type": "p", "blacklist": ["z"]}]}]}`, "p", "z;q")
	f.Fuzz(func(t *testing.T, rules, attr, values string) {
		r, err := Parse([]byte(rules))
		if err != nil {
			return
		}
		a := Assertion{attr: splitValues(values), "b": {"1"}}
		res, _ := r.Evaluate(a)
		if res == nil {
			t.Fatal("nil result")
		}
	})
}

func splitValues(s string) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == ';' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}
