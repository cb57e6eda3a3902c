//! Opening a job on the node's terms: the escrow on chain, the sealed input.

use std::sync::Arc;

use kiln_protocol::{JobSpec, PublicKey, Rates};
use kiln_scheduler_api::messages::{
    RenterAction, input_message, input_seal_context, renter_action_message,
};
use kiln_scheduler_api::wire::{JobInput, JobStatus, RenterSigned};
use kiln_settlement::Acceptance;
use kiln_settlement_interface::instruction::OpenJobParams;

use super::{JobRequest, Renter, parse_key, signature_hex};
use crate::error::{ClientError, Result};

impl Renter {
    /// Checks the node's terms, opens the escrow, seals and posts the input,
    /// confirms. Returns (attempt, node, rates, escrow).
    #[expect(
        clippy::too_many_arguments,
        reason = "one step of the flow, given its state"
    )]
    pub(super) async fn open(
        &self,
        job: &PublicKey,
        job_number: u64,
        spec: &JobSpec,
        status: &JobStatus,
        acceptance: &kiln_scheduler_api::wire::AcceptanceJson,
        result_key: &kiln_seal::SecretKey,
        request: &JobRequest,
    ) -> Result<(u32, PublicKey, Rates, u64)> {
        let node = status
            .node_id
            .as_deref()
            .and_then(parse_key)
            .ok_or_else(|| ClientError::Receipt("a proposal without a node".into()))?;
        let refuse = |reason: String| ClientError::Terms { node, reason };
        let rates: Rates = status
            .price
            .ok_or_else(|| refuse("no price".into()))?
            .into();
        if !rates.within(&request.max_rates) {
            return Err(refuse("the price is above the job's maximum".into()));
        }
        let expected = spec.max_cost(&rates).map_err(|e| refuse(e.to_string()))?;
        if acceptance.escrow != expected {
            return Err(refuse(format!(
                "escrow {} is not the job's worst-case cost {expected}",
                acceptance.escrow
            )));
        }
        let info = self
            .api
            .nodes()
            .await?
            .into_iter()
            .find(|info| info.node_id == node.to_string())
            .ok_or_else(|| refuse("not registered".into()))?;
        let operator = parse_key(&info.operator).ok_or_else(|| refuse("bad operator".into()))?;
        let receipt_key =
            parse_key(&info.receipt_key).ok_or_else(|| refuse("bad receipt key".into()))?;
        let seal_key = status
            .node_encryption_key
            .as_deref()
            .and_then(parse_key)
            .ok_or_else(|| refuse("no encryption key".into()))?;
        let params = OpenJobParams {
            job_id: job_number,
            escrow: acceptance.escrow,
            rates,
            deadline: acceptance.deadline,
        };
        let accepted = Acceptance {
            node_key: receipt_key.0,
            signature: acceptance.signature,
        };
        let ledger = Arc::clone(&self.ledger);
        let keypair = self.keypair.insecure_clone();
        tokio::task::spawn_blocking(move || {
            ledger.open_job(&keypair, &operator, &accepted, params)
        })
        .await
        .map_err(|e| ClientError::File(e.to_string()))??;

        let attempt = status.attempt;
        let sealed = kiln_seal::seal(
            &kiln_seal::PublicKey(seal_key.0),
            &input_seal_context(job, attempt),
            &request.input,
        )?;
        let result_public = result_key.public_key().0;
        let signature = signature_hex(
            &self.key,
            &input_message(job, attempt, &sealed.0, &result_public),
        );
        self.api
            .post_input(
                job,
                &JobInput {
                    attempt,
                    sealed: hex::encode(&sealed.0),
                    result_key: hex::encode(result_public),
                    signature,
                },
            )
            .await?;
        self.api
            .confirm(
                job,
                &RenterSigned {
                    attempt,
                    signature: signature_hex(
                        &self.key,
                        &renter_action_message(job, RenterAction::Confirm, attempt),
                    ),
                },
            )
            .await?;
        Ok((attempt, receipt_key, rates, acceptance.escrow))
    }
}
