-- An agent's digital work of the day beside its calls: per digital channel,
-- offers made, accepted, rejected, timed out, interactions closed and the
-- handle time (accept to close), a JSON object channel -> counts.

-- +goose Up
ALTER TABLE agent_daily_counters ADD COLUMN digital_counts TEXT NULL;

-- +goose Down
ALTER TABLE agent_daily_counters DROP COLUMN digital_counts;
