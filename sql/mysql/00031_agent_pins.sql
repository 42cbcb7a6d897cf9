-- The PIN an agent types on a phone to log in through FastAGI /agent-login
-- (phonebar and external agents). Kept apart from users so that the login
-- password and the phone PIN never share a column or a policy; only a bcrypt
-- hash is stored.

-- +goose Up
CREATE TABLE agent_pins (
    agent_id BIGINT NOT NULL PRIMARY KEY,
    pin_hash VARCHAR(255) NOT NULL,
    updated_at DATETIME(6) NOT NULL,
    CONSTRAINT agent_pins_user_fk FOREIGN KEY (agent_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- +goose Down
DROP TABLE agent_pins;
