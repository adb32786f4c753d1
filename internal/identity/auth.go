package identity

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"time"

	"github.com/sovcloud/sov/internal/httpapi"
	"github.com/sovcloud/sov/internal/policy"
	"github.com/sovcloud/sov/internal/store"
)

// authRequest is the body of POST /v3/auth/tokens.
type authRequest struct {
	Auth struct {
		Identity struct {
			Methods  []string `json:"methods"`
			Password *struct {
				User userRef `json:"user"`
			} `json:"password"`
			Token *struct {
				ID string `json:"id"`
			} `json:"token"`
			AppCred *appCredAuth `json:"application_credential"`
			TOTP    *struct {
				User userRef `json:"user"`
			} `json:"totp"`
		} `json:"identity"`
		Scope json.RawMessage `json:"scope"`
	} `json:"auth"`
}

// nameRef names a domain by id or by name.
type nameRef struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// userRef names a user by id, or by name within a domain.
type userRef struct {
	ID       string   `json:"id"`
	Name     string   `json:"name"`
	Domain   *nameRef `json:"domain"`
	Password string   `json:"password"`
	Passcode string   `json:"passcode"`
}

type scopeRequest struct {
	Project *struct {
		ID     string   `json:"id"`
		Name   string   `json:"name"`
		Domain *nameRef `json:"domain"`
	} `json:"project"`
	Domain *nameRef        `json:"domain"`
	System json.RawMessage `json:"system"`
}

// issueToken serves POST /v3/auth/tokens.
func (s *Service) issueToken(w http.ResponseWriter, r *http.Request) error {
	var req authRequest
	if err := httpapi.DecodeJSON(r, &req); err != nil {
		return err
	}
	id := &req.Auth.Identity
	withTOTP := len(id.Methods) == 2 && slices.Contains(id.Methods, "password") && slices.Contains(id.Methods, "totp")
	if len(id.Methods) != 1 && !withTOTP {
		return badRequest("Expecting one authentication method in 'identity.methods', or password and totp.")
	}
	var scope *scopeRequest
	if len(req.Auth.Scope) > 0 && !bytes.Equal(bytes.TrimSpace(req.Auth.Scope), []byte(`"unscoped"`)) {
		scope = &scopeRequest{}
		if err := json.Unmarshal(req.Auth.Scope, scope); err != nil {
			return badRequest("Invalid input for field 'scope': %v", err)
		}
		if scope.System != nil {
			return httpapi.Errorf(http.StatusNotImplemented, "System scope is not supported; use a project or domain scope.")
		}
		if (scope.Project == nil) == (scope.Domain == nil) {
			return badRequest("Exactly one of 'scope.project' and 'scope.domain' is required.")
		}
	}
	ctx := r.Context()
	now := time.Now()
	tok := &Token{Methods: id.Methods, IssuedAt: now.UnixMicro(), ExpiresAt: now.Add(s.cfg.TokenLifetime).UnixMicro(), AuditIDs: []string{newAuditID()}}
	var u *user
	var err error
	method := id.Methods[0]
	if withTOTP {
		method = "password"
	}
	switch method {
	case "password":
		if id.Password == nil {
			return badRequest("Expecting to find 'password' in 'identity'.")
		}
		if u, err = s.authPassword(ctx, &id.Password.User, sourceKey(r)); err != nil {
			return err
		}
		if withTOTP {
			if id.TOTP == nil {
				return badRequest("Expecting to find 'totp' in 'identity'.")
			}
			ok, err := s.secondFactor(ctx, u.ID, id.TOTP.User.Passcode, sourceKey(r))
			if err != nil {
				return err
			}
			if !ok || (id.TOTP.User.ID != "" && id.TOTP.User.ID != u.ID) {
				return unauthorized("The request you have made requires authentication.")
			}
		}
		if !u.Options.satisfiesMFA(id.Methods) {
			return unauthorized("Insufficient auth methods received for user %s: the user's multi-factor rules need more.", u.ID)
		}
	case "totp":
		if id.TOTP == nil {
			return badRequest("Expecting to find 'totp' in 'identity'.")
		}
		if u, err = s.authTOTP(ctx, &id.TOTP.User, id.TOTP.User.Passcode, sourceKey(r)); err != nil {
			return err
		}
		if !u.Options.satisfiesMFA(id.Methods) {
			return unauthorized("Insufficient auth methods received for user %s: the user's multi-factor rules need more.", u.ID)
		}
	case "token":
		if id.Token == nil || id.Token.ID == "" {
			return badRequest("Expecting to find 'token.id' in 'identity'.")
		}
		parent, err := s.ValidateToken(id.Token.ID)
		if err != nil {
			return err
		}
		if parent.AppCredID != "" {
			return forbidden("A token created with an application credential cannot be used to obtain another token.")
		}
		tok.ExpiresAt = parent.ExpiresAt
		tok.AuditIDs = append(tok.AuditIDs, parent.AuditIDs[0])
		u, err = s.getUser(ctx, parent.UserID)
		if err != nil || !u.Enabled {
			return unauthorized("The request you have made requires authentication.")
		}
		if scope == nil && (parent.ProjectID != "" || parent.DomainID != "") {
			return forbidden("Rescoping a scoped token to unscoped is not allowed.")
		}
	case "application_credential":
		if id.AppCred == nil {
			return badRequest("Expecting to find 'application_credential' in 'identity'.")
		}
		if err := s.authAppCred(ctx, tok, id.AppCred, scope, sourceKey(r)); err != nil {
			return err
		}
		return s.writeToken(w, r, tok, http.StatusCreated)
	default:
		return unauthorized("Unsupported authentication method: %s.", method)
	}
	if err != nil {
		return err
	}
	if err := s.scopeToken(ctx, tok, u, scope); err != nil {
		return err
	}
	return s.writeToken(w, r, tok, http.StatusCreated)
}

