CREATE TABLE images (
	id TEXT PRIMARY KEY,
	owner TEXT NOT NULL,
	visibility TEXT NOT NULL,
	status TEXT NOT NULL,
	name TEXT NOT NULL DEFAULT '',
	created_at BIGINT NOT NULL,
	doc TEXT NOT NULL
);
CREATE INDEX images_owner ON images (owner);
CREATE TABLE image_members (
	image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
	member_id TEXT NOT NULL,
	status TEXT NOT NULL,
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL,
	PRIMARY KEY (image_id, member_id)
);
CREATE INDEX image_members_member ON image_members (member_id);
