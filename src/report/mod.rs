//! Metrics and files made from runs. This module: the summary of one run (`summary.json`),
//! the per-attempt trace (`trace.csv`) and its hash. Times in these files are seconds with
//! millisecond precision, written the same way on every machine.
//!
//! Submodules: [`sweep`] runs and aggregates many runs for capacity planning, [`plot`]
//! draws figures (SVG and PNG, embedded font), [`gantt`] the Gantt chart of one run,
//! [`risk`] the makespan distribution, criticality index and tornado, [`figures`] their
//! charts and the cost chart, [`markdown`] a sweep's `report.md`, [`shard`] the shard files of a sweep cut across
//! machines, [`baseline`] records metric distributions and
//! checks later runs against them, and [`stg`] is the maintainer's report of schedule
//! quality against published optima (`reports/stg.md`).

use crate::core::{Progress, Stats};
use crate::drive::AttemptRecord;
use crate::model::{AgentSpec, Config, HOUR_MS, Human, Time, count, seconds, was_or_were};
use crate::plan::{LowerBound, Plan};
use crate::runtime::RunOutcome;
use crate::sim::SimRun;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;

pub mod baseline;
pub mod figures;
pub mod gantt;
pub mod markdown;
pub mod plot;
pub mod risk;
pub mod shard;
pub mod stg;
pub mod sweep;

/// What the trace and the summary read from a run, simulated ([`SimRun`]) or real
/// ([`RunOutcome`]), so both kinds of run give the same files.
#[derive(Debug, Clone, Copy)]
pub struct RunView<'a> {
    /// The master seed (a real run: its backoff jitter seed).
    pub seed: u64,
    /// The agents, by index.
    pub agents: &'a [AgentSpec],
    /// Every attempt, in dispatch order.
    pub trace: &'a [AttemptRecord],
    /// When the last task ended.
    pub makespan: Time,
    /// Time tasks spent parked on file locks.
    pub lock_wait_total: Time,
    /// The core's counters.
    pub stats: Stats,
    /// The core's final totals.
    pub progress: &'a Progress,
}

impl<'a> From<&'a SimRun> for RunView<'a> {
    fn from(run: &'a SimRun) -> RunView<'a> {
        RunView {
            seed: run.seed,
            agents: &run.agents,
            trace: &run.trace,
            makespan: run.makespan,
            lock_wait_total: run.lock_wait_total,
            stats: run.stats,
            progress: &run.progress,
        }
    }
}

impl<'a> From<&'a RunOutcome> for RunView<'a> {
    fn from(run: &'a RunOutcome) -> RunView<'a> {
        RunView {
            seed: run.seed,
            agents: &run.agents,
            trace: &run.trace,
            makespan: run.makespan,
            lock_wait_total: run.lock_wait_total,
            stats: run.stats,
            progress: &run.progress,
        }
    }
}

/// The header of `trace.csv`.
const TRACE_HEADER: &[u8] = b"task_id,agent_id,attempt,start,end,outcome,layer,wait_reason\n";

/// The trace as CSV bytes: `task_id,agent_id,attempt,start,end,outcome,layer,wait_reason`,
/// one row per attempt in dispatch order; times in seconds with three decimals.
pub fn trace_csv(run: &SimRun, plan: &Plan) -> Vec<u8> {
    trace_csv_of(run.into(), plan)
}

/// [`trace_csv`] of any run.
///
/// Written byte by byte rather than through `csv`'s serde support (a million attempts
/// took half a second of formatting): the same bytes as `csv::Writer` with its defaults —
/// the header only above a first row, a field quoted only when it holds `,`, `"`, `\r` or
/// `\n`, quotes inside doubled (a test compares the two). Blocks of rows are formatted
/// on every core and joined in order: each row depends only on its own record.
pub fn trace_csv_of(run: RunView<'_>, plan: &Plan) -> Vec<u8> {
    trace_csv_by_blocks(run, plan, TRACE_BLOCK)
}

