package keymanager

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/sovcloud/sov/internal/httpapi"
	"github.com/sovcloud/sov/internal/store"
)

// Secrets: a payload (at most maxPayloadBytes) with its content type,
// sealed under the master key, and what Barbican records beside it. A
// secret made without a payload gets it once, by PUT. An expired secret is
// gone for every API.

// secret is a row of km_secrets, without its sealed payload.
type secret struct {
	ID, Project, Creator, Name, Type, Algorithm, Mode, ContentType string
	BitLength                                                      int
	Expiration, Created, Updated                                   int64
}

const secretColumns = `id, project_id, creator_id, name, secret_type, algorithm, mode, content_type, bit_length, expiration, created_at, updated_at`

func scanSecret(row store.Scanner) (*secret, error) {
	var x secret
	err := row.Scan(&x.ID, &x.Project, &x.Creator, &x.Name, &x.Type, &x.Algorithm, &x.Mode, &x.ContentType, &x.BitLength, &x.Expiration, &x.Created, &x.Updated)
	return &x, err
}

// secretTypes are Barbican's types of secret.
var secretTypes = map[string]bool{"symmetric": true, "public": true, "private": true, "passphrase": true, "certificate": true, "opaque": true}

// contentTypes are the payload content types Barbican stores, by how
// clients spell them (without spaces).
var contentTypes = map[string]string{
	"text/plain": "text/plain", "text/plain;charset=utf-8": "text/plain", "application/octet-stream": "application/octet-stream",
	"application/pkcs8": "application/pkcs8",
}

func (s *Service) secretRef(id string) string { return s.url + "/v1/secrets/" + id }

// nullable writes "" and 0 as JSON null, as Barbican does for unset fields.
func nullable[T comparable](v T) any {
	var zero T
	if v == zero {
		return nil
	}
	return v
}

func (s *Service) secretView(x *secret) map[string]any {
	m := map[string]any{"secret_ref": s.secretRef(x.ID), "name": nullable(x.Name), "secret_type": x.Type, "status": "ACTIVE",
		"algorithm": nullable(x.Algorithm), "bit_length": nullable(x.BitLength), "mode": nullable(x.Mode), "expiration": nil,
		"creator_id": x.Creator, "created": barbicanTime(x.Created), "updated": barbicanTime(x.Updated)}
	if x.Expiration != 0 {
		m["expiration"] = barbicanTime(x.Expiration)
	}
	if x.ContentType != "" {
		m["content_types"] = map[string]string{"default": x.ContentType}
	}
	return m
}

// visibleSecret is an unexpired secret of the caller's project; another
// project's is not found.
func (s *Service) visibleSecret(ctx context.Context, db store.Querier, q *request, id string) (*secret, error) {
	x, err := scanSecret(db.QueryRow(ctx, `SELECT `+secretColumns+` FROM km_secrets WHERE id = ? AND project_id = ? AND (expiration = 0 OR expiration > ?)`,
		id, q.creds.ProjectID, now()))
	if errors.Is(store.Row(err), store.ErrNotFound) {
		return nil, errorf(http.StatusNotFound, "Secret not found.")
	}
	return x, store.Row(err)
}

// secretBody is the body of POST /v1/secrets.
type secretBody struct {
	Name                   *string `json:"name"`
	Expiration             *string `json:"expiration"`
	Algorithm              *string `json:"algorithm"`
	BitLength              *int    `json:"bit_length"`
	Mode                   *string `json:"mode"`
	Payload                *string `json:"payload"`
	PayloadContentType     *string `json:"payload_content_type"`
	PayloadContentEncoding *string `json:"payload_content_encoding"`
	SecretType             *string `json:"secret_type"`
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// schemaError is Barbican's 400 for a body its schema refuses.
func schemaError(field, reason string) error {
	return errorf(http.StatusBadRequest, "Provided object does not match schema 'Secret': %s. Invalid property: '%s'", reason, field)
}

// parseExpiration reads an ISO 8601 expiration, which must be in the future.
func parseExpiration(v *string) (int64, error) {
	if v == nil || *v == "" {
		return 0, nil
	}
	var t time.Time
	var err error
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999", "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err = time.Parse(layout, *v); err == nil {
			break
		}
	}
	if err != nil {
		return 0, schemaError("expiration", "Invalid date for 'expiration'")
	}
	if !t.After(time.Now()) {
		return 0, schemaError("expiration", "'expiration' is before current time")
	}
	return t.UnixMicro(), nil
}

