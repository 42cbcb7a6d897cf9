-- API keys: unique names and an agent-role key's agent — the changes of the
-- MySQL migration of the same version, which says why.

-- +goose Up
UPDATE api_keys SET name = substr(name, 1, 100) || ' #' || id
 WHERE id NOT IN (SELECT MIN(id) FROM api_keys GROUP BY name);
CREATE UNIQUE INDEX api_keys_name_uq ON api_keys (name);
-- No foreign key: SQLite cannot drop a column that has one (Down). A key
-- whose agent is gone authenticates as nobody (auth joins users).
ALTER TABLE api_keys ADD COLUMN agent_id INTEGER NULL;

-- +goose Down
DROP INDEX api_keys_name_uq;
ALTER TABLE api_keys DROP COLUMN agent_id;