/// Rows per block of [`trace_csv_of`]: enough for a block's own buffer to cost nothing.
const TRACE_BLOCK: usize = 16_384;

/// [`trace_csv_of`] with `block` rows per parallel block.
fn trace_csv_by_blocks(run: RunView<'_>, plan: &Plan, block: usize) -> Vec<u8> {
    if run.trace.is_empty() {
        return Vec::new();
    }
    let rows = |records: &[AttemptRecord]| trace_rows(run.agents, plan, records);
    // One block is formatted where it is: handing it to another core costs more.
    let blocks: Vec<Vec<u8>> = if run.trace.len() <= block {
        vec![rows(run.trace)]
    } else {
        run.trace.par_chunks(block).map(rows).collect()
    };
    let len = TRACE_HEADER.len() + blocks.iter().map(Vec::len).sum::<usize>();
    let mut out = Vec::with_capacity(len);
    out.extend_from_slice(TRACE_HEADER);
    for block in blocks {
        out.extend_from_slice(&block);
    }
    out
}

/// Rows of [`trace_rows`] whose tasks' ids and layers are read before any is formatted.
const GATHER_ROWS: usize = 32;

/// The rows of `trace.csv` for `records`, without the header.
fn trace_rows(agents: &[AgentSpec], plan: &Plan, records: &[AttemptRecord]) -> Vec<u8> {
    let ids = plan.ids();
    let mut out = Vec::with_capacity(records.len() * 64);
    for group in records.chunks(GATHER_ROWS) {
        // A row's task is anywhere in the plan: its id and its layer are a cache miss or
        // two each. Read first in a loop of their own, the misses of a group overlap;
        // read as each row is formatted, they followed each other.
        let mut tasks: [(&str, u32); GATHER_ROWS] = [("", 0); GATHER_ROWS];
        for (gathered, record) in tasks.iter_mut().zip(group) {
            *gathered = (ids.get(record.task.ix()), plan.layer(record.task));
        }
        for (record, &(id, layer)) in group.iter().zip(&tasks) {
            csv_field(&mut out, id);
            out.push(b',');
            csv_field(&mut out, &agents[record.agent.ix()].id);
            out.push(b',');
            decimal(&mut out, record.attempt as u64);
            out.push(b',');
            secs_into(&mut out, record.start);
            out.push(b',');
            secs_into(&mut out, record.end);
            out.push(b',');
            out.extend_from_slice(record.outcome.as_str().as_bytes());
            out.push(b',');
            decimal(&mut out, layer as u64);
            out.push(b',');
            csv_field(&mut out, record.wait_reason.as_deref().unwrap_or(""));
            out.push(b'\n');
        }
    }
    out
}

/// `sha256_hex(&trace_csv_of(run, plan))` without the file: for a run whose trace is not
/// written, only hashed into its summary. The rows are formatted on every core a window at a
/// time while the window before is hashed, and never joined: at a million attempts the
/// joined file is 58 MB to allocate, copy and fault in for nothing.
pub fn trace_hash_of(run: RunView<'_>, plan: &Plan) -> String {
    trace_hash_by_blocks(run, plan, TRACE_BLOCK)
}

/// [`trace_hash_of`] with `block` rows per parallel block.
fn trace_hash_by_blocks(run: RunView<'_>, plan: &Plan, block: usize) -> String {
    let mut hasher = TraceHasher::new();
    let rows = |records: &[AttemptRecord]| trace_rows(run.agents, plan, records);
    let mut formatted: Vec<Vec<u8>> = Vec::new();
    // A window is a few blocks per core: enough to keep the cores busy while one of them
    // hashes the window before.
    let window = block * 4 * rayon::current_num_threads().max(1);
    for records in run.trace.chunks(window) {
        let (next, ()) = rayon::join(
            || records.par_chunks(block).map(rows).collect::<Vec<_>>(),
            || formatted.iter().for_each(|b| hasher.formatted(b)),
        );
        formatted = next;
    }
    formatted.iter().for_each(|b| hasher.formatted(b));
    hasher.finish()
}

