-- The snapshot a backup was taken of ('' for a backup of its volume).
ALTER TABLE volume_backups ADD COLUMN snapshot_id TEXT NOT NULL DEFAULT '';
