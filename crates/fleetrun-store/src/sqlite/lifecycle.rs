//! The invocation lifecycle on SQLite: rate control, claims, results, cancel, delivery timeouts, deregistration.
//!
//! Every function here runs in one `BEGIN IMMEDIATE` transaction and ends with [`derive()`], which rewrites
//! the command's status and counters from its invocations. Which state may follow which is decided by
//! `fleetrun_core::state::transition`; the `WHERE state IN (…)` clauses below are the same rules in SQL, and
//! the conformance suite checks that they agree.

use super::{SqliteStore, db};
use crate::{Claimed, FinishedInvocation, Result, Settled, StoreError};
use fleetrun_core::rate::{Step, next_step};
use fleetrun_core::state::{Event, InvocationState, Tally, command_status, transition};
use sqlx::{Row, SqliteConnection};

/// Counts a command's invocations by state.
async fn tally(conn: &mut SqliteConnection, command_id: &str) -> Result<Tally> {
    let rows = sqlx::query("SELECT state, COUNT(*) AS n FROM invocations WHERE command_id = ? GROUP BY state")
        .bind(command_id)
        .fetch_all(&mut *conn)
        .await
        .map_err(db)?;
    let mut tally = Tally::default();
    for row in rows {
        let state: String = row.get("state");
        let state = InvocationState::parse(&state).ok_or_else(|| StoreError::Corrupt(format!("state {state}")))?;
        tally.add(state, row.get::<i64, _>("n") as u32);
    }
    Ok(tally)
}

/// A command's rate-control settings.
struct Limits {
    max_concurrency: u32,
    max_errors: u32,
    cancel_requested: bool,
}

async fn limits(conn: &mut SqliteConnection, command_id: &str) -> Result<Limits> {
    let row =
        sqlx::query("SELECT max_concurrency_n, max_errors_n, cancel_requested FROM commands WHERE command_id = ?")
            .bind(command_id)
            .fetch_optional(&mut *conn)
            .await
            .map_err(db)?
            .ok_or_else(|| StoreError::NotFound(format!("command {command_id}")))?;
    Ok(Limits {
        max_concurrency: row.get::<i64, _>("max_concurrency_n") as u32,
        max_errors: row.get::<i64, _>("max_errors_n") as u32,
        cancel_requested: row.get::<i64, _>("cancel_requested") != 0,
    })
}

/// Rewrites a command's derived columns from its invocations. Returns the new status.
pub(super) async fn derive(conn: &mut SqliteConnection, command_id: &str) -> Result<String> {
    let limits = limits(conn, command_id).await?;
    let t = tally(conn, command_id).await?;
    write_derived(conn, command_id, &t, &limits).await
}

/// Writes the status and counters that follow from a tally.
async fn write_derived(conn: &mut SqliteConnection, command_id: &str, t: &Tally, limits: &Limits) -> Result<String> {
    let (status, details) = command_status(t, limits.cancel_requested, limits.max_errors);
    sqlx::query(
        "UPDATE commands SET status = ?, status_details = ?, completed_count = ?, error_count = ?, delivery_timed_out_count = ?, undelivered = ? WHERE command_id = ?",
    )
    .bind(status.as_str())
    .bind(details)
    .bind(i64::from(t.completed()))
    .bind(i64::from(t.errors()))
    .bind(i64::from(t.delivery_timed_out))
    .bind(t.pending + t.queued > 0)
    .bind(command_id)
    .execute(&mut *conn)
    .await
    .map_err(db)?;
    Ok(status.as_str().to_string())
}