// decodePayload checks the payload of a POST against its content type
// and encoding (text/plain none, the binary types base64) and returns its
// bytes and the content type to store.
func decodePayload(payload, contentType, encoding string) ([]byte, string, error) {
	if payload == "" {
		return nil, "", schemaError("payload", "If 'payload' specified, must be non empty")
	}
	if len(payload) > maxPayloadBytes {
		return nil, "", errorf(http.StatusRequestEntityTooLarge, "Provided information too large to process")
	}
	ct, ok := contentTypes[strings.ToLower(strings.ReplaceAll(contentType, " ", ""))]
	if !ok {
		return nil, "", schemaError("payload_content_type", "payload_content_type is not one of ['text/plain', 'text/plain;charset=utf-8', 'text/plain; charset=utf-8', 'application/octet-stream', 'application/pkcs8']")
	}
	switch {
	case ct == "text/plain" && encoding != "":
		return nil, "", schemaError("payload_content_encoding", "payload_content_encoding is not one of None")
	case ct == "text/plain":
		return []byte(payload), ct, nil
	case !strings.EqualFold(encoding, "base64"):
		return nil, "", schemaError("payload_content_encoding", "payload_content_encoding is not one of ['base64', 'binary']")
	}
	b, err := base64.StdEncoding.DecodeString(payload)
	if err != nil {
		return nil, "", schemaError("payload", "Invalid payload for payload_content_encoding")
	}
	return b, ct, nil
}

func (s *Service) createSecret(q *request) error {
	if err := q.enforce("secrets:post", q.creds.ProjectID); err != nil {
		return err
	}
	var b secretBody
	if err := decode(q, &b); err != nil {
		return err
	}
	x := &secret{ID: uuid.NewString(), Project: q.creds.ProjectID, Creator: q.creds.UserID, Name: str(b.Name), Type: "opaque",
		Algorithm: str(b.Algorithm), Mode: str(b.Mode), Created: now()}
	x.Updated = x.Created
	if b.SecretType != nil {
		if !secretTypes[*b.SecretType] {
			return schemaError("secret_type", "secret_type must be one of symmetric, public, private, passphrase, certificate, opaque")
		}
		x.Type = *b.SecretType
	}
	if len(x.Name) > 255 {
		return schemaError("name", "name is longer than 255 characters")
	}
	if b.BitLength != nil {
		if *b.BitLength < 0 {
			return schemaError("bit_length", "bit_length must be greater than or equal to 0")
		}
		x.BitLength = *b.BitLength
	}
	var err error
	if x.Expiration, err = parseExpiration(b.Expiration); err != nil {
		return err
	}
	var payload []byte
	switch {
	case b.Payload != nil:
		if b.PayloadContentType == nil {
			return schemaError("payload_content_type", "If 'payload' is supplied, 'payload_content_type' must also be supplied")
		}
		if payload, x.ContentType, err = decodePayload(*b.Payload, *b.PayloadContentType, str(b.PayloadContentEncoding)); err != nil {
			return err
		}
	case b.PayloadContentType != nil:
		return schemaError("payload", "payload must be provided when payload_content_type is specified")
	}
	if err := s.insertSecret(q.r.Context(), s.db, x, payload); err != nil {
		return err
	}
	q.w.Header().Set("Location", s.secretRef(x.ID))
	httpapi.WriteJSON(q.w, http.StatusCreated, map[string]string{"secret_ref": s.secretRef(x.ID)})
	return nil
}

// insertSecret stores a secret and, when there is one, its sealed payload.
func (s *Service) insertSecret(ctx context.Context, db store.Querier, x *secret, payload []byte) error {
	sealed := ""
	if payload != nil {
		sealed = s.kek.Seal(payload, payloadContext(x.ID))
	}
	return store.Insert(ctx, db, "km_secrets", store.Values{}.
		Set("id", x.ID).Set("project_id", x.Project).Set("creator_id", x.Creator).Set("name", x.Name).Set("secret_type", x.Type).
		Set("algorithm", x.Algorithm).Set("bit_length", x.BitLength).Set("mode", x.Mode).Set("expiration", x.Expiration).
		Set("content_type", x.ContentType).Set("payload", sealed).Set("created_at", x.Created).Set("updated_at", x.Updated))
}

