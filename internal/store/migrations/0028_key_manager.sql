-- The key manager (Barbican v1). A secret's payload is sealed under the
-- master key, bound to the secret's id ('' until it has one); expiration
-- is Unix microseconds, 0 for none.
CREATE TABLE km_secrets (
	id TEXT PRIMARY KEY,
	project_id TEXT NOT NULL,
	creator_id TEXT NOT NULL,
	name TEXT NOT NULL,
	secret_type TEXT NOT NULL,
	algorithm TEXT NOT NULL,
	bit_length INTEGER NOT NULL,
	mode TEXT NOT NULL,
	expiration BIGINT NOT NULL,
	content_type TEXT NOT NULL,
	payload TEXT NOT NULL,
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL
);
CREATE INDEX km_secrets_project ON km_secrets (project_id, created_at);

CREATE TABLE km_secret_metadata (
	secret_id TEXT NOT NULL REFERENCES km_secrets (id) ON DELETE CASCADE,
	meta_key TEXT NOT NULL,
	meta_value TEXT NOT NULL,
	PRIMARY KEY (secret_id, meta_key)
);

CREATE TABLE km_containers (
	id TEXT PRIMARY KEY,
	project_id TEXT NOT NULL,
	creator_id TEXT NOT NULL,
	name TEXT NOT NULL,
	container_type TEXT NOT NULL,
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL
);
CREATE INDEX km_containers_project ON km_containers (project_id, created_at);

-- A secret in a container, under a name (unique but in generic ones).
CREATE TABLE km_container_secrets (
	container_id TEXT NOT NULL REFERENCES km_containers (id) ON DELETE CASCADE,
	secret_id TEXT NOT NULL REFERENCES km_secrets (id) ON DELETE CASCADE,
	name TEXT NOT NULL,
	PRIMARY KEY (container_id, secret_id)
);
CREATE INDEX km_container_secrets_secret ON km_container_secrets (secret_id);

-- Who uses a container (Octavia's listeners, say): a service name and a URL.
CREATE TABLE km_container_consumers (
	container_id TEXT NOT NULL REFERENCES km_containers (id) ON DELETE CASCADE,
	name TEXT NOT NULL,
	url TEXT NOT NULL,
	created_at BIGINT NOT NULL,
	PRIMARY KEY (container_id, name, url)
);

-- Orders: what a key or key pair was made from, and what it made.
CREATE TABLE km_orders (
	id TEXT PRIMARY KEY,
	project_id TEXT NOT NULL,
	creator_id TEXT NOT NULL,
	order_type TEXT NOT NULL,
	meta TEXT NOT NULL,
	status TEXT NOT NULL,
	secret_id TEXT NOT NULL,
	container_id TEXT NOT NULL,
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL
);
CREATE INDEX km_orders_project ON km_orders (project_id, created_at);
