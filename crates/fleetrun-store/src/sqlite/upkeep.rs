//! Leases and retention on SQLite. One process owns a SQLite database, so a lease is always this
//! process's to take; the table keeps the behaviour the same as PostgreSQL's for the conformance suite.

use super::{SqliteStore, db};
use crate::Result;
use sqlx::Row;

impl SqliteStore {
    pub(super) async fn acquire_lease_impl(&self, name: &str, holder: &str, ttl_ms: i64) -> Result<bool> {
        let now = crate::wall_clock_ms();
        let mut tx = self.write().await?;
        let row = sqlx::query(
            "INSERT INTO leases (name, holder, expires_ms) VALUES (?1, ?2, ?3) \
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_ms = excluded.expires_ms \
             WHERE leases.holder = excluded.holder OR leases.expires_ms < ?4 RETURNING holder",
        )
        .bind(name)
        .bind(holder)
        .bind(now + ttl_ms)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(row.is_some())
    }

    pub(super) async fn release_lease_impl(&self, name: &str, holder: &str) -> Result<()> {
        let mut tx = self.write().await?;
        sqlx::query("DELETE FROM leases WHERE name = ? AND holder = ?")
            .bind(name)
            .bind(holder)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(())
    }

    pub(super) async fn finished_before_impl(&self, before_ms: i64, limit: u32) -> Result<Vec<String>> {
        // Oldest first by creation order (the primary key), so the scan stops after `limit` finds.
        let rows = sqlx::query(
            "SELECT command_id FROM commands WHERE requested_ms < ? AND status IN ('Success', 'Cancelled', 'Failed', 'TimedOut') ORDER BY seq LIMIT ?",
        )
        .bind(before_ms)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        Ok(rows.iter().map(|r| r.get("command_id")).collect())
    }

    pub(super) async fn delete_commands_impl(&self, ids: &[String]) -> Result<Vec<String>> {
        let mut tx = self.write().await?;
        let mut deleted = Vec::new();
        for id in ids {
            // Invocations and plugin rows go with their command (ON DELETE CASCADE).
            let done = sqlx::query(
                "DELETE FROM commands WHERE command_id = ? AND status IN ('Success', 'Cancelled', 'Failed', 'TimedOut')",
            )
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
            if done.rows_affected() > 0 {
                deleted.push(id.clone());
            }
        }
        tx.commit().await.map_err(db)?;
        Ok(deleted)
    }
}
