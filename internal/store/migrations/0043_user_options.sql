-- Keystone's user options, as JSON: multi_factor_auth_enabled and
-- multi_factor_auth_rules (lists of methods a token needs all of).
ALTER TABLE users ADD COLUMN options TEXT NOT NULL DEFAULT '{}';
