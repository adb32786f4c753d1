package openid

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"slices"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/sovcloud/sov/internal/store"
)

// clientRequest is the token request of the client credentials grant: the
// client itself is the subject.
type clientRequest struct {
	clientID string
	scopes   []string
}

func (c *clientRequest) GetSubject() string    { return c.clientID }
func (c *clientRequest) GetAudience() []string { return []string{c.clientID} }
func (c *clientRequest) GetScopes() []string   { return c.scopes }

// refreshRequest is the token request of a refresh token.
type refreshRequest struct {
	family, clientID, subject string
	audience, scopes, amr     []string
	authTime                  time.Time
}

func (r *refreshRequest) GetAMR() []string                 { return r.amr }
func (r *refreshRequest) GetAudience() []string            { return r.audience }
func (r *refreshRequest) GetAuthTime() time.Time           { return r.authTime }
func (r *refreshRequest) GetClientID() string              { return r.clientID }
func (r *refreshRequest) GetScopes() []string              { return r.scopes }
func (r *refreshRequest) GetSubject() string               { return r.subject }
func (r *refreshRequest) SetCurrentScopes(scopes []string) { r.scopes = scopes }

// ClientCredentials authenticates a confidential client for the client
// credentials grant.
func (p *Provider) ClientCredentials(ctx context.Context, clientID, secret string) (op.Client, error) {
	if err := p.AuthorizeClientIDSecret(ctx, clientID, secret); err != nil {
		return nil, err
	}
	c, err := p.client(ctx, clientID)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(c.Grants, oidc.GrantTypeClientCredentials) {
		return nil, oidc.ErrUnauthorizedClient().WithDescription("the client may not use the client_credentials grant")
	}
	return c, nil
}

// ClientCredentialsTokenRequest is the token request of that grant, with
// the scopes the client may have.
func (p *Provider) ClientCredentialsTokenRequest(ctx context.Context, clientID string, scopes []string) (op.TokenRequest, error) {
	c, err := p.client(ctx, clientID)
	if err != nil {
		return nil, err
	}
	allowed := slices.DeleteFunc(slices.Clone(scopes), func(s string) bool { return !c.IsScopeAllowed(s) && s != oidc.ScopeOpenID })
	return &clientRequest{clientID: clientID, scopes: allowed}, nil
}

// CreateAccessToken records an access token without a refresh token; the
// records of concurrent requests share one commit.
func (p *Provider) CreateAccessToken(ctx context.Context, req op.TokenRequest) (id string, exp time.Time, err error) {
	err = p.db.Batch(ctx, func(tx *store.Tx) error {
		id, exp, err = p.createAccessToken(ctx, tx, req, "")
		return err
	})
	return id, exp, err
}

func (p *Provider) createAccessToken(ctx context.Context, q store.Querier, req op.TokenRequest, family string) (string, time.Time, error) {
	id, exp := randomID(), p.now().Add(p.cfg.AccessTokenLifetime)
	err := store.Insert(ctx, q, "oidc_access_tokens", store.Values{}.Set("id", id).Set("client_id", clientOf(req)).
		Set("subject", req.GetSubject()).Set("audience", jsonList(req.GetAudience())).Set("scopes", jsonList(req.GetScopes())).
		Set("refresh_family", family).Set("expires_at", exp.Unix()))
	return id, exp, err
}

// clientOf is the client a token request is for.
func clientOf(req op.TokenRequest) string {
	switch r := req.(type) {
	case interface{ GetClientID() string }:
		return r.GetClientID()
	case *clientRequest:
		return r.clientID
	}
	if aud := req.GetAudience(); len(aud) > 0 {
		return aud[0]
	}
	return ""
}

