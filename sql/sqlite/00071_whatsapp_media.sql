-- Inbound media download state for the embedded SQLite store: the columns of
-- the MySQL migration of the same version (which says why).

-- +goose Up
ALTER TABLE whatsapp_messages ADD COLUMN media_state VARCHAR(16) NOT NULL DEFAULT '';
ALTER TABLE whatsapp_messages ADD COLUMN media_path VARCHAR(512) NOT NULL DEFAULT '';
ALTER TABLE whatsapp_messages ADD COLUMN media_size BIGINT NOT NULL DEFAULT 0;
ALTER TABLE whatsapp_messages ADD COLUMN media_attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE whatsapp_messages ADD COLUMN media_error VARCHAR(512) NOT NULL DEFAULT '';
CREATE INDEX whatsapp_messages_media_idx ON whatsapp_messages (media_state, id);

-- +goose Down
DROP INDEX whatsapp_messages_media_idx;
ALTER TABLE whatsapp_messages DROP COLUMN media_error;
ALTER TABLE whatsapp_messages DROP COLUMN media_attempts;
ALTER TABLE whatsapp_messages DROP COLUMN media_size;
ALTER TABLE whatsapp_messages DROP COLUMN media_path;
ALTER TABLE whatsapp_messages DROP COLUMN media_state;
