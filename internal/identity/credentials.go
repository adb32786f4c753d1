package identity

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/sovcloud/sov/internal/httpapi"
	"github.com/sovcloud/sov/internal/policy"
	"github.com/sovcloud/sov/internal/secrets"
	"github.com/sovcloud/sov/internal/store"
)

// credential is a row of /v3/credentials; EC2 credentials are the ones of type "ec2".
type credential struct {
	ID, UserID, ProjectID, Type, Blob string
	// RoleCap holds the ids of the roles an EC2 credential may use at most
	// (nil: all the user's roles on its project); AppCredID the application
	// credential it was made with, if any.
	RoleCap   []string
	AppCredID string
}

// credentialContext binds a sealed blob to its credential's row.
func credentialContext(id string) string { return "credential:" + id }

// resealCredentials seals under the primary master key the blobs that
// are not (sealed under a retired master key or the legacy credential key).
func (s *Service) resealCredentials(ctx context.Context) error {
	return s.kek.Reseal(ctx, s.db, secrets.Sealed{Table: "credentials", Column: "sealed_blob", Key: []string{"id"},
		Bind: func(key []string) string { return credentialContext(key[0]) }})
}

// ec2Blob is the blob of an EC2 credential.
type ec2Blob struct {
	Access string `json:"access"`
	Secret string `json:"secret"`
}

// ec2ID is the id Keystone gives an EC2 credential: the SHA-256 of its access key.
func ec2ID(access string) string {
	sum := sha256.Sum256([]byte(access))
	return hex.EncodeToString(sum[:])
}

