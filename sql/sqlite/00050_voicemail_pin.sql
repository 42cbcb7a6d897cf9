-- An agent's voicemail PIN (random at creation, set through PUT
-- /agents/{id}/voicemail-pin, never answered by a GET): the column of the
-- MySQL migration of the same version, which says why.

-- +goose Up
ALTER TABLE users ADD COLUMN voicemail_pin VARCHAR(12) NOT NULL DEFAULT '';
UPDATE users SET sip_secret = '' WHERE typology = 'external';

-- +goose Down
ALTER TABLE users DROP COLUMN voicemail_pin;
