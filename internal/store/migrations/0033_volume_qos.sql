-- Quality of service specs (Cinder's qos-specs): who enforces them
-- (front-end: the hypervisor; back-end; both) and the specs as JSON
-- text; a volume type names at most one ('' for none).
CREATE TABLE volume_qos_specs (
	id TEXT PRIMARY KEY,
	name TEXT NOT NULL UNIQUE,
	consumer TEXT NOT NULL,
	specs TEXT NOT NULL,
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL
);
ALTER TABLE volume_types ADD COLUMN qos_specs_id TEXT NOT NULL DEFAULT '';
