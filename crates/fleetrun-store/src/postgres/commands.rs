//! Commands, invocations and plugin results on PostgreSQL: creation and queries. State changes are in
//! `lifecycle`; the queries here take no locks and see the last committed state.

use super::{PgStore, db, unique};
use crate::{Command, CommandFilter, Invocation, InvocationFilter, NewCommand, Plugin, Result, StoreError};
use fleetrun_core::state::InvocationState;
use sqlx::postgres::PgRow;
use sqlx::{Postgres, QueryBuilder, Row};

fn command(row: &PgRow) -> Command {
    Command {
        command_id: row.get("command_id"),
        document_name: row.get("document_name"),
        document_version: row.get("document_version"),
        comment: row.get("comment"),
        parameters_json: row.get("parameters_json"),
        instance_ids_json: row.get("instance_ids_json"),
        targets_json: row.get("targets_json"),
        steps_json: row.get("steps_json"),
        requested_ms: row.get("requested_ms"),
        timeout_seconds: row.get("timeout_seconds"),
        delivery_deadline_ms: row.get("delivery_deadline_ms"),
        expires_ms: row.get("expires_ms"),
        output_s3_bucket: row.get("output_s3_bucket"),
        output_s3_prefix: row.get("output_s3_prefix"),
        max_concurrency: row.get("max_concurrency"),
        max_errors: row.get("max_errors"),
        max_concurrency_n: row.get::<i64, _>("max_concurrency_n") as u32,
        max_errors_n: row.get::<i64, _>("max_errors_n") as u32,
        service_role: row.get("service_role"),
        extra_json: row.get("extra_json"),
        cancel_requested: row.get("cancel_requested"),
        status: row.get("status"),
        status_details: row.get("status_details"),
        target_count: row.get("target_count"),
        completed_count: row.get("completed_count"),
        error_count: row.get("error_count"),
        delivery_timed_out_count: row.get("delivery_timed_out_count"),
    }
}

pub(super) fn invocation(row: &PgRow) -> Result<Invocation> {
    let state: String = row.get("state");
    Ok(Invocation {
        command_id: row.get("command_id"),
        instance_id: row.get("instance_id"),
        instance_name: row.get("instance_name"),
        seq: row.get("seq"),
        state: InvocationState::parse(&state)
            .ok_or_else(|| StoreError::Corrupt(format!("invocation state {state}")))?,
        response_code: row.get("response_code"),
        started_ms: row.get("started_ms"),
        ended_ms: row.get("ended_ms"),
        updated_ms: row.get("updated_ms"),
    })
}

fn plugin(row: &PgRow) -> Plugin {
    Plugin {
        idx: row.get("idx"),
        name: row.get("name"),
        action: row.get("action"),
        status: row.get("status"),
        response_code: row.get("response_code"),
        started_ms: row.get("started_ms"),
        ended_ms: row.get("ended_ms"),
        stdout_head: row.get("stdout_head"),
        stderr_head: row.get("stderr_head"),
        stdout_bytes: row.get("stdout_bytes"),
        stderr_bytes: row.get("stderr_bytes"),
        provenance_json: row.get("provenance_json"),
    }
}

/// The invocation states that a Status filter value selects.
fn states_for(statuses: &[String]) -> Vec<&'static str> {
    InvocationState::ALL
        .into_iter()
        .filter(|s| statuses.iter().any(|v| s.matches_filter(v)))
        .map(|s| s.as_str())
        .collect()
}

/// Targets per multi-row insert: 6 parameters each stays far below PostgreSQL's 65,535 per statement.
const INSERT_CHUNK: usize = 200;

