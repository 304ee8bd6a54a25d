//! Access keys, activations, managed nodes and tags on SQLite.

use super::{SqliteStore, db, unique};
use crate::{AccessKey, Activation, KeyKind, Node, NodeFacts, Registration, Result, StoreError};
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

pub(super) fn access_key(row: &SqliteRow) -> Result<AccessKey> {
    let kind = match row.get::<String, _>("kind").as_str() {
        "admin" => KeyKind::Admin,
        "agent" => KeyKind::Agent,
        other => return Err(StoreError::Corrupt(format!("access key kind {other}"))),
    };
    Ok(AccessKey {
        access_key_id: row.get("access_key_id"),
        secret_access_key: row.get("secret_access_key"),
        kind,
        instance_id: row.get("instance_id"),
        description: row.get("description"),
        created_ms: row.get("created_ms"),
    })
}

fn activation(row: &SqliteRow) -> Activation {
    Activation {
        activation_id: row.get("activation_id"),
        code_sha256: row.get("code_sha256"),
        description: row.get("description"),
        default_instance_name: row.get("default_instance_name"),
        iam_role: row.get("iam_role"),
        registration_limit: row.get("registration_limit"),
        registrations_count: row.get("registrations_count"),
        expiration_ms: row.get("expiration_ms"),
        created_ms: row.get("created_ms"),
    }
}

fn node(row: &SqliteRow) -> Node {
    Node {
        instance_id: row.get("instance_id"),
        activation_id: row.get("activation_id"),
        name: row.get("name"),
        iam_role: row.get("iam_role"),
        facts: NodeFacts {
            computer_name: row.get("computer_name"),
            ip_address: row.get("ip_address"),
            platform_type: row.get("platform_type"),
            platform_name: row.get("platform_name"),
            platform_version: row.get("platform_version"),
            agent_version: row.get("agent_version"),
        },
        registration_ms: row.get("registration_ms"),
        last_ping_ms: row.get("last_ping_ms"),
        tags: Vec::new(),
    }
}

const INSERT_KEY: &str = "INSERT INTO access_keys (access_key_id, secret_access_key, kind, instance_id, description, created_ms) VALUES (?, ?, ?, ?, ?, ?)";

impl SqliteStore {
    pub(super) async fn insert_access_key_impl(&self, key: &AccessKey) -> Result<()> {
        sqlx::query(INSERT_KEY)
            .bind(&key.access_key_id)
            .bind(&key.secret_access_key)
            .bind(key.kind.as_str())
            .bind(&key.instance_id)
            .bind(&key.description)
            .bind(key.created_ms)
            .execute(&self.pool)
            .await
            .map_err(unique("access key"))?;
        Ok(())
    }

