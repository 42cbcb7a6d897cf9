-- Asterisk's realtime tables for the embedded SQLite store: the same names and columns as the
-- MySQL migration of the same version (Asterisk reads them only through omniccd's
-- res_config_curl server here), with SQLite types. ENUM columns become TEXT with a CHECK so
-- both engines refuse the same values; "100rel" and "match" must stay quoted.

-- +goose Up

CREATE TABLE queues (
    name TEXT NOT NULL,
    musiconhold TEXT,
    announce TEXT,
    context TEXT,
    timeout INTEGER,
    ringinuse TEXT CHECK (lower(ringinuse) IN ('yes','no')),
    setinterfacevar TEXT CHECK (lower(setinterfacevar) IN ('yes','no')),
    setqueuevar TEXT CHECK (lower(setqueuevar) IN ('yes','no')),
    setqueueentryvar TEXT CHECK (lower(setqueueentryvar) IN ('yes','no')),
    monitor_format TEXT,
    membermacro TEXT,
    membergosub TEXT,
    queue_youarenext TEXT,
    queue_thereare TEXT,
    queue_callswaiting TEXT,
    queue_quantity1 TEXT,
    queue_quantity2 TEXT,
    queue_holdtime TEXT,
    queue_minutes TEXT,
    queue_minute TEXT,
    queue_seconds TEXT,
    queue_thankyou TEXT,
    queue_callerannounce TEXT,
    queue_reporthold TEXT,
    announce_frequency INTEGER,
    announce_to_first_user TEXT CHECK (lower(announce_to_first_user) IN ('yes','no')),
    min_announce_frequency INTEGER,
    announce_round_seconds INTEGER,
    announce_holdtime TEXT,
    announce_position TEXT,
    announce_position_limit INTEGER,
    periodic_announce TEXT,
    periodic_announce_frequency INTEGER,
    relative_periodic_announce TEXT CHECK (lower(relative_periodic_announce) IN ('yes','no')),
    random_periodic_announce TEXT CHECK (lower(random_periodic_announce) IN ('yes','no')),
    retry INTEGER,
    wrapuptime INTEGER,
    penaltymemberslimit INTEGER,
    autofill TEXT CHECK (lower(autofill) IN ('yes','no')),
    monitor_type TEXT,
    autopause TEXT CHECK (lower(autopause) IN ('yes','no','all')),
    autopausedelay INTEGER,
    autopausebusy TEXT CHECK (lower(autopausebusy) IN ('yes','no')),
    autopauseunavail TEXT CHECK (lower(autopauseunavail) IN ('yes','no')),
    maxlen INTEGER,
    servicelevel INTEGER,
    strategy TEXT CHECK (lower(strategy) IN ('ringall','leastrecent','fewestcalls','random','rrmemory','linear','wrandom','rrordered')),
    joinempty TEXT,
    leavewhenempty TEXT,
    reportholdtime TEXT CHECK (lower(reportholdtime) IN ('yes','no')),
    memberdelay INTEGER,
    weight INTEGER,
    timeoutrestart TEXT CHECK (lower(timeoutrestart) IN ('yes','no')),
    defaultrule TEXT,
    timeoutpriority TEXT,
    log_restricted_caller_id TEXT CHECK (lower(log_restricted_caller_id) IN ('0','1','off','on','false','true','no','yes')),
    PRIMARY KEY (name)
);

-- SQLite can only auto-increment an INTEGER PRIMARY KEY, so uniqueid is the key here and
-- (queue_name, interface), the primary key on MySQL, is a unique constraint.
CREATE TABLE queue_members (
    queue_name TEXT NOT NULL,
    interface TEXT NOT NULL,
    membername TEXT,
    state_interface TEXT,
    penalty INTEGER,
    paused INTEGER,
    uniqueid INTEGER PRIMARY KEY AUTOINCREMENT,
    wrapuptime INTEGER,
    ringinuse TEXT CHECK (lower(ringinuse) IN ('0','1','off','on','false','true','no','yes')),
    reason_paused TEXT,
    UNIQUE (queue_name, interface)
);

CREATE TABLE queue_rules (
    rule_name TEXT NOT NULL,
    time TEXT NOT NULL,
    min_penalty TEXT NOT NULL,
    max_penalty TEXT NOT NULL
);

-- +goose Down
DROP TABLE queue_rules;
DROP TABLE queue_members;
DROP TABLE queues;
