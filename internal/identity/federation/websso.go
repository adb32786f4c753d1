package federation

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"slices"
	"time"

	"github.com/zitadel/oidc/v3/pkg/client/rp"
	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/sovcloud/sov/internal/httpapi"
	"github.com/sovcloud/sov/internal/store"
)

// WebSSO, as Keystone's: a dashboard sends the browser to
// /identity/v3/auth/OS-FEDERATION/identity_providers/{idp}/protocols/openid/websso?origin=<dashboard>;
// sov sends it on to the provider's authorization endpoint (code flow with
// PKCE and a nonce, as the client the provider's oidc.client_id names); the
// provider sends it back to WebSSORedirectPath, where sov exchanges the
// code, logs the user in as with a bearer token, and hands the Keystone
// token to the origin, which must be a trusted dashboard.

// WebSSORedirectPath is where providers send browsers back to (the
// redirect URI to register for sov's client there), below the public URL.
const WebSSORedirectPath = "/identity/v3/auth/OS-FEDERATION/websso/openid/redirect"

// webSSOLifetime bounds a WebSSO login from start to finish.
const webSSOLifetime = 10 * time.Minute

// defaultWebSSOScopes are asked for unless the provider's settings say otherwise.
var defaultWebSSOScopes = []string{oidc.ScopeOpenID, oidc.ScopeProfile, oidc.ScopeEmail}

func randomString() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func hashState(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// relyingParty is sov as a client of the provider; ID tokens must carry nonce.
func (f *Federation) relyingParty(ctx context.Context, p *IdentityProvider, nonce string) (rp.RelyingParty, error) {
	if p.Settings.ClientID == "" || len(p.RemoteIDs) == 0 {
		return nil, httpapi.Errorf(http.StatusBadRequest, "Identity provider %s has no oidc.client_id for WebSSO.", p.ID)
	}
	is, err := f.issuer(ctx, p, p.RemoteIDs[0])
	if err != nil {
		return nil, httpapi.Errorf(http.StatusBadGateway, "Identity provider %s cannot be reached.", p.ID)
	}
	scopes := p.Settings.Scopes
	if len(scopes) == 0 {
		scopes = defaultWebSSOScopes
	}
	return rp.NewRelyingPartyOIDC(ctx, p.RemoteIDs[0], p.Settings.ClientID, p.Settings.ClientSecret, f.publicURL+WebSSORedirectPath,
		scopes, rp.WithHTTPClient(is.client), rp.WithSigningAlgsFromDiscovery(),
		rp.WithVerifierOpts(rp.WithNonce(func(context.Context) string { return nonce })))
}

// StartWebSSO sends the browser to the provider's authorization endpoint;
// origin must be one of trusted.
func (f *Federation) StartWebSSO(w http.ResponseWriter, r *http.Request, idpID, protocolID, origin string, trusted []string) error {
	if !slices.Contains(trusted, origin) {
		return httpapi.Errorf(http.StatusBadRequest, "%q is not a trusted dashboard.", origin)
	}
	ctx := r.Context()
	p, _, err := f.protocolOf(ctx, idpID, protocolID)
	if err != nil {
		return err
	}
	switch protocolID {
	case "saml2":
		return f.startSAML(w, r, p, protocolID, origin)
	case "openid":
	default:
		return httpapi.Errorf(http.StatusNotImplemented, "WebSSO with protocol %s is not supported; sov offers openid and saml2.", protocolID)
	}
	state, verifier, nonce := randomString(), randomString(), randomString()
	party, err := f.relyingParty(ctx, p, nonce)
	if err != nil {
		return err
	}
	if err := f.saveState(ctx, state, idpID, protocolID, origin, verifier, nonce); err != nil {
		return err
	}
	http.Redirect(w, r, rp.AuthURL(state, party, rp.WithCodeChallenge(oidc.NewSHACodeChallenge(verifier)), rp.AuthURLOpt(rp.WithURLParam("nonce", nonce))), http.StatusFound)
	return nil
}

// FinishWebSSO takes the browser back from the provider: the state must be
// one sov made (each is good once), the code is exchanged (with the PKCE
// verifier; the ID token's signature and nonce are checked), and the
// access token logs the user in. It returns the login and the origin.
func (f *Federation) FinishWebSSO(r *http.Request) (*Login, string, error) {
	ctx, q := r.Context(), r.URL.Query()
	st, err := f.takeState(ctx, q.Get("state"))
	if err != nil {
		return nil, "", err
	}
	idpID, protocolID, origin, verifier, nonce := st.idp, st.protocol, st.origin, st.verifier, st.nonce
	if e := q.Get("error"); e != "" {
		return nil, "", httpapi.Errorf(http.StatusUnauthorized, "The identity provider refused the sign-in: %s.", e)
	}
	p, _, err := f.protocolOf(ctx, idpID, protocolID)
	if err != nil {
		return nil, "", err
	}
	party, err := f.relyingParty(ctx, p, nonce)
	if err != nil {
		return nil, "", err
	}
	tokens, err := rp.CodeExchange[*oidc.IDTokenClaims](ctx, q.Get("code"), party, rp.WithCodeVerifier(verifier))
	if err != nil {
		f.log.Info("WebSSO code exchange refused", "idp", idpID, "err", err)
		return nil, "", unauthorized("The identity provider did not confirm the sign-in.")
	}
	login, err := f.LoginWithToken(ctx, idpID, protocolID, tokens.AccessToken)
	return login, origin, err
}

// webSSOState is a WebSSO login under way.
type webSSOState struct {
	idp, protocol, origin string
	// verifier is the PKCE verifier (openid) or the AuthnRequest's id (saml2).
	verifier, nonce string
}

// saveState records a login under way (and drops the expired ones).
func (f *Federation) saveState(ctx context.Context, state, idp, protocol, origin, verifier, nonce string) error {
	if err := store.Insert(ctx, f.db, "fed_websso", store.Values{}.Set("state_hash", hashState(state)).Set("idp_id", idp).
		Set("protocol_id", protocol).Set("origin", origin).Set("verifier", verifier).Set("nonce", nonce).Set("created_at", time.Now().Unix())); err != nil {
		return err
	}
	_, err := f.db.Exec(ctx, `DELETE FROM fed_websso WHERE created_at < ?`, time.Now().Add(-webSSOLifetime).Unix())
	return err
}

// takeState returns a login under way and ends it: each is good once.
func (f *Federation) takeState(ctx context.Context, state string) (*webSSOState, error) {
	gone := httpapi.Errorf(http.StatusBadRequest, "This sign-in is unknown or has expired; start again at the dashboard.")
	var st webSSOState
	var created int64
	h := hashState(state)
	err := f.db.QueryRow(ctx, `SELECT idp_id, protocol_id, origin, verifier, nonce, created_at FROM fed_websso WHERE state_hash = ?`, h).
		Scan(&st.idp, &st.protocol, &st.origin, &st.verifier, &st.nonce, &created)
	if errors.Is(store.Row(err), store.ErrNotFound) || (err == nil && time.Since(time.Unix(created, 0)) > webSSOLifetime) {
		return nil, gone
	}
	if err != nil {
		return nil, err
	}
	if err := store.Affected(f.db.Exec(ctx, `DELETE FROM fed_websso WHERE state_hash = ?`, h)); err != nil {
		return nil, gone
	}
	return &st, nil
}