/// [`trace_hash_of`] made as the run goes: given the trace's rows in order, a block at a
/// time, as soon as no attempt will change them again (see
/// [`simulate_sealing`](crate::sim::simulate_sealing)), on a core the simulation leaves
/// free. At a million attempts that was a tenth of a second after the run.
pub struct TraceHasher {
    hasher: Sha256,
    /// Whether the header is hashed: with the first row (a trace of no rows is no bytes).
    started: bool,
}

impl TraceHasher {
    /// A hash of no rows yet.
    pub fn new() -> TraceHasher {
        TraceHasher {
            hasher: Sha256::new(),
            started: false,
        }
    }

    /// Hashes the next rows of the trace of a run of `plan` by `agents`.
    pub fn update(&mut self, agents: &[AgentSpec], plan: &Plan, rows: &[AttemptRecord]) {
        for block in rows.chunks(TRACE_BLOCK) {
            self.formatted(&trace_rows(agents, plan, block));
        }
    }

    /// Hashes the next rows, formatted already ([`trace_rows`]).
    fn formatted(&mut self, rows: &[u8]) {
        if rows.is_empty() {
            return;
        }
        if !self.started {
            self.hasher.update(TRACE_HEADER);
            self.started = true;
        }
        self.hasher.update(rows);
    }

    /// The hash of every row given: [`trace_hash_of`] of a run with that trace.
    pub fn finish(self) -> String {
        hex(&self.hasher.finalize())
    }
}

impl Default for TraceHasher {
    fn default() -> Self {
        TraceHasher::new()
    }
}

/// A CSV field as `csv::Writer` writes it by default (`QuoteStyle::Necessary`).
fn csv_field(out: &mut Vec<u8>, field: &str) {
    let bytes = field.as_bytes();
    if !bytes
        .iter()
        .any(|&b| matches!(b, b',' | b'"' | b'\r' | b'\n'))
    {
        out.extend_from_slice(bytes);
        return;
    }
    out.push(b'"');
    for &b in bytes {
        if b == b'"' {
            out.push(b'"');
        }
        out.push(b);
    }
    out.push(b'"');
}

