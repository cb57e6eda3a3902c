//! Loaded plugins behind the matcher's traits: [`WasmRank`] and [`WasmPricing`].

use kiln_protocol::{Digest, JobSpec, Rates};

use super::bindings::pricing::PricingPre;
use super::bindings::rank::SchedulerPre;
use super::bindings::types;
use super::config::MAX_POLICY_CANDIDATES;
use super::convert;
use super::error::PolicyCallError;
use super::guard::CrashGuard;
use super::host::{Checked, PolicyHost, PolicyState};
use crate::matching::{
    Candidate, Flag, FlagKind, MAX_CLEAR_MARKET, PolicyError, PricingPolicy, RankPolicy,
    price_is_fair,
};

fn plugin_name(kind: &str, digest: &Digest) -> String {
    let hex = hex::encode(digest.0);
    format!("wasm-{kind}:{}", &hex[..16])
}

/// The job and its candidates as records, refusing oversized batches.
fn batch(
    host: &PolicyHost,
    job: &JobSpec,
    candidates: &[Candidate],
) -> Result<(types::Job, types::Offers), PolicyCallError> {
    if candidates.len() > MAX_POLICY_CANDIDATES {
        return Err(PolicyCallError::TooManyCandidates(candidates.len()));
    }
    let home = host.config().home_region.as_deref();
    Ok(convert::batch(job, home, candidates))
}

/// A `kiln:policy/scheduler` plugin as a [`RankPolicy`].
pub struct WasmRank {
    host: PolicyHost,
    pre: SchedulerPre<PolicyState>,
    digest: Digest,
    name: String,
    guard: CrashGuard,
}

impl std::fmt::Debug for WasmRank {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WasmRank")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl WasmRank {
    pub(crate) fn new(host: PolicyHost, checked: Checked<SchedulerPre<PolicyState>>) -> Self {
        let guard = CrashGuard::new(host.config().crash_loop_failures);
        Self {
            name: plugin_name("rank", &checked.digest),
            digest: checked.digest,
            pre: checked.pre,
            host,
            guard,
        }
    }

    /// SHA-256 of the plugin's bytes.
    pub fn digest(&self) -> Digest {
        self.digest
    }

    /// One call, checked: every index in range and none twice.
    pub fn call(
        &self,
        job: &JobSpec,
        candidates: &[Candidate],
    ) -> Result<Vec<usize>, PolicyCallError> {
        let (job, offers) = batch(&self.host, job, candidates)?;
        let mut store = self.host.store();
        let order = self
            .pre
            .instantiate(&mut store)
            .and_then(|instance| instance.call_rank(&mut store, &job, &offers))
            .map_err(|error| self.host.classify(&error))?;
        let mut seen = vec![false; candidates.len()];
        order
            .into_iter()
            .map(|index| {
                let slot = usize::try_from(index)
                    .ok()
                    .and_then(|i| seen.get_mut(i).map(|s| (i, s)));
                match slot {
                    Some((i, seen)) if !*seen => {
                        *seen = true;
                        Ok(i)
                    }
                    _ => Err(PolicyCallError::BadIndex {
                        index,
                        candidates: candidates.len(),
                    }),
                }
            })
            .collect()
    }
}

impl RankPolicy for WasmRank {
    fn name(&self) -> &str {
        &self.name
    }

    fn rank(&self, job: &JobSpec, candidates: &[Candidate]) -> Result<Vec<usize>, PolicyError> {
        self.guard
            .run(&self.name, || self.call(job, candidates))
            .map_err(|error| PolicyError {
                policy: self.name.clone(),
                reason: error.to_string(),
            })
    }

    fn unloaded(&self) -> bool {
        self.guard.unloaded()
    }
}

/// A `kiln:policy/pricing` plugin as a [`PricingPolicy`].
pub struct WasmPricing {
    host: PolicyHost,
    pre: PricingPre<PolicyState>,
    digest: Digest,
    name: String,
    guard: CrashGuard,
}

impl std::fmt::Debug for WasmPricing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WasmPricing")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// What a pricing call answered: a price, or that it declined to quote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cleared {
    /// The quoted rates, within the chosen floor and the job's maximum.
    Quote(Rates),
    /// `none`: no price the plugin accepts.
    Declined,
}

impl WasmPricing {
    pub(crate) fn new(host: PolicyHost, checked: Checked<PricingPre<PolicyState>>) -> Self {
        let guard = CrashGuard::new(host.config().crash_loop_failures);
        Self {
            name: plugin_name("pricing", &checked.digest),
            digest: checked.digest,
            pre: checked.pre,
            host,
            guard,
        }
    }