// secretFilters are the list filters Barbican's secrets take, by column.
var secretFilters = map[string]string{"name": "name", "alg": "algorithm", "mode": "mode", "secret_type": "secret_type"}

// paging reads Barbican's offset (0 unless a number above 0) and limit
// (10 unless a number, then 1 to 100).
func paging(r *http.Request) (offset, limit int) {
	limit = 10
	if n, err := strconv.Atoi(r.URL.Query().Get("limit")); err == nil && n != 0 {
		limit = min(max(n, 1), 100)
	}
	if n, err := strconv.Atoi(r.URL.Query().Get("offset")); err == nil && n > 0 {
		offset = n
	}
	return offset, limit
}

// pageLinks adds Barbican's total and its previous and next links to a list.
func pageLinks(r *http.Request, base string, body map[string]any, offset, limit, total int) {
	body["total"] = total
	link := func(off int) string {
		v := r.URL.Query()
		v.Set("offset", strconv.Itoa(off))
		v.Set("limit", strconv.Itoa(limit))
		return base + "?" + v.Encode()
	}
	if offset > 0 {
		body["previous"] = link(max(offset-limit, 0))
	}
	if offset+limit < total {
		body["next"] = link(offset + limit)
	}
}

func (s *Service) listSecrets(q *request) error {
	if err := q.enforce("secrets:get", q.creds.ProjectID); err != nil {
		return err
	}
	offset, limit := paging(q.r)
	where, args := "project_id = ? AND (expiration = 0 OR expiration > ?)", []any{q.creds.ProjectID, now()}
	query := q.r.URL.Query()
	for param, col := range secretFilters {
		if v, ok := query[param]; ok {
			where += " AND " + col + " = ?"
			args = append(args, v[0])
		}
	}
	if n, err := strconv.Atoi(query.Get("bits")); err == nil { // ignored when not a number, as Barbican does
		where += " AND bit_length = ?"
		args = append(args, n)
	}
	if v, _ := httpapi.ParseBool(query.Get("acl_only")); v {
		// Secrets shared with the caller by an ACL: sov has no ACLs.
		where += " AND 1 = 0"
	}
	var total int
	if err := s.db.QueryRow(q.r.Context(), `SELECT COUNT(*) FROM km_secrets WHERE `+where, args...).Scan(&total); err != nil {
		return err
	}
	rows, err := s.db.Query(q.r.Context(), `SELECT `+secretColumns+` FROM km_secrets WHERE `+where+` ORDER BY created_at, id LIMIT ? OFFSET ?`,
		append(args, limit, offset)...)
	if err != nil {
		return err
	}
	list, err := store.Collect(rows, scanSecret)
	if err != nil {
		return err
	}
	out := []map[string]any{}
	for _, x := range list {
		out = append(out, s.secretView(x))
	}
	body := map[string]any{"secrets": out}
	pageLinks(q.r, s.url+"/v1/secrets", body, offset, limit, total)
	httpapi.WriteJSON(q.w, http.StatusOK, body)
	return nil
}

// getSecret answers the secret's metadata, or its payload when the Accept
// header asks for a type other than JSON (Barbican's older form).
func (s *Service) getSecret(q *request) error {
	if accept := q.r.Header.Get("Accept"); accept != "" && accept != "*/*" && accept != "application/json" {
		return s.getPayload(q)
	}
	if err := q.enforce("secret:get", q.creds.ProjectID); err != nil {
		return err
	}
	x, err := s.visibleSecret(q.r.Context(), s.db, q, q.r.PathValue("id"))
	if err != nil {
		return err
	}
	httpapi.WriteJSON(q.w, http.StatusOK, s.secretView(x))
	return nil
}