impl PgStore {
    pub(super) async fn create_command_impl(&self, c: &NewCommand) -> Result<()> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        sqlx::query(
            "INSERT INTO commands (command_id, document_name, document_version, comment, parameters_json, instance_ids_json, targets_json, steps_json, requested_ms, timeout_seconds, delivery_deadline_ms, expires_ms, output_s3_bucket, output_s3_prefix, max_concurrency, max_errors, max_concurrency_n, max_errors_n, service_role, extra_json, status, status_details, target_count, undelivered) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24)",
        )
        .bind(&c.command_id)
        .bind(&c.document_name)
        .bind(&c.document_version)
        .bind(&c.comment)
        .bind(&c.parameters_json)
        .bind(&c.instance_ids_json)
        .bind(&c.targets_json)
        .bind(&c.steps_json)
        .bind(c.requested_ms)
        .bind(c.timeout_seconds)
        .bind(c.delivery_deadline_ms)
        .bind(c.expires_ms)
        .bind(&c.output_s3_bucket)
        .bind(&c.output_s3_prefix)
        .bind(&c.max_concurrency)
        .bind(&c.max_errors)
        .bind(i64::from(c.max_concurrency_n))
        .bind(i64::from(c.max_errors_n))
        .bind(&c.service_role)
        .bind(&c.extra_json)
        .bind("Pending")
        .bind("Pending")
        .bind(c.targets.len() as i64)
        .bind(!c.targets.is_empty())
        .execute(&mut *tx)
        .await
        .map_err(unique("command"))?;
        for (chunk_idx, chunk) in c.targets.chunks(INSERT_CHUNK).enumerate() {
            let mut q: QueryBuilder<Postgres> = QueryBuilder::new(
                "INSERT INTO invocations (command_id, instance_id, seq, instance_name, state, updated_ms) ",
            );
            q.push_values(chunk.iter().enumerate(), |mut b, (i, (id, name))| {
                b.push_bind(&c.command_id)
                    .push_bind(id)
                    .push_bind((chunk_idx * INSERT_CHUNK + i) as i64)
                    .push_bind(name)
                    .push_bind("Pending")
                    .push_bind(c.requested_ms);
            });
            q.build().execute(&mut *tx).await.map_err(db)?;
        }
        // The command row is new and invisible to other transactions until commit: no lock to take.
        super::lifecycle::derive(&mut tx, &c.command_id).await?;
        tx.commit().await.map_err(db)
    }

    pub(super) async fn get_command_impl(&self, id: &str) -> Result<Option<Command>> {
        let row = sqlx::query("SELECT * FROM commands WHERE command_id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        Ok(row.as_ref().map(command))
    }

    pub(super) async fn list_commands_impl(&self, f: &CommandFilter) -> Result<Vec<Command>> {
        let mut q: QueryBuilder<Postgres> = QueryBuilder::new("SELECT * FROM commands c WHERE 1 = 1");
        if let Some(id) = &f.command_id {
            q.push(" AND c.command_id = ").push_bind(id.clone());
        }
        if let Some(instance) = &f.instance_id {
            q.push(" AND EXISTS (SELECT 1 FROM invocations i WHERE i.command_id = c.command_id AND i.instance_id = ")
                .push_bind(instance.clone())
                .push(")");
        }
        if let Some(after) = f.requested_after_ms {
            q.push(" AND c.requested_ms >= ").push_bind(after);
        }
        if let Some(before) = f.requested_before_ms {
            q.push(" AND c.requested_ms <= ").push_bind(before);
        }
        if let Some(name) = &f.document_name {
            q.push(" AND c.document_name = ").push_bind(name.clone());
        }
        if !f.statuses.is_empty() {
            q.push(" AND (c.status = ANY(").push_bind(f.statuses.clone());
            q.push(") OR REPLACE(c.status_details, ' ', '') = ANY(").push_bind(f.statuses.clone());
            q.push("))");
        }
        match f.executing {
            Some(true) => {
                q.push(" AND c.status IN ('Pending', 'InProgress', 'Cancelling')");
            }
            Some(false) => {
                q.push(" AND c.status NOT IN ('Pending', 'InProgress', 'Cancelling')");
            }
            None => {}
        }
        q.push(" ORDER BY c.seq DESC LIMIT ").push_bind(i64::from(f.limit.unwrap_or(u32::MAX >> 1)));
        q.push(" OFFSET ").push_bind(i64::from(f.offset));
        let rows = q.build().fetch_all(&self.pool).await.map_err(db)?;
        Ok(rows.iter().map(command).collect())
    }

    pub(super) async fn list_invocations_impl(&self, f: &InvocationFilter) -> Result<Vec<Invocation>> {
        let mut q: QueryBuilder<Postgres> = QueryBuilder::new(
            "SELECT i.* FROM invocations i JOIN commands c ON c.command_id = i.command_id WHERE 1 = 1",
        );
        if let Some(id) = &f.command_id {
            q.push(" AND i.command_id = ").push_bind(id.clone());
        }
        if let Some(instance) = &f.instance_id {
            q.push(" AND i.instance_id = ").push_bind(instance.clone());
        }
        if let Some(after) = f.requested_after_ms {
            q.push(" AND c.requested_ms >= ").push_bind(after);
        }
        if let Some(before) = f.requested_before_ms {
            q.push(" AND c.requested_ms <= ").push_bind(before);
        }
        if let Some(name) = &f.document_name {
            q.push(" AND c.document_name = ").push_bind(name.clone());
        }
        if !f.statuses.is_empty() {
            // An empty array matches nothing, as it should when no state matches the filter.
            let states: Vec<String> = states_for(&f.statuses).into_iter().map(String::from).collect();
            q.push(" AND i.state = ANY(").push_bind(states).push(")");
        }
        q.push(" ORDER BY c.seq DESC, i.seq LIMIT ").push_bind(i64::from(f.limit.unwrap_or(u32::MAX >> 1)));
        q.push(" OFFSET ").push_bind(i64::from(f.offset));
        let rows = q.build().fetch_all(&self.pool).await.map_err(db)?;
        rows.iter().map(invocation).collect()
    }

    pub(super) async fn get_invocation_impl(&self, command_id: &str, instance_id: &str) -> Result<Option<Invocation>> {
        let row = sqlx::query("SELECT * FROM invocations WHERE command_id = $1 AND instance_id = $2")
            .bind(command_id)
            .bind(instance_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        row.as_ref().map(invocation).transpose()
    }

    pub(super) async fn list_plugins_impl(&self, command_id: &str, instance_id: &str) -> Result<Vec<Plugin>> {
        let rows = sqlx::query("SELECT * FROM plugins WHERE command_id = $1 AND instance_id = $2 ORDER BY idx")
            .bind(command_id)
            .bind(instance_id)
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        Ok(rows.iter().map(plugin).collect())
    }
}
