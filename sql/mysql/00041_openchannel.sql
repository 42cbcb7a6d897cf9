-- Open channel accounts: a generic connector any messaging system (an SMS
-- gateway, an e-mail bridge, an in-app chat) reaches agents through. The
-- token authenticates the integrator's inbound POSTs; the secret signs the
-- replies omniccd POSTs to reply_url. Both are kept in clear: the token is
-- shown to admins with the account, and an HMAC needs the secret itself.

-- +goose Up
CREATE TABLE openchannel_accounts (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    name VARCHAR(128) NOT NULL,
    queue_id BIGINT NOT NULL,
    reply_url VARCHAR(2000) NOT NULL,
    token VARCHAR(64) NOT NULL,
    secret VARCHAR(64) NOT NULL,
    created_at DATETIME(6) NOT NULL,
    updated_at DATETIME(6) NOT NULL,
    CONSTRAINT openchannel_accounts_name_uq UNIQUE (name),
    CONSTRAINT openchannel_accounts_token_uq UNIQUE (token)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- +goose Down
DROP TABLE openchannel_accounts;