/// `n` in decimal.
fn decimal(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

/// Seconds with three decimals, the trace's time format: `12.034`.
fn secs_into(out: &mut Vec<u8>, ms: Time) {
    decimal(out, ms / 1000);
    let frac = ms % 1000;
    out.extend_from_slice(&[
        b'.',
        b'0' + (frac / 100) as u8,
        b'0' + (frac / 10 % 10) as u8,
        b'0' + (frac % 10) as u8,
    ]);
}

/// SHA-256 of some bytes, in lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// Bytes in lowercase hex.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The numbers of one run (`summary.json`); times in seconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// From the start to the end of the last task.
    pub makespan: f64,
    /// The summed estimates: the makespan of one agent at speed 1 without faults.
    pub serial_time: f64,
    /// `serial_time / makespan`.
    pub speedup: f64,
    /// The plan's lower bound **on estimates** for the working agents: the best of its
    /// bounds, as `taskdist plan` prints it ([`Plan::lower_bound`]). Attempts may run
    /// shorter than their estimates (noise, shared discoveries), so a run can beat it; see
    /// `run_bound`.
    pub lower_bound: f64,
    /// Which bound sets `lower_bound` (`critical_path`, `work`, `file:<path>`, `lock`,
    /// `head_tail`, `energetic`).
    #[serde(default)]
    pub lower_bound_by: String,
    /// Longest dependency path by estimates.
    pub critical_path: f64,
    /// Agent time spent in attempts, failed ones included.
    pub total_work: f64,
    /// `total_work / (makespan · agent slots)`.
    pub utilization: f64,
    /// Tasks that succeeded.
    pub tasks_completed: usize,
    /// Tasks that failed for good.
    pub tasks_failed: usize,
    /// Tasks skipped because something they needed failed.
    pub tasks_skipped: usize,
    /// Attempts dispatched.
    pub attempts: u64,
    /// Failed attempts that were retried.
    pub retries: u64,
    /// Attempts requeued from lost agents.
    pub reassignments: u64,
    /// Attempts that timed out.
    pub timeouts: u64,
    /// Time tasks waited for file locks.
    pub lock_wait_total: f64,
    /// The master seed.
    pub seed: u64,
    /// The dispatch policy.
    pub policy: String,
    /// Agents in the run.
    pub agents: usize,
    /// SHA-256 of `trace.csv`.
    pub trace_hash: String,
    /// Tasks in the plan.
    pub tasks: usize,
    /// `makespan / lower_bound` (the bound on estimates: may be below 1).
    pub makespan_over_lower_bound: f64,
    /// Busy cost: each agent's `cost_per_hour` times the time it spent in attempts
    /// (failed, timed-out and lost ones included), summed: what agents paid by the hour
    /// of work cost.
    pub cost_busy: f64,
    /// Held cost: each agent that may hold work (the first `max_agents`) paid its
    /// `cost_per_hour` from the start to the makespan, idle or not: what a reserved pool
    /// costs.
    pub cost_held: f64,
    /// The run's own lower bound, from the durations its attempts actually took:
    /// `max(run_critical_path, attempt time / agent slots)`. No schedule of these
    /// attempts could finish sooner.
    pub run_bound: f64,
    /// The longest dependency chain by the duration of each task's last attempt.
    pub run_critical_path: f64,
    /// `makespan / run_bound`: never below 1; how far the scheduling was from the best
    /// possible for what was drawn. Empty (null) when no attempt ran.
    pub efficiency: Option<f64>,
}

/// The bound of a run on its realized durations, in ms: `(bound, critical path)`.
///
/// Each attempt of a task starts after every task it depends on has ended, so along any
/// dependency chain the tasks' last attempts are disjoint and ordered: the chain's summed
/// durations fit in the makespan. And at most `slots` attempts run at once (the busiest
/// `max_agents` agents' `max_concurrent_tasks`), so all attempt time over `slots` fits too.
/// Intervals are clipped to the makespan, so the bound holds even for a run stopped early.
fn run_bound_ms(run: &RunView<'_>, plan: &Plan, max_agents: usize) -> (Time, Time) {
    let clip = |r: &AttemptRecord| r.end.min(run.makespan) - r.start.min(run.makespan);
    let mut last = vec![0 as Time; plan.len()];
    let mut busy: Time = 0;
    for record in run.trace {
        // Dispatch order: the last record of a task is its last attempt.
        last[record.task.ix()] = clip(record);
        busy += clip(record);
    }
    let mut path = vec![0 as Time; plan.len()];
    let mut critical: Time = 0;
    for &t in plan.topo_order() {
        let before = plan
            .preds(t)
            .iter()
            .map(|p| path[p.ix()])
            .max()
            .unwrap_or(0);
        path[t.ix()] = before + last[t.ix()];
        critical = critical.max(path[t.ix()]);
    }
    let mut slots: Vec<u64> = run
        .agents
        .iter()
        .map(|a| a.max_concurrent_tasks as u64)
        .collect();
    slots.sort_unstable_by(|a, b| b.cmp(a));
    let slots: u64 = slots.iter().take(max_agents.max(1)).sum();
    (critical.max(busy / slots.max(1)), critical)
}

impl Summary {
    /// The summary of a run, given the bytes of its `trace.csv`.
    pub fn new(run: &SimRun, plan: &Plan, config: &Config, trace_csv: &[u8]) -> Summary {
        Summary::of(run.into(), plan, config, trace_csv)
    }

