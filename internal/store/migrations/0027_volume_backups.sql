-- Backups of volumes: their data is objects in the backup repository
-- (sov's S3 by default) under volume_<volume>/<backup>/; parent_id names
-- the backup an incremental one builds on. size is the volume's in GiB.
CREATE TABLE volume_backups (
	id TEXT PRIMARY KEY,
	project_id TEXT NOT NULL,
	user_id TEXT NOT NULL,
	volume_id TEXT NOT NULL,
	name TEXT NOT NULL,
	description TEXT NOT NULL,
	size INTEGER NOT NULL,
	status TEXT NOT NULL,
	fail_reason TEXT NOT NULL,
	container TEXT NOT NULL,
	parent_id TEXT NOT NULL,
	object_count INTEGER NOT NULL,
	metadata TEXT NOT NULL,
	data_timestamp BIGINT NOT NULL,
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL
);
CREATE INDEX volume_backups_project ON volume_backups (project_id);
CREATE INDEX volume_backups_volume ON volume_backups (volume_id);
