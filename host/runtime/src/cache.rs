//! Loading components: validate once, compile once, link once.
//!
//! `ComponentCache::load` turns bytes into a [`Workload`]: an `InstancePre`
//! (imports resolved, exports located) that starts a job in microseconds.
//! Compiled artifacts are cached on disk, keyed by the SHA-256 of the
//! component's bytes and a hash of the engine's configuration (so a
//! wasmtime upgrade or a metering change never loads a stale artifact), and
//! the linked result is kept in memory, keyed by the bytes' SHA-256.

use std::collections::{HashMap, VecDeque};
use std::hash::Hasher;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use kiln_protocol::{Digest, sha256};
use wasmtime::Engine;
use wasmtime::component::types::ComponentItem;
use wasmtime::component::{Component, ComponentExportIndex, InstancePre, Linker};

use crate::error::LoadError;
use crate::extension::Extensions;
use crate::grants::is_granted;
use crate::job::JobState;
use crate::warm::Prepared;

/// Linked workloads kept in memory. Each holds compiled code (hundreds of KB
/// to a few MB); beyond this many, the oldest is dropped and recompiled (or
/// re-read from disk) when next used.
pub const MAX_CACHED_WORKLOADS: usize = 256;

/// A component ready to run: validated, compiled, imports checked and linked.
/// Cheap to clone.
#[derive(Clone)]
pub struct Workload {
    inner: Arc<WorkloadInner>,
}

struct WorkloadInner {
    digest: Digest,
    pre: InstancePre<JobState>,
    run: ComponentExportIndex,
    /// Slots of the host extensions whose interfaces the component imports.
    extensions: Vec<usize>,
    warm: Mutex<Vec<Prepared>>,
}

impl std::fmt::Debug for Workload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Workload")
            .field("digest", &self.inner.digest)
            .finish_non_exhaustive()
    }
}

impl Workload {
    /// SHA-256 of the component's bytes: what a job spec names.
    pub fn digest(&self) -> Digest {
        self.inner.digest
    }

    pub(crate) fn pre(&self) -> &InstancePre<JobState> {
        &self.inner.pre
    }

    pub(crate) fn run_export(&self) -> &ComponentExportIndex {
        &self.inner.run
    }

    /// True when the component imports an interface of extension `slot`.
    pub(crate) fn uses_extension(&self, slot: usize) -> bool {
        self.inner.extensions.contains(&slot)
    }

    /// Instances of this workload made ahead of time ([`crate::warm`]).
    pub(crate) fn warm(&self) -> &Mutex<Vec<Prepared>> {
        &self.inner.warm
    }
}

/// Hashes the engine's compatibility key with SHA-256, so the cache key is
/// stable across processes (std's default hasher is not).
struct Sha256Hasher(sha2::Sha256);

impl Hasher for Sha256Hasher {
    fn write(&mut self, bytes: &[u8]) {
        sha2::Digest::update(&mut self.0, bytes);
    }

    fn finish(&self) -> u64 {
        let digest = sha2::Digest::finalize(self.0.clone());
        u64::from_le_bytes(digest[..8].try_into().unwrap_or_default())
    }
}

/// Where loaded components came from, counted since the runtime started:
/// what an operator's metrics show, and how tests see the cache at work.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Components compiled from their bytes (a miss on disk and in memory).
    pub compiled: u64,
    /// Components read from a precompiled artifact on disk.
    pub from_disk: u64,
    /// Loads answered by an already linked workload in memory.
    pub from_memory: u64,
}

#[derive(Default)]
struct Counters {
    compiled: AtomicU64,
    from_disk: AtomicU64,
    from_memory: AtomicU64,
}

pub(crate) struct ComponentCache {
    dir: Option<PathBuf>,
    engine_key: String,
    memory: Mutex<Memory>,
    counters: Counters,
}

#[derive(Default)]
struct Memory {
    by_digest: HashMap<Digest, Workload>,
    order: VecDeque<Digest>,
}

impl ComponentCache {
    pub(crate) fn new(engine: &Engine, dir: Option<PathBuf>) -> Result<Self, LoadError> {
        if let Some(dir) = &dir {
            std::fs::create_dir_all(dir)?;
            crate::scratch::set_private(dir)?;
        }
        let mut hasher = Sha256Hasher(<sha2::Sha256 as sha2::Digest>::new());
        std::hash::Hash::hash(&engine.precompile_compatibility_hash(), &mut hasher);
        Ok(Self {
            dir,
            engine_key: format!("{:016x}", hasher.finish()),
            memory: Mutex::default(),
            counters: Counters::default(),
        })
    }

    pub(crate) fn stats(&self) -> CacheStats {
        CacheStats {
            compiled: self.counters.compiled.load(Ordering::Relaxed),
            from_disk: self.counters.from_disk.load(Ordering::Relaxed),
            from_memory: self.counters.from_memory.load(Ordering::Relaxed),
        }
    }

    pub(crate) fn load(
        &self,
        engine: &Engine,
        linker: &Linker<JobState>,
        extensions: &Extensions,
        bytes: &[u8],
    ) -> Result<Workload, LoadError> {
        let digest = sha256(&[bytes]);
        if let Some(workload) = self.lock().by_digest.get(&digest) {
            self.counters.from_memory.fetch_add(1, Ordering::Relaxed);
            return Ok(workload.clone());
        }
        check_header(bytes)?;
        let component = self.compile(engine, bytes, &digest)?;
        let workload = link(engine, linker, extensions, &component, digest)?;
        let mut memory = self.lock();
        if memory.by_digest.insert(digest, workload.clone()).is_none() {
            memory.order.push_back(digest);
        }
        while memory.order.len() > MAX_CACHED_WORKLOADS {
            if let Some(oldest) = memory.order.pop_front() {
                memory.by_digest.remove(&oldest);
            }
        }
        Ok(workload)
    }

