//! The Parameter Store on PostgreSQL: parameters, versions, labels, and the master key check values. Not
//! encryption or validation: values arrive sealed and names checked (see `parameters_model.rs`).
//!
//! Writers of one parameter serialize on its `parameters` row: `put_parameter` and
//! `label_parameter_version` lock it (`FOR UPDATE`) before reading the latest version, so two replicas
//! writing one name get versions N+1 and N+2 (or a Conflict), as SQLite would. A transaction that takes
//! several such rows (`delete_parameters`) takes them in name order, so these transactions cannot deadlock.
//! `replace_sealed` updates one version row and takes no other lock.

use super::{PgStore, db};
use crate::parameters_model::{
    check_put, label_limit_exceeded, prefix_upper_bound, version_limit_exceeded, version_not_found,
};
use crate::{
    MAX_LABELS_PER_VERSION, MAX_PARAMETER_VERSIONS, NewParameter, ParamSelector, ParameterQuery, ParameterVersion,
    Result, StoreError, StoredValue,
};
use sqlx::postgres::PgRow;
use sqlx::{Postgres, QueryBuilder, Row};

/// A version with its labels, read in one statement so that the labels are those of the same snapshot.
/// Callers add the `WHERE`.
const SELECT: &str = "SELECT v.name, v.version, v.param_type, v.value_text, v.value_sealed, v.description, v.allowed_pattern, v.key_id, v.tier, v.data_type, v.modified_ms, v.modified_user, ARRAY(SELECT l.label FROM parameter_labels l WHERE l.name = v.name AND l.version = v.version ORDER BY l.label) AS labels FROM parameter_versions v";

fn parameter_version(row: &PgRow) -> Result<ParameterVersion> {
    let name: String = row.get("name");
    let version: i64 = row.get("version");
    let value = StoredValue::from_columns(row.get("value_text"), row.get("value_sealed"), &name, version)?;
    Ok(ParameterVersion {
        name,
        version,
        param_type: row.get("param_type"),
        value,
        description: row.get("description"),
        allowed_pattern: row.get("allowed_pattern"),
        key_id: row.get("key_id"),
        tier: row.get("tier"),
        data_type: row.get("data_type"),
        labels: row.get("labels"),
        modified_ms: row.get("modified_ms"),
        modified_user: row.get("modified_user"),
    })
}

/// Locks a parameter's row and returns its latest version, or None when there is no such parameter.
async fn lock_parameter(tx: &mut sqlx::PgConnection, name: &str) -> Result<Option<i64>> {
    sqlx::query_scalar("SELECT latest_version FROM parameters WHERE name = $1 FOR UPDATE")
        .bind(name)
        .fetch_optional(tx)
        .await
        .map_err(db)
}

impl PgStore {
    pub(super) async fn put_parameter_impl(
        &self,
        p: &NewParameter,
        overwrite: bool,
        expected_latest: i64,
    ) -> Result<ParameterVersion> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        // Invariant: a parameter's versions are written one at a time. A new name gets a placeholder row
        // (latest_version 0) first, so that there is a row to lock: a concurrent creator of the same name
        // waits on the insert until this transaction ends, then reads what it left. Every error below
        // rolls the placeholder back with the rest.
        sqlx::query("INSERT INTO parameters (name, latest_version) VALUES ($1, 0) ON CONFLICT (name) DO NOTHING")
            .bind(&p.name)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        let latest = lock_parameter(&mut tx, &p.name).await?.unwrap_or(0);
        check_put(&p.name, latest, overwrite, expected_latest)?;
        let mut description = p.description.clone();
        if latest > 0 {
            if description.is_none() {
                description =
                    sqlx::query_scalar("SELECT description FROM parameter_versions WHERE name = $1 AND version = $2")
                        .bind(&p.name)
                        .bind(latest)
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(db)?;
            }
            let (count, oldest): (i64, i64) =
                sqlx::query_as("SELECT COUNT(*), MIN(version) FROM parameter_versions WHERE name = $1")
                    .bind(&p.name)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(db)?;
            if count >= MAX_PARAMETER_VERSIONS {
                let labelled = sqlx::query("SELECT 1 FROM parameter_labels WHERE name = $1 AND version = $2 LIMIT 1")
                    .bind(&p.name)
                    .bind(oldest)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(db)?;
                if labelled.is_some() {
                    return Err(version_limit_exceeded(&p.name, oldest));
                }
                sqlx::query("DELETE FROM parameter_versions WHERE name = $1 AND version = $2")
                    .bind(&p.name)
                    .bind(oldest)
                    .execute(&mut *tx)
                    .await
                    .map_err(db)?;
            }
        } else {
            // A new parameter starts with only its own tags, whatever an earlier one of that name left.
            sqlx::query("DELETE FROM tags WHERE resource_type = 'Parameter' AND resource_id = $1")
                .bind(&p.name)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
        }
        let version = latest + 1;
        sqlx::query("UPDATE parameters SET latest_version = $1 WHERE name = $2")
            .bind(version)
            .bind(&p.name)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        let (value_text, value_sealed) = p.value.columns();
        sqlx::query(
            "INSERT INTO parameter_versions (name, version, param_type, value_text, value_sealed, description, allowed_pattern, key_id, tier, data_type, modified_ms, modified_user) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(&p.name)
        .bind(version)
        .bind(&p.param_type)
        .bind(value_text)
        .bind(value_sealed)
        .bind(&description)
        .bind(&p.allowed_pattern)
        .bind(&p.key_id)
        .bind(&p.tier)
        .bind(&p.data_type)
        .bind(p.now_ms)
        .bind(&p.user)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        for (key, value) in &p.tags {
            sqlx::query(
                "INSERT INTO tags (resource_type, resource_id, key, value) VALUES ('Parameter', $1, $2, $3) ON CONFLICT (resource_type, resource_id, key) DO UPDATE SET value = EXCLUDED.value",
            )
            .bind(&p.name)
            .bind(key)
            .bind(value)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        }
        tx.commit().await.map_err(db)?;
        Ok(ParameterVersion {
            name: p.name.clone(),
            version,
            param_type: p.param_type.clone(),
            value: p.value.clone(),
            description,
            allowed_pattern: p.allowed_pattern.clone(),
            key_id: p.key_id.clone(),
            tier: p.tier.clone(),
            data_type: p.data_type.clone(),
            labels: Vec::new(),
            modified_ms: p.now_ms,
            modified_user: p.user.clone(),
        })
    }

