//! taskdist distributes a dependency graph of tasks across parallel agents.
#![warn(missing_docs)]

pub mod calibrate;
pub mod core;
pub mod drive;
pub mod import;
pub mod model;
pub mod optimize;
pub mod plan;
pub mod remote;
pub mod replay;
pub mod report;
pub mod runtime;
#[cfg(feature = "serve")]
pub mod serve;
pub mod sim;
pub mod store;

/// Each unit test's own directory, shared with the `sim` suite (see `sim/scratch.rs`).
#[cfg(test)]
#[path = "../sim/scratch.rs"]
mod scratch;
#[cfg(test)]
mod scratch_tests;
