//! Running one started job: fetch and check its input and component, check
//! the escrow, open the input, run it metered under its receipt stream,
//! return the result sealed to the renter, and settle.
//!
//! Every failure before the guest starts ends the attempt with a `failed`
//! report naming the cause (bad input signature, hash mismatch, input that
//! does not decrypt, escrow not open); nothing was used, so nothing is
//! billed. Once the guest runs, however it ends, the final receipt carries
//! its usage and the node closes the escrow with the highest receipt the
//! renter counter-signed.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use kiln_protocol::receipt::Parties;
use kiln_protocol::{Digest, PublicKey, SignedReceipt, sha256};
use kiln_runtime::JobLimits;
use kiln_scheduler_api::link::FromNode;
use kiln_scheduler_api::messages::{input_seal_context, result_seal_context};
use tokio::sync::mpsc;

use crate::agent::{Shared, fail, lock, transition};
use crate::config::COMPONENT_CACHE_DIR;
use crate::metering::run_metered;
use crate::receipts::ReceiptStream;
use crate::state::Event;

/// Receipts buffered each way between a job and the link: a few intervals'
/// worth; the stream pauses the guest long before the queue fills.
pub const RECEIPT_QUEUE: usize = 64;

/// Most log characters a node sends the scheduler per job (the scheduler
/// keeps at most this much anyway).
pub const MAX_LOG_CHARS: usize = kiln_scheduler_api::MAX_LOG_CHARS;

pub(crate) fn spawn(shared: Arc<Shared>, id: PublicKey, attempt: u32) {
    tokio::spawn(async move { execute(&shared, id, attempt).await });
}

fn cache_path(shared: &Shared, digest: &Digest) -> PathBuf {
    shared
        .config
        .data_dir
        .join(COMPONENT_CACHE_DIR)
        .join(format!("{digest}.wasm"))
}

/// The component `digest`: from the cache when its bytes still hash right,
/// else from the scheduler (hash checked) and cached. A cache that cannot
/// be written (a full disk) costs a download next time, not the job.
async fn component(shared: &Shared, digest: &Digest) -> Result<Vec<u8>, String> {
    let path = cache_path(shared, digest);
    if let Ok(bytes) = std::fs::read(&path) {
        if sha256(&[&bytes]) == *digest {
            return Ok(bytes);
        }
        tracing::warn!(path = %path.display(), "cached component is corrupt; fetching it again");
    }
    let bytes = shared
        .remote
        .component(digest)
        .await
        .map_err(|e| e.to_string())?;
    let write = || -> std::io::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let temporary = path.with_extension("wasm.tmp");
        std::fs::write(&temporary, &bytes)?;
        std::fs::rename(&temporary, &path)
    };
    if let Err(error) = write() {
        tracing::warn!(%error, path = %path.display(), "component not cached");
    }
    Ok(bytes)
}

/// Opens the input of `job`'s `attempt` sealed to this node, or says why not
/// in the words the renter will read.
pub fn open_input(
    key: &kiln_seal::SecretKey,
    job: &PublicKey,
    attempt: u32,
    sealed: &[u8],
) -> Result<zeroize::Zeroizing<Vec<u8>>, String> {
    kiln_seal::open(key, &input_seal_context(job, attempt), sealed)
        .map_err(|error| format!("input does not decrypt: {error}"))
}

/// Fails an attempt whose escrow is open but whose guest never ran: nothing
/// was used, so the node closes the escrow with no receipt, refunding the
/// renter everything.
async fn refund(shared: &Shared, id: &PublicKey, attempt: u32, reason: String) {
    fail(shared, id, attempt, reason).await;
    if let Some(settler) = shared.settler.clone() {
        let job = *id;
        match tokio::task::spawn_blocking(move || settler.close(&job, None)).await {
            Ok(Ok(())) => tracing::info!(job = %id, "escrow closed unused; the renter is refunded"),
            Ok(Err(error)) => tracing::warn!(job = %id, %error, "escrow not closed"),
            Err(error) => tracing::warn!(job = %id, %error, "escrow close failed"),
        }
    }
}