    pub(super) async fn get_parameter_impl(
        &self,
        name: &str,
        selector: ParamSelector<'_>,
    ) -> Result<Option<ParameterVersion>> {
        let query = match selector {
            ParamSelector::Latest => sqlx::query(sqlx::AssertSqlSafe(format!(
                "{SELECT} WHERE v.name = $1 AND v.version = (SELECT latest_version FROM parameters WHERE name = v.name)"
            )))
            .bind(name),
            ParamSelector::Version(version) => {
                sqlx::query(sqlx::AssertSqlSafe(format!("{SELECT} WHERE v.name = $1 AND v.version = $2")))
                    .bind(name)
                    .bind(version)
            }
            ParamSelector::Label(label) => sqlx::query(sqlx::AssertSqlSafe(format!(
                "{SELECT} WHERE v.name = $1 AND v.version = (SELECT version FROM parameter_labels WHERE name = v.name AND label = $2)"
            )))
            .bind(name)
            .bind(label.to_string()),
        };
        let row = query.fetch_optional(&self.pool).await.map_err(db)?;
        row.as_ref().map(parameter_version).transpose()
    }

    pub(super) async fn list_parameters_impl(&self, q: &ParameterQuery) -> Result<Vec<ParameterVersion>> {
        // Driven by the parameters' primary key (COLLATE "C", so bytewise like the bounds): the prefix
        // and `after` bound a range of it, read in order.
        let mut query: QueryBuilder<Postgres> = QueryBuilder::new(SELECT);
        query.push(" JOIN parameters p ON p.name = v.name AND p.latest_version = v.version WHERE TRUE");
        if let Some(prefix) = &q.prefix {
            query.push(" AND p.name >= ").push_bind(prefix.clone());
            if let Some(upper) = prefix_upper_bound(prefix) {
                query.push(" AND p.name < ").push_bind(upper);
            }
        }
        if let Some(after) = &q.after {
            query.push(" AND p.name > ").push_bind(after.clone());
        }
        query.push(" ORDER BY p.name LIMIT ").push_bind(i64::from(q.limit));
        let rows = query.build().fetch_all(&self.pool).await.map_err(db)?;
        rows.iter().map(parameter_version).collect()
    }

