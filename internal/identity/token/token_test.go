package token

import "testing"

// FuzzParse: no input parses unless it is a complete token signed with the key.
func FuzzParse(f *testing.F) {
	key := []byte("0123456789abcdef0123456789abcdef")
	keyFor := func(id string) []byte {
		if id == "k1" {
			return key
		}
		return nil
	}
	raw, _ := Sign(&Token{UserID: "u", AuditIDs: []string{"a"}, ExpiresAt: 1}, "k1", key)
	f.Add(raw)
	f.Add("")
	f.Add("a.b.c")
	f.Add("eyJhbGciOiJIUzI1NiIsImtpZCI6ImsxIn0.e30.")
	f.Fuzz(func(t *testing.T, s string) {
		tok, err := Parse(s, keyFor)
		if err == nil && (tok.UserID == "" || len(tok.AuditIDs) == 0 || tok.KeyID() != "k1") {
			t.Fatalf("Parse(%q) accepted an incomplete token %+v", s, tok)
		}
	})
}
