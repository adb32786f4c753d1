-- Placement: resource providers (compute's hosts) with their inventories,
-- traits and aggregates, and what consumers (servers) have allocated from
-- them. A provider's generation grows with every change of it, so a
-- writer that read an older one is refused (409).
CREATE TABLE placement_providers (
	uuid TEXT PRIMARY KEY,
	name TEXT NOT NULL UNIQUE,
	generation INTEGER NOT NULL,
	parent_uuid TEXT NOT NULL,
	root_uuid TEXT NOT NULL,
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL
);

CREATE TABLE placement_inventories (
	provider_uuid TEXT NOT NULL REFERENCES placement_providers (uuid) ON DELETE CASCADE,
	resource_class TEXT NOT NULL,
	total BIGINT NOT NULL,
	reserved BIGINT NOT NULL,
	min_unit BIGINT NOT NULL,
	max_unit BIGINT NOT NULL,
	step_size BIGINT NOT NULL,
	allocation_ratio DOUBLE PRECISION NOT NULL,
	PRIMARY KEY (provider_uuid, resource_class)
);

CREATE TABLE placement_consumers (
	uuid TEXT PRIMARY KEY,
	project_id TEXT NOT NULL,
	user_id TEXT NOT NULL,
	generation INTEGER NOT NULL
);

CREATE TABLE placement_allocations (
	consumer_uuid TEXT NOT NULL REFERENCES placement_consumers (uuid) ON DELETE CASCADE,
	provider_uuid TEXT NOT NULL REFERENCES placement_providers (uuid),
	resource_class TEXT NOT NULL,
	used BIGINT NOT NULL,
	PRIMARY KEY (consumer_uuid, provider_uuid, resource_class)
);
CREATE INDEX placement_allocations_provider ON placement_allocations (provider_uuid, resource_class);

-- Custom resource classes and traits (CUSTOM_*); the standard ones are in code.
CREATE TABLE placement_resource_classes (name TEXT PRIMARY KEY);
CREATE TABLE placement_traits (name TEXT PRIMARY KEY);

CREATE TABLE placement_provider_traits (
	provider_uuid TEXT NOT NULL REFERENCES placement_providers (uuid) ON DELETE CASCADE,
	trait TEXT NOT NULL,
	PRIMARY KEY (provider_uuid, trait)
);
CREATE INDEX placement_provider_traits_trait ON placement_provider_traits (trait);

CREATE TABLE placement_provider_aggregates (
	provider_uuid TEXT NOT NULL REFERENCES placement_providers (uuid) ON DELETE CASCADE,
	aggregate_uuid TEXT NOT NULL,
	PRIMARY KEY (provider_uuid, aggregate_uuid)
);