func (s *Service) credentialJSON(c *credential) map[string]any {
	return map[string]any{"id": c.ID, "user_id": c.UserID, "project_id": nullable(c.ProjectID), "type": c.Type,
		"blob": c.Blob, "links": map[string]any{"self": s.url("/v3/credentials/" + c.ID)}}
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func (s *Service) scanCredentials(ctx context.Context, q string, args ...any) ([]*credential, error) {
	rows, err := s.db.Query(ctx, `SELECT id, user_id, project_id, type, sealed_blob, role_cap, app_cred_id FROM credentials `+q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*credential
	for rows.Next() {
		c := &credential{}
		var sealed, roleCap string
		if err := rows.Scan(&c.ID, &c.UserID, &c.ProjectID, &c.Type, &sealed, &roleCap, &c.AppCredID); err != nil {
			return nil, err
		}
		if roleCap != "" {
			if err := json.Unmarshal([]byte(roleCap), &c.RoleCap); err != nil {
				return nil, err
			}
		}
		blob, err := s.kek.Open(sealed, credentialContext(c.ID))
		if err != nil {
			return nil, fmt.Errorf("identity: credential %s: %w", c.ID, err)
		}
		c.Blob = string(blob)
		out = append(out, c)
	}
	return out, rows.Err()
}

func (s *Service) getCredential(ctx context.Context, id string) (*credential, error) {
	cs, err := s.scanCredentials(ctx, `WHERE id = ?`, id)
	if err != nil {
		return nil, err
	}
	if len(cs) == 0 {
		return nil, notFound("credential", id)
	}
	return cs[0], nil
}

// insertCredential validates and stores c; an EC2 blob gets its id from the access key.
func (s *Service) insertCredential(ctx context.Context, c *credential) error {
	var access any
	if c.Type == "ec2" {
		var b ec2Blob
		if err := json.Unmarshal([]byte(c.Blob), &b); err != nil || b.Access == "" || b.Secret == "" {
			return badRequest("Invalid blob in credential: an ec2 blob is a JSON object with 'access' and 'secret'.")
		}
		if c.ProjectID == "" {
			return badRequest("Invalid input for field 'project_id': an ec2 credential needs a project.")
		}
		c.ID, access = ec2ID(b.Access), b.Access
	}
	roleCap := ""
	if c.RoleCap != nil {
		b, _ := json.Marshal(c.RoleCap)
		roleCap = string(b)
	}
	_, err := s.db.Exec(ctx, `INSERT INTO credentials (id, user_id, project_id, type, access_key, sealed_blob, role_cap, app_cred_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		c.ID, c.UserID, c.ProjectID, c.Type, access, s.kek.Seal([]byte(c.Blob), credentialContext(c.ID)), roleCap, c.AppCredID)
	if err != nil {
		return duplicate(err, "credential", c.ID)
	}
	return nil
}

// checkCredentialOwner checks that the caller may handle the credentials of
// userID for projectID: its own, for a project it holds a role on, or admin.
func (s *Service) checkCredentialOwner(ctx context.Context, tok *Token, userID, projectID string) error {
	if err := enforce(tok, "identity:owner_credentials", policy.Target{UserID: userID}); err != nil {
		return err
	}
	if projectID == "" || tok.Credentials().HasRole(policy.Admin) {
		return nil
	}
	p, err := s.getProject(ctx, projectID)
	if err != nil {
		return referenced(err, "project", projectID)
	}
	roles, err := s.userRoles(ctx, userID, "project", p.ID, p.DomainID)
	if err != nil {
		return err
	}
	if len(roles) == 0 {
		return forbidden("User %s has no role on project %s.", userID, projectID)
	}
	return nil
}

// scopeEC2 binds a new EC2 credential to what the token that makes it may
// do: a user's own EC2 credential is for the project the token is scoped
// to, with at most the token's roles, and dies with the application
// credential the token came from. An admin making one for another user
// gives it that user's roles on the project.
func scopeEC2(tok *Token, c *credential) error {
	if c.UserID != tok.UserID && tok.Credentials().HasRole(policy.Admin) {
		return nil
	}
	if tok.ProjectID == "" || c.ProjectID != tok.ProjectID {
		return forbidden("An EC2 credential can be made only for the project the token is scoped to.")
	}
	c.RoleCap = []string{}
	for _, r := range tok.Roles {
		c.RoleCap = append(c.RoleCap, r.ID)
	}
	c.AppCredID = tok.AppCredID
	return nil
}

type credentialBody struct {
	Credential struct {
		Blob      *string `json:"blob"`
		ProjectID *string `json:"project_id"`
		Type      *string `json:"type"`
		UserID    *string `json:"user_id"`
	} `json:"credential"`
}

func (s *Service) createCredential(w http.ResponseWriter, r *http.Request, tok *Token) error {
	var body credentialBody
	if err := httpapi.DecodeJSON(r, &body); err != nil {
		return err
	}
	b := &body.Credential
	if b.Blob == nil || b.Type == nil || b.UserID == nil || *b.Type == "" {
		return badRequest("Invalid input for field 'credential': 'blob', 'type' and 'user_id' are required.")
	}
	c := &credential{ID: newID(), UserID: *b.UserID, Type: *b.Type, Blob: *b.Blob}
	if c.Type == "totp" && !validTOTPSecret(c.Blob) {
		return badRequest("Invalid input for field 'blob': a TOTP credential's blob is a base32 secret of at least 80 bits.")
	}
	if b.ProjectID != nil {
		c.ProjectID = *b.ProjectID
	}
	ctx := r.Context()
	if err := unrestrictedOnly(tok); err != nil {
		return err
	}
	if err := s.checkCredentialOwner(ctx, tok, c.UserID, c.ProjectID); err != nil {
		return err
	}
	if _, err := s.getUser(ctx, c.UserID); err != nil {
		return referenced(err, "user", c.UserID)
	}
	if c.Type == "ec2" {
		if err := scopeEC2(tok, c); err != nil {
			return err
		}
	}
	if err := s.insertCredential(ctx, c); err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusCreated, map[string]any{"credential": s.credentialJSON(c)})
	return nil
}

func (s *Service) listCredentials(w http.ResponseWriter, r *http.Request, tok *Token) error {
	if err := unrestrictedOnly(tok); err != nil { // the blobs hold secrets wider than the token
		return err
	}
	q := `WHERE 1 = 1`
	var args []any
	userID := r.URL.Query().Get("user_id")
	if !tok.Credentials().HasRole(policy.Admin) {
		if userID != "" && userID != tok.UserID {
			return enforce(tok, "identity:owner_credentials", policy.Target{UserID: userID})
		}
		userID = tok.UserID
	}
	if userID != "" {
		q += ` AND user_id = ?`
		args = append(args, userID)
	}
	if typ := r.URL.Query().Get("type"); typ != "" {
		q += ` AND type = ?`
		args = append(args, typ)
	}
	cs, err := s.scanCredentials(r.Context(), q+` ORDER BY id`, args...)
	if err != nil {
		return err
	}
	out := []map[string]any{}
	for _, c := range cs {
		out = append(out, s.credentialJSON(c))
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"credentials": out, "links": s.listLinks(r)})
	return nil
}

// credentialFor loads the credential in the path; another user's credential
// is reported as missing so that ids cannot be probed.
func (s *Service) credentialFor(r *http.Request, tok *Token) (*credential, error) {
	if err := unrestrictedOnly(tok); err != nil {
		return nil, err
	}
	id := r.PathValue("credential_id")
	c, err := s.getCredential(r.Context(), id)
	if err != nil {
		return nil, err
	}
	if !policy.Allowed(tok.Credentials(), "identity:owner_credentials", policy.Target{UserID: c.UserID}) {
		return nil, notFound("credential", id)
	}
	return c, nil
}

func (s *Service) showCredential(w http.ResponseWriter, r *http.Request, tok *Token) error {
	c, err := s.credentialFor(r, tok)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"credential": s.credentialJSON(c)})
	return nil
}

func (s *Service) updateCredential(w http.ResponseWriter, r *http.Request, tok *Token) error {
	if err := unrestrictedOnly(tok); err != nil {
		return err
	}
	c, err := s.credentialFor(r, tok)
	if err != nil {
		return err
	}
	var body credentialBody
	if err := httpapi.DecodeJSON(r, &body); err != nil {
		return err
	}
	b := &body.Credential
	if (b.Type != nil && *b.Type != c.Type) || (b.UserID != nil && *b.UserID != c.UserID) {
		return badRequest("A credential's 'type' and 'user_id' cannot change.")
	}
	if c.Type == "ec2" && (b.Blob != nil || b.ProjectID != nil) {
		return badRequest("An ec2 credential cannot be changed; delete it and create a new one.")
	}
	if c.Type == "totp" && b.Blob != nil && !validTOTPSecret(*b.Blob) {
		return badRequest("Invalid input for field 'blob': a TOTP credential's blob is a base32 secret of at least 80 bits.")
	}
	if b.ProjectID != nil {
		if err := s.checkCredentialOwner(r.Context(), tok, c.UserID, *b.ProjectID); err != nil {
			return err
		}
		c.ProjectID = *b.ProjectID
	}
	if b.Blob != nil {
		c.Blob = *b.Blob
	}
	if _, err := s.db.Exec(r.Context(), `UPDATE credentials SET project_id = ?, sealed_blob = ? WHERE id = ?`,
		c.ProjectID, s.kek.Seal([]byte(c.Blob), credentialContext(c.ID)), c.ID); err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"credential": s.credentialJSON(c)})
	return nil
}

func (s *Service) deleteCredential(w http.ResponseWriter, r *http.Request, tok *Token) error {
	if err := unrestrictedOnly(tok); err != nil {
		return err
	}
	c, err := s.credentialFor(r, tok)
	if err != nil {
		return err
	}
	if err := store.Affected(s.db.Exec(r.Context(), `DELETE FROM credentials WHERE id = ?`, c.ID)); err != nil {
		return notFound("credential", c.ID)
	}
	if c.Type == "ec2" {
		var b ec2Blob
		json.Unmarshal([]byte(c.Blob), &b)
		s.forgetEC2(b.Access)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// OS-EC2: /v3/users/{user_id}/credentials/OS-EC2

func (s *Service) ec2JSON(c *credential) map[string]any {
	var b ec2Blob
	json.Unmarshal([]byte(c.Blob), &b)
	return map[string]any{"user_id": c.UserID, "tenant_id": c.ProjectID, "access": b.Access, "secret": b.Secret,
		"trust_id": nil, "links": map[string]any{"self": s.url("/v3/users/" + c.UserID + "/credentials/OS-EC2/" + b.Access)}}
}

func (s *Service) createEC2(w http.ResponseWriter, r *http.Request, tok *Token) error {
	uid := r.PathValue("user_id")
	var body struct {
		TenantID *string `json:"tenant_id"`
	}
	if err := httpapi.DecodeJSON(r, &body); err != nil {
		return err
	}
	if body.TenantID == nil || *body.TenantID == "" {
		return badRequest("Invalid input for field 'tenant_id': 'tenant_id' is a required property.")
	}
	ctx := r.Context()
	if err := unrestrictedOnly(tok); err != nil {
		return err
	}
	if err := s.checkCredentialOwner(ctx, tok, uid, *body.TenantID); err != nil {
		return err
	}
	if _, err := s.getUser(ctx, uid); err != nil {
		return err
	}
	key := make([]byte, 32)
	rand.Read(key)
	blob, _ := json.Marshal(ec2Blob{Access: hex.EncodeToString(key[:16]), Secret: hex.EncodeToString(key[16:])})
	c := &credential{UserID: uid, ProjectID: *body.TenantID, Type: "ec2", Blob: string(blob)}
	if err := scopeEC2(tok, c); err != nil {
		return err
	}
	if err := s.insertCredential(ctx, c); err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusCreated, map[string]any{"credential": s.ec2JSON(c)})
	return nil
}

func (s *Service) listEC2(w http.ResponseWriter, r *http.Request, tok *Token) error {
	if err := unrestrictedOnly(tok); err != nil {
		return err
	}
	uid := r.PathValue("user_id")
	if err := enforce(tok, "identity:owner_credentials", policy.Target{UserID: uid}); err != nil {
		return err
	}
	cs, err := s.scanCredentials(r.Context(), `WHERE user_id = ? AND type = 'ec2' ORDER BY id`, uid)
	if err != nil {
		return err
	}
	out := []map[string]any{}
	for _, c := range cs {
		out = append(out, s.ec2JSON(c))
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"credentials": out, "links": s.listLinks(r)})
	return nil
}

// ec2For loads the EC2 credential named by the path's user and access key.
func (s *Service) ec2For(r *http.Request, tok *Token) (*credential, error) {
	if err := unrestrictedOnly(tok); err != nil {
		return nil, err
	}
	uid, access := r.PathValue("user_id"), r.PathValue("access")
	if err := enforce(tok, "identity:owner_credentials", policy.Target{UserID: uid}); err != nil {
		return nil, err
	}
	cs, err := s.scanCredentials(r.Context(), `WHERE id = ? AND user_id = ? AND type = 'ec2'`, ec2ID(access), uid)
	if err != nil {
		return nil, err
	}
	if len(cs) == 0 {
		return nil, notFound("credential", access)
	}
	return cs[0], nil
}

func (s *Service) showEC2(w http.ResponseWriter, r *http.Request, tok *Token) error {
	c, err := s.ec2For(r, tok)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"credential": s.ec2JSON(c)})
	return nil
}

func (s *Service) deleteEC2(w http.ResponseWriter, r *http.Request, tok *Token) error {
	if err := unrestrictedOnly(tok); err != nil {
		return err
	}
	c, err := s.ec2For(r, tok)
	if err != nil {
		return err
	}
	if _, err := s.db.Exec(r.Context(), `DELETE FROM credentials WHERE id = ?`, c.ID); err != nil {
		return err
	}
	s.forgetEC2(r.PathValue("access"))
	w.WriteHeader(http.StatusNoContent)
	return nil
}
