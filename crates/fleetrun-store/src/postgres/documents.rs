//! Documents and their versions on PostgreSQL. Not document parsing or validation: the façades do that.
//!
//! Version numbers are read-then-written (latest + 1), so writers lock the `documents` row first; two
//! replicas adding a version to one document at once then get versions N+1 and N+2, as SQLite would.

use super::{PgStore, db, unique};
use crate::{DocumentVersion, NewDocument, NewDocumentVersion, Result, StoreError, VersionSelector};
use sqlx::Row;
use sqlx::postgres::PgRow;

const SELECT: &str = "SELECT d.name, d.owner, d.document_type, d.default_version, d.latest_version, d.created_ms AS document_created_ms, v.version, v.version_name, v.display_name, v.content, v.format, v.hash, v.target_type, v.created_ms FROM documents d JOIN document_versions v ON v.name = d.name";

const INSERT_DOCUMENT: &str = "INSERT INTO documents (name, owner, document_type, default_version, latest_version, created_ms) VALUES ($1, $2, $3, 1, 1, $4)";

fn version(row: &PgRow) -> DocumentVersion {
    DocumentVersion {
        name: row.get("name"),
        owner: row.get("owner"),
        document_type: row.get("document_type"),
        version: row.get("version"),
        default_version: row.get("default_version"),
        latest_version: row.get("latest_version"),
        version_name: row.get("version_name"),
        display_name: row.get("display_name"),
        content: row.get("content"),
        format: row.get("format"),
        hash: row.get("hash"),
        target_type: row.get("target_type"),
        created_ms: row.get("created_ms"),
        document_created_ms: row.get("document_created_ms"),
    }
}

