package federation

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/client"
	"github.com/zitadel/oidc/v3/pkg/client/rp"
	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/sovcloud/sov/internal/identity/mapping"
)

var (
	errBadCA = errors.New("federation: the provider's CA certificate is not PEM")
	// ErrToken is the error of any token that does not verify; its text
	// is for the log, not the caller.
	ErrToken = errors.New("federation: the token does not verify")
)

// signatureAlgorithms are the algorithms a provider's JWT may be signed
// with: asymmetric ones only (never "none", never a shared secret).
var signatureAlgorithms = []jose.SignatureAlgorithm{jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512,
	jose.ES256, jose.ES384, jose.ES512, jose.EdDSA}

// clockSkew is how far a provider's clock may be off.
const clockSkew = time.Minute

// issuer is a provider's discovery document and key set, cached.
type issuer struct {
	disc    *oidc.DiscoveryConfiguration
	keys    oidc.KeySet
	client  *http.Client
	fetched time.Time
}

// issuerTTL is how long a discovery document is kept; the key set fetches
// keys it does not know on its own.
const issuerTTL = time.Hour

func (f *Federation) issuer(ctx context.Context, p *IdentityProvider, iss string) (*issuer, error) {
	sum := sha256.Sum256([]byte(p.ID + "\x00" + iss + "\x00" + p.Settings.CACertificate))
	key := hex.EncodeToString(sum[:])
	f.mu.Lock()
	is, ok := f.issuers[key]
	f.mu.Unlock()
	if ok && time.Since(is.fetched) < issuerTTL {
		return is, nil
	}
	pool, err := p.Settings.pool()
	if err != nil {
		return nil, err
	}
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		Proxy: http.ProxyFromEnvironment}}
	disc, err := client.Discover(ctx, iss, hc)
	if err != nil {
		return nil, fmt.Errorf("federation: discovery of %s: %w", iss, err)
	}
	is = &issuer{disc: disc, keys: rp.NewRemoteKeySet(hc, disc.JwksURI), client: hc, fetched: time.Now()}
	f.mu.Lock()
	f.issuers[key] = is
	f.mu.Unlock()
	return is, nil
}

// VerifyAccessToken checks an access token of the provider and returns its
// claims: a JWT by the provider's keys (issuer, audience, expiry), an
// opaque token by the provider's introspection endpoint.
func (f *Federation) VerifyAccessToken(ctx context.Context, p *IdentityProvider, raw string) (map[string]any, error) {
	if len(raw) > 16<<10 {
		return nil, fmt.Errorf("%w: longer than 16 KiB", ErrToken)
	}
	if strings.Count(raw, ".") == 2 {
		return f.verifyJWT(ctx, p, raw)
	}
	return f.introspect(ctx, p, raw)
}

func (f *Federation) verifyJWT(ctx context.Context, p *IdentityProvider, raw string) (map[string]any, error) {
	jws, err := jose.ParseSigned(raw, signatureAlgorithms)
	if err != nil || len(jws.Signatures) != 1 {
		return nil, fmt.Errorf("%w: %v", ErrToken, err)
	}
	var unverified struct {
		Issuer string `json:"iss"`
	}
	if err := json.Unmarshal(jws.UnsafePayloadWithoutVerification(), &unverified); err != nil || !slices.Contains(p.RemoteIDs, unverified.Issuer) {
		return nil, fmt.Errorf("%w: issuer %q is not a remote id of provider %s", ErrToken, unverified.Issuer, p.ID)
	}
	is, err := f.issuer(ctx, p, unverified.Issuer)
	if err != nil {
		return nil, err
	}
	payload, err := is.keys.VerifySignature(ctx, jws)
	if err != nil {
		return nil, fmt.Errorf("%w: signature: %v", ErrToken, err)
	}
	claims := map[string]any{}
	dec := json.NewDecoder(strings.NewReader(string(payload)))
	dec.UseNumber()
	if err := dec.Decode(&claims); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrToken, err)
	}
	if claims["iss"] != unverified.Issuer {
		return nil, fmt.Errorf("%w: issuer", ErrToken)
	}
	if err := checkTimes(claims, true); err != nil {
		return nil, err
	}
	if len(p.Settings.Audiences) == 0 && p.Settings.ClientID == "" {
		return nil, fmt.Errorf("%w: provider %s accepts no audience (set its oidc.audiences)", ErrToken, p.ID)
	}
	if !accepted(p, claims) {
		return nil, fmt.Errorf("%w: audience %v (client %v) is not one provider %s accepts", ErrToken, claims["aud"], claims["client_id"], p.ID)
	}
	return claims, nil
}

