-- The flavor a server had before a resize it has not confirmed or
-- reverted yet (JSON text; '' when none).
ALTER TABLE servers ADD COLUMN old_flavor TEXT NOT NULL DEFAULT '';