// getPayload writes the secret's payload as the Accept header asks, as
// Barbican does: text/plain when it is UTF-8, the binary types as they
// are, */* in the stored type, nothing (or blank) as octet-stream.
func (s *Service) getPayload(q *request) error {
	if err := q.enforce("secret:decrypt", q.creds.ProjectID); err != nil {
		return err
	}
	x, err := s.visibleSecret(q.r.Context(), s.db, q, q.r.PathValue("id"))
	if err != nil {
		return err
	}
	if x.ContentType == "" {
		return errorf(http.StatusNotFound, "Not Found. Sorry but your secret has no payload.")
	}
	payload, err := s.payload(q.r.Context(), x.ID)
	if err != nil {
		return err
	}
	accept := strings.TrimSpace(q.r.Header.Get("Accept"))
	media, _, _ := strings.Cut(accept, ";")
	switch strings.ToLower(strings.TrimSpace(media)) {
	case "":
		accept = "application/octet-stream"
	case "*/*":
		accept = x.ContentType
	case "text/plain":
		if !utf8.Valid(payload) {
			return errorf(http.StatusNotAcceptable, "Secret payload retrieval issue seen - Wrong payload content-type.")
		}
	case "application/octet-stream", "application/pkcs8":
	default:
		return errorf(http.StatusNotAcceptable, "Secret payload retrieval issue seen - Wrong payload content-type.")
	}
	q.w.Header().Set("Content-Type", accept)
	q.w.Write(payload)
	return nil
}

// payload opens a secret's sealed payload.
func (s *Service) payload(ctx context.Context, id string) ([]byte, error) {
	var sealed string
	if err := s.db.QueryRow(ctx, `SELECT payload FROM km_secrets WHERE id = ?`, id).Scan(&sealed); err != nil {
		return nil, store.Row(err)
	}
	return s.kek.Open(sealed, payloadContext(id))
}

// putPayload gives a secret made without a payload its payload: the body
// as it is in the request's Content-Type (text/plain or
// application/octet-stream), or base64 with Content-Encoding: base64.
func (s *Service) putPayload(q *request) error {
	if err := q.enforce("secret:put", q.creds.ProjectID); err != nil {
		return err
	}
	ctx := q.r.Context()
	x, err := s.visibleSecret(ctx, s.db, q, q.r.PathValue("id"))
	if err != nil {
		return err
	}
	media, _, _ := strings.Cut(q.r.Header.Get("Content-Type"), ";")
	contentType := strings.ToLower(strings.TrimSpace(media))
	if contentType != "text/plain" && contentType != "application/octet-stream" {
		return errorf(http.StatusUnsupportedMediaType, "Unexpected content type. Expected content types are: ['application/octet-stream', 'text/plain']")
	}
	payload, err := io.ReadAll(q.r.Body)
	var maxErr *http.MaxBytesError
	switch {
	case errors.As(err, &maxErr) || len(payload) > maxPayloadBytes:
		return errorf(http.StatusRequestEntityTooLarge, "Secret update issue seen - Provided information too large to process.")
	case err != nil:
		return errorf(http.StatusBadRequest, "Secret update issue seen - the request body could not be read.")
	case len(payload) == 0:
		return errorf(http.StatusBadRequest, "Secret update issue seen - No data supplied to process.")
	}
	switch enc := q.r.Header.Get("Content-Encoding"); {
	case strings.EqualFold(enc, "base64"):
		if payload, err = base64.StdEncoding.DecodeString(string(payload)); err != nil {
			return errorf(http.StatusBadRequest, "Secret update issue seen - Invalid payload for payload_content_encoding.")
		}
	case enc != "":
		return errorf(http.StatusBadRequest, "Secret update issue seen - Request must specify a content-encoding of 'base64'.")
	}
	err = store.Affected(s.db.Exec(ctx, `UPDATE km_secrets SET content_type = ?, payload = ?, updated_at = ? WHERE id = ? AND content_type = ''`,
		contentType, s.kek.Seal(payload, payloadContext(x.ID)), now(), x.ID))
	if errors.Is(err, store.ErrNotFound) {
		return errorf(http.StatusConflict, "Secret already has data, cannot modify it.")
	}
	if err != nil {
		return err
	}
	q.w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Service) deleteSecret(q *request) error {
	if err := q.enforce("secret:delete", q.creds.ProjectID); err != nil {
		return err
	}
	x, err := s.visibleSecret(q.r.Context(), s.db, q, q.r.PathValue("id"))
	if err != nil {
		return err
	}
	if err := s.removeSecret(q.r.Context(), x.ID); err != nil {
		return err
	}
	q.w.WriteHeader(http.StatusNoContent)
	return nil
}

// removeSecret deletes a secret, its metadata and its places in containers.
func (s *Service) removeSecret(ctx context.Context, id string) error {
	return store.Affected(s.db.Exec(ctx, `DELETE FROM km_secrets WHERE id = ?`, id))
}
