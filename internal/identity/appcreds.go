package identity

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"slices"
	"time"

	"github.com/sovcloud/sov/internal/httpapi"
	"github.com/sovcloud/sov/internal/policy"
	"github.com/sovcloud/sov/internal/store"
)

// appCredAuth is the "application_credential" member of an auth request.
type appCredAuth struct {
	ID     string   `json:"id"`
	Name   string   `json:"name"`
	User   *userRef `json:"user"`
	Secret string   `json:"secret"`
}

type appCred struct {
	ID, UserID, ProjectID, Name, Description, secretHash string
	ExpiresAt                                            int64 // unix seconds, 0 = never
	Unrestricted                                         bool
	RoleIDs                                              []string
}

const appCredColumns = `id, user_id, project_id, name, description, secret_hash, expires_at, unrestricted, roles`

func scanAppCred(row store.Scanner) (*appCred, error) {
	a := &appCred{}
	var roles string
	if err := row.Scan(&a.ID, &a.UserID, &a.ProjectID, &a.Name, &a.Description, &a.secretHash, &a.ExpiresAt, &a.Unrestricted, &roles); err != nil {
		return nil, err
	}
	return a, json.Unmarshal([]byte(roles), &a.RoleIDs)
}

// appCredTimeFormat is how Keystone renders expires_at of an application credential.
const appCredTimeFormat = "2006-01-02T15:04:05.000000"

func (s *Service) appCredJSON(a *appCred, roles []RoleRef) map[string]any {
	var expires any
	if a.ExpiresAt != 0 {
		expires = time.Unix(a.ExpiresAt, 0).UTC().Format(appCredTimeFormat)
	}
	rs := []map[string]any{}
	for _, r := range roles {
		rs = append(rs, map[string]any{"id": r.ID, "name": r.Name, "domain_id": nil})
	}
	return map[string]any{"id": a.ID, "name": a.Name, "description": a.Description, "user_id": a.UserID,
		"project_id": a.ProjectID, "expires_at": expires, "unrestricted": a.Unrestricted, "roles": rs,
		"access_rules": []any{}, "links": map[string]any{"self": s.url("/v3/users/" + a.UserID + "/application_credentials/" + a.ID)}}
}

// roleRefs names the role ids, skipping roles that no longer exist.
func (s *Service) roleRefs(ctx context.Context, ids []string) ([]RoleRef, error) {
	all, err := s.allRoles(ctx)
	if err != nil {
		return nil, err
	}
	var out []RoleRef
	for _, r := range all {
		if slices.Contains(ids, r.ID) {
			out = append(out, RoleRef{ID: r.ID, Name: r.Name})
		}
	}
	return out, nil
}

// unrestrictedOnly refuses a token issued for a restricted application
// credential: as in Keystone, such a token cannot manage credentials or
// application credentials, so it cannot mint a credential wider than
// itself; nor can it read credentials, whose secrets (EC2 keys made with
// the user's full tokens) are wider than it.
func unrestrictedOnly(tok *Token) error {
	if tok.AppCredID != "" && !tok.AppCredUnrestricted {
		return forbidden("Using method 'application_credential' is not allowed for managing additional application credentials or credentials.")
	}
	return nil
}

// ownAppCreds checks that the caller may manage the application credentials of the user in the path.
func (s *Service) ownAppCreds(r *http.Request, tok *Token) (string, error) {
	uid := r.PathValue("user_id")
	return uid, enforce(tok, "identity:owner_credentials", policy.Target{UserID: uid})
}

func parseExpiry(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999", "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, badRequest("Invalid input for field 'expires_at': %q is not an ISO 8601 time.", s)
}

