//! The node side of a link: dials the scheduler, answers the challenge,
//! sends heartbeats, and reconnects with jittered exponential backoff when
//! the connection drops (a scheduler restart, a network blip).
//!
//! The node agent (`kiln-node`) builds on this; tests and the benchmark use
//! it to simulate nodes.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use kiln_protocol::PublicKey;
use kiln_protocol::signing::{SigningKey, sign};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;

use crate::link::{FromNode, ToNode};
use crate::messages::link_message;

/// Longest pause between a node's reconnect attempts. Backoff doubles from
/// [`RECONNECT_BACKOFF_MIN`] up to this, with jitter, so a restarted
/// scheduler is not hit by every node at once.
pub const RECONNECT_BACKOFF_MAX: Duration = Duration::from_secs(10);

/// First pause before a node reconnects.
pub const RECONNECT_BACKOFF_MIN: Duration = Duration::from_millis(100);

/// Messages buffered between the link and the node agent, each way.
pub const CLIENT_QUEUE: usize = 1024;

/// A link a node keeps open to its scheduler.
#[derive(Debug)]
pub struct NodeLink {
    /// What the scheduler sent (challenge and welcome are handled here).
    pub inbox: mpsc::Receiver<ToNode>,
    outbox: mpsc::Sender<FromNode>,
    sessions: Arc<AtomicU64>,
    /// True from a welcome until that connection drops.
    linked: Arc<AtomicBool>,
    task: JoinHandle<()>,
}

impl Drop for NodeLink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl NodeLink {
    /// Dials `url` (`ws://host:port/v1/links/node`) as `node`, whose receipt
    /// key is `key`, and keeps the link up until dropped.
    pub fn spawn(url: String, node: PublicKey, key: SigningKey) -> Self {
        let (inbox_tx, inbox) = mpsc::channel(CLIENT_QUEUE);
        let (outbox, mut outbox_rx) = mpsc::channel(CLIENT_QUEUE);
        let sessions = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&sessions);
        let linked = Arc::new(AtomicBool::new(false));
        let up = Arc::clone(&linked);
        let task = tokio::spawn(async move {
            let mut backoff = RECONNECT_BACKOFF_MIN;
            loop {
                let ended =
                    session(&url, &node, &key, &inbox_tx, &mut outbox_rx, &counter, &up).await;
                up.store(false, Ordering::Relaxed);
                match ended {
                    Ok(()) => backoff = RECONNECT_BACKOFF_MIN,
                    Err(error) => tracing::debug!(%node, %error, "link down"),
                }
                if inbox_tx.is_closed() {
                    return;
                }
                tokio::time::sleep(jitter(backoff)).await;
                backoff = (backoff * 2).min(RECONNECT_BACKOFF_MAX);
            }
        });
        Self {
            inbox,
            outbox,
            sessions,
            linked,
            task,
        }
    }

    /// Queues a message for the scheduler; sent once the link is up.
    pub async fn send(&self, message: FromNode) {
        // The task lives as long as `self`, so the queue is open.
        let _ = self.outbox.send(message).await;
    }

    /// Drops the connection and stops reconnecting, as a crashed node would.
    pub fn close(&self) {
        self.task.abort();
    }

    /// Links opened so far (1 after the first welcome, 2 after a reconnect, …).
    pub fn sessions(&self) -> u64 {
        self.sessions.load(Ordering::Relaxed)
    }

    /// True while a welcomed connection is up: what is queued now goes out
    /// at once, not after a reconnect.
    pub fn is_linked(&self) -> bool {
        self.linked.load(Ordering::Relaxed)
    }
}

/// `base` plus up to half of it again, so nodes spread their reconnects.
fn jitter(base: Duration) -> Duration {
    let mut byte = [0u8; 1];
    let _ = getrandom::fill(&mut byte);
    base + base.mul_f64(f64::from(byte[0]) / 510.0)
}

