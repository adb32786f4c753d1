package volume

import (
	"context"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/sovcloud/sov/internal/httpapi"
	"github.com/sovcloud/sov/internal/hypervisor"
	"github.com/sovcloud/sov/internal/keymanager"
	"github.com/sovcloud/sov/internal/store"
	"github.com/sovcloud/sov/internal/volume/backend"
)

// Encrypted volumes, as Cinder's with front-end LUKS encryption: an
// encrypted volume type has encryption specs (admins set them); each
// volume of it gets a key of its own in its project's key manager, whose
// hex is the passphrase of the LUKS container the backend keeps (as
// os-brick's encryptors use Cinder's keys), and QEMU opens the container.
// A copy of an encrypted volume (a clone, a volume from a snapshot or a
// backup, a backup) holds a copy of the key, as Cinder clones keys; a
// snapshot, which cannot outlive its volume, is opened by its volume's.
// Deleting a volume or backup deletes its key.

// Keys holds the keys of encrypted volumes; the key manager implements
// it. Each call runs on the querier of the transaction that records what
// the key protects.
type Keys interface {
	CreateKey(ctx context.Context, db store.Querier, project, user, name string, bits int) (string, error)
	CopyKey(ctx context.Context, db store.Querier, id, project, user, name string) (string, error)
	Key(ctx context.Context, db store.Querier, id string) ([]byte, error)
	DeleteKey(ctx context.Context, db store.Querier, id string) error
}

// What sov's volumes are encrypted with, when a type says nothing else:
// LUKS with AES in XTS mode, a key of 256 bits (os-brick's defaults).
const (
	defaultCipher  = "aes-xts-plain64"
	defaultKeySize = 256
)

// luksProviders are the provider names Cinder takes for LUKS: the format,
// and the encryptor classes of older releases.
var luksProviders = map[string]bool{"luks": true, "LuksEncryptor": true, "nova.volume.encryptors.luks.LuksEncryptor": true,
	"os_brick.encryptors.luks.LuksEncryptor": true}

// encryption is a row of volume_type_encryption.
type encryption struct {
	TypeID, ID, Provider, Cipher, ControlLocation string
	KeySize                                       int
	Created, Updated                              int64
}

const encryptionColumns = `volume_type_id, encryption_id, provider, cipher, key_size, control_location, created_at, updated_at`

func scanEncryption(row store.Scanner) (*encryption, error) {
	var e encryption
	return &e, row.Scan(&e.TypeID, &e.ID, &e.Provider, &e.Cipher, &e.KeySize, &e.ControlLocation, &e.Created, &e.Updated)
}

func (e *encryption) view() map[string]any {
	var keySize any
	if e.KeySize > 0 {
		keySize = e.KeySize
	}
	return map[string]any{"volume_type_id": e.TypeID, "encryption_id": e.ID, "provider": e.Provider, "cipher": nullable(e.Cipher),
		"key_size": keySize, "control_location": e.ControlLocation, "created_at": cinderTime(e.Created),
		"updated_at": cinderTime(e.Updated), "deleted": false, "deleted_at": nil}
}

// keyBits is the size of the keys of the type's volumes.
func (e *encryption) keyBits() int {
	if e.KeySize > 0 {
		return e.KeySize
	}
	return defaultKeySize
}

func (e *encryption) cipher() string {
	if e.Cipher != "" {
		return e.Cipher
	}
	return defaultCipher
}

// typeEncryption is a type's encryption specs, nil when it has none.
func typeEncryption(ctx context.Context, db store.Querier, typeID string) (*encryption, error) {
	e, err := scanEncryption(db.QueryRow(ctx, `SELECT `+encryptionColumns+` FROM volume_type_encryption WHERE volume_type_id = ?`, typeID))
	if errors.Is(store.Row(err), store.ErrNotFound) {
		return nil, nil
	}
	return e, store.Row(err)
}

