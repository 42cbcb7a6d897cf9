-- The full contact manager on top of 00020's lists and contacts.
-- * JSON text columns (custom_fields, emails, tags, external_ids) hold what a
--   contact card shows; the side tables below duplicate the parts that are
--   searched or must be unique, so every filter is an indexed equality or
--   prefix range, never a scan of JSON.
-- * contact_tokens is the quick-search index: lowercased words of the names,
--   company and e-mails plus the digits of the numbers, searched by prefix
--   (token >= 'ab' AND token < 'ac'), which is a range on the primary key.
--   VARBINARY so that the range compares bytes the same way SQLite does.
-- * contact_external_ids is unique per list, channel and id: two first
--   messages from one WhatsApp sender at once create one contact.
-- * auto_key (like auto_number) is set only on contacts a trigger created,
--   unique per list, so the database settles concurrent creations by e-mail.
-- * contact_merges keeps the removed contact of every merge as JSON.

-- +goose Up
ALTER TABLE contact_lists ADD COLUMN custom_fields TEXT NULL;
ALTER TABLE contacts ADD COLUMN company VARCHAR(128) NOT NULL DEFAULT '';
ALTER TABLE contacts ADD COLUMN emails TEXT NULL;
ALTER TABLE contacts ADD COLUMN tags TEXT NULL;
ALTER TABLE contacts ADD COLUMN custom_fields TEXT NULL;
ALTER TABLE contacts ADD COLUMN external_ids TEXT NULL;
ALTER TABLE contacts ADD COLUMN owner_id BIGINT NULL;
ALTER TABLE contacts ADD COLUMN created_by BIGINT NULL;
ALTER TABLE contacts ADD COLUMN updated_by BIGINT NULL;
ALTER TABLE contacts ADD COLUMN auto_key VARCHAR(255) NULL;
CREATE UNIQUE INDEX contacts_list_auto_key_uq ON contacts (list_id, auto_key);
CREATE INDEX contacts_owner_idx ON contacts (owner_id, id);
CREATE INDEX contacts_list_id_idx ON contacts (list_id, id);
CREATE INDEX contacts_created_idx ON contacts (created_at);

CREATE TABLE contact_list_agents (
    list_id BIGINT NOT NULL,
    agent_id BIGINT NOT NULL,
    PRIMARY KEY (list_id, agent_id),
    CONSTRAINT contact_list_agents_list_fk FOREIGN KEY (list_id) REFERENCES contact_lists (id) ON DELETE CASCADE,
    CONSTRAINT contact_list_agents_user_fk FOREIGN KEY (agent_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE=InnoDB;
CREATE INDEX contact_list_agents_agent_idx ON contact_list_agents (agent_id);

CREATE TABLE contact_list_teams (
    list_id BIGINT NOT NULL,
    team_id BIGINT NOT NULL,
    PRIMARY KEY (list_id, team_id),
    CONSTRAINT contact_list_teams_list_fk FOREIGN KEY (list_id) REFERENCES contact_lists (id) ON DELETE CASCADE,
    CONSTRAINT contact_list_teams_team_fk FOREIGN KEY (team_id) REFERENCES teams (id) ON DELETE CASCADE
) ENGINE=InnoDB;
CREATE INDEX contact_list_teams_team_idx ON contact_list_teams (team_id);

CREATE TABLE contact_tokens (
    token VARBINARY(64) NOT NULL,
    contact_id BIGINT NOT NULL,
    PRIMARY KEY (token, contact_id),
    CONSTRAINT contact_tokens_contact_fk FOREIGN KEY (contact_id) REFERENCES contacts (id) ON DELETE CASCADE
) ENGINE=InnoDB;
CREATE INDEX contact_tokens_contact_idx ON contact_tokens (contact_id);

CREATE TABLE contact_tags (
    contact_id BIGINT NOT NULL,
    tag VARCHAR(64) NOT NULL,
    PRIMARY KEY (contact_id, tag),
    CONSTRAINT contact_tags_contact_fk FOREIGN KEY (contact_id) REFERENCES contacts (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
CREATE INDEX contact_tags_tag_idx ON contact_tags (tag, contact_id);

CREATE TABLE contact_values (
    contact_id BIGINT NOT NULL,
    name VARCHAR(64) NOT NULL,
    value VARCHAR(255) NOT NULL,
    PRIMARY KEY (contact_id, name),
    CONSTRAINT contact_values_contact_fk FOREIGN KEY (contact_id) REFERENCES contacts (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
CREATE INDEX contact_values_name_idx ON contact_values (name, value);

CREATE TABLE contact_emails (
    contact_id BIGINT NOT NULL,
    list_id BIGINT NOT NULL,
    email VARCHAR(255) NOT NULL,
    PRIMARY KEY (contact_id, email),
    CONSTRAINT contact_emails_contact_fk FOREIGN KEY (contact_id) REFERENCES contacts (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
CREATE INDEX contact_emails_email_idx ON contact_emails (list_id, email);

CREATE TABLE contact_external_ids (
    contact_id BIGINT NOT NULL,
    list_id BIGINT NOT NULL,
    channel VARCHAR(32) NOT NULL,
    external_id VARCHAR(191) NOT NULL,
    PRIMARY KEY (contact_id, channel),
    CONSTRAINT contact_external_ids_uq UNIQUE (list_id, channel, external_id),
    CONSTRAINT contact_external_ids_contact_fk FOREIGN KEY (contact_id) REFERENCES contacts (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE contact_merges (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    survivor_id BIGINT NOT NULL,
    merged_id BIGINT NOT NULL,
    merged TEXT NOT NULL,
    merged_by BIGINT NULL,
    created_at DATETIME(6) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
CREATE INDEX contact_merges_survivor_idx ON contact_merges (survivor_id);

-- +goose Down
DROP TABLE contact_merges;
DROP TABLE contact_external_ids;
DROP TABLE contact_emails;
DROP TABLE contact_values;
DROP TABLE contact_tags;
DROP TABLE contact_tokens;
DROP TABLE contact_list_teams;
DROP TABLE contact_list_agents;
DROP INDEX contacts_created_idx ON contacts;
DROP INDEX contacts_list_id_idx ON contacts;
DROP INDEX contacts_owner_idx ON contacts;
DROP INDEX contacts_list_auto_key_uq ON contacts;
ALTER TABLE contacts DROP COLUMN auto_key;
ALTER TABLE contacts DROP COLUMN updated_by;
ALTER TABLE contacts DROP COLUMN created_by;
ALTER TABLE contacts DROP COLUMN owner_id;
ALTER TABLE contacts DROP COLUMN external_ids;
ALTER TABLE contacts DROP COLUMN custom_fields;
ALTER TABLE contacts DROP COLUMN tags;
ALTER TABLE contacts DROP COLUMN emails;
ALTER TABLE contacts DROP COLUMN company;
ALTER TABLE contact_lists DROP COLUMN custom_fields;
