-- Keystone unified limits: defaults per service resource, and per-project limits.
CREATE TABLE registered_limits (
	id TEXT PRIMARY KEY,
	service_id TEXT NOT NULL REFERENCES services(id) ON DELETE CASCADE,
	region_id TEXT NOT NULL DEFAULT '',
	resource_name TEXT NOT NULL,
	default_limit BIGINT NOT NULL,
	description TEXT NOT NULL DEFAULT '',
	UNIQUE (service_id, region_id, resource_name)
);
CREATE TABLE project_limits (
	id TEXT PRIMARY KEY,
	project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
	service_id TEXT NOT NULL REFERENCES services(id) ON DELETE CASCADE,
	region_id TEXT NOT NULL DEFAULT '',
	resource_name TEXT NOT NULL,
	resource_limit BIGINT NOT NULL,
	description TEXT NOT NULL DEFAULT '',
	UNIQUE (project_id, service_id, region_id, resource_name)
);
