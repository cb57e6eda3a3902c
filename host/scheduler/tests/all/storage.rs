//! A store that ran out of space keeps working once space is back: no write
//! acknowledged after a failure is lost.
//!
//! SQLite can roll a transaction back by itself when a write fails with
//! `SQLITE_FULL`; sqlx 0.8's own `ROLLBACK` then fails, its transaction depth
//! stays at one, and every later transaction on that connection becomes a
//! savepoint. The first of those rolled back leaves SQLite inside a
//! transaction that nothing commits, so every "committed" write after it is
//! lost. A full disk is simulated with `PRAGMA max_page_count`.

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use kiln_scheduler::SchedulerError;
use kiln_scheduler::model::{JobState, RenterAction};
use kiln_scheduler_api::link::{FromNode, ToNode};
use sqlx::{Connection as _, Row as _};
use tower::ServiceExt as _;

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

/// Caps the database at its current size on the store's one connection:
/// any write needing a new page fails with `SQLITE_FULL`, as on a full disk.
async fn stop_growing(store: &kiln_scheduler::Store) {
    let mut conn = store.acquire().await.unwrap();
    let pages: i64 = sqlx::query("PRAGMA page_count")
        .fetch_one(&mut *conn)
        .await
        .unwrap()
        .try_get(0)
        .unwrap();
    sqlx::query(&format!("PRAGMA max_page_count = {pages}"))
        .execute(&mut *conn)
        .await
        .unwrap();
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
    }
    stop_growing(&store).await;
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

