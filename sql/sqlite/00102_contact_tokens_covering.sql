-- The quick search checks a contact's other words with
-- "contact_id = ? AND token range": an index on (contact_id, token) answers
-- it without reading the table. It serves the foreign key's lookups too, so
-- it replaces the index on contact_id alone.

-- +goose Up
CREATE INDEX contact_tokens_contact_token_idx ON contact_tokens (contact_id, token);
DROP INDEX contact_tokens_contact_idx;

-- +goose Down
CREATE INDEX contact_tokens_contact_idx ON contact_tokens (contact_id);
DROP INDEX contact_tokens_contact_token_idx;
