package identity

import (
	"encoding/base64"
	"github.com/sovcloud/sov/internal/identity/token"
	"strings"
	"testing"
	"time"
)

func testKeys(t testing.TB) (*keyring, func(string) []byte) {
	k := &keyring{keys: map[string][]byte{"k1": []byte("0123456789abcdef0123456789abcdef")}, primaryID: "k1", lastReload: time.Now()}
	return k, func(id string) []byte { return k.keys[id] }
}

func TestTokenRoundTrip(t *testing.T) {
	k, keyFor := testKeys(t)
	in := &Token{Methods: []string{"password"}, UserID: "u", UserName: "n", ProjectID: "p", Roles: []RoleRef{{ID: "r1", Name: "member"}},
		AuditIDs: []string{"a"}, IssuedAt: 1, ExpiresAt: 2}
	raw, err := k.sign(in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := token.Parse(raw, keyFor)
	if err != nil {
		t.Fatalf("token.Parse(sign(t)) = %v", err)
	}
	if out.UserID != "u" || out.ProjectID != "p" || len(out.Roles) != 1 || out.Roles[0].Name != "member" {
		t.Errorf("round trip = %+v", out)
	}
	// A changed payload breaks the signature.
	parts := strings.Split(raw, ".")
	evil := base64.RawURLEncoding.EncodeToString([]byte(`{"u":"admin","a":["a"],"exp":9999999999999999,"r":[{"id":"x","name":"admin"}]}`))
	if _, err := token.Parse(parts[0]+"."+evil+"."+parts[2], keyFor); err == nil {
		t.Error("token with a changed payload accepted")
	}
	// A token signed with an unknown key is refused.
	other := &keyring{keys: map[string][]byte{"k2": []byte("another key another key another k")}, primaryID: "k2"}
	forged, _ := other.sign(in)
	if _, err := token.Parse(forged, keyFor); err == nil {
		t.Error("token signed by another key accepted")
	}
	// So is the "none" algorithm.
	if _, err := token.Parse("eyJhbGciOiJub25lIn0."+parts[1]+".", keyFor); err == nil {
		t.Error("alg none accepted")
	}
}

func TestRevocationMatches(t *testing.T) {
	tok := &Token{UserID: "u", ProjectID: "p", ProjectDomainID: "d", UserDomainID: "d", Roles: []RoleRef{{ID: "r", Name: "member"}},
		AuditIDs: []string{"a1", "a0"}, IssuedAt: 100, AppCredID: "ac"}
	tests := []struct {
		name string
		ev   revocation
		want bool
	}{
		{"audit-id", revocation{AuditID: "a1", IssuedBefore: 200}, true},
		{"parent-audit-id", revocation{AuditID: "a0", IssuedBefore: 200}, true},
		{"other-audit-id", revocation{AuditID: "zz", IssuedBefore: 200}, false},
		{"user", revocation{UserID: "u", IssuedBefore: 100}, true},
		{"user-issued-later", revocation{UserID: "u", IssuedBefore: 99}, false},
		{"other-user", revocation{UserID: "v", IssuedBefore: 200}, false},
		{"user-project", revocation{UserID: "u", ProjectID: "p", IssuedBefore: 200}, true},
		{"user-other-project", revocation{UserID: "u", ProjectID: "q", IssuedBefore: 200}, false},
		{"domain", revocation{DomainID: "d", IssuedBefore: 200}, true},
		{"role", revocation{RoleID: "r", IssuedBefore: 200}, true},
		{"other-role", revocation{RoleID: "s", IssuedBefore: 200}, false},
		{"app-cred", revocation{AppCredentialID: "ac", IssuedBefore: 200}, true},
	}
	for _, tt := range tests {
		if got := tt.ev.matches(tok); got != tt.want {
			t.Errorf("%s: matches = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestReplaceKeepsUncommittedEventsOnce(t *testing.T) {
	ev := revocation{UserID: "u", IssuedBefore: time.Now().UnixMicro()}
	old := revocation{UserID: "v", IssuedBefore: time.Now().Add(-time.Hour).UnixMicro()}
	r := &revocations{events: []revocation{ev, old}}
	// Refreshes that do not see ev in the store yet keep it, once.
	r.replace(nil)
	r.replace(nil)
	if len(r.events) != 1 || r.events[0] != ev {
		t.Fatalf("after refreshes without it: %+v, want only %+v", r.events, ev)
	}
	r.replace([]revocation{ev})
	if len(r.events) != 1 {
		t.Fatalf("after a refresh with it: %d events, want 1", len(r.events))
	}
}
