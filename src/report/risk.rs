//! What a planner reads besides the median: the makespan distribution (p50/p80/p95 and
//! the probability of finishing by a deadline), the criticality index of each task, and
//! the tornado analysis of which task types' durations or failure rates move the p80
//! makespan most. Used by `taskdist simulate --seeds N` and `taskdist sweep`.
//!
//! # The realized critical path
//!
//! The plan's critical path is a property of the estimates; the realized critical path is
//! read back from one run's trace: the chain of attempts, and the waits between them, that
//! set the makespan. It starts at the attempt that ended last. The predecessor of an
//! attempt that started at time `s` is, among
//!
//! 1. the task's previous attempt (a retry follows a failure, a requeue a lost agent),
//! 2. the attempts of the tasks it waits for (`depends_on`, `blocked_by`),
//! 3. the attempts of other tasks that lock one of its files in a conflicting mode (a
//!    writer conflicts with everyone, a reader with writers), and
//! 4. the earlier attempts on the same agent,
//!
//! the one that ended last at or before `s` (ties in that order, then the later in the
//! trace), not already on the chain. The chain ends at an attempt with no predecessor. The
//! time between a predecessor's end and its successor's start is a wait on the chain
//! (backoff before a retry, dispatch). A task lies on the realized critical path of a run
//! when one of its attempts does; its **criticality index** is the share of the runs that
//! finished the plan (completed every task) in which it does.
//!
//! # The tornado
//!
//! Each task type of the plan is varied alone, each of its two parameters at the two ends
//! of a range, every other model as it is, over the same seeds. The range is the
//! parameter's 95 % interval where the simulation table gives one (`duration_interval`,
//! `failure_interval`: what `taskdist calibrate` writes, from the log-normal fit of the
//! median and the Wilson interval of the failure proportion); elsewhere a fixed range
//! stands in for it: durations ×0.75 and ×1.25 (±25 % around the model's draws), failure
//! probability −0.1 and +0.1 (absolute, kept within 0 to 1). Each bar says which
//! ([`RangeSource`]). The bar of a factor spans the p80 makespans at its two ends; bars
//! are ranked by that swing.

use super::sweep::{Shard, quantile};
use super::{RunView, Summary};
use crate::model::{AgentSpec, Config, Policy, Scenario, Schedule, TaskType, Time, seconds};
use crate::plan::{LockMode, Plan, TaskIdx};
use crate::sim::{SimError, SimModels};
use rayon::prelude::*;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The summary of a run that finished the plan: it ran to the end and completed every
/// task. The distributions, the criticality and the tornado are over these runs alone; a
/// run that stopped early or lost tasks did not finish the plan (it counts as late).
pub fn finished_plan(result: &Result<Summary, SimError>) -> Option<&Summary> {
    result.as_ref().ok().filter(|s| s.is_complete())
}

