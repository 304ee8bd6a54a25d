//! SSM Automation executions on PostgreSQL: executions, their step executions, leases and retention. Not
//! the automation driver: which status follows which, and what a step does, are decided by the caller (see
//! `automation_model.rs`).
//!
//! Several replicas share the database, and each method is one statement or one short READ COMMITTED
//! transaction that locks only `automation_executions` rows (and the step and tag rows of those), never
//! a command's, so these transactions stay out of the command lock order:
//!
//! * an update, a stop request or a lease renewal is a single `UPDATE` of one row: its `WHERE` (the
//!   version, the lease owner) is re-checked on the newest row version after any wait, which makes it a
//!   compare-and-swap;
//! * claims and purges take their rows with `SKIP LOCKED`, so two replicas never take the same execution
//!   and never wait for each other; a row busy elsewhere is left for the next round;
//! * a step write takes its step row, and at most a key-share lock on its execution (the foreign key
//!   check), which updates and claims (`FOR NO KEY UPDATE`) do not conflict with; only a purge, which
//!   deletes the execution, waits for the step write or skips the execution.
//!
//! Lease times are the callers' clocks (`now_ms`), unlike the named leases in `upkeep.rs`.

use super::{PgStore, db};
use crate::automation_model::{ACTIVE_SQL, FINISHED_SQL, check_stop_kind, execution_not_found};
use crate::parameters_model::prefix_upper_bound;
use crate::{
    AutomationExecution, AutomationFilter, AutomationUpdate, NewAutomationExecution, Result, StepExecution, StoreError,
};
use sqlx::postgres::PgRow;
use sqlx::{Postgres, QueryBuilder, Row};

fn execution(row: &PgRow) -> AutomationExecution {
    AutomationExecution {
        execution_id: row.get("execution_id"),
        document_name: row.get("document_name"),
        document_version: row.get("document_version"),
        status: row.get("status"),
        mode: row.get("mode"),
        parameters_json: row.get("parameters_json"),
        outputs_json: row.get("outputs_json"),
        failure_message: row.get("failure_message"),
        current_step_name: row.get("current_step_name"),
        current_action: row.get("current_action"),
        parent_execution_id: row.get("parent_execution_id"),
        executed_by: row.get("executed_by"),
        targets_json: row.get("targets_json"),
        target_parameter_name: row.get("target_parameter_name"),
        max_concurrency: row.get("max_concurrency"),
        max_errors: row.get("max_errors"),
        start_ms: row.get("start_ms"),
        end_ms: row.get("end_ms"),
        client_token: row.get("client_token"),
        stop_requested: row.get("stop_requested"),
        version: row.get("version"),
        lease_owner: row.get("lease_owner"),
        lease_until_ms: row.get("lease_until_ms"),
    }
}

fn step(row: &PgRow) -> StepExecution {
    StepExecution {
        execution_id: row.get("execution_id"),
        step_index: row.get("step_index"),
        step_execution_id: row.get("step_execution_id"),
        step_name: row.get("step_name"),
        action: row.get("action"),
        status: row.get("status"),
        attempts: row.get("attempts"),
        timeout_seconds: row.get("timeout_seconds"),
        on_failure: row.get("on_failure"),
        max_attempts: row.get("max_attempts"),
        is_end: row.get("is_end"),
        next_step: row.get("next_step"),
        is_critical: row.get("is_critical"),
        inputs_json: row.get("inputs_json"),
        outputs_json: row.get("outputs_json"),
        response: row.get("response"),
        failure_message: row.get("failure_message"),
        failure_details_json: row.get("failure_details_json"),
        start_ms: row.get("start_ms"),
        end_ms: row.get("end_ms"),
        response_code: row.get("response_code"),
    }
}

/// Rows of `RETURNING` come in no promised order: puts them in creation order.
fn in_creation_order(mut rows: Vec<PgRow>) -> Vec<AutomationExecution> {
    rows.sort_by_key(|row| row.get::<i64, _>("seq"));
    rows.iter().map(execution).collect()
}

/// The columns of a step row, in the order `push_step` binds them.
const STEP_COLUMNS: &str = "execution_id, step_index, step_execution_id, step_name, action, status, attempts, timeout_seconds, on_failure, max_attempts, is_end, next_step, is_critical, inputs_json, outputs_json, response, failure_message, failure_details_json, start_ms, end_ms, response_code";

