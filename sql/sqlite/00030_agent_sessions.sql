-- Agent sessions, their history and today's counters for the embedded SQLite
-- store: the tables of the MySQL migration of the same version.

-- +goose Up
CREATE TABLE agent_sessions (
    agent_id INTEGER NOT NULL PRIMARY KEY,
    logged_in_at DATETIME NOT NULL,
    source VARCHAR(16) NOT NULL DEFAULT 'api',
    paused_channels VARCHAR(255) NOT NULL DEFAULT '',
    pause_type_id BIGINT NULL,
    pause_reason VARCHAR(128) NOT NULL DEFAULT '',
    paused_at DATETIME NULL,
    updated_at DATETIME NOT NULL,
    CONSTRAINT agent_sessions_user_fk FOREIGN KEY (agent_id) REFERENCES users (id) ON DELETE CASCADE
);

CREATE TABLE agent_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    agent_id BIGINT NOT NULL,
    queue VARCHAR(128) NULL,
    state VARCHAR(32) NOT NULL,
    reason VARCHAR(255) NOT NULL DEFAULT '',
    at DATETIME NOT NULL,
    details TEXT NULL
);
CREATE INDEX agent_events_agent_at_idx ON agent_events (agent_id, at);
CREATE INDEX agent_events_at_idx ON agent_events (at);

CREATE TABLE agent_daily_counters (
    agent_id BIGINT NOT NULL,
    day CHAR(10) NOT NULL,
    answered INTEGER NOT NULL DEFAULT 0,
    missed INTEGER NOT NULL DEFAULT 0,
    talk_seconds BIGINT NOT NULL DEFAULT 0,
    login_seconds BIGINT NOT NULL DEFAULT 0,
    pause_seconds TEXT NULL,
    updated_at DATETIME NOT NULL,
    PRIMARY KEY (agent_id, day)
);

-- +goose Down
DROP TABLE agent_daily_counters;
DROP TABLE agent_events;
DROP TABLE agent_sessions;
