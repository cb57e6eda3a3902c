//! A store that ran out of space keeps working once space is back: no write
//! acknowledged after a failure is lost.
//!
//! SQLite can roll a transaction back by itself when a write fails with
//! `SQLITE_FULL`; sqlx 0.8's own `ROLLBACK` then fails, its transaction depth
//! stays at one, and every later transaction on that connection becomes a
//! savepoint. The first of those rolled back leaves SQLite inside a
//! transaction that nothing commits, so every "committed" write after it is
//! lost. A full disk is simulated with `PRAGMA max_page_count`.

use sqlx::{Connection as _, Row as _};

use crate::common;

/// Rows whose `label` is `label`, read over a connection of its own (what a
/// restarted scheduler, or another replica, would see).
async fn committed_rows(path: &std::path::Path, label: &str) -> i64 {
    let url = format!("sqlite://{}", path.display());
    let mut reader = sqlx::AnyConnection::connect(&url).await.unwrap();
    let count: i64 = sqlx::query("SELECT COUNT(*) AS n FROM filler WHERE label = $1")
        .bind(label)
        .fetch_one(&mut reader)
        .await
        .unwrap()
        .try_get("n")
        .unwrap();
    reader.close().await.unwrap();
    count
}

async fn insert(store: &kiln_scheduler::Store, label: &str, bytes: usize) -> Result<(), String> {
    let mut tx = store.begin().await.map_err(|e| e.to_string())?;
    sqlx::query("INSERT INTO filler (label, body) VALUES ($1, $2)")
        .bind(label)
        .bind(vec![0x5a_u8; bytes])
        .execute(&mut *tx)
        .await
        .map_err(|e| e.to_string())?;
    tx.commit().await.map_err(|e| e.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_after_a_full_disk_are_committed() {
    let (store, dir) = common::sqlite().await;
    let path = dir.path().join("scheduler.db");
    {
        let mut conn = store.acquire().await.unwrap();
        sqlx::query("CREATE TABLE filler (label TEXT NOT NULL, body BLOB NOT NULL)")
            .execute(&mut *conn)
            .await
            .unwrap();
        let pages: i64 = sqlx::query("PRAGMA page_count")
            .fetch_one(&mut *conn)
            .await
            .unwrap()
            .try_get(0)
            .unwrap();
        // The database may not grow: any write needing a new page fails.
        sqlx::query(&format!("PRAGMA max_page_count = {pages}"))
            .execute(&mut *conn)
            .await
            .unwrap();
    }
    let full = insert(&store, "too big", 1 << 20).await;
    assert!(
        full.as_ref()
            .is_err_and(|e| e.contains("full") || e.contains("FULL")),
        "a write past the limit fails as a full database: {full:?}"
    );

    // Space is back (on a connection the store may have replaced).
    {
        let mut conn = store.acquire().await.unwrap();
        sqlx::query("PRAGMA max_page_count = 1073741823")
            .execute(&mut *conn)
            .await
            .unwrap();
    }
    insert(&store, "after", 16).await.unwrap();
    // An ordinary failed transaction (a constraint, a bad statement)...
    let mut tx = store.begin().await.unwrap();
    assert!(
        sqlx::query("INSERT INTO no_such_table VALUES (1)")
            .execute(&mut *tx)
            .await
            .is_err()
    );
    drop(tx);
    // ...must not swallow the writes after it.
    insert(&store, "later", 16).await.unwrap();
    insert(&store, "last", 16).await.unwrap();

    assert_eq!(committed_rows(&path, "too big").await, 0);
    assert_eq!(committed_rows(&path, "after").await, 1);
    assert_eq!(
        committed_rows(&path, "later").await,
        1,
        "lost after a rolled-back transaction"
    );
    assert_eq!(committed_rows(&path, "last").await, 1);
}
