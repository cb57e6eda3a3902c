//! The policy host: loads plugins on kiln-runtime's engine and runs each call
//! in a fresh, bounded store.

use std::sync::Arc;

use kiln_protocol::{Digest, sha256};
use kiln_runtime::{Metering, Runtime};
use wasmtime::component::{Component, InstancePre};
use wasmtime::{Store, StoreLimits, StoreLimitsBuilder, Trap};

use super::bindings::{pricing::PricingPre, rank::SchedulerPre};
use super::config::PolicyConfig;
use super::error::{PolicyCallError, PolicyLoadError};
use super::wasi;

/// What a policy call's store holds: only the memory cap (a plugin gets no
/// WASI state: see [`super::wasi`]).
pub struct PolicyState {
    limits: StoreLimits,
}

/// Loads and runs policy plugins. Cheap to clone; clones share everything.
#[derive(Clone)]
pub struct PolicyHost {
    inner: Arc<Inner>,
}

struct Inner {
    runtime: Runtime,
    config: PolicyConfig,
}

impl std::fmt::Debug for PolicyHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicyHost")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

/// A component checked against a world: pre-linked, with its digest.
pub(crate) struct Checked<P> {
    pub(crate) pre: P,
    pub(crate) digest: Digest,
}

impl PolicyHost {
    /// A host on `runtime`'s engine. The runtime must meter fuel and epochs.
    pub fn new(runtime: Runtime, config: PolicyConfig) -> Result<Self, PolicyLoadError> {
        if runtime.config().metering != Metering::FuelAndEpochs {
            return Err(PolicyLoadError::Unmetered);
        }
        Ok(Self {
            inner: Arc::new(Inner { runtime, config }),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &PolicyConfig {
        &self.inner.config
    }

    /// Refuses `bytes` unless its SHA-256 is pinned.
    pub(crate) fn check_pin(&self, bytes: &[u8]) -> Result<(), PolicyLoadError> {
        let digest = sha256(&[bytes]);
        if self.inner.config.pins.allows(&digest) {
            Ok(())
        } else {
            Err(PolicyLoadError::NotPinned {
                actual: hex::encode(digest.0),
            })
        }
    }

    /// Compiles `bytes`, refuses imports outside the policy grants, and
    /// pre-links.
    fn prepare(&self, bytes: &[u8]) -> Result<(InstancePre<PolicyState>, Digest), PolicyLoadError> {
        let component = self.inner.runtime.compile(bytes)?;
        check_imports(&self.inner.runtime, &component)?;
        let pre = wasi::linker_for(&component)
            .and_then(|linker| linker.instantiate_pre(&component))
            .map_err(|e| PolicyLoadError::WrongWorld {
                world: "imports",
                reason: format!("{e:#}"),
            })?;
        Ok((pre, sha256(&[bytes])))
    }

    /// Checks `bytes` against the `scheduler` world (no pin check).
    pub(crate) fn check_rank(
        &self,
        bytes: &[u8],
    ) -> Result<Checked<SchedulerPre<PolicyState>>, PolicyLoadError> {
        let (pre, digest) = self.prepare(bytes)?;
        let pre = SchedulerPre::new(pre).map_err(|e| PolicyLoadError::WrongWorld {
            world: "scheduler",
            reason: format!("{e:#}"),
        })?;
        Ok(Checked { pre, digest })
    }

    /// Checks `bytes` against the `pricing` world (no pin check).
    pub(crate) fn check_pricing(
        &self,
        bytes: &[u8],
    ) -> Result<Checked<PricingPre<PolicyState>>, PolicyLoadError> {
        let (pre, digest) = self.prepare(bytes)?;
        let pre = PricingPre::new(pre).map_err(|e| PolicyLoadError::WrongWorld {
            world: "pricing",
            reason: format!("{e:#}"),
        })?;
        Ok(Checked { pre, digest })
    }

    /// A fresh store for one call: fuel cap, deadline, memory cap.
    pub(crate) fn store(&self) -> Store<PolicyState> {
        let config = &self.inner.config;
        let state = PolicyState {
            limits: StoreLimitsBuilder::new()
                .memory_size(config.memory_bytes)
                .trap_on_grow_failure(true)
                .build(),
        };
        let mut store = Store::new(self.inner.runtime.engine(), state);
        store.limiter(|state| &mut state.limits);
        // The engine meters fuel (checked in `new`), so this cannot fail.
        let _ = store.set_fuel(config.fuel);
        let tick = self.inner.runtime.config().epoch_tick.as_nanos().max(1);
        // One more tick than the deadline spans: the current tick is partly gone.
        let ticks = config.deadline.as_nanos().div_ceil(tick).saturating_add(1);
        store.set_epoch_deadline(u64::try_from(ticks).unwrap_or(u64::MAX));
        store.epoch_deadline_trap();
        store
    }

    /// Names a wasmtime error from a call as a [`PolicyCallError`].
    pub(crate) fn classify(&self, error: &wasmtime::Error) -> PolicyCallError {
        match error.downcast_ref::<Trap>() {
            Some(Trap::OutOfFuel) => PolicyCallError::OutOfFuel {
                fuel: self.inner.config.fuel,
            },
            Some(Trap::Interrupt) => PolicyCallError::Deadline {
                deadline: self.inner.config.deadline,
            },
            _ => PolicyCallError::Trap {
                reason: format!("{error:#}"),
            },
        }
    }
}

/// Refuses the first import outside [`wasi::POLICY_IMPORTS`].
fn check_imports(runtime: &Runtime, component: &Component) -> Result<(), PolicyLoadError> {
    let ty = component.component_type();
    for (name, _) in ty.imports(runtime.engine()) {
        if !wasi::is_allowed(name) {
            return Err(PolicyLoadError::ImportNotAllowed {
                import: name.to_owned(),
            });
        }
    }
    Ok(())
}
