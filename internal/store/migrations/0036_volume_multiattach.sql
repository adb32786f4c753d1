-- Whether a volume may be attached to several servers at once: its
-- type's multiattach extra spec when it was made, as Cinder keeps it.
ALTER TABLE volumes ADD COLUMN multiattach BOOLEAN NOT NULL DEFAULT FALSE;
