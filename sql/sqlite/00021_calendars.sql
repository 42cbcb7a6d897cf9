-- Business-hours calendars for the embedded SQLite store: the tables of the
-- MySQL migration of the same version (which says what the columns hold).

-- +goose Up
CREATE TABLE calendars (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name VARCHAR(128) NOT NULL COLLATE NOCASE,
    description VARCHAR(2000) NOT NULL DEFAULT '',
    time_zone VARCHAR(64) NOT NULL,
    created_at DATETIME NOT NULL,
    updated_at DATETIME NOT NULL,
    CONSTRAINT calendars_name_uq UNIQUE (name)
);

CREATE TABLE calendar_hours (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    calendar_id INTEGER NOT NULL,
    weekday INTEGER NOT NULL,
    opens CHAR(5) NOT NULL,
    closes CHAR(5) NOT NULL,
    CONSTRAINT calendar_hours_calendar_fk FOREIGN KEY (calendar_id) REFERENCES calendars (id) ON DELETE CASCADE
);
CREATE INDEX calendar_hours_calendar_idx ON calendar_hours (calendar_id);

CREATE TABLE calendar_exceptions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    calendar_id INTEGER NOT NULL,
    day VARCHAR(10) NOT NULL,
    name VARCHAR(128) NOT NULL DEFAULT '',
    hours VARCHAR(255) NOT NULL DEFAULT '',
    CONSTRAINT calendar_exceptions_calendar_fk FOREIGN KEY (calendar_id) REFERENCES calendars (id) ON DELETE CASCADE,
    CONSTRAINT calendar_exceptions_day_uq UNIQUE (calendar_id, day)
);

-- +goose Down
DROP TABLE calendar_exceptions;
DROP TABLE calendar_hours;
DROP TABLE calendars;
