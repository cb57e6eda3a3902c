//! Host bindings of the `kiln:policy` worlds (`wit/policy`), generated once.
//! The `pricing` world reuses the `scheduler` world's `types`, so both speak
//! the same Rust records.

#![allow(missing_docs, reason = "generated from the WIT, whose docs it carries")]

/// The `scheduler` world: `rank`.
pub mod rank {
    wasmtime::component::bindgen!({
        path: "../../wit/policy",
        world: "kiln:policy/scheduler",
    });
}

/// The `pricing` world: `clear` and `screen`.
pub mod pricing {
    wasmtime::component::bindgen!({
        path: "../../wit/policy",
        world: "kiln:policy/pricing",
        with: {
            "kiln:policy/types": super::rank::kiln::policy::types,
        },
    });
}

pub use rank::kiln::policy::types;