fn push_step(mut b: sqlx::query_builder::Separated<'_, Postgres, &'static str>, s: &StepExecution) {
    b.push_bind(&s.execution_id)
        .push_bind(s.step_index)
        .push_bind(&s.step_execution_id)
        .push_bind(&s.step_name)
        .push_bind(&s.action)
        .push_bind(&s.status)
        .push_bind(s.attempts)
        .push_bind(s.timeout_seconds)
        .push_bind(&s.on_failure)
        .push_bind(s.max_attempts)
        .push_bind(s.is_end)
        .push_bind(&s.next_step)
        .push_bind(s.is_critical)
        .push_bind(&s.inputs_json)
        .push_bind(&s.outputs_json)
        .push_bind(&s.response)
        .push_bind(&s.failure_message)
        .push_bind(&s.failure_details_json)
        .push_bind(s.start_ms)
        .push_bind(s.end_ms)
        .push_bind(s.response_code);
}

impl PgStore {
    pub(super) async fn create_automation_execution_impl(
        &self,
        e: &NewAutomationExecution,
    ) -> Result<AutomationExecution> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        // Invariant: one execution per client token. The unique index arbitrates: a concurrent create with
        // the same token waits here until the first commits, then inserts nothing and reads its id below.
        let row = sqlx::query(
            "INSERT INTO automation_executions (execution_id, document_name, document_version, status, mode, parameters_json, parent_execution_id, executed_by, targets_json, target_parameter_name, max_concurrency, max_errors, start_ms, client_token) VALUES ($1, $2, $3, 'Pending', $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) ON CONFLICT (client_token) DO NOTHING RETURNING *",
        )
        .bind(&e.execution_id)
        .bind(&e.document_name)
        .bind(&e.document_version)
        .bind(&e.mode)
        .bind(&e.parameters_json)
        .bind(&e.parent_execution_id)
        .bind(&e.executed_by)
        .bind(&e.targets_json)
        .bind(&e.target_parameter_name)
        .bind(&e.max_concurrency)
        .bind(&e.max_errors)
        .bind(e.now_ms)
        .bind(&e.client_token)
        .fetch_optional(&mut *tx)
        .await
        .map_err(|error| match &error {
            // The client token is the ON CONFLICT arbiter: a unique violation is the execution id.
            sqlx::Error::Database(d) if d.is_unique_violation() => {
                StoreError::Conflict(format!("automation execution {} exists", e.execution_id))
            }
            _ => db(error),
        })?;
        let Some(row) = row else {
            // READ COMMITTED: this statement sees the execution that holds the token, committed meanwhile.
            let existing: Option<String> =
                sqlx::query_scalar("SELECT execution_id FROM automation_executions WHERE client_token = $1")
                    .bind(&e.client_token)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(db)?;
            return Err(match existing {
                Some(existing) => StoreError::AlreadyExists(existing),
                None => StoreError::Conflict(format!(
                    "the client token of automation execution {} was used by an execution deleted meanwhile: retry",
                    e.execution_id
                )),
            });
        };
        let created = execution(&row);
        let steps: Vec<StepExecution> =
            e.steps.iter().enumerate().map(|(i, s)| StepExecution::pending(&e.execution_id, i, s)).collect();
        // 21 binds a row: 100 rows a statement stay far below PostgreSQL's 65,535.
        for chunk in steps.chunks(100) {
            let mut q: QueryBuilder<Postgres> =
                QueryBuilder::new(format!("INSERT INTO automation_steps ({STEP_COLUMNS}) "));
            q.push_values(chunk, push_step);
            q.build().execute(&mut *tx).await.map_err(db)?;
        }
        // A new execution starts with only its own tags, whatever was tagged under its id before.
        sqlx::query("DELETE FROM tags WHERE resource_type = 'Automation' AND resource_id = $1")
            .bind(&e.execution_id)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        for (key, value) in &e.tags {
            sqlx::query(
                "INSERT INTO tags (resource_type, resource_id, key, value) VALUES ('Automation', $1, $2, $3) ON CONFLICT (resource_type, resource_id, key) DO UPDATE SET value = EXCLUDED.value",
            )
            .bind(&e.execution_id)
            .bind(key)
            .bind(value)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        }
        tx.commit().await.map_err(db)?;
        Ok(created)
    }

    pub(super) async fn get_automation_execution_impl(
        &self,
        execution_id: &str,
    ) -> Result<Option<AutomationExecution>> {
        let row = sqlx::query("SELECT * FROM automation_executions WHERE execution_id = $1")
            .bind(execution_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        Ok(row.as_ref().map(execution))
    }

    pub(super) async fn list_automation_executions_impl(
        &self,
        f: &AutomationFilter,
    ) -> Result<Vec<AutomationExecution>> {
        let mut q: QueryBuilder<Postgres> = QueryBuilder::new("SELECT * FROM automation_executions e WHERE TRUE");
        if let Some(prefix) = &f.document_name_prefix {
            // A range of the document name index (COLLATE "C", so bytewise like the bounds).
            q.push(" AND e.document_name >= ").push_bind(prefix.clone());
            if let Some(upper) = prefix_upper_bound(prefix) {
                q.push(" AND e.document_name < ").push_bind(upper);
            }
        }
        if !f.statuses.is_empty() {
            q.push(" AND e.status = ANY(").push_bind(f.statuses.clone()).push(")");
        }
        if let Some(id) = &f.execution_id {
            q.push(" AND e.execution_id = ").push_bind(id.clone());
        }
        if let Some(parent) = &f.parent_execution_id {
            q.push(" AND e.parent_execution_id = ").push_bind(parent.clone());
        }
        if let Some(action) = &f.current_action {
            q.push(" AND e.current_action = ").push_bind(action.clone());
        }
        if let Some(before) = f.start_before_ms {
            q.push(" AND e.start_ms <= ").push_bind(before);
        }
        if let Some(after) = f.start_after_ms {
            q.push(" AND e.start_ms >= ").push_bind(after);
        }
        if let Some(key) = &f.tag {
            q.push(" AND EXISTS (SELECT 1 FROM tags t WHERE t.resource_type = 'Automation' AND t.resource_id = e.execution_id AND t.key = ")
                .push_bind(key.clone())
                .push(")");
        }
        q.push(" ORDER BY e.seq DESC LIMIT ").push_bind(i64::from(f.limit.unwrap_or(u32::MAX >> 1)));
        q.push(" OFFSET ").push_bind(i64::from(f.offset));
        let rows = q.build().fetch_all(&self.pool).await.map_err(db)?;
        Ok(rows.iter().map(execution).collect())
    }

    pub(super) async fn update_automation_execution_impl(&self, u: &AutomationUpdate) -> Result<AutomationExecution> {
        let row = sqlx::query(
            "UPDATE automation_executions SET status = $1, outputs_json = $2, failure_message = $3, current_step_name = $4, current_action = $5, end_ms = $6, version = version + 1 WHERE execution_id = $7 AND version = $8 RETURNING *",
        )
        .bind(&u.status)
        .bind(&u.outputs_json)
        .bind(&u.failure_message)
        .bind(&u.current_step_name)
        .bind(&u.current_action)
        .bind(u.end_ms)
        .bind(&u.execution_id)
        .bind(u.expected_version)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        if let Some(row) = row {
            return Ok(execution(&row));
        }
        // Only to name the failure: nothing was written.
        let current: Option<i64> =
            sqlx::query_scalar("SELECT version FROM automation_executions WHERE execution_id = $1")
                .bind(&u.execution_id)
                .fetch_optional(&self.pool)
                .await
                .map_err(db)?;
        Err(match current {
            None => execution_not_found(&u.execution_id),
            Some(version) => StoreError::Conflict(format!(
                "automation execution {} is at version {version}, not {}: read it again",
                u.execution_id, u.expected_version
            )),
        })
    }

    pub(super) async fn request_stop_impl(&self, execution_id: &str, kind: &str) -> Result<AutomationExecution> {
        check_stop_kind(kind)?;
        let row = sqlx::query(
            "UPDATE automation_executions SET stop_requested = $1, version = version + 1 WHERE execution_id = $2 RETURNING *",
        )
        .bind(kind)
        .bind(execution_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?
        .ok_or_else(|| execution_not_found(execution_id))?;
        Ok(execution(&row))
    }

    pub(super) async fn put_step_execution_impl(&self, s: &StepExecution) -> Result<()> {
        let mut q: QueryBuilder<Postgres> =
            QueryBuilder::new(format!("INSERT INTO automation_steps ({STEP_COLUMNS}) "));
        q.push_values([s], push_step);
        q.push(
            " ON CONFLICT (execution_id, step_index) DO UPDATE SET step_execution_id = EXCLUDED.step_execution_id, step_name = EXCLUDED.step_name, action = EXCLUDED.action, status = EXCLUDED.status, attempts = EXCLUDED.attempts, timeout_seconds = EXCLUDED.timeout_seconds, on_failure = EXCLUDED.on_failure, max_attempts = EXCLUDED.max_attempts, is_end = EXCLUDED.is_end, next_step = EXCLUDED.next_step, is_critical = EXCLUDED.is_critical, inputs_json = EXCLUDED.inputs_json, outputs_json = EXCLUDED.outputs_json, response = EXCLUDED.response, failure_message = EXCLUDED.failure_message, failure_details_json = EXCLUDED.failure_details_json, start_ms = EXCLUDED.start_ms, end_ms = EXCLUDED.end_ms, response_code = EXCLUDED.response_code",
        );
        q.build().execute(&self.pool).await.map_err(|error| match &error {
            sqlx::Error::Database(d) if d.is_foreign_key_violation() => execution_not_found(&s.execution_id),
            _ => db(error),
        })?;
        Ok(())
    }

    pub(super) async fn list_step_executions_impl(&self, execution_id: &str) -> Result<Vec<StepExecution>> {
        let rows = sqlx::query("SELECT * FROM automation_steps WHERE execution_id = $1 ORDER BY step_index")
            .bind(execution_id)
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        Ok(rows.iter().map(step).collect())
    }

    pub(super) async fn claim_automation_executions_impl(
        &self,
        owner: &str,
        now_ms: i64,
        lease_ms: i64,
        limit: u32,
    ) -> Result<Vec<AutomationExecution>> {
        // Invariant: an execution has one lease holder at a time. SKIP LOCKED takes each candidate row for
        // this statement or passes it by; a row whose claim committed meanwhile is re-checked on its new
        // version, has a running lease and drops out. A free lease has lease_until_ms 0, so "free or
        // ended" is one range of the (status, lease) index.
        let sql = format!(
            "WITH picked AS (SELECT seq FROM automation_executions WHERE status IN {ACTIVE_SQL} AND lease_until_ms <= $3 ORDER BY seq LIMIT $4 FOR NO KEY UPDATE SKIP LOCKED) UPDATE automation_executions e SET lease_owner = $1, lease_until_ms = $2, version = e.version + 1 FROM picked WHERE e.seq = picked.seq RETURNING e.*"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(owner)
            .bind(now_ms.saturating_add(lease_ms))
            .bind(now_ms)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        Ok(in_creation_order(rows))
    }

    pub(super) async fn renew_automation_lease_impl(
        &self,
        execution_id: &str,
        owner: &str,
        now_ms: i64,
        lease_ms: i64,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE automation_executions SET lease_until_ms = $1 WHERE execution_id = $2 AND lease_owner = $3",
        )
        .bind(now_ms.saturating_add(lease_ms))
        .bind(execution_id)
        .bind(owner)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(done.rows_affected() == 1)
    }

    pub(super) async fn release_automation_lease_impl(&self, execution_id: &str, owner: &str) -> Result<()> {
        sqlx::query(
            "UPDATE automation_executions SET lease_owner = NULL, lease_until_ms = 0 WHERE execution_id = $1 AND lease_owner = $2",
        )
        .bind(execution_id)
        .bind(owner)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(())
    }

    pub(super) async fn purge_automation_executions_impl(&self, before_ms: i64, limit: u32) -> Result<Vec<String>> {
        // Step rows go with their execution (ON DELETE CASCADE); tags are deleted in the same transaction.
        // SKIP LOCKED: two replicas purging at once split the work instead of queueing on each other.
        let sql = format!(
            "WITH doomed AS (SELECT seq FROM automation_executions WHERE status IN {FINISHED_SQL} AND end_ms < $1 ORDER BY end_ms, seq LIMIT $2 FOR UPDATE SKIP LOCKED) DELETE FROM automation_executions e USING doomed WHERE e.seq = doomed.seq RETURNING e.execution_id, e.end_ms, e.seq"
        );
        let mut tx = self.pool.begin().await.map_err(db)?;
        let mut rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(before_ms)
            .bind(i64::from(limit))
            .fetch_all(&mut *tx)
            .await
            .map_err(db)?;
        rows.sort_by_key(|row| (row.get::<i64, _>("end_ms"), row.get::<i64, _>("seq")));
        let ids: Vec<String> = rows.iter().map(|row| row.get("execution_id")).collect();
        sqlx::query("DELETE FROM tags WHERE resource_type = 'Automation' AND resource_id = ANY($1)")
            .bind(&ids)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(ids)
    }
}
