//! Runs the store conformance suite against SQLite: in memory and in a file (WAL, a pool of connections).

use fleetrun_store::conformance;
use fleetrun_store::sqlite::SqliteStore;

#[tokio::test]
async fn sqlite_memory_conforms() {
    let store = SqliteStore::memory().await.unwrap();
    conformance::run_all(&store).await;
}

#[tokio::test]
async fn sqlite_file_conforms_and_persists() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fleetrun.db");
    {
        let store = SqliteStore::open(&path).await.unwrap();
        conformance::run_all(&store).await;
    }
    // Reopening runs the migrations again (a no-op) and sees the same data.
    let store = SqliteStore::open(&path).await.unwrap();
    use fleetrun_store::Store;
    assert!(store.get_command("cmd-rc").await.unwrap().is_some());
}
