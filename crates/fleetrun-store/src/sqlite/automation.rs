//! SSM Automation executions on SQLite: executions, their step executions, leases and retention. Not the
//! automation driver: which status follows which, and what a step does, are decided by the caller (see
//! `automation_model.rs`).
//!
//! Writes go through `write()` (BEGIN IMMEDIATE under the process's writer lock), so a read-decide-write
//! such as a client-token check or a claim has no other writer in between. One process owns a SQLite
//! database, so leases only keep the behaviour the same as PostgreSQL's.

use super::{SqliteStore, WriteTx, db};
use crate::automation_model::{ACTIVE_SQL, FINISHED_SQL, check_stop_kind, execution_not_found};
use crate::parameters_model::prefix_upper_bound;
use crate::{
    AutomationExecution, AutomationFilter, AutomationUpdate, NewAutomationExecution, Result, StepExecution, StoreError,
};
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Row, Sqlite};

fn execution(row: &SqliteRow) -> AutomationExecution {
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

fn step(row: &SqliteRow) -> StepExecution {
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
        is_end: row.get::<i64, _>("is_end") != 0,
        next_step: row.get("next_step"),
        is_critical: row.get::<i64, _>("is_critical") != 0,
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

/// Rows of `RETURNING *` come in no promised order: puts them in creation order.
fn in_creation_order(mut rows: Vec<SqliteRow>) -> Vec<AutomationExecution> {
    rows.sort_by_key(|row| row.get::<i64, _>("seq"));
    rows.iter().map(execution).collect()
}

/// The columns of a step row, in the order `push_step` binds them.
const STEP_COLUMNS: &str = "execution_id, step_index, step_execution_id, step_name, action, status, attempts, timeout_seconds, on_failure, max_attempts, is_end, next_step, is_critical, inputs_json, outputs_json, response, failure_message, failure_details_json, start_ms, end_ms, response_code";

fn push_step(mut b: sqlx::query_builder::Separated<'_, Sqlite, &'static str>, s: &StepExecution) {
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

async fn select_execution(tx: &mut WriteTx, execution_id: &str) -> Result<Option<AutomationExecution>> {
    let row = sqlx::query("SELECT * FROM automation_executions WHERE execution_id = ?")
        .bind(execution_id)
        .fetch_optional(&mut **tx)
        .await
        .map_err(db)?;
    Ok(row.as_ref().map(execution))
}

impl SqliteStore {
    pub(super) async fn create_automation_execution_impl(
        &self,
        e: &NewAutomationExecution,
    ) -> Result<AutomationExecution> {
        let mut tx = self.write().await?;
        if let Some(token) = &e.client_token {
            let existing: Option<String> =
                sqlx::query_scalar("SELECT execution_id FROM automation_executions WHERE client_token = ?")
                    .bind(token)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(db)?;
            if let Some(existing) = existing {
                return Err(StoreError::AlreadyExists(existing));
            }
        }
        sqlx::query(
            "INSERT INTO automation_executions (execution_id, document_name, document_version, status, mode, parameters_json, parent_execution_id, executed_by, targets_json, target_parameter_name, max_concurrency, max_errors, start_ms, client_token) VALUES (?, ?, ?, 'Pending', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
        .execute(&mut *tx)
        .await
        .map_err(|error| match &error {
            // The client token was checked above, under the write lock: the id is what collides.
            sqlx::Error::Database(d) if d.is_unique_violation() => {
                StoreError::Conflict(format!("automation execution {} exists", e.execution_id))
            }
            _ => db(error),
        })?;
        let steps: Vec<StepExecution> =
            e.steps.iter().enumerate().map(|(i, s)| StepExecution::pending(&e.execution_id, i, s)).collect();
        // 21 binds a row: 100 rows a statement stay far below SQLite's bind limit.
        for chunk in steps.chunks(100) {
            let mut q: QueryBuilder<Sqlite> =
                QueryBuilder::new(format!("INSERT INTO automation_steps ({STEP_COLUMNS}) "));
            q.push_values(chunk, push_step);
            q.build().execute(&mut *tx).await.map_err(db)?;
        }
        // A new execution starts with only its own tags, whatever was tagged under its id before.
        sqlx::query("DELETE FROM tags WHERE resource_type = 'Automation' AND resource_id = ?")
            .bind(&e.execution_id)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        for (key, value) in &e.tags {
            sqlx::query(
                "INSERT OR REPLACE INTO tags (resource_type, resource_id, key, value) VALUES ('Automation', ?, ?, ?)",
            )
            .bind(&e.execution_id)
            .bind(key)
            .bind(value)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        }
        let created = select_execution(&mut tx, &e.execution_id).await?.ok_or_else(|| {
            StoreError::Corrupt(format!("automation execution {} vanished while created", e.execution_id))
        })?;
        tx.commit().await.map_err(db)?;
        Ok(created)
    }

    pub(super) async fn get_automation_execution_impl(
        &self,
        execution_id: &str,
    ) -> Result<Option<AutomationExecution>> {
        let row = sqlx::query("SELECT * FROM automation_executions WHERE execution_id = ?")
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
        let mut q: QueryBuilder<Sqlite> = QueryBuilder::new("SELECT * FROM automation_executions e WHERE 1 = 1");
        if let Some(prefix) = &f.document_name_prefix {
            // A range of the document name index, as with parameter prefixes (SQLite compares bytewise).
            q.push(" AND e.document_name >= ").push_bind(prefix.clone());
            if let Some(upper) = prefix_upper_bound(prefix) {
                q.push(" AND e.document_name < ").push_bind(upper);
            }
        }
        if !f.statuses.is_empty() {
            q.push(" AND e.status IN (");
            let mut list = q.separated(", ");
            for status in &f.statuses {
                list.push_bind(status.clone());
            }
            q.push(")");
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
        let mut tx = self.write().await?;
        let row = sqlx::query(
            "UPDATE automation_executions SET status = ?, outputs_json = ?, failure_message = ?, current_step_name = ?, current_action = ?, end_ms = ?, version = version + 1 WHERE execution_id = ? AND version = ? RETURNING *",
        )
        .bind(&u.status)
        .bind(&u.outputs_json)
        .bind(&u.failure_message)
        .bind(&u.current_step_name)
        .bind(&u.current_action)
        .bind(u.end_ms)
        .bind(&u.execution_id)
        .bind(u.expected_version)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        let Some(row) = row else {
            return Err(match select_execution(&mut tx, &u.execution_id).await? {
                None => execution_not_found(&u.execution_id),
                Some(current) => StoreError::Conflict(format!(
                    "automation execution {} is at version {}, not {}: read it again",
                    u.execution_id, current.version, u.expected_version
                )),
            });
        };
        tx.commit().await.map_err(db)?;
        Ok(execution(&row))
    }

    pub(super) async fn request_stop_impl(&self, execution_id: &str, kind: &str) -> Result<AutomationExecution> {
        check_stop_kind(kind)?;
        let mut tx = self.write().await?;
        let row = sqlx::query(
            "UPDATE automation_executions SET stop_requested = ?, version = version + 1 WHERE execution_id = ? RETURNING *",
        )
        .bind(kind)
        .bind(execution_id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?
        .ok_or_else(|| execution_not_found(execution_id))?;
        tx.commit().await.map_err(db)?;
        Ok(execution(&row))
    }

    pub(super) async fn put_step_execution_impl(&self, s: &StepExecution) -> Result<()> {
        let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(format!("INSERT INTO automation_steps ({STEP_COLUMNS}) "));
        q.push_values([s], push_step);
        q.push(
            " ON CONFLICT (execution_id, step_index) DO UPDATE SET step_execution_id = excluded.step_execution_id, step_name = excluded.step_name, action = excluded.action, status = excluded.status, attempts = excluded.attempts, timeout_seconds = excluded.timeout_seconds, on_failure = excluded.on_failure, max_attempts = excluded.max_attempts, is_end = excluded.is_end, next_step = excluded.next_step, is_critical = excluded.is_critical, inputs_json = excluded.inputs_json, outputs_json = excluded.outputs_json, response = excluded.response, failure_message = excluded.failure_message, failure_details_json = excluded.failure_details_json, start_ms = excluded.start_ms, end_ms = excluded.end_ms, response_code = excluded.response_code",
        );
        let mut tx = self.write().await?;
        q.build().execute(&mut *tx).await.map_err(|error| match &error {
            sqlx::Error::Database(d) if d.is_foreign_key_violation() => execution_not_found(&s.execution_id),
            _ => db(error),
        })?;
        tx.commit().await.map_err(db)
    }

    pub(super) async fn list_step_executions_impl(&self, execution_id: &str) -> Result<Vec<StepExecution>> {
        let rows = sqlx::query("SELECT * FROM automation_steps WHERE execution_id = ? ORDER BY step_index")
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
        // A free lease has lease_until_ms 0, so "free or ended" is one range of the (status, lease) index.
        let sql = format!(
            "UPDATE automation_executions SET lease_owner = ?, lease_until_ms = ?, version = version + 1 WHERE seq IN (SELECT seq FROM automation_executions WHERE status IN {ACTIVE_SQL} AND lease_until_ms <= ? ORDER BY seq LIMIT ?) RETURNING *"
        );
        let mut tx = self.write().await?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(owner)
            .bind(now_ms.saturating_add(lease_ms))
            .bind(now_ms)
            .bind(i64::from(limit))
            .fetch_all(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(in_creation_order(rows))
    }

    pub(super) async fn renew_automation_lease_impl(
        &self,
        execution_id: &str,
        owner: &str,
        now_ms: i64,
        lease_ms: i64,
    ) -> Result<bool> {
        let mut tx = self.write().await?;
        let done = sqlx::query(
            "UPDATE automation_executions SET lease_until_ms = ? WHERE execution_id = ? AND lease_owner = ?",
        )
        .bind(now_ms.saturating_add(lease_ms))
        .bind(execution_id)
        .bind(owner)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(done.rows_affected() == 1)
    }

    pub(super) async fn release_automation_lease_impl(&self, execution_id: &str, owner: &str) -> Result<()> {
        let mut tx = self.write().await?;
        sqlx::query(
            "UPDATE automation_executions SET lease_owner = NULL, lease_until_ms = 0 WHERE execution_id = ? AND lease_owner = ?",
        )
        .bind(execution_id)
        .bind(owner)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)
    }

    pub(super) async fn purge_automation_executions_impl(&self, before_ms: i64, limit: u32) -> Result<Vec<String>> {
        let sql = format!(
            "SELECT execution_id FROM automation_executions WHERE status IN {FINISHED_SQL} AND end_ms < ? ORDER BY end_ms, seq LIMIT ?"
        );
        let mut tx = self.write().await?;
        let ids: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .bind(before_ms)
            .bind(i64::from(limit))
            .fetch_all(&mut *tx)
            .await
            .map_err(db)?;
        // 500 ids a statement stay far below SQLite's bind limit.
        for chunk in ids.chunks(500) {
            // Step rows go with their execution (ON DELETE CASCADE; foreign keys are on).
            for delete in [
                "DELETE FROM automation_executions WHERE execution_id IN (",
                "DELETE FROM tags WHERE resource_type = 'Automation' AND resource_id IN (",
            ] {
                let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(delete);
                let mut list = q.separated(", ");
                for id in chunk {
                    list.push_bind(id.clone());
                }
                q.push(")");
                q.build().execute(&mut *tx).await.map_err(db)?;
            }
        }
        tx.commit().await.map_err(db)?;
        Ok(ids)
    }
}
