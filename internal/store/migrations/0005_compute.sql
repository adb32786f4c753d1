CREATE TABLE flavors (
	id TEXT PRIMARY KEY,
	name TEXT NOT NULL UNIQUE,
	vcpus INTEGER NOT NULL,
	ram INTEGER NOT NULL,
	disk INTEGER NOT NULL,
	ephemeral INTEGER NOT NULL DEFAULT 0,
	swap INTEGER NOT NULL DEFAULT 0,
	is_public BOOLEAN NOT NULL,
	description TEXT NOT NULL DEFAULT '',
	extra_specs TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE keypairs (
	user_id TEXT NOT NULL,
	name TEXT NOT NULL,
	type TEXT NOT NULL,
	public_key TEXT NOT NULL,
	fingerprint TEXT NOT NULL,
	created_at BIGINT NOT NULL,
	PRIMARY KEY (user_id, name)
);
