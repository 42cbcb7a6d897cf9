-- Call recordings for the embedded SQLite store: the table of the MySQL
-- migration of the same version (see there for why two slots per call and
-- no foreign key on agent_id).

-- +goose Up
CREATE TABLE recordings (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    call_id VARCHAR(150) NOT NULL,
    slot INTEGER NOT NULL,
    box VARCHAR(255) NOT NULL DEFAULT '',
    channel VARCHAR(128) NOT NULL,
    uniqueid VARCHAR(150) NOT NULL,
    linkedid VARCHAR(150) NOT NULL,
    agent_id BIGINT NULL,
    file VARCHAR(512) NOT NULL,
    format VARCHAR(8) NOT NULL,
    mixmonitor_id VARCHAR(64) NOT NULL DEFAULT '',
    state VARCHAR(16) NOT NULL,
    source VARCHAR(16) NOT NULL,
    started_at DATETIME NOT NULL,
    stopped_at DATETIME NULL,
    started_by BIGINT NULL,
    started_by_name VARCHAR(128) NOT NULL DEFAULT '',
    stopped_by BIGINT NULL,
    stopped_by_name VARCHAR(128) NOT NULL DEFAULT '',
    CONSTRAINT recordings_call_slot_uq UNIQUE (call_id, slot),
    CONSTRAINT recordings_slot_ck CHECK (slot IN (1, 2))
);
CREATE INDEX recordings_started_idx ON recordings (started_at);
CREATE INDEX recordings_agent_idx ON recordings (agent_id, started_at);
CREATE INDEX recordings_uniqueid_idx ON recordings (uniqueid);
CREATE INDEX recordings_linkedid_idx ON recordings (linkedid);

-- +goose Down
DROP TABLE recordings;