// authPassword checks a password against the user it names, with
// lockout, per-user and per-source failure limits, and the same bcrypt
// work for unknown users as for known ones.
func (s *Service) authPassword(ctx context.Context, ref *userRef, source string) (*user, error) {
	denied := unauthorized("The request you have made requires authentication.")
	refKey := "user:" + ref.ID
	if ref.ID == "" && ref.Domain != nil {
		refKey = "user:" + ref.Domain.ID + "/" + ref.Domain.Name + "/" + ref.Name
	}
	if err := s.guard.reserve(source, refKey); err != nil {
		return nil, err
	}
	u, err := s.findUser(ctx, ref)
	var found *user
	if err == nil {
		found = u
	}
	if du, ok, derr := s.authInDirectory(ctx, ref, found); ok {
		if derr != nil {
			return nil, derr
		}
		s.guard.release(source, refKey)
		return du, nil
	}
	if err != nil {
		if code, _, ok := httpapi.Status(err); (ok && code == http.StatusBadRequest) || store.Unavailable(err) {
			s.guard.release(source, refKey)
			return nil, err
		}
		if _, err := s.pw.check(ctx, s.guard, "", "", ref.Password); err != nil {
			return nil, err
		}
		return nil, denied
	}
	userKey := "user:" + u.ID
	if err := s.guard.reserve(userKey); err != nil {
		return nil, err
	}
	now := time.Now()
	if s.cfg.LockoutAttempts > 0 && u.LockedUntil > now.Unix() {
		return nil, unauthorized("The account is locked for user: %s.", u.ID)
	}
	ok, err := s.pw.check(ctx, s.guard, u.ID, u.passwordHash, ref.Password)
	if err != nil {
		return nil, err
	}
	if !ok {
		if s.cfg.LockoutAttempts > 0 {
			locked := int64(0)
			if u.FailedLogins+1 >= s.cfg.LockoutAttempts {
				locked = now.Add(s.cfg.LockoutDuration).Unix()
			}
			if _, err := s.db.Exec(ctx, `UPDATE users SET failed_logins = CASE WHEN ? > 0 THEN 0 ELSE failed_logins + 1 END, locked_until = ? WHERE id = ?`,
				locked, locked, u.ID); err != nil {
				return nil, err
			}
		}
		return nil, denied
	}
	if !u.Enabled {
		return nil, unauthorized("The account is disabled for user: %s.", u.ID)
	}
	s.guard.release(source, refKey, userKey)
	if s.cfg.LockoutAttempts > 0 && u.FailedLogins > 0 {
		if _, err := s.db.Exec(ctx, `UPDATE users SET failed_logins = 0, locked_until = 0 WHERE id = ?`, u.ID); err != nil {
			return nil, err
		}
	}
	return u, nil
}