func (s *Service) createAppCred(w http.ResponseWriter, r *http.Request, tok *Token) error {
	uid := r.PathValue("user_id")
	if uid != tok.UserID {
		return forbidden("You are not authorized to perform the requested action: identity:create_application_credential.")
	}
	if tok.ProjectID == "" {
		return forbidden("An application credential needs a project-scoped token.")
	}
	if err := unrestrictedOnly(tok); err != nil {
		return err
	}
	var body struct {
		AppCred struct {
			Name         *string `json:"name"`
			Description  string  `json:"description"`
			Secret       string  `json:"secret"`
			ExpiresAt    *string `json:"expires_at"`
			Unrestricted bool    `json:"unrestricted"`
			Roles        []struct {
				ID   string `json:"id"`
				Name string `json:"name"`
			} `json:"roles"`
			AccessRules []json.RawMessage `json:"access_rules"`
		} `json:"application_credential"`
	}
	if err := httpapi.DecodeJSON(r, &body); err != nil {
		return err
	}
	b := &body.AppCred
	if err := validName(b.Name); err != nil {
		return err
	}
	if len(b.AccessRules) > 0 {
		return badRequest("Access rules are not supported.")
	}
	a := &appCred{ID: newID(), UserID: uid, ProjectID: tok.ProjectID, Name: *b.Name, Description: b.Description, Unrestricted: b.Unrestricted}
	if b.ExpiresAt != nil && *b.ExpiresAt != "" {
		t, err := parseExpiry(*b.ExpiresAt)
		if err != nil {
			return err
		}
		if !t.After(time.Now()) {
			return badRequest("Invalid input for field 'expires_at': the expiry is in the past.")
		}
		a.ExpiresAt = t.Unix()
	}
	roles := tok.Roles
	if len(b.Roles) > 0 {
		roles = nil
		for _, want := range b.Roles {
			i := slices.IndexFunc(tok.Roles, func(have RoleRef) bool { return have.ID == want.ID || (want.ID == "" && have.Name == want.Name) })
			if i < 0 {
				return forbidden("The user does not hold the role %s%s on the project, so the application credential cannot have it.", want.ID, want.Name)
			}
			roles = append(roles, tok.Roles[i])
		}
	}
	for _, r := range roles {
		a.RoleIDs = append(a.RoleIDs, r.ID)
	}
	secret := b.Secret
	// A secret starting with '-' would read as an option on command lines.
	for secret == "" || secret[0] == '-' && b.Secret == "" {
		raw := make([]byte, 48)
		rand.Read(raw)
		secret = base64.RawURLEncoding.EncodeToString(raw)
	}
	hash, err := hashPassword(secret, s.cfg.BcryptCost)
	if err != nil {
		return err
	}
	roleJSON, _ := json.Marshal(a.RoleIDs)
	if _, err := s.db.Exec(r.Context(), `INSERT INTO app_credentials (`+appCredColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		a.ID, a.UserID, a.ProjectID, a.Name, a.Description, hash, a.ExpiresAt, a.Unrestricted, string(roleJSON)); err != nil {
		return duplicate(err, "application credential", a.Name)
	}
	out := s.appCredJSON(a, roles)
	out["secret"] = secret
	httpapi.WriteJSON(w, http.StatusCreated, map[string]any{"application_credential": out})
	return nil
}

func (s *Service) listAppCreds(w http.ResponseWriter, r *http.Request, tok *Token) error {
	uid, err := s.ownAppCreds(r, tok)
	if err != nil {
		return err
	}
	q := `SELECT ` + appCredColumns + ` FROM app_credentials WHERE user_id = ?`
	args := []any{uid}
	if name := r.URL.Query().Get("name"); name != "" {
		q += ` AND name = ?`
		args = append(args, name)
	}
	ctx := r.Context()
	rows, err := s.db.Query(ctx, q+` ORDER BY name`, args...)
	if err != nil {
		return err
	}
	var creds []*appCred
	for rows.Next() {
		a, err := scanAppCred(rows)
		if err != nil {
			rows.Close()
			return err
		}
		creds = append(creds, a)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	out := []map[string]any{}
	for _, a := range creds {
		roles, err := s.roleRefs(ctx, a.RoleIDs)
		if err != nil {
			return err
		}
		out = append(out, s.appCredJSON(a, roles))
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"application_credentials": out, "links": s.listLinks(r)})
	return nil
}

