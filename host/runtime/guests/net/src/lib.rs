//! A workload that opens a TCP connection. It imports `wasi:sockets`, which
//! Kiln does not grant, so the runtime refuses it before it runs.

struct Net;

impl kiln_guest::Workload for Net {
    fn run(_input: Vec<u8>) -> Result<Vec<u8>, String> {
        let stream = std::net::TcpStream::connect("127.0.0.1:80").map_err(|e| e.to_string())?;
        Ok(format!("connected: {stream:?}").into_bytes())
    }
}

kiln_guest::export_workload!(Net);
