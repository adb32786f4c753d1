-- S3 static website hosting: a bucket's website configuration (XML, '' for none).
ALTER TABLE buckets ADD COLUMN website TEXT NOT NULL DEFAULT '';
