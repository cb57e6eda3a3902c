//! `wasi:webgpu`, compute subset: the host objects ([`objects`]), the
//! functions on them (one file per group) and their linking ([`link`]).

mod adapter;
mod buffer;
mod commands;
pub mod link;
pub mod objects;
mod pipeline;
