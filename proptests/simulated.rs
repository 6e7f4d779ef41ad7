//! Runs through the real simulator (`sim::simulate`) and what its traces must show.
//!
//! The fault-injecting driver controls every fault exactly; the simulator is what capacity
//! planners and the golden tests use, so the same guarantees are checked on its traces too,
//! from times alone: attempts are half-open intervals `[start, end)` (an attempt ending at
//! `t` frees its slot and locks for one starting at `t`), and zero-length attempts hold
//! nothing. Property 10 (makespan bounds) is checked here only, on fault-free runs.

use crate::generators::{Built, Case, Dep, conflicting, runs};
use crate::world::{Breach, Prop};
use taskdist::model::{CrashFile, DurationModel, DurationText, SimulationFile, Time, TimeUnit};
use taskdist::sim::{self, Outcome, SimError, SimModels, SimRun};

/// The simulator's models for a case's faults: failure and hang chances, spread
/// durations, random crashes with recovery and the case's scripted crashes.
pub fn models(case: &Case, built: &Built) -> SimModels {
    let faults = &case.faults;
    let spread = faults.spread_pct as f64 / 100.0;
    let file = SimulationFile {
        duration: Some(if spread == 0.0 {
            DurationModel::Fixed
        } else {
            DurationModel::Uniform {
                low: 1.0 - spread,
                high: 1.0 + spread,
            }
        }),
        failure_probability: Some(faults.fail as f64 / 1000.0),
        hang_probability: Some(faults.hang as f64 / 1000.0),
        crash_mtbf: (!faults.crashes.is_empty())
            .then(|| DurationText::from(500 + faults.seed % 2000)),
        crash_recovery: Some(DurationText::from(1 + faults.seed % 300)),
        crashes: faults
            .crashes
            .iter()
            .map(|c| CrashFile {
                agent: built.agents[c.agent as usize % built.agents.len()]
                    .id
                    .to_string(),
                at: DurationText::from(c.at_ms as Time),
                recover_after: Some(DurationText::from(c.down_for_ms as Time)),
            })
            .collect(),
        ..SimulationFile::default()
    };
    match SimModels::resolve(Some(&file), TimeUnit::Minutes, &built.plan) {
        Ok(models) => models,
        Err(issues) => panic!("generated simulation models refused: {issues:?}"),
    }
}

/// Simulates `built` with `models` and the case's seed.
pub fn simulate(case: &Case, built: &Built, models: &SimModels) -> Result<SimRun, SimError> {
    let agents = built.agents.clone();
    sim::simulate(
        built.plan.clone(),
        built.config.clone(),
        agents,
        models,
        case.faults.seed,
        &mut |_| {},
    )
}

fn breach(prop: Prop, what: String) -> Breach {
    Breach {
        prop,
        step: None,
        what,
    }
}