    /// [`Summary::new`] of any run.
    pub fn of(run: RunView<'_>, plan: &Plan, config: &Config, trace_csv: &[u8]) -> Summary {
        let bound = Summary::plan_bound(plan, run.agents.len(), config);
        Summary::with_bound(run, plan, config, trace_csv, bound)
    }

    /// The plan's lower bound a summary of a run with `agents` agents under `config`
    /// compares with: for its [`Summary::working_agents`].
    pub fn plan_bound(plan: &Plan, agents: usize, config: &Config) -> LowerBound {
        plan.lower_bound(Summary::working_agents(agents, config))
    }

    /// How many of a run's `agents` work at once under `config` (at most `max_agents`,
    /// at least one): the agents the plan's lower bound in a summary is for.
    pub fn working_agents(agents: usize, config: &Config) -> usize {
        agents.min(config.max_agents as usize).max(1)
    }

    /// [`Summary::of`] with the plan's lower bound given, for a driver that computes it
    /// while the run goes on (it depends on the plan alone): `bound` must be
    /// `plan.lower_bound(Summary::working_agents(..))` for this run's agents.
    pub fn with_bound(
        run: RunView<'_>,
        plan: &Plan,
        config: &Config,
        trace_csv: &[u8],
        bound: LowerBound,
    ) -> Summary {
        Summary::with_trace_hash(run, plan, config, sha256_hex(trace_csv), bound)
    }

    /// [`Summary::with_bound`] given the trace's hash instead of its bytes
    /// ([`trace_hash_of`]), for a run whose trace is not written.
    pub fn with_trace_hash(
        run: RunView<'_>,
        plan: &Plan,
        config: &Config,
        trace_hash: String,
        bound: LowerBound,
    ) -> Summary {
        let working = Summary::working_agents(run.agents.len(), config);
        assert_eq!(
            bound.bounds.agents, working,
            "the lower bound is for the agents that work"
        );
        let slots: u64 = run
            .agents
            .iter()
            .take(working)
            .map(|a| a.max_concurrent_tasks as u64)
            .sum();
        let busy: Time = run.trace.iter().map(|r| r.end - r.start).sum();
        let per_ms = |per_hour: f64| per_hour / HOUR_MS as f64;
        let cost_busy: f64 = run
            .trace
            .iter()
            .map(|r| (r.end - r.start) as f64 * per_ms(run.agents[r.agent.ix()].cost_per_hour))
            .sum();
        let held_rate: f64 = run
            .agents
            .iter()
            .take(working)
            .map(|a| per_ms(a.cost_per_hour))
            .sum();
        let serial = plan.total_work_ms();
        let lower_bound = bound.ms;
        let ratio = |a: Time, b: Time| if b == 0 { 0.0 } else { a as f64 / b as f64 };
        let (run_bound, run_critical_path) = run_bound_ms(&run, plan, config.max_agents as usize);
        Summary {
            makespan: seconds(run.makespan),
            serial_time: seconds(serial),
            speedup: round6(ratio(serial, run.makespan)),
            lower_bound: seconds(lower_bound),
            lower_bound_by: bound.set_by,
            critical_path: seconds(plan.critical_path_ms()),
            total_work: seconds(busy),
            utilization: round6(if run.makespan == 0 {
                0.0
            } else {
                busy as f64 / (run.makespan as f64 * slots.max(1) as f64)
            }),
            tasks_completed: run.progress.completed_tasks,
            tasks_failed: run.progress.failed_tasks,
            tasks_skipped: run.progress.skipped_tasks,
            attempts: run.stats.attempts,
            retries: run.stats.retries,
            reassignments: run.stats.reassignments,
            timeouts: run.stats.timeouts,
            lock_wait_total: seconds(run.lock_wait_total),
            seed: run.seed,
            policy: config.policy.to_string(),
            agents: run.agents.len(),
            trace_hash,
            tasks: plan.len(),
            makespan_over_lower_bound: round6(ratio(run.makespan, lower_bound)),
            cost_busy: round6(cost_busy),
            cost_held: round6(held_rate * run.makespan as f64),
            run_bound: seconds(run_bound),
            run_critical_path: seconds(run_critical_path),
            // Rounded down, so rounding never shows a ratio below 1.
            efficiency: (run_bound > 0)
                .then(|| (ratio(run.makespan, run_bound) * 1e6).floor() / 1e6),
        }
    }
}

