-- A signing key that stops being primary is kept, for verification, until
-- every token it signed has expired: counted from when it was retired.
ALTER TABLE signing_keys ADD COLUMN retired_at BIGINT NOT NULL DEFAULT 0;
