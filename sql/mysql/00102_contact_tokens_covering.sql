-- SQLite gains an index on contact_tokens (contact_id, token) for the quick
-- search's per-contact word checks. InnoDB needs none: its index on
-- contact_id already holds the primary key (token, contact_id), so it
-- covers those checks. The version is kept so both engines stay in step.

-- +goose Up
SELECT 1;

-- +goose Down
SELECT 1;