async fn execute(shared: &Arc<Shared>, id: PublicKey, attempt: u32) {
    let Some((spec, renter, price, escrow, progress, unacknowledged)) =
        lock(&shared.jobs).get(&id).and_then(|held| {
            (held.attempt == attempt).then(|| {
                (
                    held.spec.clone(),
                    held.renter,
                    held.price,
                    held.escrow,
                    Arc::clone(&held.progress),
                    Arc::clone(&held.unacknowledged),
                )
            })
        })
    else {
        tracing::warn!(job = %id, attempt, "start for a job this node did not accept");
        return;
    };

    let input = match shared.remote.input(&id, attempt, &renter).await {
        Ok(input) => input,
        Err(error) => return fail(shared, &id, attempt, error.to_string()).await,
    };
    if let Some(settler) = shared.settler.clone() {
        let (node, operator) = (shared.node_id, shared.operator());
        let checked = tokio::task::spawn_blocking(move || settler.job(&id)).await;
        let refusal = match checked {
            Ok(Ok(Some(job)))
                if job.escrow >= escrow
                    && job.node_receipt_key == node.0
                    && job.operator == operator.0
                    && job.rates == price =>
            {
                None
            }
            Ok(Ok(Some(_))) => Some("the escrow on chain is not on the accepted terms".to_owned()),
            Ok(Ok(None)) => Some("the escrow is not open on chain".to_owned()),
            Ok(Err(error)) => Some(format!("the escrow could not be read: {error}")),
            Err(error) => Some(format!("the escrow check failed: {error}")),
        };
        if let Some(reason) = refusal {
            return fail(shared, &id, attempt, reason).await;
        }
    }
    let bytes = match component(shared, &spec.component).await {
        Ok(bytes) => bytes,
        Err(reason) => return refund(shared, &id, attempt, reason).await,
    };
    let plaintext = match open_input(&shared.keys.seal, &id, attempt, &input.sealed) {
        Ok(plaintext) => plaintext,
        Err(reason) => return refund(shared, &id, attempt, reason).await,
    };
    let workload = match shared.runtime.load(&bytes) {
        Ok(workload) => workload,
        Err(error) => {
            return refund(shared, &id, attempt, format!("component refused: {error}")).await;
        }
    };

    let handle = shared
        .runtime
        .start(&workload, plaintext.to_vec(), JobLimits::from(&spec.limits));
    drop(plaintext);
    let (co_signed_tx, mut co_signed_rx) = mpsc::channel(RECEIPT_QUEUE);
    let running = {
        let mut jobs = lock(&shared.jobs);
        if let Some(held) = jobs.get_mut(&id) {
            held.control = Some(handle.control());
            held.receipts = Some(co_signed_tx);
        }
        jobs.values().filter(|held| held.control.is_some()).count()
    };
    transition(shared, Event::JobStarted { running });
    tracing::info!(job = %id, attempt, "job started");

    let parties = Parties {
        job: id,
        node: shared.node_id,
        renter,
    };
    let mut stream = ReceiptStream::new(
        shared.keys.signing.clone(),
        parties,
        price,
        escrow,
        shared.config.flow,
    );
    let (to_renter, mut outgoing) = mpsc::channel::<SignedReceipt>(RECEIPT_QUEUE);
    let forward = tokio::spawn({
        let shared = Arc::clone(shared);
        let progress = Arc::clone(&progress);
        async move {
            while let Some(receipt) = outgoing.recv().await {
                lock(&unacknowledged).sent(receipt, std::time::Instant::now());
                {
                    let mut progress = lock(&progress);
                    progress.fuel = receipt.receipt.fuel;
                    progress.gpu_ns = receipt.receipt.gpu_ns;
                    progress.wall_ms = receipt.receipt.wall_ms;
                }
                shared.link.send(FromNode::receipt(&receipt)).await;
            }
        }
    });
    let report = run_metered(
        handle,
        &mut stream,
        shared.config.metering,
        to_renter,
        &mut co_signed_rx,
    )
    .await;
    let _ = forward.await;
    if shared.vanished.load(Ordering::SeqCst) {
        return;
    }

    let job_id = id.to_string();
    let mut logs = String::from_utf8_lossy(&report.job.stdout).into_owned();
    logs.push_str(&String::from_utf8_lossy(&report.job.stderr));
    if !logs.is_empty() {
        let text: String = logs.chars().take(MAX_LOG_CHARS).collect();
        shared
            .link
            .send(FromNode::Log {
                job_id: job_id.clone(),
                text,
            })
            .await;
    }
    let outcome = match &report.job.result {
        Ok(output) => kiln_seal::seal(
            &kiln_seal::PublicKey(input.result_key),
            &result_seal_context(&id, attempt),
            output,
        )
        .map(|sealed| FromNode::Result {
            job_id: job_id.clone(),
            attempt,
            output: hex::encode(sealed.0),
        })
        .unwrap_or_else(|error| FromNode::Failed {
            job_id: job_id.clone(),
            attempt,
            reason: format!("result could not be sealed: {error}"),
        }),
        Err(error) => FromNode::Failed {
            job_id: job_id.clone(),
            attempt,
            reason: format!("{}: {error}", error.status()),
        },
    };
    crate::agent::send_report(shared, id, attempt, outcome).await;
    tracing::info!(job = %id, attempt, issued = report.issued, pauses = report.pauses,
        ok = report.job.result.is_ok(), "job ended");

    // The renter has `settle_wait` to counter-sign the final receipt.
    if let Ok(last) = &report.final_receipt {
        let until = tokio::time::Instant::now() + shared.config.settle_wait;
        while stream.payable().map(|r| r.receipt.seq) != Some(last.receipt.seq) {
            match tokio::time::timeout_at(until, co_signed_rx.recv()).await {
                Ok(Some(co_signed)) => {
                    if let Err(error) = stream.accept(&co_signed) {
                        tracing::warn!(%error, "counter-signed receipt refused");
                    }
                }
                _ => break,
            }
        }
    }
    let earned = stream.earned();
    lock(&progress).co_signed = earned;
    shared.earned.fetch_add(earned, Ordering::Relaxed);
    if let Some(settler) = shared.settler.clone() {
        let payable = stream.payable().copied();
        let closed =
            tokio::task::spawn_blocking(move || settler.close(&id, payable.as_ref())).await;
        match closed {
            Ok(Ok(())) => tracing::info!(job = %id, earned, "escrow closed"),
            Ok(Err(error)) => tracing::warn!(job = %id, %error, "escrow not closed"),
            Err(error) => tracing::warn!(job = %id, %error, "escrow close failed"),
        }
    }
    let running = {
        let mut jobs = lock(&shared.jobs);
        if let Some(held) = jobs.remove(&id) {
            // Receipts still not counter-signed go on being re-sent with
            // the report (the final one, when the scheduler could not take it).
            let left = lock(&held.unacknowledged).take();
            lock(&shared.reports).let_go(id, attempt, left, std::time::Instant::now());
        }
        jobs.values().filter(|held| held.control.is_some()).count()
    };
    transition(shared, Event::JobEnded { running });
    // Counted last, with Release: a status snapshot that sees the count (it
    // reads it first, with Acquire) also sees the job gone and the state back.
    shared.jobs_done.fetch_add(1, Ordering::Release);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_input_sealed_for_another_node_or_attempt_does_not_open() {
        let node = kiln_seal::SecretKey::generate();
        let other = kiln_seal::SecretKey::generate();
        let job = PublicKey([3; 32]);
        let sealed =
            kiln_seal::seal(&node.public_key(), &input_seal_context(&job, 1), b"data").unwrap();
        assert_eq!(&**open_input(&node, &job, 1, &sealed.0).unwrap(), b"data");
        for (key, attempt) in [(&other, 1), (&node, 2)] {
            let error = open_input(key, &job, attempt, &sealed.0).unwrap_err();
            assert!(error.starts_with("input does not decrypt"), "{error}");
        }
        let error = open_input(&node, &job, 1, &sealed.0[..10]).unwrap_err();
        assert!(error.contains("decrypt"), "{error}");
    }
}
