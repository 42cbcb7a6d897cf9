-- queue_log for the embedded SQLite store: the columns of the MySQL migration of the same
-- version. `time` keeps the text Asterisk sends ("2006-01-02 15:04:05.000000").

-- +goose Up
CREATE TABLE queue_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time TEXT,
    callid TEXT,
    queuename TEXT,
    agent TEXT,
    event TEXT,
    data1 TEXT,
    data2 TEXT,
    data3 TEXT,
    data4 TEXT,
    data5 TEXT,
    data TEXT
);
CREATE INDEX queue_log_time ON queue_log (time);
CREATE INDEX queue_log_callid ON queue_log (callid);

-- +goose Down
DROP TABLE queue_log;