    /// SHA-256 of the plugin's bytes.
    pub fn digest(&self) -> Digest {
        self.digest
    }

    /// One `clear` call, checked: the quote within `[chosen floor, job max]`.
    pub fn call_clear(
        &self,
        job: &JobSpec,
        chosen: usize,
        candidates: &[Candidate],
    ) -> Result<Cleared, PolicyCallError> {
        let (wit_job, offers) = batch(&self.host, job, candidates)?;
        let Some(floor) = candidates.get(chosen).map(|c| c.floor) else {
            return Err(PolicyCallError::BadIndex {
                index: u32::try_from(chosen).unwrap_or(u32::MAX),
                candidates: candidates.len(),
            });
        };
        let chosen =
            u32::try_from(chosen).map_err(|_| PolicyCallError::TooManyCandidates(chosen))?;
        let mut store = self.host.store();
        let quote = self
            .pre
            .instantiate(&mut store)
            .and_then(|instance| instance.call_clear(&mut store, &wit_job, chosen, &offers))
            .map_err(|error| self.host.classify(&error))?;
        let Some(quote) = quote else {
            return Ok(Cleared::Declined);
        };
        let rates = convert::from_rates(&quote.rates);
        if !price_is_fair(&rates, &floor, &job.max_rates) {
            return Err(PolicyCallError::BadQuote { rates });
        }
        Ok(Cleared::Quote(rates))
    }

    /// One `screen` call, checked: every flag names an offer.
    pub fn call_screen(
        &self,
        job: &JobSpec,
        history: &[Rates],
        candidates: &[Candidate],
    ) -> Result<Vec<Flag>, PolicyCallError> {
        let (wit_job, offers) = batch(&self.host, job, candidates)?;
        let history: Vec<_> = history.iter().map(convert::rates).collect();
        let mut store = self.host.store();
        let flags = self
            .pre
            .instantiate(&mut store)
            .and_then(|instance| instance.call_screen(&mut store, &wit_job, &history, &offers))
            .map_err(|error| self.host.classify(&error))?;
        flags
            .into_iter()
            .map(|flag| match usize::try_from(flag.offer) {
                Ok(index) if index < candidates.len() => Ok(Flag {
                    index,
                    kind: match flag.kind {
                        types::FlagKind::AboveMarket => FlagKind::AboveMarket,
                        types::FlagKind::BelowMinimum => FlagKind::BelowMinimum,
                    },
                }),
                _ => Err(PolicyCallError::BadFlag {
                    index: flag.offer,
                    candidates: candidates.len(),
                }),
            })
            .collect()
    }

    fn policy_error(&self, error: &PolicyCallError) -> PolicyError {
        PolicyError {
            policy: self.name.clone(),
            reason: error.to_string(),
        }
    }
}

impl PricingPolicy for WasmPricing {
    fn name(&self) -> &str {
        &self.name
    }

    fn clear(
        &self,
        job: &JobSpec,
        chosen: &Candidate,
        market: &[Candidate],
    ) -> Result<Rates, PolicyError> {
        // The chosen first, then the rest of the market in the caller's
        // order, at most MAX_CLEAR_MARKET in all. The matcher passes exactly
        // that; another caller's market is rearranged into it.
        let as_given = market.len() <= MAX_CLEAR_MARKET
            && market
                .first()
                .is_some_and(|first| first.node == chosen.node);
        let sample: std::borrow::Cow<'_, [Candidate]> = if as_given {
            std::borrow::Cow::Borrowed(market)
        } else {
            std::iter::once(chosen)
                .chain(market.iter().filter(|c| c.node != chosen.node))
                .take(MAX_CLEAR_MARKET)
                .cloned()
                .collect()
        };
        match self
            .guard
            .run(&self.name, || self.call_clear(job, 0, &sample))
        {
            Ok(Cleared::Quote(rates)) => Ok(rates),
            // Declining is an answer, not a failure: the guard counted it as a
            // success, and the built-in price stands in (reported as a fallback).
            Ok(Cleared::Declined) => Err(PolicyError {
                policy: self.name.clone(),
                reason: "declined to quote".to_owned(),
            }),
            Err(error) => Err(self.policy_error(&error)),
        }
    }

    fn screen(
        &self,
        job: &JobSpec,
        history: &[Rates],
        candidates: &[Candidate],
    ) -> Result<Vec<Flag>, PolicyError> {
        self.guard
            .run(&self.name, || self.call_screen(job, history, candidates))
            .map_err(|error| self.policy_error(&error))
    }

    fn unloaded(&self) -> bool {
        self.guard.unloaded()
    }
}
