//! The capability manifest's facts about this machine: CPU, memory, GPUs and
//! a benchmark class measured by running a standard component.
//!
//! Everything here is read from the machine (`/proc`, wgpu's adapter, the
//! CUDA driver when one loads); nothing is taken from configuration, so a
//! manifest cannot claim hardware the node does not have without lying in
//! code. The scheduler still treats a manifest as a claim (reputation and
//! faults settle the rest).

use std::time::{Duration, Instant};

use kiln_protocol::manifest::{CpuInfo, DeviceKind, GpuBackend, GpuInfo, MAX_MODEL_NAME_LEN};
use kiln_protocol::{BenchmarkClass, WorkloadClass};
use kiln_runtime::{JobLimits, Runtime};

/// What the probe found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MachineFacts {
    /// CPU model and cores.
    pub cpu: CpuInfo,
    /// Physical memory in bytes.
    pub ram_bytes: u64,
    /// GPUs: the wgpu adapter the node's jobs run on, and CUDA when present.
    pub gpus: Vec<GpuInfo>,
    /// The workload classes this machine can serve.
    pub classes: Vec<WorkloadClass>,
}

/// Input of the standard benchmark: 1 MiB of a fixed pattern, so every node
/// hashes the same bytes and spends the same fuel.
pub const BENCHMARK_INPUT_BYTES: usize = 1 << 20;

/// How long the standard benchmark may run: a node too slow to hash 1 MiB in
/// this time gets class 0 rather than holding up its start.
pub const BENCHMARK_DEADLINE: Duration = Duration::from_secs(30);

/// Benchmark time (best of [`BENCHMARK_ROUNDS`]) at or under which a node
/// earns class 1. Each halving of the time earns one class more, up to
/// `BenchmarkClass::MAX`; slower nodes are class 0. 400 ms is about a
/// 2015-era laptop core hashing 1 MiB in metered wasm.
pub const BENCHMARK_CLASS_1: Duration = Duration::from_millis(400);

/// Rounds of the benchmark; the best one counts, so a noisy neighbour at
/// start-up costs a node less.
pub const BENCHMARK_ROUNDS: usize = 3;

/// Reads the CPU model, core count and memory, and the GPUs `gpu` can open.
pub fn probe(gpu: &kiln_gpu::GpuHost) -> MachineFacts {
    let cpu = CpuInfo {
        model: cpu_model(),
        cores: std::thread::available_parallelism()
            .map(|n| u16::try_from(n.get()).unwrap_or(u16::MAX))
            .unwrap_or(1),
    };
    let mut gpus = Vec::new();
    let mut classes = vec![WorkloadClass::Cpu];
    match gpu.device() {
        Ok(device) => {
            gpus.push(GpuInfo {
                name: truncate(&device.info.name),
                backend: match device.info.backend {
                    wgpu::Backend::Metal => GpuBackend::Metal,
                    wgpu::Backend::Dx12 => GpuBackend::Dx12,
                    _ => GpuBackend::Vulkan,
                },
                kind: match device.info.device_type {
                    wgpu::DeviceType::DiscreteGpu => DeviceKind::Discrete,
                    wgpu::DeviceType::IntegratedGpu => DeviceKind::Integrated,
                    wgpu::DeviceType::VirtualGpu => DeviceKind::Virtual,
                    _ => DeviceKind::Software,
                },
                // wgpu does not report device memory; the largest buffer the
                // adapter allows is the closest portable figure.
                memory_bytes: device.limits.max_buffer_size,
            });
            classes.push(WorkloadClass::WebGpu);
        }
        Err(error) => tracing::info!(%error, "no WebGPU adapter; serving CPU jobs only"),
    }
    if gpu.cuda_available() {
        gpus.push(GpuInfo {
            name: "CUDA device 0".to_owned(),
            backend: GpuBackend::Cuda,
            kind: DeviceKind::Discrete,
            memory_bytes: 0,
        });
        classes.push(WorkloadClass::Cuda);
    }
    gpus.truncate(kiln_protocol::manifest::MAX_GPUS);
    MachineFacts {
        cpu,
        ram_bytes: ram_bytes(),
        gpus,
        classes,
    }
}

