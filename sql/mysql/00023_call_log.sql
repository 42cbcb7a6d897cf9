-- The call log: one row per routing decision FastAGI /inbound or /outbound
-- made (or could not make: error says why), written in batches behind the
-- call (calllog.Writer) and listed at GET /api/v1/call-log, newest first,
-- filtered by did, caller and time. uniqueid/linkedid are Asterisk's, to
-- join with CDRs and queue_log; contact_id has no foreign key because the
-- log outlives the contacts it mentions.
-- For outbound rows did is the number dialled, dest_type 'external' and dest
-- the dial string.

-- +goose Up
CREATE TABLE call_log (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    at DATETIME(6) NOT NULL,
    direction VARCHAR(8) NOT NULL,
    uniqueid VARCHAR(150) NOT NULL DEFAULT '',
    linkedid VARCHAR(150) NOT NULL DEFAULT '',
    channel VARCHAR(128) NOT NULL DEFAULT '',
    caller VARCHAR(80) NOT NULL DEFAULT '',
    caller_name VARCHAR(128) NOT NULL DEFAULT '',
    did VARCHAR(80) NOT NULL DEFAULT '',
    route VARCHAR(128) NOT NULL DEFAULT '',
    route_chain VARCHAR(512) NOT NULL DEFAULT '',
    dest_type VARCHAR(16) NOT NULL DEFAULT '',
    dest VARCHAR(255) NOT NULL DEFAULT '',
    is_open TINYINT(1) NOT NULL DEFAULT 1,
    contact_id BIGINT NULL,
    contact_created TINYINT(1) NOT NULL DEFAULT 0,
    error VARCHAR(255) NOT NULL DEFAULT ''
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
CREATE INDEX call_log_at_idx ON call_log (at);
CREATE INDEX call_log_did_at_idx ON call_log (did, at);
CREATE INDEX call_log_caller_at_idx ON call_log (caller, at);
CREATE INDEX call_log_uniqueid_idx ON call_log (uniqueid);

-- +goose Down
DROP TABLE call_log;
