-- S3 object lock: a bucket's configuration (JSON, '' when lock is off) and
-- each version's retention and legal hold.
ALTER TABLE buckets ADD COLUMN object_lock TEXT NOT NULL DEFAULT '';
ALTER TABLE objects ADD COLUMN lock_mode TEXT NOT NULL DEFAULT '';
ALTER TABLE objects ADD COLUMN lock_until BIGINT NOT NULL DEFAULT 0;
ALTER TABLE objects ADD COLUMN legal_hold BOOLEAN NOT NULL DEFAULT FALSE;
