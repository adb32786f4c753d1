-- The OpenID Connect provider's device authorizations (RFC 8628): the
-- device code's hash, the code the user types, and, once the user signed
-- in, who they are.
CREATE TABLE oidc_device_codes (
	device_hash TEXT PRIMARY KEY,
	user_code TEXT NOT NULL UNIQUE,
	client_id TEXT NOT NULL,
	scopes TEXT NOT NULL,
	expires_at BIGINT NOT NULL,
	subject TEXT NOT NULL,
	auth_time BIGINT NOT NULL
);
