-- Bot first step: a digital queue may name an AI assistant (ai_assistant_id);
-- its new interactions go to the assistant's webhook first (bot_active) and
-- to the agents' waiting line on the bot's handoff, failure or timeout. The
-- webhook calls are signed with the assistant's webhook_secret.

-- +goose Up
ALTER TABLE cc_queues ADD COLUMN ai_assistant_id BIGINT NULL;
ALTER TABLE ai_assistants ADD COLUMN webhook_secret VARCHAR(255) NOT NULL DEFAULT '';
ALTER TABLE interactions ADD COLUMN bot_active TINYINT(1) NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE interactions DROP COLUMN bot_active;
ALTER TABLE ai_assistants DROP COLUMN webhook_secret;
ALTER TABLE cc_queues DROP COLUMN ai_assistant_id;
