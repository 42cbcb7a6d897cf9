-- Business-hours calendars for inbound routes. A calendar has a named IANA
-- time zone; its weekly opening hours and its exceptions are wall-clock
-- times in that zone, so a DST change moves nothing ("09:00" stays 09:00).
-- calendar_hours: one row per opening interval, weekday as Go's
-- time.Weekday (0 = Sunday), opens/closes as "HH:MM" ("24:00" closes at
-- midnight), opens < closes.
-- calendar_exceptions: a date ("YYYY-MM-DD", or "MM-DD" for every year) whose
-- hours replace the weekly ones: hours '' means closed all day (a holiday or
-- closure), else comma-separated "HH:MM-HH:MM" intervals (a half day, or
-- opening on a day that is normally closed).

-- +goose Up
CREATE TABLE calendars (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    name VARCHAR(128) NOT NULL,
    description VARCHAR(2000) NOT NULL DEFAULT '',
    time_zone VARCHAR(64) NOT NULL,
    created_at DATETIME(6) NOT NULL,
    updated_at DATETIME(6) NOT NULL,
    CONSTRAINT calendars_name_uq UNIQUE (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE calendar_hours (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    calendar_id BIGINT NOT NULL,
    weekday TINYINT NOT NULL,
    opens CHAR(5) NOT NULL,
    closes CHAR(5) NOT NULL,
    CONSTRAINT calendar_hours_calendar_fk FOREIGN KEY (calendar_id) REFERENCES calendars (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
CREATE INDEX calendar_hours_calendar_idx ON calendar_hours (calendar_id);

CREATE TABLE calendar_exceptions (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    calendar_id BIGINT NOT NULL,
    day VARCHAR(10) NOT NULL,
    name VARCHAR(128) NOT NULL DEFAULT '',
    hours VARCHAR(255) NOT NULL DEFAULT '',
    CONSTRAINT calendar_exceptions_calendar_fk FOREIGN KEY (calendar_id) REFERENCES calendars (id) ON DELETE CASCADE,
    CONSTRAINT calendar_exceptions_day_uq UNIQUE (calendar_id, day)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- +goose Down
DROP TABLE calendar_exceptions;
DROP TABLE calendar_hours;
DROP TABLE calendars;
