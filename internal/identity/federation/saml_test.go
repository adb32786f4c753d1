package federation_test

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"html"
	"io"
	"math/big"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"
	"github.com/crewjam/saml/samlidp"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/sovcloud/sov/internal/identity/federation"
	"github.com/sovcloud/sov/internal/server"
	"github.com/sovcloud/sov/internal/servertest"
)

func selfSignedRSA(t *testing.T, cn string) (*rsa.PrivateKey, *x509.Certificate) {
	t.Helper()
	key := must(rsa.GenerateKey(rand.Reader, 2048))
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	return key, must(x509.ParseCertificate(must(x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key))))
}

var hiddenInput = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)"`)
var formAction = regexp.MustCompile(`<form method="post" action="([^"]+)"`)

// form reads a page's form: its action and hidden fields.
func form(t *testing.T, page string) (string, url.Values) {
	t.Helper()
	m := formAction.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no form in %s", page)
	}
	v := url.Values{}
	for _, h := range hiddenInput.FindAllStringSubmatch(page, -1) {
		v.Set(h[1], html.UnescapeString(h[2]))
	}
	return html.UnescapeString(m[1]), v
}

func put(t *testing.T, u, body string) {
	t.Helper()
	req, _ := http.NewRequest("PUT", u, strings.NewReader(body))
	resp := must(http.DefaultClient.Do(req))
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("PUT %s: %s", u, resp.Status)
	}
}

