//! The plan-time optimizer: a static schedule (each task's agent slot, its place in that
//! slot's sequence and its planned start) of near-minimal makespan, with the best lower
//! bound and whether the two meet. The `optimized` policy of the core follows it.
//!
//! # Method
//!
//! Every candidate is an order of the tasks that respects the dependencies, decoded by
//! the serial schedule-generation scheme with insertion (`decode.rs`): the decoded
//! schedules are the active ones, a set that holds an optimum. The search, all of it
//! counted in decodes:
//!
//! 1. priority rules: longest bottom level first (critical path), then most successors,
//!    longest task, fewest-slack variants;
//! 2. forward–backward improvement (justification) of every candidate: decode the
//!    tasks by decreasing end time on the reversed graph, then forward again by the
//!    backward schedule's start times, while the makespan shrinks;
//! 3. a biased random-key genetic algorithm whose individuals decode the same way (elites
//!    kept, children take each key from the elite parent with probability 0.7, some
//!    mutants perturb the critical-path order), each child justified and its keys
//!    replaced by its improved order.
//!
//! It stops the moment the makespan meets the lower bound ([`crate::plan::Bounds`]), when
//! the decode budget is spent, or (a safety net only) past a wall-time cap. Same plan,
//! slots, seed and budget ⇒ the same schedule on any machine, unless the cap fires.
//!
//! # What is modelled
//!
//! Slots are the first `max_agents` agents, each repeated `max_concurrent_tasks` times;
//! a task runs only on a slot whose agent has its type, and takes `round(estimate /
//! speed)` there, as a simulation with fixed durations draws it. Write locks are
//! exclusive, read locks shared. The lower bound assumes identical agents: with speeds
//! other than 1 it is computed at the fastest speed (estimates divided by it), and
//! capabilities are ignored by it (a relaxation, so it stays a bound).

pub(crate) mod decode;

use crate::model::{
    AgentSpec, Config, Dispatch, PlannedTask, Policy, Schedule, SlotPlan, TaskType, Time,
};
use crate::plan::{LockMode, Plan};
use decode::{Decoded, Decoder, Instance, Rows, Slot};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::cmp::Reverse;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Decodes spent by default: enough for the 100-task STG graphs (see reports/stg.md).
pub const DEFAULT_BUDGET: u64 = 20_000;

/// What the optimizer may spend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Schedule decodes (the deterministic measure of work).
    pub decodes: u64,
    /// Seed of the genetic algorithm's draws.
    pub seed: u64,
    /// Safety cap on wall time: past it the search stops early (the result then depends
    /// on the machine, which the outcome says).
    pub wall_cap: Option<Duration>,
}

impl Default for Budget {
    fn default() -> Self {
        Budget {
            decodes: DEFAULT_BUDGET,
            seed: 0,
            wall_cap: Some(Duration::from_secs(60)),
        }
    }
}

/// Why no schedule could be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OptimizeError {
    /// No slot's agent runs the task's type.
    #[error("task `{task}` ({task_type}) has no agent among the first {slots} slots that runs it")]
    NoCapableSlot {
        /// The task's id.
        task: String,
        /// Its type.
        task_type: TaskType,
        /// Slots considered.
        slots: usize,
    },
    /// No agent to schedule on.
    #[error("no agent to schedule on")]
    NoAgents,
    /// A schedule file could not be read or parsed.
    #[error("{path}: {message}")]
    ScheduleFile {
        /// The file.
        path: String,
        /// What went wrong (with line and column when parsing).
        message: String,
    },
    /// A schedule file does not fit the plan or the agents.
    #[error("{path}: {message}")]
    ScheduleMismatch {
        /// The file.
        path: String,
        /// Which task or agent, and how.
        message: String,
    },
}

