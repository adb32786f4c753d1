-- The parts of incomplete multipart uploads count against the project's
-- S3 quota from now on: add the parts stored before.
INSERT INTO project_usage (project_id, bytes, objects)
SELECT b.project_id, SUM(p.size), 0 FROM parts p JOIN uploads u ON p.upload_id = u.id JOIN buckets b ON u.bucket = b.name
WHERE 1 = 1 GROUP BY b.project_id
ON CONFLICT (project_id) DO UPDATE SET bytes = project_usage.bytes + excluded.bytes;
