//! The Kiln renter client.
//!
//! [`Renter::run`] takes a workload from submission to a checked result:
//! the component is uploaded by SHA-256, the signed spec submitted, the
//! escrow opened on the node's signed terms ([`ledger`]), the input sealed
//! to that node, its receipts checked and counter-signed within the budget,
//! the result opened and checked against the proof of execution in the final
//! receipt, and the node's close of the escrow awaited. [`ReceiptsFile`] is
//! what the renter keeps and what `kiln receipts verify` checks offline.

pub mod api;
pub mod error;
pub mod file;
pub mod job;
pub mod ledger;

pub use api::SchedulerApi;
pub use error::{ClientError, Result};
pub use file::{ReceiptsFile, Verified, VerifyError};
pub use job::{Abandoned, JobOutcome, JobRequest, Progress, Renter};
pub use ledger::{Ledger, SharedLedger};
