//! The `sim` integration-test binary: one module per file, each testing taskdist from the
//! outside (the built binary or the public library API).
//!
//! - `cli`: `taskdist validate` and `taskdist plan` on the shipped scenarios and on every
//!   deliberately broken scenario in `scenarios/invalid/`;
//! - `simulate_cli`: `taskdist simulate` end to end (chain makespan, lock serialization,
//!   bad models);
//! - `context_value`: runs with context sharing on beat the same runs with it off;
//! - `golden`: each shipped scenario's summary against `sim/golden/` (policy regression);
//! - `import`: WfCommons, STG and DAX workflows loaded directly and through
//!   `taskdist import`, broken ones rejected with file and line, and the schedule-quality
//!   report (`taskdist::report::stg`) on a miniature data folder;
//! - `gen_cli`: `taskdist gen` writes the same plan for the same seed, in TOML or JSON,
//!   and the plan simulates to the end;
//! - `determinism`: every run twice, traces, events and output files compared;
//! - `sweep`: generated scenarios with every fault on, each run audited;
//! - `runtime`: `taskdist run` and `resume` with real processes (SIGKILL and resume,
//!   Ctrl-C, timeouts, refused databases, real against simulated makespan);
//! - `sweep_cli`: `taskdist sweep` end to end (same runs as `simulate`, thread-count
//!   independence, knee, bad ranges and axes) and the Gantt chart of `simulate --out`;
//! - `shard_cli`: `taskdist sweep --shard I/N` and `sweep-merge`: merged shards equal the
//!   unsharded sweep byte for byte; foreign, missing and repeated shards are refused;
//! - `risk_cli`: `simulate --seeds` and the sweep's risk outputs (distribution, deadline,
//!   criticality, tornado; the same on one thread and two), agents' cost and its checks;
//! - `baselines`: `taskdist check` of every shipped scenario against `reports/baselines/`;
//! - `serve`: the live page: its WebSocket stream, refused addresses, and a real headless
//!   Chromium watching a run (skipped without Chromium, unless `CI` is set);
//! - `calibrate`: `taskdist calibrate` recovers known distributions from a real run and
//!   predicts another; `taskdist replay` reproduces real runs (the fidelity gate); both
//!   refuse bad databases;
//! - `broker`: remote workers through a real redis-server (skipped without it unless `CI`);
//! - `fuzz`: every input kept under `fuzz/regressions/` through the fuzz targets' code;
//! - `fuzz_scripts`: the counting rules of scripts/fuzz_coverage.py and fuzz_stats.py, and
//!   scripts/fuzz_watch.sh's choices on a stand-in fuzzer;
//! - `rule_breaks`: every patch of `scripts/rule-breaks/` still applies to today's code;
//! - `support`: shared helpers; `scratch`: each test's own directory, removed when it
//!   passes (also the library's unit tests').

mod baselines;
mod broker;
mod calibrate;
mod cli;
mod context_value;
mod determinism;
mod fuzz;
mod fuzz_scripts;
mod gen_cli;
mod golden;
mod import;
mod risk_cli;
mod rule_breaks;
mod runtime;
mod scratch;
#[cfg(feature = "serve")]
mod serve;
mod shard_cli;
mod simulate_cli;
mod support;
mod sweep;
mod sweep_cli;
