//! Test guest for kiln-gpu: runs one GPU scenario per job, named by its
//! input (`command` or `command:argument`), and answers with what it got as
//! text. Misbehaviour is on purpose; the host's tests assert the answers.

#[cfg(target_arch = "wasm32")]
mod component {
    use kiln_guest::gpu::{Error, Gpu};

    /// A kernel that doubles a storage buffer of u32s.
    const DOUBLE: &str = r#"
        @group(0) @binding(0) var<storage, read_write> data: array<u32>;
        @compute @workgroup_size(64)
        fn main(@builtin(global_invocation_id) id: vec3<u32>) {
            if (id.x < arrayLength(&data)) { data[id.x] = data[id.x] * 2u; }
        }
    "#;

    /// The error class of a result, for the host's assertions.
    fn class(result: Result<(), Error>) -> String {
        match result {
            Ok(()) => "ok".into(),
            Err(Error::Validation(m)) => format!("validation: {m}"),
            Err(Error::OutOfMemory(m)) => format!("out-of-memory: {m}"),
            Err(Error::Internal(m)) => format!("internal: {m}"),
            Err(Error::Map(m)) => format!("map: {m}"),
            Err(Error::Write(m)) => format!("write: {m}"),
            Err(other) => format!("other: {other}"),
        }
    }

    fn arg(argument: Option<&str>) -> Result<u64, String> {
        argument
            .ok_or("missing argument")?
            .parse()
            .map_err(|e| format!("bad argument: {e}"))
    }

