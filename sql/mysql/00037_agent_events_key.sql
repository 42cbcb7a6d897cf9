-- agent_events rows written behind the events carry the key presence gave
-- them when they were journaled (a per-process random prefix and a counter,
-- 32 hex digits): the journal is replayed after a crash, including rows
-- already stored, and the unique key makes the database keep one of each.
-- Rows written in the same transaction as their session change have none
-- (NULL, which the unique key allows many times).

-- +goose Up
ALTER TABLE agent_events
    ADD COLUMN event_key VARCHAR(32) CHARACTER SET ascii COLLATE ascii_bin NULL,
    ADD CONSTRAINT agent_events_event_key_uq UNIQUE (event_key);

-- +goose Down
ALTER TABLE agent_events DROP INDEX agent_events_event_key_uq, DROP COLUMN event_key;
