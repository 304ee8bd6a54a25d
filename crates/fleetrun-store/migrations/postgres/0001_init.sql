-- fleetrun schema for PostgreSQL: the same tables as SQLite's 0001 + 0002. Times are epoch milliseconds
-- (BIGINT, which decodes as i64 like SQLite's INTEGER); flags are BOOLEAN; JSON columns hold TEXT.
-- Identifier columns are COLLATE "C" so that ORDER BY sorts bytewise, as SQLite does, whatever the
-- database's default collation is (and their indexes serve those sorts).

CREATE TABLE access_keys (
    access_key_id TEXT COLLATE "C" PRIMARY KEY,
    secret_access_key TEXT NOT NULL,
    -- 'admin' (people and tools) or 'agent' (one managed node)
    kind TEXT NOT NULL CHECK (kind IN ('admin', 'agent')),
    instance_id TEXT COLLATE "C",
    description TEXT NOT NULL DEFAULT '',
    created_ms BIGINT NOT NULL
);
CREATE INDEX access_keys_instance ON access_keys (instance_id);

CREATE TABLE activations (
    activation_id TEXT COLLATE "C" PRIMARY KEY,
    -- sha256 hex of the activation code; the code itself is shown once and never stored
    code_sha256 TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    default_instance_name TEXT NOT NULL DEFAULT '',
    iam_role TEXT NOT NULL,
    registration_limit BIGINT NOT NULL,
    registrations_count BIGINT NOT NULL DEFAULT 0,
    expiration_ms BIGINT NOT NULL,
    created_ms BIGINT NOT NULL
);

CREATE TABLE nodes (
    instance_id TEXT COLLATE "C" PRIMARY KEY,
    activation_id TEXT COLLATE "C" NOT NULL,
    name TEXT NOT NULL DEFAULT '',
    computer_name TEXT NOT NULL DEFAULT '',
    ip_address TEXT NOT NULL DEFAULT '',
    platform_type TEXT NOT NULL DEFAULT 'Linux',
    platform_name TEXT NOT NULL DEFAULT '',
    platform_version TEXT NOT NULL DEFAULT '',
    agent_version TEXT NOT NULL DEFAULT '',
    iam_role TEXT NOT NULL DEFAULT '',
    registration_ms BIGINT NOT NULL,
    last_ping_ms BIGINT NOT NULL
);

CREATE TABLE tags (
    resource_type TEXT COLLATE "C" NOT NULL,
    resource_id TEXT COLLATE "C" NOT NULL,
    key TEXT COLLATE "C" NOT NULL,
    value TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (resource_type, resource_id, key)
);
CREATE INDEX tags_by_key ON tags (resource_type, key, value);

CREATE TABLE documents (
    name TEXT COLLATE "C" PRIMARY KEY,
    owner TEXT NOT NULL,
    document_type TEXT NOT NULL,
    default_version BIGINT NOT NULL,
    latest_version BIGINT NOT NULL,
    created_ms BIGINT NOT NULL
);

CREATE TABLE document_versions (
    name TEXT COLLATE "C" NOT NULL REFERENCES documents (name) ON DELETE CASCADE,
    version BIGINT NOT NULL,
    version_name TEXT,
    display_name TEXT NOT NULL DEFAULT '',
    content TEXT NOT NULL,
    format TEXT NOT NULL,
    hash TEXT NOT NULL,
    target_type TEXT NOT NULL DEFAULT '',
    created_ms BIGINT NOT NULL,
    PRIMARY KEY (name, version)
);

CREATE TABLE commands (
    -- Creation order: "newest first" is ORDER BY seq DESC. Identity values are never reused, like
    -- SQLite's AUTOINCREMENT; under concurrent inserts they follow the order the values were drawn.
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    command_id TEXT COLLATE "C" NOT NULL UNIQUE,
    document_name TEXT COLLATE "C" NOT NULL,
    document_version TEXT NOT NULL,
    comment TEXT NOT NULL DEFAULT '',
    parameters_json TEXT NOT NULL,
    instance_ids_json TEXT NOT NULL,
    targets_json TEXT NOT NULL,
    steps_json TEXT NOT NULL,
    requested_ms BIGINT NOT NULL,
    timeout_seconds BIGINT NOT NULL,
    delivery_deadline_ms BIGINT NOT NULL,
    expires_ms BIGINT NOT NULL,
    output_s3_bucket TEXT NOT NULL DEFAULT '',
    output_s3_prefix TEXT NOT NULL DEFAULT '',
    max_concurrency TEXT NOT NULL,
    max_errors TEXT NOT NULL,
    max_concurrency_n BIGINT NOT NULL,
    max_errors_n BIGINT NOT NULL,
    service_role TEXT NOT NULL DEFAULT '',
    extra_json TEXT NOT NULL DEFAULT '{}',
    cancel_requested BOOLEAN NOT NULL DEFAULT FALSE,
    -- Derived from the invocations, rewritten in the same transaction as every invocation change.
    status TEXT COLLATE "C" NOT NULL,
    status_details TEXT NOT NULL,
    target_count BIGINT NOT NULL,
    completed_count BIGINT NOT NULL DEFAULT 0,
    error_count BIGINT NOT NULL DEFAULT 0,
    delivery_timed_out_count BIGINT NOT NULL DEFAULT 0,
    -- TRUE while some invocation may be Pending or Queued (so the delivery timer only looks at these)
    undelivered BOOLEAN NOT NULL DEFAULT TRUE
);
CREATE INDEX commands_undelivered ON commands (undelivered, delivery_deadline_ms);
-- The expiry backstop looks for unfinished commands by ExpiresAfter (SQLite's 0002).
CREATE INDEX commands_by_status_expiry ON commands (status, expires_ms);

CREATE TABLE invocations (
    command_id TEXT COLLATE "C" NOT NULL REFERENCES commands (command_id) ON DELETE CASCADE,
    instance_id TEXT COLLATE "C" NOT NULL,
    seq BIGINT NOT NULL,
    instance_name TEXT NOT NULL DEFAULT '',
    state TEXT COLLATE "C" NOT NULL,
    response_code BIGINT NOT NULL DEFAULT -1,
    started_ms BIGINT NOT NULL DEFAULT 0,
    ended_ms BIGINT NOT NULL DEFAULT 0,
    updated_ms BIGINT NOT NULL,
    PRIMARY KEY (command_id, instance_id)
);
CREATE INDEX invocations_by_state ON invocations (command_id, state, seq);
CREATE INDEX invocations_by_node ON invocations (instance_id, state);

CREATE TABLE plugins (
    command_id TEXT COLLATE "C" NOT NULL,
    instance_id TEXT COLLATE "C" NOT NULL,
    idx BIGINT NOT NULL,
    name TEXT NOT NULL,
    action TEXT NOT NULL,
    status TEXT NOT NULL,
    response_code BIGINT NOT NULL DEFAULT -1,
    started_ms BIGINT NOT NULL DEFAULT 0,
    ended_ms BIGINT NOT NULL DEFAULT 0,
    stdout_head TEXT NOT NULL DEFAULT '',
    stderr_head TEXT NOT NULL DEFAULT '',
    stdout_bytes BIGINT NOT NULL DEFAULT 0,
    stderr_bytes BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (command_id, instance_id, idx),
    FOREIGN KEY (command_id, instance_id) REFERENCES invocations (command_id, instance_id) ON DELETE CASCADE
);