/// Breaches of properties 1–5 visible in a simulation's outcome and trace.
pub fn trace_breaches(built: &Built, result: &Result<SimRun, SimError>) -> Vec<Breach> {
    let mut out = Vec::new();
    let run = match result {
        Ok(run) => run,
        Err(e) => {
            return vec![breach(
                Prop::Termination,
                format!("simulation did not finish: {e}"),
            )];
        }
    };
    let plan = &built.plan;
    let config = &built.config;
    let n = plan.len();
    let mut by_task = vec![Vec::new(); n];
    for r in &run.trace {
        by_task[r.task.ix()].push(r);
    }
    let charged = |o: Outcome| matches!(o, Outcome::Failed | Outcome::TimedOut);
    let id = |t: taskdist::plan::TaskIdx| plan.task(t).id.clone();

    // 1. Each attempt starts after what it depends on.
    for r in &run.trace {
        for &(p, dep) in &built.preds[r.task.ix()] {
            let ok = match dep {
                Dep::Needs => by_task[p.ix()]
                    .iter()
                    .any(|q| q.outcome == Outcome::Succeeded && q.end <= r.start),
                Dep::After => by_task[p.ix()].iter().all(|q| q.end <= r.start),
            };
            if !ok {
                out.push(breach(
                    Prop::Dependencies,
                    format!(
                        "{} attempt {} started at {} before {} ({dep:?}) was done",
                        id(r.task),
                        r.attempt,
                        r.start,
                        id(p)
                    ),
                ));
            }
        }
    }

    // 2. Overlapping attempts hold no conflicting locks.
    if config.enable_file_conflict_prevention {
        for (i, x) in run.trace.iter().enumerate() {
            for y in &run.trace[i + 1..] {
                let overlap = x.start < y.end && y.start < x.end;
                if overlap
                    && x.task != y.task
                    && let Some(f) =
                        conflicting(&built.canon[x.task.ix()], &built.canon[y.task.ix()])
                {
                    out.push(breach(
                        Prop::Locks,
                        format!(
                            "{} [{}, {}) and {} [{}, {}) overlap on m{f}",
                            id(x.task),
                            x.start,
                            x.end,
                            id(y.task),
                            y.start,
                            y.end
                        ),
                    ));
                }
            }
        }
    }

    // 3. Capabilities, slots per agent, working agents.
    let mut edges: Vec<(Time, i32, usize)> = Vec::new();
    for r in &run.trace {
        let spec = &run.agents[r.agent.ix()];
        if !runs(spec, plan.task(r.task).task_type) {
            out.push(breach(
                Prop::Capacity,
                format!("{} ran on {}, which cannot run it", id(r.task), spec.id),
            ));
        }
        if r.start < r.end {
            // Ends sort before starts at the same time: the slot is handed over.
            edges.push((r.start, 1, r.agent.ix()));
            edges.push((r.end, -1, r.agent.ix()));
        }
    }
    edges.sort();
    let mut load = vec![0i32; run.agents.len()];
    for (at, delta, a) in edges {
        load[a] += delta;
        if load[a] > run.agents[a].max_concurrent_tasks as i32 {
            out.push(breach(
                Prop::Capacity,
                format!("{} ran {} attempts at {at} ms", run.agents[a].id, load[a]),
            ));
        }
        let working = load.iter().filter(|&&l| l > 0).count();
        if working > config.max_agents as usize {
            out.push(breach(
                Prop::Capacity,
                format!(
                    "{working} agents working at {at} ms, max_agents is {}",
                    config.max_agents
                ),
            ));
        }
    }

    // 4. Everything ended; nothing ran on after a success.
    let p = &run.progress;
    if p.completed_tasks + p.failed_tasks + p.skipped_tasks != n {
        out.push(breach(
            Prop::Termination,
            format!("not every task ended: {p:?}"),
        ));
    }
    for (t, records) in by_task.iter().enumerate() {
        let t = taskdist::plan::TaskIdx(t as u32);
        if let Some(done) = records.iter().find(|r| r.outcome == Outcome::Succeeded)
            && let Some(after) = records
                .iter()
                .find(|r| r.start >= done.end && r.attempt > done.attempt)
        {
            out.push(breach(
                Prop::Termination,
                format!(
                    "{} ran attempt {} after attempt {} succeeded",
                    id(t),
                    after.attempt,
                    done.attempt
                ),
            ));
        }
        if records.iter().any(|r| r.outcome == Outcome::Unfinished) {
            out.push(breach(
                Prop::Termination,
                format!("{} has an unfinished attempt", id(t)),
            ));
        }
        // 5. The budget: charged attempts, and attempts beyond them only for lost ones.
        let charged_count = records.iter().filter(|r| charged(r.outcome)).count() as u32;
        let lost = records
            .iter()
            .filter(|r| r.outcome == Outcome::Lost)
            .count() as u32;
        if charged_count > config.max_retries_per_task + 1 {
            out.push(breach(
                Prop::Budget,
                format!("{} was charged {charged_count} failures", id(t)),
            ));
        }
        if records.len() as u32 > config.max_retries_per_task + 1 + lost {
            out.push(breach(
                Prop::Budget,
                format!("{} ran {} attempts with {lost} lost", id(t), records.len()),
            ));
        }
    }
    out
}

/// The longest dependency path by estimates, computed from the generated edges.
pub fn critical_path_ms(built: &Built) -> Time {
    let plan = &built.plan;
    let n = plan.len();
    // Dependencies sit in lower layers, so layer order is a topological order.
    let mut by_layer: Vec<usize> = (0..n).collect();
    by_layer.sort_by_key(|&t| built.layer[t]);
    let mut finish = vec![0 as Time; n];
    for &t in &by_layer {
        let ready = built.preds[t]
            .iter()
            .map(|&(p, _)| finish[p.ix()])
            .max()
            .unwrap_or(0);
        finish[t] = ready + plan.tasks[t].estimated_duration_ms;
    }
    finish.into_iter().max().unwrap_or(0)
}

/// Total estimated work.
pub fn work_ms(built: &Built) -> Time {
    built
        .plan
        .tasks
        .iter()
        .map(|t| t.estimated_duration_ms)
        .sum()
}

/// The lower bound of a fault-free run on `slots` identical speed-1 slots, computed from
/// what the generator knows: the longest dependency path, the work per slot and, with locks
/// on, the work that must hold each file alone (its writers, plus its longest reader).
pub fn lower_bound_ms(built: &Built, slots: u64) -> Time {
    let mut file = 0;
    if built.config.enable_file_conflict_prevention {
        let mut load = std::collections::BTreeMap::<u8, (Time, Time)>::new();
        for (t, locks) in built.canon.iter().enumerate() {
            let estimate = built.plan.tasks[t].estimated_duration_ms;
            for &(f, mode) in locks {
                let entry = load.entry(f).or_default();
                match mode {
                    taskdist::plan::LockMode::Write => entry.0 += estimate,
                    taskdist::plan::LockMode::Read => entry.1 = entry.1.max(estimate),
                }
            }
        }
        file = load
            .values()
            .filter(|(w, _)| *w > 0)
            .map(|(w, r)| w + r)
            .max()
            .unwrap_or(0);
    }
    critical_path_ms(built)
        .max(work_ms(built).div_ceil(slots.max(1)))
        .max(file)
}
