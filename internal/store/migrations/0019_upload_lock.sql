-- S3 object lock asked for by CreateMultipartUpload, applied on completion.
ALTER TABLE uploads ADD COLUMN lock_mode TEXT NOT NULL DEFAULT '';
ALTER TABLE uploads ADD COLUMN lock_until BIGINT NOT NULL DEFAULT 0;
ALTER TABLE uploads ADD COLUMN legal_hold BOOLEAN NOT NULL DEFAULT FALSE;