/// The tasks on the realized critical path of a run (see the module doc), as plan
/// indices, ascending. Empty for a run without attempts.
pub fn critical_tasks(run: RunView<'_>, plan: &Plan) -> Vec<u32> {
    let trace = run.trace;
    let Some(last) = (0..trace.len()).max_by_key(|&i| (trace[i].end, i)) else {
        return Vec::new();
    };
    // Attempt rows by task, by agent and by file, each ordered by end time, for "the
    // latest that ended by `s`".
    let by_end = |mut rows: Vec<usize>| {
        rows.sort_by_key(|&i| (trace[i].end, i));
        rows
    };
    let mut of_task: Vec<Vec<usize>> = vec![Vec::new(); plan.len()];
    let mut of_agent: Vec<Vec<usize>> = vec![Vec::new(); run.agents.len()];
    let files = plan
        .task_indices()
        .flat_map(|t| plan.locks(t).iter().map(|l| l.file.0 as usize + 1))
        .max()
        .unwrap_or(0);
    let mut holders: Vec<Vec<usize>> = vec![Vec::new(); files];
    let mut writers: Vec<Vec<usize>> = vec![Vec::new(); files];
    for (i, r) in trace.iter().enumerate() {
        of_task[r.task.ix()].push(i);
        of_agent[r.agent.ix()].push(i);
        for lock in plan.locks(r.task) {
            holders[lock.file.0 as usize].push(i);
            if lock.mode == LockMode::Write {
                writers[lock.file.0 as usize].push(i);
            }
        }
    }
    let of_task: Vec<Vec<usize>> = of_task.into_iter().map(by_end).collect();
    let of_agent: Vec<Vec<usize>> = of_agent.into_iter().map(by_end).collect();
    let holders: Vec<Vec<usize>> = holders.into_iter().map(by_end).collect();
    let writers: Vec<Vec<usize>> = writers.into_iter().map(by_end).collect();

    let mut on_chain = vec![false; trace.len()];
    let mut on_path = vec![false; plan.len()];
    let mut current = last;
    loop {
        on_chain[current] = true;
        let task = trace[current].task;
        on_path[task.ix()] = true;
        let start = trace[current].start;
        // The latest row of `rows` (ordered by end) that ended by `start`, is not on the
        // chain and passes `keep`.
        let latest = |rows: &[usize], keep: &dyn Fn(usize) -> bool| {
            let upto = rows.partition_point(|&i| trace[i].end <= start);
            rows[..upto]
                .iter()
                .rev()
                .copied()
                .find(|&i| !on_chain[i] && keep(i))
        };
        let mut best: Option<(Time, u8, usize)> = None;
        let mut offer = |row: Option<usize>, rank: u8| {
            if let Some(i) = row {
                // Later end first; on equal ends the lower rank, then the later row.
                let key = (trace[i].end, u8::MAX - rank, i);
                if best.is_none_or(|(e, r, b)| key > (e, r, b)) {
                    best = Some(key);
                }
            }
        };
        let attempt = trace[current].attempt;
        offer(
            latest(&of_task[task.ix()], &|i| trace[i].attempt < attempt),
            0,
        );
        for &pred in plan.preds(task) {
            offer(latest(&of_task[pred.ix()], &|_| true), 1);
        }
        let other = |i: usize| trace[i].task != task;
        for lock in plan.locks(task) {
            let rows = match lock.mode {
                LockMode::Write => &holders[lock.file.0 as usize],
                LockMode::Read => &writers[lock.file.0 as usize],
            };
            offer(latest(rows, &other), 2);
        }
        offer(latest(&of_agent[trace[current].agent.ix()], &other), 3);
        match best {
            Some((_, _, row)) => current = row,
            None => break,
        }
    }
    (0..plan.len() as u32)
        .filter(|&t| on_path[t as usize])
        .collect()
}

/// The makespan distribution of a set of runs of one configuration.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Distribution {
    /// Runs made.
    pub runs: usize,
    /// Runs that finished the plan, completing every task (the others stopped early or
    /// lost tasks: failed for good or skipped). The percentiles are over these.
    pub finished: usize,
    /// Median makespan, seconds.
    pub p50: Option<f64>,
    /// 80th percentile, seconds.
    pub p80: Option<f64>,
    /// 95th percentile, seconds.
    pub p95: Option<f64>,
    /// The deadline, seconds, if one was given.
    pub deadline: Option<f64>,
    /// Share of all runs that finished the plan by the deadline (runs that stopped early
    /// or lost tasks count as late).
    pub deadline_probability: Option<f64>,
}

impl Distribution {
    /// The distribution of `makespans` (seconds, of the runs that finished the plan) out
    /// of `runs`.
    pub fn new(makespans: &[f64], runs: usize, deadline: Option<Time>) -> Distribution {
        let mut sorted = makespans.to_vec();
        sorted.sort_by(f64::total_cmp);
        let q = |q: f64| quantile(&sorted, q).map(round6);
        let deadline = deadline.map(seconds);
        Distribution {
            runs,
            finished: sorted.len(),
            p50: q(0.5),
            p80: q(0.8),
            p95: q(0.95),
            deadline,
            deadline_probability: deadline.map(|d| {
                round6(sorted.iter().filter(|&&m| m <= d).count() as f64 / runs.max(1) as f64)
            }),
        }
    }
}

fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

/// The S-curve as CSV: `key columns…,makespan,cumulative_probability`, one row per
/// run that finished the plan, in makespan order; the probability counts every run, those
/// that stopped early or lost tasks included, so a curve with such runs ends below 1.
pub fn cdf_csv<'a>(
    keys: &[&str],
    curves: impl IntoIterator<Item = (Vec<String>, &'a super::figures::Curve)>,
) -> Vec<u8> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let mut header: Vec<&str> = keys.to_vec();
    header.extend(["makespan", "cumulative_probability"]);
    writer.write_record(&header).expect("writing to memory");
    for (key, curve) in curves {
        for (k, m) in curve.makespans.iter().enumerate() {
            let mut record = key.clone();
            record.push(m.to_string());
            record.push(round6((k + 1) as f64 / curve.runs.max(1) as f64).to_string());
            writer.write_record(&record).expect("writing to memory");
        }
    }
    writer.into_inner().expect("flushing to memory")
}

