-- Call recordings that omniccd starts (MixMonitor over the AMI) or is told
-- about. A call may hold at most two recordings, stopped ones included (the
-- agent bar's rule): each takes slot 1 or 2 of its call, and the unique key
-- on (call_id, slot) makes the database, not a check in Go, refuse a third
-- even when two requests race. call_id is the Asterisk linkedid, shared by
-- every channel of one call, so recording the agent's leg and the caller's
-- leg count against the same limit.
-- agent_id has no foreign key on purpose: recordings outlive the agents who
-- made them, and the id stays a reference for reports.

-- +goose Up
CREATE TABLE recordings (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    call_id VARCHAR(150) NOT NULL,
    slot TINYINT NOT NULL,
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
    started_at DATETIME(6) NOT NULL,
    stopped_at DATETIME(6) NULL,
    started_by BIGINT NULL,
    started_by_name VARCHAR(128) NOT NULL DEFAULT '',
    stopped_by BIGINT NULL,
    stopped_by_name VARCHAR(128) NOT NULL DEFAULT '',
    CONSTRAINT recordings_call_slot_uq UNIQUE (call_id, slot),
    CONSTRAINT recordings_slot_ck CHECK (slot IN (1, 2))
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
CREATE INDEX recordings_started_idx ON recordings (started_at);
CREATE INDEX recordings_agent_idx ON recordings (agent_id, started_at);
CREATE INDEX recordings_uniqueid_idx ON recordings (uniqueid);
CREATE INDEX recordings_linkedid_idx ON recordings (linkedid);

-- +goose Down
DROP TABLE recordings;
