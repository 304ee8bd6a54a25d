//! The invocation lifecycle on PostgreSQL: rate control, claims, results, cancel, delivery timeouts,
//! deregistration. Not the decisions themselves: which state may follow which is
//! `fleetrun_core::state::transition`, how many to release is `fleetrun_core::rate::next_step`; the
//! `WHERE state IN (…)` clauses below are the same rules in SQL, and the conformance suite checks that
//! they agree.
//!
//! Several server replicas share the database, so each function is one READ COMMITTED transaction that
//! first locks the rows of the commands it will change (`SELECT … FROM commands … FOR UPDATE`, in
//! `command_id` order when there are several). Everything that changes a command's invocations holds that
//! lock, except `claim`'s Queued → InProgress step, which no rate-control decision depends on (both states
//! hold a slot). Hence, per command: the tally read under the lock is exact apart from Queued/InProgress
//! moves, and at most MaxConcurrency invocations ever hold a slot. Each function ends with the derived
//! status and counters rewritten from that tally, as in SQLite.

use super::{PgStore, db};
use crate::{Claimed, FinishedInvocation, Result, Settled, StoreError};
use fleetrun_core::rate::{Step, next_step};
use fleetrun_core::state::{Event, InvocationState, Tally, command_status, transition};
use sqlx::{PgConnection, Row};

