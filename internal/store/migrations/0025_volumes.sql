-- Cinder: volume types (with their extra specs as JSON text), volumes and
-- per-project quotas. A volume's size is in GiB, as the API counts it;
-- new_size is the size an extension in flight grows it to (0: none),
-- which quotas count from the moment the extension is accepted.
CREATE TABLE volume_types (
	id TEXT PRIMARY KEY,
	name TEXT NOT NULL UNIQUE,
	description TEXT NOT NULL,
	is_public BOOLEAN NOT NULL,
	extra_specs TEXT NOT NULL,
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL
);

CREATE TABLE volumes (
	id TEXT PRIMARY KEY,
	project_id TEXT NOT NULL,
	user_id TEXT NOT NULL,
	name TEXT NOT NULL,
	description TEXT NOT NULL,
	size INTEGER NOT NULL,
	new_size INTEGER NOT NULL,
	status TEXT NOT NULL,
	volume_type_id TEXT NOT NULL REFERENCES volume_types(id),
	availability_zone TEXT NOT NULL,
	bootable BOOLEAN NOT NULL,
	snapshot_id TEXT NOT NULL,
	source_volid TEXT NOT NULL,
	image_metadata TEXT NOT NULL,
	metadata TEXT NOT NULL,
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL
);
CREATE INDEX volumes_project ON volumes (project_id);

CREATE TABLE volume_quotas (
	project_id TEXT NOT NULL,
	resource TEXT NOT NULL,
	hard_limit INTEGER NOT NULL,
	PRIMARY KEY (project_id, resource)
);

-- Snapshots of volumes: their data is the backend's, of the volume's size
-- when taken.
CREATE TABLE volume_snapshots (
	id TEXT PRIMARY KEY,
	project_id TEXT NOT NULL,
	user_id TEXT NOT NULL,
	volume_id TEXT NOT NULL REFERENCES volumes(id),
	name TEXT NOT NULL,
	description TEXT NOT NULL,
	size INTEGER NOT NULL,
	status TEXT NOT NULL,
	metadata TEXT NOT NULL,
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL
);
CREATE INDEX volume_snapshots_project ON volume_snapshots (project_id);
CREATE INDEX volume_snapshots_volume ON volume_snapshots (volume_id);
