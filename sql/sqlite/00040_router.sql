-- The router's tables for the embedded SQLite store: the tables of the
-- MySQL migration of the same version (which says why they look like this).

-- +goose Up
CREATE TABLE dispositions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name VARCHAR(128) NOT NULL COLLATE NOCASE,
    description VARCHAR(2000) NOT NULL DEFAULT '',
    created_at DATETIME NOT NULL,
    updated_at DATETIME NOT NULL,
    CONSTRAINT dispositions_name_uq UNIQUE (name)
);

CREATE TABLE interactions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    channel VARCHAR(16) NOT NULL,
    account VARCHAR(64) NOT NULL,
    customer VARCHAR(255) NOT NULL,
    customer_name VARCHAR(255) NOT NULL DEFAULT '',
    queue_id BIGINT NOT NULL,
    contact_id BIGINT NULL,
    status VARCHAR(16) NOT NULL,
    agent_id BIGINT NULL,
    priority INT NOT NULL DEFAULT 0,
    disposition VARCHAR(128) NOT NULL DEFAULT '',
    tags VARCHAR(4000) NOT NULL DEFAULT '[]',
    unread INT NOT NULL DEFAULT 0,
    last_seq BIGINT NOT NULL DEFAULT 0,
    queued_at DATETIME NOT NULL,
    created_at DATETIME NOT NULL,
    updated_at DATETIME NOT NULL,
    accepted_at DATETIME NULL,
    closed_at DATETIME NULL,
    CONSTRAINT interactions_identity_uq UNIQUE (channel, account, customer),
    CONSTRAINT interactions_status_ck CHECK (status IN ('queued', 'offered', 'accepted', 'closed'))
);
CREATE INDEX interactions_status_idx ON interactions (status, queue_id);
CREATE INDEX interactions_agent_idx ON interactions (agent_id, status);

CREATE TABLE interaction_messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    interaction_id BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    direction VARCHAR(8) NOT NULL,
    body TEXT NOT NULL,
    attachments VARCHAR(4000) NOT NULL DEFAULT '[]',
    client_id VARCHAR(128) NULL,
    external_id VARCHAR(255) NULL,
    status VARCHAR(16) NOT NULL,
    agent_id BIGINT NULL,
    attempts INT NOT NULL DEFAULT 0,
    error VARCHAR(1000) NOT NULL DEFAULT '',
    created_at DATETIME NOT NULL,
    CONSTRAINT interaction_messages_interaction_fk FOREIGN KEY (interaction_id) REFERENCES interactions (id) ON DELETE CASCADE,
    CONSTRAINT interaction_messages_seq_uq UNIQUE (interaction_id, seq),
    CONSTRAINT interaction_messages_client_uq UNIQUE (interaction_id, client_id),
    CONSTRAINT interaction_messages_external_uq UNIQUE (interaction_id, external_id),
    CONSTRAINT interaction_messages_direction_ck CHECK (direction IN ('in', 'out', 'system'))
);
CREATE INDEX interaction_messages_status_idx ON interaction_messages (status);

CREATE TABLE interaction_offers (
    interaction_id BIGINT NOT NULL,
    agent_id BIGINT NOT NULL,
    kind VARCHAR(16) NOT NULL,
    to_queue_id BIGINT NULL,
    expires_at DATETIME NOT NULL,
    created_at DATETIME NOT NULL,
    PRIMARY KEY (interaction_id, agent_id),
    CONSTRAINT interaction_offers_interaction_fk FOREIGN KEY (interaction_id) REFERENCES interactions (id) ON DELETE CASCADE
);

CREATE TABLE interaction_notes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    interaction_id BIGINT NOT NULL,
    agent_id BIGINT NULL,
    body TEXT NOT NULL,
    created_at DATETIME NOT NULL,
    CONSTRAINT interaction_notes_interaction_fk FOREIGN KEY (interaction_id) REFERENCES interactions (id) ON DELETE CASCADE
);

-- +goose Down
DROP TABLE interaction_notes;
DROP TABLE interaction_offers;
DROP TABLE interaction_messages;
DROP TABLE interactions;
DROP TABLE dispositions;
