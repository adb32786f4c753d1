-- Image lists filter and page in the store: os_hidden and tags become
-- columns and rows beside the document (filled from it once, see image
-- Start), and one-time fills are recorded so they run once.
ALTER TABLE images ADD COLUMN hidden BOOLEAN NOT NULL DEFAULT FALSE;
CREATE TABLE image_tags (
	image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
	tag TEXT NOT NULL,
	PRIMARY KEY (image_id, tag)
);
CREATE TABLE backfills (name TEXT PRIMARY KEY);