// CreateAccessAndRefreshTokens records an access token and makes a refresh
// token. Given the refresh token being used, it marks that one used (each
// is good once) and makes its successor in the same family.
func (p *Provider) CreateAccessAndRefreshTokens(ctx context.Context, req op.TokenRequest, current string) (string, string, time.Time, error) {
	family, amr, authTime := randomID(), []string(nil), p.now()
	switch r := req.(type) {
	case *refreshRequest:
		family, amr, authTime = r.family, r.amr, r.authTime
	case *authRequest:
		amr, authTime = r.AMR, r.AuthTime
	}
	refresh := randomSecret()
	var accessID string
	var exp time.Time
	err := p.db.InTx(ctx, func(tx *store.Tx) error {
		if current != "" {
			if err := store.Affected(tx.Exec(ctx, `UPDATE oidc_refresh_tokens SET used = ? WHERE token_hash = ? AND used = ?`, true, hash(current), false)); err != nil {
				return oidc.ErrInvalidGrant().WithDescription("the refresh token was used already")
			}
		}
		var err error
		if accessID, exp, err = p.createAccessToken(ctx, tx, req, family); err != nil {
			return err
		}
		return store.Insert(ctx, tx, "oidc_refresh_tokens", store.Values{}.Set("token_hash", hash(refresh)).Set("family", family).
			Set("client_id", clientOf(req)).Set("subject", req.GetSubject()).Set("audience", jsonList(req.GetAudience())).
			Set("scopes", jsonList(req.GetScopes())).Set("amr", jsonList(amr)).Set("auth_time", authTime.Unix()).
			Set("used", false).Set("expires_at", p.now().Add(p.cfg.RefreshTokenLifetime).Unix()))
	})
	if err != nil {
		return "", "", time.Time{}, err
	}
	return accessID, refresh, exp, nil
}

// TokenRequestByRefreshToken returns what a refresh token was issued for.
// A refresh token presented after it was used is taken as stolen: its
// whole family (the tokens before and after it, and their access tokens)
// is revoked.
func (p *Provider) TokenRequestByRefreshToken(ctx context.Context, token string) (op.RefreshTokenRequest, error) {
	r, used, err := p.refreshToken(ctx, token)
	if err != nil {
		return nil, err
	}
	if err := p.active(ctx, r.subject, r.clientID); err != nil {
		return nil, err
	}
	if used {
		if err := p.revokeFamily(ctx, r.family); err != nil {
			return nil, err
		}
		p.log.Warn("a used refresh token was presented again: its family is revoked", "client", r.clientID, "subject", r.subject)
		return nil, oidc.ErrInvalidGrant().WithDescription("the refresh token was used already")
	}
	return r, nil
}

func (p *Provider) refreshToken(ctx context.Context, token string) (*refreshRequest, bool, error) {
	var r refreshRequest
	var aud, scopes, amr string
	var authTime int64
	var used bool
	err := p.db.QueryRow(ctx, `SELECT family, client_id, subject, audience, scopes, amr, auth_time, used FROM oidc_refresh_tokens
		WHERE token_hash = ? AND expires_at > ?`, hash(token), p.now().Unix()).
		Scan(&r.family, &r.clientID, &r.subject, &aud, &scopes, &amr, &authTime, &used)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, op.ErrInvalidRefreshToken
	}
	if err != nil {
		return nil, false, err
	}
	r.authTime = time.Unix(authTime, 0)
	for _, l := range []struct {
		s   string
		dst *[]string
	}{{aud, &r.audience}, {scopes, &r.scopes}, {amr, &r.amr}} {
		if err := json.Unmarshal([]byte(l.s), l.dst); err != nil {
			return nil, false, err
		}
	}
	return &r, used, nil
}

func (p *Provider) revokeFamily(ctx context.Context, family string) error {
	return p.db.InTx(ctx, func(tx *store.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM oidc_access_tokens WHERE refresh_family = ?`, family); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `DELETE FROM oidc_refresh_tokens WHERE family = ?`, family)
		return err
	})
}

// TerminateSession revokes every token of the user at the client (logout).
func (p *Provider) TerminateSession(ctx context.Context, userID, clientID string) error {
	return p.db.InTx(ctx, func(tx *store.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM oidc_access_tokens WHERE subject = ? AND client_id = ?`, userID, clientID); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `DELETE FROM oidc_refresh_tokens WHERE subject = ? AND client_id = ?`, userID, clientID)
		return err
	})
}

// GetRefreshTokenInfo names the subject and family of a refresh token.
func (p *Provider) GetRefreshTokenInfo(ctx context.Context, clientID, token string) (string, string, error) {
	r, _, err := p.refreshToken(ctx, token)
	if err != nil {
		return "", "", err
	}
	if r.clientID != clientID {
		return "", "", op.ErrInvalidRefreshToken
	}
	return r.subject, r.family, nil
}

