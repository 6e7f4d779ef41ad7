//! Parameter sweeps for capacity planning: many seeded runs of one scenario over agent
//! counts, dispatch policies and one optional scenario axis (`--vary failure=0,0.05,0.2`),
//! aggregated per point into makespan percentiles, speedup, utilization, lock wait and
//! retries, and the knee where more agents stop helping.
//!
//! A sweep run is exactly the run `taskdist simulate` makes for the same agents, policy and
//! seed ([`run_setup`] builds both), and its numbers are the same [`Summary`]. Runs are
//! independent, so they go to rayon's pool; results are collected in the order of the run
//! list, never in completion order, so the output is the same for any number of threads.
//!
//! Seeds: seed `k` of a sweep is `base + k` (wrapping), the same at every point. Comparing
//! agent counts or policies on the same draws (common random numbers) makes the
//! differences between points sharper than independent seeds would, and any row can be
//! replayed with `taskdist simulate --agents N --policy P --seed S`.

use super::{Summary, trace_hash_of};
use crate::model::{
    AgentSpec, Config, DurationText, Policy, Scenario, ScenarioError, Schedule, SimulationFile,
    Time, TimeUnit, format_exact, parse_duration,
};
use crate::plan::Plan;
use crate::sim::{SimError, SimModels, run_setup, simulate};
use rayon::prelude::*;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

/// Why a sweep could not be set up. Every variant is bad input.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SweepError {
    /// An agent range that is empty, reversed, zero or not a number.
    #[error("bad agent counts `{text}`: {reason}")]
    BadAgents {
        /// The text given.
        text: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A `--vary` axis that does not exist.
    #[error(
        "unknown vary axis `{0}` (expected failure, crash_mtbf, context or locks, e.g. failure=0,0.05,0.2)"
    )]
    UnknownAxis(String),
    /// A `--vary` value that does not fit its axis, or a malformed `AXIS=v1,v2` text.
    #[error("bad --vary `{text}`: {reason}")]
    BadVary {
        /// The text given.
        text: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A sweep with nothing to run (no seeds, agent counts or policies).
    #[error("empty sweep: {0}")]
    Empty(&'static str),
    /// A sweep with more runs than [`RUNS_MAX`].
    #[error(
        "{runs} runs is too many for one sweep (at most {RUNS_MAX}): fewer seeds, agent counts, policies or vary values"
    )]
    TooLarge {
        /// Runs asked for.
        runs: u64,
    },
    /// A `--deadline` that is not a duration.
    #[error("bad --deadline `{text}`: {reason}")]
    BadDeadline {
        /// The text given.
        text: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A `--shard I/N` that is malformed or out of range.
    #[error("bad --shard `{text}`: {reason}")]
    BadShard {
        /// The text given.
        text: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The scenario, changed along the vary axis, no longer resolves.
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
}

/// A `--deadline` of `simulate --seeds` or `sweep`: a duration, a bare number in the
/// scenario's `time_unit`; longer than zero.
pub fn parse_deadline(text: &str, unit: TimeUnit) -> Result<Time, SweepError> {
    let bad = |reason: String| SweepError::BadDeadline {
        text: text.to_string(),
        reason,
    };
    match parse_duration(text, unit) {
        Ok(0) => Err(bad("must be longer than zero".to_string())),
        Ok(ms) => Ok(ms),
        Err(e) => Err(bad(e.to_string())),
    }
}

/// Which runs of a sweep one machine makes (`--shard I/N`, `I` from 0): run `k` of the
/// sweep's run list (numbered from 0 in the sweep's order) belongs to shard `k % N`. Every
/// run is in exactly one shard, and dealing the runs round-robin gives each shard the same
/// mix of agent counts, so shards take about the same time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Shard {
    /// This shard's index, `0..count`.
    pub index: u32,
    /// How many shards the sweep is cut into.
    pub count: u32,
}

impl Shard {
    /// The whole sweep: one shard of one.
    pub const WHOLE: Shard = Shard { index: 0, count: 1 };

    /// Whether run number `run` of the sweep is this shard's.
    pub fn takes(self, run: u64) -> bool {
        run % self.count as u64 == self.index as u64
    }
}

/// The most shards a sweep may be cut into.
pub const SHARDS_MAX: u32 = 100_000;

impl FromStr for Shard {
    type Err = SweepError;

    fn from_str(text: &str) -> Result<Self, SweepError> {
        let bad = |reason: &str| SweepError::BadShard {
            text: text.to_string(),
            reason: reason.to_string(),
        };
        let (index, count) = text
            .split_once('/')
            .ok_or_else(|| bad("expected I/N, e.g. 0/8 (I counts from 0)"))?;
        let index: u32 = index
            .trim()
            .parse()
            .map_err(|_| bad("I is not a whole number"))?;
        let count: u32 = count
            .trim()
            .parse()
            .map_err(|_| bad("N is not a whole number"))?;
        if count == 0 || count > SHARDS_MAX {
            return Err(bad(&format!("N must be 1 to {SHARDS_MAX}")));
        }
        if index >= count {
            return Err(bad("I counts from 0 and must be below N"));
        }
        Ok(Shard { index, count })
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// The agent counts of a sweep, ascending and without repeats.
///
/// Written `1..32` (both ends included, as a planner reads it), `1..=32`, `8`, or a list of
/// those: `1,2,4,8..12`. Zero, reversed ranges (`5..2`) and more than 4096 agents are
/// rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentCounts(pub Vec<u32>);

/// The most agents a sweep point may have: far beyond any plan's useful width, small
/// enough that a typo cannot ask for millions of simulated agents.
const AGENTS_MAX: u32 = 4096;

impl FromStr for AgentCounts {
    type Err = SweepError;

    fn from_str(text: &str) -> Result<Self, SweepError> {
        let bad = |reason: String| SweepError::BadAgents {
            text: text.to_string(),
            reason,
        };
        let number = |s: &str| -> Result<u32, SweepError> {
            let n: u32 = s
                .trim()
                .parse()
                .map_err(|_| bad(format!("`{}` is not a whole number", s.trim())))?;
            if n == 0 {
                return Err(bad("agent counts start at 1".to_string()));
            }
            if n > AGENTS_MAX {
                return Err(bad(format!("at most {AGENTS_MAX} agents")));
            }
            Ok(n)
        };
        let mut counts = Vec::new();
        for part in text.split(',') {
            let part = part.trim();
            if part.is_empty() {
                return Err(bad("an empty item".to_string()));
            }
            match part.split_once("..") {
                Some((low, high)) => {
                    let high = high.strip_prefix('=').unwrap_or(high);
                    let (low, high) = (number(low)?, number(high)?);
                    if low > high {
                        return Err(bad(format!(
                            "the range {low}..{high} is reversed (write {high}..{low})"
                        )));
                    }
                    counts.extend(low..=high);
                }
                None => counts.push(number(part)?),
            }
        }
        counts.sort_unstable();
        counts.dedup();
        Ok(AgentCounts(counts))
    }
}

/// A list of dispatch policies: `critical-path,fifo,layered`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policies(pub Vec<Policy>);

impl FromStr for Policies {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let mut policies: Vec<Policy> = Vec::new();
        for part in text.split(',') {
            let policy: Policy = part.trim().parse()?;
            if !policies.contains(&policy) {
                policies.push(policy);
            }
        }
        Ok(Policies(policies))
    }
}

/// A scenario setting a sweep can vary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Axis {
    /// `failure`: the probability that an attempt fails. It replaces every failure
    /// probability of the scenario, per-type and per-task ones included, so
    /// `failure=0` is a run without failures.
    Failure,
    /// `crash_mtbf`: each agent's mean time between random crashes (`none` for no random
    /// crashes); scripted crashes and `crash_recovery` stay as the scenario has them.
    CrashMtbf,
    /// `context`: context sharing on or off (`config.enable_context_sharing`).
    Context,
    /// `locks`: file lock prevention on or off (`config.enable_file_conflict_prevention`).
    Locks,
}

