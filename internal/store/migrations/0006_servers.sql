CREATE TABLE servers (
	id TEXT PRIMARY KEY,
	project_id TEXT NOT NULL,
	user_id TEXT NOT NULL,
	name TEXT NOT NULL,
	status TEXT NOT NULL,
	task_state TEXT NOT NULL DEFAULT '',
	power_state INTEGER NOT NULL DEFAULT 0,
	image_id TEXT NOT NULL,
	flavor TEXT NOT NULL,
	key_name TEXT NOT NULL DEFAULT '',
	metadata TEXT NOT NULL DEFAULT '{}',
	user_data TEXT NOT NULL DEFAULT '',
	config_drive BOOLEAN NOT NULL,
	ip TEXT NOT NULL DEFAULT '',
	mac TEXT NOT NULL DEFAULT '',
	fault TEXT NOT NULL DEFAULT '',
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL,
	launched_at BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX servers_project ON servers (project_id);
