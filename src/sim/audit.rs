//! An after-the-fact check of a run against the scheduler's guarantees, from its trace and
//! events alone: dependencies before dependents, no conflicting locks held at once, no
//! agent over capacity or outside its capabilities, every task ended, attempts within the
//! retry budget. The seed sweeps and property tests call it after every run; a scheduler
//! developer can call it on any run.

use super::{Outcome, SimRun};
use crate::core::{Event, EventKind};
use crate::model::{Config, Time};
use crate::plan::{EdgeKind, LockMode, Plan, TaskIdx};
use std::collections::BTreeMap;

/// One broken guarantee, described for a person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation(pub String);

/// Checks `run` (with the events it produced) against the guarantees; returns every
/// violation found.
pub fn audit(plan: &Plan, config: &Config, run: &SimRun, events: &[Event]) -> Vec<Violation> {
    let mut found = Vec::new();
    let mut fail = |message: String| found.push(Violation(message));
    let id = |t: TaskIdx| plan.task(t).id.to_string();

    // When each task succeeded, and when it ended however it ended.
    let mut succeeded: Vec<Option<Time>> = vec![None; plan.len()];
    let mut ended: Vec<Option<Time>> = vec![None; plan.len()];
    for event in events {
        let (task, success) = match &event.kind {
            EventKind::TaskComplete { task, .. } => (task, true),
            EventKind::TaskFailed {
                task,
                will_retry: false,
                ..
            } => (task, false),
            EventKind::TaskSkipped { task, .. } => (task, false),
            _ => continue,
        };
        let t = plan.task_index(task).expect("events name plan tasks");
        if ended[t.ix()].is_some() {
            fail(format!("task `{task}` ended twice"));
        }
        ended[t.ix()] = Some(event.time);
        if success {
            succeeded[t.ix()] = Some(event.time);
        }
    }
    for t in plan.task_indices() {
        if ended[t.ix()].is_none() {
            fail(format!("task `{}` never ended", id(t)));
        }
    }

    for row in &run.trace {
        // Dependencies first.
        for &p in plan.preds(row.task) {
            let kind = plan
                .succs(p)
                .iter()
                .find(|e| e.to == row.task)
                .expect("edges go both ways")
                .kind;
            let ready_at = match kind {
                EdgeKind::Needs => succeeded[p.ix()],
                EdgeKind::After => ended[p.ix()],
            };
            if ready_at.is_none_or(|at| at > row.start) {
                fail(format!(
                    "task `{}` attempt {} started at {} before `{}` {} ({ready_at:?})",
                    id(row.task),
                    row.attempt,
                    row.start,
                    id(p),
                    if kind == EdgeKind::Needs {
                        "succeeded"
                    } else {
                        "ended"
                    },
                ));
            }
        }
        // Capabilities.
        let agent = &run.agents[row.agent.ix()];
        if !agent.can_run(plan.task(row.task).task_type) {
            fail(format!(
                "agent `{}` ran `{}` of type {} it cannot run",
                agent.id,
                id(row.task),
                plan.task(row.task).task_type
            ));
        }
    }

    // Agent capacity: a sweep over start and end times per agent.
    let mut per_agent: BTreeMap<u32, Vec<(Time, i32)>> = BTreeMap::new();
    for row in &run.trace {
        let marks = per_agent.entry(row.agent.0).or_default();
        marks.push((row.start, 1));
        marks.push((row.end, -1));
    }
    for (agent, mut marks) in per_agent {
        // Ends before starts at the same instant: a slot freed at t can be reused at t.
        marks.sort();
        let limit = run.agents[agent as usize].max_concurrent_tasks as i32;
        let mut load = 0;
        for (at, delta) in marks {
            load += delta;
            if load > limit {
                fail(format!(
                    "agent `{}` ran {load} attempts at {at}, above its limit {limit}",
                    run.agents[agent as usize].id
                ));
                break;
            }
        }
    }

    // Locks: attempts that overlap in time never hold conflicting locks on one file.
    if config.enable_file_conflict_prevention {
        let mut per_file: BTreeMap<u32, Vec<(Time, Time, LockMode, usize)>> = BTreeMap::new();
        for (i, row) in run.trace.iter().enumerate() {
            if row.end == row.start {
                continue; // held for no time at all
            }
            for lock in plan.locks(row.task) {
                per_file
                    .entry(lock.file.0)
                    .or_default()
                    .push((row.start, row.end, lock.mode, i));
            }
        }
        for (file, mut holds) in per_file {
            holds.sort();
            // Holds sorted by start; compare each with the later ones that start before it ends.
            for (k, &(_, end, mode, i)) in holds.iter().enumerate() {
                for &(s2, _, m2, j) in &holds[k + 1..] {
                    if s2 >= end {
                        break;
                    }
                    if mode == LockMode::Write || m2 == LockMode::Write {
                        fail(format!(
                            "`{}` and `{}` held {} at once (attempts {} and {})",
                            id(run.trace[i].task),
                            id(run.trace[j].task),
                            plan.files[file as usize],
                            run.trace[i].attempt,
                            run.trace[j].attempt
                        ));
                    }
                }
            }
        }
    }

    // Retry budget: charged attempts (those that ran to a result or timed out).
    let mut charged = vec![0u32; plan.len()];
    for row in &run.trace {
        if matches!(
            row.outcome,
            Outcome::Failed | Outcome::TimedOut | Outcome::Succeeded
        ) {
            charged[row.task.ix()] += 1;
        }
    }
    let budget = config.max_retries_per_task + 1;
    for t in plan.task_indices() {
        if charged[t.ix()] > budget {
            fail(format!(
                "task `{}` was charged {} attempts, above the budget of {budget}",
                id(t),
                charged[t.ix()]
            ));
        }
    }
    let done =
        run.progress.completed_tasks + run.progress.failed_tasks + run.progress.skipped_tasks;
    if done != plan.len() {
        fail(format!("{done} of {} tasks ended", plan.len()));
    }
    found
}
