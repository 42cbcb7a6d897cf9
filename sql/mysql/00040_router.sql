-- The omnichannel router's tables. The database is the router's truth: the
-- in-memory waiting lines and offers are rebuilt from these rows after a
-- restart.
-- interactions: one per (channel, account, customer) — a customer writing
-- again to a closed conversation reopens it — so the unique key makes two
-- deliveries racing for a new customer open one interaction, not two.
-- last_seq is bumped inside the transaction that inserts a message: the row
-- lock hands out seq one by one. Offer acceptance is a conditional UPDATE
-- (WHERE status = 'offered') whose rows affected decide the race.
-- interaction_messages: client_id (an agent's retried reply) and external_id
-- (a channel's retried delivery) are unique per interaction where given;
-- NULLs never collide.
-- interaction_offers: the outstanding offers (kind 'offer') and transfer
-- offers (kind 'transfer', with the target queue when sent to a queue), each
-- with its owner and deadline; a row exists only while the offer stands.
-- queue_id/agent_id carry no foreign keys on purpose: interactions outlive
-- queues and agents, and the ids stay references for reports.

-- +goose Up
CREATE TABLE dispositions (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    name VARCHAR(128) NOT NULL,
    description VARCHAR(2000) NOT NULL DEFAULT '',
    created_at DATETIME(6) NOT NULL,
    updated_at DATETIME(6) NOT NULL,
    CONSTRAINT dispositions_name_uq UNIQUE (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE interactions (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
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
    queued_at DATETIME(6) NOT NULL,
    created_at DATETIME(6) NOT NULL,
    updated_at DATETIME(6) NOT NULL,
    accepted_at DATETIME(6) NULL,
    closed_at DATETIME(6) NULL,
    CONSTRAINT interactions_identity_uq UNIQUE (channel, account, customer),
    CONSTRAINT interactions_status_ck CHECK (status IN ('queued', 'offered', 'accepted', 'closed'))
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
CREATE INDEX interactions_status_idx ON interactions (status, queue_id);
CREATE INDEX interactions_agent_idx ON interactions (agent_id, status);

CREATE TABLE interaction_messages (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
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
    created_at DATETIME(6) NOT NULL,
    CONSTRAINT interaction_messages_interaction_fk FOREIGN KEY (interaction_id) REFERENCES interactions (id) ON DELETE CASCADE,
    CONSTRAINT interaction_messages_seq_uq UNIQUE (interaction_id, seq),
    CONSTRAINT interaction_messages_client_uq UNIQUE (interaction_id, client_id),
    CONSTRAINT interaction_messages_external_uq UNIQUE (interaction_id, external_id),
    CONSTRAINT interaction_messages_direction_ck CHECK (direction IN ('in', 'out', 'system'))
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
CREATE INDEX interaction_messages_status_idx ON interaction_messages (status);

CREATE TABLE interaction_offers (
    interaction_id BIGINT NOT NULL,
    agent_id BIGINT NOT NULL,
    kind VARCHAR(16) NOT NULL,
    to_queue_id BIGINT NULL,
    expires_at DATETIME(6) NOT NULL,
    created_at DATETIME(6) NOT NULL,
    PRIMARY KEY (interaction_id, agent_id),
    CONSTRAINT interaction_offers_interaction_fk FOREIGN KEY (interaction_id) REFERENCES interactions (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE interaction_notes (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    interaction_id BIGINT NOT NULL,
    agent_id BIGINT NULL,
    body TEXT NOT NULL,
    created_at DATETIME(6) NOT NULL,
    CONSTRAINT interaction_notes_interaction_fk FOREIGN KEY (interaction_id) REFERENCES interactions (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- +goose Down
DROP TABLE interaction_notes;
DROP TABLE interaction_offers;
DROP TABLE interaction_messages;
DROP TABLE interactions;
DROP TABLE dispositions;
