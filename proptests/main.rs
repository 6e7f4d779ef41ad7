//! The `proptests` test binary: property and model-based tests of the scheduling core's
//! guarantees, over generated plans, agents, settings and fault schedules.
//!
//! - `generators`: the generators (DAG shapes, file sets with overlapping spellings, agents,
//!   settings, fault schedules) and what they know for sure about each case.
//! - `driver`: a fault-injecting driver that runs the core on a virtual clock, sends stale,
//!   duplicate and misrouted results on purpose, and journals every call.
//! - `world`: an independent account of a run, rebuilt from the journal, against which
//!   every decision and the final state are checked.
//! - `simulated`: the same guarantees on the real simulator's traces, and makespan bounds.
//! - `reference`: a plain, slow reference scheduler for the `fifo` policy.
//! - `properties`: the ten properties, each under every policy.
//! - `model_based`: the core against the reference, decision for decision.
//!
//! CI runs [`DEFAULT_CASES`] cases per property; `PROPTEST_CASES=n` runs `n`. A failure
//! prints the policy, the journal step and what broke, then the shrunk case; its seed is
//! kept in `proptest-regressions/` and replayed first by the next run.

mod driver;
mod generators;
mod model_based;
mod properties;
mod reference;
mod simulated;
mod world;

use proptest::test_runner::Config;

/// Cases per property when `PROPTEST_CASES` is not set: enough to find the shallow bugs on
/// every CI run while the binary stays well under a minute in release.
pub const DEFAULT_CASES: u32 = 128;

/// Shrinking steps after a failure. Proptest's default is four per case, too few to cut
/// a plan of a hundred tasks down to the handful that matter; each step is one more run
/// of the property, a few milliseconds.
const SHRINK_ITERS: u32 = 20_000;

/// The proptest settings of every property: proptest's defaults (which read the
/// `PROPTEST_*` variables), with [`DEFAULT_CASES`] and [`SHRINK_ITERS`] unless
/// `PROPTEST_CASES` or `PROPTEST_MAX_SHRINK_ITERS` say otherwise.
fn config() -> Config {
    let mut config = Config::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = DEFAULT_CASES;
    }
    if std::env::var_os("PROPTEST_MAX_SHRINK_ITERS").is_none() {
        config.max_shrink_iters = SHRINK_ITERS;
    }
    config
}

/// [`config`] with `factor` times the cases, for a property whose breaks show only in a
/// rare arrangement of its cases (still a second or so in CI).
fn config_times(factor: u32) -> Config {
    let mut config = config();
    config.cases = config.cases.saturating_mul(factor);
    config
}
