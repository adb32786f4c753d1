-- Servers are on Neutron ports: a server keeps the order of its ports and
-- which of them compute made (those go with the server); the addresses
-- and MACs are the ports'. The one host network's columns go.
ALTER TABLE servers ADD COLUMN ports TEXT NOT NULL DEFAULT '[]';
ALTER TABLE servers DROP COLUMN ip;
ALTER TABLE servers DROP COLUMN mac;