// appCredFor loads the application credential in the path for its owner (or an admin).
func (s *Service) appCredFor(r *http.Request, tok *Token) (*appCred, error) {
	uid, err := s.ownAppCreds(r, tok)
	if err != nil {
		return nil, err
	}
	id := r.PathValue("cred_id")
	a, err := scanAppCred(s.db.QueryRow(r.Context(), `SELECT `+appCredColumns+` FROM app_credentials WHERE id = ? AND user_id = ?`, id, uid))
	return a, notFoundAs(err, "application credential", id)
}

func (s *Service) showAppCred(w http.ResponseWriter, r *http.Request, tok *Token) error {
	a, err := s.appCredFor(r, tok)
	if err != nil {
		return err
	}
	roles, err := s.roleRefs(r.Context(), a.RoleIDs)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"application_credential": s.appCredJSON(a, roles)})
	return nil
}

func (s *Service) deleteAppCred(w http.ResponseWriter, r *http.Request, tok *Token) error {
	if err := unrestrictedOnly(tok); err != nil {
		return err
	}
	a, err := s.appCredFor(r, tok)
	if err != nil {
		return err
	}
	err = s.execRevoking(r.Context(), revocation{AppCredentialID: a.ID}, stmt{`DELETE FROM app_credentials WHERE id = ?`, []any{a.ID}})
	if err != nil {
		return err
	}
	s.forgetAllEC2() // EC2 credentials made with it die with it
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// authAppCred authenticates with an application credential and scopes tok
// to its project with the credential's roles that the user still holds.
func (s *Service) authAppCred(ctx context.Context, tok *Token, ref *appCredAuth, scope *scopeRequest, source string) error {
	denied := unauthorized("The request you have made requires authentication.")
	key := "appcred:" + ref.ID + "/" + ref.Name
	if err := s.guard.reserve(source, key); err != nil {
		return err
	}
	var a *appCred
	var err error
	switch {
	case ref.ID != "":
		a, err = scanAppCred(s.db.QueryRow(ctx, `SELECT `+appCredColumns+` FROM app_credentials WHERE id = ?`, ref.ID))
	case ref.Name != "" && ref.User != nil:
		var u *user
		if u, err = s.findUser(ctx, ref.User); err == nil {
			a, err = scanAppCred(s.db.QueryRow(ctx, `SELECT `+appCredColumns+` FROM app_credentials WHERE user_id = ? AND name = ?`, u.ID, ref.Name))
		}
	default:
		s.guard.release(source, key)
		return badRequest("An application credential needs an 'id', or a 'name' and a 'user'.")
	}
	if store.Unavailable(err) {
		s.guard.release(source, key)
		return err
	}
	hash, cacheID := "", ""
	if err == nil {
		hash, cacheID = a.secretHash, "ac:"+a.ID
	}
	ok, err := s.pw.check(ctx, s.guard, cacheID, hash, ref.Secret)
	if err != nil {
		return err
	}
	if !ok {
		return denied
	}
	s.guard.release(source, key)
	if a.ExpiresAt != 0 && time.Now().Unix() >= a.ExpiresAt {
		return unauthorized("The application credential has expired.")
	}
	if scope != nil && (scope.Domain != nil || (scope.Project != nil && scope.Project.ID != "" && scope.Project.ID != a.ProjectID)) {
		return unauthorized("An application credential token can only be scoped to the credential's project.")
	}
	u, err := s.getUser(ctx, a.UserID)
	if err != nil || !u.Enabled {
		return denied
	}
	if err := s.setUser(ctx, tok, u); err != nil {
		return err
	}
	p, err := s.getProject(ctx, a.ProjectID)
	if err != nil {
		return denied
	}
	if err := s.scopeToProject(ctx, tok, p, true); err != nil {
		return err
	}
	tok.Roles = slices.DeleteFunc(tok.Roles, func(r RoleRef) bool { return !slices.Contains(a.RoleIDs, r.ID) })
	if len(tok.Roles) == 0 {
		return unauthorized("The user no longer holds any role of the application credential.")
	}
	tok.AppCredID, tok.AppCredUnrestricted = a.ID, a.Unrestricted
	if a.ExpiresAt != 0 && a.ExpiresAt*1_000_000 < tok.ExpiresAt {
		tok.ExpiresAt = a.ExpiresAt * 1_000_000
	}
	return nil
}
