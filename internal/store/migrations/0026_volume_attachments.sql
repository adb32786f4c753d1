-- Attachments of volumes to servers, as Cinder records them (status
-- reserved, attaching, attached or detaching; made_by compute, for the
-- ones compute plugs into its VMs, or api, for the attachments API's), and
-- the volumes attached to each server, as Nova records them (its block
-- device mappings, JSON).
CREATE TABLE volume_attachments (
	id TEXT PRIMARY KEY,
	volume_id TEXT NOT NULL REFERENCES volumes(id),
	instance_uuid TEXT NOT NULL,
	status TEXT NOT NULL,
	mountpoint TEXT NOT NULL,
	attach_mode TEXT NOT NULL,
	connector TEXT NOT NULL,
	made_by TEXT NOT NULL,
	attached_at BIGINT NOT NULL,
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL
);
CREATE INDEX volume_attachments_volume ON volume_attachments (volume_id);
CREATE INDEX volume_attachments_instance ON volume_attachments (instance_uuid);

ALTER TABLE servers ADD COLUMN volumes TEXT NOT NULL DEFAULT '[]';
