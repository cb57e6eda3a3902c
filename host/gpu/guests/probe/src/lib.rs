//! Test guest for kiln-gpu: runs one GPU scenario per job, named by its
//! input, and answers with what it got, as text. Misbehaviour is on purpose.

#[cfg(target_arch = "wasm32")]
mod component {
    use kiln_guest::gpu::Gpu;

    struct Probe;

    fn run(command: &str) -> Result<String, String> {
        let gpu = Gpu::new()?;
        match command {
            "ok" => {
                let buffer = gpu.storage_buffer(16)?;
                gpu.write(&buffer, 0, &[7; 16])?;
                let back = gpu.read(&buffer, 0, 16)?;
                Ok(format!("ok {} {back:?}", gpu.adapter_name()))
            }
            other => Err(format!("unknown command {other:?}")),
        }
    }

    impl kiln_guest::Workload for Probe {
        fn run(input: Vec<u8>) -> Result<Vec<u8>, String> {
            let command = String::from_utf8(input).map_err(|e| e.to_string())?;
            run(&command).map(String::into_bytes)
        }
    }

    kiln_guest::export_workload!(Probe);
}
