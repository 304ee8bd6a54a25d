-- The Parameter Store: parameters, their versions (at most 100 each), labels on versions, and the master
-- key check values a server compares its key against at start-up. Times are epoch milliseconds.

-- One row per parameter; writers read-decide-write latest_version, so this row is what they serialize on.
CREATE TABLE parameters (
    name TEXT PRIMARY KEY,
    latest_version INTEGER NOT NULL
);

CREATE TABLE parameter_versions (
    name TEXT NOT NULL REFERENCES parameters (name) ON DELETE CASCADE,
    version INTEGER NOT NULL,
    param_type TEXT NOT NULL,
    -- Exactly one of these: the value in clear (String, StringList) or sealed by the server (SecureString).
    value_text TEXT,
    value_sealed BLOB,
    description TEXT,
    allowed_pattern TEXT,
    key_id TEXT,
    tier TEXT NOT NULL,
    data_type TEXT NOT NULL,
    modified_ms INTEGER NOT NULL,
    modified_user TEXT NOT NULL,
    PRIMARY KEY (name, version),
    CHECK ((value_text IS NULL) <> (value_sealed IS NULL))
);
-- Master-key rotation walks only the sealed values, in (name, version) order.
CREATE INDEX parameter_versions_sealed ON parameter_versions (name, version) WHERE value_sealed IS NOT NULL;

-- A label names one version of a parameter at a time; moving it is an update of `version`.
CREATE TABLE parameter_labels (
    name TEXT NOT NULL,
    label TEXT NOT NULL,
    version INTEGER NOT NULL,
    labelled_ms INTEGER NOT NULL,
    PRIMARY KEY (name, label),
    FOREIGN KEY (name, version) REFERENCES parameter_versions (name, version) ON DELETE CASCADE
);
CREATE INDEX parameter_labels_by_version ON parameter_labels (name, version);

CREATE TABLE master_key_checks (
    name TEXT NOT NULL,
    version INTEGER NOT NULL,
    check_value BLOB NOT NULL,
    PRIMARY KEY (name, version)
);
