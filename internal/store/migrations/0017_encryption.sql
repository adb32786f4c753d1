-- S3 encryption at rest: a bucket's default encryption (JSON, '' for none);
-- each object's and upload's algorithm ('', 'AES256' for SSE-S3, 'SSE-C')
-- and its data key (sealed under the master key, or wrapped by the
-- customer's key); and the parts a multipart object was made of (JSON).
ALTER TABLE buckets ADD COLUMN encryption TEXT NOT NULL DEFAULT '';
ALTER TABLE objects ADD COLUMN sse TEXT NOT NULL DEFAULT '';
ALTER TABLE objects ADD COLUMN sse_key TEXT NOT NULL DEFAULT '';
ALTER TABLE objects ADD COLUMN parts TEXT NOT NULL DEFAULT '';
ALTER TABLE uploads ADD COLUMN sse TEXT NOT NULL DEFAULT '';
ALTER TABLE uploads ADD COLUMN sse_key TEXT NOT NULL DEFAULT '';
