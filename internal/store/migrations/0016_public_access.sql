-- S3 public access block (JSON, '' for none) and object ownership ('' for ObjectWriter).
ALTER TABLE buckets ADD COLUMN public_access_block TEXT NOT NULL DEFAULT '';
ALTER TABLE buckets ADD COLUMN ownership TEXT NOT NULL DEFAULT '';
