package openid

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/sovcloud/sov/internal/store"
)

// The device authorization grant (RFC 8628), for command lines (`sov
// login`): the device gets a user code, the user signs in on the device
// page with it, and the device's polling then gets the tokens.

// deviceLifetime is how long a user has to sign in for a device.
const deviceLifetime = 10 * time.Minute

// StoreDeviceAuthorization records a device authorization of a client
// that may use the grant.
func (p *Provider) StoreDeviceAuthorization(ctx context.Context, clientID, deviceCode, userCode string, expires time.Time, scopes []string) error {
	c, err := p.client(ctx, clientID)
	if err != nil {
		return err
	}
	if !slices.Contains(c.Grants, oidc.GrantTypeDeviceCode) {
		return oidc.ErrUnauthorizedClient().WithDescription("the client may not use the device_code grant")
	}
	allowed := slices.DeleteFunc(slices.Clone(scopes), func(s string) bool { return s != oidc.ScopeOpenID && !c.IsScopeAllowed(s) })
	err = store.Insert(ctx, p.db, "oidc_device_codes", store.Values{}.Set("device_hash", hash(deviceCode)).Set("user_code", userCode).
		Set("client_id", clientID).Set("scopes", jsonList(allowed)).Set("expires_at", expires.Unix()).Set("subject", "").Set("auth_time", int64(0)))
	if errors.Is(err, store.ErrConflict) {
		return op.ErrDuplicateUserCode
	}
	return err
}

// GetDeviceAuthorizatonState tells a polling device whether its user
// signed in. A finished authorization is handed out once: its row goes.
func (p *Provider) GetDeviceAuthorizatonState(ctx context.Context, clientID, deviceCode string) (*op.DeviceAuthorizationState, error) {
	var scopes, subject string
	var expires, authTime int64
	err := p.db.QueryRow(ctx, `SELECT scopes, expires_at, subject, auth_time FROM oidc_device_codes WHERE device_hash = ? AND client_id = ?`,
		hash(deviceCode), clientID).Scan(&scopes, &expires, &subject, &authTime)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errors.New("openid: no such device authorization")
	}
	if err != nil {
		return nil, err
	}
	s := &op.DeviceAuthorizationState{ClientID: clientID, Expires: time.Unix(expires, 0), Subject: subject}
	if err := json.Unmarshal([]byte(scopes), &s.Scopes); err != nil {
		return nil, err
	}
	if subject != "" {
		if err := store.Affected(p.db.Exec(ctx, `DELETE FROM oidc_device_codes WHERE device_hash = ?`, hash(deviceCode))); err != nil {
			return nil, errors.New("openid: the device authorization was used already")
		}
		s.Done, s.AMR, s.AuthTime = true, []string{"pwd"}, time.Unix(authTime, 0)
	}
	return s, nil
}

// devicePage serves the form where a user signs in for a device.
func (p *Provider) devicePage(w http.ResponseWriter, r *http.Request) {
	code := strings.ToUpper(strings.TrimSpace(r.URL.Query().Get("user_code")))
	p.render(w, r, http.StatusOK, loginView{Device: true, UserCode: code, Action: p.devicePath, Domain: "Default"})
}

// device signs a user in for the device whose code they typed.
func (p *Provider) device(w http.ResponseWriter, r *http.Request) {
	view, ok := p.readForm(w, r, loginView{Device: true, Action: p.devicePath})
	if !ok {
		return
	}
	ctx := r.Context()
	view.UserCode = strings.ToUpper(strings.TrimSpace(r.PostForm.Get("user_code")))
	var clientID string
	err := p.db.QueryRow(ctx, `SELECT client_id FROM oidc_device_codes WHERE user_code = ? AND subject = '' AND expires_at > ?`,
		view.UserCode, p.now().Unix()).Scan(&clientID)
	if err != nil {
		view.Error = "This code is unknown or has expired. Start again on your device."
		p.render(w, r, http.StatusBadRequest, view)
		return
	}
	c, err := p.client(ctx, clientID)
	if err != nil {
		view.Error = "This code is unknown or has expired. Start again on your device."
		p.render(w, r, http.StatusBadRequest, view)
		return
	}
	view.Client = c.Name
	userID, ok := p.checkPassword(w, r, &view, c)
	if !ok {
		return
	}
	if err := store.Affected(p.db.Exec(ctx, `UPDATE oidc_device_codes SET subject = ?, auth_time = ? WHERE user_code = ? AND subject = ''`,
		userID, p.now().Unix(), view.UserCode)); err != nil {
		view.Error = "This code is unknown or has expired. Start again on your device."
		p.render(w, r, http.StatusBadRequest, view)
		return
	}
	p.render(w, r, http.StatusOK, loginView{Done: true, Client: view.Client})
}
