-- fleetrun schema, version 1. Times are epoch milliseconds (INTEGER); JSON columns hold TEXT.

CREATE TABLE access_keys (
    access_key_id TEXT PRIMARY KEY,
    secret_access_key TEXT NOT NULL,
    -- 'admin' (people and tools) or 'agent' (one managed node)
    kind TEXT NOT NULL CHECK (kind IN ('admin', 'agent')),
    instance_id TEXT,
    description TEXT NOT NULL DEFAULT '',
    created_ms INTEGER NOT NULL
);
CREATE INDEX access_keys_instance ON access_keys (instance_id);

CREATE TABLE activations (
    activation_id TEXT PRIMARY KEY,
    -- sha256 hex of the activation code; the code itself is shown once and never stored
    code_sha256 TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    default_instance_name TEXT NOT NULL DEFAULT '',
    iam_role TEXT NOT NULL,
    registration_limit INTEGER NOT NULL,
    registrations_count INTEGER NOT NULL DEFAULT 0,
    expiration_ms INTEGER NOT NULL,
    created_ms INTEGER NOT NULL
);

CREATE TABLE nodes (
    instance_id TEXT PRIMARY KEY,
    activation_id TEXT NOT NULL,
    name TEXT NOT NULL DEFAULT '',
    computer_name TEXT NOT NULL DEFAULT '',
    ip_address TEXT NOT NULL DEFAULT '',
    platform_type TEXT NOT NULL DEFAULT 'Linux',
    platform_name TEXT NOT NULL DEFAULT '',
    platform_version TEXT NOT NULL DEFAULT '',
    agent_version TEXT NOT NULL DEFAULT '',
    iam_role TEXT NOT NULL DEFAULT '',
    registration_ms INTEGER NOT NULL,
    last_ping_ms INTEGER NOT NULL
);

CREATE TABLE tags (
    resource_type TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (resource_type, resource_id, key)
);
CREATE INDEX tags_by_key ON tags (resource_type, key, value);

CREATE TABLE documents (
    name TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    document_type TEXT NOT NULL,
    default_version INTEGER NOT NULL,
    latest_version INTEGER NOT NULL,
    created_ms INTEGER NOT NULL
);

CREATE TABLE document_versions (
    name TEXT NOT NULL REFERENCES documents (name) ON DELETE CASCADE,
    version INTEGER NOT NULL,
    version_name TEXT,
    display_name TEXT NOT NULL DEFAULT '',
    content TEXT NOT NULL,
    format TEXT NOT NULL,
    hash TEXT NOT NULL,
    target_type TEXT NOT NULL DEFAULT '',
    created_ms INTEGER NOT NULL,
    PRIMARY KEY (name, version)
);

CREATE TABLE commands (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    command_id TEXT NOT NULL UNIQUE,
    document_name TEXT NOT NULL,
    document_version TEXT NOT NULL,
    comment TEXT NOT NULL DEFAULT '',
    parameters_json TEXT NOT NULL,
    instance_ids_json TEXT NOT NULL,
    targets_json TEXT NOT NULL,
    steps_json TEXT NOT NULL,
    requested_ms INTEGER NOT NULL,
    timeout_seconds INTEGER NOT NULL,
    delivery_deadline_ms INTEGER NOT NULL,
    expires_ms INTEGER NOT NULL,
    output_s3_bucket TEXT NOT NULL DEFAULT '',
    output_s3_prefix TEXT NOT NULL DEFAULT '',
    max_concurrency TEXT NOT NULL,
    max_errors TEXT NOT NULL,
    max_concurrency_n INTEGER NOT NULL,
    max_errors_n INTEGER NOT NULL,
    service_role TEXT NOT NULL DEFAULT '',
    extra_json TEXT NOT NULL DEFAULT '{}',
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    -- Derived from the invocations, rewritten in the same transaction as every invocation change.
    status TEXT NOT NULL,
    status_details TEXT NOT NULL,
    target_count INTEGER NOT NULL,
    completed_count INTEGER NOT NULL DEFAULT 0,
    error_count INTEGER NOT NULL DEFAULT 0,
    delivery_timed_out_count INTEGER NOT NULL DEFAULT 0,
    -- 1 while some invocation is Pending or Queued (so the delivery timer only looks at these)
    undelivered INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX commands_undelivered ON commands (undelivered, delivery_deadline_ms);

CREATE TABLE invocations (
    command_id TEXT NOT NULL REFERENCES commands (command_id) ON DELETE CASCADE,
    instance_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    instance_name TEXT NOT NULL DEFAULT '',
    state TEXT NOT NULL,
    response_code INTEGER NOT NULL DEFAULT -1,
    started_ms INTEGER NOT NULL DEFAULT 0,
    ended_ms INTEGER NOT NULL DEFAULT 0,
    updated_ms INTEGER NOT NULL,
    PRIMARY KEY (command_id, instance_id)
);
CREATE INDEX invocations_by_state ON invocations (command_id, state, seq);
CREATE INDEX invocations_by_node ON invocations (instance_id, state);

CREATE TABLE plugins (
    command_id TEXT NOT NULL,
    instance_id TEXT NOT NULL,
    idx INTEGER NOT NULL,
    name TEXT NOT NULL,
    action TEXT NOT NULL,
    status TEXT NOT NULL,
    response_code INTEGER NOT NULL DEFAULT -1,
    started_ms INTEGER NOT NULL DEFAULT 0,
    ended_ms INTEGER NOT NULL DEFAULT 0,
    stdout_head TEXT NOT NULL DEFAULT '',
    stderr_head TEXT NOT NULL DEFAULT '',
    stdout_bytes INTEGER NOT NULL DEFAULT 0,
    stderr_bytes INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (command_id, instance_id, idx),
    FOREIGN KEY (command_id, instance_id) REFERENCES invocations (command_id, instance_id) ON DELETE CASCADE
);
