//! The node side of a link: dials the scheduler, answers the challenge,
//! sends heartbeats, and reconnects with jittered exponential backoff when
//! the connection drops (a scheduler restart, a network blip).
//!
//! The node agent (`kiln-node`) builds on this; tests and the benchmark use
//! it to simulate nodes.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
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
        let task = tokio::spawn(async move {
            let mut backoff = RECONNECT_BACKOFF_MIN;
            loop {
                match session(&url, &node, &key, &inbox_tx, &mut outbox_rx, &counter).await {
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
                let message: ToNode = serde_json::from_str(body.as_str()).map_err(|e| e.to_string())?;
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