/// Reads a schedule (`taskdist plan --optimize --json` output) and checks it against the
/// plan and the agents: every task exactly once, every slot's agent among `agents` and
/// able to run its tasks.
pub fn read_schedule(
    path: &std::path::Path,
    plan: &Plan,
    agents: &[AgentSpec],
) -> Result<Schedule, OptimizeError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| OptimizeError::ScheduleFile {
        path: shown.clone(),
        message: e.to_string(),
    })?;
    let schedule: Schedule =
        serde_json::from_str(&text).map_err(|e| OptimizeError::ScheduleFile {
            path: shown.clone(),
            message: e.to_string(),
        })?;
    let mismatch = |message: String| OptimizeError::ScheduleMismatch {
        path: shown.clone(),
        message,
    };
    let mut seen = vec![false; plan.len()];
    for slot in &schedule.slots {
        let Some(agent) = agents.iter().find(|a| a.id == slot.agent) else {
            return Err(mismatch(format!(
                "slot agent `{}` is not among the run's agents",
                slot.agent
            )));
        };
        for p in &slot.tasks {
            let Some(t) = plan.task_index(&p.task) else {
                return Err(mismatch(format!("task `{}` is not in the plan", p.task)));
            };
            if std::mem::replace(&mut seen[t.ix()], true) {
                return Err(mismatch(format!("task `{}` is scheduled twice", p.task)));
            }
            if !agent.can_run(plan.task_type(t)) {
                return Err(mismatch(format!(
                    "task `{}` ({}) is on agent `{}`, which cannot run it",
                    p.task,
                    plan.task_type(t),
                    agent.id
                )));
            }
        }
    }
    if let Some(t) = plan.task_indices().find(|t| !seen[t.ix()]) {
        return Err(mismatch(format!("task `{}` is not scheduled", plan.id(t))));
    }
    Ok(schedule)
}

/// The result of a search.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// The schedule (left-justified: each task starts when its dependencies, its slot
    /// predecessor and the tasks before it on its files are done).
    pub schedule: Schedule,
    /// Decodes spent.
    pub decodes: u64,
    /// Whether the wall-time cap stopped the search (the result may then vary by machine).
    pub capped: bool,
}

/// The slots for these agents: the first `max_agents`, each `max_concurrent_tasks` times.
pub fn slots_for(agents: &[AgentSpec], max_agents: usize) -> Vec<&AgentSpec> {
    agents
        .iter()
        .take(max_agents.max(1))
        .flat_map(|a| std::iter::repeat_n(a, a.max_concurrent_tasks.max(1) as usize))
        .collect()
}

/// Optimizes the plan on the slots of `agents` (see [`slots_for`]).
pub fn optimize(
    plan: &Plan,
    agents: &[AgentSpec],
    max_agents: usize,
    budget: Budget,
) -> Result<Outcome, OptimizeError> {
    let slots = slots_for(agents, max_agents);
    if slots.is_empty() {
        return Err(OptimizeError::NoAgents);
    }
    let inst = instance(plan, &slots)?;
    let bounds = plan.bounds(slots.len());
    let fastest = slots.iter().map(|a| a.speed).fold(0.0, f64::max);
    let bound = if slots.iter().all(|a| a.speed == 1.0) {
        bounds.best_ms
    } else {
        (bounds.best_ms as f64 / fastest).floor() as Time
    };
    let mut search = Search::new(&inst, bound, budget);
    search.run();
    let best = search
        .best
        .expect("every task has a capable slot, so decoding succeeds");
    let best = left_justify(&inst, plan, &best);
    let proved_by = (best.makespan <= bound).then(|| "bound".to_string());
    let schedule = Schedule {
        makespan_ms: best.makespan,
        lower_bound_ms: bound,
        bound_by: bounds.set_by.to_string(),
        proved_by,
        slots: slot_plans(plan, &slots, &best),
        dispatch: Dispatch::Follow,
    };
    Ok(Outcome {
        schedule,
        decodes: search.decodes,
        capped: search.capped,
    })
}