/// One connection, from dial to drop. `Ok` when it had been welcomed (so the
/// next attempt starts with the shortest backoff).
async fn session(
    url: &str,
    node: &PublicKey,
    key: &SigningKey,
    inbox: &mpsc::Sender<ToNode>,
    outbox: &mut mpsc::Receiver<FromNode>,
    sessions: &AtomicU64,
    linked: &AtomicBool,
) -> Result<(), String> {
    // No Nagle: link frames are small and latency-bound.
    let (socket, _) = tokio_tungstenite::connect_async_with_config(url, None, true)
        .await
        .map_err(|e| e.to_string())?;
    let (mut sink, mut stream) = socket.split();
    let mut heartbeat: Option<tokio::time::Interval> = None;
    loop {
        tokio::select! {
            frame = stream.next() => {
                let Some(Ok(frame)) = frame else {
                    return if heartbeat.is_some() { Ok(()) } else { Err("closed".into()) };
                };
                let Message::Text(body) = frame else { continue };
                // A message this build does not know (a newer scheduler's)
                // is skipped, not a reason to drop the link.
                let message: ToNode = match serde_json::from_str(body.as_str()) {
                    Ok(message) => message,
                    Err(error) => {
                        tracing::warn!(%node, %error, "a message from the scheduler this node does not read; ignored");
                        continue;
                    }
                };
                match message {
                    ToNode::Challenge { nonce } => {
                        let nonce: [u8; 32] = hex::decode(&nonce).ok().and_then(|n| n.try_into().ok())
                            .ok_or("bad nonce")?;
                        let hello = FromNode::Hello {
                            node_id: node.to_string(),
                            signature: sign(key, &link_message(&nonce)).to_string(),
                        };
                        send(&mut sink, &hello).await?;
                    }
                    ToNode::Welcome { heartbeat_interval_ms } => {
                        sessions.fetch_add(1, Ordering::Relaxed);
                        linked.store(true, Ordering::Relaxed);
                        let every = Duration::from_millis(heartbeat_interval_ms.max(1));
                        heartbeat = Some(tokio::time::interval(every));
                    }
                    other => {
                        if inbox.send(other).await.is_err() {
                            return Ok(());
                        }
                    }
                }
            }
            Some(message) = outbox.recv(), if heartbeat.is_some() => {
                send(&mut sink, &message).await?;
            }
            _ = async { heartbeat.as_mut().expect("guarded").tick().await }, if heartbeat.is_some() => {
                send(&mut sink, &FromNode::Heartbeat).await?;
            }
        }
    }
}

async fn send<S>(sink: &mut S, message: &FromNode) -> Result<(), String>
where
    S: futures_util::Sink<Message> + Unpin,
    S::Error: std::fmt::Display,
{
    let text = serde_json::to_string(message).map_err(|e| e.to_string())?;
    sink.send(Message::Text(text.into()))
        .await
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    async fn next_text<S>(stream: &mut S) -> String
    where
        S: futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>>
            + Unpin,
    {
        loop {
            match stream.next().await.expect("open").expect("a frame") {
                Message::Text(text) => return text.as_str().to_owned(),
                _ => continue,
            }
        }
    }

    /// A scheduler's side that welcomes the node, then sends a message of a
    /// kind this build does not know, then a start.
    #[tokio::test]
    async fn a_message_of_an_unknown_kind_is_skipped_and_the_link_stays_up() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("ws://{}/", listener.local_addr().unwrap());
        let scheduler = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let socket = tokio_tungstenite::accept_async(tcp).await.unwrap();
            let (mut sink, mut stream) = socket.split();
            let say = |value: serde_json::Value| Message::Text(value.to_string().into());
            sink.send(say(
                serde_json::json!({"type": "challenge", "nonce": hex::encode([7u8; 32])}),
            ))
            .await
            .unwrap();
            let hello = next_text(&mut stream).await;
            assert!(hello.contains("\"hello\""), "{hello}");
            for message in [
                serde_json::json!({"type": "welcome", "heartbeat_interval_ms": 60_000}),
                serde_json::json!({"type": "from_a_newer_scheduler", "x": 1}),
                serde_json::json!({"type": "start", "job_id": "ab", "attempt": 3}),
            ] {
                sink.send(say(message)).await.unwrap();
            }
            // Hold the connection until the node has read everything.
            let _ = stream.next().await;
        });

        let key = SigningKey::from_bytes(&[9; 32]);
        let mut link = NodeLink::spawn(url, PublicKey([1; 32]), key);
        assert!(!link.is_linked(), "not linked before a welcome");
        let message = tokio::time::timeout(Duration::from_secs(10), link.inbox.recv())
            .await
            .expect("a message")
            .expect("open");
        assert_eq!(
            message,
            ToNode::Start {
                job_id: "ab".into(),
                attempt: 3
            }
        );
        assert_eq!(link.sessions(), 1, "the same connection");
        assert!(link.is_linked());
        link.close();
        scheduler.abort();
    }
}
