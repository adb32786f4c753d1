-- Completed multipart uploads, for a day, so that a client that resends
-- CompleteMultipartUpload (its answer was lost) gets the same answer, as AWS gives.
CREATE TABLE completed_uploads (
	id TEXT PRIMARY KEY,
	bucket TEXT NOT NULL,
	key TEXT /*BYTEWISE*/ NOT NULL,
	etag TEXT NOT NULL,
	version_id TEXT NOT NULL,
	checksum_alg TEXT NOT NULL DEFAULT '',
	checksum TEXT NOT NULL DEFAULT '',
	completed_at BIGINT NOT NULL
);
