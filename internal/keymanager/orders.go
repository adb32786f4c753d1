package keymanager

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/google/uuid"

	"github.com/sovcloud/sov/internal/httpapi"
	"github.com/sovcloud/sov/internal/store"
)

// Orders make keys: a "key" order a symmetric key (random bytes, a
// secret), an "asymmetric" one an RSA key pair (PEM secrets in an rsa
// container). sov makes them before it answers, so an order is ACTIVE as
// soon as it is listed.

type order struct {
	ID, Project, Creator, Type, Status, Secret, Container string
	Meta                                                  map[string]any
	Created, Updated                                      int64
}

const orderColumns = `id, project_id, creator_id, order_type, status, secret_id, container_id, meta, created_at, updated_at`

func scanOrder(row store.Scanner) (*order, error) {
	var o order
	var meta string
	if err := row.Scan(&o.ID, &o.Project, &o.Creator, &o.Type, &o.Status, &o.Secret, &o.Container, &meta, &o.Created, &o.Updated); err != nil {
		return nil, err
	}
	return &o, json.Unmarshal([]byte(meta), &o.Meta)
}

func (s *Service) orderRef(id string) string { return s.url + "/v1/orders/" + id }

func (s *Service) orderView(o *order) map[string]any {
	m := map[string]any{"order_ref": s.orderRef(o.ID), "type": o.Type, "meta": o.Meta, "status": o.Status, "creator_id": o.Creator,
		"created": barbicanTime(o.Created), "updated": barbicanTime(o.Updated), "sub_status": "Unknown", "sub_status_message": "Unknown"}
	if o.Secret != "" {
		m["secret_ref"] = s.secretRef(o.Secret)
	}
	if o.Container != "" {
		m["container_ref"] = s.containerRef(o.Container)
	}
	return m
}

// orderMeta is the meta of an order.
type orderMeta struct {
	Name               *string `json:"name"`
	Algorithm          *string `json:"algorithm"`
	BitLength          *int    `json:"bit_length"`
	Mode               *string `json:"mode"`
	PayloadContentType *string `json:"payload_content_type"`
	Expiration         *string `json:"expiration"`
	Passphrase         *string `json:"passphrase"`
}

func orderError(msg string) error {
	return errorf(http.StatusBadRequest, "Provided object does not match schema 'Order': %s", msg)
}

// keyAlgorithms are the symmetric algorithms orders make keys of, of
// keySizes bits (twice that in mode xts), as Barbican's simple_crypto
// does; but no AES key of 64 bits.
var (
	keyAlgorithms = []string{"aes", "des", "3des", "hmacsha1", "hmacsha256", "hmacsha384", "hmacsha512"}
	keySizes      = []int{64, 128, 192, 256}
)

func (s *Service) createOrder(q *request) error {
	if err := q.enforce("orders:post", q.creds.ProjectID); err != nil {
		return err
	}
	var b struct {
		Type *string         `json:"type"`
		Meta json.RawMessage `json:"meta"`
	}
	if err := decode(q, &b); err != nil {
		return err
	}
	if b.Type == nil || (*b.Type != "key" && *b.Type != "asymmetric" && *b.Type != "certificate") {
		return orderError("'type' must be one of key, asymmetric, certificate")
	}
	if *b.Type == "certificate" {
		return errorf(http.StatusNotImplemented, "Not implemented by sov's key manager: certificate orders.")
	}
	var m orderMeta
	var meta map[string]any
	if len(b.Meta) == 0 || json.Unmarshal(b.Meta, &m) != nil || json.Unmarshal(b.Meta, &meta) != nil || meta == nil {
		return orderError("'meta' is a required object of the order's name, algorithm, bit_length, mode and payload_content_type")
	}
	for _, k := range []string{"name", "expiration"} { // recorded as null when absent, as Barbican does
		if _, ok := meta[k]; !ok {
			meta[k] = nil
		}
	}
	if m.Algorithm == nil || m.BitLength == nil {
		return orderError("'algorithm' and 'bit_length' are required in 'meta'")
	}
	if ct := str(m.PayloadContentType); ct != "" && ct != "application/octet-stream" {
		return orderError("payload_content_type must be application/octet-stream")
	}
	expiration, err := parseExpiration(m.Expiration)
	if err != nil {
		return err
	}
	o := &order{ID: uuid.NewString(), Project: q.creds.ProjectID, Creator: q.creds.UserID, Type: *b.Type, Status: "ACTIVE", Meta: meta, Created: now()}
	o.Updated = o.Created
	base := secret{Project: o.Project, Creator: o.Creator, Name: str(m.Name), Algorithm: *m.Algorithm, BitLength: *m.BitLength, Mode: str(m.Mode),
		ContentType: "application/octet-stream", Expiration: expiration, Created: o.Created, Updated: o.Created}
	var made []madeSecret
	switch o.Type {
	case "key":
		n := *m.BitLength
		if n%8 != 0 {
			return errorf(http.StatusBadRequest, "Provided field value is not supported")
		}
		alg := strings.ToLower(*m.Algorithm)
		if !slices.Contains(keyAlgorithms, alg) || !slices.Contains(keySizes, n) || (alg == "aes" && n < 128) {
			return errorf(http.StatusBadRequest, "No plugin was found that supports the requested algorithm %q with bit length %d.", *m.Algorithm, n)
		}
		if strings.EqualFold(str(m.Mode), "xts") {
			n *= 2
		}
		key := make([]byte, n/8)
		rand.Read(key)
		x := base
		x.ID, x.Type = uuid.NewString(), "symmetric"
		made, o.Secret = []madeSecret{{secret: x, payload: key}}, x.ID
	case "asymmetric":
		n := *m.BitLength
		if *m.Algorithm != "rsa" || (n != 2048 && n != 3072 && n != 4096) {
			return errorf(http.StatusBadRequest, "No plugin was found that supports the requested algorithm %q with bit length %d.", *m.Algorithm, n)
		}
		if m.Passphrase != nil {
			return errorf(http.StatusNotImplemented, "Not implemented by sov's key manager: key pairs with a passphrase.")
		}
		pair, err := rsa.GenerateKey(rand.Reader, n)
		if err != nil {
			return err
		}
		der, err := x509.MarshalPKCS8PrivateKey(pair)
		if err != nil {
			return err
		}
		pub, err := x509.MarshalPKIXPublicKey(&pair.PublicKey)
		if err != nil {
			return err
		}
		private, public := base, base
		private.ID, private.Type = uuid.NewString(), "private"
		public.ID, public.Type = uuid.NewString(), "public"
		made = []madeSecret{
			{secret: private, payload: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), name: "private_key"},
			{secret: public, payload: pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), name: "public_key"},
		}
		o.Container = uuid.NewString()
	}
	if err := s.fulfil(q.r.Context(), o, made); err != nil {
		return err
	}
	q.w.Header().Set("Location", s.orderRef(o.ID))
	httpapi.WriteJSON(q.w, http.StatusAccepted, map[string]string{"order_ref": s.orderRef(o.ID)})
	return nil
}

