-- The Parameter Store, as SQLite's 0004: parameters, their versions (at most 100 each), labels on
-- versions, and the master key check values a server compares its key against at start-up. Names are
-- COLLATE "C" so that ORDER BY and the prefix ranges of listings compare bytewise, as SQLite does, and
-- the primary key indexes serve them.

-- One row per parameter; writers lock it (FOR UPDATE) to read-decide-write latest_version.
CREATE TABLE parameters (
    name TEXT COLLATE "C" PRIMARY KEY,
    latest_version BIGINT NOT NULL
);

CREATE TABLE parameter_versions (
    name TEXT COLLATE "C" NOT NULL REFERENCES parameters (name) ON DELETE CASCADE,
    version BIGINT NOT NULL,
    param_type TEXT NOT NULL,
    -- Exactly one of these: the value in clear (String, StringList) or sealed by the server (SecureString).
    value_text TEXT,
    value_sealed BYTEA,
    description TEXT,
    allowed_pattern TEXT,
    key_id TEXT,
    tier TEXT NOT NULL,
    data_type TEXT NOT NULL,
    modified_ms BIGINT NOT NULL,
    modified_user TEXT NOT NULL,
    PRIMARY KEY (name, version),
    CHECK ((value_text IS NULL) <> (value_sealed IS NULL))
);
-- Master-key rotation walks only the sealed values, in (name, version) order.
CREATE INDEX parameter_versions_sealed ON parameter_versions (name, version) WHERE value_sealed IS NOT NULL;

-- A label names one version of a parameter at a time; moving it is an update of `version`.
CREATE TABLE parameter_labels (
    name TEXT COLLATE "C" NOT NULL,
    label TEXT COLLATE "C" NOT NULL,
    version BIGINT NOT NULL,
    labelled_ms BIGINT NOT NULL,
    PRIMARY KEY (name, label),
    FOREIGN KEY (name, version) REFERENCES parameter_versions (name, version) ON DELETE CASCADE
);
CREATE INDEX parameter_labels_by_version ON parameter_labels (name, version);

CREATE TABLE master_key_checks (
    name TEXT COLLATE "C" NOT NULL,
    version BIGINT NOT NULL,
    check_value BYTEA NOT NULL,
    PRIMARY KEY (name, version)
);
