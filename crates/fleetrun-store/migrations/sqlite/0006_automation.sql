-- SSM Automation: executions of runbooks and their step executions. Times are epoch milliseconds; JSON
-- columns hold TEXT the store does not read. Tags live in `tags` under resource type 'Automation'.

CREATE TABLE automation_executions (
    -- Creation order: "newest first" is ORDER BY seq DESC, claims take the oldest first.
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    execution_id TEXT NOT NULL UNIQUE,
    document_name TEXT NOT NULL,
    document_version TEXT NOT NULL,
    status TEXT NOT NULL,
    mode TEXT NOT NULL,
    parameters_json TEXT NOT NULL,
    outputs_json TEXT NOT NULL DEFAULT '{}',
    failure_message TEXT NOT NULL DEFAULT '',
    current_step_name TEXT NOT NULL DEFAULT '',
    current_action TEXT NOT NULL DEFAULT '',
    parent_execution_id TEXT,
    executed_by TEXT NOT NULL,
    targets_json TEXT NOT NULL,
    target_parameter_name TEXT NOT NULL DEFAULT '',
    max_concurrency TEXT NOT NULL DEFAULT '',
    max_errors TEXT NOT NULL DEFAULT '',
    start_ms INTEGER NOT NULL,
    end_ms INTEGER NOT NULL DEFAULT 0,
    -- StartAutomationExecution's ClientToken; NULLs do not collide.
    client_token TEXT UNIQUE,
    stop_requested TEXT CHECK (stop_requested IN ('Cancel', 'Complete')),
    -- Bumped by every change a driver must notice; writers compare-and-swap on it.
    version INTEGER NOT NULL DEFAULT 1,
    -- The process driving the execution until lease_until_ms; NULL and 0 when free.
    lease_owner TEXT,
    lease_until_ms INTEGER NOT NULL DEFAULT 0
);
-- Claims look for active statuses with an ended lease; retention for finished statuses by end time.
-- Both also serve the status filter of listings.
CREATE INDEX automation_by_status_lease ON automation_executions (status, lease_until_ms);
CREATE INDEX automation_by_status_end ON automation_executions (status, end_ms);
-- The other filters of DescribeAutomationExecutions (the tag filter uses the tags table's primary key).
CREATE INDEX automation_by_document ON automation_executions (document_name);
CREATE INDEX automation_by_parent ON automation_executions (parent_execution_id, seq);
CREATE INDEX automation_by_action ON automation_executions (current_action, seq);
CREATE INDEX automation_by_start ON automation_executions (start_ms);

CREATE TABLE automation_steps (
    execution_id TEXT NOT NULL REFERENCES automation_executions (execution_id) ON DELETE CASCADE,
    step_index INTEGER NOT NULL,
    step_execution_id TEXT NOT NULL,
    step_name TEXT NOT NULL,
    action TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    timeout_seconds INTEGER NOT NULL,
    on_failure TEXT NOT NULL,
    max_attempts INTEGER NOT NULL,
    is_end INTEGER NOT NULL,
    next_step TEXT NOT NULL,
    is_critical INTEGER NOT NULL,
    inputs_json TEXT NOT NULL,
    outputs_json TEXT NOT NULL,
    response TEXT NOT NULL,
    failure_message TEXT NOT NULL,
    failure_details_json TEXT NOT NULL,
    start_ms INTEGER NOT NULL,
    end_ms INTEGER NOT NULL,
    response_code INTEGER,
    PRIMARY KEY (execution_id, step_index)
);