    pub(super) async fn parameter_history_impl(&self, name: &str) -> Result<Vec<ParameterVersion>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!("{SELECT} WHERE v.name = $1 ORDER BY v.version")))
            .bind(name)
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        rows.iter().map(parameter_version).collect()
    }

    pub(super) async fn label_parameter_version_impl(
        &self,
        name: &str,
        version: Option<i64>,
        labels: &[String],
        now_ms: i64,
    ) -> Result<i64> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        // Locking the parameter keeps a concurrent write from dropping the version being labelled, and
        // makes the label count below exact.
        let Some(latest) = lock_parameter(&mut tx, name).await? else {
            return Err(StoreError::NotFound(format!("parameter {name}")));
        };
        let version = version.unwrap_or(latest);
        let exists = sqlx::query("SELECT 1 FROM parameter_versions WHERE name = $1 AND version = $2")
            .bind(name)
            .bind(version)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?;
        if exists.is_none() {
            return Err(version_not_found(name, version));
        }
        // A label is on one version at a time: attaching it here takes it off any other.
        sqlx::query(
            "INSERT INTO parameter_labels (name, label, version, labelled_ms) SELECT $1, label, $2, $3 FROM UNNEST($4::text[]) AS label ON CONFLICT (name, label) DO UPDATE SET version = EXCLUDED.version, labelled_ms = EXCLUDED.labelled_ms WHERE parameter_labels.version <> EXCLUDED.version",
        )
        .bind(name)
        .bind(version)
        .bind(now_ms)
        .bind(dedup(labels))
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM parameter_labels WHERE name = $1 AND version = $2")
            .bind(name)
            .bind(version)
            .fetch_one(&mut *tx)
            .await
            .map_err(db)?;
        if count > MAX_LABELS_PER_VERSION {
            // Dropping the transaction rolls the moves back: all labels are attached, or none.
            return Err(label_limit_exceeded(name, version));
        }
        tx.commit().await.map_err(db)?;
        Ok(version)
    }

    pub(super) async fn delete_parameters_impl(&self, names: &[String]) -> Result<Vec<String>> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        let mut deleted = std::collections::HashSet::new();
        // In name order: the lock order of transactions that take several parameters (see above).
        for name in dedup(names) {
            // Versions and labels go with the parameter (ON DELETE CASCADE).
            let done = sqlx::query("DELETE FROM parameters WHERE name = $1")
                .bind(&name)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
            if done.rows_affected() == 0 {
                continue;
            }
            sqlx::query("DELETE FROM tags WHERE resource_type = 'Parameter' AND resource_id = $1")
                .bind(&name)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
            deleted.insert(name);
        }
        tx.commit().await.map_err(db)?;
        // In the caller's order, each once, as SQLite returns them.
        let mut seen = std::collections::HashSet::new();
        Ok(names.iter().filter(|n| deleted.contains(*n) && seen.insert(n.as_str())).cloned().collect())
    }

    pub(super) async fn sealed_values_impl(
        &self,
        after: Option<(&str, i64)>,
        limit: u32,
    ) -> Result<Vec<(String, i64, Vec<u8>)>> {
        let rows = match after {
            None => sqlx::query(
                "SELECT name, version, value_sealed FROM parameter_versions WHERE value_sealed IS NOT NULL ORDER BY name, version LIMIT $1",
            )
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await,
            Some((name, version)) => sqlx::query(
                "SELECT name, version, value_sealed FROM parameter_versions WHERE value_sealed IS NOT NULL AND (name, version) > ($1, $2) ORDER BY name, version LIMIT $3",
            )
            .bind(name)
            .bind(version)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await,
        }
        .map_err(db)?;
        Ok(rows.iter().map(|row| (row.get("name"), row.get("version"), row.get("value_sealed"))).collect())
    }

    pub(super) async fn replace_sealed_impl(&self, name: &str, version: i64, old: &[u8], new: &[u8]) -> Result<bool> {
        // One statement: the row lock it takes makes the compare and the swap atomic.
        let done = sqlx::query(
            "UPDATE parameter_versions SET value_sealed = $1 WHERE name = $2 AND version = $3 AND value_sealed = $4",
        )
        .bind(new)
        .bind(name)
        .bind(version)
        .bind(old)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(done.rows_affected() == 1)
    }

    pub(super) async fn master_key_checks_impl(&self) -> Result<Vec<(String, u32, Vec<u8>)>> {
        let rows = sqlx::query("SELECT name, version, check_value FROM master_key_checks ORDER BY name, version")
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        rows.iter()
            .map(|row| {
                let name: String = row.get("name");
                let version = u32::try_from(row.get::<i64, _>("version"))
                    .map_err(|_| StoreError::Corrupt(format!("master key check {name} has a bad version")))?;
                Ok((name, version, row.get("check_value")))
            })
            .collect()
    }

    pub(super) async fn put_master_key_check_impl(&self, name: &str, version: u32, check: &[u8]) -> Result<bool> {
        // Replicas starting together race here: ON CONFLICT makes the later insert a no-op, not an error.
        let done = sqlx::query(
            "INSERT INTO master_key_checks (name, version, check_value) VALUES ($1, $2, $3) ON CONFLICT (name, version) DO NOTHING",
        )
        .bind(name)
        .bind(i64::from(version))
        .bind(check)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(done.rows_affected() == 1)
    }

    pub(super) async fn delete_master_key_check_impl(&self, name: &str, version: u32) -> Result<()> {
        sqlx::query("DELETE FROM master_key_checks WHERE name = $1 AND version = $2")
            .bind(name)
            .bind(i64::from(version))
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(())
    }
}

/// The distinct strings, sorted. PostgreSQL refuses to update one row twice in one `INSERT … ON CONFLICT`,
/// and sorted names give `delete_parameters` its lock order.
fn dedup(strings: &[String]) -> Vec<String> {
    let mut sorted = strings.to_vec();
    sorted.sort();
    sorted.dedup();
    sorted
}
