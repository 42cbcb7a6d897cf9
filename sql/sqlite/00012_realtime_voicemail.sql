-- The realtime voicemail table for the embedded SQLite store: the columns of the MySQL
-- migration of the same version, with SQLite types.

-- +goose Up
CREATE TABLE voicemail (
    uniqueid INTEGER PRIMARY KEY AUTOINCREMENT,
    context TEXT NOT NULL,
    mailbox TEXT NOT NULL,
    password TEXT NOT NULL,
    fullname TEXT,
    alias TEXT,
    email TEXT,
    pager TEXT,
    attach TEXT CHECK (lower(attach) IN ('yes','no')),
    attachfmt TEXT,
    serveremail TEXT,
    language TEXT,
    tz TEXT,
    deletevoicemail TEXT CHECK (lower(deletevoicemail) IN ('yes','no')),
    saycid TEXT CHECK (lower(saycid) IN ('yes','no')),
    sendvoicemail TEXT CHECK (lower(sendvoicemail) IN ('yes','no')),
    review TEXT CHECK (lower(review) IN ('yes','no')),
    tempgreetwarn TEXT CHECK (lower(tempgreetwarn) IN ('yes','no')),
    operator TEXT CHECK (lower(operator) IN ('yes','no')),
    envelope TEXT CHECK (lower(envelope) IN ('yes','no')),
    sayduration INTEGER,
    forcename TEXT CHECK (lower(forcename) IN ('yes','no')),
    forcegreetings TEXT CHECK (lower(forcegreetings) IN ('yes','no')),
    callback TEXT,
    dialout TEXT,
    exitcontext TEXT,
    maxmsg INTEGER,
    volgain NUMERIC,
    imapuser TEXT,
    imappassword TEXT,
    imapserver TEXT,
    imapport TEXT,
    imapflags TEXT,
    stamp TEXT,
    UNIQUE (context, mailbox)
);
CREATE INDEX voicemail_mailbox ON voicemail (mailbox);
CREATE INDEX voicemail_context ON voicemail (context);
CREATE INDEX voicemail_imapuser ON voicemail (imapuser);

-- +goose Down
DROP TABLE voicemail;
