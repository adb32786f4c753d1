-- Load balancers (Octavia v2): each row carries its project and its load
-- balancer, and the two statuses Octavia reports. Lists of small values
-- (tags, allowed CIDRs, insert_headers, session persistence) are JSON text.
CREATE TABLE lb_loadbalancers (
	id TEXT PRIMARY KEY,
	project_id TEXT NOT NULL,
	name TEXT NOT NULL,
	description TEXT NOT NULL,
	vip_network_id TEXT NOT NULL,
	vip_subnet_id TEXT NOT NULL,
	vip_port_id TEXT NOT NULL,
	vip_address TEXT NOT NULL,
	vip_port_made BOOLEAN NOT NULL,
	vip_namespace TEXT NOT NULL,
	admin_state_up BOOLEAN NOT NULL,
	provisioning_status TEXT NOT NULL,
	operating_status TEXT NOT NULL,
	tags TEXT NOT NULL,
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL
);
CREATE INDEX lb_loadbalancers_project ON lb_loadbalancers (project_id);

CREATE TABLE lb_listeners (
	id TEXT PRIMARY KEY,
	project_id TEXT NOT NULL,
	loadbalancer_id TEXT NOT NULL REFERENCES lb_loadbalancers (id),
	name TEXT NOT NULL,
	description TEXT NOT NULL,
	protocol TEXT NOT NULL,
	protocol_port INTEGER NOT NULL,
	connection_limit INTEGER NOT NULL,
	default_pool_id TEXT NOT NULL,
	timeout_client_data INTEGER NOT NULL,
	timeout_member_connect INTEGER NOT NULL,
	timeout_member_data INTEGER NOT NULL,
	timeout_tcp_inspect INTEGER NOT NULL,
	insert_headers TEXT NOT NULL,
	allowed_cidrs TEXT NOT NULL,
	default_tls_container_ref TEXT NOT NULL,
	sni_container_refs TEXT NOT NULL,
	admin_state_up BOOLEAN NOT NULL,
	provisioning_status TEXT NOT NULL,
	operating_status TEXT NOT NULL,
	tags TEXT NOT NULL,
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL,
	UNIQUE (loadbalancer_id, protocol_port)
);

CREATE TABLE lb_pools (
	id TEXT PRIMARY KEY,
	project_id TEXT NOT NULL,
	loadbalancer_id TEXT NOT NULL REFERENCES lb_loadbalancers (id),
	listener_id TEXT NOT NULL,
	name TEXT NOT NULL,
	description TEXT NOT NULL,
	protocol TEXT NOT NULL,
	lb_algorithm TEXT NOT NULL,
	session_persistence TEXT NOT NULL,
	admin_state_up BOOLEAN NOT NULL,
	provisioning_status TEXT NOT NULL,
	operating_status TEXT NOT NULL,
	tags TEXT NOT NULL,
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL
);
CREATE INDEX lb_pools_loadbalancer ON lb_pools (loadbalancer_id);

CREATE TABLE lb_members (
	id TEXT PRIMARY KEY,
	project_id TEXT NOT NULL,
	loadbalancer_id TEXT NOT NULL,
	pool_id TEXT NOT NULL REFERENCES lb_pools (id),
	name TEXT NOT NULL,
	address TEXT NOT NULL,
	protocol_port INTEGER NOT NULL,
	weight INTEGER NOT NULL,
	backup BOOLEAN NOT NULL,
	subnet_id TEXT NOT NULL,
	monitor_address TEXT NOT NULL,
	monitor_port INTEGER NOT NULL,
	admin_state_up BOOLEAN NOT NULL,
	provisioning_status TEXT NOT NULL,
	operating_status TEXT NOT NULL,
	tags TEXT NOT NULL,
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL,
	UNIQUE (pool_id, address, protocol_port)
);

CREATE TABLE lb_healthmonitors (
	id TEXT PRIMARY KEY,
	project_id TEXT NOT NULL,
	loadbalancer_id TEXT NOT NULL,
	pool_id TEXT NOT NULL UNIQUE REFERENCES lb_pools (id),
	name TEXT NOT NULL,
	type TEXT NOT NULL,
	delay INTEGER NOT NULL,
	timeout INTEGER NOT NULL,
	max_retries INTEGER NOT NULL,
	max_retries_down INTEGER NOT NULL,
	http_method TEXT NOT NULL,
	url_path TEXT NOT NULL,
	expected_codes TEXT NOT NULL,
	admin_state_up BOOLEAN NOT NULL,
	provisioning_status TEXT NOT NULL,
	operating_status TEXT NOT NULL,
	tags TEXT NOT NULL,
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL
);

-- Quotas per project and resource (load_balancer, listener, pool,
-- member, health_monitor); a project without a row has the default.
CREATE TABLE lb_quotas (
	project_id TEXT NOT NULL,
	resource TEXT NOT NULL,
	quota_limit INTEGER NOT NULL,
	PRIMARY KEY (project_id, resource)
);

-- L7 policies of listeners (in position order per listener) and their rules.
CREATE TABLE lb_l7policies (
	id TEXT PRIMARY KEY,
	project_id TEXT NOT NULL,
	loadbalancer_id TEXT NOT NULL,
	listener_id TEXT NOT NULL REFERENCES lb_listeners (id),
	name TEXT NOT NULL,
	description TEXT NOT NULL,
	action TEXT NOT NULL,
	position INTEGER NOT NULL,
	redirect_pool_id TEXT NOT NULL,
	redirect_url TEXT NOT NULL,
	redirect_prefix TEXT NOT NULL,
	redirect_http_code INTEGER NOT NULL,
	admin_state_up BOOLEAN NOT NULL,
	provisioning_status TEXT NOT NULL,
	operating_status TEXT NOT NULL,
	tags TEXT NOT NULL,
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL
);
CREATE INDEX lb_l7policies_listener ON lb_l7policies (listener_id);

CREATE TABLE lb_l7rules (
	id TEXT PRIMARY KEY,
	project_id TEXT NOT NULL,
	loadbalancer_id TEXT NOT NULL,
	l7policy_id TEXT NOT NULL REFERENCES lb_l7policies (id),
	type TEXT NOT NULL,
	compare_type TEXT NOT NULL,
	rule_key TEXT NOT NULL,
	value TEXT NOT NULL,
	invert BOOLEAN NOT NULL,
	admin_state_up BOOLEAN NOT NULL,
	provisioning_status TEXT NOT NULL,
	operating_status TEXT NOT NULL,
	tags TEXT NOT NULL,
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL
);
CREATE INDEX lb_l7rules_policy ON lb_l7rules (l7policy_id);

-- Listeners' counters across restarts and reloads of their data plane
-- (whose own counters start at zero again): what was counted before
-- (base_*) and the data plane's counters when last read (seen_*).
CREATE TABLE lb_listener_stats (
	listener_id TEXT PRIMARY KEY,
	loadbalancer_id TEXT NOT NULL,
	base_bytes_in BIGINT NOT NULL,
	base_bytes_out BIGINT NOT NULL,
	base_total BIGINT NOT NULL,
	base_errors BIGINT NOT NULL,
	seen_bytes_in BIGINT NOT NULL,
	seen_bytes_out BIGINT NOT NULL,
	seen_total BIGINT NOT NULL,
	seen_errors BIGINT NOT NULL
);
