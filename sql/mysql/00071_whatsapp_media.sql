-- Inbound media downloaded from the provider: where the file is kept, and
-- the state of its download so a failure is retried and visible rather than
-- silently dropped (the message itself is stored once; its file may follow).
-- media_state: '' (no media), pending, stored, failed.

-- +goose Up
ALTER TABLE whatsapp_messages
    ADD COLUMN media_state VARCHAR(16) NOT NULL DEFAULT '',
    ADD COLUMN media_path VARCHAR(512) NOT NULL DEFAULT '',
    ADD COLUMN media_size BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN media_attempts INTEGER NOT NULL DEFAULT 0,
    ADD COLUMN media_error VARCHAR(512) NOT NULL DEFAULT '';
CREATE INDEX whatsapp_messages_media_idx ON whatsapp_messages (media_state, id);

-- +goose Down
DROP INDEX whatsapp_messages_media_idx ON whatsapp_messages;
ALTER TABLE whatsapp_messages DROP COLUMN media_state, DROP COLUMN media_path, DROP COLUMN media_size,
    DROP COLUMN media_attempts, DROP COLUMN media_error;
