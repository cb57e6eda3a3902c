//! Serving the API: a listener, the background loops, graceful shutdown.

use std::future::Future;

use axum::serve::ListenerExt as _;
use tokio::net::TcpListener;

use crate::scheduler::Scheduler;

/// Serves [`crate::api::app`] on `listener` with the background loops
/// running, until `shutdown` completes; then stops taking requests, lets
/// those in flight finish and returns.
pub async fn serve(
    listener: TcpListener,
    scheduler: Scheduler,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let background = scheduler.spawn_background();
    let app = crate::api::app(scheduler);
    // Small link frames (a node's terms then its accept) must not wait on
    // Nagle's algorithm and the peer's delayed ACK (~40 ms on Linux).
    let listener = listener.tap_io(|tcp| {
        if let Err(error) = tcp.set_nodelay(true) {
            tracing::debug!(%error, "TCP_NODELAY not set");
        }
    });
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await;
    drop(background);
    served
}

/// Completes on ctrl-c or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        // Without a handler there is nothing to wait for; SIGTERM still works.
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}
