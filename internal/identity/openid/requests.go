package openid

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/sovcloud/sov/internal/store"
)

// authRequestLifetime bounds an authorization request: the login, and the
// code issued at its end, must be used within it.
const authRequestLifetime = 10 * time.Minute

// authRequest is an authorization request (code flow) and, once the user
// logged in, who they are.
type authRequest struct {
	ID            string              `json:"-"`
	ClientID      string              `json:"client_id"`
	RedirectURI   string              `json:"redirect_uri"`
	Scopes        []string            `json:"scopes"`
	ResponseType  oidc.ResponseType   `json:"response_type"`
	ResponseMode  oidc.ResponseMode   `json:"response_mode,omitempty"`
	State         string              `json:"state,omitempty"`
	Nonce         string              `json:"nonce,omitempty"`
	CodeChallenge *oidc.CodeChallenge `json:"code_challenge,omitempty"`
	LoginHint     string              `json:"login_hint,omitempty"`
	UserID        string              `json:"-"`
	AuthTime      time.Time           `json:"-"`
	AMR           []string            `json:"-"`
}

func (a *authRequest) GetID() string                         { return a.ID }
func (a *authRequest) GetACR() string                        { return "" }
func (a *authRequest) GetAMR() []string                      { return a.AMR }
func (a *authRequest) GetAudience() []string                 { return []string{a.ClientID} }
func (a *authRequest) GetAuthTime() time.Time                { return a.AuthTime }
func (a *authRequest) GetClientID() string                   { return a.ClientID }
func (a *authRequest) GetCodeChallenge() *oidc.CodeChallenge { return a.CodeChallenge }
func (a *authRequest) GetNonce() string                      { return a.Nonce }
func (a *authRequest) GetRedirectURI() string                { return a.RedirectURI }
func (a *authRequest) GetResponseType() oidc.ResponseType    { return a.ResponseType }
func (a *authRequest) GetResponseMode() oidc.ResponseMode    { return a.ResponseMode }
func (a *authRequest) GetScopes() []string                   { return a.Scopes }
func (a *authRequest) GetState() string                      { return a.State }
func (a *authRequest) GetSubject() string                    { return a.UserID }
func (a *authRequest) Done() bool                            { return a.UserID != "" }

// CreateAuthRequest stores a new authorization request. A public client
// must use PKCE with S256; prompt=none cannot be honoured, since the
// provider keeps no login session.
func (p *Provider) CreateAuthRequest(ctx context.Context, req *oidc.AuthRequest, _ string) (op.AuthRequest, error) {
	if len(req.Prompt) == 1 && req.Prompt[0] == oidc.PromptNone {
		return nil, oidc.ErrLoginRequired()
	}
	c, err := p.client(ctx, req.ClientID)
	if err != nil {
		return nil, err
	}
	var challenge *oidc.CodeChallenge
	if req.CodeChallenge != "" {
		if req.CodeChallengeMethod != oidc.CodeChallengeMethodS256 {
			return nil, oidc.ErrInvalidRequest().WithDescription("code_challenge_method must be S256")
		}
		challenge = &oidc.CodeChallenge{Challenge: req.CodeChallenge, Method: req.CodeChallengeMethod}
	} else if c.public() {
		return nil, oidc.ErrInvalidRequest().WithDescription("a public client must use PKCE (code_challenge with S256)")
	}
	a := &authRequest{ID: randomID(), ClientID: req.ClientID, RedirectURI: req.RedirectURI, Scopes: req.Scopes,
		ResponseType: req.ResponseType, ResponseMode: req.ResponseMode, State: req.State, Nonce: req.Nonce,
		CodeChallenge: challenge, LoginHint: req.LoginHint}
	body, err := json.Marshal(a)
	if err != nil {
		return nil, err
	}
	err = store.Insert(ctx, p.db, "oidc_auth_requests", store.Values{}.Set("id", a.ID).Set("client_id", a.ClientID).
		Set("request", string(body)).Set("user_id", "").Set("auth_time", int64(0)).Set("amr", "[]").Set("consent_user", "").
		Set("code_hash", "").Set("created_at", p.now().Unix()))
	return a, err
}

// AuthRequestByID returns an authorization request that has not expired.
func (p *Provider) AuthRequestByID(ctx context.Context, id string) (op.AuthRequest, error) {
	return p.authRequest(ctx, `id = ?`, id)
}

// AuthRequestByCode returns the authorization request a code was issued for.
func (p *Provider) AuthRequestByCode(ctx context.Context, code string) (op.AuthRequest, error) {
	return p.authRequest(ctx, `code_hash = ? AND code_hash <> ''`, hash(code))
}

func (p *Provider) authRequest(ctx context.Context, where string, arg string) (*authRequest, error) {
	var a authRequest
	var body, amr string
	var authTime int64
	err := p.db.QueryRow(ctx, `SELECT id, request, user_id, auth_time, amr FROM oidc_auth_requests WHERE `+where+` AND created_at > ?`,
		arg, p.now().Add(-authRequestLifetime).Unix()).Scan(&a.ID, &body, &a.UserID, &authTime, &amr)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errors.New("openid: no such authorization request, or it expired")
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(body), &a); err != nil {
		return nil, err
	}
	if authTime != 0 {
		a.AuthTime = time.Unix(authTime, 0)
	}
	return &a, json.Unmarshal([]byte(amr), &a.AMR)
}

// SaveAuthCode records the code issued for a request (its hash only).
func (p *Provider) SaveAuthCode(ctx context.Context, id, code string) error {
	return store.Affected(p.db.Exec(ctx, `UPDATE oidc_auth_requests SET code_hash = ? WHERE id = ? AND user_id <> ''`, hash(code), id))
}

// DeleteAuthRequest ends a request: its code cannot be used again.
func (p *Provider) DeleteAuthRequest(ctx context.Context, id string) error {
	_, err := p.db.Exec(ctx, `DELETE FROM oidc_auth_requests WHERE id = ?`, id)
	return err
}

// finishLogin records who logged in for an authorization request.
func (p *Provider) finishLogin(ctx context.Context, id, userID string, amr []string) error {
	b, err := json.Marshal(amr)
	if err != nil {
		return err
	}
	return store.Affected(p.db.Exec(ctx, `UPDATE oidc_auth_requests SET user_id = ?, auth_time = ?, amr = ? WHERE id = ? AND user_id = '' AND created_at > ?`,
		userID, p.now().Unix(), string(b), id, p.now().Add(-authRequestLifetime).Unix()))
}

// hash is the hex SHA-256 of a secret of high entropy (a code, a refresh
// token, a client secret): what the store keeps of it.
func hash(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(h[:])
}

// randomID returns 32 hex digits from the system's random source.
func randomID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// randomSecret returns 256 random bits, base64url-encoded.
func randomSecret() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
