-- WhatsApp: accounts (Meta Cloud API or Twilio), every message in and out,
-- the 24-hour customer-service window per conversation and the templates.
-- The database is the truth for deduplication: a wamid or MessageSid is
-- stored once per account however often the provider redelivers it.

-- +goose Up
CREATE TABLE whatsapp_accounts (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    name VARCHAR(128) NOT NULL,
    provider VARCHAR(16) NOT NULL,
    queue_id BIGINT NULL,
    phone_number_id VARCHAR(64) NOT NULL DEFAULT '',
    access_token TEXT NULL,
    app_secret VARCHAR(255) NOT NULL DEFAULT '',
    verify_token VARCHAR(255) NOT NULL DEFAULT '',
    account_sid VARCHAR(64) NOT NULL DEFAULT '',
    auth_token VARCHAR(255) NOT NULL DEFAULT '',
    from_number VARCHAR(64) NOT NULL DEFAULT '',
    api_base_url VARCHAR(512) NOT NULL,
    created_at DATETIME(6) NOT NULL,
    updated_at DATETIME(6) NOT NULL,
    CONSTRAINT whatsapp_accounts_name_uq UNIQUE (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- direction: in (from the customer) or out (an agent's reply or a template).
-- external_id is the wamid / MessageSid: NULL for an outbound message not yet
-- accepted by the provider. status_rank lets a status only move forward.
-- delivered_at is NULL until the inbox (the router) has taken an inbound
-- message: the worker picks those up again after a restart.
CREATE TABLE whatsapp_messages (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    account_id BIGINT NOT NULL,
    direction VARCHAR(8) NOT NULL,
    external_id VARCHAR(128) CHARACTER SET ascii COLLATE ascii_bin NULL,
    wa_id VARCHAR(64) NOT NULL,
    name VARCHAR(255) NOT NULL DEFAULT '',
    kind VARCHAR(32) NOT NULL,
    body TEXT NULL,
    payload TEXT NULL,
    media_id VARCHAR(512) NOT NULL DEFAULT '',
    media_mime VARCHAR(128) NOT NULL DEFAULT '',
    media_sha256 VARCHAR(128) NOT NULL DEFAULT '',
    reply_to VARCHAR(128) NOT NULL DEFAULT '',
    status VARCHAR(16) NOT NULL,
    status_rank INTEGER NOT NULL DEFAULT 0,
    error_code INTEGER NOT NULL DEFAULT 0,
    error_title VARCHAR(512) NOT NULL DEFAULT '',
    pricing TEXT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    sent_at DATETIME(6) NOT NULL,
    created_at DATETIME(6) NOT NULL,
    delivered_at DATETIME(6) NULL,
    CONSTRAINT whatsapp_messages_external_uq UNIQUE (account_id, external_id),
    CONSTRAINT whatsapp_messages_account_fk FOREIGN KEY (account_id) REFERENCES whatsapp_accounts (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
CREATE INDEX whatsapp_messages_pending_idx ON whatsapp_messages (direction, delivered_at, id);
CREATE INDEX whatsapp_messages_conversation_idx ON whatsapp_messages (account_id, wa_id, id);

-- One row per (account, customer): the window the customer's last message
-- opened. Only inbound messages move window_expires_at.
CREATE TABLE whatsapp_conversations (
    account_id BIGINT NOT NULL,
    wa_id VARCHAR(64) NOT NULL,
    last_inbound_at DATETIME(6) NOT NULL,
    window_expires_at DATETIME(6) NOT NULL,
    PRIMARY KEY (account_id, wa_id),
    CONSTRAINT whatsapp_conversations_account_fk FOREIGN KEY (account_id) REFERENCES whatsapp_accounts (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE whatsapp_templates (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    account_id BIGINT NOT NULL,
    name VARCHAR(512) NOT NULL,
    language VARCHAR(16) NOT NULL,
    components TEXT NULL,
    recontact TINYINT(1) NOT NULL DEFAULT 0,
    agents_can_send TINYINT(1) NOT NULL DEFAULT 0,
    close_on_quick_reply TINYINT(1) NOT NULL DEFAULT 0,
    created_at DATETIME(6) NOT NULL,
    updated_at DATETIME(6) NOT NULL,
    CONSTRAINT whatsapp_templates_name_uq UNIQUE (account_id, name, language),
    CONSTRAINT whatsapp_templates_account_fk FOREIGN KEY (account_id) REFERENCES whatsapp_accounts (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- +goose Down
DROP TABLE whatsapp_templates;
DROP TABLE whatsapp_conversations;
DROP TABLE whatsapp_messages;
DROP TABLE whatsapp_accounts;