/// Counts a command's invocations by state.
async fn tally(conn: &mut PgConnection, command_id: &str) -> Result<Tally> {
    let rows = sqlx::query("SELECT state, COUNT(*) AS n FROM invocations WHERE command_id = $1 GROUP BY state")
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

/// Locks a command's row until the transaction ends and reads its rate-control settings.
///
/// Invariant: every transaction that changes a command's invocations (but for `claim`'s Queued →
/// InProgress) or its derived columns holds this lock first, so rate control for one command runs one
/// decision at a time across all replicas. Taking it again in the same transaction is free.
async fn lock_command(conn: &mut PgConnection, command_id: &str) -> Result<Limits> {
    let row = sqlx::query(
        "SELECT max_concurrency_n, max_errors_n, cancel_requested FROM commands WHERE command_id = $1 FOR UPDATE",
    )
    .bind(command_id)
    .fetch_optional(&mut *conn)
    .await
    .map_err(db)?
    .ok_or_else(|| StoreError::NotFound(format!("command {command_id}")))?;
    Ok(Limits {
        max_concurrency: row.get::<i64, _>("max_concurrency_n") as u32,
        max_errors: row.get::<i64, _>("max_errors_n") as u32,
        cancel_requested: row.get("cancel_requested"),
    })
}

/// Locks the rows of the given commands, in `command_id` order (the global lock order, so transactions
/// taking several never deadlock), skipping those that no longer match `condition`. Returns the ids
/// locked, sorted. `condition` is fixed SQL text on the `commands` columns, re-checked by PostgreSQL on
/// the newest row version after any wait.
async fn lock_commands(conn: &mut PgConnection, ids: &[String], condition: &'static str) -> Result<Vec<String>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT command_id FROM commands WHERE command_id = ANY($1) AND ({condition}) ORDER BY command_id FOR UPDATE"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(ids).fetch_all(&mut *conn).await.map_err(db)?;
    Ok(rows.iter().map(|r| r.get("command_id")).collect())
}

/// Rewrites a command's derived columns from its invocations, under the command's lock. Returns the new
/// status.
pub(super) async fn derive(conn: &mut PgConnection, command_id: &str) -> Result<String> {
    let limits = lock_command(conn, command_id).await?;
    let t = tally(conn, command_id).await?;
    write_derived(conn, command_id, &t, &limits).await
}

/// Writes the status and counters that follow from a tally.
///
/// A concurrent claim may have moved Queued → InProgress since the tally was read. That changes no
/// counter, and the status only through Pending → InProgress, which claims do under this same lock; it
/// can leave `undelivered` true with nothing left undelivered, which is harmless: the delivery timer then
/// finds nothing to expire and rewrites the flag.
async fn write_derived(conn: &mut PgConnection, command_id: &str, t: &Tally, limits: &Limits) -> Result<String> {
    let (status, details) = command_status(t, limits.cancel_requested, limits.max_errors);
    sqlx::query(
        "UPDATE commands SET status = $1, status_details = $2, completed_count = $3, error_count = $4, delivery_timed_out_count = $5, undelivered = $6 WHERE command_id = $7",
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

/// A tally with Queued counted as InProgress: what concurrent claims cannot change.
#[cfg(debug_assertions)]
fn without_claims(mut t: Tally) -> Tally {
    t.in_progress += t.queued;
    t.queued = 0;
    t
}

/// One round of rate control under the command's lock, then the derived columns. The tally is counted
/// once and updated by the arithmetic of what was changed (one GROUP BY per event matters on large
/// commands).
async fn settle_in(conn: &mut PgConnection, command_id: &str, now_ms: i64) -> Result<Settled> {
    let limits = lock_command(conn, command_id).await?;
    let mut t = tally(conn, command_id).await?;
    let mut released = Vec::new();
    // Invariant: in_flight (Queued + InProgress + Cancelling) <= MaxConcurrency. next_step releases at most
    // the free slots of this tally; no other transaction can add to in_flight while the lock is held
    // (claims only move Queued → InProgress, both in flight).
    match next_step(&t, limits.max_concurrency, limits.max_errors) {
        Step::Release(n) => {
            debug_assert_eq!(transition(InvocationState::Pending, Event::Release), Ok(InvocationState::Queued));
            let rows = sqlx::query(
                "UPDATE invocations SET state = 'Queued', updated_ms = $1 WHERE command_id = $2 AND instance_id IN (SELECT instance_id FROM invocations WHERE command_id = $2 AND state = 'Pending' ORDER BY seq LIMIT $3) RETURNING instance_id, seq",
            )
            .bind(now_ms)
            .bind(command_id)
            .bind(i64::from(n))
            .fetch_all(&mut *conn)
            .await
            .map_err(db)?;
            // RETURNING has no order in PostgreSQL; SQLite's engine reports the released nodes in target order.
            let mut rows: Vec<(i64, String)> = rows.iter().map(|r| (r.get("seq"), r.get("instance_id"))).collect();
            rows.sort();
            released = rows.into_iter().map(|(_, id)| id).collect::<Vec<String>>();
            t.pending -= released.len() as u32;
            t.queued += released.len() as u32;
        }
        Step::TerminateUnstarted => {
            // Waits for any claim holding one of the Queued rows; once that commits the row is InProgress
            // and no longer matches, so a started invocation is never terminated.
            let done = sqlx::query("UPDATE invocations SET state = 'Terminated', updated_ms = $1 WHERE command_id = $2 AND state IN ('Pending', 'Queued')")
                .bind(now_ms)
                .bind(command_id)
                .execute(&mut *conn)
                .await
                .map_err(db)?;
            // Claims may have taken some of the Queued ones since the tally: count what was terminated.
            let terminated = done.rows_affected() as u32;
            t.in_progress += (t.pending + t.queued).saturating_sub(terminated);
            t.terminated += terminated;
            t.pending = 0;
            t.queued = 0;
        }
        Step::Wait => {}
    }
    #[cfg(debug_assertions)]
    {
        let recount = tally(conn, command_id).await?;
        debug_assert_eq!(without_claims(t), without_claims(recount), "the tally arithmetic agrees with the rows");
    }
    let status = write_derived(conn, command_id, &t, &limits).await?;
    Ok(Settled { released, status })
}

/// Moves one invocation to `to` if it is in one of the states `from` (both fixed SQL text). Returns how
/// many rows changed (0 or 1).
async fn move_invocations(
    conn: &mut PgConnection,
    command_id: &str,
    instance_id: &str,
    from: &'static str,
    to: &'static str,
    now_ms: i64,
) -> Result<u64> {
    let sql = format!(
        "UPDATE invocations SET state = '{to}', updated_ms = $1 WHERE command_id = $2 AND instance_id = $3 AND state IN ({from})"
    );
    let done = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(now_ms)
        .bind(command_id)
        .bind(instance_id)
        .execute(&mut *conn)
        .await
        .map_err(db)?;
    Ok(done.rows_affected())
}

/// PostgreSQL text cannot hold NUL; output heads can. They become U+FFFD (the byte counts are kept).
fn text(head: &str) -> std::borrow::Cow<'_, str> {
    if head.contains('\0') { head.replace('\0', "\u{FFFD}").into() } else { head.into() }
}

impl PgStore {
    pub(super) async fn settle_impl(&self, command_id: &str, now_ms: i64) -> Result<Settled> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        let settled = settle_in(&mut tx, command_id, now_ms).await?;
        tx.commit().await.map_err(db)?;
        Ok(settled)
    }

    pub(super) async fn claim_impl(&self, instance_id: &str, now_ms: i64, limit: u32) -> Result<Vec<Claimed>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        // Most polls find nothing: answer those from a read, without a transaction.
        let queued = sqlx::query("SELECT 1 FROM invocations WHERE instance_id = $1 AND state = 'Queued' LIMIT 1")
            .bind(instance_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        if queued.is_none() {
            return Ok(Vec::new());
        }
        let mut tx = self.pool.begin().await.map_err(db)?;
        // The first claim of a command moves its status Pending → InProgress, which needs the command's
        // lock. Take it now, before any invocation lock, to keep the lock order (commands, then
        // invocations). A command's status never returns to Pending once it has left it (something has
        // started or finished), so only commands still Pending need it; after the first claims, claims run
        // in parallel without touching the command row.
        let rows = sqlx::query(
            "SELECT command_id FROM commands WHERE status = 'Pending' AND command_id IN (SELECT command_id FROM invocations WHERE instance_id = $1 AND state = 'Queued') ORDER BY command_id FOR UPDATE",
        )
        .bind(instance_id)
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?;
        let locked: Vec<String> = rows.iter().map(|r| r.get("command_id")).collect();
        // Invariant: an invocation is handed out at most once. FOR UPDATE SKIP LOCKED takes each row for
        // this transaction or passes it by: a row another replica is claiming (or cancelling, expiring…) is
        // skipped, and a row whose claim committed meanwhile is re-checked, is no longer Queued and drops
        // out. Commands that are Pending but were not locked above (released after that statement) wait
        // for the next poll, so this transaction never waits for a command lock while holding invocations.
        let rows = sqlx::query(
            "SELECT i.command_id, c.document_name, c.steps_json, c.output_s3_bucket, c.output_s3_prefix, c.extra_json FROM invocations i JOIN commands c ON c.command_id = i.command_id WHERE i.instance_id = $1 AND i.state = 'Queued' AND (c.status <> 'Pending' OR c.command_id = ANY($2)) ORDER BY c.seq, i.seq LIMIT $3 FOR UPDATE OF i SKIP LOCKED",
        )
        .bind(instance_id)
        .bind(&locked)
        .bind(i64::from(limit))
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?;
        let claimed: Vec<Claimed> = rows
            .iter()
            .map(|r| Claimed {
                command_id: r.get("command_id"),
                document_name: r.get("document_name"),
                steps_json: r.get("steps_json"),
                output_s3_bucket: r.get("output_s3_bucket"),
                output_s3_prefix: r.get("output_s3_prefix"),
                extra_json: r.get("extra_json"),
            })
            .collect();
        if claimed.is_empty() {
            return Ok(claimed);
        }
        debug_assert_eq!(transition(InvocationState::Queued, Event::Claim), Ok(InvocationState::InProgress));
        let ids: Vec<String> = claimed.iter().map(|c| c.command_id.clone()).collect();
        sqlx::query("UPDATE invocations SET state = 'InProgress', started_ms = $1, updated_ms = $1 WHERE instance_id = $2 AND command_id = ANY($3)")
            .bind(now_ms)
            .bind(instance_id)
            .bind(&ids)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        // Queued → InProgress changes no counter; the only derived change it can make is the command's
        // first step from Pending to In Progress (what `command_status` gives once anything is in progress
        // and no cancel is being carried out — a cancel leaves nothing Queued). Only commands locked above
        // can still be Pending.
        let first: Vec<&String> = ids.iter().filter(|id| locked.contains(id)).collect();
        if !first.is_empty() {
            sqlx::query("UPDATE commands SET status = 'InProgress', status_details = 'In Progress' WHERE command_id = ANY($1) AND status = 'Pending'")
                .bind(first.into_iter().cloned().collect::<Vec<String>>())
                .execute(&mut *tx)
                .await
                .map_err(db)?;
        }
        tx.commit().await.map_err(db)?;
        Ok(claimed)
    }

    pub(super) async fn finish_impl(&self, r: &FinishedInvocation) -> Result<Option<Settled>> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        // The command's lock first (a missing command shows as a missing invocation below, as in SQLite).
        sqlx::query("SELECT 1 FROM commands WHERE command_id = $1 FOR UPDATE")
            .bind(&r.command_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?;
        let row = sqlx::query("SELECT state FROM invocations WHERE command_id = $1 AND instance_id = $2 FOR UPDATE")
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
        sqlx::query("UPDATE invocations SET state = $1, response_code = $2, started_ms = $3, ended_ms = $4, updated_ms = $5 WHERE command_id = $6 AND instance_id = $7")
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
                "INSERT INTO plugins (command_id, instance_id, idx, name, action, status, response_code, started_ms, ended_ms, stdout_head, stderr_head, stdout_bytes, stderr_bytes, provenance_json) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
                 ON CONFLICT (command_id, instance_id, idx) DO UPDATE SET name = EXCLUDED.name, action = EXCLUDED.action, status = EXCLUDED.status, response_code = EXCLUDED.response_code, started_ms = EXCLUDED.started_ms, ended_ms = EXCLUDED.ended_ms, stdout_head = EXCLUDED.stdout_head, stderr_head = EXCLUDED.stderr_head, stdout_bytes = EXCLUDED.stdout_bytes, stderr_bytes = EXCLUDED.stderr_bytes, provenance_json = EXCLUDED.provenance_json",
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
            .bind(text(&p.stdout_head))
            .bind(text(&p.stderr_head))
            .bind(p.stdout_bytes)
            .bind(p.stderr_bytes)
            .bind(text(&p.provenance_json))
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
        let mut tx = self.pool.begin().await.map_err(db)?;
        lock_command(&mut tx, command_id).await?;
        sqlx::query("UPDATE commands SET cancel_requested = TRUE WHERE command_id = $1")
            .bind(command_id)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        let all: Vec<String>;
        let targets: &[String] = match instance_ids {
            Some(ids) => ids,
            None => {
                let rows = sqlx::query("SELECT instance_id FROM invocations WHERE command_id = $1 ORDER BY seq")
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
            // A Queued row being claimed right now is waited for; it is then InProgress, skipped here and
            // moved to Cancelling by the next statement (which sees the claim's commit).
            move_invocations(&mut tx, command_id, instance_id, "'Pending', 'Queued'", "Cancelled", now_ms).await?;
            if move_invocations(&mut tx, command_id, instance_id, "'InProgress'", "Cancelling", now_ms).await? > 0 {
                running.push(instance_id.clone());
            }
        }
        derive(&mut tx, command_id).await?;
        tx.commit().await.map_err(db)?;
        Ok(running)
    }

    pub(super) async fn cancels_for_impl(&self, instance_id: &str) -> Result<Vec<String>> {
        let rows = sqlx::query("SELECT command_id FROM invocations WHERE instance_id = $1 AND state = 'Cancelling'")
            .bind(instance_id)
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        Ok(rows.iter().map(|r| r.get("command_id")).collect())
    }

    pub(super) async fn expire_deliveries_impl(&self, now_ms: i64) -> Result<Vec<String>> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        // Locked in command_id order, re-checked after any wait: a command another replica has just
        // expired is no longer undelivered and is left out.
        let rows = sqlx::query(
            "SELECT command_id FROM commands WHERE undelivered AND delivery_deadline_ms <= $1 ORDER BY command_id FOR UPDATE",
        )
        .bind(now_ms)
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?;
        let ids: Vec<String> = rows.iter().map(|r| r.get("command_id")).collect();
        for id in &ids {
            sqlx::query("UPDATE invocations SET state = 'DeliveryTimedOut', updated_ms = $1 WHERE command_id = $2 AND state IN ('Pending', 'Queued')")
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
        let row = sqlx::query("SELECT MIN(delivery_deadline_ms) AS m FROM commands WHERE undelivered")
            .fetch_one(&self.pool)
            .await
            .map_err(db)?;
        Ok(row.get("m"))
    }

    pub(super) async fn abandon_silent_impl(&self, now_ms: i64, silent_since_ms: i64) -> Result<Vec<String>> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        debug_assert_eq!(transition(InvocationState::InProgress, Event::Abandon), Ok(InvocationState::Abandoned));
        // Lock the overdue commands that have a run on a silent node, then abandon those runs.
        let rows = sqlx::query(
            "SELECT c.command_id FROM commands c WHERE c.status IN ('InProgress', 'Cancelling') AND c.expires_ms <= $1 \
             AND EXISTS (SELECT 1 FROM invocations i WHERE i.command_id = c.command_id AND i.state IN ('InProgress', 'Cancelling') \
             AND i.instance_id NOT IN (SELECT instance_id FROM nodes WHERE last_ping_ms >= $2)) ORDER BY c.command_id FOR UPDATE OF c",
        )
        .bind(now_ms)
        .bind(silent_since_ms)
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?;
        let locked: Vec<String> = rows.iter().map(|r| r.get("command_id")).collect();
        let rows = sqlx::query(
            "UPDATE invocations SET state = 'Abandoned', updated_ms = $1 WHERE command_id = ANY($2) AND state IN ('InProgress', 'Cancelling') \
             AND instance_id NOT IN (SELECT instance_id FROM nodes WHERE last_ping_ms >= $3) RETURNING command_id",
        )
        .bind(now_ms)
        .bind(&locked)
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
        let next = sqlx::query("SELECT MIN(expires_ms) AS m FROM commands WHERE status IN ('Pending', 'InProgress', 'Cancelling') AND expires_ms > $1")
            .bind(now_ms)
            .fetch_one(&self.pool)
            .await
            .map_err(db)?;
        let overdue = sqlx::query(
            "SELECT 1 FROM commands WHERE status IN ('InProgress', 'Cancelling') AND expires_ms <= $1 LIMIT 1",
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
        let mut tx = self.pool.begin().await.map_err(db)?;
        let done = sqlx::query("DELETE FROM nodes WHERE instance_id = $1")
            .bind(instance_id)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("node {instance_id}")));
        }
        for sql in [
            "DELETE FROM access_keys WHERE instance_id = $1",
            "DELETE FROM tags WHERE resource_type = 'ManagedInstance' AND resource_id = $1",
        ] {
            sqlx::query(sql).bind(instance_id).execute(&mut *tx).await.map_err(db)?;
        }
        // Lock the commands with undelivered work on this node before touching their invocations.
        let rows = sqlx::query(
            "SELECT DISTINCT command_id FROM invocations WHERE instance_id = $1 AND state IN ('Pending', 'Queued')",
        )
        .bind(instance_id)
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?;
        let candidates: Vec<String> = rows.iter().map(|r| r.get("command_id")).collect();
        let locked = lock_commands(&mut tx, &candidates, "TRUE").await?;
        let rows = sqlx::query("UPDATE invocations SET state = 'Undeliverable', updated_ms = $1 WHERE instance_id = $2 AND command_id = ANY($3) AND state IN ('Pending', 'Queued') RETURNING command_id")
            .bind(now_ms)
            .bind(instance_id)
            .bind(&locked)
            .fetch_all(&mut *tx)
            .await
            .map_err(db)?;
        let mut ids: Vec<String> = rows.iter().map(|r| r.get("command_id")).collect();
        ids.sort();
        for id in &ids {
            settle_in(&mut tx, id, now_ms).await?;
        }
        tx.commit().await.map_err(db)?;
        Ok(ids)
    }
}