// encryptionFields are what a create or update of encryption specs reads.
type encryptionFields struct {
	Provider        *string         `json:"provider"`
	ControlLocation *string         `json:"control_location"`
	Cipher          json.RawMessage `json:"cipher"`
	KeySize         json.RawMessage `json:"key_size"`
}

func invalidf(format string, a ...any) error {
	return errorf(http.StatusBadRequest, "Invalid input received: "+format, a...)
}

// apply checks the fields given and sets them on e. sov encrypts with
// LUKS in QEMU (front-end), AES in XTS mode with keys of 256 or 512 bits.
func (f *encryptionFields) apply(e *encryption) error {
	if f.Provider != nil {
		if !luksProviders[*f.Provider] {
			return invalidf("provider %q is not supported: sov encrypts volumes with luks.", *f.Provider)
		}
		e.Provider = "luks"
	}
	if f.ControlLocation != nil {
		switch *f.ControlLocation {
		case "front-end":
			e.ControlLocation = *f.ControlLocation
		case "back-end":
			return invalidf("control_location back-end is not supported: sov encrypts volumes in front of the backend (front-end).")
		default:
			return invalidf("Valid control location are: ['front-end', 'back-end']")
		}
	}
	if len(f.Cipher) > 0 {
		var c *string
		if err := json.Unmarshal(f.Cipher, &c); err != nil {
			return invalidf("cipher must be a string or null.")
		}
		switch {
		case c == nil || *c == "":
			e.Cipher = ""
		case *c == defaultCipher:
			e.Cipher = *c
		default:
			return invalidf("cipher %q is not supported: sov encrypts volumes with %s.", *c, defaultCipher)
		}
	}
	if len(f.KeySize) > 0 && string(f.KeySize) != "null" {
		var n int
		if err := json.Unmarshal(f.KeySize, &n); err != nil {
			var s string
			if json.Unmarshal(f.KeySize, &s) != nil {
				return invalidf("key_size must be an integer.")
			}
			if n, err = strconv.Atoi(s); err != nil {
				return invalidf("key_size must be an integer.")
			}
		}
		switch {
		case n < 0:
			return invalidf("key_size must be non-negative")
		case n != 0 && n != 256 && n != 512:
			return invalidf("key_size %d is not supported: %s takes keys of 256 or 512 bits.", n, defaultCipher)
		}
		e.KeySize = n // 0: the default
	} else if len(f.KeySize) > 0 {
		e.KeySize = 0
	}
	return nil
}

func readEncryption(q *request) (*encryptionFields, error) {
	var b struct {
		Encryption *encryptionFields `json:"encryption"`
	}
	if err := httpapi.DecodeJSON(q.r, &b); err != nil {
		return nil, err
	}
	if b.Encryption == nil {
		return nil, invalidf("'encryption' is a required property")
	}
	return b.Encryption, nil
}

// encryptionFor runs fn on the type of the request's path (admins only)
// and its encryption specs, in a transaction; fn may not change the specs
// of a type volumes use.
func (s *Service) encryptionFor(q *request, fn func(ctx context.Context, tx *store.Tx, t *volumeType, e *encryption) error) error {
	if err := q.enforce("volume_extension:volume_type_encryption", q.creds.ProjectID); err != nil {
		return err
	}
	ctx := q.r.Context()
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		t, err := s.findType(ctx, tx, q.r.PathValue("id"), true)
		if err != nil {
			return err
		}
		if err := tx.Lock(ctx, "volume type "+t.ID); err != nil { // against volumes made of it meanwhile
			return err
		}
		e, err := typeEncryption(ctx, tx, t.ID)
		if err != nil {
			return err
		}
		return fn(ctx, tx, t, e)
	})
}

