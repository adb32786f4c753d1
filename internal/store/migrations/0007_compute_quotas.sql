CREATE TABLE compute_quotas (
	project_id TEXT PRIMARY KEY,
	instances INTEGER NOT NULL,
	cores INTEGER NOT NULL,
	ram INTEGER NOT NULL
)