/// One task's criticality index.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Criticality {
    /// The task's id.
    pub task_id: String,
    /// Its type.
    pub task_type: String,
    /// Finished runs in which it lay on the realized critical path.
    pub runs_on_path: usize,
    /// Finished runs in all.
    pub runs: usize,
    /// `runs_on_path / runs`.
    pub criticality: f64,
}

/// The criticality index of every task over the critical sets of `runs` runs that finished
/// the plan,
/// ranked: highest index first, then plan order.
pub fn criticality<'a>(
    plan: &Plan,
    critical_sets: impl IntoIterator<Item = &'a [u32]>,
    runs: usize,
) -> Vec<Criticality> {
    let mut counts = vec![0usize; plan.len()];
    for set in critical_sets {
        for &t in set {
            counts[t as usize] += 1;
        }
    }
    let mut ranked: Vec<(usize, usize)> = counts.into_iter().enumerate().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    ranked
        .into_iter()
        .map(|(t, on)| {
            let t = TaskIdx(t as u32);
            Criticality {
                task_id: plan.id(t).to_string(),
                task_type: plan.task_type(t).to_string(),
                runs_on_path: on,
                runs,
                criticality: round6(if runs == 0 {
                    0.0
                } else {
                    on as f64 / runs as f64
                }),
            }
        })
        .collect()
}

/// `criticality.csv`: key columns, then every field of [`Criticality`], one row per task
/// with a non-zero index, ranked within each key.
pub fn criticality_csv<'a>(
    keys: &[&str],
    groups: impl IntoIterator<Item = (Vec<String>, &'a [Criticality])>,
) -> Vec<u8> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let mut header: Vec<&str> = keys.to_vec();
    header.extend([
        "task_id",
        "task_type",
        "runs_on_path",
        "runs",
        "criticality",
    ]);
    writer.write_record(&header).expect("writing to memory");
    for (key, ranked) in groups {
        for c in ranked.iter().filter(|c| c.runs_on_path > 0) {
            let mut record = key.clone();
            record.extend([
                c.task_id.clone(),
                c.task_type.clone(),
                c.runs_on_path.to_string(),
                c.runs.to_string(),
                c.criticality.to_string(),
            ]);
            writer.write_record(&record).expect("writing to memory");
        }
    }
    writer.into_inner().expect("flushing to memory")
}

/// The duration factors at the two ends of the tornado's duration range.
pub const DURATION_RANGE: (f64, f64) = (0.75, 1.25);
/// The shift of the failure probability at the two ends of the tornado's failure range.
pub const FAILURE_SHIFT: f64 = 0.1;

/// What one tornado factor varies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Parameter {
    /// The durations of the type's attempts.
    Duration,
    /// The failure probability of the type's attempts.
    Failure,
}

/// Where a tornado bar's range comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RangeSource {
    /// The parameter's 95 % interval, from the simulation table (a calibration's fit).
    Interval,
    /// No interval is known: the fixed range ([`DURATION_RANGE`], [`FAILURE_SHIFT`]).
    Default,
}

impl RangeSource {
    /// In words, for the report.
    pub fn describe(self, parameter: Parameter) -> &'static str {
        match (self, parameter) {
            (RangeSource::Interval, _) => "95 % interval (calibration)",
            (RangeSource::Default, Parameter::Duration) => "default ±25 %",
            (RangeSource::Default, Parameter::Failure) => "default ±0.1",
        }
    }
}

/// A factor's range: its two ends (duration factors of the model, or failure
/// probabilities) and where they come from.
fn range(models: &SimModels, ty: TaskType, parameter: Parameter) -> (f64, f64, RangeSource) {
    let params = models.type_params(ty);
    match parameter {
        Parameter::Duration => match params.duration_interval {
            Some((low, high)) => (low, high, RangeSource::Interval),
            None => (DURATION_RANGE.0, DURATION_RANGE.1, RangeSource::Default),
        },
        Parameter::Failure => match params.failure_interval {
            Some((low, high)) => (low, high, RangeSource::Interval),
            None => {
                let p = params.failure_probability;
                (
                    (p - FAILURE_SHIFT).max(0.0),
                    (p + FAILURE_SHIFT).min(1.0),
                    RangeSource::Default,
                )
            }
        },
    }
}

