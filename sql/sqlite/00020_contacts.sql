-- Contact lists and contacts for the embedded SQLite store: the tables of the
-- MySQL migration of the same version (which says why they look like this).

-- +goose Up
CREATE TABLE contact_lists (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name VARCHAR(128) NOT NULL COLLATE NOCASE,
    description VARCHAR(2000) NOT NULL DEFAULT '',
    created_at DATETIME NOT NULL,
    updated_at DATETIME NOT NULL,
    CONSTRAINT contact_lists_name_uq UNIQUE (name)
);

CREATE TABLE contacts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    list_id INTEGER NOT NULL,
    first_name VARCHAR(128) NOT NULL DEFAULT '',
    last_name VARCHAR(128) NOT NULL DEFAULT '',
    phone VARCHAR(64) NOT NULL DEFAULT '',
    mobile VARCHAR(64) NOT NULL DEFAULT '',
    email VARCHAR(255) NOT NULL DEFAULT '',
    phone_norm VARCHAR(32) NOT NULL DEFAULT '',
    mobile_norm VARCHAR(32) NOT NULL DEFAULT '',
    auto_number VARCHAR(32) NULL,
    source VARCHAR(16) NOT NULL DEFAULT 'manual',
    created_at DATETIME NOT NULL,
    updated_at DATETIME NOT NULL,
    CONSTRAINT contacts_list_fk FOREIGN KEY (list_id) REFERENCES contact_lists (id) ON DELETE CASCADE,
    CONSTRAINT contacts_list_auto_uq UNIQUE (list_id, auto_number)
);
CREATE INDEX contacts_phone_norm_idx ON contacts (phone_norm);
CREATE INDEX contacts_mobile_norm_idx ON contacts (mobile_norm);

-- +goose Down
DROP TABLE contacts;
DROP TABLE contact_lists;