impl Axis {
    /// The axis name, also the column name in the CSV files.
    pub fn as_str(self) -> &'static str {
        match self {
            Axis::Failure => "failure",
            Axis::CrashMtbf => "crash_mtbf",
            Axis::Context => "context",
            Axis::Locks => "locks",
        }
    }

    fn parse(name: &str) -> Option<Axis> {
        Some(match name {
            "failure" | "failure_probability" => Axis::Failure,
            "crash_mtbf" | "crash" | "crashes" => Axis::CrashMtbf,
            "context" | "context_sharing" | "enable_context_sharing" => Axis::Context,
            "locks" | "lock_prevention" | "enable_file_conflict_prevention" => Axis::Locks,
            _ => return None,
        })
    }
}

impl fmt::Display for Axis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One value of a vary axis.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum VaryValue {
    /// A probability (the `failure` axis).
    Probability(f64),
    /// A mean time between crashes; `None` for no random crashes.
    Mtbf(Option<Time>),
    /// On or off.
    Switch(bool),
}

impl fmt::Display for VaryValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VaryValue::Probability(p) => write!(f, "{p}"),
            VaryValue::Mtbf(None) => f.write_str("none"),
            VaryValue::Mtbf(Some(ms)) => f.write_str(&format_exact(*ms)),
            VaryValue::Switch(true) => f.write_str("on"),
            VaryValue::Switch(false) => f.write_str("off"),
        }
    }
}

/// A `--vary AXIS=v1,v2,…` argument: one axis and the values to sweep it over.
#[derive(Debug, Clone, PartialEq)]
pub struct Vary {
    /// The setting varied.
    pub axis: Axis,
    /// Its values, in the order given.
    pub values: Vec<VaryValue>,
}

impl FromStr for Vary {
    type Err = SweepError;

    fn from_str(text: &str) -> Result<Self, SweepError> {
        let bad = |reason: String| SweepError::BadVary {
            text: text.to_string(),
            reason,
        };
        let (name, list) = text
            .split_once('=')
            .ok_or_else(|| bad("expected AXIS=v1,v2,… (e.g. failure=0,0.05,0.2)".to_string()))?;
        let axis = Axis::parse(name.trim())
            .ok_or_else(|| SweepError::UnknownAxis(name.trim().to_string()))?;
        let mut values = Vec::new();
        for item in list.split(',').map(str::trim) {
            if item.is_empty() {
                return Err(bad("an empty value".to_string()));
            }
            let value = match axis {
                Axis::Failure => match item.parse::<f64>() {
                    Ok(p) if (0.0..=1.0).contains(&p) => VaryValue::Probability(p),
                    _ => return Err(bad(format!("`{item}` is not a probability (0 to 1)"))),
                },
                Axis::CrashMtbf => match item {
                    "none" | "off" | "never" => VaryValue::Mtbf(None),
                    _ => match parse_duration(item, TimeUnit::Minutes) {
                        Ok(0) => return Err(bad("a crash_mtbf must be longer than zero".into())),
                        Ok(ms) => VaryValue::Mtbf(Some(ms)),
                        Err(e) => return Err(bad(e.to_string())),
                    },
                },
                Axis::Context | Axis::Locks => match item {
                    "on" | "true" | "yes" | "1" => VaryValue::Switch(true),
                    "off" | "false" | "no" | "0" => VaryValue::Switch(false),
                    _ => return Err(bad(format!("`{item}` is not on or off"))),
                },
            };
            if values.contains(&value) {
                return Err(bad(format!("`{item}` is given twice")));
            }
            values.push(value);
        }
        Ok(Vary { axis, values })
    }
}

impl Vary {
    /// The scenario with the axis set to `value`.
    pub fn apply(&self, scenario: &Scenario, value: VaryValue) -> Scenario {
        let mut scenario = scenario.clone();
        let simulation = || SimulationFile::default();
        match (self.axis, value) {
            (Axis::Failure, VaryValue::Probability(p)) => {
                let sim = scenario.file.simulation.get_or_insert_with(simulation);
                sim.failure_probability = Some(p);
                for overrides in sim.types.values_mut().chain(sim.tasks.values_mut()) {
                    overrides.failure_probability = None;
                }
            }
            (Axis::CrashMtbf, VaryValue::Mtbf(mtbf)) => {
                let sim = scenario.file.simulation.get_or_insert_with(simulation);
                sim.crash_mtbf = mtbf.map(DurationText::from);
            }
            (Axis::Context, VaryValue::Switch(on)) => scenario.config.enable_context_sharing = on,
            (Axis::Locks, VaryValue::Switch(on)) => {
                scenario.config.enable_file_conflict_prevention = on;
            }
            (axis, value) => unreachable!("{value:?} is not a value of {axis}"),
        }
        scenario
    }
}