/// Sets SQLite's `query_only` on the store's one connection: every write
/// fails until it is cleared, as on a disk that refuses writes.
async fn refuse_writes(store: &kiln_scheduler::Store, refuse: bool) {
    let mut conn = store.acquire().await.unwrap();
    sqlx::query(&format!("PRAGMA query_only = {}", u8::from(refuse)))
        .execute(&mut *conn)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeats_that_could_not_be_written_are_kept_for_the_next_flush() {
    let (store, _dir) = common::sqlite().await;
    let config = common::fast_config();
    let offline_after = config.offline_after();
    let scheduler = kiln_scheduler::Scheduler::open(store.clone(), config)
        .await
        .unwrap();
    let node = common::NodeSpec::cpu("beating");
    let (_rx, _link) = common::link(&scheduler, &node, common::SOL).await;

    // The node beats all through an outage of the store longer than the
    // offline window,
    refuse_writes(&store, true).await;
    let outage = tokio::time::Instant::now() + offline_after + Duration::from_millis(200);
    let mut refused = 0;
    while tokio::time::Instant::now() < outage {
        scheduler.heartbeat(&node.node_id());
        refused += usize::from(scheduler.flush_heartbeats().await.is_err());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(refused > 0, "the store refused the flushes");

    // so once the store is back, its latest heartbeat is written and the
    // sweep finds nothing stale.
    // The sweep may come before the next flush.
    refuse_writes(&store, false).await;
    assert_eq!(scheduler.sweep().await.unwrap(), 0);
    let nodes = store.nodes().await.unwrap();
    let record = nodes.iter().find(|n| n.id() == node.node_id()).unwrap();
    assert!(record.online, "an honest node was taken offline");
    assert!(store.faults(None).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_store_answers_507_storage_full_and_keeps_nothing() {
    let (store, _dir) = common::sqlite().await;
    let scheduler = kiln_scheduler::Scheduler::open(store.clone(), common::fast_config())
        .await
        .unwrap();
    stop_growing(&store).await;
    a_component_put_gets_507_and_is_not_kept(&scheduler).await;
}

/// PostgreSQL out of disk, as its server reports it: a trigger fails every
/// write to `components` with SQLSTATE 53100 (`disk_full`), so the error
/// comes through the real server and driver; only its cause is staged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_postgres_disk_answers_507_storage_full_and_keeps_nothing() {
    let Some(store) = common::postgres().await else {
        return;
    };
    let scheduler = kiln_scheduler::Scheduler::open(store.clone(), common::fast_config())
        .await
        .unwrap();
    let mut conn = store.acquire().await.unwrap();
    for statement in [
        "CREATE FUNCTION no_space_left() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
         RAISE EXCEPTION 'could not extend file: No space left on device' \
         USING ERRCODE = 'disk_full'; END $$",
        "CREATE TRIGGER no_space_left BEFORE INSERT OR UPDATE ON components \
         FOR EACH ROW EXECUTE FUNCTION no_space_left()",
    ] {
        sqlx::query(statement).execute(&mut *conn).await.unwrap();
    }
    drop(conn);
    a_component_put_gets_507_and_is_not_kept(&scheduler).await;
}

/// PUTs a component far larger than a page and checks the answer is 507
/// `storage_full` and nothing was stored.
async fn a_component_put_gets_507_and_is_not_kept(scheduler: &kiln_scheduler::Scheduler) {
    let component = vec![0x42_u8; 256 * 1024];
    let digest = kiln_protocol::sha256(&[&component]);
    let put = Request::builder()
        .method("PUT")
        .uri(format!("/v1/components/{digest}"))
        .body(Body::from(component))
        .unwrap();
    let response = kiln_scheduler::api::app(scheduler.clone())
        .oneshot(put)
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::INSUFFICIENT_STORAGE);
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["error"], "storage_full", "{body}");
    assert!(matches!(
        scheduler.component(&digest).await,
        Err(SchedulerError::UnknownComponent(_))
    ));
}

/// The next message on a node's link that is not a start or a receipt
/// (sent as the job moves on), or `None` within 300 ms.
async fn next_answer(rx: &mut tokio::sync::mpsc::Receiver<ToNode>) -> Option<ToNode> {
    loop {
        match tokio::time::timeout(Duration::from_millis(300), rx.recv()).await {
            Ok(Some(ToNode::Start { .. } | ToNode::Receipt { .. })) => {}
            Ok(message) => return message,
            Err(_) => return None,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_the_store_refused_is_taken_when_sent_again_and_only_then_ended() {
    let (store, _dir) = common::sqlite().await;
    let scheduler = kiln_scheduler::Scheduler::open(store.clone(), common::fast_config())
        .await
        .unwrap();
    let node = common::NodeSpec::cpu("reporting");
    let (mut rx, _) = common::link(&scheduler, &node, common::SOL).await;
    let job = common::spec("reported");
    scheduler.submit(&common::submit(&job)).await.unwrap();
    scheduler.match_pass().await.unwrap();
    let ToNode::Proposal { job_id, .. } = common::next(&mut rx).await else {
        panic!("a proposal")
    };
    let accept = FromNode::Accept {
        job_id: job_id.clone(),
        attempt: 1,
    };
    scheduler
        .on_node_message(&node.node_id(), accept)
        .await
        .unwrap();
    scheduler
        .confirm_by_renter(
            &job.escrow,
            &common::renter_signed(&job.escrow, RenterAction::Confirm, 1),
        )
        .await
        .unwrap();
    let report = FromNode::Result {
        job_id: job_id.clone(),
        attempt: 1,
        output: "00ff".into(),
    };
    let ended = |attempt| ToNode::Ended {
        job_id: job_id.clone(),
        attempt,
    };

    // The store refuses the result: no `ended`, so the node sends it again.
    refuse_writes(&store, true).await;
    let refused = scheduler
        .on_node_message(&node.node_id(), report.clone())
        .await;
    assert!(
        matches!(refused, Err(SchedulerError::Store(_))),
        "{refused:?}"
    );
    assert_eq!(next_answer(&mut rx).await, None);
    assert_eq!(
        scheduler.job(&job.escrow).await.unwrap().state,
        JobState::Running
    );

    // Sent again once the store is back: taken, and answered.
    refuse_writes(&store, false).await;
    scheduler
        .on_node_message(&node.node_id(), report.clone())
        .await
        .unwrap();
    assert_eq!(next_answer(&mut rx).await, Some(ended(1)));
    assert_eq!(
        scheduler.job(&job.escrow).await.unwrap().state,
        JobState::Done
    );
    assert_eq!(scheduler.result(&job.escrow).await.unwrap().output, "00ff");

    // A copy whose answer was lost is taken already: answered again.
    scheduler
        .on_node_message(&node.node_id(), report)
        .await
        .unwrap();
    assert_eq!(next_answer(&mut rx).await, Some(ended(1)));

    // A report on an attempt that is over for good is refused, and ended.
    let stale = FromNode::Failed {
        job_id: job_id.clone(),
        attempt: 2,
        reason: "late".into(),
    };
    let refused = scheduler.on_node_message(&node.node_id(), stale).await;
    assert!(
        matches!(refused, Err(SchedulerError::WrongState { .. })),
        "{refused:?}"
    );
    assert_eq!(next_answer(&mut rx).await, Some(ended(2)));
}