/// Under the `optimized` policy without a schedule: optimizes the plan for these agents
/// (the first `config.max_agents`) with the default budget, and sets the schedule. Every
/// driver calls it before a run, so all of them follow the same schedule.
pub fn ensure_schedule(
    plan: &Plan,
    config: &mut Config,
    agents: &[AgentSpec],
) -> Result<(), OptimizeError> {
    if config.policy == Policy::Optimized && config.schedule.is_none() {
        let out = optimize(plan, agents, config.max_agents as usize, Budget::default())?;
        config.schedule = Some(Arc::new(out.schedule));
    }
    Ok(())
}

/// Sets the run's schedule: read from `file` when given (which also selects the
/// `optimized` policy), else computed if the policy is `optimized` (see
/// [`ensure_schedule`]). What `simulate`, `run` and `sweep` call before a run.
pub fn prepare(
    plan: &Plan,
    config: &mut Config,
    agents: &[AgentSpec],
    file: Option<&std::path::Path>,
) -> Result<(), OptimizeError> {
    if let Some(path) = file {
        config.policy = Policy::Optimized;
        config.schedule = Some(Arc::new(read_schedule(path, plan, agents)?));
    }
    ensure_schedule(plan, config, agents)
}

fn instance(plan: &Plan, slots: &[&AgentSpec]) -> Result<Instance, OptimizeError> {
    let slots: Vec<Slot> = slots
        .iter()
        .map(|a| Slot {
            speed: a.speed,
            mask: TaskType::ALL
                .iter()
                .filter(|ty| a.can_run(**ty))
                .fold(0, |m, ty| m | 1 << ty.index()),
        })
        .collect();
    let type_bit: Vec<u8> = plan
        .task_indices()
        .map(|t| 1 << plan.task_type(t).index())
        .collect();
    if let Some(t) = plan
        .task_indices()
        .find(|t| slots.iter().all(|s| s.mask & type_bit[t.ix()] == 0))
    {
        return Err(OptimizeError::NoCapableSlot {
            task: plan.id(t).to_string(),
            task_type: plan.task_type(t),
            slots: slots.len(),
        });
    }
    Ok(Instance {
        dur: plan.task_indices().map(|t| plan.estimate_ms(t)).collect(),
        preds: Rows::from_rows(
            plan.task_indices()
                .map(|t| plan.preds(t).iter().map(|p| p.0)),
        ),
        succs: Rows::from_rows(
            plan.task_indices()
                .map(|t| plan.succs(t).iter().map(|e| e.to.0)),
        ),
        locks: Rows::from_rows(plan.task_indices().map(|t| {
            plan.locks(t)
                .iter()
                .map(|l| (l.file.0, l.mode == LockMode::Write))
        })),
        files: plan.files.len(),
        slots,
        type_bit,
    })
}

/// The constraints a following core keeps, per task: the task before it on its slot,
/// and on each of its files the tasks it must wait for (a writer waits for the previous
/// writer and the readers since; a reader for the previous writer), in the order of the
/// planned starts. Returns the tasks in that order (every constraint and dependency
/// points backwards in it) and each task's constraints besides its dependencies.
pub(crate) fn follow_constraints(
    plan: &Plan,
    slots: usize,
    start: &[Time],
    end: &[Time],
    slot: &[u32],
) -> (Vec<u32>, Vec<Vec<u32>>) {
    let n = plan.len();
    let mut topo_pos = vec![0; n];
    for (i, t) in plan.topo_order().iter().enumerate() {
        topo_pos[t.ix()] = i;
    }
    let mut order: Vec<u32> = (0..n as u32).collect();
    order.sort_by_key(|&t| (start[t as usize], end[t as usize], topo_pos[t as usize]));
    let mut extra: Vec<Vec<u32>> = vec![Vec::new(); n];
    let mut last_on_slot: Vec<Option<u32>> = vec![None; slots];
    let mut last_writer: Vec<Option<u32>> = vec![None; plan.files.len()];
    let mut readers: Vec<Vec<u32>> = vec![Vec::new(); plan.files.len()];
    for &t in &order {
        let ti = t as usize;
        if let Some(p) = last_on_slot[slot[ti] as usize].replace(t) {
            extra[ti].push(p);
        }
        for lock in plan.locks(crate::plan::TaskIdx(t)) {
            let f = lock.file.ix();
            if let Some(w) = last_writer[f] {
                extra[ti].push(w);
            }
            if lock.mode == LockMode::Write {
                extra[ti].append(&mut readers[f]);
                last_writer[f] = Some(t);
            } else {
                readers[f].push(t);
            }
        }
        extra[ti].sort_unstable();
        extra[ti].dedup();
    }
    (order, extra)
}

