-- Web chat: the websites that embed the widget, their visitors and the
-- files visitors upload. A website's token is public (it is in the page's
-- snippet); session_key signs its visitors' session tokens and never leaves
-- the server; identity_secret is the site's own key for identify()'s
-- user_hash (an HMAC needs the secret itself, so it is kept in clear).

-- +goose Up
CREATE TABLE chat_websites (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    name VARCHAR(128) NOT NULL,
    queue_id BIGINT NOT NULL,
    allowed_origins VARCHAR(4000) NOT NULL DEFAULT '[]',
    greeting VARCHAR(2000) NOT NULL DEFAULT '',
    offline_message VARCHAR(2000) NOT NULL DEFAULT '',
    calendar_id BIGINT NULL,
    contact_list_id BIGINT NULL,
    max_file_bytes BIGINT NOT NULL,
    identity_secret VARCHAR(128) NOT NULL DEFAULT '',
    disabled BOOLEAN NOT NULL DEFAULT 0,
    token VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    session_key VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    created_at DATETIME(6) NOT NULL,
    updated_at DATETIME(6) NOT NULL,
    CONSTRAINT chat_websites_name_uq UNIQUE (name),
    CONSTRAINT chat_websites_token_uq UNIQUE (token)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- One row per browser that opened the widget: visitor is the random id the
-- signed session token names. user_id and contact_id are set by a verified
-- identify().
CREATE TABLE chat_visitors (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    website_id BIGINT NOT NULL,
    visitor VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    name VARCHAR(255) NOT NULL DEFAULT '',
    email VARCHAR(255) NOT NULL DEFAULT '',
    user_id VARCHAR(255) NOT NULL DEFAULT '',
    contact_id BIGINT NULL,
    created_at DATETIME(6) NOT NULL,
    last_seen_at DATETIME(6) NOT NULL,
    CONSTRAINT chat_visitors_uq UNIQUE (website_id, visitor),
    CONSTRAINT chat_visitors_website_fk FOREIGN KEY (website_id) REFERENCES chat_websites (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- A file a visitor uploaded: the bytes live under the data directory, named
-- by file_key, an unguessable id that is also its URL.
CREATE TABLE chat_files (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    website_id BIGINT NOT NULL,
    visitor VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    file_key VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    name VARCHAR(255) NOT NULL,
    content_type VARCHAR(128) NOT NULL,
    size BIGINT NOT NULL,
    created_at DATETIME(6) NOT NULL,
    CONSTRAINT chat_files_key_uq UNIQUE (file_key),
    CONSTRAINT chat_files_website_fk FOREIGN KEY (website_id) REFERENCES chat_websites (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- +goose Down
DROP TABLE chat_files;
DROP TABLE chat_visitors;
DROP TABLE chat_websites;