/// One round of rate control, then the derived columns. The tally is counted once and updated by the
/// arithmetic of what was changed (one GROUP BY per event matters on large commands).
async fn settle_in(conn: &mut SqliteConnection, command_id: &str, now_ms: i64) -> Result<Settled> {
    let limits = limits(conn, command_id).await?;
    let mut t = tally(conn, command_id).await?;
    let mut released = Vec::new();
    match next_step(&t, limits.max_concurrency, limits.max_errors) {
        Step::Release(n) => {
            debug_assert_eq!(transition(InvocationState::Pending, Event::Release), Ok(InvocationState::Queued));
            let rows = sqlx::query(
                "UPDATE invocations SET state = 'Queued', updated_ms = ? WHERE command_id = ? AND instance_id IN (SELECT instance_id FROM invocations WHERE command_id = ? AND state = 'Pending' ORDER BY seq LIMIT ?) RETURNING instance_id",
            )
            .bind(now_ms)
            .bind(command_id)
            .bind(command_id)
            .bind(i64::from(n))
            .fetch_all(&mut *conn)
            .await
            .map_err(db)?;
            released = rows.iter().map(|r| r.get("instance_id")).collect::<Vec<String>>();
            t.pending -= released.len() as u32;
            t.queued += released.len() as u32;
        }
        Step::TerminateUnstarted => {
            sqlx::query("UPDATE invocations SET state = 'Terminated', updated_ms = ? WHERE command_id = ? AND state IN ('Pending', 'Queued')")
                .bind(now_ms)
                .bind(command_id)
                .execute(&mut *conn)
                .await
                .map_err(db)?;
            t.terminated += t.pending + t.queued;
            t.pending = 0;
            t.queued = 0;
        }
        Step::Wait => {}
    }
    debug_assert_eq!(t, tally(conn, command_id).await?, "the tally arithmetic agrees with the rows");
    let status = write_derived(conn, command_id, &t, &limits).await?;
    Ok(Settled { released, status })
}

impl SqliteStore {
    pub(super) async fn settle_impl(&self, command_id: &str, now_ms: i64) -> Result<Settled> {
        let mut tx = self.write().await?;
        let settled = settle_in(&mut tx, command_id, now_ms).await?;
        tx.commit().await.map_err(db)?;
        Ok(settled)
    }

    pub(super) async fn claim_impl(&self, instance_id: &str, now_ms: i64, limit: u32) -> Result<Vec<Claimed>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        // Most polls find nothing: answer those from a read, without taking the write lock.
        let queued = sqlx::query("SELECT 1 FROM invocations WHERE instance_id = ? AND state = 'Queued' LIMIT 1")
            .bind(instance_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        if queued.is_none() {
            return Ok(Vec::new());
        }
        let mut tx = self.write().await?;
        let rows = sqlx::query(
            "UPDATE invocations SET state = 'InProgress', started_ms = ?, updated_ms = ? WHERE rowid IN (SELECT i.rowid FROM invocations i JOIN commands c ON c.command_id = i.command_id WHERE i.instance_id = ? AND i.state = 'Queued' ORDER BY c.seq, i.seq LIMIT ?) RETURNING command_id",
        )
        .bind(now_ms)
        .bind(now_ms)
        .bind(instance_id)
        .bind(i64::from(limit))
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?;
        let mut claimed = Vec::with_capacity(rows.len());
        for row in rows {
            let command_id: String = row.get("command_id");
            let c = sqlx::query("SELECT document_name, steps_json, output_s3_bucket, output_s3_prefix, extra_json FROM commands WHERE command_id = ?")
                .bind(&command_id)
                .fetch_one(&mut *tx)
                .await
                .map_err(db)?;
            // Queued → InProgress changes no counter; the only derived change it can make is the
            // command's first step from Pending to In Progress (what `command_status` gives once
            // anything is in progress and no cancel is being carried out — a cancel leaves nothing Queued).
            sqlx::query("UPDATE commands SET status = 'InProgress', status_details = 'In Progress' WHERE command_id = ? AND status = 'Pending'")
                .bind(&command_id)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
            debug_assert_eq!(
                sqlx::query("SELECT status FROM commands WHERE command_id = ?")
                    .bind(&command_id)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(db)?
                    .get::<String, _>("status"),
                derive(&mut tx, &command_id).await?,
                "the shortcut agrees with the full derivation"
            );
            claimed.push(Claimed {
                document_name: c.get("document_name"),
                steps_json: c.get("steps_json"),
                output_s3_bucket: c.get("output_s3_bucket"),
                output_s3_prefix: c.get("output_s3_prefix"),
                extra_json: c.get("extra_json"),
                command_id,
            });
        }
        tx.commit().await.map_err(db)?;
        Ok(claimed)
    }

