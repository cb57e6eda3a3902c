//! `kiln chain show`: typed accounts as text or JSON.

use std::process::ExitCode;

use anyhow::Result;
use kiln_protocol::Rates;
use kiln_settlement_interface::state::{Config, Job, Node, Treasury};
use serde_json::{Value, json};
use solana_address::Address;

use super::args::ShowWhat;
use super::{Client, address_or_key, parse_address, print};

fn address(bytes: &[u8; 32]) -> String {
    Address::new_from_array(*bytes).to_string()
}

fn rates(rates: &Rates) -> Value {
    json!({
        "per_million_fuel": rates.per_million_fuel,
        "per_gpu_second": rates.per_gpu_second,
        "per_wall_second": rates.per_wall_second,
    })
}

fn config(config: &Config) -> Value {
    json!({
        "admin": address(&config.admin),
        "scheduler": address(&config.scheduler),
        "fee_bps": config.fee_bps,
        "slash_cap_bps": config.slash_cap_bps,
        "tier_min_stake": config.tier_min_stake,
        "unstake_cooldown_seconds": config.unstake_cooldown_seconds,
        "expire_grace_seconds": config.expire_grace_seconds,
    })
}

fn node(node: &Node) -> Value {
    let end = node
        .region
        .iter()
        .position(|byte| *byte == 0)
        .unwrap_or(node.region.len());
    json!({
        "operator": address(&node.operator),
        "receipt_key": address(&node.receipt_key),
        "class": node.class,
        "region": String::from_utf8_lossy(&node.region[..end]),
        "price_floor": rates(&node.price_floor),
        "stake": node.stake,
        "unstaking": node.unstaking,
        "unstake_requested_at": node.unstake_requested_at,
        "jobs_done": node.jobs_done,
        "faults": node.faults,
    })
}

fn job(job: &Job) -> Value {
    json!({
        "job_id": job.job_id,
        "renter": address(&job.renter),
        "node": address(&job.node),
        "operator": address(&job.operator),
        "rates": rates(&job.rates),
        "fee_bps": job.fee_bps,
        "escrow": job.escrow,
        "paid": job.paid,
        "last_paid_seq": job.last_paid_seq,
        "deadline": job.deadline,
    })
}

fn treasury(treasury: &Treasury) -> Value {
    json!({ "fees": treasury.fees, "slashed": treasury.slashed })
}

/// Prints one account.
pub fn show(client: &Client, json: bool, what: ShowWhat) -> Result<ExitCode> {
    let (title, value) = match what {
        ShowWhat::Config => ("config".to_string(), config(&client.config()?)),
        ShowWhat::Treasury => ("treasury".to_string(), treasury(&client.treasury()?)),
        ShowWhat::Node { operator } => {
            let operator = address_or_key(&operator)?;
            (
                format!("node of {operator}"),
                node(&client.node(&operator)?),
            )
        }
        ShowWhat::Job { job: address } => {
            let address = parse_address(&address)?;
            (format!("job {address}"), job(&client.job(&address)?))
        }
        ShowWhat::Balance { address } => {
            let address = address_or_key(&address)?;
            (
                format!("balance of {address}"),
                json!({ "address": address.to_string(), "balance": client.balance(&address)? }),
            )
        }
    };
    Ok(print(json, value.clone(), || match value {
        Value::Object(fields) => {
            let mut text = format!("{title}:");
            for (key, field) in fields {
                text.push_str(&format!("\n  {key}: {field}"));
            }
            text
        }
        other => format!("{title}: {other}"),
    }))
}
