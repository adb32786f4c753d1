-- Transfers of volumes between projects: the donor's offer, accepted by
-- whoever shows the auth key (kept as a salted SHA-256 only).
CREATE TABLE volume_transfers (
	id TEXT PRIMARY KEY,
	project_id TEXT NOT NULL,
	volume_id TEXT NOT NULL UNIQUE,
	name TEXT NOT NULL,
	salt TEXT NOT NULL,
	key_hash TEXT NOT NULL,
	created_at BIGINT NOT NULL
);
CREATE INDEX volume_transfers_project ON volume_transfers (project_id);