/// The most runs one sweep makes: every run's summary is kept in memory (a few hundred
/// bytes each), and two million runs of a mid-sized plan already take a while.
pub const RUNS_MAX: u64 = 2_000_000;

/// What to sweep.
#[derive(Debug, Clone)]
pub struct SweepSpec {
    /// Agent counts.
    pub agents: Vec<u32>,
    /// Dispatch policies, in the order the output lists them.
    pub policies: Vec<Policy>,
    /// The optional extra axis.
    pub vary: Option<Vary>,
    /// Seeds per point.
    pub seeds: u32,
    /// Seed `k` of every point is `base_seed + k`.
    pub base_seed: u64,
    /// A deadline to report the probability of finishing by (`--deadline`).
    pub deadline: Option<Time>,
}

impl SweepSpec {
    /// The seeds of every point.
    pub fn seed_list(&self) -> impl Iterator<Item = u64> + use<> {
        let base = self.base_seed;
        (0..self.seeds as u64).map(move |k| base.wrapping_add(k))
    }

    /// How many runs the sweep makes.
    pub fn run_count(&self) -> u64 {
        self.agents.len() as u64
            * self.policies.len() as u64
            * self.vary.as_ref().map_or(1, |v| v.values.len()) as u64
            * self.seeds as u64
    }

    /// The vary value of index `i`, as text (empty without an axis).
    pub fn vary_label(&self, i: Option<usize>) -> String {
        match (&self.vary, i) {
            (Some(vary), Some(i)) => vary.values[i].to_string(),
            _ => String::new(),
        }
    }
}

/// Where a run sits in the sweep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunKey {
    /// Index into [`SweepSpec::policies`].
    pub policy: usize,
    /// Index into the vary values (`None` without an axis).
    pub vary: Option<usize>,
    /// Agents.
    pub agents: u32,
    /// Master seed.
    pub seed: u64,
}

/// One run of a sweep: its summary, or why the simulation stopped early.
#[derive(Debug, Clone)]
pub struct SweepRun {
    /// Its number in the sweep's run list, from 0 (see [`Shard`]).
    pub index: u64,
    /// Where it sits.
    pub key: RunKey,
    /// The summary `taskdist simulate` would print, or the simulation error.
    pub result: Result<Summary, SimError>,
    /// The tasks on the run's realized critical path (plan indices, ascending; see
    /// [`super::risk::critical_tasks`]); empty if the run stopped early.
    pub critical: Vec<u32>,
}

/// Simulates one run and summarizes it exactly as `taskdist simulate` does.
pub fn simulate_summary(
    scenario: &Scenario,
    plan: &Arc<Plan>,
    models: &SimModels,
    agents: Option<u32>,
    policy: Option<Policy>,
    seed: u64,
) -> Result<Summary, SimError> {
    simulate_run(scenario, plan, models, agents, policy, seed, false).map(|(s, _)| s)
}

/// [`simulate_summary`], and with `critical` the tasks on the run's realized critical
/// path (see [`super::risk::critical_tasks`]).
pub fn simulate_run(
    scenario: &Scenario,
    plan: &Arc<Plan>,
    models: &SimModels,
    agents: Option<u32>,
    policy: Option<Policy>,
    seed: u64,
    critical: bool,
) -> Result<(Summary, Vec<u32>), SimError> {
    let (config, agent_specs) = run_setup(scenario, agents, policy);
    simulate_config(plan, &config, agent_specs, models, seed, critical)
}

/// The configuration and agents of runs that differ only by seed, prepared as a run
/// prepares them before it starts ([`crate::sim::plan_schedule`]): `schedule` if given,
/// else under `optimized` one computed for these agents, with its dispatch mode chosen for
/// `models`. Made once and shared by the runs, since none of it depends on the seed.
pub fn prepare_config(
    scenario: &Scenario,
    plan: &Arc<Plan>,
    models: &SimModels,
    agents: Option<u32>,
    policy: Option<Policy>,
    schedule: Option<Arc<Schedule>>,
) -> (Config, Vec<AgentSpec>) {
    let (mut config, specs) = run_setup(scenario, agents, policy);
    config.schedule = schedule;
    crate::sim::plan_schedule(plan, &mut config, &specs, models);
    (config, specs)
}

/// [`simulate_run`] with the configuration and agents set up already: a schedule in
/// `config` is followed as it is (`simulate --seeds N --schedule FILE`).
pub fn simulate_config(
    plan: &Arc<Plan>,
    config: &Config,
    agents: Vec<AgentSpec>,
    models: &SimModels,
    seed: u64,
    critical: bool,
) -> Result<(Summary, Vec<u32>), SimError> {
    let run = simulate(
        plan.clone(),
        config.clone(),
        agents,
        models,
        seed,
        &mut |_| {},
    )?;
    let path = if critical {
        super::risk::critical_tasks((&run).into(), plan)
    } else {
        Vec::new()
    };
    // A sweep writes no trace: it is only hashed into the summary.
    let hash = trace_hash_of((&run).into(), plan);
    let bound = Summary::plan_bound(plan, run.agents.len(), config);
    let summary = Summary::with_trace_hash((&run).into(), plan, config, hash, bound);
    Ok((summary, path))
}

