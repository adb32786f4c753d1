-- Domains whose users and groups come from an LDAP directory: Keystone's
-- domain configuration (JSON; the bind password sealed under the master
-- key). Their users and groups are rows of users and user_groups kept
-- in step with the directory.
CREATE TABLE ldap_domains (
	domain_id TEXT PRIMARY KEY REFERENCES domains (id),
	config TEXT NOT NULL
);
