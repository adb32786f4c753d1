-- The actions asked of resources (Nova's instance actions, and the other
-- services' long operations) and the events each went through.
CREATE TABLE actions (
	kind TEXT NOT NULL,
	resource_id TEXT NOT NULL,
	request_id TEXT NOT NULL,
	action TEXT NOT NULL,
	user_id TEXT NOT NULL,
	project_id TEXT NOT NULL,
	start_time BIGINT NOT NULL,
	PRIMARY KEY (kind, resource_id, request_id)
);
CREATE TABLE action_events (
	kind TEXT NOT NULL,
	resource_id TEXT NOT NULL,
	request_id TEXT NOT NULL,
	event TEXT NOT NULL,
	start_time BIGINT NOT NULL,
	finish_time BIGINT NOT NULL DEFAULT 0,
	result TEXT NOT NULL DEFAULT '',
	traceback TEXT NOT NULL DEFAULT '',
	PRIMARY KEY (kind, resource_id, request_id, event)
);
