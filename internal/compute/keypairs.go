package compute

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net/http"
	"regexp"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/sovcloud/sov/internal/httpapi"
	"github.com/sovcloud/sov/internal/store"
)

type keypair struct {
	UserID, Name, Type, PublicKey, Fingerprint string
	Created                                    int64
}

var keypairName = regexp.MustCompile(`^[a-zA-Z0-9 _.@-]{1,255}$`)

// keypairUser is the user whose keypairs a request handles: its own, or
// (admins, from 2.10) the one named by ?user_id.
func keypairUser(q *request) string {
	if u := q.r.URL.Query().Get("user_id"); u != "" && q.admin() && q.atLeast(10) {
		return u
	}
	return q.creds.UserID
}

func (s *Service) keypairJSON(q *request, k *keypair, full bool) map[string]any {
	m := map[string]any{"name": k.Name, "public_key": k.PublicKey, "fingerprint": k.Fingerprint}
	if q.atLeast(2) {
		m["type"] = k.Type
	}
	if full {
		m["user_id"] = k.UserID
		m["created_at"] = time.UnixMicro(k.Created).UTC().Format("2006-01-02T15:04:05.000000")
		m["deleted"], m["deleted_at"], m["updated_at"], m["id"] = false, nil, nil, 0
	}
	return m
}

func (s *Service) createKeypair(q *request) error {
	var body struct {
		Keypair struct {
			Name      *string `json:"name"`
			PublicKey *string `json:"public_key"`
			Type      string  `json:"type"`
			UserID    string  `json:"user_id"`
		} `json:"keypair"`
	}
	if err := httpapi.DecodeJSON(q.r, &body); err != nil {
		return err
	}
	b := &body.Keypair
	if b.Name == nil || !keypairName.MatchString(*b.Name) {
		return errorf(http.StatusBadRequest, "Keypair data is invalid: the name must be 1 to 255 letters, digits, spaces, '_', '-', '.' or '@'.")
	}
	if b.Type == "" {
		b.Type = "ssh"
	}
	if b.Type != "ssh" {
		return errorf(http.StatusBadRequest, "Keypair data is invalid: only ssh keypairs are supported.")
	}
	k := &keypair{UserID: q.creds.UserID, Name: *b.Name, Type: b.Type, Created: time.Now().UnixMicro()}
	if b.UserID != "" && q.admin() && q.atLeast(10) {
		k.UserID = b.UserID
	}
	var private string
	if b.PublicKey == nil {
		if q.atLeast(92) {
			return errorf(http.StatusBadRequest, "Invalid input for field/attribute keypair: 'public_key' is a required property.")
		}
		var err error
		if private, k.PublicKey, err = generateKey(); err != nil {
			return err
		}
	} else {
		k.PublicKey = strings.TrimSpace(*b.PublicKey)
	}
	pub, _, _, _, err := ssh.ParseAuthorizedKey([]byte(k.PublicKey))
	if err != nil {
		return errorf(http.StatusBadRequest, "Keypair data is invalid: failed to generate fingerprint")
	}
	k.Fingerprint = ssh.FingerprintLegacyMD5(pub)
	ctx := q.r.Context()
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		var n int
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM keypairs WHERE user_id = ?`, k.UserID).Scan(&n); err != nil {
			return err
		}
		if n >= quotaKeypairs {
			return errorf(http.StatusForbidden, "Quota exceeded, too many key pairs.")
		}
		_, err := tx.Exec(ctx, `INSERT INTO keypairs (user_id, name, type, public_key, fingerprint, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
			k.UserID, k.Name, k.Type, k.PublicKey, k.Fingerprint, k.Created)
		return err
	})
	if errors.Is(err, store.ErrConflict) {
		return errorf(http.StatusConflict, "Key pair '%s' already exists.", k.Name)
	}
	if err != nil {
		return err
	}
	out := s.keypairJSON(q, k, false)
	out["user_id"] = k.UserID
	if private != "" {
		out["private_key"] = private
	}
	status := http.StatusOK
	if q.atLeast(2) {
		status = http.StatusCreated
	}
	httpapi.WriteJSON(q.w, status, map[string]any{"keypair": out})
	return nil
}

// generateKey makes an RSA key pair: the private key as PEM, the public
// key in authorized_keys form.
func generateKey() (private, public string, err error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return "", "", err
	}
	pub, err := ssh.NewPublicKey(&key.PublicKey)
	if err != nil {
		return "", "", err
	}
	block := &pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}
	return string(pem.EncodeToMemory(block)), strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub))) + " Generated-by-Nova", nil
}

func (s *Service) listKeypairs(q *request) error {
	rows, err := s.db.Query(q.r.Context(), `SELECT user_id, name, type, public_key, fingerprint, created_at FROM keypairs WHERE user_id = ? ORDER BY name`, keypairUser(q))
	if err != nil {
		return err
	}
	defer rows.Close()
	out := []map[string]any{}
	for rows.Next() {
		k := &keypair{}
		if err := rows.Scan(&k.UserID, &k.Name, &k.Type, &k.PublicKey, &k.Fingerprint, &k.Created); err != nil {
			return err
		}
		out = append(out, map[string]any{"keypair": s.keypairJSON(q, k, false)})
	}
	if err := rows.Err(); err != nil {
		return err
	}
	httpapi.WriteJSON(q.w, http.StatusOK, map[string]any{"keypairs": out})
	return nil
}

func (s *Service) getKeypair(q *request) (*keypair, error) {
	k := &keypair{}
	name := q.r.PathValue("name")
	err := store.Row(s.db.QueryRow(q.r.Context(), `SELECT user_id, name, type, public_key, fingerprint, created_at FROM keypairs WHERE user_id = ? AND name = ?`,
		keypairUser(q), name).Scan(&k.UserID, &k.Name, &k.Type, &k.PublicKey, &k.Fingerprint, &k.Created))
	if errors.Is(err, store.ErrNotFound) {
		return nil, errorf(http.StatusNotFound, "Keypair %s not found for user %s", name, keypairUser(q))
	}
	return k, err
}

func (s *Service) showKeypair(q *request) error {
	k, err := s.getKeypair(q)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(q.w, http.StatusOK, map[string]any{"keypair": s.keypairJSON(q, k, true)})
	return nil
}

func (s *Service) deleteKeypair(q *request) error {
	k, err := s.getKeypair(q)
	if err != nil {
		return err
	}
	if _, err := s.db.Exec(q.r.Context(), `DELETE FROM keypairs WHERE user_id = ? AND name = ?`, k.UserID, k.Name); err != nil {
		return err
	}
	status := http.StatusAccepted
	if q.atLeast(2) {
		status = http.StatusNoContent
	}
	q.w.WriteHeader(status)
	return nil
}
