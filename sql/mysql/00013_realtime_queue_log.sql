-- queue_log as Asterisk's alembic "queue_log" branch creates it (revision 4105ee839f58), so
-- logger.conf can send app_queue's log to realtime (queue_log => ... in extconfig.conf).
-- At load Asterisk asks `require` for time/data1..data5; when the table has them it stores
-- each field in data1..data5, otherwise it stores the whole "|"-joined line in `data`. `data`
-- is not in alembic's table: it is added so neither mode loses a line.

-- +goose Up
CREATE TABLE queue_log (
    id BIGINT NOT NULL AUTO_INCREMENT,
    time DATETIME NULL,
    callid VARCHAR(80) NULL,
    queuename VARCHAR(256) NULL,
    agent VARCHAR(80) NULL,
    event VARCHAR(32) NULL,
    data1 VARCHAR(100) NULL,
    data2 VARCHAR(100) NULL,
    data3 VARCHAR(100) NULL,
    data4 VARCHAR(100) NULL,
    data5 VARCHAR(100) NULL,
    data TEXT NULL,
    PRIMARY KEY (id),
    UNIQUE KEY id (id),
    KEY queue_log_time (time),
    KEY queue_log_callid (callid)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- +goose Down
DROP TABLE queue_log;
