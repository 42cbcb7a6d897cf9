-- Inbound and outbound routes for the embedded SQLite store: the tables of
-- the MySQL migration of the same version (which says what they hold).

-- +goose Up
CREATE TABLE inbound_routes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name VARCHAR(128) NOT NULL COLLATE NOCASE,
    description VARCHAR(2000) NOT NULL DEFAULT '',
    enabled INTEGER NOT NULL DEFAULT 1,
    did VARCHAR(80) NOT NULL,
    caller_id VARCHAR(80) NOT NULL DEFAULT '',
    priority INTEGER NOT NULL DEFAULT 0,
    calendar_id INTEGER NULL,
    open_type VARCHAR(16) NOT NULL,
    open_target VARCHAR(128) NOT NULL DEFAULT '',
    closed_type VARCHAR(16) NOT NULL DEFAULT '',
    closed_target VARCHAR(128) NOT NULL DEFAULT '',
    create_unknown_caller INTEGER NOT NULL DEFAULT 0,
    contact_list_id INTEGER NULL,
    created_at DATETIME NOT NULL,
    updated_at DATETIME NOT NULL,
    CONSTRAINT inbound_routes_name_uq UNIQUE (name),
    CONSTRAINT inbound_routes_calendar_fk FOREIGN KEY (calendar_id) REFERENCES calendars (id),
    CONSTRAINT inbound_routes_contact_list_fk FOREIGN KEY (contact_list_id) REFERENCES contact_lists (id)
);

CREATE TABLE outbound_routes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name VARCHAR(128) NOT NULL COLLATE NOCASE,
    description VARCHAR(2000) NOT NULL DEFAULT '',
    enabled INTEGER NOT NULL DEFAULT 1,
    pattern VARCHAR(80) NOT NULL,
    context VARCHAR(80) NOT NULL DEFAULT '',
    priority INTEGER NOT NULL DEFAULT 0,
    strip INTEGER NOT NULL DEFAULT 0,
    prepend VARCHAR(32) NOT NULL DEFAULT '',
    trunk VARCHAR(255) NOT NULL,
    caller_id VARCHAR(255) NOT NULL DEFAULT '',
    record INTEGER NOT NULL DEFAULT 0,
    record_format VARCHAR(8) NOT NULL DEFAULT 'wav',
    created_at DATETIME NOT NULL,
    updated_at DATETIME NOT NULL,
    CONSTRAINT outbound_routes_name_uq UNIQUE (name)
);

-- +goose Down
DROP TABLE outbound_routes;
DROP TABLE inbound_routes;
