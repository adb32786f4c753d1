-- Encrypted volume types (Cinder's encryption specs: '' and 0 stand for
-- a null cipher and key size), and the key in the key manager of each
-- encrypted volume and backup ('' for none; a snapshot, which cannot
-- outlive its volume, is opened by its volume's).
CREATE TABLE volume_type_encryption (
	volume_type_id TEXT PRIMARY KEY REFERENCES volume_types(id),
	encryption_id TEXT NOT NULL UNIQUE,
	provider TEXT NOT NULL,
	cipher TEXT NOT NULL,
	key_size INTEGER NOT NULL,
	control_location TEXT NOT NULL,
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL
);
ALTER TABLE volumes ADD COLUMN encryption_key_id TEXT NOT NULL DEFAULT '';
ALTER TABLE volume_backups ADD COLUMN encryption_key_id TEXT NOT NULL DEFAULT '';
