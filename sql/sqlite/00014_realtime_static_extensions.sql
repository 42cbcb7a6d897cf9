-- ast_config (static realtime) and extensions (realtime dialplan) for the embedded SQLite
-- store: the columns of the MySQL migration of the same version.

-- +goose Up
CREATE TABLE ast_config (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    cat_metric INTEGER NOT NULL DEFAULT 0,
    var_metric INTEGER NOT NULL DEFAULT 0,
    commented INTEGER NOT NULL DEFAULT 0,
    filename TEXT NOT NULL DEFAULT '',
    category TEXT NOT NULL DEFAULT 'default',
    var_name TEXT NOT NULL DEFAULT '',
    var_val TEXT NOT NULL DEFAULT ''
);
CREATE INDEX ast_config_filename_commented ON ast_config (filename, commented);

CREATE TABLE extensions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    context TEXT NOT NULL,
    exten TEXT NOT NULL,
    priority INTEGER NOT NULL,
    app TEXT NOT NULL,
    appdata TEXT NOT NULL,
    UNIQUE (context, exten, priority)
);

-- +goose Down
DROP TABLE extensions;
DROP TABLE ast_config;
