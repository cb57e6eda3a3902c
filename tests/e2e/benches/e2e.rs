//! `cargo xtask bench e2e`: submit-to-result latency of a tiny job through
//! the whole network (renter, scheduler, node, chain), and jobs per second
//! through one scheduler and two nodes, in process. The baseline, measured
//! in the same run, is the same job run directly in kiln-runtime, so the
//! ratio is what the network adds. Target: p50 under 50 ms for a cached
//! tiny job. `KILN_BENCH_QUICK=1` runs a short smoke.

use std::time::{Duration, Instant};

use kiln_e2e::{cpu_job, guest, network};

/// The `per_mille`th per-mille of `sorted` (500: the median).
fn percentile(sorted: &[Duration], per_mille: usize) -> Duration {
    let index = (sorted.len() - 1) * per_mille / 1000;
    sorted[index.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn main() {
    let quick = std::env::var_os("KILN_BENCH_QUICK").is_some();
    let (rounds, parallel_jobs) = if quick { (10, 8) } else { (60, 40) };
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    tokio.block_on(async {
        let (devnet, dir) = network(2, |_| {}).await;
        let component = guest("kiln_example_sha256");
        let input = b"tiny".to_vec();

        // Baseline: the same job straight in the sandbox, warm.
        let runtime = kiln_runtime::Runtime::new(kiln_runtime::RuntimeConfig::new(
            dir.path().join("baseline-scratch"),
        ))
        .expect("runtime");
        let workload = runtime.load(&component).expect("loads");
        let mut local = Vec::new();
        for _ in 0..rounds {
            let started = Instant::now();
            let report = runtime
                .run(&workload, input.clone(), kiln_runtime::JobLimits::default())
                .await;
            assert!(report.result.is_ok());
            local.push(started.elapsed());
        }
        local.sort();

        // Latency: one renter, one job at a time; the first run warms the
        // component caches (scheduler store, node cache, compiled code).
        let renter = devnet.renter(1_000_000_000_000).expect("renter");
        let mut request = cpu_job(component.clone(), input.clone());
        request.settle_timeout = Duration::ZERO;
        renter.run(&request, |_| {}).await.expect("warm-up job");
        let mut latencies = Vec::new();
        for _ in 0..rounds {
            let started = Instant::now();
            let outcome = renter.run(&request, |_| {}).await.expect("job");
            latencies.push(started.elapsed());
            assert!(outcome.output.is_some());
        }
        latencies.sort();

        // Throughput: many renters at once over two nodes.
        let renters: Vec<_> = (0..parallel_jobs)
            .map(|_| devnet.renter(1_000_000_000_000).expect("renter"))
            .collect();
        let started = Instant::now();
        let runs = renters.iter().map(|renter| renter.run(&request, |_| {}));
        let outcomes = futures_join_all(runs).await;
        let took = started.elapsed();
        let done = outcomes.iter().filter(|o| o.as_ref().is_ok_and(|o| o.output.is_some())).count();

        let p50 = percentile(&latencies, 500);
        println!("kiln e2e benchmark: 1 scheduler (SQLite), 2 nodes, settlement in LiteSVM, one process");
        println!("tiny job (sha256 of 4 bytes), cached component, {rounds} rounds");
        println!(
            "  through the network: p50 {}  p90 {}  max {}   (target: p50 under 50 ms)",
            ms(p50),
            ms(percentile(&latencies, 900)),
            ms(*latencies.last().expect("rounds"))
        );
        println!(
            "  same job in the sandbox alone (baseline): p50 {}; network / sandbox = {:.1}x",
            ms(percentile(&local, 500)),
            p50.as_secs_f64() / percentile(&local, 500).as_secs_f64()
        );
        println!(
            "throughput: {done} of {parallel_jobs} jobs from {parallel_jobs} renters at once in {}: {:.1} jobs/s",
            ms(took),
            done as f64 / took.as_secs_f64()
        );
    });
}

/// Runs futures concurrently on this task (no extra dependency).
async fn futures_join_all<F: Future>(futures: impl Iterator<Item = F>) -> Vec<F::Output> {
    let mut pinned: Vec<_> = futures.map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = (0..pinned.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (future, output) in pinned.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    std::task::Poll::Ready(value) => *output = Some(value),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    outputs
        .into_iter()
        .map(|o| o.expect("every future finished"))
        .collect()
}
