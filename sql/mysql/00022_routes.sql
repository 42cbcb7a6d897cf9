-- Inbound and outbound routes, read by FastAGI /inbound and /outbound through
-- an in-memory table rebuilt after every change (directory.RouteTable).
-- did, caller_id and pattern hold an exact number or an Asterisk pattern
-- (`_NXXNXXXXXX`, `_X.`), checked when written. A destination is a type
-- (queue, agent, external, voicemail, hangup, route) and a target whose
-- meaning depends on it; closed_type is '' when the route has no calendar.
-- Calendars and contact lists in use cannot be deleted (the foreign keys
-- back the check the directory makes first, with a clearer message).

-- +goose Up
CREATE TABLE inbound_routes (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    name VARCHAR(128) NOT NULL,
    description VARCHAR(2000) NOT NULL DEFAULT '',
    enabled TINYINT(1) NOT NULL DEFAULT 1,
    did VARCHAR(80) NOT NULL,
    caller_id VARCHAR(80) NOT NULL DEFAULT '',
    priority INTEGER NOT NULL DEFAULT 0,
    calendar_id BIGINT NULL,
    open_type VARCHAR(16) NOT NULL,
    open_target VARCHAR(128) NOT NULL DEFAULT '',
    closed_type VARCHAR(16) NOT NULL DEFAULT '',
    closed_target VARCHAR(128) NOT NULL DEFAULT '',
    create_unknown_caller TINYINT(1) NOT NULL DEFAULT 0,
    contact_list_id BIGINT NULL,
    created_at DATETIME(6) NOT NULL,
    updated_at DATETIME(6) NOT NULL,
    CONSTRAINT inbound_routes_name_uq UNIQUE (name),
    CONSTRAINT inbound_routes_calendar_fk FOREIGN KEY (calendar_id) REFERENCES calendars (id),
    CONSTRAINT inbound_routes_contact_list_fk FOREIGN KEY (contact_list_id) REFERENCES contact_lists (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE outbound_routes (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    name VARCHAR(128) NOT NULL,
    description VARCHAR(2000) NOT NULL DEFAULT '',
    enabled TINYINT(1) NOT NULL DEFAULT 1,
    pattern VARCHAR(80) NOT NULL,
    context VARCHAR(80) NOT NULL DEFAULT '',
    priority INTEGER NOT NULL DEFAULT 0,
    strip INTEGER NOT NULL DEFAULT 0,
    prepend VARCHAR(32) NOT NULL DEFAULT '',
    trunk VARCHAR(255) NOT NULL,
    caller_id VARCHAR(255) NOT NULL DEFAULT '',
    record TINYINT(1) NOT NULL DEFAULT 0,
    record_format VARCHAR(8) NOT NULL DEFAULT 'wav',
    created_at DATETIME(6) NOT NULL,
    updated_at DATETIME(6) NOT NULL,
    CONSTRAINT outbound_routes_name_uq UNIQUE (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- +goose Down
DROP TABLE outbound_routes;
DROP TABLE inbound_routes;