/// The tornado analysis of one configuration: the runs to make and, from their results,
/// the bars.
#[derive(Debug, Clone)]
pub struct Tornado {
    /// The factors, in the plan's type order, duration before failure.
    pub factors: Vec<(TaskType, Parameter)>,
    /// Models of each variant: 0 the models as they are, then each factor's low and high
    /// end.
    variants: Vec<SimModels>,
    /// Each factor's range: its low and high end, and where they come from.
    ranges: Vec<(f64, f64, RangeSource)>,
    /// Agents and policy of the configuration, as `simulate --agents --policy` take them.
    pub agents: Option<u32>,
    /// The dispatch policy.
    pub policy: Option<Policy>,
    /// The seeds every variant runs.
    pub seeds: Vec<u64>,
    /// Under `optimized`: the schedule every run follows (`None`: each run makes its own).
    pub schedule: Option<Arc<Schedule>>,
}

/// One bar of the tornado, as `tornado.csv` has it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TornadoRow {
    /// The task type varied.
    pub task_type: String,
    /// What was varied.
    pub parameter: Parameter,
    /// The low end: a duration factor, or a failure probability.
    pub low_value: f64,
    /// The high end.
    pub high_value: f64,
    /// Where the range comes from: `interval` (the parameter's 95 % interval in the
    /// simulation table, from a calibration) or `default` (the fixed ± range).
    pub range_source: RangeSource,
    /// p80 makespan at the low end, seconds.
    pub p80_low: Option<f64>,
    /// p80 makespan at the high end, seconds.
    pub p80_high: Option<f64>,
    /// p80 makespan of the models as they are, seconds.
    pub p80_base: Option<f64>,
    /// `|p80_high − p80_low|`, seconds.
    pub swing: Option<f64>,
}

impl Tornado {
    /// The tornado of `models` for `plan` at one configuration and over `seeds`.
    pub fn new(
        plan: &Plan,
        models: &SimModels,
        agents: Option<u32>,
        policy: Option<Policy>,
        seeds: Vec<u64>,
    ) -> Tornado {
        let mut present = [false; 7];
        for t in plan.task_indices() {
            present[plan.task_type(t).index()] = true;
        }
        let mut factors = Vec::new();
        let mut variants = vec![models.clone()];
        let mut ranges = Vec::new();
        for ty in TaskType::ALL.into_iter().filter(|ty| present[ty.index()]) {
            for parameter in [Parameter::Duration, Parameter::Failure] {
                factors.push((ty, parameter));
                let (low, high, source) = range(models, ty, parameter);
                ranges.push((low, high, source));
                let p = models.type_params(ty).failure_probability;
                let (low, high) = match parameter {
                    Parameter::Duration => (
                        models.adjusted(plan, ty, low, 0.0),
                        models.adjusted(plan, ty, high, 0.0),
                    ),
                    Parameter::Failure => (
                        models.adjusted(plan, ty, 1.0, low - p),
                        models.adjusted(plan, ty, 1.0, high - p),
                    ),
                };
                variants.push(low);
                variants.push(high);
            }
        }
        Tornado {
            factors,
            variants,
            ranges,
            agents,
            policy,
            seeds,
            schedule: None,
        }
    }

    /// Runs in the tornado: every variant at every seed.
    pub fn run_count(&self) -> u64 {
        self.variants.len() as u64 * self.seeds.len() as u64
    }