// findUser resolves a user named by id or by name and domain.
func (s *Service) findUser(ctx context.Context, ref *userRef) (*user, error) {
	if ref.ID != "" {
		return s.getUser(ctx, ref.ID)
	}
	if ref.Name == "" || ref.Domain == nil {
		return nil, badRequest("A user needs an 'id', or a 'name' and a 'domain'.")
	}
	d, err := s.findDomain(ctx, ref.Domain)
	if err != nil {
		return nil, err
	}
	return s.getUserByName(ctx, d.ID, ref.Name)
}

// findDomain resolves a domain named by id or by name.
func (s *Service) findDomain(ctx context.Context, ref *nameRef) (*domain, error) {
	if ref.ID != "" {
		return s.getDomain(ctx, ref.ID)
	}
	return s.getDomainByName(ctx, ref.Name)
}

// scopeToken fills in the user, scope and roles of tok. Without a scope the
// token is scoped to the user's default project if the user has a role there.
func (s *Service) scopeToken(ctx context.Context, tok *Token, u *user, scope *scopeRequest) error {
	if err := s.setUser(ctx, tok, u); err != nil {
		return err
	}
	switch {
	case scope != nil && scope.Project != nil:
		p, err := s.findProject(ctx, scope.Project.ID, scope.Project.Name, scope.Project.Domain)
		if store.Unavailable(err) {
			return err
		}
		if err != nil {
			return unauthorized("Could not find the project to scope to, or it is not accessible.")
		}
		return s.scopeToProject(ctx, tok, p, true)
	case scope != nil && scope.Domain != nil:
		d, err := s.findDomain(ctx, scope.Domain)
		if store.Unavailable(err) {
			return err
		}
		if err != nil || !d.Enabled {
			return unauthorized("Could not find the domain to scope to, or it is not accessible.")
		}
		roles, err := s.userRoles(ctx, u.ID, "domain", d.ID, "")
		if err != nil {
			return err
		}
		if len(roles) == 0 {
			return unauthorized("User %s has no access to domain %s.", u.ID, d.ID)
		}
		tok.DomainID, tok.DomainName, tok.Roles = d.ID, d.Name, roles
	case u.DefaultProjectID != "":
		p, err := s.getProject(ctx, u.DefaultProjectID)
		if err == nil {
			return s.scopeToProject(ctx, tok, p, false)
		}
	}
	return nil
}

// setUser fills in the user of tok; the user's domain must be enabled.
func (s *Service) setUser(ctx context.Context, tok *Token, u *user) error {
	ud, err := s.getDomain(ctx, u.DomainID)
	if err != nil {
		return err
	}
	if !ud.Enabled {
		return unauthorized("The domain of user %s is disabled.", u.ID)
	}
	tok.UserID, tok.UserName, tok.UserDomainID, tok.UserDomainName = u.ID, u.Name, ud.ID, ud.Name
	return nil
}

// scopeToProject scopes tok to p. When the user has no role on p, that is an
// error if the scope was asked for, and an unscoped token otherwise.
func (s *Service) scopeToProject(ctx context.Context, tok *Token, p *project, required bool) error {
	pd, err := s.getDomain(ctx, p.DomainID)
	if err != nil {
		return err
	}
	if !p.Enabled || !pd.Enabled {
		if !required {
			return nil
		}
		return unauthorized("Project %s is disabled.", p.ID)
	}
	roles, err := s.userRoles(ctx, tok.UserID, "project", p.ID, p.DomainID)
	if err != nil {
		return err
	}
	if len(roles) == 0 {
		if !required {
			return nil
		}
		return unauthorized("User %s has no access to project %s.", tok.UserID, p.ID)
	}
	tok.ProjectID, tok.ProjectName, tok.ProjectDomainID, tok.ProjectDomainName = p.ID, p.Name, pd.ID, pd.Name
	tok.Roles = roles
	return nil
}

// writeToken signs tok and writes it with its Keystone body.
func (s *Service) writeToken(w http.ResponseWriter, r *http.Request, tok *Token, status int) error {
	raw, err := s.keys.sign(tok)
	if err != nil {
		return err
	}
	w.Header().Set("X-Subject-Token", raw)
	_, noCatalog := r.URL.Query()["nocatalog"]
	httpapi.WriteJSON(w, status, map[string]any{"token": s.tokenBody(tok, !noCatalog)})
	return nil
}

