-- The engine processes sov started (QEMU, dnsmasq, ...), per node, so that a
-- restart adopts them and a start reaps what no record names.
CREATE TABLE engine_processes (
	node TEXT NOT NULL,
	kind TEXT NOT NULL,
	name TEXT NOT NULL,
	pid INTEGER NOT NULL,
	start_ticks BIGINT NOT NULL,
	PRIMARY KEY (node, kind, name)
);
