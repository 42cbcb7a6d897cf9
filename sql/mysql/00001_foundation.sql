-- Foundation: users (admins, supervisors and agents share one table so that
-- one login, one lockout rule and one unique username cover them all), agent
-- settings, the contact-center resources and their associations, and the
-- credentials the API accepts.

-- +goose Up
CREATE TABLE users (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    role VARCHAR(16) NOT NULL,
    username VARCHAR(64) NOT NULL,
    full_name VARCHAR(255) NOT NULL,
    alias VARCHAR(255) NOT NULL DEFAULT '',
    email VARCHAR(255) NOT NULL DEFAULT '',
    password_hash VARCHAR(255) NOT NULL,
    typology VARCHAR(16) NOT NULL DEFAULT '',
    extension VARCHAR(32) NULL,
    description VARCHAR(2000) NOT NULL DEFAULT '',
    voicemail TINYINT(1) NOT NULL DEFAULT 0,
    remote_control TINYINT(1) NOT NULL DEFAULT 0,
    remote_control_port INTEGER NULL,
    push_gateway_url VARCHAR(1024) NOT NULL DEFAULT '',
    external_number VARCHAR(64) NOT NULL DEFAULT '',
    login_in_pause TINYINT(1) NOT NULL DEFAULT 0,
    disabled TINYINT(1) NOT NULL DEFAULT 0,
    locked TINYINT(1) NOT NULL DEFAULT 0,
    failed_logins INTEGER NOT NULL DEFAULT 0,
    last_password_reset DATETIME(6) NULL,
    mask_sensitive_data TINYINT(1) NOT NULL DEFAULT 0,
    sip_host VARCHAR(64) NOT NULL DEFAULT 'dynamic',
    sip_nat VARCHAR(16) NOT NULL DEFAULT 'no',
    sip_type VARCHAR(8) NOT NULL DEFAULT 'friend',
    allowed_codecs VARCHAR(128) NOT NULL DEFAULT '',
    caller_id VARCHAR(255) NOT NULL DEFAULT '',
    context VARCHAR(80) NOT NULL DEFAULT 'from-sip',
    call_group VARCHAR(80) NOT NULL DEFAULT '',
    pickup_group VARCHAR(80) NOT NULL DEFAULT '',
    chanspy TINYINT(1) NOT NULL DEFAULT 0,
    video TINYINT(1) NOT NULL DEFAULT 0,
    record_calls VARCHAR(8) NOT NULL DEFAULT 'inactive',
    encryption TINYINT(1) NOT NULL DEFAULT 0,
    sip_secret VARCHAR(64) NOT NULL DEFAULT '',
    webrtc_enable_settings TINYINT(1) NOT NULL DEFAULT 0,
    webrtc_auto_answer TINYINT(1) NOT NULL DEFAULT 0,
    webrtc_auto_answer_delay INTEGER NOT NULL DEFAULT 0,
    webrtc_auto_answer_notification TINYINT(1) NOT NULL DEFAULT 0,
    webrtc_ring_in_use TINYINT(1) NOT NULL DEFAULT 0,
    webrtc_enable_recording TINYINT(1) NOT NULL DEFAULT 0,
    webrtc_dtmf_tones TINYINT(1) NOT NULL DEFAULT 0,
    webrtc_dnd_on_pause TINYINT(1) NOT NULL DEFAULT 0,
    webrtc_ignore_break_for_preview TINYINT(1) NOT NULL DEFAULT 0,
    created_at DATETIME(6) NOT NULL,
    updated_at DATETIME(6) NOT NULL,
    CONSTRAINT users_username_uq UNIQUE (username),
    CONSTRAINT users_extension_uq UNIQUE (extension)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
CREATE INDEX users_role_idx ON users (role);

CREATE TABLE agent_channels (
    user_id BIGINT NOT NULL,
    channel VARCHAR(16) NOT NULL,
    capacity INTEGER NOT NULL DEFAULT 0,
    auto_answer TINYINT(1) NOT NULL DEFAULT 0,
    auto_answer_delay INTEGER NOT NULL DEFAULT 0,
    advanced_search TINYINT(1) NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, channel),
    CONSTRAINT agent_channels_user_fk FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE auth_tokens (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    token_hash CHAR(64) NOT NULL,
    user_id BIGINT NOT NULL,
    created_at DATETIME(6) NOT NULL,
    expires_at DATETIME(6) NOT NULL,
    revoked_at DATETIME(6) NULL,
    CONSTRAINT auth_tokens_hash_uq UNIQUE (token_hash),
    CONSTRAINT auth_tokens_user_fk FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE api_keys (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    name VARCHAR(128) NOT NULL,
    key_hash CHAR(64) NOT NULL,
    prefix VARCHAR(16) NOT NULL,
    role VARCHAR(16) NOT NULL,
    created_by BIGINT NULL,
    created_at DATETIME(6) NOT NULL,
    last_used_at DATETIME(6) NULL,
    revoked_at DATETIME(6) NULL,
    CONSTRAINT api_keys_hash_uq UNIQUE (key_hash)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE invitations (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    user_id BIGINT NOT NULL,
    token_hash CHAR(64) NOT NULL,
    created_at DATETIME(6) NOT NULL,
    expires_at DATETIME(6) NOT NULL,
    used_at DATETIME(6) NULL,
    CONSTRAINT invitations_hash_uq UNIQUE (token_hash),
    CONSTRAINT invitations_user_fk FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE teams (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    name VARCHAR(128) NOT NULL,
    description VARCHAR(2000) NOT NULL DEFAULT '',
    created_at DATETIME(6) NOT NULL,
    updated_at DATETIME(6) NOT NULL,
    CONSTRAINT teams_name_uq UNIQUE (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE profiles (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    name VARCHAR(128) NOT NULL,
    description VARCHAR(2000) NOT NULL DEFAULT '',
    permissions VARCHAR(4000) NOT NULL DEFAULT '',
    created_at DATETIME(6) NOT NULL,
    updated_at DATETIME(6) NOT NULL,
    CONSTRAINT profiles_name_uq UNIQUE (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE ai_assistants (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    name VARCHAR(128) NOT NULL,
    description VARCHAR(2000) NOT NULL DEFAULT '',
    webhook_url VARCHAR(1024) NOT NULL DEFAULT '',
    created_at DATETIME(6) NOT NULL,
    updated_at DATETIME(6) NOT NULL,
    CONSTRAINT ai_assistants_name_uq UNIQUE (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE pause_types (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    name VARCHAR(128) NOT NULL,
    description VARCHAR(2000) NOT NULL DEFAULT '',
    paid TINYINT(1) NOT NULL DEFAULT 0,
    created_at DATETIME(6) NOT NULL,
    updated_at DATETIME(6) NOT NULL,
    CONSTRAINT pause_types_name_uq UNIQUE (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- cc_queues is omnicc's own description of a queue; Asterisk's `queues`
-- table is derived from the voice ones by the realtime projector.
CREATE TABLE cc_queues (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    name VARCHAR(128) NOT NULL,
    channel VARCHAR(16) NOT NULL,
    description VARCHAR(2000) NOT NULL DEFAULT '',
    strategy VARCHAR(32) NOT NULL,
    timeout INTEGER NOT NULL DEFAULT 15,
    retry INTEGER NOT NULL DEFAULT 5,
    wrapuptime INTEGER NOT NULL DEFAULT 0,
    maxlen INTEGER NOT NULL DEFAULT 0,
    musiconhold VARCHAR(128) NOT NULL DEFAULT 'default',
    joinempty VARCHAR(128) NOT NULL DEFAULT 'yes',
    leavewhenempty VARCHAR(128) NOT NULL DEFAULT 'no',
    ringinuse TINYINT(1) NOT NULL DEFAULT 0,
    announce_frequency INTEGER NOT NULL DEFAULT 0,
    announce_holdtime VARCHAR(8) NOT NULL DEFAULT 'no',
    offer_timeout INTEGER NOT NULL DEFAULT 30,
    transfer_timeout INTEGER NOT NULL DEFAULT 300,
    created_at DATETIME(6) NOT NULL,
    updated_at DATETIME(6) NOT NULL,
    CONSTRAINT cc_queues_name_uq UNIQUE (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE agent_queues (
    user_id BIGINT NOT NULL,
    queue_id BIGINT NOT NULL,
    penalty INTEGER NOT NULL DEFAULT 0,
    permanent TINYINT(1) NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, queue_id),
    CONSTRAINT agent_queues_user_fk FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT agent_queues_queue_fk FOREIGN KEY (queue_id) REFERENCES cc_queues (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
CREATE INDEX agent_queues_queue_idx ON agent_queues (queue_id);

CREATE TABLE agent_teams (
    user_id BIGINT NOT NULL,
    team_id BIGINT NOT NULL,
    PRIMARY KEY (user_id, team_id),
    CONSTRAINT agent_teams_user_fk FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT agent_teams_team_fk FOREIGN KEY (team_id) REFERENCES teams (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
CREATE INDEX agent_teams_team_idx ON agent_teams (team_id);

CREATE TABLE agent_profiles (
    user_id BIGINT NOT NULL,
    profile_id BIGINT NOT NULL,
    PRIMARY KEY (user_id, profile_id),
    CONSTRAINT agent_profiles_user_fk FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT agent_profiles_profile_fk FOREIGN KEY (profile_id) REFERENCES profiles (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
CREATE INDEX agent_profiles_profile_idx ON agent_profiles (profile_id);

CREATE TABLE agent_ai_assistants (
    user_id BIGINT NOT NULL,
    ai_assistant_id BIGINT NOT NULL,
    PRIMARY KEY (user_id, ai_assistant_id),
    CONSTRAINT agent_ai_user_fk FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT agent_ai_assistant_fk FOREIGN KEY (ai_assistant_id) REFERENCES ai_assistants (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
CREATE INDEX agent_ai_assistants_ai_idx ON agent_ai_assistants (ai_assistant_id);

-- +goose Down
DROP TABLE agent_ai_assistants;
DROP TABLE agent_profiles;
DROP TABLE agent_teams;
DROP TABLE agent_queues;
DROP TABLE cc_queues;
DROP TABLE pause_types;
DROP TABLE ai_assistants;
DROP TABLE profiles;
DROP TABLE teams;
DROP TABLE invitations;
DROP TABLE api_keys;
DROP TABLE auth_tokens;
DROP TABLE agent_channels;
DROP TABLE users;