    /// The workloads held in memory, for dropping their prepared instances
    /// when the runtime closes.
    pub(crate) fn workloads(&self) -> Vec<Workload> {
        self.lock().by_digest.values().cloned().collect()
    }

    /// Checks the header and compiles (or reads the disk cache); no linking.
    pub(crate) fn compile_only(
        &self,
        engine: &Engine,
        bytes: &[u8],
    ) -> Result<Component, LoadError> {
        check_header(bytes)?;
        self.compile(engine, bytes, &sha256(&[bytes]))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Memory> {
        self.memory.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn artifact_path(&self, dir: &Path, digest: &Digest) -> PathBuf {
        dir.join(format!("{digest}-{}.cwasm", self.engine_key))
    }

    fn compile(
        &self,
        engine: &Engine,
        bytes: &[u8],
        digest: &Digest,
    ) -> Result<Component, LoadError> {
        let Some(dir) = &self.dir else {
            let component = Component::new(engine, bytes).map_err(invalid)?;
            self.counters.compiled.fetch_add(1, Ordering::Relaxed);
            return Ok(component);
        };
        let path = self.artifact_path(dir, digest);
        if path.exists() {
            // SAFETY: the artifact was written by `Engine::precompile_component`
            // in this cache directory, which is private to this node (mode
            // 0700, checked at startup), under a name that binds the source
            // bytes' SHA-256 and this engine's compatibility hash; wasmtime
            // additionally checks the artifact's header against the engine.
            #[allow(unsafe_code, reason = "loading our own precompiled artifact")]
            match unsafe { Component::deserialize_file(engine, &path) } {
                Ok(component) => {
                    self.counters.from_disk.fetch_add(1, Ordering::Relaxed);
                    return Ok(component);
                }
                Err(error) => {
                    tracing::warn!(path = %path.display(), error = %error, "discarding unreadable cached component");
                }
            }
        }
        let component = Component::new(engine, bytes).map_err(invalid)?;
        self.counters.compiled.fetch_add(1, Ordering::Relaxed);
        let artifact = component.serialize().map_err(invalid)?;
        write_atomically(&path, &artifact)?;
        Ok(component)
    }
}

fn invalid(error: wasmtime::Error) -> LoadError {
    LoadError::Invalid {
        reason: format!("{error:#}"),
    }
}

/// Tells apart "not wasm", "a core module" and "a component" from the header.
fn check_header(bytes: &[u8]) -> Result<(), LoadError> {
    /// The component-model layer's version field.
    const COMPONENT_VERSION: [u8; 4] = [0x0d, 0x00, 0x01, 0x00];
    match bytes {
        [0, b'a', b's', b'm', version @ ..] if version.starts_with(&COMPONENT_VERSION) => Ok(()),
        [0, b'a', b's', b'm', 1, 0, 0, 0, ..] => Err(LoadError::NotAComponent),
        [0, b'a', b's', b'm', ..] => Err(LoadError::Invalid {
            reason: "unknown WebAssembly version or truncated header".into(),
        }),
        _ => Err(LoadError::NotWasm),
    }
}

/// Checks every import against the grants and the extensions, finds `run`,
/// and pre-links.
fn link(
    engine: &Engine,
    linker: &Linker<JobState>,
    extensions: &Extensions,
    component: &Component,
    digest: Digest,
) -> Result<Workload, LoadError> {
    let component_type = component.component_type();
    let mut used = Vec::new();
    for (import, item) in component_type.imports(engine) {
        if is_granted(import) {
            continue;
        }
        let interface = import.split_once('@').map_or(import, |(name, _)| name);
        let Some(slot) = extensions
            .iter()
            .position(|extension| extension.interfaces().contains(&interface))
        else {
            return Err(LoadError::ImportNotGranted {
                import: import.to_owned(),
            });
        };
        // Functions and resources must be provided; plain types (records,
        // enums) are part of the interface's signatures, not of its code.
        if let ComponentItem::ComponentInstance(instance) = item.ty
            && let Some((name, _)) = instance.exports(engine).find(|(name, export)| {
                matches!(
                    export.ty,
                    ComponentItem::ComponentFunc(_) | ComponentItem::Resource(_)
                ) && !extensions[slot].provides(interface, name)
            })
        {
            return Err(LoadError::NotProvided {
                interface: import.to_owned(),
                item: name.to_owned(),
            });
        }
        if !used.contains(&slot) {
            used.push(slot);
        }
    }
    let is_func = matches!(
        component_type
            .get_export(engine, "run")
            .map(|export| export.ty),
        Some(ComponentItem::ComponentFunc(_))
    );
    let run = component.get_export_index(None, "run").filter(|_| is_func);
    let run = run.ok_or(LoadError::MissingRunExport)?;
    let pre = linker
        .instantiate_pre(component)
        .map_err(|e| LoadError::Link {
            reason: format!("{e:#}"),
        })?;
    Ok(Workload {
        inner: Arc::new(WorkloadInner {
            digest,
            pre,
            run,
            extensions: used,
            warm: Mutex::default(),
        }),
    })
}

/// Writes `bytes` to `path` through a temporary file and a rename, mode 0600,
/// so a crash never leaves a half-written artifact under the final name.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut file = tempfile::NamedTempFile::new_in(dir)?;
    file.as_file()
        .set_permissions(std::fs::Permissions::from_mode(0o600))?;
    file.write_all(bytes)?;
    file.as_file().sync_all()?;
    file.persist(path).map_err(|e| e.error)?;
    Ok(())
}
