-- The call log for the embedded SQLite store: the table of the MySQL
-- migration of the same version (which says what it holds).

-- +goose Up
CREATE TABLE call_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at DATETIME NOT NULL,
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
    is_open INTEGER NOT NULL DEFAULT 1,
    contact_id INTEGER NULL,
    contact_created INTEGER NOT NULL DEFAULT 0,
    error VARCHAR(255) NOT NULL DEFAULT ''
);
CREATE INDEX call_log_at_idx ON call_log (at);
CREATE INDEX call_log_did_at_idx ON call_log (did, at);
CREATE INDEX call_log_caller_at_idx ON call_log (caller, at);
CREATE INDEX call_log_uniqueid_idx ON call_log (uniqueid);

-- +goose Down
DROP TABLE call_log;
