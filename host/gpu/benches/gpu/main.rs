//! `cargo xtask bench gpu`: what running GPU work through the sandbox costs,
//! measured in one run on one adapter so the ratios hold on a noisy host.
//!
//! 1. Mandelbrot (the example at its default 512×512, 256 iterations): the
//!    whole job through the guest and Kiln's host calls, next to a native
//!    wgpu program running the same shader on the same device with the same
//!    steps (pipeline, buffers, dispatch, read-back, PNG encoding).
//! 2. Matmul (the GPU example at its default n = 256, without its CPU
//!    check): the same comparison.
//! 3. Per-call overhead: a trivial host call (`gpu-buffer.size`) from the
//!    guest, by difference between 1 and 200,000 calls; and what the SDK's
//!    error checking adds to each call (three error scopes, the pops async).
//!
//! Target: the guest path within 1.1x of native for the examples' default
//! sizes. Each figure is the median of interleaved rounds, each timed run
//! after a short pause ([`SETTLE`]); the examples' line is followed by the
//! median of the rounds' guest-minus-native differences, and by the median
//! and middle half of each round's own guest / native ratio: both pair a
//! round's two runs, so they move less than the ratio of the medians when the
//! shared machine's load drifts during the run. Then how many runs of each
//! path had a GPU phase over [`ONE_THREAD_FACTOR`] times the path's fastest
//! (on lavapipe, a dispatch that ran on one thread), and the ratio over the
//! rounds where neither did. `KILN_BENCH_ROUNDS=N` sets
//! the rounds (11 by default), `KILN_BENCH_QUICK=1` runs 3 for a smoke run.

mod timeline;

use kiln_test_guests::guest;
use std::time::{Duration, Instant};

use kiln_example_mandelbrot::Params;
use kiln_example_matmul_gpu::Job;
use kiln_gpu::{DeviceConfig, GpuHost, SharedDevice};
use kiln_runtime::{JobLimits, Runtime, RuntimeConfig, Workload};

/// Host calls in the per-call measurement.
const CALLS: u64 = 200_000;

/// Empty `Gpu::scoped` calls in the error-checking measurement.
const SCOPED: u64 = 20_000;

