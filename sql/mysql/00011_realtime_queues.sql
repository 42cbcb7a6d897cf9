-- Asterisk's realtime tables, as Asterisk 22's alembic scripts (contrib/ast-db-manage,
-- "config" branch, head e89e30cee53f) create them on MySQL/MariaDB: a stock Asterisk with
-- res_config_odbc reads these with no change, and omniccd serves the same rows over
-- res_config_curl. Column names are the pjsip.conf / queues.conf option names; `100rel` and
-- `match` must stay quoted. realtime/schema_test.go checks every column against
-- realtime/testdata/realtime-schema.txt.

-- +goose Up

CREATE TABLE queues (
    name VARCHAR(128) NOT NULL,
    musiconhold VARCHAR(128) NULL,
    announce VARCHAR(128) NULL,
    context VARCHAR(128) NULL,
    timeout INT NULL,
    ringinuse ENUM('yes','no') NULL,
    setinterfacevar ENUM('yes','no') NULL,
    setqueuevar ENUM('yes','no') NULL,
    setqueueentryvar ENUM('yes','no') NULL,
    monitor_format VARCHAR(8) NULL,
    membermacro VARCHAR(512) NULL,
    membergosub VARCHAR(512) NULL,
    queue_youarenext VARCHAR(128) NULL,
    queue_thereare VARCHAR(128) NULL,
    queue_callswaiting VARCHAR(128) NULL,
    queue_quantity1 VARCHAR(128) NULL,
    queue_quantity2 VARCHAR(128) NULL,
    queue_holdtime VARCHAR(128) NULL,
    queue_minutes VARCHAR(128) NULL,
    queue_minute VARCHAR(128) NULL,
    queue_seconds VARCHAR(128) NULL,
    queue_thankyou VARCHAR(128) NULL,
    queue_callerannounce VARCHAR(128) NULL,
    queue_reporthold VARCHAR(128) NULL,
    announce_frequency INT NULL,
    announce_to_first_user ENUM('yes','no') NULL,
    min_announce_frequency INT NULL,
    announce_round_seconds INT NULL,
    announce_holdtime VARCHAR(128) NULL,
    announce_position VARCHAR(128) NULL,
    announce_position_limit INT NULL,
    periodic_announce VARCHAR(50) NULL,
    periodic_announce_frequency INT NULL,
    relative_periodic_announce ENUM('yes','no') NULL,
    random_periodic_announce ENUM('yes','no') NULL,
    retry INT NULL,
    wrapuptime INT NULL,
    penaltymemberslimit INT NULL,
    autofill ENUM('yes','no') NULL,
    monitor_type VARCHAR(128) NULL,
    autopause ENUM('yes','no','all') NULL,
    autopausedelay INT NULL,
    autopausebusy ENUM('yes','no') NULL,
    autopauseunavail ENUM('yes','no') NULL,
    maxlen INT NULL,
    servicelevel INT NULL,
    strategy ENUM('ringall','leastrecent','fewestcalls','random','rrmemory','linear','wrandom','rrordered') NULL,
    joinempty VARCHAR(128) NULL,
    leavewhenempty VARCHAR(128) NULL,
    reportholdtime ENUM('yes','no') NULL,
    memberdelay INT NULL,
    weight INT NULL,
    timeoutrestart ENUM('yes','no') NULL,
    defaultrule VARCHAR(128) NULL,
    timeoutpriority VARCHAR(128) NULL,
    log_restricted_caller_id ENUM('0','1','off','on','false','true','no','yes') NULL,
    PRIMARY KEY (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE queue_members (
    queue_name VARCHAR(80) NOT NULL,
    interface VARCHAR(80) NOT NULL,
    membername VARCHAR(80) NULL,
    state_interface VARCHAR(80) NULL,
    penalty INT NULL,
    paused INT NULL,
    uniqueid INT NOT NULL AUTO_INCREMENT,
    wrapuptime INT NULL,
    ringinuse ENUM('0','1','off','on','false','true','no','yes') NULL,
    reason_paused VARCHAR(80) NULL,
    PRIMARY KEY (queue_name, interface),
    UNIQUE KEY uniqueid (uniqueid)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE queue_rules (
    rule_name VARCHAR(80) NOT NULL,
    time VARCHAR(32) NOT NULL,
    min_penalty VARCHAR(32) NOT NULL,
    max_penalty VARCHAR(32) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- +goose Down
DROP TABLE queue_rules;
DROP TABLE queue_members;
DROP TABLE queues;