/// Runs `shard`'s runs of the sweep ([`Shard::WHOLE`]: every run) on rayon's pool, calling
/// `tick` after each run (from any thread). The runs come back ordered by policy, vary
/// value, agents and seed, whatever the number of threads.
pub fn run_sweep(
    scenario: &Scenario,
    plan: &Arc<Plan>,
    spec: &SweepSpec,
    shard: Shard,
    tick: &(dyn Fn() + Sync),
) -> Result<Vec<SweepRun>, SweepError> {
    if spec.seeds == 0 {
        return Err(SweepError::Empty("--seeds must be at least 1"));
    }
    if spec.agents.is_empty() {
        return Err(SweepError::Empty("no agent counts"));
    }
    if spec.policies.is_empty() {
        return Err(SweepError::Empty("no policies"));
    }
    if spec.run_count() > RUNS_MAX {
        return Err(SweepError::TooLarge {
            runs: spec.run_count(),
        });
    }
    // One scenario and model set per vary value, resolved before anything runs.
    let variants: Vec<(Scenario, SimModels)> = match &spec.vary {
        None => vec![(scenario.clone(), SimModels::for_scenario(scenario, plan)?)],
        Some(vary) => vary
            .values
            .iter()
            .map(|&value| {
                let varied = vary.apply(scenario, value);
                let models = SimModels::for_scenario(&varied, plan)?;
                Ok((varied, models))
            })
            .collect::<Result<_, ScenarioError>>()?,
    };
    let keys = run_keys(spec);
    // What a run prepares before it starts (under `optimized`: a schedule, and its dispatch
    // mode chosen on 32 sampled runs per mode) depends on the configuration, never on the
    // seed: prepared once per configuration this shard runs, not once per run.
    let configs: BTreeSet<Point> = keys
        .iter()
        .enumerate()
        .filter(|(index, _)| shard.takes(*index as u64))
        .map(|(_, key)| (key.policy, key.vary, key.agents))
        .collect();
    let prepared: BTreeMap<Point, (Config, Vec<AgentSpec>)> = configs
        .into_par_iter()
        .map(|point @ (policy, vary, agents)| {
            let (scenario, models) = &variants[vary.unwrap_or(0)];
            let policy = Some(spec.policies[policy]);
            let prepared = prepare_config(scenario, plan, models, Some(agents), policy, None);
            (point, prepared)
        })
        .collect();
    let runs = keys
        .into_par_iter()
        .enumerate()
        .filter(|(index, _)| shard.takes(*index as u64))
        .map(|(index, key)| {
            let (_, models) = &variants[key.vary.unwrap_or(0)];
            let (config, specs) = &prepared[&(key.policy, key.vary, key.agents)];
            let result = simulate_config(plan, config, specs.clone(), models, key.seed, true);
            tick();
            let (result, critical) = match result {
                Ok((summary, critical)) => (Ok(summary), critical),
                Err(error) => (Err(error), Vec::new()),
            };
            SweepRun {
                index: index as u64,
                key,
                result,
                critical,
            }
        })
        .collect();
    Ok(runs)
}

/// A configuration of a sweep: policy index, vary value index, agents.
type Point = (usize, Option<usize>, u32);

/// Every run of the sweep, in its order: by policy, vary value, agents, then seed.
pub fn run_keys(spec: &SweepSpec) -> Vec<RunKey> {
    let vary_indices: Vec<Option<usize>> = match &spec.vary {
        None => vec![None],
        Some(vary) => (0..vary.values.len()).map(Some).collect(),
    };
    let mut keys = Vec::with_capacity(spec.run_count() as usize);
    for policy in 0..spec.policies.len() {
        for &vary in &vary_indices {
            for &agents in &spec.agents {
                for seed in spec.seed_list() {
                    keys.push(RunKey {
                        policy,
                        vary,
                        agents,
                        seed,
                    });
                }
            }
        }
    }
    keys
}

/// The aggregate of one point: all seeds of one (policy, vary value, agents). Times in
/// seconds; `None` where no run of the point finished.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PointSummary {
    /// Agents.
    pub agents: u32,
    /// Policy name.
    pub policy: String,
    /// Index into the policies of the spec.
    #[serde(skip)]
    pub policy_index: usize,
    /// Index of the vary value.
    #[serde(skip)]
    pub vary: Option<usize>,
    /// Runs made.
    pub runs: usize,
    /// Runs that stopped early (stalled or over the step limit).
    pub errors: usize,
    /// Runs that ran to the end but lost tasks (failed for good or skipped): their
    /// makespan is of the part that ran, so the percentiles below leave them out.
    pub incomplete: usize,
    /// 5th percentile of the makespan, over the runs that completed every task (as are
    /// all percentiles and medians here; the means are over every run that ran to the end).
    pub makespan_p5: Option<f64>,
    /// Median makespan.
    pub makespan_p50: Option<f64>,
    /// 80th percentile of the makespan.
    pub makespan_p80: Option<f64>,
    /// 95th percentile of the makespan.
    pub makespan_p95: Option<f64>,
    /// Mean makespan.
    pub makespan_mean: Option<f64>,
    /// 5th percentile of the speedup (serial time / makespan).
    pub speedup_p5: Option<f64>,
    /// Median speedup.
    pub speedup_p50: Option<f64>,
    /// 95th percentile of the speedup.
    pub speedup_p95: Option<f64>,
    /// The plan's lower bound on the makespan at this agent count.
    pub lower_bound: f64,
    /// `serial_time / lower_bound`: the most speedup any policy can reach on the estimates.
    pub bound_speedup: f64,
    /// Median of `makespan / lower_bound`. The bound is on the estimates: runs whose
    /// attempts drew shorter durations can come in under it (a ratio below 1).
    pub makespan_over_lower_bound_p50: Option<f64>,
    /// Median efficiency: each run's makespan over its own bound, from the durations it
    /// drew ([`Summary::efficiency`]); never below 1.
    pub efficiency_p50: Option<f64>,
    /// 5th percentile of the utilization.
    pub utilization_p5: Option<f64>,
    /// Median utilization.
    pub utilization_p50: Option<f64>,
    /// 95th percentile of the utilization.
    pub utilization_p95: Option<f64>,
    /// Mean total lock wait per run.
    pub lock_wait_mean: Option<f64>,
    /// Mean retries per run.
    pub retries_mean: Option<f64>,
    /// Mean timeouts per run.
    pub timeouts_mean: Option<f64>,
    /// Mean reassignments per run.
    pub reassignments_mean: Option<f64>,
    /// Mean tasks failed for good per run.
    pub tasks_failed_mean: Option<f64>,
    /// Mean tasks skipped per run.
    pub tasks_skipped_mean: Option<f64>,
    /// Share of the point's runs that completed every task by the sweep's deadline: runs
    /// that stopped early or lost tasks count as late (empty without `--deadline`).
    pub deadline_probability: Option<f64>,
    /// Median busy cost (see [`Summary::cost_busy`]).
    pub cost_busy_p50: Option<f64>,
    /// Median held cost (see [`Summary::cost_held`]).
    pub cost_held_p50: Option<f64>,
}

