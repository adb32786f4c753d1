-- sov's OpenID Connect provider: its clients, signing keys, authorization
-- requests (with the user who signed in and awaits the consent page, and
-- the hash of the code issued for them), access tokens and
-- refresh tokens. Lists (redirect URIs, grants, scopes, audiences) are JSON
-- text; codes, secrets and refresh tokens are stored only as SHA-256 hashes.
CREATE TABLE oidc_clients (
	id TEXT PRIMARY KEY,
	domain_id TEXT NOT NULL,
	name TEXT NOT NULL,
	secret_hash TEXT NOT NULL,
	application_type TEXT NOT NULL,
	redirect_uris TEXT NOT NULL,
	post_logout_redirect_uris TEXT NOT NULL,
	grant_types TEXT NOT NULL,
	scopes TEXT NOT NULL,
	require_consent BOOLEAN NOT NULL,
	created_at BIGINT NOT NULL
);
CREATE INDEX oidc_clients_domain ON oidc_clients (domain_id);

-- state is next (published, not yet signing), primary (signing) or retired
-- (published until what it signed has expired).
CREATE TABLE oidc_keys (
	id TEXT PRIMARY KEY,
	algorithm TEXT NOT NULL,
	private_key TEXT NOT NULL,
	state TEXT NOT NULL,
	created_at BIGINT NOT NULL,
	retired_at BIGINT NOT NULL
);

CREATE TABLE oidc_auth_requests (
	id TEXT PRIMARY KEY,
	client_id TEXT NOT NULL,
	request TEXT NOT NULL,
	user_id TEXT NOT NULL,
	auth_time BIGINT NOT NULL,
	amr TEXT NOT NULL,
	consent_user TEXT NOT NULL,
	code_hash TEXT NOT NULL,
	created_at BIGINT NOT NULL
);
CREATE INDEX oidc_auth_requests_code ON oidc_auth_requests (code_hash);

CREATE TABLE oidc_access_tokens (
	id TEXT PRIMARY KEY,
	client_id TEXT NOT NULL,
	subject TEXT NOT NULL,
	audience TEXT NOT NULL,
	scopes TEXT NOT NULL,
	refresh_family TEXT NOT NULL,
	expires_at BIGINT NOT NULL
);
CREATE INDEX oidc_access_tokens_subject ON oidc_access_tokens (subject, client_id);

-- A refresh token is used once: using it marks it used and makes its
-- successor; presenting a used one again revokes its whole family.
CREATE TABLE oidc_refresh_tokens (
	token_hash TEXT PRIMARY KEY,
	family TEXT NOT NULL,
	client_id TEXT NOT NULL,
	subject TEXT NOT NULL,
	audience TEXT NOT NULL,
	scopes TEXT NOT NULL,
	amr TEXT NOT NULL,
	auth_time BIGINT NOT NULL,
	used BOOLEAN NOT NULL,
	expires_at BIGINT NOT NULL
);
CREATE INDEX oidc_refresh_tokens_family ON oidc_refresh_tokens (family);