// RevokeToken revokes an access token (by id) or a refresh token with its
// family; only the client it was issued to may revoke it. An unknown token
// is no error (RFC 7009).
func (p *Provider) RevokeToken(ctx context.Context, tokenOrID, userID, clientID string) *oidc.Error {
	if userID != "" { // an access token's id
		var owner string
		err := p.db.QueryRow(ctx, `SELECT client_id FROM oidc_access_tokens WHERE id = ?`, tokenOrID).Scan(&owner)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return nil
		case err != nil:
			return oidc.ErrServerError()
		case owner != clientID:
			return oidc.ErrInvalidClient().WithDescription("the token was not issued to this client")
		}
		if _, err := p.db.Exec(ctx, `DELETE FROM oidc_access_tokens WHERE id = ?`, tokenOrID); err != nil {
			return oidc.ErrServerError()
		}
		return nil
	}
	r, _, err := p.refreshToken(ctx, tokenOrID)
	if errors.Is(err, op.ErrInvalidRefreshToken) {
		return nil
	}
	if err != nil {
		return oidc.ErrServerError()
	}
	if r.clientID != clientID {
		return oidc.ErrInvalidClient().WithDescription("the token was not issued to this client")
	}
	if err := p.revokeFamily(ctx, r.family); err != nil {
		return oidc.ErrServerError()
	}
	return nil
}

// accessToken is a recorded access token that has not expired nor been revoked.
type accessToken struct {
	clientID, subject string
	audience, scopes  []string
	expires           time.Time
}

func (p *Provider) accessToken(ctx context.Context, id string) (*accessToken, error) {
	var t accessToken
	var aud, scopes string
	var exp int64
	err := p.db.QueryRow(ctx, `SELECT client_id, subject, audience, scopes, expires_at FROM oidc_access_tokens WHERE id = ? AND expires_at > ?`,
		id, p.now().Unix()).Scan(&t.clientID, &t.subject, &aud, &scopes, &exp)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errors.New("openid: the token is not active")
	}
	if err != nil {
		return nil, err
	}
	t.expires = time.Unix(exp, 0)
	if err := json.Unmarshal([]byte(aud), &t.audience); err != nil {
		return nil, err
	}
	return &t, json.Unmarshal([]byte(scopes), &t.scopes)
}

// activeToken returns an access token of subject that is recorded, has
// not expired, and whose user may still sign in.
func (p *Provider) activeToken(ctx context.Context, tokenID, subject string) (*accessToken, error) {
	t, err := p.accessToken(ctx, tokenID)
	if err != nil {
		return nil, err
	}
	if t.subject != subject {
		return nil, errors.New("openid: the token is not active")
	}
	return t, p.active(ctx, t.subject, t.clientID)
}

// SetUserinfoFromToken fills the userinfo answer for an active access token.
func (p *Provider) SetUserinfoFromToken(ctx context.Context, info *oidc.UserInfo, tokenID, subject, _ string) error {
	t, err := p.activeToken(ctx, tokenID, subject)
	if err != nil {
		return err
	}
	return p.setUserinfo(ctx, info, t.subject, t.clientID, t.scopes)
}

// SetIntrospectionFromToken fills the introspection answer for an active
// access token; any authenticated client may introspect a token it holds.
func (p *Provider) SetIntrospectionFromToken(ctx context.Context, resp *oidc.IntrospectionResponse, tokenID, subject, _ string) error {
	t, err := p.activeToken(ctx, tokenID, subject)
	if err != nil {
		return err
	}
	info := new(oidc.UserInfo)
	if err := p.setUserinfo(ctx, info, t.subject, t.clientID, t.scopes); err != nil {
		return err
	}
	resp.SetUserInfo(info)
	resp.Scope, resp.ClientID, resp.Audience = t.scopes, t.clientID, t.audience
	resp.Expiration, resp.TokenType = oidc.FromTime(t.expires), oidc.BearerToken
	return nil
}

// active refuses the tokens of a user who is gone or disabled (a client's
// own tokens need no user).
func (p *Provider) active(ctx context.Context, subject, clientID string) error {
	if subject == clientID {
		return nil
	}
	ok, err := p.dir.Active(ctx, subject)
	if err != nil {
		return err
	}
	if !ok {
		return oidc.ErrInvalidGrant().WithDescription("the user is disabled or gone")
	}
	return nil
}

// jsonList encodes a list of strings for a JSON text column ([] for none).
func jsonList(l []string) string {
	if l == nil {
		l = []string{}
	}
	b, _ := json.Marshal(l)
	return string(b)
}
