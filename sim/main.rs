//! The `sim` integration-test binary: one module per file, each testing taskdist from the
//! outside (the built binary or the public library API).
//!
//! - `cli`: `taskdist validate` and `taskdist plan` on the shipped scenarios and on every
//!   deliberately broken scenario in `scenarios/invalid/`.

mod cli;