async fn insert_version(tx: &mut sqlx::PgConnection, name: &str, number: i64, v: &NewDocumentVersion) -> Result<()> {
    sqlx::query(
        "INSERT INTO document_versions (name, version, version_name, display_name, content, format, hash, target_type, created_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(name)
    .bind(number)
    .bind(&v.version_name)
    .bind(&v.display_name)
    .bind(&v.content)
    .bind(&v.format)
    .bind(&v.hash)
    .bind(&v.target_type)
    .bind(v.now_ms)
    .execute(tx)
    .await
    .map_err(unique("document version"))?;
    Ok(())
}

impl PgStore {
    pub(super) async fn create_document_impl(&self, d: &NewDocument) -> Result<DocumentVersion> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        sqlx::query(INSERT_DOCUMENT)
            .bind(&d.name)
            .bind(&d.owner)
            .bind(&d.document_type)
            .bind(d.now_ms)
            .execute(&mut *tx)
            .await
            .map_err(unique("document"))?;
        insert_version(&mut tx, &d.name, 1, &d.version).await?;
        tx.commit().await.map_err(db)?;
        self.require(&d.name, VersionSelector::Number(1)).await
    }

    pub(super) async fn add_document_version_impl(
        &self,
        name: &str,
        v: &NewDocumentVersion,
    ) -> Result<DocumentVersion> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        // Invariant: versions are numbered 1, 2, … without gaps at creation. Locking the document row
        // serializes concurrent additions, so each reads the latest_version the previous one wrote.
        let row = sqlx::query("SELECT d.latest_version, v.hash, v.version_name FROM documents d JOIN document_versions v ON v.name = d.name AND v.version = d.latest_version WHERE d.name = $1 FOR UPDATE OF d")
            .bind(name)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?;
        let Some(row) = row else {
            return Err(StoreError::NotFound(format!("document {name}")));
        };
        let latest: i64 = row.get("latest_version");
        if row.get::<String, _>("hash") == v.hash {
            return Err(StoreError::Conflict("the content is the same as the latest version's".into()));
        }
        if let Some(version_name) = &v.version_name {
            let taken = sqlx::query("SELECT 1 FROM document_versions WHERE name = $1 AND version_name = $2")
                .bind(name)
                .bind(version_name)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db)?;
            if taken.is_some() {
                return Err(StoreError::AlreadyExists(format!("version name {version_name}")));
            }
        }
        insert_version(&mut tx, name, latest + 1, v).await?;
        sqlx::query("UPDATE documents SET latest_version = $1 WHERE name = $2")
            .bind(latest + 1)
            .bind(name)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)?;
        self.require(name, VersionSelector::Number(latest + 1)).await
    }

    pub(super) async fn upsert_builtin_document_impl(&self, d: &NewDocument) -> Result<()> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        // Replicas starting together all upsert the built-ins: ON CONFLICT makes the loser of the insert
        // wait for the winner's commit and then take the "exists" branch, instead of failing start-up.
        let inserted = sqlx::query(
            "INSERT INTO documents (name, owner, document_type, default_version, latest_version, created_ms) VALUES ($1, $2, $3, 1, 1, $4) ON CONFLICT (name) DO NOTHING RETURNING name",
        )
        .bind(&d.name)
        .bind(&d.owner)
        .bind(&d.document_type)
        .bind(d.now_ms)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        if inserted.is_some() {
            insert_version(&mut tx, &d.name, 1, &d.version).await?;
            return tx.commit().await.map_err(db);
        }
        let existing = sqlx::query("SELECT v.hash FROM documents d LEFT JOIN document_versions v ON v.name = d.name AND v.version = 1 WHERE d.name = $1 FOR UPDATE OF d")
            .bind(&d.name)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?
            .and_then(|row| row.get::<Option<String>, _>("hash"));
        match existing {
            Some(hash) if hash == d.version.hash => {}
            Some(_) => {
                sqlx::query(
                    "UPDATE document_versions SET content = $1, format = $2, hash = $3 WHERE name = $4 AND version = 1",
                )
                .bind(&d.version.content)
                .bind(&d.version.format)
                .bind(&d.version.hash)
                .bind(&d.name)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
            }
            None => {
                // The name is taken but has no version 1 (or the document vanished meanwhile): SQLite's
                // engine fails here on the documents insert; repeating that insert fails the same way.
                sqlx::query(INSERT_DOCUMENT)
                    .bind(&d.name)
                    .bind(&d.owner)
                    .bind(&d.document_type)
                    .bind(d.now_ms)
                    .execute(&mut *tx)
                    .await
                    .map_err(db)?;
                insert_version(&mut tx, &d.name, 1, &d.version).await?;
            }
        }
        tx.commit().await.map_err(db)
    }

    pub(super) async fn get_document_impl(
        &self,
        name: &str,
        sel: VersionSelector<'_>,
    ) -> Result<Option<DocumentVersion>> {
        let query = match sel {
            VersionSelector::Default => sqlx::query(sqlx::AssertSqlSafe(format!(
                "{SELECT} WHERE d.name = $1 AND v.version = d.default_version"
            )))
            .bind(name),
            VersionSelector::Latest => {
                sqlx::query(sqlx::AssertSqlSafe(format!("{SELECT} WHERE d.name = $1 AND v.version = d.latest_version")))
                    .bind(name)
            }
            VersionSelector::Number(n) => {
                sqlx::query(sqlx::AssertSqlSafe(format!("{SELECT} WHERE d.name = $1 AND v.version = $2")))
                    .bind(name)
                    .bind(n)
            }
            VersionSelector::Named(version_name) => {
                sqlx::query(sqlx::AssertSqlSafe(format!("{SELECT} WHERE d.name = $1 AND v.version_name = $2")))
                    .bind(name)
                    .bind(version_name.to_string())
            }
        };
        let row = query.fetch_optional(&self.pool).await.map_err(db)?;
        Ok(row.as_ref().map(version))
    }

    async fn require(&self, name: &str, sel: VersionSelector<'_>) -> Result<DocumentVersion> {
        self.get_document_impl(name, sel).await?.ok_or_else(|| StoreError::NotFound(format!("document {name}")))
    }

    pub(super) async fn list_documents_impl(&self) -> Result<Vec<DocumentVersion>> {
        let rows =
            sqlx::query(sqlx::AssertSqlSafe(format!("{SELECT} WHERE v.version = d.default_version ORDER BY d.name")))
                .fetch_all(&self.pool)
                .await
                .map_err(db)?;
        Ok(rows.iter().map(version).collect())
    }

    pub(super) async fn list_document_versions_impl(&self, name: &str) -> Result<Vec<DocumentVersion>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!("{SELECT} WHERE d.name = $1 ORDER BY v.version")))
            .bind(name)
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        Ok(rows.iter().map(version).collect())
    }

    pub(super) async fn set_default_version_impl(&self, name: &str, number: i64) -> Result<DocumentVersion> {
        // One statement, as in SQLite: the row is updated only if the version exists.
        let done = sqlx::query("UPDATE documents SET default_version = $1 WHERE name = $2 AND EXISTS (SELECT 1 FROM document_versions WHERE name = $2 AND version = $1)")
            .bind(number)
            .bind(name)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("document {name} version {number}")));
        }
        self.require(name, VersionSelector::Number(number)).await
    }

    pub(super) async fn delete_document_impl(&self, name: &str, number: Option<i64>) -> Result<()> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        let Some(number) = number else {
            let done =
                sqlx::query("DELETE FROM documents WHERE name = $1").bind(name).execute(&mut *tx).await.map_err(db)?;
            if done.rows_affected() == 0 {
                return Err(StoreError::NotFound(format!("document {name}")));
            }
            return tx.commit().await.map_err(db);
        };
        // Locked so that the default version checked here is still the default when the row is deleted.
        let row = sqlx::query("SELECT default_version, latest_version FROM documents WHERE name = $1 FOR UPDATE")
            .bind(name)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?;
        let Some(row) = row else {
            return Err(StoreError::NotFound(format!("document {name}")));
        };
        if row.get::<i64, _>("default_version") == number {
            return Err(StoreError::Conflict(
                "the default version cannot be deleted; delete the document or change its default version first".into(),
            ));
        }
        let done = sqlx::query("DELETE FROM document_versions WHERE name = $1 AND version = $2")
            .bind(name)
            .bind(number)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("document {name} version {number}")));
        }
        let latest: i64 = sqlx::query("SELECT MAX(version) AS m FROM document_versions WHERE name = $1")
            .bind(name)
            .fetch_one(&mut *tx)
            .await
            .map_err(db)?
            .get("m");
        sqlx::query("UPDATE documents SET latest_version = $1 WHERE name = $2")
            .bind(latest)
            .bind(name)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)
    }
}
