-- Each call-log row carries the key calllog gave its entry when it was
-- recorded (a per-process random prefix and a counter, 32 hex digits). The
-- writer journals entries before Asterisk is answered and replays the journal
-- after a crash, including entries already stored: the unique key makes the
-- database, not the writer, keep one row per decision. Rows written before
-- this migration have no key (NULL, which the unique key allows many times).

-- +goose Up
ALTER TABLE call_log
    ADD COLUMN entry_key VARCHAR(32) CHARACTER SET ascii COLLATE ascii_bin NULL,
    ADD CONSTRAINT call_log_entry_key_uq UNIQUE (entry_key);

-- +goose Down
ALTER TABLE call_log DROP INDEX call_log_entry_key_uq, DROP COLUMN entry_key;
