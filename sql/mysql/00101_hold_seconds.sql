-- Time the agent's calls spent on hold, per day (GET /agents/{id}/state
-- counters.hold_seconds).

-- +goose Up
ALTER TABLE agent_daily_counters ADD COLUMN hold_seconds BIGINT NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE agent_daily_counters DROP COLUMN hold_seconds;