    pub(super) async fn finish_impl(&self, r: &FinishedInvocation) -> Result<Option<Settled>> {
        let mut tx = self.write().await?;
        let row = sqlx::query("SELECT state FROM invocations WHERE command_id = ? AND instance_id = ?")
            .bind(&r.command_id)
            .bind(&r.instance_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?
            .ok_or_else(|| StoreError::NotFound(format!("invocation {}/{}", r.command_id, r.instance_id)))?;
        let state: String = row.get("state");
        let state = InvocationState::parse(&state).ok_or_else(|| StoreError::Corrupt(format!("state {state}")))?;
        // Abandoned is the one final-looking state a late result may replace.
        if state.is_terminal() && state != InvocationState::Abandoned {
            return Ok(None);
        }
        let next = transition(state, Event::Finish(r.finish)).map_err(|e| StoreError::Conflict(e.to_string()))?;
        sqlx::query("UPDATE invocations SET state = ?, response_code = ?, started_ms = ?, ended_ms = ?, updated_ms = ? WHERE command_id = ? AND instance_id = ?")
            .bind(next.as_str())
            .bind(r.response_code)
            .bind(r.started_ms)
            .bind(r.ended_ms)
            .bind(r.now_ms)
            .bind(&r.command_id)
            .bind(&r.instance_id)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        for p in &r.plugins {
            sqlx::query(
                "INSERT OR REPLACE INTO plugins (command_id, instance_id, idx, name, action, status, response_code, started_ms, ended_ms, stdout_head, stderr_head, stdout_bytes, stderr_bytes, provenance_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(&r.command_id)
            .bind(&r.instance_id)
            .bind(p.idx)
            .bind(&p.name)
            .bind(&p.action)
            .bind(&p.status)
            .bind(p.response_code)
            .bind(p.started_ms)
            .bind(p.ended_ms)
            .bind(&p.stdout_head)
            .bind(&p.stderr_head)
            .bind(p.stdout_bytes)
            .bind(p.stderr_bytes)
            .bind(&p.provenance_json)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        }
        let settled = settle_in(&mut tx, &r.command_id, r.now_ms).await?;
        tx.commit().await.map_err(db)?;
        Ok(Some(settled))
    }

    pub(super) async fn cancel_impl(
        &self,
        command_id: &str,
        instance_ids: Option<&[String]>,
        now_ms: i64,
    ) -> Result<Vec<String>> {
        let mut tx = self.write().await?;
        let done = sqlx::query("UPDATE commands SET cancel_requested = 1 WHERE command_id = ?")
            .bind(command_id)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("command {command_id}")));
        }
        let all: Vec<String>;
        let targets: &[String] = match instance_ids {
            Some(ids) => ids,
            None => {
                let rows = sqlx::query("SELECT instance_id FROM invocations WHERE command_id = ?")
                    .bind(command_id)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(db)?;
                all = rows.iter().map(|r| r.get("instance_id")).collect();
                &all
            }
        };
        let mut running = Vec::new();
        for instance_id in targets {
            sqlx::query("UPDATE invocations SET state = 'Cancelled', updated_ms = ? WHERE command_id = ? AND instance_id = ? AND state IN ('Pending', 'Queued')")
                .bind(now_ms)
                .bind(command_id)
                .bind(instance_id)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
            let moved = sqlx::query("UPDATE invocations SET state = 'Cancelling', updated_ms = ? WHERE command_id = ? AND instance_id = ? AND state = 'InProgress'")
                .bind(now_ms)
                .bind(command_id)
                .bind(instance_id)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
            if moved.rows_affected() > 0 {
                running.push(instance_id.clone());
            }
        }
        derive(&mut tx, command_id).await?;
        tx.commit().await.map_err(db)?;
        Ok(running)
    }

    pub(super) async fn cancels_for_impl(&self, instance_id: &str) -> Result<Vec<String>> {
        let rows = sqlx::query("SELECT command_id FROM invocations WHERE instance_id = ? AND state = 'Cancelling'")
            .bind(instance_id)
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        Ok(rows.iter().map(|r| r.get("command_id")).collect())
    }

    pub(super) async fn expire_deliveries_impl(&self, now_ms: i64) -> Result<Vec<String>> {
        let mut tx = self.write().await?;
        let rows = sqlx::query("SELECT command_id FROM commands WHERE undelivered = 1 AND delivery_deadline_ms <= ?")
            .bind(now_ms)
            .fetch_all(&mut *tx)
            .await
            .map_err(db)?;
        let ids: Vec<String> = rows.iter().map(|r| r.get("command_id")).collect();
        for id in &ids {
            sqlx::query("UPDATE invocations SET state = 'DeliveryTimedOut', updated_ms = ? WHERE command_id = ? AND state IN ('Pending', 'Queued')")
                .bind(now_ms)
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
            derive(&mut tx, id).await?;
        }
        tx.commit().await.map_err(db)?;
        Ok(ids)
    }

    pub(super) async fn next_delivery_deadline_impl(&self) -> Result<Option<i64>> {
        let row = sqlx::query("SELECT MIN(delivery_deadline_ms) AS m FROM commands WHERE undelivered = 1")
            .fetch_one(&self.pool)
            .await
            .map_err(db)?;
        Ok(row.get("m"))
    }

    pub(super) async fn abandon_silent_impl(&self, now_ms: i64, silent_since_ms: i64) -> Result<Vec<String>> {
        let mut tx = self.write().await?;
        debug_assert_eq!(transition(InvocationState::InProgress, Event::Abandon), Ok(InvocationState::Abandoned));
        let rows = sqlx::query(
            "UPDATE invocations SET state = 'Abandoned', updated_ms = ? WHERE state IN ('InProgress', 'Cancelling') \
             AND command_id IN (SELECT command_id FROM commands WHERE status IN ('InProgress', 'Cancelling') AND expires_ms <= ?) \
             AND instance_id NOT IN (SELECT instance_id FROM nodes WHERE last_ping_ms >= ?) RETURNING command_id",
        )
        .bind(now_ms)
        .bind(now_ms)
        .bind(silent_since_ms)
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?;
        let mut ids: Vec<String> = rows.iter().map(|r| r.get("command_id")).collect();
        ids.sort();
        ids.dedup();
        for id in &ids {
            settle_in(&mut tx, id, now_ms).await?;
        }
        tx.commit().await.map_err(db)?;
        Ok(ids)
    }

    pub(super) async fn expiry_outlook_impl(&self, now_ms: i64) -> Result<crate::ExpiryOutlook> {
        let next = sqlx::query("SELECT MIN(expires_ms) AS m FROM commands WHERE status IN ('Pending', 'InProgress', 'Cancelling') AND expires_ms > ?")
            .bind(now_ms)
            .fetch_one(&self.pool)
            .await
            .map_err(db)?;
        let overdue = sqlx::query(
            "SELECT 1 FROM commands WHERE status IN ('InProgress', 'Cancelling') AND expires_ms <= ? LIMIT 1",
        )
        .bind(now_ms)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        Ok(crate::ExpiryOutlook { next_ms: next.get("m"), overdue: overdue.is_some() })
    }

    pub(super) async fn commands_with_pending_impl(&self) -> Result<Vec<String>> {
        let rows = sqlx::query("SELECT DISTINCT command_id FROM invocations WHERE state = 'Pending'")
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        Ok(rows.iter().map(|r| r.get("command_id")).collect())
    }

    pub(super) async fn deregister_node_impl(&self, instance_id: &str, now_ms: i64) -> Result<Vec<String>> {
        let mut tx = self.write().await?;
        let done = sqlx::query("DELETE FROM nodes WHERE instance_id = ?")
            .bind(instance_id)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("node {instance_id}")));
        }
        for sql in [
            "DELETE FROM access_keys WHERE instance_id = ?",
            "DELETE FROM tags WHERE resource_type = 'ManagedInstance' AND resource_id = ?",
        ] {
            sqlx::query(sql).bind(instance_id).execute(&mut *tx).await.map_err(db)?;
        }
        let rows = sqlx::query("UPDATE invocations SET state = 'Undeliverable', updated_ms = ? WHERE instance_id = ? AND state IN ('Pending', 'Queued') RETURNING command_id")
            .bind(now_ms)
            .bind(instance_id)
            .fetch_all(&mut *tx)
            .await
            .map_err(db)?;
        let ids: Vec<String> = rows.iter().map(|r| r.get("command_id")).collect();
        for id in &ids {
            settle_in(&mut tx, id, now_ms).await?;
        }
        tx.commit().await.map_err(db)?;
        Ok(ids)
    }
}
