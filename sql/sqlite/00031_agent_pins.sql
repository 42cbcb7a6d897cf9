-- The phone login PIN of agents (FastAGI /agent-login), as a bcrypt hash: the
-- table of the MySQL migration of the same version.

-- +goose Up
CREATE TABLE agent_pins (
    agent_id INTEGER NOT NULL PRIMARY KEY,
    pin_hash VARCHAR(255) NOT NULL,
    updated_at DATETIME NOT NULL,
    CONSTRAINT agent_pins_user_fk FOREIGN KEY (agent_id) REFERENCES users (id) ON DELETE CASCADE
);

-- +goose Down
DROP TABLE agent_pins;
