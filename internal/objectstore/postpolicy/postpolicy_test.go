package postpolicy

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestCheck(t *testing.T) {
	doc := func(exp time.Time, conds string) string {
		return base64.StdEncoding.EncodeToString([]byte(`{"expiration":"` + exp.Format(time.RFC3339) + `","conditions":` + conds + `}`))
	}
	now := time.Now()
	values := map[string]string{"bucket": "b", "key": "uploads/a", "content-type": "text/plain"}
	covered, lengths, err := Check(doc(now.Add(time.Hour), `[{"bucket":"b"},["starts-with","$key","uploads/"],["content-length-range",1,10]]`), values, now)
	if err != nil || !covered["bucket"] || !covered["key"] || covered["content-type"] || len(lengths) != 2 || lengths[1] != 10 {
		t.Fatalf("Check = %v %v %v", covered, lengths, err)
	}
	for name, tc := range map[string]struct{ policy, code string }{
		"expired":     {doc(now.Add(-time.Minute), `[]`), "AccessDenied"},
		"wrong key":   {doc(now.Add(time.Hour), `[["starts-with","$key","other/"]]`), "AccessDenied"},
		"no JSON":     {base64.StdEncoding.EncodeToString([]byte("{")), "InvalidPolicyDocument"},
		"no expiry":   {base64.StdEncoding.EncodeToString([]byte(`{"conditions":[]}`)), "InvalidPolicyDocument"},
		"unknown op":  {doc(now.Add(time.Hour), `[["like","$key","x"]]`), "InvalidPolicyDocument"},
		"bad range":   {doc(now.Add(time.Hour), `[["content-length-range",10,1]]`), "InvalidPolicyDocument"},
		"no condlist": {base64.StdEncoding.EncodeToString([]byte(`{"expiration":"` + now.Add(time.Hour).Format(time.RFC3339) + `"}`)), "InvalidPolicyDocument"},
	} {
		_, _, err := Check(tc.policy, values, now)
		var pe *Error
		if !errors.As(err, &pe) || pe.Code != tc.code {
			t.Errorf("%s: %v, want %s", name, err, tc.code)
		}
	}
}

// FuzzPostCondition: no POST policy condition, however malformed, panics,
// and one that passes holds for the values it was checked against.
func FuzzPostCondition(f *testing.F) {
	f.Add(`["starts-with", "$key", "uploads/"]`, "key", "uploads/a")
	f.Add(`{"bucket": "b"}`, "bucket", "b")
	f.Add(`["content-length-range", 1, 10]`, "", "")
	f.Add(`["eq", "$Content-Type", "text/plain"]`, "content-type", "text/html")
	f.Add(`[1, 2, 3]`, "", "")
	f.Fuzz(func(t *testing.T, cond, field, value string) {
		values := map[string]string{field: value}
		covered := map[string]bool{}
		var lengths []int64
		err := condition(json.RawMessage(cond), values, covered, &lengths)
		if err == nil && lengths != nil && (lengths[0] < 0 || lengths[1] < lengths[0]) {
			t.Fatalf("%s passed with the range %v", cond, lengths)
		}
		if err == nil {
			var exact map[string]string
			if json.Unmarshal([]byte(cond), &exact) == nil {
				for k, v := range exact {
					if values[strings.ToLower(k)] != v {
						t.Fatalf("%s passed for %q=%q", cond, field, value)
					}
				}
			}
		}
	})
}
