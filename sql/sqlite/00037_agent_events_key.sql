-- The agent history's event key for the embedded SQLite store: the column
-- and unique key of the MySQL migration of the same version (which says why).

-- +goose Up
ALTER TABLE agent_events ADD COLUMN event_key VARCHAR(32) NULL;
CREATE UNIQUE INDEX agent_events_event_key_uq ON agent_events (event_key);

-- +goose Down
DROP INDEX agent_events_event_key_uq;
ALTER TABLE agent_events DROP COLUMN event_key;