    fn run(command: &str) -> Result<String, String> {
        let (command, argument) = match command.split_once(':') {
            Some((command, argument)) => (command, Some(argument)),
            None => (command, None),
        };
        if command == "cuda" {
            return Ok(match kiln_guest::cuda::Context::open(0) {
                Ok(context) => format!("cuda: {:?}", context.device_name()),
                Err(kiln_guest::cuda::Error::NoDriver(why)) => format!("no-driver: {why}"),
                Err(other) => format!("other: {other:?}"),
            });
        }
        let gpu = Gpu::new()?;
        let answer = match command {
            "ok" => {
                let buffer = gpu.storage_buffer(16)?;
                gpu.write(&buffer, 0, &[7; 16])?;
                let back = gpu.read(&buffer, 0, 16)?;
                format!("ok {} {back:?}", gpu.adapter_name())
            }
            "double" => {
                let values: Vec<u8> = (0u32..256).flat_map(|v| v.to_le_bytes()).collect();
                let buffer = gpu.storage_buffer(1024)?;
                gpu.write(&buffer, 0, &values)?;
                let kernel = gpu.kernel(DOUBLE, "main")?;
                let group = gpu.bind(&kernel, 0, &[&buffer])?;
                gpu.dispatch(&kernel, &[&group], [4, 1, 1])?;
                let back = gpu.read(&buffer, 0, 1024)?;
                let doubled = back
                    .chunks_exact(4)
                    .zip(0u32..)
                    .all(|(v, i)| u32::from_le_bytes([v[0], v[1], v[2], v[3]]) == 2 * i);
                format!("doubled {doubled}")
            }
            "calls" => {
                // The benchmark's per-call cost: a trivial host call, n times.
                let buffer = gpu.storage_buffer(16)?;
                let mut total = 0u64;
                for _ in 0..arg(argument)? {
                    total = total.wrapping_add(buffer.raw().size());
                }
                format!("calls {total}")
            }
            "scopes" => {
                // An error-checked call's overhead: empty work in the
                // wrapper's three error scopes, n times.
                for _ in 0..arg(argument)? {
                    gpu.scoped(|| ())?;
                }
                "scopes".into()
            }
            "oob-write" => {
                let buffer = gpu.storage_buffer(64)?;
                class(gpu.write(&buffer, 60, &[1; 8]))
            }
            "oob-write-far" => {
                let buffer = gpu.storage_buffer(64)?;
                class(gpu.write(&buffer, u64::MAX - 3, &[1; 8]))
            }
            "oob-read" => {
                let buffer = gpu.storage_buffer(64)?;
                class(gpu.read(&buffer, 32, 64).map(drop))
            }
            "oob-map" => {
                use kiln_guest::gpu::BufferUsage;
                let buffer = gpu.buffer(64, BufferUsage::MAP_READ | BufferUsage::COPY_DST)?;
                let mapped = wit_bindgen::block_on(buffer.raw().map_async(
                    kiln_guest::gpu::raw::GpuMapMode::READ,
                    Some(64),
                    Some(64),
                ));
                match mapped {
                    Ok(()) => "mapped".into(),
                    Err(e) => format!("map-error {:?}: {}", e.kind, e.message),
                }
            }
            "alloc" => {
                let bytes = arg(argument)?;
                let allocated = gpu.storage_buffer(bytes).map(drop);
                let after = gpu.storage_buffer(1024).map(drop);
                format!("{} | then 1 KiB: {}", class(allocated), class(after))
            }
            "fill" => {
                let bytes = arg(argument)?;
                let buffer = gpu.storage_buffer(bytes)?;
                let len = usize::try_from(bytes).map_err(|e| e.to_string())?;
                gpu.write(&buffer, 0, &vec![0xab; len])?;
                let back = gpu.read(&buffer, 0, bytes)?;
                format!("filled {}", back.iter().all(|b| *b == 0xab))
            }
            "zeroed" => {
                let bytes = arg(argument)?;
                let buffer = gpu.storage_buffer(bytes)?;
                let back = gpu.read(&buffer, 0, bytes)?;
                format!("zeroed {}", back.iter().all(|b| *b == 0))
            }
            "bad-wgsl" => class(gpu.kernel("@compute fn main( {", "main").map(drop)),
            "dispatch-over" => {
                let buffer = gpu.storage_buffer(256)?;
                let kernel = gpu.kernel(DOUBLE, "main")?;
                let group = gpu.bind(&kernel, 0, &[&buffer])?;
                let over = class(gpu.dispatch(&kernel, &[&group], [1 << 20, 1, 1]));
                // The same job carries on after the error.
                let fine = class(gpu.dispatch(&kernel, &[&group], [1, 1, 1]));
                format!("{over} | then: {fine}")
            }
            "alloc-then-trap" => {
                let buffer = gpu.storage_buffer(arg(argument)?)?;
                gpu.write(&buffer, 0, &[1; 4])?;
                panic!("trapping with a live GPU buffer");
            }
            "wait-then-spin" => {
                // `n` dispatches, each read back (a wait for the device), then
                // wasm that never ends: pausing must still hold it.
                let buffer = gpu.storage_buffer(1024)?;
                let kernel = gpu.kernel(DOUBLE, "main")?;
                let group = gpu.bind(&kernel, 0, &[&buffer])?;
                for _ in 0..arg(argument)? {
                    gpu.dispatch(&kernel, &[&group], [4, 1, 1])?;
                    gpu.read(&buffer, 0, 1024)?;
                }
                let mut x = 0u64;
                loop {
                    x = std::hint::black_box(x.wrapping_add(1));
                }
            }
            "alloc-then-spin" => {
                let buffer = gpu.storage_buffer(arg(argument)?)?;
                gpu.write(&buffer, 0, &[1; 4])?;
                let mut x = 0u64;
                loop {
                    x = std::hint::black_box(x.wrapping_add(1));
                }
            }
            other => return Err(format!("unknown command {other:?}")),
        };
        Ok(answer)
    }

    struct Probe;

    impl kiln_guest::Workload for Probe {
        fn run(input: Vec<u8>) -> Result<Vec<u8>, String> {
            let command = String::from_utf8(input).map_err(|e| e.to_string())?;
            run(&command).map(String::into_bytes)
        }
    }

    kiln_guest::export_workload!(Probe);
}