impl Summary {
    /// Whether the run completed every task: none failed for good or was skipped. Only
    /// such a run's makespan is the plan's; a run that lost tasks ended early with a part
    /// of it, so distributions over seeds count it as late, like one that stopped early.
    pub fn is_complete(&self) -> bool {
        self.tasks_failed + self.tasks_skipped == 0
    }

    /// The summary's field names, in `summary.json` order: the columns a CSV of summaries
    /// has (`sweep.csv`).
    pub fn csv_header() -> Vec<String> {
        Summary::default().csv_pair().0
    }

    /// The summary's values as CSV cells, in [`Summary::csv_header`] order.
    pub fn csv_values(&self) -> Vec<String> {
        self.csv_pair().1
    }

    /// Both, through csv's own serde support, so the columns follow the struct and the
    /// numbers are written as in every other CSV file.
    fn csv_pair(&self) -> (Vec<String>, Vec<String>) {
        let mut writer = csv::Writer::from_writer(Vec::new());
        writer.serialize(self).expect("a summary serializes to CSV");
        let bytes = writer
            .into_inner()
            .expect("flushing CSV to memory cannot fail");
        let mut reader = csv::Reader::from_reader(bytes.as_slice());
        let header = reader.headers().expect("own CSV").iter().map(String::from);
        let header = header.collect();
        let record = reader
            .records()
            .next()
            .expect("one record")
            .expect("own CSV");
        (header, record.iter().map(String::from).collect())
    }
}

/// Six decimals are plenty for ratios and keep the JSON free of float noise.
fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