/// The `q`-quantile (0 to 1) of ascending `sorted` values, interpolating linearly between
/// neighbours (the method of numpy's and pandas' default), `None` when empty.
pub fn quantile(sorted: &[f64], q: f64) -> Option<f64> {
    debug_assert!(sorted.windows(2).all(|w| w[0] <= w[1]), "sorted input");
    let last = sorted.len().checked_sub(1)?;
    let h = last as f64 * q.clamp(0.0, 1.0);
    let (low, high) = (h.floor() as usize, h.ceil() as usize);
    Some(sorted[low] + (h - low as f64) * (sorted[high] - sorted[low]))
}

/// Percentiles and means of one metric over some runs of a point.
struct Stat(Vec<f64>);

impl Stat {
    fn new(values: impl Iterator<Item = f64>) -> Self {
        let mut values: Vec<f64> = values.collect();
        values.sort_by(f64::total_cmp);
        Stat(values)
    }

    fn q(&self, q: f64) -> Option<f64> {
        quantile(&self.0, q).map(round6)
    }

    fn mean(&self) -> Option<f64> {
        if self.0.is_empty() {
            None
        } else {
            Some(round6(self.0.iter().sum::<f64>() / self.0.len() as f64))
        }
    }
}

fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

/// Aggregates runs (in [`run_sweep`]'s order) into one summary per point, in the same
/// order: by policy, vary value, then agents.
pub fn summarize(spec: &SweepSpec, plan: &Plan, runs: &[SweepRun]) -> Vec<PointSummary> {
    let serial_ms = plan.total_work_ms();
    runs.chunk_by(|a, b| {
        (a.key.policy, a.key.vary, a.key.agents) == (b.key.policy, b.key.vary, b.key.agents)
    })
    .map(|point| {
        let key = point[0].key;
        // What happened (retries, failed tasks, lock wait) is averaged over every run that
        // ran to the end; how long the plan took only over the runs that completed it, as
        // `taskdist simulate --seeds` does.
        let ok = || point.iter().filter_map(|r| r.result.as_ref().ok());
        let complete = || {
            point
                .iter()
                .filter_map(|r| super::risk::finished_plan(&r.result))
        };
        let of_complete = |f: fn(&Summary) -> f64| Stat::new(complete().map(f));
        let makespan = of_complete(|s| s.makespan);
        let speedup = of_complete(|s| s.speedup);
        let utilization = of_complete(|s| s.utilization);
        let ratio = of_complete(|s| s.makespan_over_lower_bound);
        // A run without attempts (an empty plan) has no efficiency.
        let efficiency = Stat::new(complete().filter_map(|s| s.efficiency));
        let mean = |f: fn(&Summary) -> f64| Stat::new(ok().map(f)).mean();
        let lower_bound_ms = plan.lower_bound_ms(key.agents as usize);
        PointSummary {
            agents: key.agents,
            policy: spec.policies[key.policy].to_string(),
            policy_index: key.policy,
            vary: key.vary,
            runs: point.len(),
            errors: point.iter().filter(|r| r.result.is_err()).count(),
            incomplete: ok().filter(|s| !s.is_complete()).count(),
            makespan_p5: makespan.q(0.05),
            makespan_p50: makespan.q(0.5),
            makespan_p80: makespan.q(0.8),
            makespan_p95: makespan.q(0.95),
            makespan_mean: makespan.mean(),
            speedup_p5: speedup.q(0.05),
            speedup_p50: speedup.q(0.5),
            speedup_p95: speedup.q(0.95),
            lower_bound: crate::model::seconds(lower_bound_ms),
            bound_speedup: if lower_bound_ms == 0 {
                0.0
            } else {
                round6(serial_ms as f64 / lower_bound_ms as f64)
            },
            makespan_over_lower_bound_p50: ratio.q(0.5),
            efficiency_p50: efficiency.q(0.5),
            utilization_p5: utilization.q(0.05),
            utilization_p50: utilization.q(0.5),
            utilization_p95: utilization.q(0.95),
            lock_wait_mean: mean(|s| s.lock_wait_total),
            retries_mean: mean(|s| s.retries as f64),
            timeouts_mean: mean(|s| s.timeouts as f64),
            reassignments_mean: mean(|s| s.reassignments as f64),
            tasks_failed_mean: mean(|s| s.tasks_failed as f64),
            tasks_skipped_mean: mean(|s| s.tasks_skipped as f64),
            deadline_probability: spec.deadline.map(|deadline| {
                let by = complete()
                    .filter(|s| s.makespan <= crate::model::seconds(deadline))
                    .count();
                round6(by as f64 / point.len() as f64)
            }),
            cost_busy_p50: of_complete(|s| s.cost_busy).q(0.5),
            cost_held_p50: of_complete(|s| s.cost_held).q(0.5),
        }
    })
    .collect()
}

/// The knee of one series (one policy, one vary value): the smallest agent count whose
/// median makespan is within [`KNEE_TOLERANCE`] of the series' best median makespan.
#[derive(Debug, Clone, PartialEq)]
pub struct Knee {
    /// The knee's agent count.
    pub agents: u32,
    /// Its median makespan, seconds.
    pub makespan_p50: f64,
    /// The agent count with the best median makespan (the smallest, on ties).
    pub best_agents: u32,
    /// The best median makespan, seconds.
    pub best_makespan_p50: f64,
    /// The knee's median held cost.
    pub cost_held_p50: Option<f64>,
}

/// How close to the best median makespan the knee must be: 5 %.
pub const KNEE_TOLERANCE: f64 = 0.05;

/// The knee of `points`, which should be one series; `None` if no point has finished runs.
pub fn knee<'a>(points: impl IntoIterator<Item = &'a PointSummary>) -> Option<Knee> {
    let finished: Vec<(u32, f64, Option<f64>)> = points
        .into_iter()
        .filter_map(|p| Some((p.agents, p.makespan_p50?, p.cost_held_p50)))
        .collect();
    let &(best_agents, best, _) = finished
        .iter()
        .min_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)))?;
    let &(agents, makespan_p50, cost_held_p50) = finished
        .iter()
        .filter(|(_, m, _)| *m <= best * (1.0 + KNEE_TOLERANCE))
        .min_by_key(|(a, _, _)| *a)?;
    Some(Knee {
        agents,
        makespan_p50,
        best_agents,
        best_makespan_p50: best,
        cost_held_p50,
    })
}

