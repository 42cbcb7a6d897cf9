-- A voice queue may record its calls automatically (record_calls: inactive,
-- wav, wav49, gsm, as an agent's): omniccd starts the recording when an
-- agent answers the queue's call, one per call whatever the reasons.

-- +goose Up
ALTER TABLE cc_queues ADD COLUMN record_calls VARCHAR(16) NOT NULL DEFAULT 'inactive';

-- +goose Down
ALTER TABLE cc_queues DROP COLUMN record_calls;