// tokenBody renders tok the way Keystone does.
func (s *Service) tokenBody(tok *Token, withCatalog bool) map[string]any {
	body := map[string]any{
		"methods":    tok.Methods,
		"audit_ids":  tok.AuditIDs,
		"issued_at":  tok.Issued().Format(tokenTimeFormat),
		"expires_at": tok.Expires().Format(tokenTimeFormat),
		"user": map[string]any{
			"id": tok.UserID, "name": tok.UserName, "password_expires_at": nil,
			"domain": map[string]any{"id": tok.UserDomainID, "name": tok.UserDomainName},
		},
	}
	if f := tok.Federation; f != nil {
		groups := make([]map[string]string, len(f.Groups))
		for i, g := range f.Groups {
			groups[i] = map[string]string{"id": g}
		}
		body["user"].(map[string]any)["OS-FEDERATION"] = map[string]any{"identity_provider": map[string]string{"id": f.IdP},
			"protocol": map[string]string{"id": f.Protocol}, "groups": groups}
	}
	roles := tok.Roles
	if roles == nil {
		roles = []RoleRef{}
	}
	switch {
	case tok.ProjectID != "":
		body["project"] = map[string]any{"id": tok.ProjectID, "name": tok.ProjectName,
			"domain": map[string]any{"id": tok.ProjectDomainID, "name": tok.ProjectDomainName}}
		body["is_domain"] = false
		body["roles"] = roles
	case tok.DomainID != "":
		body["domain"] = map[string]any{"id": tok.DomainID, "name": tok.DomainName}
		body["roles"] = roles
	}
	if tok.AppCredID != "" {
		body["application_credential"] = map[string]any{"id": tok.AppCredID, "restricted": !tok.AppCredUnrestricted}
	}
	if withCatalog && (tok.ProjectID != "" || tok.DomainID != "") {
		body["catalog"] = s.catalog.get()
	}
	return body
}

// tokenTimeFormat is Keystone's token timestamp format.
const tokenTimeFormat = "2006-01-02T15:04:05.000000Z"

func newAuditID() string { return newID()[:22] }

// subjectToken validates X-Subject-Token for the validate/check/revoke calls;
// only the token's own user or an admin may look at it.
func (s *Service) subjectToken(r *http.Request, caller *Token) (*Token, error) {
	subject, err := s.ValidateToken(r.Header.Get("X-Subject-Token"))
	if err != nil {
		if code, msg, ok := httpapi.Status(err); ok && code == http.StatusUnauthorized {
			return nil, httpapi.Errorf(http.StatusNotFound, "Could not find token: %s", msg)
		}
		return nil, err
	}
	if subject.UserID != caller.UserID && !caller.Credentials().HasRole(policy.Admin) {
		return nil, forbidden("You are not authorized to perform the requested action: identity:validate_token.")
	}
	return subject, nil
}

// validateToken serves GET /v3/auth/tokens.
func (s *Service) validateToken(w http.ResponseWriter, r *http.Request, caller *Token) error {
	subject, err := s.subjectToken(r, caller)
	if err != nil {
		return err
	}
	w.Header().Set("X-Subject-Token", r.Header.Get("X-Subject-Token"))
	_, noCatalog := r.URL.Query()["nocatalog"]
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"token": s.tokenBody(subject, !noCatalog)})
	return nil
}

// checkToken serves HEAD /v3/auth/tokens.
func (s *Service) checkToken(w http.ResponseWriter, r *http.Request, caller *Token) error {
	if _, err := s.subjectToken(r, caller); err != nil {
		return err
	}
	w.Header().Set("X-Subject-Token", r.Header.Get("X-Subject-Token"))
	w.WriteHeader(http.StatusOK)
	return nil
}

// revokeToken serves DELETE /v3/auth/tokens.
func (s *Service) revokeToken(w http.ResponseWriter, r *http.Request, caller *Token) error {
	subject, err := s.subjectToken(r, caller)
	if err != nil {
		return err
	}
	if err := s.revoked.revoke(r.Context(), s.db, revocation{AuditID: subject.AuditIDs[0]}); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