type madeSecret struct {
	secret
	payload []byte
	name    string // in the order's container
}

// fulfil stores an order with the secrets it made, in one transaction.
func (s *Service) fulfil(ctx context.Context, o *order, made []madeSecret) error {
	meta, _ := json.Marshal(o.Meta)
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		for i := range made {
			if err := s.insertSecret(ctx, tx, &made[i].secret, made[i].payload); err != nil {
				return err
			}
		}
		if o.Container != "" {
			if err := store.Insert(ctx, tx, "km_containers", store.Values{}.Set("id", o.Container).Set("project_id", o.Project).
				Set("creator_id", o.Creator).Set("name", made[0].Name).Set("container_type", "rsa").Set("created_at", o.Created).Set("updated_at", o.Created)); err != nil {
				return err
			}
			for _, x := range made {
				if err := store.Insert(ctx, tx, "km_container_secrets", store.Values{}.Set("container_id", o.Container).Set("secret_id", x.ID).Set("name", x.name)); err != nil {
					return err
				}
			}
		}
		return store.Insert(ctx, tx, "km_orders", store.Values{}.Set("id", o.ID).Set("project_id", o.Project).Set("creator_id", o.Creator).
			Set("order_type", o.Type).Set("meta", string(meta)).Set("status", o.Status).Set("secret_id", o.Secret).Set("container_id", o.Container).
			Set("created_at", o.Created).Set("updated_at", o.Updated))
	})
}

func (s *Service) visibleOrder(q *request) (*order, error) {
	o, err := scanOrder(s.db.QueryRow(q.r.Context(), `SELECT `+orderColumns+` FROM km_orders WHERE id = ? AND project_id = ?`, q.r.PathValue("id"), q.creds.ProjectID))
	if errors.Is(store.Row(err), store.ErrNotFound) {
		return nil, errorf(http.StatusNotFound, "Order not found.")
	}
	return o, store.Row(err)
}

func (s *Service) listOrders(q *request) error {
	if err := q.enforce("orders:get", q.creds.ProjectID); err != nil {
		return err
	}
	offset, limit := paging(q.r)
	ctx := q.r.Context()
	var total int
	if err := s.db.QueryRow(ctx, `SELECT COUNT(*) FROM km_orders WHERE project_id = ?`, q.creds.ProjectID).Scan(&total); err != nil {
		return err
	}
	rows, err := s.db.Query(ctx, `SELECT `+orderColumns+` FROM km_orders WHERE project_id = ? ORDER BY created_at, id LIMIT ? OFFSET ?`, q.creds.ProjectID, limit, offset)
	if err != nil {
		return err
	}
	list, err := store.Collect(rows, scanOrder)
	if err != nil {
		return err
	}
	out := []map[string]any{}
	for _, o := range list {
		out = append(out, s.orderView(o))
	}
	body := map[string]any{"orders": out}
	pageLinks(q.r, s.url+"/v1/orders", body, offset, limit, total)
	httpapi.WriteJSON(q.w, http.StatusOK, body)
	return nil
}

func (s *Service) getOrder(q *request) error {
	if err := q.enforce("order:get", q.creds.ProjectID); err != nil {
		return err
	}
	o, err := s.visibleOrder(q)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(q.w, http.StatusOK, s.orderView(o))
	return nil
}

// deleteOrder deletes the order, not what it made.
func (s *Service) deleteOrder(q *request) error {
	if err := q.enforce("order:delete", q.creds.ProjectID); err != nil {
		return err
	}
	o, err := s.visibleOrder(q)
	if err != nil {
		return err
	}
	if err := store.Affected(s.db.Exec(q.r.Context(), `DELETE FROM km_orders WHERE id = ?`, o.ID)); err != nil {
		return err
	}
	q.w.WriteHeader(http.StatusNoContent)
	return nil
}
