package keymanager

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"

	"github.com/google/uuid"

	"github.com/sovcloud/sov/internal/store"
)

// Keys other services keep in a project's key manager, as Cinder keeps
// the keys of encrypted volumes through castellan: symmetric AES keys
// made for a project on a user's behalf, which the project's members see
// (and could delete) as any secret of theirs. Each call runs on the
// caller's querier, so that a key is made and deleted in the transaction
// of what it protects.

// CreateKey makes a random AES key of bits for project, named name, and
// returns its id.
func (s *Service) CreateKey(ctx context.Context, db store.Querier, project, user, name string, bits int) (string, error) {
	if bits <= 0 || bits%8 != 0 || bits > 1024 {
		return "", fmt.Errorf("keymanager: a key of %d bits", bits)
	}
	key := make([]byte, bits/8)
	rand.Read(key)
	return s.storeKey(ctx, db, project, user, name, key)
}

// CopyKey makes a new key in project with the payload of key id (a copy
// of an encrypted volume is opened by the same key, which it holds as a
// secret of its own) and returns its id.
func (s *Service) CopyKey(ctx context.Context, db store.Querier, id, project, user, name string) (string, error) {
	key, err := s.Key(ctx, db, id)
	if err != nil {
		return "", err
	}
	return s.storeKey(ctx, db, project, user, name, key)
}

func (s *Service) storeKey(ctx context.Context, db store.Querier, project, user, name string, key []byte) (string, error) {
	t := now()
	x := &secret{ID: uuid.NewString(), Project: project, Creator: user, Name: name, Type: "symmetric", Algorithm: "aes",
		BitLength: len(key) * 8, ContentType: "application/octet-stream", Created: t, Updated: t}
	return x.ID, s.insertSecret(ctx, db, x, key)
}

// ErrNoKey is the error of a key that is not there (deleted by a user of
// its project, or never made).
var ErrNoKey = errors.New("keymanager: the key is not in the key manager")

// Key is the payload of key id.
func (s *Service) Key(ctx context.Context, db store.Querier, id string) ([]byte, error) {
	var sealed string
	err := db.QueryRow(ctx, `SELECT payload FROM km_secrets WHERE id = ? AND secret_type = 'symmetric'`, id).Scan(&sealed)
	if errors.Is(store.Row(err), store.ErrNotFound) || err == nil && sealed == "" {
		return nil, fmt.Errorf("%w: %s", ErrNoKey, id)
	}
	if err != nil {
		return nil, err
	}
	return s.kek.Open(sealed, payloadContext(id))
}

// DeleteKey deletes key id; one already gone is fine.
func (s *Service) DeleteKey(ctx context.Context, db store.Querier, id string) error {
	_, err := db.Exec(ctx, `DELETE FROM km_secrets WHERE id = ?`, id)
	return err
}
