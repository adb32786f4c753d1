-- Neutron: networks, subnets, ports and their addresses, security groups
-- and their rules, the default rules new groups get, tags, quotas and
-- network RBAC. Lists of plain values (allocation pools, DNS servers,
-- host routes, allowed address pairs, a binding profile) are JSON text;
-- whatever a list filters on is a column.
CREATE TABLE networks (
	id TEXT PRIMARY KEY,
	project_id TEXT NOT NULL,
	name TEXT NOT NULL,
	description TEXT NOT NULL,
	admin_state_up BOOLEAN NOT NULL,
	shared BOOLEAN NOT NULL,
	external BOOLEAN NOT NULL,
	mtu INTEGER NOT NULL,
	port_security BOOLEAN NOT NULL,
	network_type TEXT NOT NULL,
	physical_network TEXT NOT NULL,
	segmentation_id INTEGER NOT NULL,
	dns_domain TEXT NOT NULL,
	revision INTEGER NOT NULL,
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL
);
CREATE INDEX networks_project ON networks (project_id);
-- Segments are unique per type (a VLAN id or a VXLAN VNI names one L2 domain).
CREATE UNIQUE INDEX networks_segment ON networks (network_type, physical_network, segmentation_id);

CREATE TABLE subnets (
	id TEXT PRIMARY KEY,
	project_id TEXT NOT NULL,
	network_id TEXT NOT NULL REFERENCES networks(id),
	name TEXT NOT NULL,
	description TEXT NOT NULL,
	ip_version INTEGER NOT NULL,
	cidr TEXT NOT NULL,
	gateway_ip TEXT NOT NULL,
	enable_dhcp BOOLEAN NOT NULL,
	ipv6_ra_mode TEXT NOT NULL,
	ipv6_address_mode TEXT NOT NULL,
	allocation_pools TEXT NOT NULL,
	dns_nameservers TEXT NOT NULL,
	host_routes TEXT NOT NULL,
	revision INTEGER NOT NULL,
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL
);
CREATE INDEX subnets_network ON subnets (network_id);

CREATE TABLE ports (
	id TEXT PRIMARY KEY,
	project_id TEXT NOT NULL,
	network_id TEXT NOT NULL REFERENCES networks(id),
	name TEXT NOT NULL,
	description TEXT NOT NULL,
	mac_address TEXT NOT NULL,
	admin_state_up BOOLEAN NOT NULL,
	status TEXT NOT NULL,
	device_owner TEXT NOT NULL,
	device_id TEXT NOT NULL,
	port_security BOOLEAN NOT NULL,
	allowed_address_pairs TEXT NOT NULL,
	binding_host TEXT NOT NULL,
	binding_vnic_type TEXT NOT NULL,
	binding_profile TEXT NOT NULL,
	dns_name TEXT NOT NULL,
	revision INTEGER NOT NULL,
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL
);
CREATE INDEX ports_network ON ports (network_id);
CREATE INDEX ports_device ON ports (device_id);
CREATE UNIQUE INDEX ports_mac ON ports (network_id, mac_address);

-- An address is held by one port of its subnet: the store refuses a second.
CREATE TABLE port_ips (
	port_id TEXT NOT NULL REFERENCES ports(id) ON DELETE CASCADE,
	subnet_id TEXT NOT NULL REFERENCES subnets(id),
	ip_address TEXT NOT NULL,
	PRIMARY KEY (subnet_id, ip_address)
);
CREATE INDEX port_ips_port ON port_ips (port_id);

CREATE TABLE security_groups (
	id TEXT PRIMARY KEY,
	project_id TEXT NOT NULL,
	name TEXT NOT NULL,
	description TEXT NOT NULL,
	stateful BOOLEAN NOT NULL,
	is_default BOOLEAN NOT NULL,
	revision INTEGER NOT NULL,
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL
);
CREATE INDEX security_groups_project ON security_groups (project_id);

CREATE TABLE security_group_rules (
	id TEXT PRIMARY KEY,
	project_id TEXT NOT NULL,
	security_group_id TEXT NOT NULL REFERENCES security_groups(id) ON DELETE CASCADE,
	direction TEXT NOT NULL,
	ethertype TEXT NOT NULL,
	protocol TEXT NOT NULL,
	port_range_min INTEGER,
	port_range_max INTEGER,
	remote_ip_prefix TEXT NOT NULL,
	remote_group_id TEXT NOT NULL,
	description TEXT NOT NULL,
	revision INTEGER NOT NULL,
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL
);
CREATE INDEX security_group_rules_group ON security_group_rules (security_group_id);

CREATE TABLE port_security_groups (
	port_id TEXT NOT NULL REFERENCES ports(id) ON DELETE CASCADE,
	security_group_id TEXT NOT NULL REFERENCES security_groups(id),
	PRIMARY KEY (port_id, security_group_id)
);
CREATE INDEX port_security_groups_group ON port_security_groups (security_group_id);

-- The rules every new security group gets (Neutron's
-- default-security-group-rules); remote_group_id 'PARENT' is the new group.
CREATE TABLE default_security_group_rules (
	id TEXT PRIMARY KEY,
	direction TEXT NOT NULL,
	ethertype TEXT NOT NULL,
	protocol TEXT NOT NULL,
	port_range_min INTEGER,
	port_range_max INTEGER,
	remote_ip_prefix TEXT NOT NULL,
	remote_group_id TEXT NOT NULL,
	used_in_default_sg BOOLEAN NOT NULL,
	used_in_non_default_sg BOOLEAN NOT NULL,
	description TEXT NOT NULL
);

-- Tags of any network resource (networks, subnets, ports, security groups).
CREATE TABLE network_tags (
	resource_id TEXT NOT NULL,
	tag TEXT NOT NULL,
	PRIMARY KEY (resource_id, tag)
);

-- Quotas an admin set for a project; the defaults are in the code.
CREATE TABLE network_quotas (
	project_id TEXT NOT NULL,
	resource TEXT NOT NULL,
	quota_limit INTEGER NOT NULL,
	PRIMARY KEY (project_id, resource)
);

-- Network RBAC: a network shared with one project ('*': every project),
-- or made reachable as external by it.
CREATE TABLE network_rbac (
	id TEXT PRIMARY KEY,
	project_id TEXT NOT NULL,
	object_id TEXT NOT NULL REFERENCES networks(id) ON DELETE CASCADE,
	action TEXT NOT NULL,
	target_project TEXT NOT NULL,
	UNIQUE (object_id, action, target_project)
);

-- One default security group per project, made on its first use.
CREATE UNIQUE INDEX security_groups_default ON security_groups (project_id) WHERE is_default;
