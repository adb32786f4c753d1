package federation

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// testIssuer serves a discovery document and a key set for one ES256 key
// and returns its issuer URL and a function that signs claims with it.
func testIssuer(t testing.TB) (string, func(claims map[string]any) string) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]any{"issuer": srv.URL, "jwks_uri": srv.URL + "/keys"})
	})
	mux.HandleFunc("/keys", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "ES256", Use: "sig"}}})
	})
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, (&jose.SignerOptions{}).WithHeader("kid", "k1"))
	if err != nil {
		t.Fatal(err)
	}
	return srv.URL, func(claims map[string]any) string {
		b, _ := json.Marshal(claims)
		jws, err := signer.Sign(b)
		if err != nil {
			t.Fatal(err)
		}
		s, _ := jws.CompactSerialize()
		return s
	}
}

func testFederation(iss string) (*Federation, *IdentityProvider) {
	f := &Federation{log: slog.New(slog.NewTextHandler(io.Discard, nil)), issuers: map[string]*issuer{}}
	return f, &IdentityProvider{ID: "idp", RemoteIDs: []string{iss}, Settings: Settings{Audiences: []string{"cloud-b"}}}
}

func TestVerifyJWT(t *testing.T) {
	iss, sign := testIssuer(t)
	f, p := testFederation(iss)
	now := time.Now().Unix()
	good := func() map[string]any {
		return map[string]any{"iss": iss, "sub": "u1", "aud": "cloud-b", "exp": now + 300, "iat": now}
	}
	if c, err := f.VerifyAccessToken(context.Background(), p, sign(good())); err != nil || c["sub"] != "u1" {
		t.Fatalf("a good token: %v %v", c, err)
	}
	with := func(k string, v any) map[string]any {
		c := good()
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
		return c
	}
	// HS256 signed with the provider's public key as the secret (the
	// algorithm confusion attack), and alg none.
	hs, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: []byte("the provider public key, used as a shared secret")}, (&jose.SignerOptions{}).WithHeader("kid", "k1"))
	payload, _ := json.Marshal(good())
	hsJWS, _ := hs.Sign(payload)
	hsTok, _ := hsJWS.CompactSerialize()
	for name, tok := range map[string]string{
		"expired":          sign(with("exp", now-3600)),
		"no expiry":        sign(with("exp", nil)),
		"not valid yet":    sign(with("nbf", now+3600)),
		"issued in future": sign(with("iat", now+3600)),
		"another issuer":   sign(with("iss", "https://evil.example")),
		"another audience": sign(with("aud", "another-app")),
		"no audience":      sign(with("aud", nil)),
		"HS256":            hsTok,
		"alg none":         "eyJhbGciOiJub25lIn0." + string(b64(payload)) + ".",
	} {
		if _, err := f.VerifyAccessToken(context.Background(), p, tok); !errors.Is(err, ErrToken) {
			t.Errorf("%s: %v, want ErrToken", name, err)
		}
	}
	// A provider with no accepted audience takes no JWT at all.
	p.Settings.Audiences = nil
	if _, err := f.VerifyAccessToken(context.Background(), p, sign(good())); !errors.Is(err, ErrToken) {
		t.Errorf("no accepted audience: %v", err)
	}
}

func b64(b []byte) []byte {
	return []byte(base64.RawURLEncoding.EncodeToString(b))
}

func TestAssertion(t *testing.T) {
	var claims map[string]any
	json.Unmarshal([]byte(`{"sub": "u", "groups": ["a", "b"], "domain": {"name": "D"}, "n": 3,
		"projects": [{"name": "p1", "roles": ["member"]}, {"name": "p2", "roles": ["reader", "member"]}]}`), &claims)
	a := Assertion(claims)
	want := map[string][]string{"sub": {"u"}, "groups": {"a", "b"}, "domain.name": {"D"}, "n": {"3"},
		"projects.name": {"p1", "p2"}, "projects.roles": {"member", "reader", "member"}}
	for k, v := range want {
		if got := a[k]; len(got) != len(v) || (len(v) > 0 && got[0] != v[0]) {
			t.Errorf("%s = %v, want %v", k, got, v)
		}
	}
}

// FuzzVerifyAccessToken: no token string, however crafted, panics the
// verifier or passes it without the provider's signature.
func FuzzVerifyAccessToken(f *testing.F) {
	iss, sign := testIssuer(f)
	fed, p := testFederation(iss)
	now := time.Now().Unix()
	f.Add(sign(map[string]any{"iss": iss, "aud": "cloud-b", "exp": now + 300}))
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Add("a.b.c")
	f.Fuzz(func(t *testing.T, tok string) {
		c, err := fed.VerifyAccessToken(context.Background(), p, tok)
		if err == nil && c["iss"] != iss {
			t.Fatalf("accepted a token of issuer %v", c["iss"])
		}
	})
}

// FuzzSAMLMetadata: no metadata document, however crafted, panics the
// metadata reader, and an aggregate is never taken unsigned.
func FuzzSAMLMetadata(f *testing.F) {
	f.Add(`<EntityDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://idp.example"><IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"></IDPSSODescriptor></EntityDescriptor>`)
	f.Add(`<EntitiesDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata"><EntityDescriptor entityID="https://idp.example"><IDPSSODescriptor/></EntityDescriptor></EntitiesDescriptor>`)
	f.Fuzz(func(t *testing.T, metadata string) {
		s := SAMLSettings{Metadata: metadata}
		e, err := s.entity([]string{"https://idp.example"})
		if err == nil && (e == nil || len(e.IDPSSODescriptors) == 0) {
			t.Fatal("an entity without an IDPSSODescriptor was taken")
		}
		var root struct{ XMLName xml.Name }
		if err == nil && xml.Unmarshal([]byte(metadata), &root) == nil && root.XMLName.Local == "EntitiesDescriptor" {
			t.Fatal("an unsigned aggregate was taken")
		}
	})
}
