//! `kiln scheduler policy set`: swap a running scheduler's policy plugins
//! through its admin API, without a restart.
//!
//! Speaks plain HTTP/1.1 (one request per plugin, `Connection: close`): the
//! admin API is meant for loopback or an operator's private network; put TLS
//! in front of it otherwise.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Args;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// Arguments of `kiln scheduler policy set`.
#[derive(Debug, Args)]
pub struct SetArgs {
    /// A new ranking plugin (`kiln:policy/scheduler`).
    #[arg(long)]
    rank: Option<PathBuf>,
    /// A new pricing plugin (`kiln:policy/pricing`).
    #[arg(long)]
    pricing: Option<PathBuf>,
    /// The scheduler's address.
    #[arg(long, default_value = "127.0.0.1:7400")]
    scheduler: String,
    /// File holding the admin token (the one `kiln scheduler serve
    /// --admin-token-file` was given).
    #[arg(long)]
    admin_token_file: PathBuf,
}

pub fn set(args: SetArgs) -> Result<ExitCode> {
    if args.rank.is_none() && args.pricing.is_none() {
        bail!("name a plugin to set: --rank FILE and/or --pricing FILE");
    }
    let token = read_token(&args.admin_token_file)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        for (kind, file) in [("rank", &args.rank), ("pricing", &args.pricing)] {
            let Some(file) = file else { continue };
            let bytes =
                std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
            let path = format!("/v1/admin/policies/{kind}");
            let (status, body) = put(&args.scheduler, &path, &token, &bytes)
                .await
                .with_context(|| format!("talking to the scheduler at {}", args.scheduler))?;
            if status != 200 {
                bail!("setting the {kind} plugin: HTTP {status}: {body}");
            }
            println!("{kind}: {body}");
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// Reads a token file (surrounding whitespace ignored).
pub fn read_token(path: &Path) -> Result<String> {
    let token =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let token = token.trim().to_owned();
    if token.is_empty() {
        bail!("the admin token file {} is empty", path.display());
    }
    Ok(token)
}

/// One `PUT` with a wasm body; the status and the body of the answer.
async fn put(address: &str, path: &str, token: &str, body: &[u8]) -> Result<(u16, String)> {
    let mut stream = tokio::net::TcpStream::connect(address).await?;
    let head = format!(
        "PUT {path} HTTP/1.1\r\nhost: {address}\r\nconnection: close\r\n\
         authorization: Bearer {token}\r\ncontent-type: application/wasm\r\n\
         content-length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body).await?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await?;
    let response = String::from_utf8_lossy(&response);
    let status = response
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok((status, body))
}
