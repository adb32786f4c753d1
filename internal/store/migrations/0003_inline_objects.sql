ALTER TABLE objects ADD COLUMN inline_data /*BINARY*/
