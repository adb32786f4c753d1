-- Keystone federation (OS-FEDERATION): identity providers with their
-- remote ids (unique across providers) and sov's settings for validating
-- their tokens (JSON), mappings (their rules as JSON), protocols, and the
-- shadow users federated logins made.
CREATE TABLE fed_identity_providers (
	id TEXT PRIMARY KEY,
	domain_id TEXT NOT NULL,
	description TEXT NOT NULL,
	enabled BOOLEAN NOT NULL,
	settings TEXT NOT NULL
);

CREATE TABLE fed_remote_ids (
	remote_id TEXT PRIMARY KEY,
	idp_id TEXT NOT NULL REFERENCES fed_identity_providers (id)
);
CREATE INDEX fed_remote_ids_idp ON fed_remote_ids (idp_id);

CREATE TABLE fed_mappings (
	id TEXT PRIMARY KEY,
	rules TEXT NOT NULL,
	schema_version TEXT NOT NULL
);

CREATE TABLE fed_protocols (
	idp_id TEXT NOT NULL REFERENCES fed_identity_providers (id),
	id TEXT NOT NULL,
	mapping_id TEXT NOT NULL REFERENCES fed_mappings (id),
	remote_id_attribute TEXT NOT NULL,
	PRIMARY KEY (idp_id, id)
);

CREATE TABLE fed_users (
	idp_id TEXT NOT NULL,
	protocol_id TEXT NOT NULL,
	unique_id TEXT NOT NULL,
	user_id TEXT NOT NULL,
	display_name TEXT NOT NULL,
	PRIMARY KEY (idp_id, protocol_id, unique_id)
);
CREATE INDEX fed_users_user ON fed_users (user_id);
