//! `kiln run`: run a workload locally, as a node would, and print its usage.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use kiln_runtime::{JobLimits, Runtime, RuntimeConfig};

/// Arguments of `kiln run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The workload component (.wasm, built for wasm32-wasip2).
    workload: PathBuf,
    /// File whose bytes are the job's input (default: empty input).
    #[arg(long)]
    input: Option<PathBuf>,
    /// File to write the job's output to.
    #[arg(long)]
    output: Option<PathBuf>,
    /// Fuel budget.
    #[arg(long, default_value_t = kiln_runtime::job::DEFAULT_FUEL)]
    fuel: u64,
    /// Linear memory cap in MiB.
    #[arg(long, default_value_t = kiln_runtime::job::DEFAULT_MEMORY_BYTES >> 20)]
    memory_mib: u64,
    /// GPU memory cap in MiB (WebGPU and CUDA buffers together).
    #[arg(long, default_value_t = kiln_runtime::job::DEFAULT_GPU_MEMORY_BYTES >> 20)]
    gpu_memory_mib: u64,
    /// Wall-clock deadline in seconds.
    #[arg(long, default_value_t = kiln_runtime::job::DEFAULT_WALL_CLOCK.as_secs())]
    timeout_s: u64,
    /// Print one JSON object: status, fuel, wall_ms, gpu_ns, output_sha256.
    #[arg(long)]
    json: bool,
}

pub fn run(args: RunArgs) -> Result<ExitCode> {
    let bytes = std::fs::read(&args.workload)
        .with_context(|| format!("reading workload {}", args.workload.display()))?;
    let input = match &args.input {
        Some(path) => {
            std::fs::read(path).with_context(|| format!("reading input {}", path.display()))?
        }
        None => Vec::new(),
    };
    let memory_bytes = args
        .memory_mib
        .checked_mul(1 << 20)
        .context("--memory-mib is too large")?;
    let (scratch_root, _scratch_guard) =
        super::scratch_root().context("creating a scratch root")?;
    let mut config = RuntimeConfig::new(scratch_root);
    // Compiled components are cached between runs.
    config.cache_dir = super::cache_home().map(|home| home.join("components"));
    config.max_concurrent_jobs = 1;
    config.max_memory_bytes = config.max_memory_bytes.max(memory_bytes);
    // GPU host calls, as a node offers them; the device opens only if the
    // workload asks for it.
    let config =
        config.with_extension(kiln_gpu::GpuHost::new(super::gpu::device_config()).extension());
    let gpu_memory_bytes = args
        .gpu_memory_mib
        .checked_mul(1 << 20)
        .context("--gpu-memory-mib is too large")?;
    let limits = JobLimits {
        gpu_memory_bytes,
        fuel: args.fuel,
        memory_bytes,
        wall_clock: Duration::from_secs(args.timeout_s),
        ..JobLimits::default()
    };

    let tokio = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let report = tokio.block_on(async {
        let runtime = Runtime::new(config)?;
        let workload = runtime.load(&bytes)?;
        anyhow::Ok(runtime.run(&workload, input, limits).await)
    })?;

    let output_sha256 = report
        .result
        .as_ref()
        .ok()
        .map(|out| kiln_protocol::sha256(&[out]).to_string());
    let status = match &report.result {
        Ok(_) => "ok",
        Err(error) => error.status(),
    };
    if let (Ok(output), Some(path)) = (&report.result, &args.output) {
        std::fs::write(path, output)
            .with_context(|| format!("writing output {}", path.display()))?;
    }
    if args.json {
        let object = serde_json::json!({
            "status": status,
            "fuel": report.usage.fuel,
            "wall_ms": report.usage.wall_ms,
            "gpu_ns": report.usage.gpu_ns,
            "output_sha256": output_sha256,
        });
        println!("{object}");
    } else {
        let mut stderr = std::io::stderr();
        stderr.write_all(&report.stdout)?;
        stderr.write_all(&report.stderr)?;
        match &report.result {
            Ok(output) => println!("status        ok ({} bytes of output)", output.len()),
            Err(error) => println!("status        {status}: {error}"),
        }
        println!("fuel          {}", report.usage.fuel);
        println!("wall_ms       {}", report.usage.wall_ms);
        println!("gpu_ns        {}", report.usage.gpu_ns);
        println!("output_sha256 {}", output_sha256.as_deref().unwrap_or("-"));
    }
    Ok(if report.result.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
