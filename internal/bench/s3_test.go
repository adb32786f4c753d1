package bench

import (
	"io"
	"strings"
	"testing"
)

// TestMatcher: the GET check takes a body equal to what was written and
// refuses a different or longer one (a short one is caught by its length).
func TestMatcher(t *testing.T) {
	want := []byte("hello, world")
	for _, tc := range []struct {
		body string
		ok   bool
	}{{"hello, world", true}, {"hello, World", false}, {"hello, world!", false}} {
		m := &matcher{want: want}
		_, err := io.Copy(m, strings.NewReader(tc.body))
		if (err == nil && m.off == len(want)) != tc.ok {
			t.Errorf("body %q: err %v, %d bytes matched", tc.body, err, m.off)
		}
	}
	m := &matcher{want: want}
	io.Copy(m, strings.NewReader("hello"))
	if m.off == len(want) {
		t.Error("a short body counts as whole")
	}
}
