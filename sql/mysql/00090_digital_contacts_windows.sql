-- Digital channels, second round:
-- * an entry point (WhatsApp account, open channel account) may name the
--   contact list its unknown senders are created in (contact_list_id: the
--   trigger); the router then gives every interaction its contact;
-- * a WhatsApp interaction carries its 24-hour window (window_expires_at),
--   and window_warned_for is the expiry the agent was last warned about, so
--   the warning job warns once per window;
-- * a digital queue may close idle interactions (idle_close seconds, 0 =
--   never) and may require a disposition on close;
-- * a WhatsApp message remembers the router message it carries (statuses go
--   back to the agent's view) and the template it sent (a quick reply to a
--   close_on_quick_reply template closes the interaction).

-- +goose Up
ALTER TABLE interactions ADD COLUMN window_expires_at DATETIME(6) NULL;
ALTER TABLE interactions ADD COLUMN window_warned_for DATETIME(6) NULL;
ALTER TABLE cc_queues ADD COLUMN idle_close INTEGER NOT NULL DEFAULT 0;
ALTER TABLE cc_queues ADD COLUMN require_disposition TINYINT(1) NOT NULL DEFAULT 0;
ALTER TABLE whatsapp_accounts ADD COLUMN contact_list_id BIGINT NULL;
ALTER TABLE openchannel_accounts ADD COLUMN contact_list_id BIGINT NULL;
ALTER TABLE whatsapp_messages ADD COLUMN interaction_message_id BIGINT NULL;
ALTER TABLE whatsapp_messages ADD COLUMN template_id BIGINT NULL;
CREATE INDEX whatsapp_messages_interaction_msg_idx ON whatsapp_messages (interaction_message_id);

-- +goose Down
DROP INDEX whatsapp_messages_interaction_msg_idx ON whatsapp_messages;
ALTER TABLE whatsapp_messages DROP COLUMN template_id;
ALTER TABLE whatsapp_messages DROP COLUMN interaction_message_id;
ALTER TABLE openchannel_accounts DROP COLUMN contact_list_id;
ALTER TABLE whatsapp_accounts DROP COLUMN contact_list_id;
ALTER TABLE cc_queues DROP COLUMN require_disposition;
ALTER TABLE cc_queues DROP COLUMN idle_close;
ALTER TABLE interactions DROP COLUMN window_warned_for;
ALTER TABLE interactions DROP COLUMN window_expires_at;
