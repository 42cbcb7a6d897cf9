-- WhatsApp accounts, messages, conversations (the 24-hour window) and
-- templates for the embedded SQLite store: the tables of the MySQL migration
-- of the same version (which says why).

-- +goose Up
CREATE TABLE whatsapp_accounts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
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
    created_at DATETIME NOT NULL,
    updated_at DATETIME NOT NULL,
    CONSTRAINT whatsapp_accounts_name_uq UNIQUE (name)
);

CREATE TABLE whatsapp_messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id BIGINT NOT NULL,
    direction VARCHAR(8) NOT NULL,
    external_id VARCHAR(128) NULL,
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
    sent_at DATETIME NOT NULL,
    created_at DATETIME NOT NULL,
    delivered_at DATETIME NULL,
    CONSTRAINT whatsapp_messages_external_uq UNIQUE (account_id, external_id),
    CONSTRAINT whatsapp_messages_account_fk FOREIGN KEY (account_id) REFERENCES whatsapp_accounts (id) ON DELETE CASCADE
);
CREATE INDEX whatsapp_messages_pending_idx ON whatsapp_messages (direction, delivered_at, id);
CREATE INDEX whatsapp_messages_conversation_idx ON whatsapp_messages (account_id, wa_id, id);

CREATE TABLE whatsapp_conversations (
    account_id BIGINT NOT NULL,
    wa_id VARCHAR(64) NOT NULL,
    last_inbound_at DATETIME NOT NULL,
    window_expires_at DATETIME NOT NULL,
    PRIMARY KEY (account_id, wa_id),
    CONSTRAINT whatsapp_conversations_account_fk FOREIGN KEY (account_id) REFERENCES whatsapp_accounts (id) ON DELETE CASCADE
);

CREATE TABLE whatsapp_templates (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id BIGINT NOT NULL,
    name VARCHAR(512) NOT NULL,
    language VARCHAR(16) NOT NULL,
    components TEXT NULL,
    recontact BOOLEAN NOT NULL DEFAULT 0,
    agents_can_send BOOLEAN NOT NULL DEFAULT 0,
    close_on_quick_reply BOOLEAN NOT NULL DEFAULT 0,
    created_at DATETIME NOT NULL,
    updated_at DATETIME NOT NULL,
    CONSTRAINT whatsapp_templates_name_uq UNIQUE (account_id, name, language),
    CONSTRAINT whatsapp_templates_account_fk FOREIGN KEY (account_id) REFERENCES whatsapp_accounts (id) ON DELETE CASCADE
);

-- +goose Down
DROP TABLE whatsapp_templates;
DROP TABLE whatsapp_conversations;
DROP TABLE whatsapp_messages;
DROP TABLE whatsapp_accounts;