func get(t *testing.T, u string) string {
	t.Helper()
	resp := must(http.Get(u))
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// TestSAML: cloud B is a SAML service provider of a third-party identity
// provider (crewjam/saml's samlidp): WebSSO with the saml2 protocol logs a
// user of the provider in, through the mapping, and hands the token to the
// dashboard. A response is taken once; a tampered one is refused; a
// federation's signed aggregate is taken only with its signer's certificate.
func TestSAML(t *testing.T) {
	const origin = "https://dashboard.example/auth/websso/"
	key, cert := selfSignedRSA(t, "idp")
	srv := httptest.NewUnstartedServer(nil)
	idpURL := must(url.Parse("http://" + srv.Listener.Addr().String()))
	idp := must(samlidp.New(samlidp.Options{URL: *idpURL, Key: key, Certificate: cert, Store: &samlidp.MemoryStore{}}))
	srv.Config.Handler = idp
	srv.Start()
	t.Cleanup(srv.Close)

	b := servertest.Start(t, func(c *server.Config) { servertest.Fake(c); c.Identity.TrustedDashboards = []string{origin} })
	put(t, idpURL.String()+"/services/sov", get(t, b.URL+federation.SAMLMetadataPath))
	put(t, idpURL.String()+"/users/alice", `{"name": "alice", "password": "alice-pw", "groups": ["staff"], "email": "alice@uni.example"}`)
	metadata := get(t, idpURL.String()+"/metadata")
	entityID := regexp.MustCompile(`entityID="([^"]+)"`).FindStringSubmatch(metadata)[1]

	admin := b.AdminToken(t)
	if code, out := b.API(t, admin, "PUT", "/identity/v3/OS-FEDERATION/identity_providers/uni", map[string]any{"identity_provider": map[string]any{
		"remote_ids": []string{entityID}, "saml": map[string]any{"metadata": metadata}}}); code != http.StatusCreated {
		t.Fatalf("identity provider: %d %v", code, out)
	}
	rules := []any{map[string]any{
		"local":  []any{map[string]any{"user": map[string]any{"name": "{0}"}}, map[string]any{"projects": []any{map[string]any{"name": "uni", "roles": []any{map[string]any{"name": "member"}}}}}},
		"remote": []any{map[string]any{"type": "uid"}, map[string]any{"type": "eduPersonAffiliation", "any_one_of": []string{"staff"}}},
	}}
	if code, out := b.API(t, admin, "PUT", "/identity/v3/OS-FEDERATION/mappings/uni", map[string]any{"mapping": map[string]any{"rules": rules}}); code != http.StatusCreated {
		t.Fatalf("mapping: %d %v", code, out)
	}
	b.API(t, admin, "PUT", "/identity/v3/OS-FEDERATION/identity_providers/uni/protocols/saml2", map[string]any{"protocol": map[string]any{"mapping_id": "uni"}})

	// signIn runs the browser's part: to the provider, its login form, and
	// the response it would post to B; it returns that post.
	signIn := func() (string, url.Values) {
		jar, _ := cookiejar.New(nil)
		browser := &http.Client{Jar: jar}
		resp := must(browser.Get(b.URL + "/identity/v3/auth/OS-FEDERATION/identity_providers/uni/protocols/saml2/websso?origin=" + url.QueryEscape(origin)))
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		action, fields := form(t, string(page))
		fields.Set("user", "alice")
		fields.Set("password", "alice-pw")
		resp = must(browser.PostForm(action, fields))
		page, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		acs, response := form(t, string(page))
		if acs != b.URL+federation.SAMLACSPath || response.Get("SAMLResponse") == "" {
			t.Fatalf("the provider's answer: %s", page)
		}
		return acs, response
	}
	post := func(acs string, v url.Values) (int, string) {
		resp := must(http.PostForm(acs, v))
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode, string(page)
	}
	acs, response := signIn()
	code, page := post(acs, response)
	m := tokenField.FindStringSubmatch(page)
	if code != http.StatusOK || m == nil {
		t.Fatalf("the SAML response at B: %d %s", code, page)
	}
	req, _ := http.NewRequest("GET", b.AuthURL+"/auth/tokens", nil)
	req.Header.Set("X-Auth-Token", admin)
	req.Header.Set("X-Subject-Token", m[1])
	check := must(http.DefaultClient.Do(req))
	body, _ := io.ReadAll(check.Body)
	check.Body.Close()
	if check.StatusCode != http.StatusOK || !strings.Contains(string(body), `"alice"`) || !strings.Contains(string(body), `"saml2"`) {
		t.Fatalf("the token: %d %s", check.StatusCode, body)
	}
	if code, _ := post(acs, response); code != http.StatusBadRequest {
		t.Fatalf("the same response again: %d", code)
	}
	// A response changed on the way is refused: the assertion comes
	// encrypted to B's key and signed; one byte of it changed breaks both.
	acs, response = signIn()
	raw := must(base64.StdEncoding.DecodeString(response.Get("SAMLResponse")))
	cv := regexp.MustCompile(`CipherValue>([A-Za-z0-9+/]{40})`).FindSubmatchIndex(raw)
	if cv == nil {
		t.Fatalf("no encrypted assertion in %s", raw)
	}
	tampered := bytes.Clone(raw)
	tampered[cv[2]+30] ^= 1 // another base64 letter
	response.Set("SAMLResponse", base64.StdEncoding.EncodeToString(tampered))
	if code, _ := post(acs, response); code != http.StatusUnauthorized {
		t.Fatalf("a tampered response: %d", code)
	}

	// A federation's aggregate, signed by the federation: taken with its
	// signer's certificate, refused with another's or none.
	fedKey, fedCert := selfSignedRSA(t, "federation")
	agg := signedAggregate(t, metadata, fedKey, fedCert)
	_, otherCert := selfSignedRSA(t, "someone else")
	for _, c := range []struct {
		name string
		cert *x509.Certificate
		want int
	}{{"other signer", otherCert, http.StatusBadRequest}, {"no signer", nil, http.StatusBadRequest}, {"the federation", fedCert, http.StatusCreated}} {
		saml := map[string]any{"metadata": agg, "entity_id": entityID}
		if c.cert != nil {
			saml["metadata_signing_certificate"] = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.cert.Raw}))
		}
		code, out := b.API(t, admin, "PUT", "/identity/v3/OS-FEDERATION/identity_providers/agg-"+strings.ReplaceAll(c.name, " ", "-"), map[string]any{"identity_provider": map[string]any{
			"remote_ids": []string{"agg-" + c.name}, "saml": saml}})
		if code != c.want {
			t.Errorf("aggregate with %s: %d %v", c.name, code, out)
		}
	}
}

// signedAggregate wraps an EntityDescriptor in an EntitiesDescriptor
// signed (enveloped) by the federation's key.
func signedAggregate(t *testing.T, entity string, key *rsa.PrivateKey, cert *x509.Certificate) string {
	t.Helper()
	doc := etree.NewDocument()
	if err := doc.ReadFromString(entity); err != nil {
		t.Fatal(err)
	}
	agg := etree.NewElement("md:EntitiesDescriptor")
	agg.CreateAttr("xmlns:md", "urn:oasis:names:tc:SAML:2.0:metadata")
	agg.CreateAttr("ID", "_federation")
	agg.AddChild(doc.Root())
	ctx := dsig.NewDefaultSigningContext(dsig.TLSCertKeyStore(tls.Certificate{Certificate: [][]byte{cert.Raw}, PrivateKey: key}))
	ctx.Canonicalizer = dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList("")
	signed, err := ctx.SignEnveloped(agg)
	if err != nil {
		t.Fatal(err)
	}
	out := etree.NewDocument()
	out.SetRoot(signed)
	s, err := out.WriteToString()
	if err != nil {
		t.Fatal(err)
	}
	return s
}
