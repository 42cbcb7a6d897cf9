-- An agent's voicemail PIN, chosen at random when the agent is created and
-- set through PUT /agents/{id}/voicemail-pin. It was the mailbox number,
-- which anyone who knows an extension could guess. Asterisk needs it in the
-- clear (the voicemail table's password column), so it is kept in the clear
-- here too, and never answered by any GET. Empty for agents created before
-- this version: a random one is given at their next change.

-- +goose Up
ALTER TABLE users ADD COLUMN voicemail_pin VARCHAR(12) NOT NULL DEFAULT '';
-- External agents have no endpoint, so no SIP secret to show or leak.
UPDATE users SET sip_secret = '' WHERE typology = 'external';

-- +goose Down
ALTER TABLE users DROP COLUMN voicemail_pin;