/// The knee of one series by cost: the point with the lowest median held cost among those
/// whose median makespan is within [`KNEE_TOLERANCE`] of the series' best (the fewest
/// agents on ties): the cheapest way to near-best time. Where cost grows with agents it
/// is the knee by time; it moves when a larger pool finishes enough sooner to cost less,
/// or the agent mix prices agents differently.
#[derive(Debug, Clone, PartialEq)]
pub struct CostKnee {
    /// Its agent count.
    pub agents: u32,
    /// Its median makespan, seconds.
    pub makespan_p50: f64,
    /// Its median held cost.
    pub cost_held_p50: f64,
    /// Its median busy cost.
    pub cost_busy_p50: f64,
}

/// The [`CostKnee`] of `points`, one series; `None` if no point has finished runs.
pub fn cost_knee<'a>(points: impl IntoIterator<Item = &'a PointSummary>) -> Option<CostKnee> {
    let finished: Vec<&PointSummary> = points
        .into_iter()
        .filter(|p| p.makespan_p50.is_some())
        .collect();
    let best = finished
        .iter()
        .filter_map(|p| p.makespan_p50)
        .min_by(f64::total_cmp)?;
    finished
        .into_iter()
        .filter(|p| {
            p.makespan_p50
                .is_some_and(|m| m <= best * (1.0 + KNEE_TOLERANCE))
        })
        .filter_map(|p| {
            Some(CostKnee {
                agents: p.agents,
                makespan_p50: p.makespan_p50?,
                cost_held_p50: p.cost_held_p50?,
                cost_busy_p50: p.cost_busy_p50?,
            })
        })
        .min_by(|a, b| {
            a.cost_held_p50
                .total_cmp(&b.cost_held_p50)
                .then(a.agents.cmp(&b.agents))
        })
}

/// The series of a sweep: the points of each (policy, vary value), agents ascending.
pub fn series(points: &[PointSummary]) -> Vec<&[PointSummary]> {
    points
        .chunk_by(|a, b| (a.policy_index, a.vary) == (b.policy_index, b.vary))
        .collect()
}

/// The label of a series: its policy, and its vary value if the sweep has an axis.
pub fn series_label(spec: &SweepSpec, point: &PointSummary) -> String {
    match &spec.vary {
        Some(vary) => format!(
            "{}, {}={}",
            point.policy,
            vary.axis,
            spec.vary_label(point.vary)
        ),
        None => point.policy.clone(),
    }
}

/// `sweep.csv`: one row per run, keyed by `agents,policy[,AXIS],seed`, then every field of
/// the run's summary (as in `summary.json`) and `error`, which is empty unless the run
/// stopped early (its summary fields are then empty).
pub fn runs_csv(spec: &SweepSpec, runs: &[SweepRun]) -> Vec<u8> {
    // The key columns come first; the summary's own copies of them are left out.
    let key_names = ["agents", "policy", "seed"];
    let keep: Vec<bool> = Summary::csv_header()
        .iter()
        .map(|name| !key_names.contains(&name.as_str()))
        .collect();
    let summary_names: Vec<String> = Summary::csv_header()
        .into_iter()
        .zip(&keep)
        .filter_map(|(name, &k)| k.then_some(name))
        .collect();
    let mut writer = csv::Writer::from_writer(Vec::new());
    let mut header = vec!["agents", "policy"];
    if let Some(vary) = &spec.vary {
        header.push(vary.axis.as_str());
    }
    header.push("seed");
    header.extend(summary_names.iter().map(String::as_str));
    header.push("error");
    writer.write_record(&header).expect("writing to memory");
    for run in runs {
        let mut record = vec![
            run.key.agents.to_string(),
            spec.policies[run.key.policy].to_string(),
        ];
        if spec.vary.is_some() {
            record.push(spec.vary_label(run.key.vary));
        }
        record.push(run.key.seed.to_string());
        match &run.result {
            Ok(summary) => {
                record.extend(
                    summary
                        .csv_values()
                        .into_iter()
                        .zip(&keep)
                        .filter_map(|(value, &k)| k.then_some(value)),
                );
                record.push(String::new());
            }
            Err(error) => {
                record.extend(summary_names.iter().map(|_| String::new()));
                record.push(error.to_string());
            }
        }
        writer.write_record(&record).expect("writing to memory");
    }
    writer.into_inner().expect("flushing to memory")
}

