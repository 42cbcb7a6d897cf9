-- Open channel accounts for the embedded SQLite store: the table of the
-- MySQL migration of the same version (which says why it looks like this).

-- +goose Up
CREATE TABLE openchannel_accounts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name VARCHAR(128) NOT NULL COLLATE NOCASE,
    queue_id BIGINT NOT NULL,
    reply_url VARCHAR(2000) NOT NULL,
    token VARCHAR(64) NOT NULL,
    secret VARCHAR(64) NOT NULL,
    created_at DATETIME NOT NULL,
    updated_at DATETIME NOT NULL,
    CONSTRAINT openchannel_accounts_name_uq UNIQUE (name),
    CONSTRAINT openchannel_accounts_token_uq UNIQUE (token)
);

-- +goose Down
DROP TABLE openchannel_accounts;
