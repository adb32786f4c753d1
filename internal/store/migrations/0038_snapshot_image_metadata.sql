-- The image metadata of a snapshot's volume when it was taken (JSON
-- text), which volumes made of the snapshot get; '' for snapshots taken
-- before sov kept it (they get their volume's).
ALTER TABLE volume_snapshots ADD COLUMN image_metadata TEXT NOT NULL DEFAULT '';