fn human(secs: f64) -> Human {
    Human((secs * 1000.0).round() as Time)
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A run that lost tasks says so before any figure, so nobody takes the makespan of
        // the part that ran for the plan's.
        let incomplete = !self.is_complete();
        if incomplete {
            writeln!(
                f,
                "INCOMPLETE: {} of {} tasks failed for good and {} {} skipped ({} completed); the figures below are of the part that ran",
                self.tasks_failed,
                self.tasks,
                self.tasks_skipped,
                was_or_were(self.tasks_skipped),
                self.tasks_completed
            )?;
        }
        let efficiency = match self.efficiency {
            Some(e) => format!("efficiency {e:.2} (run bound {})", human(self.run_bound)),
            None => "no attempt ran".to_string(),
        };
        // The serial time and the bound on estimates are the whole plan's: against the
        // makespan of a part they would give a speedup no run earned (a run that completed
        // nothing could show 3x), so an incomplete run gives them without the ratios. The
        // efficiency stays: its bound is of what the run itself drew.
        let against_plan = if incomplete {
            format!(
                "the plan's {} serial and bound on estimates {} (set by {}) are not compared with it",
                human(self.serial_time),
                human(self.lower_bound),
                self.lower_bound_by
            )
        } else {
            format!(
                "speedup {:.2}x over {} serial, {:.2}x the bound on estimates {} (set by {})",
                self.speedup,
                human(self.serial_time),
                self.makespan_over_lower_bound,
                human(self.lower_bound),
                self.lower_bound_by
            )
        };
        writeln!(
            f,
            "makespan {} on {} ({} policy, seed {}): {efficiency}, {against_plan}",
            human(self.makespan),
            count(self.agents, "agent", "agents"),
            self.policy,
            self.seed,
        )?;
        writeln!(
            f,
            "tasks: {} completed, {} failed, {} skipped of {}; attempts {} (retries {}, reassignments {}, timeouts {})",
            self.tasks_completed,
            self.tasks_failed,
            self.tasks_skipped,
            self.tasks,
            self.attempts,
            self.retries,
            self.reassignments,
            self.timeouts
        )?;
        write!(
            f,
            "utilization {:.1}%, lock wait {}, trace {}",
            self.utilization * 100.0,
            human(self.lock_wait_total),
            &self.trace_hash[..16]
        )?;
        // Only priced agents have a cost worth a line.
        if self.cost_held > 0.0 {
            write!(
                f,
                "\ncost {:.2} busy (agents' time in attempts), {:.2} held (agents held for the makespan)",
                self.cost_busy, self.cost_held
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hand-written trace rows are the bytes `csv::Writer` made of the same row.
    #[test]
    fn trace_rows_are_what_csv_writes() {
        #[derive(Serialize)]
        struct Row<'a> {
            task_id: &'a str,
            agent_id: &'a str,
            attempt: u32,
            start: String,
            end: String,
            outcome: &'a str,
            layer: u32,
            wait_reason: &'a str,
        }
        let texts = [
            "t1",
            "",
            "a,b",
            "say \"hi\"",
            "line\nbreak",
            "cr\r",
            "#x",
            " pad ",
            "é",
            "\"",
        ];
        let times: [Time; 5] = [0, 7, 1_250, 60_000, u64::MAX / 2];
        let mut expected = csv::Writer::from_writer(Vec::new());
        let mut ours = TRACE_HEADER.to_vec();
        for (i, text) in texts.iter().enumerate() {
            let (start, end) = (times[i % times.len()], times[(i + 2) % times.len()]);
            let row = Row {
                task_id: text,
                agent_id: texts[(i + 3) % texts.len()],
                attempt: i as u32 * 1001,
                start: format!("{}.{:03}", start / 1000, start % 1000),
                end: format!("{}.{:03}", end / 1000, end % 1000),
                outcome: "succeeded",
                layer: u32::MAX - i as u32,
                wait_reason: texts[(i + 5) % texts.len()],
            };
            expected.serialize(&row).unwrap();
            for (k, field) in [row.task_id, row.agent_id].into_iter().enumerate() {
                if k > 0 {
                    ours.push(b',');
                }
                csv_field(&mut ours, field);
            }
            ours.push(b',');
            decimal(&mut ours, row.attempt as u64);
            ours.push(b',');
            secs_into(&mut ours, start);
            ours.push(b',');
            secs_into(&mut ours, end);
            ours.extend_from_slice(b",succeeded,");
            decimal(&mut ours, row.layer as u64);
            ours.push(b',');
            csv_field(&mut ours, row.wait_reason);
            ours.push(b'\n');
        }
        let expected = expected.into_inner().unwrap();
        assert_eq!(
            String::from_utf8(ours).unwrap(),
            String::from_utf8(expected).unwrap()
        );
    }

    /// The rows formatted by blocks on every core are the rows of one block, in order,
    /// whatever the block size; ids and wait reasons that need quoting included.
    #[test]
    fn trace_blocks_join_as_one() {
        use crate::drive::run_setup;
        use crate::model::{Format, Scenario};
        use crate::sim::{SimModels, simulate};
        let mut text = "[[agents]]\ncount = 3\n[simulation]\nfailure_probability = 0.3\n\
            [[tasks]]\nid = 'a,\"b\"'\nestimated_duration = '10m'\nfiles_to_modify = ['x']\n"
            .to_string();
        for i in 0..40 {
            text += &format!(
                "[[tasks]]\nid = 't{i}'\nestimated_duration = '{}m'\nfiles_to_modify = ['x']\n",
                i % 7 + 1
            );
        }
        let (scenario, issues) = Scenario::parse(&text, Format::Toml, "t.toml").unwrap();
        let (scenario, plan) = Plan::from_scenario(scenario, issues).unwrap();
        let models = SimModels::for_scenario(&scenario, &plan).unwrap();
        let plan = std::sync::Arc::new(plan);
        let (config, agents) = run_setup(&scenario, None, None);
        let run = simulate(plan.clone(), config, agents, &models, 3, &mut |_| {}).unwrap();
        assert!(run.trace.len() > 41, "some attempts fail and retry");
        assert!(run.trace.iter().any(|r| r.wait_reason.is_some()));
        let whole = trace_csv_by_blocks((&run).into(), &plan, usize::MAX);
        assert!(whole.starts_with(TRACE_HEADER));
        assert_eq!(
            whole.iter().filter(|&&b| b == b'\n').count(),
            run.trace.len() + 1
        );
        assert!(String::from_utf8_lossy(&whole).contains("\n\"a,\"\"b\"\"\","));
        let hash = sha256_hex(&whole);
        for block in [1, 2, 7, 64] {
            assert_eq!(trace_csv_by_blocks((&run).into(), &plan, block), whole);
            // Several windows, the last one short, and one window holding everything.
            assert_eq!(trace_hash_by_blocks((&run).into(), &plan, block), hash);
        }
        assert_eq!(trace_csv(&run, &plan), whole);
        assert_eq!(trace_hash_of((&run).into(), &plan), hash);
        // Made as the rows come, in pieces of any sizes, empty ones among them.
        for piece in [1, 3, 40, usize::MAX] {
            let mut hasher = TraceHasher::new();
            hasher.update(&run.agents, &plan, &[]);
            for rows in run.trace.chunks(piece.min(run.trace.len())) {
                hasher.update(&run.agents, &plan, rows);
                hasher.update(&run.agents, &plan, &[]);
            }
            assert_eq!(hasher.finish(), hash, "pieces of {piece}");
        }
        let mut none = run.clone();
        none.trace.clear();
        assert_eq!(trace_hash_of((&none).into(), &plan), sha256_hex(b""));
        assert_eq!(TraceHasher::default().finish(), sha256_hex(b""));
        assert_eq!(trace_csv_of((&none).into(), &plan), b"");
    }

    #[test]
    fn a_run_that_lost_tasks_says_so_before_any_figure() {
        let summary = Summary {
            tasks: 1000,
            tasks_completed: 10,
            tasks_failed: 21,
            tasks_skipped: 969,
            makespan: 600.0,
            run_bound: 500.0,
            efficiency: Some(1.2),
            serial_time: 1800.0,
            speedup: 3.0,
            lower_bound: 1200.0,
            lower_bound_by: "critical_path".to_string(),
            trace_hash: "0".repeat(64),
            ..Summary::default()
        };
        let text = summary.to_string();
        assert!(
            text.starts_with(
                "INCOMPLETE: 21 of 1000 tasks failed for good and 969 were skipped (10 completed)"
            ),
            "{text}"
        );
        assert!(
            text.contains("efficiency 1.20 (run bound 8m 20s)"),
            "{text}"
        );
        // The whole plan's serial time and bound, without a ratio to a part's makespan.
        assert!(
            text.contains(
                "the plan's 30m 00s serial and bound on estimates 20m 00s (set by critical_path) are not compared with it"
            ),
            "{text}"
        );
        assert!(!text.contains("speedup"), "{text}");
        let one_skipped = Summary {
            tasks_skipped: 1,
            ..summary.clone()
        };
        assert!(
            one_skipped
                .to_string()
                .contains("failed for good and 1 was skipped"),
            "{one_skipped}"
        );
        let whole = Summary {
            tasks_failed: 0,
            tasks_skipped: 0,
            ..summary
        };
        assert!(whole.to_string().starts_with("makespan 10m 00s"), "{whole}");
        assert!(whole.to_string().contains("speedup"), "{whole}");
    }
}
