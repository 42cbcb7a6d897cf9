-- A tag's colour, as the contact card shows it: one row per tag that has
-- been given one (a tag is otherwise just the lower-cased word on
-- contacts, contact_tags).

-- +goose Up
CREATE TABLE contact_tag_colors (
    tag VARCHAR(64) NOT NULL PRIMARY KEY,
    color CHAR(7) NOT NULL
) ENGINE=InnoDB;

-- +goose Down
DROP TABLE contact_tag_colors;
