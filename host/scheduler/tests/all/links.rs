//! Real sockets: a node dials the scheduler's WebSocket, proves its key,
//! gets proposals, and reconnects when the link drops.

use std::time::Duration;

use kiln_scheduler::Scheduler;
use kiln_scheduler::server::serve;
use kiln_scheduler_api::link::{FromNode, ToNode};
use kiln_scheduler_api::node_link::NodeLink;
use tokio::net::TcpListener;

use crate::common::{NodeSpec, SOL, fast_config, key, spec, submit};

async fn next(link: &mut NodeLink) -> ToNode {
    tokio::time::timeout(Duration::from_secs(10), link.inbox.recv())
        .await
        .expect("a message within 10 s")
        .expect("link open")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_links_over_websocket_and_gets_its_proposal() {
    let (store, _dir) = crate::common::sqlite().await;
    let scheduler = Scheduler::open(store, fast_config()).await.unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/v1/links/node", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(listener, scheduler.clone(), async {
        let _ = stopped.await;
    }));

    let node = NodeSpec::cpu("ws");
    scheduler.register(&node.register(SOL)).await.unwrap();
    // A node with the wrong key is refused at the hello and keeps retrying.
    let mut impostor = NodeLink::spawn(url.clone(), node.node_id(), key("not the node key"));
    let mut link = NodeLink::spawn(url, node.node_id(), node.key());
    let job = spec("over-ws");
    scheduler.submit(&submit(&job)).await.unwrap();
    let ToNode::Proposal {
        job_id, attempt, ..
    } = next(&mut link).await
    else {
        panic!()
    };
    assert_eq!(job_id, job.escrow.to_string());
    link.send(FromNode::Accept { job_id, attempt }).await;
    // Heartbeats arrive on the link and are flushed to the store.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let stored = scheduler.store().nodes().await.unwrap();
    assert!(stored[0].online);
    assert!(scheduler.job(&job.escrow).await.unwrap().node_confirmed);
    assert_eq!(link.sessions(), 1);
    assert_eq!(impostor.sessions(), 0);
    // All the impostor ever heard is why its hello was refused.
    let ToNode::Error { message } = impostor.inbox.try_recv().unwrap() else {
        panic!()
    };
    assert!(message.contains("hello signature"), "{message}");
    while let Ok(message) = impostor.inbox.try_recv() {
        assert!(matches!(message, ToNode::Error { .. }), "{message:?}");
    }
    let _ = stop.send(());
    server.await.unwrap().unwrap();
}