/// `sweep_summary.csv`: one row per point, `agents,policy[,AXIS]` then the fields of
/// [`PointSummary`]; empty cells where no run of the point finished.
pub fn points_csv(spec: &SweepSpec, points: &[PointSummary]) -> Vec<u8> {
    // Serialize each point with csv's own serde support, then splice the vary column in
    // after `policy`, where a reader looks for it.
    let mut plain = csv::Writer::from_writer(Vec::new());
    for point in points {
        plain.serialize(point).expect("writing to memory");
    }
    let plain = plain.into_inner().expect("flushing to memory");
    let mut reader = csv::Reader::from_reader(plain.as_slice());
    let mut writer = csv::Writer::from_writer(Vec::new());
    let headers = reader.headers().expect("own CSV").clone();
    let splice = |record: &csv::StringRecord, extra: Option<String>| {
        let mut out: Vec<String> = record.iter().take(2).map(str::to_string).collect();
        out.extend(extra);
        out.extend(record.iter().skip(2).map(str::to_string));
        out
    };
    let axis = spec.vary.as_ref().map(|v| v.axis.as_str().to_string());
    if points.is_empty() {
        let mut header = vec!["agents".to_string(), "policy".to_string()];
        header.extend(axis);
        writer.write_record(&header).expect("writing to memory");
    } else {
        writer
            .write_record(splice(&headers, axis))
            .expect("writing to memory");
    }
    for (record, point) in reader.records().zip(points) {
        let record = record.expect("own CSV");
        let extra = spec.vary.as_ref().map(|_| spec.vary_label(point.vary));
        writer
            .write_record(splice(&record, extra))
            .expect("writing to memory");
    }
    writer.into_inner().expect("flushing to memory")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Format, HOUR_MS};

    #[test]
    fn agent_counts_read_ranges_lists_and_single_numbers() {
        let parse = |s: &str| s.parse::<AgentCounts>().map(|a| a.0);
        assert_eq!(parse("1..4").unwrap(), [1, 2, 3, 4]);
        assert_eq!(parse("1..=3").unwrap(), [1, 2, 3]);
        assert_eq!(parse("8").unwrap(), [8]);
        assert_eq!(parse("8, 1..2,2").unwrap(), [1, 2, 8]);
        for bad in ["5..2", "0..3", "", "a..3", "1,,2", "3..", "99999"] {
            let err = parse(bad).unwrap_err().to_string();
            assert!(err.contains(&format!("`{bad}`")), "{bad}: {err}");
        }
        assert!(parse("5..2").unwrap_err().to_string().contains("reversed"));
    }

    #[test]
    fn vary_reads_each_axis_and_rejects_bad_values() {
        let v: Vary = "failure=0,0.05,0.2".parse().unwrap();
        assert_eq!(v.axis, Axis::Failure);
        let labels: Vec<String> = v.values.iter().map(ToString::to_string).collect();
        assert_eq!(labels, ["0", "0.05", "0.2"]);
        let v: Vary = "crash_mtbf=none,6h,90m".parse().unwrap();
        assert_eq!(
            v.values,
            [
                VaryValue::Mtbf(None),
                VaryValue::Mtbf(Some(6 * HOUR_MS)),
                VaryValue::Mtbf(Some(90 * 60_000))
            ]
        );
        assert_eq!(v.values[2].to_string(), "90m");
        let v: Vary = "locks=on,off".parse().unwrap();
        assert_eq!(
            v.values,
            [VaryValue::Switch(true), VaryValue::Switch(false)]
        );
        assert!(matches!(
            "speed=1,2".parse::<Vary>(),
            Err(SweepError::UnknownAxis(a)) if a == "speed"
        ));
        for bad in [
            "failure",
            "failure=1.5",
            "failure=",
            "context=maybe",
            "crash_mtbf=0s",
            "locks=on,on",
        ] {
            assert!(
                matches!(bad.parse::<Vary>(), Err(SweepError::BadVary { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn quantiles_interpolate_like_numpy() {
        let xs = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(quantile(&xs, 0.5), Some(2.5));
        assert_eq!(quantile(&xs, 0.0), Some(1.0));
        assert_eq!(quantile(&xs, 1.0), Some(4.0));
        assert!((quantile(&xs, 0.05).unwrap() - 1.15).abs() < 1e-12);
        assert_eq!(quantile(&[7.0], 0.95), Some(7.0));
        assert_eq!(quantile(&[], 0.5), None);
    }

    fn point(agents: u32, p50: Option<f64>) -> PointSummary {
        PointSummary {
            agents,
            policy: "fifo".into(),
            policy_index: 0,
            vary: None,
            runs: 1,
            errors: 0,
            incomplete: 0,
            makespan_p5: p50,
            makespan_p50: p50,
            makespan_p80: p50,
            makespan_p95: p50,
            makespan_mean: p50,
            speedup_p5: None,
            speedup_p50: None,
            speedup_p95: None,
            lower_bound: 1.0,
            bound_speedup: 1.0,
            makespan_over_lower_bound_p50: None,
            efficiency_p50: None,
            utilization_p5: None,
            utilization_p50: None,
            utilization_p95: None,
            lock_wait_mean: None,
            retries_mean: None,
            timeouts_mean: None,
            reassignments_mean: None,
            tasks_failed_mean: None,
            tasks_skipped_mean: None,
            deadline_probability: None,
            cost_busy_p50: p50.map(|_| 0.0),
            cost_held_p50: p50.map(|m| m * agents as f64),
        }
    }

    #[test]
    fn the_knee_is_the_fewest_agents_within_five_percent_of_the_best_median() {
        let points = [
            point(1, Some(1000.0)),
            point(2, Some(520.0)),
            point(3, Some(300.0)),
            point(4, Some(290.0)),
            point(5, Some(280.0)),
            point(6, None),
            point(7, Some(282.0)),
        ];
        let k = knee(&points).unwrap();
        assert_eq!((k.agents, k.best_agents), (4, 5));
        assert_eq!((k.makespan_p50, k.best_makespan_p50), (290.0, 280.0));
        // 294 is the limit: 300 is just over it.
        assert_eq!(knee(&points[..3]).unwrap().agents, 3);
        assert_eq!(knee(&[point(1, None)]), None);
    }

    #[test]
    fn the_cost_knee_is_the_cheapest_point_within_five_percent_of_the_best_median() {
        let mut points = vec![
            point(1, Some(1000.0)),
            point(2, Some(520.0)),
            point(3, Some(300.0)),
            point(4, Some(290.0)),
            point(5, Some(280.0)),
        ];
        // Held cost = makespan x agents here: 4 agents are the cheapest near-best point.
        let k = cost_knee(&points).unwrap();
        assert_eq!((k.agents, k.cost_held_p50), (4, 1160.0));
        // Priced so that the fifth agent pays for itself, the knee by cost moves to 5
        // while the knee by time stays at 4.
        points[4].cost_held_p50 = Some(1000.0);
        assert_eq!(cost_knee(&points).unwrap().agents, 5);
        assert_eq!(knee(&points).unwrap().agents, 4);
        assert_eq!(cost_knee(&[point(1, None)]), None);
    }

    const PLAN: &str = "[[agents]]\ncount = 1\n\
        [simulation]\nduration = { model = 'lognormal', spread = 0.3 }\nfailure_probability = 0.1\n\
        [simulation.types.testing]\nfailure_probability = 0.9\n\
        [[tasks]]\nid = 'a'\nestimated_duration = '10m'\nfiles_to_modify = ['x']\n\
        [[tasks]]\nid = 'b'\nestimated_duration = '10m'\nfiles_to_modify = ['x']\n\
        [[tasks]]\nid = 'c'\ntype = 'testing'\nestimated_duration = '5m'\ndepends_on = ['a']\n";

    fn load() -> (Scenario, Arc<Plan>) {
        let (scenario, issues) = Scenario::parse(PLAN, Format::Toml, "t.toml").unwrap();
        let (scenario, plan) = Plan::from_scenario(scenario, issues).unwrap();
        (scenario, Arc::new(plan))
    }

    fn spec(vary: Option<&str>) -> SweepSpec {
        SweepSpec {
            agents: vec![1, 2, 3],
            policies: vec![Policy::CriticalPath, Policy::Fifo],
            vary: vary.map(|v| v.parse().unwrap()),
            seeds: 4,
            base_seed: 10,
            deadline: None,
        }
    }

    /// What `simulate` alone gives for the settings of a sweep's `run`.
    fn single_run(
        scenario: &Scenario,
        plan: &Arc<Plan>,
        spec: &SweepSpec,
        run: &SweepRun,
    ) -> Result<Summary, SimError> {
        let vary = spec.vary.as_ref().unwrap();
        let varied = vary.apply(scenario, vary.values[run.key.vary.unwrap()]);
        let models = SimModels::for_scenario(&varied, plan).unwrap();
        simulate_summary(
            &varied,
            plan,
            &models,
            Some(run.key.agents),
            Some(spec.policies[run.key.policy]),
            run.key.seed,
        )
    }

    /// Under `optimized` a sweep prepares each configuration once (schedule and dispatch
    /// choice) and shares it among the seeds: every run must still be the single run of
    /// the same settings, which prepares its own.
    #[test]
    fn an_optimized_sweep_shares_its_preparation_and_matches_single_runs() {
        let (scenario, plan) = load();
        let spec = SweepSpec {
            policies: vec![Policy::Optimized],
            seeds: 3,
            ..spec(Some("failure=0,0.5"))
        };
        let runs = run_sweep(&scenario, &plan, &spec, Shard::WHOLE, &|| {}).unwrap();
        for run in &runs {
            let single = single_run(&scenario, &plan, &spec, run);
            assert_eq!(run.result, single, "{:?}", run.key);
        }
    }

    #[test]
    fn the_failure_axis_replaces_every_failure_probability() {
        let (scenario, _) = load();
        let vary: Vary = "failure=0".parse().unwrap();
        let varied = vary.apply(&scenario, vary.values[0]);
        let sim = varied.file.simulation.unwrap();
        assert_eq!(sim.failure_probability, Some(0.0));
        assert!(sim.types.values().all(|o| o.failure_probability.is_none()));
    }

    #[test]
    fn a_sweep_runs_every_point_in_order_and_matches_single_runs() {
        let (scenario, plan) = load();
        let spec = spec(Some("failure=0,0.5"));
        let runs = run_sweep(&scenario, &plan, &spec, Shard::WHOLE, &|| {}).unwrap();
        assert_eq!(runs.len() as u64, spec.run_count());
        assert_eq!(runs.len(), 2 * 2 * 3 * 4);
        let keys: Vec<_> = runs
            .iter()
            .map(|r| (r.key.policy, r.key.vary, r.key.agents, r.key.seed))
            .collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted);
        // Any run is the single run of the same settings.
        let run = &runs[17];
        let single = single_run(&scenario, &plan, &spec, run).unwrap();
        assert_eq!(run.result.as_ref().unwrap(), &single);
        // Without failures nothing is retried.
        assert!(
            runs.iter().filter(|r| r.key.vary == Some(0)).all(|r| r
                .result
                .as_ref()
                .unwrap()
                .retries
                == 0)
        );
        assert!(
            runs.iter().filter(|r| r.key.vary == Some(1)).any(|r| r
                .result
                .as_ref()
                .unwrap()
                .retries
                > 0)
        );
    }

    #[test]
    fn the_sweep_is_the_same_on_one_thread_and_on_several() {
        let (scenario, plan) = load();
        let spec = spec(None);
        let on = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                let runs = run_sweep(&scenario, &plan, &spec, Shard::WHOLE, &|| {}).unwrap();
                let points = summarize(&spec, &plan, &runs);
                (runs_csv(&spec, &runs), points_csv(&spec, &points))
            })
        };
        assert_eq!(on(1), on(3));
    }

    #[test]
    fn points_aggregate_their_seeds_and_csv_columns_line_up() {
        let (scenario, plan) = load();
        let spec = spec(Some("locks=on,off"));
        let runs = run_sweep(&scenario, &plan, &spec, Shard::WHOLE, &|| {}).unwrap();
        let points = summarize(&spec, &plan, &runs);
        assert_eq!(points.len(), 2 * 2 * 3);
        assert!(points.iter().all(|p| p.runs == 4 && p.errors == 0));
        for p in &points {
            let (p5, p50, p95) = (
                p.makespan_p5.unwrap(),
                p.makespan_p50.unwrap(),
                p.makespan_p95.unwrap(),
            );
            assert!(p5 <= p50 && p50 <= p95, "{p:?}");
            // Against the run's own bound no run can be faster; against the plan's bound on
            // estimates some runs of this plan are (it draws durations).
            assert!(p.efficiency_p50.unwrap() >= 1.0, "{p:?}");
        }
        assert_eq!(series(&points).len(), 4);
        let csv_text = String::from_utf8(points_csv(&spec, &points)).unwrap();
        let mut reader = csv::Reader::from_reader(csv_text.as_bytes());
        let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
        assert_eq!(&header[..4], ["agents", "policy", "locks", "runs"]);
        let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        assert_eq!(rows.len(), points.len());
        assert!(rows.iter().all(|r| r.len() == header.len()));
        assert_eq!(&rows[3][2], "off");
        let runs_text = String::from_utf8(runs_csv(&spec, &runs)).unwrap();
        let mut reader = csv::Reader::from_reader(runs_text.as_bytes());
        let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
        assert_eq!(
            &header[..5],
            ["agents", "policy", "locks", "seed", "makespan"]
        );
        assert_eq!(header.last().unwrap(), "error");
        assert_eq!(header.iter().filter(|h| *h == "agents").count(), 1);
        assert_eq!(reader.records().count(), runs.len());
    }
}