fn rounds() -> usize {
    if let Some(rounds) = std::env::var("KILN_BENCH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
    {
        rounds
    } else if std::env::var_os("KILN_BENCH_QUICK").is_some() {
        3
    } else {
        11
    }
}

/// A pause before each timed run, so that background work of the run
/// before it (a guest job's teardown after its report, wgpu's and lavapipe's
/// threads) lands in neither path's time.
const SETTLE: Duration = Duration::from_millis(5);

fn settle() {
    std::thread::sleep(SETTLE);
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// A buffer of the native program: uniform or storage, with its contents.
enum Binding<'a> {
    Uniform(&'a [u8]),
    Storage(&'a [u8]),
    Output(u64),
}

/// The native baseline: compile `wgsl`, make the buffers, bind them in
/// order at group 0, dispatch, read the output buffer back. Returns the
/// output and the GPU phase's wall time (submit to mapped).
fn native(
    shared: &SharedDevice,
    wgsl: &str,
    bindings: &[Binding<'_>],
    workgroups: [u32; 3],
) -> (Vec<u8>, Duration) {
    timeline::mark("native: started");
    let device = &shared.device;
    let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: None,
        source: wgpu::ShaderSource::Wgsl(wgsl.into()),
    });
    let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
        label: None,
        layout: None,
        module: &module,
        entry_point: Some("main"),
        compilation_options: Default::default(),
        cache: None,
    });
    timeline::mark("native: pipeline made");
    let storage =
        wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST;
    let mut output = None;
    let buffers: Vec<wgpu::Buffer> = bindings
        .iter()
        .map(|binding| {
            let (size, usage, data) = match binding {
                Binding::Uniform(data) => (
                    data.len() as u64,
                    wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
                    Some(*data),
                ),
                Binding::Storage(data) => (data.len() as u64, storage, Some(*data)),
                Binding::Output(size) => (*size, storage, None),
            };
            let buffer = device.create_buffer(&wgpu::BufferDescriptor {
                label: None,
                size,
                usage,
                mapped_at_creation: false,
            });
            if let Some(data) = data {
                shared.queue.write_buffer(&buffer, 0, data);
            }
            if data.is_none() {
                output = Some((buffer.clone(), size));
            }
            buffer
        })
        .collect();
    let layout = pipeline.get_bind_group_layout(0);
    let entries: Vec<_> = buffers
        .iter()
        .zip(0u32..)
        .map(|(buffer, binding)| wgpu::BindGroupEntry {
            binding,
            resource: buffer.as_entire_binding(),
        })
        .collect();
    let group = device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: None,
        layout: &layout,
        entries: &entries,
    });
    timeline::mark("native: buffers and bind group made");
    let mut encoder = device.create_command_encoder(&Default::default());
    {
        let mut pass = encoder.begin_compute_pass(&Default::default());
        pass.set_pipeline(&pipeline);
        pass.set_bind_group(0, &group, &[]);
        pass.dispatch_workgroups(workgroups[0], workgroups[1], workgroups[2]);
    }
    let (output, size) = output.expect("one output binding");
    let staging = device.create_buffer(&wgpu::BufferDescriptor {
        label: None,
        size,
        usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    encoder.copy_buffer_to_buffer(&output, 0, &staging, 0, size);
    let submitted = Instant::now();
    shared.queue.submit([encoder.finish()]);
    timeline::mark("native: submitted");
    staging
        .slice(..)
        .map_async(wgpu::MapMode::Read, |result| result.expect("map"));
    device
        .poll(wgpu::PollType::wait_indefinitely())
        .expect("poll");
    let gpu_phase = submitted.elapsed();
    timeline::mark("native: mapped");
    let bytes = staging
        .slice(..)
        .get_mapped_range()
        .expect("mapped")
        .to_vec();
    staging.unmap();
    timeline::mark("native: read back");
    (bytes, gpu_phase)
}

fn native_mandelbrot(shared: &SharedDevice, params: Params) -> (Vec<u8>, Duration) {
    let uniforms = params.uniform_bytes();
    let (indices, gpu_phase) = native(
        shared,
        kiln_example_mandelbrot::WGSL,
        &[
            Binding::Uniform(&uniforms),
            Binding::Output(params.pixel_bytes()),
        ],
        params.workgroups(),
    );
    let png =
        kiln_example_mandelbrot::encode_png(params.width, params.height, &indices).expect("png");
    timeline::mark("native: PNG encoded");
    (png, gpu_phase)
}

fn native_matmul(shared: &SharedDevice, job: Job) -> (Vec<u8>, Duration) {
    let (a, b) = job.matrices();
    let (a, b) = (
        kiln_example_matmul_gpu::to_bytes(&a),
        kiln_example_matmul_gpu::to_bytes(&b),
    );
    let bytes = u64::from(job.n) * u64::from(job.n) * 4;
    let (product, gpu_phase) = native(
        shared,
        kiln_example_matmul_gpu::WGSL,
        &[
            Binding::Storage(&a),
            Binding::Storage(&b),
            Binding::Output(bytes),
            Binding::Uniform(&job.uniform_bytes()),
        ],
        job.workgroups(),
    );
    let output =
        kiln_example_matmul_gpu::finish(job, &kiln_example_matmul_gpu::from_bytes(&product))
            .expect("finish");
    (output, gpu_phase)
}

async fn guest_job(
    runtime: &Runtime,
    workload: &Workload,
    input: &[u8],
) -> (Duration, Vec<u8>, u64) {
    let limits = JobLimits::default();
    let started = Instant::now();
    timeline::mark("bench: job submitted");
    let report = runtime.run(workload, input.to_vec(), limits).await;
    timeline::mark("bench: report received");
    let elapsed = started.elapsed();
    (
        elapsed,
        report.result.expect("guest job"),
        report.usage.gpu_ns,
    )
}

fn ratio(guest: Duration, native: Duration) -> f64 {
    guest.as_secs_f64() / native.as_secs_f64()
}

/// Each round's guest / native ratio, sorted. A round's two runs are
/// ~20 ms apart, so a load on the machine that changes over seconds
/// cancels in their ratio, where it does not in the ratio of the medians.
fn round_ratios(guest: &[Duration], native: &[Duration]) -> Vec<f64> {
    let mut ratios: Vec<f64> = guest
        .iter()
        .zip(native)
        .map(|(g, n)| ratio(*g, *n))
        .collect();
    ratios.sort_by(f64::total_cmp);
    ratios
}

/// A run whose GPU phase takes this many times its path's fastest is taken
/// for one where lavapipe ran the dispatch on one thread. Lavapipe splits a
/// dispatch into one fixed share per thread (two here); when the second
/// thread is not scheduled before the first finishes its share, the first
/// takes the other share too and the GPU phase doubles. Any thread running
/// at that moment (the job's own, lavapipe's rasterizer after a timestamp)
/// makes it likelier. On a GPU no run should pass this.
const ONE_THREAD_FACTOR: f64 = 1.5;

/// Which runs took over [`ONE_THREAD_FACTOR`] times the fastest GPU phase.
fn one_thread_runs(phases: &[Duration]) -> Vec<bool> {
    let fastest = phases.iter().min().copied().unwrap_or_default();
    phases
        .iter()
        .map(|phase| phase.as_secs_f64() > fastest.as_secs_f64() * ONE_THREAD_FACTOR)
        .collect()
}

/// First quartile, median and third quartile of sorted values.
fn quartiles(sorted: &[f64]) -> [f64; 3] {
    [1, 2, 3].map(|quarter| sorted[(sorted.len() - 1) * quarter / 4])
}

fn main() {
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio");
    tokio.block_on(async {
        let gpu = GpuHost::new(DeviceConfig::default());
        let shared = gpu
            .device()
            .expect("a GPU adapter (lavapipe: apt-get install mesa-vulkan-drivers)");
        let scratch = tempfile::tempdir().expect("scratch");
        let runtime =
            Runtime::new(RuntimeConfig::new(scratch.path()).with_extension(gpu.extension()))
                .expect("runtime");
        let mandelbrot = runtime
            .load(&guest("kiln_example_mandelbrot"))
            .expect("mandelbrot");
        let matmul = runtime
            .load(&guest("kiln_example_matmul_gpu"))
            .expect("matmul-gpu");
        let probe = runtime.load(&guest("kiln_test_gpu_probe")).expect("probe");

        let params = Params::parse(&[]).expect("defaults");
        let job = Job {
            check: false,
            ..Job::parse(&[]).expect("defaults")
        };
        let (mandel_input, matmul_input) = (params.to_input(), job.to_input());

        // Warm up both paths (shader caches, warm instances, page faults),
        // and check that they agree.
        let (_, guest_png, _) = guest_job(&runtime, &mandelbrot, &mandel_input).await;
        assert_eq!(
            guest_png,
            native_mandelbrot(&shared, params).0,
            "same PNG both ways"
        );
        let (_, guest_product, _) = guest_job(&runtime, &matmul, &matmul_input).await;
        assert_eq!(
            guest_product,
            native_matmul(&shared, job).0,
            "same product both ways"
        );

        // For a profiler: KILN_BENCH_PROFILE=guest|native runs only that
        // path of the Mandelbrot example, 200 times, and prints nothing else;
        // `probe` runs the near-empty GPU job 2,000 times (the per-job floor);
        // `timeline` runs both paths 200 times, taking turns, and prints the
        // median of each step (`timeline.rs`).
        match std::env::var("KILN_BENCH_PROFILE").as_deref() {
            Ok("guest") => {
                for _ in 0..200 {
                    guest_job(&runtime, &mandelbrot, &mandel_input).await;
                }
                return;
            }
            Ok("probe") => {
                for _ in 0..2_000 {
                    guest_job(&runtime, &probe, b"calls:1").await;
                }
                return;
            }
            Ok("timeline") => {
                let recorder = timeline::Recorder::install();
                let (mut guest_runs, mut native_runs) = (Vec::new(), Vec::new());
                for _ in 0..200 {
                    settle();
                    recorder.take();
                    guest_job(&runtime, &mandelbrot, &mandel_input).await;
                    guest_runs.push(recorder.take());
                    settle();
                    std::hint::black_box(native_mandelbrot(&shared, params));
                    native_runs.push(recorder.take());
                }
                timeline::print("mandelbrot through the guest", &guest_runs);
                timeline::print("mandelbrot natively", &native_runs);
                return;
            }
            Ok("native") => {
                for _ in 0..200 {
                    std::hint::black_box(native_mandelbrot(&shared, params));
                }
                return;
            }
            _ => {}
        }
        let mut samples: [Vec<Duration>; 4] = Default::default();
        // The GPU phase of each run: the guest's billed device time, the
        // native program's submit-to-mapped time.
        let mut gpu_phase: [Vec<Duration>; 4] = Default::default();
        for _ in 0..rounds() {
            settle();
            let (t, _, ns) = guest_job(&runtime, &mandelbrot, &mandel_input).await;
            samples[0].push(t);
            gpu_phase[0].push(Duration::from_nanos(ns));
            settle();
            let started = Instant::now();
            let (png, phase) = native_mandelbrot(&shared, params);
            samples[1].push(started.elapsed());
            std::hint::black_box(png);
            gpu_phase[1].push(phase);
            settle();
            let (t, _, ns) = guest_job(&runtime, &matmul, &matmul_input).await;
            samples[2].push(t);
            gpu_phase[2].push(Duration::from_nanos(ns));
            settle();
            let started = Instant::now();
            let (product, phase) = native_matmul(&shared, job);
            samples[3].push(started.elapsed());
            std::hint::black_box(product);
            gpu_phase[3].push(phase);
        }
        let gaps = |guest: &[Duration], native: &[Duration]| {
            median(
                guest
                    .iter()
                    .zip(native)
                    .map(|(g, n)| g.saturating_sub(*n))
                    .collect(),
            )
        };
        let (mandel_gap, matmul_gap) = (
            gaps(&samples[0], &samples[1]),
            gaps(&samples[2], &samples[3]),
        );
        let (mandel_ratios, matmul_ratios) = (
            quartiles(&round_ratios(&samples[0], &samples[1])),
            quartiles(&round_ratios(&samples[2], &samples[3])),
        );
        let [mg, mn, xg, xn] = samples.clone().map(median);
        let mgpu = median(gpu_phase[0].clone());
        let xgpu = median(gpu_phase[2].clone());
        let one_thread = gpu_phase.each_ref().map(|phases| one_thread_runs(phases));
        let count = |runs: &[bool]| runs.iter().filter(|slow| **slow).count();
        let both_threads = |guest: usize, native: usize| {
            let rounds: Vec<usize> = (0..samples[guest].len())
                .filter(|&round| !one_thread[guest][round] && !one_thread[native][round])
                .collect();
            let pick = |path: usize| -> Vec<Duration> {
                rounds.iter().map(|&round| samples[path][round]).collect()
            };
            if rounds.is_empty() {
                "no such rounds".to_owned()
            } else {
                format!(
                    "{:.3}x ({} rounds)",
                    ratio(median(pick(guest)), median(pick(native))),
                    rounds.len()
                )
            }
        };

        let mut one = Vec::new();
        let mut many = Vec::new();
        let mut scoped = Vec::new();
        for _ in 0..rounds() {
            settle();
            one.push(guest_job(&runtime, &probe, b"calls:1").await.0);
            settle();
            many.push(
                guest_job(&runtime, &probe, format!("calls:{CALLS}").as_bytes())
                    .await
                    .0,
            );
            settle();
            scoped.push(
                guest_job(&runtime, &probe, format!("scopes:{SCOPED}").as_bytes())
                    .await
                    .0,
            );
        }
        let floor = median(one.clone());
        let per_call = median(many).saturating_sub(floor).as_nanos() as f64 / CALLS as f64;
        let per_scoped = median(scoped).saturating_sub(floor).as_nanos() as f64 / SCOPED as f64;

        println!(
            "kiln GPU benchmark on {} ({:?}, {:?}), {} rounds, medians",
            shared.adapter_name(),
            shared.info.backend,
            shared.info.device_type,
            rounds()
        );
        println!(
            "{:<34} {:>11} {:>11} {:>7} {:>12}",
            "workload", "guest", "native", "ratio", "billed GPU"
        );
        println!(
            "{:<34} {:>11.2?} {:>11.2?} {:>6.3}x {:>12.2?}",
            format!(
                "mandelbrot {}x{}, {} iterations",
                params.width, params.height, params.max_iter
            ),
            mg,
            mn,
            ratio(mg, mn),
            mgpu
        );
        println!(
            "{:<34} {:>11.2?} {:>11.2?} {:>6.3}x {:>12.2?}",
            format!("matmul-gpu n = {}", job.n),
            xg,
            xn,
            ratio(xg, xn),
            xgpu
        );
        println!(
            "guest - native, median of the rounds' differences: mandelbrot {mandel_gap:.2?}, matmul {matmul_gap:.2?}"
        );
        let spread = |[low, mid, high]: [f64; 3]| format!("{mid:.3}x ({low:.3}x to {high:.3}x)");
        println!(
            "each round's guest / native, median (middle half): mandelbrot {}, matmul {}",
            spread(mandel_ratios),
            spread(matmul_ratios)
        );
        println!(
            "runs whose GPU phase took over {ONE_THREAD_FACTOR}x the path's fastest (on lavapipe: the dispatch ran on one thread): mandelbrot guest {}/{n}, native {}/{n}; matmul guest {}/{n}, native {}/{n}",
            count(&one_thread[0]),
            count(&one_thread[1]),
            count(&one_thread[2]),
            count(&one_thread[3]),
            n = samples[0].len()
        );
        println!(
            "ratio of the medians over the rounds where neither path did: mandelbrot {}, matmul {}",
            both_threads(0, 1),
            both_threads(2, 3)
        );
        println!("trivial host call (gpu-buffer.size): {per_call:.0} ns per call ({CALLS} calls)");
        println!(
            "an error-checked SDK call's own cost (three error scopes pushed and popped): {per_scoped:.0} ns ({SCOPED} calls)"
        );
        println!(
            "a GPU job doing next to nothing (the probe: open, one buffer, one call): {floor:.2?}"
        );
        println!("target: guest within 1.1x of native");
    });
}
