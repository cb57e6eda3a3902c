//! `kiln scheduler policy set`: swap a running scheduler's policy plugins
//! through its admin API, without a restart.
//!
//! The admin API is meant for loopback or an operator's private network;
//! put TLS in front of it otherwise (an `https://` address works then).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Args;
use kiln_scheduler_api::wire::{ErrorBody, PolicySet};

/// Arguments of `kiln scheduler policy set`.
#[derive(Debug, Args)]
pub struct SetArgs {
    /// A new ranking plugin (`kiln:policy/scheduler`).
    #[arg(long)]
    rank: Option<PathBuf>,
    /// A new pricing plugin (`kiln:policy/pricing`).
    #[arg(long)]
    pricing: Option<PathBuf>,
    /// The scheduler's address (`host:port`, or a URL).
    #[arg(long, default_value = "127.0.0.1:7400")]
    scheduler: String,
    /// File holding the admin token (the one `kiln scheduler serve
    /// --admin-token-file` was given).
    #[arg(long)]
    admin_token_file: PathBuf,
    /// Print one JSON object (`{"rank": {"name", "sha256"}, "pricing": …}`)
    /// instead of text.
    #[arg(long)]
    json: bool,
}

/// What `--json` prints: the plugins swapped in, by kind.
#[derive(Debug, Default, serde::Serialize)]
struct Swapped {
    #[serde(skip_serializing_if = "Option::is_none")]
    rank: Option<PolicySet>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pricing: Option<PolicySet>,
}

pub fn set(args: SetArgs) -> Result<ExitCode> {
    if args.rank.is_none() && args.pricing.is_none() {
        bail!("name a plugin to set: --rank FILE and/or --pricing FILE");
    }
    let token = read_token(&args.admin_token_file)?;
    let base = if args.scheduler.contains("://") {
        args.scheduler.trim_end_matches('/').to_owned()
    } else {
        format!("http://{}", args.scheduler)
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let http = reqwest::Client::new();
    let mut swapped = Swapped::default();
    runtime.block_on(async {
        for (kind, file) in [("rank", &args.rank), ("pricing", &args.pricing)] {
            let Some(file) = file else { continue };
            let bytes =
                std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
            let set = put(&http, &base, kind, &token, bytes)
                .await
                .with_context(|| format!("setting the {kind} plugin at {base}"))?;
            if !args.json {
                println!("{kind}: {} (sha256 {})", set.name, set.sha256);
            }
            match kind {
                "rank" => swapped.rank = Some(set),
                _ => swapped.pricing = Some(set),
            }
        }
        anyhow::Ok(())
    })?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&swapped)?);
    }
    Ok(ExitCode::SUCCESS)
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

/// `PUT /v1/admin/policies/{kind}` with the plugin as the body.
async fn put(
    http: &reqwest::Client,
    base: &str,
    kind: &str,
    token: &str,
    bytes: Vec<u8>,
) -> Result<PolicySet> {
    let response = http
        .put(format!("{base}/v1/admin/policies/{kind}"))
        .bearer_auth(token)
        .header(reqwest::header::CONTENT_TYPE, "application/wasm")
        .body(bytes)
        .send()
        .await?;
    let status = response.status();
    if status.is_success() {
        return Ok(response.json().await?);
    }
    let body = response.text().await.unwrap_or_default();
    match serde_json::from_str::<ErrorBody>(&body) {
        Ok(error) => bail!("HTTP {status}: {} ({})", error.message, error.error),
        Err(_) => bail!("HTTP {status}: {body}"),
    }
}