fn truncate(text: &str) -> String {
    let mut end = text.len().min(MAX_MODEL_NAME_LEN);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|line| line.starts_with("model name"))
                .and_then(|line| line.split_once(':'))
                .map(|(_, model)| truncate(model.trim()))
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_owned())
}

fn ram_bytes() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|info| {
            let line = info.lines().find(|line| line.starts_with("MemTotal:"))?;
            let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
            kib.checked_mul(1024)
        })
        .unwrap_or(0)
}

/// The class a benchmark time earns (see [`BENCHMARK_CLASS_1`]).
pub fn class_for(best: Duration) -> BenchmarkClass {
    if best > BENCHMARK_CLASS_1 {
        return BenchmarkClass(0);
    }
    let mut class = 1u8;
    let mut bound = BENCHMARK_CLASS_1 / 2;
    while best <= bound && class < BenchmarkClass::MAX.0 && !bound.is_zero() {
        class += 1;
        bound /= 2;
    }
    BenchmarkClass(class)
}

/// Why the benchmark gave no class.
#[derive(Debug, thiserror::Error)]
pub enum BenchmarkError {
    /// The component did not load.
    #[error("benchmark component refused: {0}")]
    Load(#[from] kiln_runtime::LoadError),
    /// It ran but did not finish well.
    #[error("benchmark run failed: {0}")]
    Run(String),
}

/// Runs the standard benchmark component (`bytes`: the `sha256` example)
/// [`BENCHMARK_ROUNDS`] times on [`BENCHMARK_INPUT_BYTES`] and returns the
/// best time and the class it earns.
pub async fn benchmark(
    runtime: &Runtime,
    bytes: &[u8],
) -> Result<(Duration, BenchmarkClass), BenchmarkError> {
    let workload = runtime.load(bytes)?;
    let input: Vec<u8> = (0..BENCHMARK_INPUT_BYTES)
        .map(|i| u8::try_from(i % 251).unwrap_or(0))
        .collect();
    let limits = JobLimits {
        wall_clock: BENCHMARK_DEADLINE,
        ..JobLimits::default()
    };
    let mut best = Duration::MAX;
    for _ in 0..BENCHMARK_ROUNDS {
        let started = Instant::now();
        let report = runtime.run(&workload, input.clone(), limits).await;
        let took = started.elapsed();
        if let Err(error) = report.result {
            return Err(BenchmarkError::Run(error.to_string()));
        }
        best = best.min(took);
    }
    Ok((best, class_for(best)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_halving_of_the_time_earns_one_class() {
        assert_eq!(class_for(Duration::from_secs(1)), BenchmarkClass(0));
        assert_eq!(class_for(BENCHMARK_CLASS_1), BenchmarkClass(1));
        assert_eq!(class_for(BENCHMARK_CLASS_1 / 2), BenchmarkClass(2));
        assert_eq!(class_for(BENCHMARK_CLASS_1 / 5), BenchmarkClass(3));
        assert_eq!(class_for(Duration::ZERO), BenchmarkClass::MAX);
    }

    #[test]
    fn the_probe_reads_this_machine() {
        let facts = probe(&kiln_gpu::GpuHost::new(kiln_gpu::DeviceConfig::default()));
        assert!(facts.cpu.cores >= 1);
        assert!(facts.ram_bytes > 0, "MemTotal read from /proc/meminfo");
        assert!(!facts.cpu.model.is_empty());
        assert!(facts.classes.contains(&WorkloadClass::Cpu));
    }

    /// Without a PTX compiler process the node offers no CUDA, driver or not.
    #[test]
    fn a_node_without_a_ptx_compiler_process_lists_no_cuda() {
        let facts = probe(&kiln_gpu::GpuHost::new(kiln_gpu::DeviceConfig::default()));
        assert!(!facts.classes.contains(&WorkloadClass::Cuda));
        assert!(facts.gpus.iter().all(|gpu| gpu.backend != GpuBackend::Cuda));
    }
}
