-- A supervisor's or admin's own phone: where listen, whisper and barge ring
-- when the request names no endpoint (PJSIP/<endpoint> or
-- Local/<number>@<context>). Empty: the request must name one.

-- +goose Up
ALTER TABLE users ADD COLUMN desk_endpoint VARCHAR(128) NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE users DROP COLUMN desk_endpoint;