// typeInUse refuses to verb the encryption specs of a type volumes use.
func typeInUse(ctx context.Context, tx *store.Tx, typeID, verb string) error {
	var n int
	if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM volumes WHERE volume_type_id = ?`, typeID).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return errorf(http.StatusBadRequest, "Cannot %s encryption specs. Volume type in use.", verb)
	}
	return nil
}

func noEncryption(typeID string) error {
	return errorf(http.StatusNotFound, "Volume type encryption for type %s does not exist.", typeID)
}

// listEncryption is GET /types/{id}/encryption: the specs, or {} for a
// type without.
func (s *Service) listEncryption(q *request) error {
	var body map[string]any
	err := s.encryptionFor(q, func(_ context.Context, _ *store.Tx, _ *volumeType, e *encryption) error {
		if body = map[string]any{}; e != nil {
			body = e.view()
		}
		return nil
	})
	if err != nil {
		return err
	}
	httpapi.WriteJSON(q.w, http.StatusOK, body)
	return nil
}

// showEncryption is GET /types/{id}/encryption/{key}: one of the specs.
func (s *Service) showEncryption(q *request) error {
	var body map[string]any
	err := s.encryptionFor(q, func(_ context.Context, _ *store.Tx, t *volumeType, e *encryption) error {
		if e == nil {
			return noEncryption(t.ID)
		}
		key := q.r.PathValue("key")
		v, ok := e.view()[key]
		if !ok {
			return noEncryption(t.ID)
		}
		body = map[string]any{key: v}
		return nil
	})
	if err != nil {
		return err
	}
	httpapi.WriteJSON(q.w, http.StatusOK, body)
	return nil
}

func (s *Service) createEncryption(q *request) error {
	f, err := readEncryption(q)
	if err != nil {
		return err
	}
	if f.Provider == nil {
		return invalidf("'provider' is a required property")
	}
	if f.ControlLocation == nil {
		return invalidf("'control_location' is a required property")
	}
	var e *encryption
	err = s.encryptionFor(q, func(ctx context.Context, tx *store.Tx, t *volumeType, had *encryption) error {
		if err := typeInUse(ctx, tx, t.ID, "create"); err != nil {
			return err
		}
		if had != nil {
			return errorf(http.StatusBadRequest, "Volume type encryption for type %s already exists.", t.ID)
		}
		now := time.Now().UnixMicro()
		e = &encryption{TypeID: t.ID, ID: uuid.NewString(), Created: now, Updated: now}
		if err := f.apply(e); err != nil {
			return err
		}
		return store.Insert(ctx, tx, "volume_type_encryption", store.Values{}.Set("volume_type_id", e.TypeID).Set("encryption_id", e.ID).
			Set("provider", e.Provider).Set("cipher", e.Cipher).Set("key_size", e.KeySize).Set("control_location", e.ControlLocation).
			Set("created_at", now).Set("updated_at", now))
	})
	if err != nil {
		return err
	}
	httpapi.WriteJSON(q.w, http.StatusOK, map[string]any{"encryption": e.view()})
	return nil
}

func (s *Service) updateEncryption(q *request) error {
	f, err := readEncryption(q)
	if err != nil {
		return err
	}
	var e *encryption
	err = s.encryptionFor(q, func(ctx context.Context, tx *store.Tx, t *volumeType, had *encryption) error {
		if err := typeInUse(ctx, tx, t.ID, "update"); err != nil {
			return err
		}
		if e = had; e == nil {
			return noEncryption(t.ID)
		}
		if err := f.apply(e); err != nil {
			return err
		}
		e.Updated = time.Now().UnixMicro()
		_, err := tx.Exec(ctx, `UPDATE volume_type_encryption SET provider = ?, cipher = ?, key_size = ?, control_location = ?, updated_at = ?
			WHERE volume_type_id = ?`, e.Provider, e.Cipher, e.KeySize, e.ControlLocation, e.Updated, e.TypeID)
		return err
	})
	if err != nil {
		return err
	}
	httpapi.WriteJSON(q.w, http.StatusOK, map[string]any{"encryption": e.view()})
	return nil
}

func (s *Service) deleteEncryption(q *request) error {
	err := s.encryptionFor(q, func(ctx context.Context, tx *store.Tx, t *volumeType, e *encryption) error {
		if err := typeInUse(ctx, tx, t.ID, "delete"); err != nil {
			return err
		}
		if e == nil {
			return noEncryption(t.ID)
		}
		_, err := tx.Exec(ctx, `DELETE FROM volume_type_encryption WHERE volume_type_id = ?`, t.ID)
		return err
	})
	if err != nil {
		return err
	}
	q.w.WriteHeader(http.StatusAccepted)
	return nil
}

// volumeEncryptionMetadata is GET /volumes/{id}/encryption: how a
// volume is encrypted, for its users (Nova reads it to attach one).
func (s *Service) volumeEncryptionMetadata(q *request) error {
	ctx := q.r.Context()
	v, err := s.visibleVolume(ctx, s.db, q, q.r.PathValue("id"))
	if err != nil {
		return err
	}
	if err := q.enforce("volume_extension:volume_encryption_metadata", v.Project); err != nil {
		return err
	}
	body := map[string]any{"encryption_key_id": nullable(v.KeyID)}
	if v.KeyID != "" {
		e, err := typeEncryption(ctx, s.db, v.TypeID)
		if err != nil {
			return err
		}
		if e != nil {
			view := e.view()
			for _, k := range []string{"provider", "control_location", "cipher", "key_size"} {
				body[k] = view[k]
			}
		}
	}
	httpapi.WriteJSON(q.w, http.StatusOK, body)
	return nil
}

// volumeKey gives a new volume v of type e (nil: not encrypted) its key:
// a copy of from's, the key of what it is made of, or a new one; a plain
// volume cannot come of an encrypted one nor the other way round.
func (s *Service) volumeKey(ctx context.Context, tx *store.Tx, v *volume, e *encryption, from string, copied bool) error {
	switch {
	case e == nil && from != "":
		return invalidf("a volume made of an encrypted one must be of an encrypted volume type.")
	case e == nil:
		return nil
	case copied && from == "":
		return invalidf("a volume made of an unencrypted one cannot be of an encrypted volume type (%s).", v.TypeName)
	case s.keys == nil:
		return errorf(http.StatusNotImplemented, "Encrypted volumes need the key manager, which this cloud has not.")
	}
	var err error
	name := "Encryption key of volume " + v.ID
	if from != "" {
		v.KeyID, err = s.keys.CopyKey(ctx, tx, from, v.Project, v.User, name)
	} else {
		v.KeyID, err = s.keys.CreateKey(ctx, tx, v.Project, v.User, name, e.keyBits())
	}
	return err
}

// backendEncryption is how the backend opens a volume whose key is keyID
// (nil for ""), with the cipher and key size of type typeID.
func (s *Service) backendEncryption(ctx context.Context, keyID, typeID string) (*backend.Encryption, error) {
	if keyID == "" {
		return nil, nil
	}
	key, err := s.key(ctx, s.db, keyID)
	if err != nil {
		return nil, err
	}
	enc := &backend.Encryption{Passphrase: []byte(hex.EncodeToString(key)), Cipher: defaultCipher, KeyBits: len(key) * 8}
	if e, err := typeEncryption(ctx, s.db, typeID); err != nil {
		return nil, err
	} else if e != nil {
		enc.Cipher = e.cipher()
	}
	return enc, nil
}

// disk is how a VM opens volume id: the backend's disk, with the LUKS
// passphrase of an encrypted one and the I/O limits of its type's
// front-end QoS specs.
func (s *Service) disk(ctx context.Context, id string) (*hypervisor.Disk, error) {
	d, err := s.driver.Disk(ctx, id)
	if err != nil {
		return nil, err
	}
	var keyID, typeID string
	var size int
	if err := s.db.QueryRow(ctx, `SELECT encryption_key_id, volume_type_id, size FROM volumes WHERE id = ?`, id).Scan(&keyID, &typeID, &size); err != nil {
		return nil, store.Row(err)
	}
	if d.Throttle, _, err = volumeThrottle(ctx, s.db, typeID, size); err != nil {
		return nil, err
	}
	enc, err := s.backendEncryption(ctx, keyID, typeID)
	if err != nil || enc == nil {
		return d, err
	}
	d.Encrypted, d.Passphrase = true, enc.Passphrase
	return d, nil
}

// deleteKey deletes the key keyID ("" for none) in tx.
func (s *Service) deleteKey(ctx context.Context, tx *store.Tx, keyID string) error {
	if keyID == "" || s.keys == nil {
		return nil
	}
	return s.keys.DeleteKey(ctx, tx, keyID)
}

// moveKey moves the key of an encrypted volume given to another project
// into that project's key manager: a copy there, the donor's deleted.
func (s *Service) moveKey(ctx context.Context, tx *store.Tx, id, project, user string) error {
	var old string
	if err := tx.QueryRow(ctx, `SELECT encryption_key_id FROM volumes WHERE id = ?`, id).Scan(&old); err != nil || old == "" {
		return store.Row(err)
	}
	key, err := s.keys.CopyKey(ctx, tx, old, project, user, "Encryption key of volume "+id)
	if err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `UPDATE volumes SET encryption_key_id = ? WHERE id = ?`, key, id); err != nil {
		return err
	}
	return s.deleteKey(ctx, tx, old)
}

// backupType is the type of a new volume restored from the encrypted
// backup b: its volume's, or (that volume gone) the first public type
// encrypted with keys of the backup key's size.
func (s *Service) backupType(ctx context.Context, tx *store.Tx, b *volumeBackup) (string, error) {
	t, err := store.Column(ctx, tx, `SELECT volume_type_id FROM volumes WHERE id = ?`, b.Volume)
	if err != nil {
		return "", err
	}
	if len(t) == 1 {
		return t[0], nil
	}
	key, err := s.key(ctx, tx, b.KeyID)
	if err != nil {
		return "", err
	}
	bits := len(key) * 8
	t, err = store.Column(ctx, tx, `SELECT t.id FROM volume_types t JOIN volume_type_encryption e ON e.volume_type_id = t.id
		WHERE t.is_public = ? AND (e.key_size = ? OR e.key_size = 0 AND ? = ?) ORDER BY t.name LIMIT 1`, true, bits, bits, defaultKeySize)
	if err != nil {
		return "", err
	}
	if len(t) == 0 {
		return "", invalidf("no public volume type is encrypted with keys of %d bits, as backup %s is; an admin makes one.", bits, b.ID)
	}
	return t[0], nil
}

// key is the key keyID, a 400 if it is gone from the key manager.
func (s *Service) key(ctx context.Context, db store.Querier, keyID string) ([]byte, error) {
	if s.keys == nil {
		return nil, errors.New("volume: an encrypted volume, and no key manager")
	}
	key, err := s.keys.Key(ctx, db, keyID)
	if errors.Is(err, keymanager.ErrNoKey) {
		return nil, errorf(http.StatusBadRequest, "Invalid volume: its key %s is not in the key manager any more.", keyID)
	}
	return key, err
}

// sameKey reports whether keys a and b ("" for none) are both none or
// hold the same key (one a copy of the other's).
func (s *Service) sameKey(ctx context.Context, db store.Querier, a, b string) (bool, error) {
	if a == "" || b == "" {
		return a == b, nil
	}
	ka, err := s.key(ctx, db, a)
	if err != nil {
		return false, err
	}
	kb, err := s.key(ctx, db, b)
	if err != nil {
		return false, err
	}
	return subtle.ConstantTimeCompare(ka, kb) == 1, nil
}

// sameEncryption reports whether volumes of types a and b are encrypted
// alike (neither, or both with the same specs).
func sameEncryption(ctx context.Context, db store.Querier, a, b string) (bool, error) {
	ea, err := typeEncryption(ctx, db, a)
	if err != nil {
		return false, err
	}
	eb, err := typeEncryption(ctx, db, b)
	if err != nil || ea == nil || eb == nil {
		return ea == nil && eb == nil, err
	}
	return ea.Provider == eb.Provider && ea.cipher() == eb.cipher() && ea.keyBits() == eb.keyBits() && ea.ControlLocation == eb.ControlLocation, nil
}
