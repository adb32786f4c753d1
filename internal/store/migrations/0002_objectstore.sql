CREATE TABLE buckets (
	name TEXT PRIMARY KEY,
	project_id TEXT NOT NULL,
	created_at BIGINT NOT NULL,
	versioning TEXT NOT NULL DEFAULT '',
	acl TEXT NOT NULL DEFAULT 'private',
	policy TEXT NOT NULL DEFAULT '',
	cors TEXT NOT NULL DEFAULT '',
	tags TEXT NOT NULL DEFAULT ''
);
CREATE INDEX buckets_project ON buckets (project_id);
CREATE TABLE objects (
	bucket TEXT NOT NULL REFERENCES buckets(name),
	key TEXT /*BYTEWISE*/ NOT NULL,
	version_id TEXT NOT NULL,
	seq BIGINT NOT NULL,
	is_latest BOOLEAN NOT NULL,
	delete_marker BOOLEAN NOT NULL,
	size BIGINT NOT NULL,
	etag TEXT NOT NULL,
	modified BIGINT NOT NULL,
	content_type TEXT NOT NULL DEFAULT '',
	headers TEXT NOT NULL DEFAULT '',
	checksum_alg TEXT NOT NULL DEFAULT '',
	checksum TEXT NOT NULL DEFAULT '',
	tags TEXT NOT NULL DEFAULT '',
	acl TEXT NOT NULL DEFAULT '',
	blob TEXT NOT NULL DEFAULT '',
	PRIMARY KEY (bucket, key, version_id)
);
CREATE INDEX objects_latest ON objects (bucket, is_latest, key);
CREATE TABLE uploads (
	id TEXT PRIMARY KEY,
	bucket TEXT NOT NULL REFERENCES buckets(name),
	key TEXT /*BYTEWISE*/ NOT NULL,
	initiated BIGINT NOT NULL,
	content_type TEXT NOT NULL DEFAULT '',
	headers TEXT NOT NULL DEFAULT '',
	checksum_alg TEXT NOT NULL DEFAULT '',
	tags TEXT NOT NULL DEFAULT '',
	acl TEXT NOT NULL DEFAULT ''
);
CREATE INDEX uploads_bucket ON uploads (bucket, key);
CREATE TABLE parts (
	upload_id TEXT NOT NULL REFERENCES uploads(id) ON DELETE CASCADE,
	part_number INTEGER NOT NULL,
	size BIGINT NOT NULL,
	etag TEXT NOT NULL,
	checksum TEXT NOT NULL DEFAULT '',
	modified BIGINT NOT NULL,
	blob TEXT NOT NULL,
	PRIMARY KEY (upload_id, part_number)
);
CREATE TABLE project_usage (
	project_id TEXT PRIMARY KEY,
	bytes BIGINT NOT NULL,
	objects BIGINT NOT NULL
);
