-- Neutron routers and floating IPs. A router's interfaces and gateway,
-- and a floating IP's address, are ports (device_owner network:router_*,
-- network:floatingip); a fixed address has at most one floating IP.
CREATE TABLE routers (
	id TEXT PRIMARY KEY,
	project_id TEXT NOT NULL,
	name TEXT NOT NULL,
	description TEXT NOT NULL,
	admin_state_up BOOLEAN NOT NULL,
	gateway_network TEXT NOT NULL,
	enable_snat BOOLEAN NOT NULL,
	routes TEXT NOT NULL,
	revision INTEGER NOT NULL,
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL
);
CREATE INDEX routers_project ON routers (project_id);

CREATE TABLE floating_ips (
	id TEXT PRIMARY KEY,
	project_id TEXT NOT NULL,
	network_id TEXT NOT NULL REFERENCES networks(id),
	port_id TEXT NOT NULL REFERENCES ports(id),
	address TEXT NOT NULL,
	fixed_port_id TEXT NOT NULL,
	fixed_ip TEXT NOT NULL,
	router_id TEXT NOT NULL,
	description TEXT NOT NULL,
	revision INTEGER NOT NULL,
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL
);
CREATE INDEX floating_ips_project ON floating_ips (project_id);
CREATE UNIQUE INDEX floating_ips_fixed ON floating_ips (fixed_port_id, fixed_ip) WHERE fixed_port_id <> '';
