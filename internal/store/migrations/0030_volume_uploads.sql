-- The image a volume is being uploaded to (os-volume_upload_image), so a
-- restart can discard one whose data did not come; '' for none.
ALTER TABLE volumes ADD COLUMN upload_image TEXT NOT NULL DEFAULT '';
