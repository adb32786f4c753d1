CREATE TABLE domains (
	id TEXT PRIMARY KEY,
	name TEXT NOT NULL UNIQUE,
	description TEXT NOT NULL DEFAULT '',
	enabled BOOLEAN NOT NULL
);
CREATE TABLE projects (
	id TEXT PRIMARY KEY,
	domain_id TEXT NOT NULL REFERENCES domains(id),
	name TEXT NOT NULL,
	description TEXT NOT NULL DEFAULT '',
	enabled BOOLEAN NOT NULL,
	UNIQUE (domain_id, name)
);
CREATE TABLE users (
	id TEXT PRIMARY KEY,
	domain_id TEXT NOT NULL REFERENCES domains(id),
	name TEXT NOT NULL,
	password_hash TEXT NOT NULL DEFAULT '',
	enabled BOOLEAN NOT NULL,
	default_project_id TEXT NOT NULL DEFAULT '',
	email TEXT NOT NULL DEFAULT '',
	description TEXT NOT NULL DEFAULT '',
	failed_logins INTEGER NOT NULL DEFAULT 0,
	locked_until BIGINT NOT NULL DEFAULT 0,
	UNIQUE (domain_id, name)
);
CREATE TABLE user_groups (
	id TEXT PRIMARY KEY,
	domain_id TEXT NOT NULL REFERENCES domains(id),
	name TEXT NOT NULL,
	description TEXT NOT NULL DEFAULT '',
	UNIQUE (domain_id, name)
);
CREATE TABLE group_members (
	group_id TEXT NOT NULL REFERENCES user_groups(id) ON DELETE CASCADE,
	user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	PRIMARY KEY (group_id, user_id)
);
CREATE TABLE roles (
	id TEXT PRIMARY KEY,
	name TEXT NOT NULL UNIQUE,
	description TEXT NOT NULL DEFAULT ''
);
CREATE TABLE role_assignments (
	actor_type TEXT NOT NULL,
	actor_id TEXT NOT NULL,
	target_type TEXT NOT NULL,
	target_id TEXT NOT NULL,
	role_id TEXT NOT NULL REFERENCES roles(id) ON DELETE CASCADE,
	inherited BOOLEAN NOT NULL,
	PRIMARY KEY (actor_type, actor_id, target_type, target_id, role_id, inherited)
);
CREATE INDEX role_assignments_target ON role_assignments (target_type, target_id);
CREATE TABLE app_credentials (
	id TEXT PRIMARY KEY,
	user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
	name TEXT NOT NULL,
	description TEXT NOT NULL DEFAULT '',
	secret_hash TEXT NOT NULL,
	expires_at BIGINT NOT NULL DEFAULT 0,
	unrestricted BOOLEAN NOT NULL,
	roles TEXT NOT NULL,
	UNIQUE (user_id, name)
);
CREATE TABLE credentials (
	id TEXT PRIMARY KEY,
	user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	project_id TEXT NOT NULL DEFAULT '',
	type TEXT NOT NULL,
	access_key TEXT UNIQUE,
	sealed_blob TEXT NOT NULL
);
CREATE TABLE services (
	id TEXT PRIMARY KEY,
	type TEXT NOT NULL,
	name TEXT NOT NULL DEFAULT '',
	description TEXT NOT NULL DEFAULT '',
	enabled BOOLEAN NOT NULL
);
CREATE TABLE endpoints (
	id TEXT PRIMARY KEY,
	service_id TEXT NOT NULL REFERENCES services(id) ON DELETE CASCADE,
	interface TEXT NOT NULL,
	region_id TEXT NOT NULL DEFAULT '',
	url TEXT NOT NULL,
	enabled BOOLEAN NOT NULL
);
CREATE TABLE revocations (
	id TEXT PRIMARY KEY,
	audit_id TEXT NOT NULL DEFAULT '',
	user_id TEXT NOT NULL DEFAULT '',
	project_id TEXT NOT NULL DEFAULT '',
	domain_id TEXT NOT NULL DEFAULT '',
	role_id TEXT NOT NULL DEFAULT '',
	app_credential_id TEXT NOT NULL DEFAULT '',
	issued_before BIGINT NOT NULL,
	expires_at BIGINT NOT NULL
);
CREATE TABLE signing_keys (
	id TEXT PRIMARY KEY,
	secret TEXT NOT NULL,
	created_at BIGINT NOT NULL,
	primary_key BOOLEAN NOT NULL
);
