-- Two more families Asterisk can read from realtime:
--  * ast_config: "static" realtime, whole configuration files kept as rows
--    (queuerules.conf => ... in extconfig.conf), in the classic shape res_config_odbc and
--    res_config_curl's `static` verb read: filename/category/var_name/var_val ordered by
--    cat_metric and var_metric, rows with commented != 0 skipped.
--  * extensions: the realtime dialplan table (alembic revision 581a4264e537) that
--    pbx_realtime's `switch => Realtime/...` reads. omniccd writes one row per agent so that
--    dialling the agent's extension reaches its endpoint without a dialplan reload.

-- +goose Up
CREATE TABLE ast_config (
    id INT NOT NULL AUTO_INCREMENT,
    cat_metric INT NOT NULL DEFAULT 0,
    var_metric INT NOT NULL DEFAULT 0,
    commented INT NOT NULL DEFAULT 0,
    filename VARCHAR(128) NOT NULL DEFAULT '',
    category VARCHAR(128) NOT NULL DEFAULT 'default',
    var_name VARCHAR(128) NOT NULL DEFAULT '',
    var_val VARCHAR(255) NOT NULL DEFAULT '',
    PRIMARY KEY (id),
    KEY ast_config_filename_commented (filename, commented)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE extensions (
    id BIGINT NOT NULL AUTO_INCREMENT,
    context VARCHAR(40) NOT NULL,
    exten VARCHAR(40) NOT NULL,
    priority INT NOT NULL,
    app VARCHAR(40) NOT NULL,
    appdata VARCHAR(256) NOT NULL,
    PRIMARY KEY (id),
    UNIQUE KEY context (context, exten, priority),
    UNIQUE KEY id (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- +goose Down
DROP TABLE extensions;
DROP TABLE ast_config;
