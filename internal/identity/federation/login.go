package federation

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/sovcloud/sov/internal/httpapi"
	"github.com/sovcloud/sov/internal/identity/mapping"
	"github.com/sovcloud/sov/internal/store"
)

// mapping returns a mapping's rules.
func (f *Federation) mapping(ctx context.Context, id string) (*mapping.Rules, error) {
	var rules string
	if err := f.db.QueryRow(ctx, `SELECT rules FROM fed_mappings WHERE id = ?`, id).Scan(&rules); err != nil {
		return nil, store.Row(err)
	}
	return mapping.Parse([]byte(`{"rules":` + rules + `}`))
}

// Login is what a federated authentication established: the provider,
// the protocol, the claims it made and what its mapping makes of them.
type Login struct {
	Provider *IdentityProvider
	Protocol string
	Claims   map[string]any
	Result   *mapping.Result
}

func unauthorized(msg string) error { return httpapi.Errorf(http.StatusUnauthorized, "%s", msg) }

// Authenticate establishes who the request's bearer is, by the rules of
// the provider and protocol the URL names: for "openid", the access token
// in the Authorization header, as keystoneauth's OIDC plugins send it.
func (f *Federation) Authenticate(r *http.Request, idpID, protocolID string) (*Login, error) {
	if protocolID != "openid" {
		if _, _, err := f.protocolOf(r.Context(), idpID, protocolID); err != nil {
			return nil, err
		}
		return nil, httpapi.Errorf(http.StatusNotImplemented, "Protocol %s is not supported; sov offers openid.", protocolID)
	}
	raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || strings.TrimSpace(raw) == "" {
		if _, _, err := f.protocolOf(r.Context(), idpID, protocolID); err != nil {
			return nil, err
		}
		return nil, unauthorized("An OAuth 2.0 access token is required: Authorization: Bearer <token>.")
	}
	return f.LoginWithToken(r.Context(), idpID, protocolID, strings.TrimSpace(raw))
}

// protocolOf returns an enabled provider and the mapping of its protocol.
func (f *Federation) protocolOf(ctx context.Context, idpID, protocolID string) (*IdentityProvider, string, error) {
	p, err := f.provider(ctx, idpID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, "", notFound("identity provider", idpID)
	}
	if err != nil {
		return nil, "", err
	}
	var mappingID string
	err = f.db.QueryRow(ctx, `SELECT mapping_id FROM fed_protocols WHERE idp_id = ? AND id = ?`, idpID, protocolID).Scan(&mappingID)
	if errors.Is(store.Row(err), store.ErrNotFound) {
		return nil, "", notFound("protocol", protocolID)
	}
	if err != nil {
		return nil, "", err
	}
	if !p.Enabled {
		return nil, "", httpapi.Errorf(http.StatusForbidden, "Identity provider %s is disabled.", idpID)
	}
	return p, mappingID, nil
}

// LoginWithToken establishes who an access token of the provider stands
// for and what the protocol's mapping makes of them.
func (f *Federation) LoginWithToken(ctx context.Context, idpID, protocolID, token string) (*Login, error) {
	p, mappingID, err := f.protocolOf(ctx, idpID, protocolID)
	if err != nil {
		return nil, err
	}
	claims, err := f.VerifyAccessToken(ctx, p, token)
	if err != nil {
		if errors.Is(err, ErrToken) {
			f.log.Info("federated login refused", "idp", idpID, "reason", err)
			return nil, unauthorized("The access token is not valid for this identity provider.")
		}
		f.log.Warn("federated login failed", "idp", idpID, "err", err)
		return nil, httpapi.Errorf(http.StatusBadGateway, "The identity provider could not be reached to validate the token.")
	}
	return f.mapLogin(ctx, p, protocolID, mappingID, Assertion(claims), claims)
}

// mapLogin applies the protocol's mapping to what the provider asserted;
// no rule matched, or no user, is a 401.
func (f *Federation) mapLogin(ctx context.Context, p *IdentityProvider, protocolID, mappingID string, a mapping.Assertion, claims map[string]any) (*Login, error) {
	rules, err := f.mapping(ctx, mappingID)
	if err != nil {
		return nil, err
	}
	res, ok := rules.Evaluate(a)
	if !ok || (res.User.Name == "" && res.User.ID == "") {
		return nil, unauthorized("The identity provider's mapping maps this user to no one here.")
	}
	return &Login{Provider: p, Protocol: protocolID, Claims: claims, Result: res}, nil
}
