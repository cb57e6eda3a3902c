//! stub
pub struct Context; pub struct Module; pub struct DeviceBuffer;
pub(crate) struct CudaJob;
impl CudaJob { pub(crate) fn new(_m: std::sync::Arc<crate::webgpu::objects::MemoryAccount>, _meter: kiln_runtime::JobMeter) -> Self { Self } }
pub(crate) fn driver_present() -> bool { false }
pub(crate) mod link {
use kiln_runtime::{ExtensionSlot, JobState};
use wasmtime::component::Linker;
pub(crate) fn add_to_linker(_l: &mut Linker<JobState>, _s: ExtensionSlot, _n: &mut Vec<String>) -> wasmtime::Result<()> { Ok(()) }
}
