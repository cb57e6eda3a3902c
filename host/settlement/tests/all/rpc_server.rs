//! `kiln chain serve`'s JSON-RPC server (kiln-chain-serve) on a loopback port
//! and a thread of its own, so the RPC backend's `RpcClient` runs unchanged
//! over real HTTP and real JSON-RPC against the same answers a development
//! network gets. Around it, two things only a test needs: a log of the
//! methods called, and the next sends' blockhashes expiring in flight.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::response::Response;
use axum::routing::post;
use kiln_chain_serve::{Ledger, Served};
use kiln_settlement::Embedded;
use serde_json::Value;
use tokio::sync::oneshot;

/// What the test's front door shares with the test.
struct Front {
    io: Arc<kiln_chain_serve::IoHandler>,
    ledger: Arc<Mutex<Ledger>>,
    calls: Mutex<Vec<String>>,
    expire_next_sends: AtomicU32,
}

/// The running server; stops when dropped.
pub struct RpcServer {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    front: Arc<Front>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl RpcServer {
    /// Serves `chain` on a free loopback port.
    pub fn start(chain: Embedded) -> Self {
        let served = Served::new(chain);
        let front = Arc::new(Front {
            io: served.io,
            ledger: served.ledger,
            calls: Mutex::default(),
            expire_next_sends: AtomicU32::new(0),
        });
        let (stop, stopped) = oneshot::channel::<()>();
        let (bound, address) = std::sync::mpsc::channel();
        let state = Arc::clone(&front);
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                bound.send(listener.local_addr().unwrap()).unwrap();
                let app = Router::new().route("/", post(handle)).with_state(state);
                axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = stopped.await;
                    })
                    .await
                    .unwrap();
            });
        });
        let address = address.recv().unwrap();
        Self {
            url: format!("http://{address}"),
            front,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// Every method called so far, in order.
    pub fn calls(&self) -> Vec<String> {
        self.front.calls.lock().unwrap().clone()
    }

    /// Makes the blockhash of each of the next `sends` transactions expire
    /// between the client fetching it and sending.
    pub fn expire_next_sends(&self, sends: u32) {
        self.front.expire_next_sends.store(sends, Ordering::SeqCst);
    }
}

impl Drop for RpcServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Logs the method, expires the blockhashes before a send when asked, and
/// hands the request to the served chain's own handler.
async fn handle(State(front): State<Arc<Front>>, body: Bytes) -> Response {
    let method = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|request| request["method"].as_str().map(str::to_owned))
        .unwrap_or_default();
    let answered = tokio::task::spawn_blocking(move || {
        if method == "sendTransaction"
            && front
                .expire_next_sends
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
        {
            front.ledger.lock().unwrap().expire_blockhashes();
        }
        front.calls.lock().unwrap().push(method);
        kiln_chain_serve::answer(&front.io, &body)
    })
    .await;
    kiln_chain_serve::respond(answered.map_err(|error| error.to_string()))
}
