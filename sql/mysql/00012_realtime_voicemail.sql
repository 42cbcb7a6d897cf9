-- The realtime `voicemail` table app_voicemail reads (voicemail => ... in extconfig.conf), as
-- Asterisk's alembic "config" branch creates it (revision 4da0c5f79a9c, unchanged since). omniccd
-- keeps one row per agent with voicemail on (mailbox = the agent's extension).
-- omnicc_voicemail_uq is ours: Asterisk does not need it, but it makes "one mailbox per
-- context" a database rule instead of a hope.

-- +goose Up
CREATE TABLE voicemail (
    uniqueid INT NOT NULL AUTO_INCREMENT,
    context VARCHAR(80) NOT NULL,
    mailbox VARCHAR(80) NOT NULL,
    password VARCHAR(80) NOT NULL,
    fullname VARCHAR(80) NULL,
    alias VARCHAR(80) NULL,
    email VARCHAR(80) NULL,
    pager VARCHAR(80) NULL,
    attach ENUM('yes','no') NULL,
    attachfmt VARCHAR(10) NULL,
    serveremail VARCHAR(80) NULL,
    language VARCHAR(20) NULL,
    tz VARCHAR(30) NULL,
    deletevoicemail ENUM('yes','no') NULL,
    saycid ENUM('yes','no') NULL,
    sendvoicemail ENUM('yes','no') NULL,
    review ENUM('yes','no') NULL,
    tempgreetwarn ENUM('yes','no') NULL,
    operator ENUM('yes','no') NULL,
    envelope ENUM('yes','no') NULL,
    sayduration INT NULL,
    forcename ENUM('yes','no') NULL,
    forcegreetings ENUM('yes','no') NULL,
    callback VARCHAR(80) NULL,
    dialout VARCHAR(80) NULL,
    exitcontext VARCHAR(80) NULL,
    maxmsg INT NULL,
    volgain DECIMAL(5,2) NULL,
    imapuser VARCHAR(80) NULL,
    imappassword VARCHAR(80) NULL,
    imapserver VARCHAR(80) NULL,
    imapport VARCHAR(8) NULL,
    imapflags VARCHAR(80) NULL,
    stamp DATETIME NULL,
    PRIMARY KEY (uniqueid),
    KEY voicemail_mailbox (mailbox),
    KEY voicemail_context (context),
    KEY voicemail_mailbox_context (mailbox, context),
    KEY voicemail_imapuser (imapuser),
    UNIQUE KEY omnicc_voicemail_uq (context, mailbox)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- +goose Down
DROP TABLE voicemail;
