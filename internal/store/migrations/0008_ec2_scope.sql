-- An EC2 credential's roles are capped by the token that made it (role ids
-- as JSON; '' for credentials made by an admin for another user), and one
-- made with an application credential dies with it.
ALTER TABLE credentials ADD COLUMN role_cap TEXT NOT NULL DEFAULT '';
ALTER TABLE credentials ADD COLUMN app_cred_id TEXT NOT NULL DEFAULT '';
