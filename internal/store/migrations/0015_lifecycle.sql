-- S3 lifecycle configurations (JSON, '' for none).
ALTER TABLE buckets ADD COLUMN lifecycle TEXT NOT NULL DEFAULT '';
