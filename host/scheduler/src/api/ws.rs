//! WebSocket links: nodes dial `/v1/links/node` (so they work behind NAT);
//! renters follow a job on `/v1/jobs/{id}/events`.

use std::time::Duration;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt as _, StreamExt as _};
use kiln_protocol::PublicKey;
use kiln_protocol::signing::verify;
use tokio::sync::{broadcast, mpsc};

use super::error::ApiResult;
use crate::config::MAX_WS_MESSAGE_BYTES;
use crate::model::link_message;
use crate::scheduler::{JobEvent, LINK_QUEUE, Scheduler};
use kiln_scheduler_api::link::{FromNode, ToNode};
use kiln_scheduler_api::wire::{ErrorBody, hex_array, hex_key};

/// How long a node has to answer the challenge. A node answers in one round
/// trip; this only bounds sockets opened by something that never will.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A node's link. See `link` for the protocol.
#[utoipa::path(get, path = "/v1/links/node", tag = "nodes",
    responses((status = 101, description = "WebSocket: challenge, hello, then JSON messages")))]
pub async fn node_link(State(scheduler): State<Scheduler>, upgrade: WebSocketUpgrade) -> Response {
    upgrade
        .max_message_size(MAX_WS_MESSAGE_BYTES)
        .on_upgrade(move |socket| run_node_link(scheduler, socket))
}

fn text(message: &ToNode) -> Message {
    Message::Text(
        serde_json::to_string(message)
            .expect("link messages serialize")
            .into(),
    )
}

/// Challenge, hello, then relays both ways until either side closes.
async fn run_node_link(scheduler: Scheduler, mut socket: WebSocket) {
    let mut nonce = [0u8; 32];
    if getrandom::fill(&mut nonce).is_err() {
        tracing::error!("no randomness for a link nonce");
        return;
    }
    let challenge = ToNode::Challenge {
        nonce: hex::encode(nonce),
    };
    if socket.send(text(&challenge)).await.is_err() {
        return;
    }
    let node = match tokio::time::timeout(HANDSHAKE_TIMEOUT, hello(&scheduler, &mut socket, &nonce))
        .await
    {
        Ok(Ok(node)) => node,
        Ok(Err(reason)) => {
            let _ = socket.send(text(&ToNode::Error { message: reason })).await;
            return;
        }
        Err(_) => return,
    };
    let (sender, mut outbox) = mpsc::channel(LINK_QUEUE);
    let welcome = ToNode::Welcome {
        heartbeat_interval_ms: u64::try_from(scheduler.config().heartbeat_interval.as_millis())
            .unwrap_or(u64::MAX),
    };
    // The queue is empty: this cannot fail.
    let _ = sender.try_send(welcome);
    let link_id = match scheduler.link(node, sender.clone()).await {
        Ok(id) => id,
        Err(error) => {
            let _ = socket
                .send(text(&ToNode::Error {
                    message: error.to_string(),
                }))
                .await;
            return;
        }
    };
    let (mut sink, mut stream) = socket.split();
    let writer = tokio::spawn(async move {
        while let Some(message) = outbox.recv().await {
            if sink.send(text(&message)).await.is_err() {
                break;
            }
        }
        let _ = sink.close().await;
    });
    while let Some(Ok(frame)) = stream.next().await {
        let Message::Text(body) = frame else {
            if matches!(frame, Message::Close(_)) {
                break;
            }
            continue;
        };
        let reply = match serde_json::from_str::<FromNode>(body.as_str()) {
            Ok(message) => scheduler
                .on_node_message(&node, message)
                .await
                .err()
                .map(|e| e.to_string()),
            Err(error) => Some(format!("malformed message: {error}")),
        };
        if let Some(message) = reply {
            tracing::debug!(node = %node, %message, "node message refused");
            let _ = sender.try_send(ToNode::Error { message });
        }
        if !scheduler.is_current_link(&node, link_id) {
            // The sweeper took the node offline: it must link again.
            break;
        }
    }
    scheduler.unlink(&node, link_id);
    drop(sender);
    writer.abort();
}

/// Reads the hello and checks its signature; returns the node or why not.
async fn hello(
    scheduler: &Scheduler,
    socket: &mut WebSocket,
    nonce: &[u8; 32],
) -> Result<PublicKey, String> {
    let Some(Ok(Message::Text(body))) = socket.recv().await else {
        return Err("expected a hello".to_owned());
    };
    let Ok(FromNode::Hello { node_id, signature }) =
        serde_json::from_str::<FromNode>(body.as_str())
    else {
        return Err("expected a hello".to_owned());
    };
    let node = hex_key("node_id", &node_id).map_err(|e| e.to_string())?;
    let signature = hex_array("signature", &signature)
        .map_err(|e| e.to_string())?
        .into();
    let mut conn = scheduler
        .store()
        .acquire()
        .await
        .map_err(|e| e.to_string())?;
    let record = scheduler
        .store()
        .node(&mut conn, &node)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("node {node} is not registered"))?;
    verify(
        &record.manifest.manifest.receipt_key,
        &link_message(nonce),
        &signature,
    )
    .map_err(|e| format!("hello signature: {e}"))?;
    Ok(node)
}

/// A renter follows a job: its status now, then every status change and
/// relayed receipt, as JSON text frames.
#[utoipa::path(get, path = "/v1/jobs/{id}/events", tag = "jobs",
    params(("id" = String, Path, description = "Job id, hex")),
    responses(
        (status = 101, description = "WebSocket of job events"),
        (status = 404, description = "No such job", body = ErrorBody),
    ))]
pub async fn job_events(
    State(scheduler): State<Scheduler>,
    Path(id): Path<String>,
    upgrade: WebSocketUpgrade,
) -> ApiResult<Response> {
    let job = hex_key("job id", &id)?;
    let events = scheduler.subscribe();
    let status = scheduler.status(&job).await?;
    Ok(upgrade
        .on_upgrade(move |socket| run_job_events(socket, job.to_string(), status, events))
        .into_response())
}

async fn run_job_events(
    mut socket: WebSocket,
    job: String,
    status: kiln_scheduler_api::wire::JobStatus,
    mut events: broadcast::Receiver<JobEvent>,
) {
    let first = JobEvent::Status {
        status: Box::new(status),
    };
    let json = |event: &JobEvent| {
        Message::Text(
            serde_json::to_string(event)
                .expect("events serialize")
                .into(),
        )
    };
    if socket.send(json(&first)).await.is_err() {
        return;
    }
    loop {
        tokio::select! {
            event = events.recv() => match event {
                Ok(event) if event.job_id() == job => {
                    if socket.send(json(&event)).await.is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    let note = serde_json::json!({"type": "lagged", "missed": missed}).to_string();
                    if socket.send(Message::Text(note.into())).await.is_err() {
                        return;
                    }
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Close(_)) | Err(_)) | None => return,
                Some(Ok(_)) => {}
            },
        }
    }
}
