//! Loading plugins: pinned (what the scheduler runs) or only checked (what
//! `kiln policy check` runs, never installed).

use super::error::PolicyLoadError;
use super::host::PolicyHost;
use super::plugin::{WasmPricing, WasmRank};

/// Which world a plugin targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PolicyKind {
    /// `kiln:policy/scheduler`: ranking.
    Rank,
    /// `kiln:policy/pricing`: clearing and screening.
    Pricing,
}

impl PolicyHost {
    /// Loads a ranking plugin: its SHA-256 must be pinned, its imports
    /// allowed, and it must export `rank` with the world's types.
    pub fn load_rank(&self, bytes: &[u8]) -> Result<WasmRank, PolicyLoadError> {
        self.check_pin(bytes)?;
        self.check_rank_unpinned(bytes)
    }

    /// Loads a pricing plugin, as [`Self::load_rank`] does.
    pub fn load_pricing(&self, bytes: &[u8]) -> Result<WasmPricing, PolicyLoadError> {
        self.check_pin(bytes)?;
        self.check_pricing_unpinned(bytes)
    }

    /// Everything [`Self::load_rank`] checks but the pin: for testing a
    /// plugin before pinning it (`kiln policy check`). Never install what
    /// this returns in a scheduler.
    pub fn check_rank_unpinned(&self, bytes: &[u8]) -> Result<WasmRank, PolicyLoadError> {
        Ok(WasmRank::new(self.clone(), self.check_rank(bytes)?))
    }

    /// Everything [`Self::load_pricing`] checks but the pin; see
    /// [`Self::check_rank_unpinned`].
    pub fn check_pricing_unpinned(&self, bytes: &[u8]) -> Result<WasmPricing, PolicyLoadError> {
        Ok(WasmPricing::new(self.clone(), self.check_pricing(bytes)?))
    }

    /// Reads `path` and loads it as `kind`, pinned; returns the policy.
    pub fn load_file(
        &self,
        kind: PolicyKind,
        path: &std::path::Path,
    ) -> Result<LoadedPolicy, PolicyLoadError> {
        let bytes = std::fs::read(path).map_err(|source| PolicyLoadError::Read {
            path: path.display().to_string(),
            source,
        })?;
        self.load(kind, &bytes)
    }

    /// Loads `bytes` as `kind`, pinned.
    pub fn load(&self, kind: PolicyKind, bytes: &[u8]) -> Result<LoadedPolicy, PolicyLoadError> {
        Ok(match kind {
            PolicyKind::Rank => LoadedPolicy::Rank(std::sync::Arc::new(self.load_rank(bytes)?)),
            PolicyKind::Pricing => {
                LoadedPolicy::Pricing(std::sync::Arc::new(self.load_pricing(bytes)?))
            }
        })
    }
}

/// A loaded plugin of either kind.
#[derive(Debug, Clone)]
pub enum LoadedPolicy {
    /// A ranking plugin.
    Rank(std::sync::Arc<WasmRank>),
    /// A pricing plugin.
    Pricing(std::sync::Arc<WasmPricing>),
}

impl LoadedPolicy {
    /// SHA-256 of the plugin's bytes, hex.
    pub fn digest_hex(&self) -> String {
        let digest = match self {
            Self::Rank(policy) => policy.digest(),
            Self::Pricing(policy) => policy.digest(),
        };
        hex::encode(digest.0)
    }
}