/// The schedule with every task moved as early as its dependencies, slot predecessor and
/// lock predecessors allow: what a core that follows it does with exact durations.
fn left_justify(inst: &Instance, plan: &Plan, d: &Decoded) -> Decoded {
    let (order, extra) = follow_constraints(plan, inst.slots.len(), &d.start, &d.end, &d.slot);
    let mut out = Decoded {
        start: vec![0; inst.len()],
        end: vec![0; inst.len()],
        slot: d.slot.clone(),
        makespan: 0,
    };
    for &t in &order {
        let t = t as usize;
        let start = inst
            .preds
            .row(t)
            .iter()
            .chain(&extra[t])
            .map(|&p| out.end[p as usize])
            .max()
            .unwrap_or(0);
        debug_assert!(start <= d.start[t], "left-justifying never delays a task");
        out.start[t] = start;
        out.end[t] = start + inst.dur_on(t, d.slot[t] as usize);
        out.makespan = out.makespan.max(out.end[t]);
    }
    out
}

fn slot_plans(plan: &Plan, slots: &[&AgentSpec], d: &Decoded) -> Vec<SlotPlan> {
    let mut out: Vec<SlotPlan> = slots
        .iter()
        .map(|a| SlotPlan {
            agent: a.id.clone(),
            tasks: Vec::new(),
        })
        .collect();
    let mut order: Vec<usize> = (0..plan.len()).collect();
    order.sort_by_key(|&t| (d.start[t], d.end[t], t));
    for t in order {
        out[d.slot[t] as usize].tasks.push(PlannedTask {
            task: plan.tasks[t].id.clone(),
            start_ms: d.start[t],
            end_ms: d.end[t],
        });
    }
    out
}

/// The search state: the best schedule so far and the budget spent.
struct Search<'i> {
    inst: &'i Instance,
    rev: Instance,
    decoder: Decoder,
    bound: Time,
    budget: Budget,
    began: Instant,
    decodes: u64,
    capped: bool,
    best: Option<Decoded>,
    /// Bottom levels, for the rules and the mutants.
    bl: Vec<Time>,
}

/// Keys of the genetic algorithm: smaller goes first among the eligible tasks.
type Keys = Vec<u64>;

