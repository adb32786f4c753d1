-- Nova's server groups: a policy (affinity, anti-affinity, soft-*) with
-- its rules as JSON text, and the servers in each.
CREATE TABLE server_groups (
	id TEXT PRIMARY KEY,
	project_id TEXT NOT NULL,
	user_id TEXT NOT NULL,
	name TEXT NOT NULL,
	policy TEXT NOT NULL,
	rules TEXT NOT NULL,
	created_at BIGINT NOT NULL
);
CREATE INDEX server_groups_project ON server_groups (project_id);
CREATE TABLE server_group_members (
	group_id TEXT NOT NULL REFERENCES server_groups (id) ON DELETE CASCADE,
	server_id TEXT NOT NULL UNIQUE,
	created_at BIGINT NOT NULL,
	PRIMARY KEY (group_id, server_id)
);
