-- The call log's entry key for the embedded SQLite store: the column and
-- unique key of the MySQL migration of the same version (which says why).

-- +goose Up
ALTER TABLE call_log ADD COLUMN entry_key VARCHAR(32) NULL;
CREATE UNIQUE INDEX call_log_entry_key_uq ON call_log (entry_key);

-- +goose Down
DROP INDEX call_log_entry_key_uq;
ALTER TABLE call_log DROP COLUMN entry_key;