// accepted reports whether a token was issued for one of the provider's
// accepted audiences: in its "aud", or as the client it was issued to
// ("client_id" of RFC 9068 and RFC 7662, "azp" of OpenID Connect).
func accepted(p *IdentityProvider, claims map[string]any) bool {
	ok := func(a string) bool {
		return a != "" && (slices.Contains(p.Settings.Audiences, a) || a == p.Settings.ClientID)
	}
	for _, a := range append(audiences(claims["aud"]), audiences(claims["client_id"])...) {
		if ok(a) {
			return true
		}
	}
	azp, _ := claims["azp"].(string)
	return ok(azp)
}

// checkTimes checks exp (required when needExp), nbf and iat.
func checkTimes(claims map[string]any, needExp bool) error {
	now := time.Now()
	at := func(k string) (time.Time, bool) {
		n, ok := claims[k].(json.Number)
		if !ok {
			if f, ok := claims[k].(float64); ok {
				return time.Unix(int64(f), 0), true
			}
			return time.Time{}, false
		}
		v, err := n.Int64()
		return time.Unix(v, 0), err == nil
	}
	exp, ok := at("exp")
	switch {
	case !ok && needExp:
		return fmt.Errorf("%w: no expiry", ErrToken)
	case ok && now.After(exp.Add(clockSkew)):
		return fmt.Errorf("%w: expired", ErrToken)
	}
	if nbf, ok := at("nbf"); ok && now.Add(clockSkew).Before(nbf) {
		return fmt.Errorf("%w: not valid yet", ErrToken)
	}
	if iat, ok := at("iat"); ok && now.Add(clockSkew).Before(iat) {
		return fmt.Errorf("%w: issued in the future", ErrToken)
	}
	return nil
}

func audiences(v any) []string {
	switch a := v.(type) {
	case string:
		return []string{a}
	case []any:
		var out []string
		for _, x := range a {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// introspect asks the provider about an opaque token (RFC 7662), as the
// client sov is registered as there.
func (f *Federation) introspect(ctx context.Context, p *IdentityProvider, raw string) (map[string]any, error) {
	if p.Settings.ClientID == "" || len(p.RemoteIDs) == 0 {
		return nil, fmt.Errorf("%w: an opaque token, and provider %s has no client for introspection", ErrToken, p.ID)
	}
	is, err := f.issuer(ctx, p, p.RemoteIDs[0])
	if err != nil {
		return nil, err
	}
	if is.disc.IntrospectionEndpoint == "" {
		return nil, fmt.Errorf("%w: an opaque token, and provider %s has no introspection endpoint", ErrToken, p.ID)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, is.disc.IntrospectionEndpoint,
		strings.NewReader(url.Values{"token": {raw}, "token_type_hint": {"access_token"}}.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.SetBasicAuth(url.QueryEscape(p.Settings.ClientID), url.QueryEscape(p.Settings.ClientSecret))
	resp, err := is.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("federation: introspection at %s: %w", p.ID, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("federation: introspection at %s: %s", p.ID, resp.Status)
	}
	claims := map[string]any{}
	dec := json.NewDecoder(io.LimitReader(resp.Body, 1<<20))
	dec.UseNumber()
	if err := dec.Decode(&claims); err != nil {
		return nil, fmt.Errorf("federation: introspection at %s: %w", p.ID, err)
	}
	if active, _ := claims["active"].(bool); !active {
		return nil, fmt.Errorf("%w: not active", ErrToken)
	}
	if iss, ok := claims["iss"].(string); ok && !slices.Contains(p.RemoteIDs, iss) {
		return nil, fmt.Errorf("%w: issuer %q is not a remote id of provider %s", ErrToken, iss, p.ID)
	}
	if err := checkTimes(claims, false); err != nil {
		return nil, err
	}
	if len(p.Settings.Audiences) > 0 && !accepted(p, claims) {
		return nil, fmt.Errorf("%w: audience %v (client %v) is not one provider %s accepts", ErrToken, claims["aud"], claims["client_id"], p.ID)
	}
	return claims, nil
}

// maxAssertionValues bounds what a token's claims make of an assertion.
const maxAssertionValues = 1000

// Assertion flattens claims into the attributes mappings match: a string,
// number or boolean is one value; an array gives its elements; an object
// gives its members as "claim.member"; an array of objects gives each
// member's values across the elements ("projects.name").
func Assertion(claims map[string]any) mapping.Assertion {
	a := mapping.Assertion{}
	n := 0
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		if n >= maxAssertionValues {
			return
		}
		switch x := v.(type) {
		case string:
			a[prefix] = append(a[prefix], x)
			n++
		case json.Number:
			a[prefix] = append(a[prefix], x.String())
			n++
		case float64:
			a[prefix] = append(a[prefix], fmt.Sprint(x))
			n++
		case bool:
			a[prefix] = append(a[prefix], fmt.Sprint(x))
			n++
		case []any:
			for _, e := range x {
				walk(prefix, e)
			}
		case map[string]any:
			for k, e := range x {
				walk(prefix+"."+k, e)
			}
		}
	}
	for k, v := range claims {
		walk(k, v)
	}
	return a
}
