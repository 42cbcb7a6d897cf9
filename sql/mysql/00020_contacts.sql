-- The contact manager's first tables: lists and the contacts in them, with
-- the caller lookup FastAGI /inbound makes on every call in mind. phone_norm
-- and mobile_norm hold the numbers as contacts.NumberPlan normalises them
-- (digits only, international form) and are indexed: the lookup is one
-- indexed equality per column, never a scan or a LIKE.
-- auto_number is set only on contacts created for an unknown caller (an
-- inbound route's create_unknown_caller trigger); unique per list so that two
-- calls from the same new number at once create one contact, not two. NULLs
-- never collide, so contacts entered by hand are not constrained.

-- +goose Up
CREATE TABLE contact_lists (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    name VARCHAR(128) NOT NULL,
    description VARCHAR(2000) NOT NULL DEFAULT '',
    created_at DATETIME(6) NOT NULL,
    updated_at DATETIME(6) NOT NULL,
    CONSTRAINT contact_lists_name_uq UNIQUE (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE contacts (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    list_id BIGINT NOT NULL,
    first_name VARCHAR(128) NOT NULL DEFAULT '',
    last_name VARCHAR(128) NOT NULL DEFAULT '',
    phone VARCHAR(64) NOT NULL DEFAULT '',
    mobile VARCHAR(64) NOT NULL DEFAULT '',
    email VARCHAR(255) NOT NULL DEFAULT '',
    phone_norm VARCHAR(32) NOT NULL DEFAULT '',
    mobile_norm VARCHAR(32) NOT NULL DEFAULT '',
    auto_number VARCHAR(32) NULL,
    source VARCHAR(16) NOT NULL DEFAULT 'manual',
    created_at DATETIME(6) NOT NULL,
    updated_at DATETIME(6) NOT NULL,
    CONSTRAINT contacts_list_fk FOREIGN KEY (list_id) REFERENCES contact_lists (id) ON DELETE CASCADE,
    CONSTRAINT contacts_list_auto_uq UNIQUE (list_id, auto_number)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
CREATE INDEX contacts_phone_norm_idx ON contacts (phone_norm);
CREATE INDEX contacts_mobile_norm_idx ON contacts (mobile_norm);

-- +goose Down
DROP TABLE contacts;
DROP TABLE contact_lists;
