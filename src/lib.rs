//! taskdist distributes a dependency graph of tasks across parallel agents.
#![warn(missing_docs)]

pub mod core;
pub mod import;
pub mod model;
pub mod plan;
pub mod remote;
pub mod report;
pub mod runtime;
#[cfg(feature = "serve")]
pub mod serve;
pub mod sim;
pub mod store;
