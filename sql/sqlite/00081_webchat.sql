-- Web chat for the embedded SQLite store: the tables of the MySQL migration
-- of the same version (which says why they look like this).

-- +goose Up
CREATE TABLE chat_websites (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name VARCHAR(128) NOT NULL COLLATE NOCASE,
    queue_id BIGINT NOT NULL,
    allowed_origins VARCHAR(4000) NOT NULL DEFAULT '[]',
    greeting VARCHAR(2000) NOT NULL DEFAULT '',
    offline_message VARCHAR(2000) NOT NULL DEFAULT '',
    calendar_id BIGINT NULL,
    contact_list_id BIGINT NULL,
    max_file_bytes BIGINT NOT NULL,
    identity_secret VARCHAR(128) NOT NULL DEFAULT '',
    disabled BOOLEAN NOT NULL DEFAULT 0,
    token VARCHAR(64) NOT NULL,
    session_key VARCHAR(64) NOT NULL,
    created_at DATETIME NOT NULL,
    updated_at DATETIME NOT NULL,
    CONSTRAINT chat_websites_name_uq UNIQUE (name),
    CONSTRAINT chat_websites_token_uq UNIQUE (token)
);

CREATE TABLE chat_visitors (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    website_id BIGINT NOT NULL,
    visitor VARCHAR(64) NOT NULL,
    name VARCHAR(255) NOT NULL DEFAULT '',
    email VARCHAR(255) NOT NULL DEFAULT '',
    user_id VARCHAR(255) NOT NULL DEFAULT '',
    contact_id BIGINT NULL,
    created_at DATETIME NOT NULL,
    last_seen_at DATETIME NOT NULL,
    CONSTRAINT chat_visitors_uq UNIQUE (website_id, visitor),
    CONSTRAINT chat_visitors_website_fk FOREIGN KEY (website_id) REFERENCES chat_websites (id) ON DELETE CASCADE
);

CREATE TABLE chat_files (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    website_id BIGINT NOT NULL,
    visitor VARCHAR(64) NOT NULL,
    file_key VARCHAR(64) NOT NULL,
    name VARCHAR(255) NOT NULL,
    content_type VARCHAR(128) NOT NULL,
    size BIGINT NOT NULL,
    created_at DATETIME NOT NULL,
    CONSTRAINT chat_files_key_uq UNIQUE (file_key),
    CONSTRAINT chat_files_website_fk FOREIGN KEY (website_id) REFERENCES chat_websites (id) ON DELETE CASCADE
);

-- +goose Down
DROP TABLE chat_files;
DROP TABLE chat_visitors;
DROP TABLE chat_websites;