    pub(super) async fn get_access_key_impl(&self, id: &str) -> Result<Option<AccessKey>> {
        let row = sqlx::query("SELECT * FROM access_keys WHERE access_key_id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        row.as_ref().map(access_key).transpose()
    }

    pub(super) async fn list_access_keys_impl(&self) -> Result<Vec<AccessKey>> {
        let rows = sqlx::query("SELECT * FROM access_keys ORDER BY created_ms, access_key_id")
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        rows.iter().map(access_key).collect()
    }

    pub(super) async fn delete_access_key_impl(&self, id: &str) -> Result<()> {
        let done = sqlx::query("DELETE FROM access_keys WHERE access_key_id = ?")
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("access key {id}")));
        }
        Ok(())
    }

    pub(super) async fn replace_access_key_secret_impl(&self, id: &str, old: &str, new: &str) -> Result<bool> {
        let mut tx = self.write().await?;
        let done = sqlx::query(
            "UPDATE access_keys SET secret_access_key = ? WHERE access_key_id = ? AND secret_access_key = ?",
        )
        .bind(new)
        .bind(id)
        .bind(old)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(done.rows_affected() == 1)
    }

    pub(super) async fn create_activation_impl(&self, a: &Activation) -> Result<()> {
        sqlx::query(
            "INSERT INTO activations (activation_id, code_sha256, description, default_instance_name, iam_role, registration_limit, registrations_count, expiration_ms, created_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&a.activation_id)
        .bind(&a.code_sha256)
        .bind(&a.description)
        .bind(&a.default_instance_name)
        .bind(&a.iam_role)
        .bind(a.registration_limit)
        .bind(a.registrations_count)
        .bind(a.expiration_ms)
        .bind(a.created_ms)
        .execute(&self.pool)
        .await
        .map_err(unique("activation"))?;
        Ok(())
    }

    pub(super) async fn list_activations_impl(&self) -> Result<Vec<Activation>> {
        let rows = sqlx::query("SELECT * FROM activations ORDER BY created_ms, activation_id")
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        Ok(rows.iter().map(activation).collect())
    }

    pub(super) async fn delete_activation_impl(&self, id: &str) -> Result<()> {
        let done = sqlx::query("DELETE FROM activations WHERE activation_id = ?")
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("activation {id}")));
        }
        Ok(())
    }

    pub(super) async fn register_node_impl(&self, r: &Registration) -> Result<Node> {
        let mut tx = self.write().await?;
        let row = sqlx::query("SELECT * FROM activations WHERE activation_id = ?")
            .bind(&r.activation_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?;
        let Some(a) = row.as_ref().map(activation) else {
            return Err(StoreError::ActivationRefused("unknown activation id".into()));
        };
        let code_ok: bool = subtle_eq(a.code_sha256.as_bytes(), r.code_sha256.as_bytes());
        if !code_ok {
            return Err(StoreError::ActivationRefused("wrong activation code".into()));
        }
        if a.expiration_ms <= r.now_ms {
            return Err(StoreError::ActivationRefused("the activation has expired".into()));
        }
        if a.registrations_count >= a.registration_limit {
            return Err(StoreError::ActivationRefused("the activation's registration limit is reached".into()));
        }
        sqlx::query("UPDATE activations SET registrations_count = registrations_count + 1 WHERE activation_id = ?")
            .bind(&a.activation_id)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        let f = &r.facts;
        sqlx::query(
            "INSERT INTO nodes (instance_id, activation_id, name, computer_name, ip_address, platform_type, platform_name, platform_version, agent_version, iam_role, registration_ms, last_ping_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&r.instance_id)
        .bind(&a.activation_id)
        .bind(&a.default_instance_name)
        .bind(&f.computer_name)
        .bind(&f.ip_address)
        .bind(&f.platform_type)
        .bind(&f.platform_name)
        .bind(&f.platform_version)
        .bind(&f.agent_version)
        .bind(&a.iam_role)
        .bind(r.now_ms)
        .bind(r.now_ms)
        .execute(&mut *tx)
        .await
        .map_err(unique("instance id"))?;
        for (key, value) in &r.tags {
            sqlx::query("INSERT OR REPLACE INTO tags (resource_type, resource_id, key, value) VALUES ('ManagedInstance', ?, ?, ?)")
                .bind(&r.instance_id)
                .bind(key)
                .bind(value)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
        }
        let k = &r.agent_key;
        sqlx::query(INSERT_KEY)
            .bind(&k.access_key_id)
            .bind(&k.secret_access_key)
            .bind(k.kind.as_str())
            .bind(&k.instance_id)
            .bind(&k.description)
            .bind(k.created_ms)
            .execute(&mut *tx)
            .await
            .map_err(unique("access key"))?;
        tx.commit().await.map_err(db)?;
        self.get_node_impl(&r.instance_id).await?.ok_or_else(|| StoreError::NotFound(r.instance_id.clone()))
    }

    pub(super) async fn get_node_impl(&self, id: &str) -> Result<Option<Node>> {
        let row = sqlx::query("SELECT * FROM nodes WHERE instance_id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        let Some(mut n) = row.as_ref().map(node) else {
            return Ok(None);
        };
        n.tags = self.list_tags_impl("ManagedInstance", id).await?;
        Ok(Some(n))
    }

    pub(super) async fn list_nodes_impl(&self) -> Result<Vec<Node>> {
        let rows = sqlx::query("SELECT * FROM nodes ORDER BY instance_id").fetch_all(&self.pool).await.map_err(db)?;
        let mut nodes: Vec<Node> = rows.iter().map(node).collect();
        let tags = sqlx::query("SELECT resource_id, key, value FROM tags WHERE resource_type = 'ManagedInstance' ORDER BY resource_id, key")
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        let mut by_node: std::collections::HashMap<String, Vec<(String, String)>> = Default::default();
        for row in &tags {
            by_node.entry(row.get("resource_id")).or_default().push((row.get("key"), row.get("value")));
        }
        for n in &mut nodes {
            n.tags = by_node.remove(&n.instance_id).unwrap_or_default();
        }
        Ok(nodes)
    }

    pub(super) async fn touch_node_impl(&self, id: &str, now_ms: i64, facts: Option<&NodeFacts>) -> Result<()> {
        let done = match facts {
            None => sqlx::query("UPDATE nodes SET last_ping_ms = ? WHERE instance_id = ?")
                .bind(now_ms)
                .bind(id)
                .execute(&self.pool)
                .await,
            Some(f) => sqlx::query(
                "UPDATE nodes SET last_ping_ms = ?, computer_name = ?, ip_address = ?, platform_type = ?, platform_name = ?, platform_version = ?, agent_version = ? WHERE instance_id = ?",
            )
            .bind(now_ms)
            .bind(&f.computer_name)
            .bind(&f.ip_address)
            .bind(&f.platform_type)
            .bind(&f.platform_name)
            .bind(&f.platform_version)
            .bind(&f.agent_version)
            .bind(id)
            .execute(&self.pool)
            .await,
        }
        .map_err(db)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("node {id}")));
        }
        Ok(())
    }

    pub(super) async fn add_tags_impl(&self, rtype: &str, rid: &str, tags: &[(String, String)]) -> Result<()> {
        let mut tx = self.write().await?;
        for (key, value) in tags {
            sqlx::query("INSERT OR REPLACE INTO tags (resource_type, resource_id, key, value) VALUES (?, ?, ?, ?)")
                .bind(rtype)
                .bind(rid)
                .bind(key)
                .bind(value)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
        }
        tx.commit().await.map_err(db)
    }

    pub(super) async fn remove_tags_impl(&self, rtype: &str, rid: &str, keys: &[String]) -> Result<()> {
        let mut tx = self.write().await?;
        for key in keys {
            sqlx::query("DELETE FROM tags WHERE resource_type = ? AND resource_id = ? AND key = ?")
                .bind(rtype)
                .bind(rid)
                .bind(key)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
        }
        tx.commit().await.map_err(db)
    }

    pub(super) async fn list_tags_impl(&self, rtype: &str, rid: &str) -> Result<Vec<(String, String)>> {
        let rows = sqlx::query("SELECT key, value FROM tags WHERE resource_type = ? AND resource_id = ? ORDER BY key")
            .bind(rtype)
            .bind(rid)
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        Ok(rows.iter().map(|r| (r.get("key"), r.get("value"))).collect())
    }
}

/// Constant-time comparison of two equal-length digests.
fn subtle_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