    /// Makes the runs whose number plus `offset` `shard` takes (in parallel, calling
    /// `tick` after each); run `v · seeds + k` is variant `v` at seed `k`. Returns each
    /// run's number (plus `offset`) and its makespan, seconds, or the error.
    pub fn run(
        &self,
        scenario: &Scenario,
        plan: &Arc<Plan>,
        offset: u64,
        shard: Shard,
        tick: &(dyn Fn() + Sync),
    ) -> Vec<(u64, Result<Summary, SimError>)> {
        let seeds = self.seeds.len() as u64;
        // Each variant's configuration is prepared once, not per run: the schedule (given,
        // or computed under `optimized`) and its dispatch mode depend on the variant's
        // models, never on the seed. Only variants with runs in the shard are prepared.
        let prepared: BTreeMap<usize, (Config, Vec<AgentSpec>)> = (0..self.variants.len())
            .into_par_iter()
            .filter(|&v| (0..seeds).any(|k| shard.takes(offset + v as u64 * seeds + k)))
            .map(|v| {
                let prepared = super::sweep::prepare_config(
                    scenario,
                    plan,
                    &self.variants[v],
                    self.agents,
                    self.policy,
                    self.schedule.clone(),
                );
                (v, prepared)
            })
            .collect();
        (0..self.run_count())
            .into_par_iter()
            .filter(|k| shard.takes(offset + k))
            .map(|k| {
                let variant = (k / seeds) as usize;
                let seed = self.seeds[(k % seeds) as usize];
                let (config, agents) = &prepared[&variant];
                let result = super::sweep::simulate_config(
                    plan,
                    config,
                    agents.clone(),
                    &self.variants[variant],
                    seed,
                    false,
                )
                .map(|(summary, _)| summary);
                tick();
                (offset + k, result)
            })
            .collect()
    }

    /// The bars, from the makespans (seconds; `None` for a run that stopped early or lost
    /// tasks) of every run in run order, ranked by swing (largest first; factors without finished
    /// runs last).
    pub fn rows(&self, makespans: &[Option<f64>]) -> Vec<TornadoRow> {
        assert_eq!(
            makespans.len() as u64,
            self.run_count(),
            "every tornado run"
        );
        let seeds = self.seeds.len();
        let p80 = |variant: usize| {
            let mut finished: Vec<f64> = makespans[variant * seeds..(variant + 1) * seeds]
                .iter()
                .flatten()
                .copied()
                .collect();
            finished.sort_by(f64::total_cmp);
            quantile(&finished, 0.8).map(round6)
        };
        let base = p80(0);
        let mut rows: Vec<TornadoRow> = self
            .factors
            .iter()
            .enumerate()
            .map(|(i, &(ty, parameter))| {
                let (low_value, high_value, range_source) = self.ranges[i];
                let (low, high) = (p80(1 + 2 * i), p80(2 + 2 * i));
                TornadoRow {
                    task_type: ty.to_string(),
                    parameter,
                    low_value: round6(low_value),
                    high_value: round6(high_value),
                    range_source,
                    p80_low: low,
                    p80_high: high,
                    p80_base: base,
                    swing: low.zip(high).map(|(l, h)| round6((h - l).abs())),
                }
            })
            .collect();
        // Stable: equal swings keep the plan's type order.
        rows.sort_by(|a, b| match (a.swing, b.swing) {
            (Some(x), Some(y)) => y.total_cmp(&x),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => std::cmp::Ordering::Equal,
        });
        rows
    }
}

impl TornadoRow {
    /// The bar's label: `testing duration ×0.75–×1.25`, `bug_fix failure 0–0.15`.
    pub fn label(&self) -> String {
        match self.parameter {
            Parameter::Duration => format!(
                "{} duration ×{}–×{}",
                self.task_type, self.low_value, self.high_value
            ),
            Parameter::Failure => format!(
                "{} failure {}–{}",
                self.task_type, self.low_value, self.high_value
            ),
        }
    }
}

/// `tornado.csv`: one row per factor, ranked, with every field of [`TornadoRow`].
pub fn tornado_csv(rows: &[TornadoRow]) -> Vec<u8> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    for row in rows {
        writer.serialize(row).expect("writing to memory");
    }
    if rows.is_empty() {
        writer
            .write_record([
                "task_type",
                "parameter",
                "low_value",
                "high_value",
                "range_source",
                "p80_low",
                "p80_high",
                "p80_base",
                "swing",
            ])
            .expect("writing to memory");
    }
    writer.into_inner().expect("flushing to memory")
}

