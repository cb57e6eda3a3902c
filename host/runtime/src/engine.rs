//! The one wasmtime `Engine` of a process, and its epoch ticker.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use crate::config::{
    ASYNC_STACK_BYTES, MAX_CORE_INSTANCES_PER_COMPONENT, MAX_MEMORIES_PER_COMPONENT,
    MAX_TABLES_PER_COMPONENT, MAX_WARM_INSTANCES, MAX_WASM_STACK_BYTES, RuntimeConfig,
};
use crate::error::RuntimeError;

/// Bytes of a freed table slot reset with memset instead of madvise (memories:
/// [`RuntimeConfig::keep_resident_bytes`]).
const TABLE_KEEP_RESIDENT_BYTES: usize = 64 << 10;

/// Builds the engine: component model, async, pooling allocator sized for
/// `config.max_concurrent_jobs`, fuel and epochs as `config.metering` says.
pub(crate) fn build_engine(config: &RuntimeConfig) -> Result<Engine, RuntimeError> {
    // Running jobs, plus instances waiting ready for the next ones.
    let jobs = config
        .max_concurrent_jobs
        .max(1)
        .saturating_add(MAX_WARM_INSTANCES);
    let max_memory = usize::try_from(config.max_memory_bytes)
        .map_err(|_| RuntimeError::Config("max_memory_bytes does not fit this host".into()))?;
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(jobs)
        .total_core_instances(jobs.saturating_mul(MAX_CORE_INSTANCES_PER_COMPONENT / 2))
        .total_memories(
            jobs.saturating_mul(MAX_MEMORIES_PER_COMPONENT / 2)
                .max(jobs),
        )
        .total_tables(jobs.saturating_mul(MAX_TABLES_PER_COMPONENT / 2))
        .total_stacks(jobs)
        .max_core_instances_per_component(MAX_CORE_INSTANCES_PER_COMPONENT)
        .max_memories_per_component(MAX_MEMORIES_PER_COMPONENT)
        .max_tables_per_component(MAX_TABLES_PER_COMPONENT)
        .max_memory_size(max_memory)
        .linear_memory_keep_resident(config.keep_resident_bytes)
        .table_keep_resident(TABLE_KEEP_RESIDENT_BYTES);

    let mut wasm = Config::new();
    wasm.wasm_component_model(true)
        .consume_fuel(config.metering.fuel())
        .epoch_interruption(config.metering.epochs())
        .max_wasm_stack(MAX_WASM_STACK_BYTES)
        .async_stack_size(ASYNC_STACK_BYTES)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    Engine::new(&wasm).map_err(|e| RuntimeError::Config(format!("{e:#}")))
}

/// A thread that advances the engine's epoch every tick, until dropped.
pub(crate) struct EpochTicker {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl EpochTicker {
    pub(crate) fn start(engine: Engine, tick: Duration) -> Result<Self, RuntimeError> {
        let stop = Arc::new(AtomicBool::new(false));
        let thread = std::thread::Builder::new()
            .name("kiln-epoch-ticker".into())
            .spawn({
                let stop = stop.clone();
                move || {
                    while !stop.load(Ordering::Relaxed) {
                        std::thread::sleep(tick);
                        engine.increment_epoch();
                    }
                }
            })
            .map_err(RuntimeError::Io)?;
        Ok(Self {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
