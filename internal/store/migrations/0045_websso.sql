-- WebSSO logins under way: the browser went to an identity provider and
-- comes back with a code for this state (kept as a hash), within minutes.
CREATE TABLE fed_websso (
	state_hash TEXT PRIMARY KEY,
	idp_id TEXT NOT NULL,
	protocol_id TEXT NOT NULL,
	origin TEXT NOT NULL,
	verifier TEXT NOT NULL,
	nonce TEXT NOT NULL,
	created_at BIGINT NOT NULL
);

-- sov as a SAML service provider: its key (sealed) and certificate.
CREATE TABLE fed_saml_sp (
	id TEXT PRIMARY KEY,
	private_key TEXT NOT NULL,
	certificate TEXT NOT NULL
);
