//! Choosing the engine from a database URL: `postgres://…` (or `postgresql://…`) for PostgreSQL, which
//! several server replicas can share; `sqlite:///path/to/file.db`, or nothing, for the embedded SQLite
//! default under the data directory.

use crate::postgres::PgStore;
use crate::sqlite::SqliteStore;
use crate::{Result, Store, StoreError};
use std::path::Path;
use std::sync::Arc;

/// Opens the store a URL names; without one, SQLite at `default_sqlite`. Runs the engine's migrations.
pub async fn open_url(url: Option<&str>, default_sqlite: &Path) -> Result<Arc<dyn Store>> {
    match url {
        None => Ok(Arc::new(SqliteStore::open(default_sqlite).await?)),
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            Ok(Arc::new(PgStore::connect(url).await?))
        }
        Some(url) => match url.strip_prefix("sqlite://") {
            Some(path) if !path.is_empty() => Ok(Arc::new(SqliteStore::open(Path::new(path)).await?)),
            _ => Err(StoreError::Unsupported(format!(
                "database URL {:?} is not supported: use postgres://user@host:port/database or sqlite:///path/to/file.db",
                redact(url)
            ))),
        },
    }
}

/// A URL fit for an error message: any password is replaced.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}://{user}:***@{}", &url[..scheme_end], &url[at + 1..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords() {
        assert_eq!(redact("postgres://u:secret@h:5432/db"), "postgres://u:***@h:5432/db");
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact("sqlite:///tmp/x.db"), "sqlite:///tmp/x.db");
    }

    #[tokio::test]
    async fn refuses_unknown_schemes() {
        let dir = tempfile::tempdir().unwrap();
        for url in ["mysql://u:pw@h/db", "sqlite://", "nonsense"] {
            let error = open_url(Some(url), &dir.path().join("x.db")).await.err().expect("refused");
            assert!(matches!(error, StoreError::Unsupported(_)), "{url}: {error}");
            assert!(!error.to_string().contains("pw@"), "no password in errors");
        }
        let sqlite = dir.path().join("explicit.db");
        let url = format!("sqlite://{}", sqlite.display());
        open_url(Some(&url), &dir.path().join("x.db")).await.unwrap();
        assert!(sqlite.exists());
    }
}