impl<'i> Search<'i> {
    fn new(inst: &'i Instance, bound: Time, budget: Budget) -> Search<'i> {
        Search {
            rev: inst.reversed(),
            decoder: Decoder::new(inst),
            bl: inst.bottom_levels(),
            inst,
            bound,
            budget,
            began: Instant::now(),
            decodes: 0,
            capped: false,
            best: None,
        }
    }

    /// Whether to stop: optimal by bound, budget spent or wall cap passed.
    fn done(&mut self) -> bool {
        if self.best.as_ref().is_some_and(|b| b.makespan <= self.bound) {
            return true;
        }
        if self.decodes >= self.budget.decodes {
            return true;
        }
        if self.decodes.is_multiple_of(64)
            && self
                .budget
                .wall_cap
                .is_some_and(|cap| self.began.elapsed() > cap)
        {
            self.capped = true;
        }
        self.capped
    }

    fn decode(&mut self, reversed: bool, order: &[u32]) -> Decoded {
        self.decodes += 1;
        let inst = if reversed { &self.rev } else { self.inst };
        let d = self
            .decoder
            .decode(inst, order)
            .expect("capable slots were checked");
        if !reversed && self.best.as_ref().is_none_or(|b| d.makespan < b.makespan) {
            self.best = Some(d.clone());
        }
        d
    }

    fn run(&mut self) {
        let n = self.inst.len();
        let succ_count: Vec<usize> = (0..n).map(|t| self.inst.succs.row(t).len()).collect();
        let rules: Vec<Keys> = vec![
            self.bl.iter().map(|&b| u64::MAX - b).collect(),
            (0..n)
                .map(|t| (u64::MAX - self.bl[t]) - succ_count[t] as u64)
                .collect(),
            (0..n)
                .map(|t| (u64::MAX - self.bl[t] * 4) + self.inst.dur[t] * 3)
                .collect(),
            (0..n)
                .map(|t| u64::MAX - (self.bl[t] * 2 + self.inst.dur[t]))
                .collect(),
        ];
        let mut population: Vec<(Time, Keys)> = Vec::new();
        for keys in rules {
            if self.done() {
                return;
            }
            population.push(self.evaluate(keys));
        }
        self.genetic(population);
    }

    /// Decodes the keys, justifies the schedule, and returns its makespan with its start
    /// times as the individual's new keys.
    fn evaluate(&mut self, keys: Keys) -> (Time, Keys) {
        let order = self.inst.order_by(&keys);
        let mut cur = self.decode(false, &order);
        while !self.done() {
            // Backward: latest end first, on the reversed graph.
            let back_keys: Vec<(Reverse<Time>, Reverse<Time>)> = (0..cur.end.len())
                .map(|t| (Reverse(cur.end[t]), Reverse(cur.start[t])))
                .collect();
            let back = self.decode(true, &self.rev.order_by(&back_keys));
            if self.done() {
                break;
            }
            // Forward again: by the backward schedule's mirrored start.
            let fwd_keys: Keys = back.end.iter().map(|&e| back.makespan - e).collect();
            let fwd = self.decode(false, &self.inst.order_by(&fwd_keys));
            if fwd.makespan < cur.makespan {
                cur = fwd;
            } else {
                break;
            }
        }
        // Start times as keys: one scale for every individual, so crossover mixes
        // like with like, and they decode back to (about) this schedule.
        (cur.makespan, cur.start)
    }

    fn genetic(&mut self, mut population: Vec<(Time, Keys)>) {
        const SIZE: usize = 24;
        const ELITES: usize = 5;
        const MUTANTS: usize = 4;
        const BIAS: f64 = 0.7;
        let n = self.inst.len();
        let mut rng = ChaCha8Rng::seed_from_u64(self.budget.seed);
        let max_bl = self.bl.iter().copied().max().unwrap_or(0).max(1) as f64;
        // A mutant perturbs the critical-path order, by a little or (one in three) by so
        // much that any order can come out.
        let mutant = |rng: &mut ChaCha8Rng, bl: &[Time]| -> Keys {
            let amplitude = [0.1, 0.3, 10.0][rng.random_range(0..3)];
            (0..n)
                .map(|t| {
                    let noise: f64 = rng.random::<f64>();
                    let urgency = 1.0 - bl[t] as f64 / max_bl;
                    ((urgency + amplitude * noise) * 1e9) as u64
                })
                .collect()
        };
        while population.len() < SIZE {
            if self.done() {
                return;
            }
            let keys = mutant(&mut rng, &self.bl);
            population.push(self.evaluate(keys));
        }
        loop {
            population.sort_by_key(|(makespan, _)| *makespan);
            let mut next: Vec<(Time, Keys)> = population[..ELITES].to_vec();
            for _ in 0..MUTANTS {
                if self.done() {
                    return;
                }
                let keys = mutant(&mut rng, &self.bl);
                next.push(self.evaluate(keys));
            }
            while next.len() < SIZE {
                if self.done() {
                    return;
                }
                let elite = &population[rng.random_range(0..ELITES)].1;
                let other = &population[rng.random_range(ELITES..population.len())].1;
                let keys: Keys = (0..n)
                    .map(|t| {
                        if rng.random::<f64>() < BIAS {
                            elite[t]
                        } else {
                            other[t]
                        }
                    })
                    .collect();
                next.push(self.evaluate(keys));
            }
            population = next;
        }
    }
}

#[cfg(test)]
mod tests;