/// The figure's bars of tornado rows that have both ends.
pub fn tornado_bars(rows: &[TornadoRow]) -> Vec<super::figures::TornadoBar> {
    rows.iter()
        .filter_map(|r| {
            Some(super::figures::TornadoBar {
                label: r.label(),
                low: r.p80_low?,
                high: r.p80_high?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Format, MINUTE_MS};
    use crate::sim::{run_setup, simulate};

    fn load(text: &str) -> (Scenario, Arc<Plan>, SimModels) {
        let (scenario, issues) = Scenario::parse(text, Format::Toml, "t.toml").unwrap();
        let (scenario, plan) = Plan::from_scenario(scenario, issues).unwrap();
        let models = SimModels::for_scenario(&scenario, &plan).unwrap();
        (scenario, Arc::new(plan), models)
    }

    fn path_of(text: &str, agents: u32, seed: u64) -> (Vec<String>, Time) {
        let (scenario, plan, models) = load(text);
        let (config, specs) = run_setup(&scenario, Some(agents), None);
        let run = simulate(plan.clone(), config, specs, &models, seed, &mut |_| {}).unwrap();
        let ids = critical_tasks((&run).into(), &plan)
            .into_iter()
            .map(|t| plan.id(TaskIdx(t)).to_string())
            .collect();
        (ids, run.makespan)
    }

    #[test]
    fn the_realized_path_follows_dependencies_agents_locks_and_retries() {
        // a -> b -> c is the long chain; d is short and independent.
        let chain = "[[agents]]\ncount=1\n\
            [[tasks]]\nid='a'\nestimated_duration='10m'\n\
            [[tasks]]\nid='b'\nestimated_duration='10m'\ndepends_on=['a']\n\
            [[tasks]]\nid='c'\nestimated_duration='10m'\ndepends_on=['b']\n\
            [[tasks]]\nid='d'\nestimated_duration='5m'\n";
        assert_eq!(path_of(chain, 2, 0).0, ["a", "b", "c"]);
        // On one agent everything is on the path: each attempt waited for the agent.
        assert_eq!(
            path_of(chain, 1, 0),
            (
                vec!["a".into(), "b".into(), "c".into(), "d".into()],
                35 * MINUTE_MS
            )
        );
        // Two writers of one file on two agents: the second waited for the first's lock.
        let locked = "[[agents]]\ncount=2\n\
            [[tasks]]\nid='w1'\nestimated_duration='10m'\nfiles_to_modify=['f']\n\
            [[tasks]]\nid='w2'\nestimated_duration='8m'\nfiles_to_modify=['f']\n\
            [[tasks]]\nid='free'\nestimated_duration='3m'\n";
        let (ids, makespan) = path_of(locked, 2, 0);
        assert_eq!(makespan, 18 * MINUTE_MS);
        assert_eq!(ids, ["w1", "w2"]);
        // A task that always fails once is on the path through both attempts.
        let retried = "[[agents]]\ncount=2\n[config]\nbackoff_base='1m'\n\
            [simulation.tasks.flaky]\nfailure_probability=1.0\n\
            [[tasks]]\nid='flaky'\nestimated_duration='10m'\n\
            [[tasks]]\nid='other'\nestimated_duration='1m'\n";
        let (ids, _) = path_of(retried, 2, 0);
        assert_eq!(ids, ["flaky"]);
    }

    #[test]
    fn distributions_count_early_stops_as_late_and_criticality_ranks_tasks() {
        let d = Distribution::new(&[4.0, 1.0, 3.0, 2.0], 5, Some(2500));
        assert_eq!((d.runs, d.finished), (5, 4));
        assert_eq!(d.p50, Some(2.5));
        assert_eq!(d.p80, Some(3.4));
        assert_eq!(d.deadline_probability, Some(0.4));
        let (_, plan, _) = load(
            "[[agents]]\ncount=1\n[[tasks]]\nid='x'\nestimated_duration='1m'\n\
             [[tasks]]\nid='y'\nestimated_duration='1m'\n",
        );
        let sets: [&[u32]; 3] = [&[1], &[0, 1], &[1]];
        let ranked = criticality(&plan, sets, 3);
        assert_eq!(ranked[0].task_id, "y");
        assert_eq!(ranked[0].criticality, 1.0);
        assert_eq!(ranked[1].criticality, 0.333333);
    }

    #[test]
    fn the_tornado_ranks_the_type_that_moves_p80_most_first() {
        // A long timeout: the hour-long task must not time out.
        let text = "[config]\ntask_timeout='10h'\n[[agents]]\ncount=2\n\
            [simulation]\nduration={model='lognormal', spread=0.2}\nfailure_probability=0.05\n\
            [[tasks]]\nid='build'\ntype='feature_implementation'\nestimated_duration='60m'\n\
            [[tasks]]\nid='docs'\ntype='documentation'\nestimated_duration='5m'\n";
        let (scenario, plan, models) = load(text);
        let tornado = Tornado::new(&plan, &models, Some(2), None, (0..8).collect());
        assert_eq!(tornado.factors.len(), 4);
        let runs = tornado.run(&scenario, &plan, 0, Shard::WHOLE, &|| {});
        assert_eq!(runs.len() as u64, tornado.run_count());
        let makespans: Vec<Option<f64>> = runs
            .iter()
            .map(|(_, r)| r.as_ref().ok().map(|s| s.makespan))
            .collect();
        let rows = tornado.rows(&makespans);
        assert_eq!(
            (rows[0].task_type.as_str(), rows[0].parameter),
            ("feature_implementation", Parameter::Duration)
        );
        assert!(rows[0].p80_low < rows[0].p80_base && rows[0].p80_base < rows[0].p80_high);
        let docs = rows
            .iter()
            .find(|r| r.task_type == "documentation" && r.parameter == Parameter::Duration)
            .unwrap();
        assert!(docs.swing.unwrap() < rows[0].swing.unwrap());
        let failure = rows
            .iter()
            .find(|r| r.parameter == Parameter::Failure)
            .unwrap();
        assert_eq!((failure.low_value, failure.high_value), (0.0, 0.15));
        assert!(rows.iter().all(|r| r.range_source == RangeSource::Default));
    }

    #[test]
    fn the_tornado_takes_the_tables_intervals_where_it_gives_them() {
        // feature_implementation has both intervals of its own; documentation inherits the
        // global failure interval, and its own duration model (set without an interval)
        // has none.
        let text = "[config]\ntask_timeout='10h'\n[[agents]]\ncount=2\n\
            [simulation]\nduration={model='lognormal', spread=0.2, median=1.0}\n\
            duration_interval=[0.9, 1.2]\nfailure_probability=0.05\nfailure_interval=[0.01, 0.2]\n\
            [simulation.types.feature_implementation]\nfailure_probability=0.3\n\
            failure_interval=[0.15, 0.5]\nduration_interval=[0.8, 1.1]\n\
            [simulation.types.documentation]\nduration={model='lognormal', spread=0.1}\n\
            [[tasks]]\nid='build'\ntype='feature_implementation'\nestimated_duration='60m'\n\
            [[tasks]]\nid='docs'\ntype='documentation'\nestimated_duration='5m'\n";
        let (scenario, plan, models) = load(text);
        let tornado = Tornado::new(&plan, &models, Some(2), None, (0..4).collect());
        let runs = tornado.run(&scenario, &plan, 0, Shard::WHOLE, &|| {});
        let makespans: Vec<Option<f64>> = runs
            .iter()
            .map(|(_, r)| r.as_ref().ok().map(|s| s.makespan))
            .collect();
        let rows = tornado.rows(&makespans);
        let row = |ty: &str, parameter: Parameter| {
            let r = rows
                .iter()
                .find(|r| r.task_type == ty && r.parameter == parameter)
                .unwrap();
            (r.low_value, r.high_value, r.range_source)
        };
        use Parameter::{Duration, Failure};
        use RangeSource::{Default, Interval};
        assert_eq!(
            row("feature_implementation", Duration),
            (0.8, 1.1, Interval)
        );
        assert_eq!(
            row("feature_implementation", Failure),
            (0.15, 0.5, Interval)
        );
        assert_eq!(row("documentation", Duration), (0.75, 1.25, Default));
        assert_eq!(row("documentation", Failure), (0.01, 0.2, Interval));
        // The ends are the ones simulated: the build's p80 moves with its factor.
        let build = rows
            .iter()
            .find(|r| r.task_type == "feature_implementation" && r.parameter == Duration)
            .unwrap();
        assert!(build.p80_low < build.p80_base && build.p80_base < build.p80_high);
        let csv = String::from_utf8(tornado_csv(&rows)).unwrap();
        assert!(csv.starts_with("task_type,parameter,low_value,high_value,range_source,"));
        assert!(csv.contains("feature_implementation,duration,0.8,1.1,interval,"));
        // An interval out of order, or a probability above 1, is refused.
        for bad in [
            "duration_interval=[1.2, 0.9]",
            "failure_interval=[0.1, 1.5]",
        ] {
            let text = format!(
                "[[agents]]\ncount=1\n[simulation]\n{bad}\n[[tasks]]\nid='a'\nestimated_duration='1m'\n"
            );
            let (scenario, issues) = Scenario::parse(&text, Format::Toml, "t.toml").unwrap();
            let (scenario, plan) = Plan::from_scenario(scenario, issues).unwrap();
            assert!(SimModels::for_scenario(&scenario, &plan).is_err(), "{bad}");
        }
    }
}
