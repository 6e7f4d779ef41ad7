//! The per-attempt trace of a real run, rebuilt from what the core says (its decisions
//! and events) and nothing else, so replaying the journal on resume rebuilds the trace of
//! the earlier processes too. Rows have the simulator's shape, so both kinds of run give
//! the same `trace.csv` and summary.

use crate::core::{CancelReason, Decision, Event, EventKind};
use crate::drive::{AttemptRecord, Outcome};
use crate::model::Time;
use crate::plan::{Plan, TaskIdx};
use std::sync::Arc;

/// Builds the trace as the core's outputs go by.
pub(crate) struct Recorder {
    plan: Arc<Plan>,
    pub trace: Vec<AttemptRecord>,
    /// The open row of each task's running attempt.
    open: Vec<Option<usize>>,
    /// Since when and why each ready task has been held back; `true` for a lock wait.
    held_since: Vec<Option<(Time, String, bool)>>,
    pub lock_wait_total: Time,
}

impl Recorder {
    pub fn new(plan: Arc<Plan>) -> Recorder {
        let n = plan.len();
        Recorder {
            plan,
            trace: Vec::new(),
            open: vec![None; n],
            held_since: vec![None; n],
            lock_wait_total: 0,
        }
    }

    pub fn decision(&mut self, now: Time, decision: &Decision) {
        match decision {
            Decision::Assign(a) => {
                let t = a.task;
                let wait_reason = match self.held_since[t.ix()].take() {
                    Some((since, label, lock)) => {
                        if lock {
                            self.lock_wait_total += now - since;
                        }
                        Some(label)
                    }
                    None if a.attempt > 1 => Some("retry".to_string()),
                    None => None,
                };
                self.open[t.ix()] = Some(self.trace.len());
                self.trace.push(AttemptRecord {
                    task: t,
                    agent: a.agent,
                    attempt: a.attempt,
                    start: now,
                    end: now,
                    outcome: Outcome::Unfinished,
                    wait_reason,
                });
            }
            Decision::Cancel {
                task,
                attempt,
                reason,
                ..
            } => {
                let outcome = match reason {
                    CancelReason::Timeout => Outcome::TimedOut,
                    CancelReason::AgentLost => Outcome::Lost,
                    CancelReason::Shutdown => Outcome::Cancelled,
                };
                self.close(*task, *attempt, now, outcome);
            }
            Decision::Deliver(_) => {} // context for a running attempt: nothing to trace
        }
    }

    pub fn event(&mut self, event: &Event) {
        match &event.kind {
            EventKind::TaskComplete { task, attempt, .. } => {
                let t = self.index(task);
                self.close(t, *attempt, event.time, Outcome::Succeeded);
            }
            EventKind::TaskFailed { task, attempt, .. } => {
                let t = self.index(task);
                self.close(t, *attempt, event.time, Outcome::Failed);
            }
            EventKind::TaskBlocked { task, reason } => {
                let t = self.index(task);
                if self.held_since[t.ix()].is_none() {
                    let (label, lock) = (reason.label(), reason.is_lock());
                    self.held_since[t.ix()] = Some((event.time, label, lock));
                }
            }
            _ => {}
        }
    }

    /// Ends every open row as `outcome` (the end of a process's part of the run).
    pub fn close_all(&mut self, now: Time, outcome: Outcome) {
        for row in self.open.iter_mut().filter_map(Option::take) {
            self.trace[row].end = now;
            self.trace[row].outcome = outcome;
        }
    }

    fn close(&mut self, t: TaskIdx, attempt: u32, now: Time, outcome: Outcome) {
        if let Some(row) = self.open[t.ix()]
            && self.trace[row].attempt == attempt
        {
            self.open[t.ix()] = None;
            self.trace[row].end = now;
            self.trace[row].outcome = outcome;
        }
    }

    fn index(&self, id: &str) -> TaskIdx {
        self.plan
            .task_index(id)
            .expect("the core's events name the plan's tasks")
    }
}
