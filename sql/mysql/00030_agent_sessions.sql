-- Agent sessions: omniccd's database is the truth for who is logged in, and
-- paused on which channels; Asterisk's dynamic queue members are brought back
-- to these rows after every AMI (re)connect. agent_events is the append-only
-- history of every state change (reports read it); agent_daily_counters keeps
-- today's counters so that a restart does not zero them.

-- +goose Up
CREATE TABLE agent_sessions (
    agent_id BIGINT NOT NULL PRIMARY KEY,
    logged_in_at DATETIME(6) NOT NULL,
    -- source says who logged the agent in: api, agi, asterisk (a member added
    -- inside Asterisk and adopted).
    source VARCHAR(16) NOT NULL DEFAULT 'api',
    -- paused_channels lists the channels the agent is paused on, comma
    -- separated (voice, chat, whatsapp, ...): the seeds' partial pause.
    paused_channels VARCHAR(255) NOT NULL DEFAULT '',
    pause_type_id BIGINT NULL,
    pause_reason VARCHAR(128) NOT NULL DEFAULT '',
    paused_at DATETIME(6) NULL,
    updated_at DATETIME(6) NOT NULL,
    CONSTRAINT agent_sessions_user_fk FOREIGN KEY (agent_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- No foreign key on agent_id: the history outlives a deleted agent.
CREATE TABLE agent_events (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    agent_id BIGINT NOT NULL,
    queue VARCHAR(128) NULL,
    state VARCHAR(32) NOT NULL,
    reason VARCHAR(255) NOT NULL DEFAULT '',
    at DATETIME(6) NOT NULL,
    details TEXT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
CREATE INDEX agent_events_agent_at_idx ON agent_events (agent_id, at);
CREATE INDEX agent_events_at_idx ON agent_events (at);

CREATE TABLE agent_daily_counters (
    agent_id BIGINT NOT NULL,
    day CHAR(10) NOT NULL,
    answered INTEGER NOT NULL DEFAULT 0,
    missed INTEGER NOT NULL DEFAULT 0,
    talk_seconds BIGINT NOT NULL DEFAULT 0,
    login_seconds BIGINT NOT NULL DEFAULT 0,
    -- pause_seconds is a JSON object: pause reason -> seconds.
    pause_seconds TEXT NULL,
    updated_at DATETIME(6) NOT NULL,
    PRIMARY KEY (agent_id, day)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- +goose Down
DROP TABLE agent_daily_counters;
DROP TABLE agent_events;
DROP TABLE agent_sessions;
