//! Leases and retention on PostgreSQL. A lease's expiry is judged by the database's clock
//! (`clock_timestamp()`), so replicas whose clocks disagree still agree on who holds it.

use super::{PgStore, db};
use crate::Result;
use sqlx::Row;

/// The database's wall clock in milliseconds since the Unix epoch, as SQL.
const DB_NOW_MS: &str = "(extract(epoch FROM clock_timestamp()) * 1000)::bigint";

impl PgStore {
    pub(super) async fn acquire_lease_impl(&self, name: &str, holder: &str, ttl_ms: i64) -> Result<bool> {
        // One statement: PostgreSQL's ON CONFLICT takes the row lock, so two replicas racing for an
        // expired lease cannot both win.
        let sql = format!(
            "INSERT INTO leases (name, holder, expires_ms) VALUES ($1, $2, {DB_NOW_MS} + $3) \
             ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, expires_ms = EXCLUDED.expires_ms \
             WHERE leases.holder = EXCLUDED.holder OR leases.expires_ms < {DB_NOW_MS} RETURNING holder"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(name)
            .bind(holder)
            .bind(ttl_ms)
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        Ok(row.is_some())
    }

    pub(super) async fn release_lease_impl(&self, name: &str, holder: &str) -> Result<()> {
        sqlx::query("DELETE FROM leases WHERE name = $1 AND holder = $2")
            .bind(name)
            .bind(holder)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(())
    }

    pub(super) async fn finished_before_impl(&self, before_ms: i64, limit: u32) -> Result<Vec<String>> {
        // Oldest first by creation order (the primary key), so the scan stops after `limit` finds.
        let rows = sqlx::query(
            "SELECT command_id FROM commands WHERE requested_ms < $1 AND status IN ('Success', 'Cancelled', 'Failed', 'TimedOut') ORDER BY seq LIMIT $2",
        )
        .bind(before_ms)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        Ok(rows.iter().map(|r| r.get("command_id")).collect())
    }

    pub(super) async fn delete_commands_impl(&self, ids: &[String]) -> Result<Vec<String>> {
        // Invocations and plugin rows go with their command (ON DELETE CASCADE). A late result for an
        // Abandoned invocation holds the command's row lock; the delete then waits and re-checks the status.
        let rows = sqlx::query(
            "DELETE FROM commands WHERE command_id = ANY($1) AND status IN ('Success', 'Cancelled', 'Failed', 'TimedOut') RETURNING command_id",
        )
        .bind(ids)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        Ok(rows.iter().map(|r| r.get("command_id")).collect())
    }
}
