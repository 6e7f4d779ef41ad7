//! The `optimized` policy: following a static schedule ([`crate::model::Schedule`]).
//!
//! While the run goes as planned, a scheduled task starts on its slot's agent once its
//! dependencies, its predecessor on that slot and the tasks planned before it on its
//! files have ended — so with exact durations the run reproduces the schedule to the
//! millisecond. The ready queue is ordered by planned start throughout.
//!
//! The plan stops being followed (for the rest of the run) at the first sign the
//! schedule no longer describes the run: a failed or timed-out attempt, an agent that
//! leaves or is lost, a slot agent that cannot take its task, or an attempt whose
//! duration is off its plan by more than [`DEVIATION_PERCENT`]. From then on dispatch is
//! dynamic, as under `critical-path` but ordered by planned start.
//!
//! A schedule whose [`Dispatch`] is not `follow` (chosen at plan time for random
//! durations) is never followed: dispatch is dynamic from the start, by planned start or
//! in critical-path order.

use super::{BlockReason, EventKind, Scheduler, TaskStatus};
use crate::core::AgentIdx;
use crate::model::{Dispatch, Schedule, Time};
use crate::plan::{Plan, TaskIdx};
use std::sync::Arc;

/// An attempt that ends more than this far (in percent of its planned duration) from it
/// ends the following: the planned starts no longer hold.
pub const DEVIATION_PERCENT: Time = 10;

const UNSCHEDULED: u32 = u32::MAX;

/// The schedule in the core's terms.
pub(super) struct Follow {
    /// Planned start per task (`Time::MAX` for a task the schedule omits).
    start: Vec<Time>,
    /// Planned duration per task.
    planned_ms: Vec<Time>,
    /// Slot per task (`UNSCHEDULED` if omitted), and each slot's agent id.
    slot: Vec<u32>,
    slot_agent: Vec<Arc<str>>,
    /// Constraints besides dependencies not yet ended, and who waits on each task.
    unmet: Vec<u32>,
    waiters: Vec<Vec<u32>>,
    /// Tasks held until their constraints end.
    held: Vec<bool>,
    /// Tasks whose slot agent has not registered yet.
    awaiting_agent: Vec<TaskIdx>,
    active: bool,
    dispatch: Dispatch,
}

impl Follow {
    /// Resolves the schedule against the plan. A schedule that names an unknown task or
    /// omits one is still used for its order, but not followed.
    pub(super) fn new(plan: &Plan, schedule: &Schedule) -> Follow {
        let n = plan.len();
        let mut start = vec![Time::MAX; n];
        let mut end = vec![Time::MAX; n];
        let mut slot = vec![UNSCHEDULED; n];
        let mut complete = true;
        for (k, s) in schedule.slots.iter().enumerate() {
            for p in &s.tasks {
                match plan.task_index(&p.task) {
                    Some(t) if slot[t.ix()] == UNSCHEDULED && p.end_ms >= p.start_ms => {
                        start[t.ix()] = p.start_ms;
                        end[t.ix()] = p.end_ms;
                        slot[t.ix()] = k as u32;
                    }
                    _ => complete = false,
                }
            }
        }
        complete &= slot.iter().all(|&s| s != UNSCHEDULED);
        let mut follow = Follow {
            planned_ms: (0..n).map(|t| end[t].saturating_sub(start[t])).collect(),
            start,
            slot,
            slot_agent: schedule.slots.iter().map(|s| s.agent.clone()).collect(),
            unmet: vec![0; n],
            waiters: vec![Vec::new(); n],
            held: vec![false; n],
            awaiting_agent: Vec::new(),
            active: complete && schedule.dispatch == Dispatch::Follow,
            dispatch: schedule.dispatch,
        };
        if follow.active {
            let (_, extra) = crate::optimize::follow_constraints(
                plan,
                follow.slot_agent.len(),
                &follow.start,
                &end,
                &follow.slot,
            );
            for (t, before) in extra.into_iter().enumerate() {
                follow.unmet[t] = before.len() as u32;
                for b in before {
                    follow.waiters[b as usize].push(t as u32);
                }
            }
        }
        follow
    }

    /// The task's planned start: its place in the ready queue.
    pub(super) fn planned_start(&self, t: TaskIdx) -> Time {
        self.start[t.ix()]
    }

    /// Whether the ready queue is in critical-path order rather than by planned start.
    pub(super) fn by_critical_path(&self) -> bool {
        self.dispatch == Dispatch::CriticalPath
    }

    /// Whether the schedule is still being followed.
    pub(super) fn is_active(&self) -> bool {
        self.active
    }
}

/// What dispatch does with a ready task under `optimized`.
pub(super) enum Gate {
    /// Dispatch as usual (not following).
    Dynamic,
    /// Held back by the schedule; do not dispatch now.
    Hold,
    /// Dispatch it on this agent.
    On(AgentIdx),
}

impl Scheduler {
    /// Whether the core follows a schedule now (`optimized`, until a fault breaks it).
    pub fn is_following(&self) -> bool {
        self.follow.as_deref().is_some_and(Follow::is_active)
    }

    /// Where the task popped from the ready queue may go.
    pub(super) fn follow_gate(&mut self, t: TaskIdx) -> Gate {
        let Some(f) = self.follow.as_deref_mut() else {
            return Gate::Dynamic;
        };
        if !f.active {
            return Gate::Dynamic;
        }
        if f.unmet[t.ix()] > 0 {
            f.held[t.ix()] = true;
            self.set_status(t, TaskStatus::Blocked);
            self.emit(EventKind::TaskBlocked {
                task: self.plan.id(t),
                reason: BlockReason::Schedule,
            });
            return Gate::Hold;
        }
        let agent = f.slot_agent[f.slot[t.ix()] as usize].clone();
        let Some(&a) = self.agent_ids.get(&agent) else {
            f.awaiting_agent.push(t);
            self.set_status(t, TaskStatus::Blocked);
            self.emit(EventKind::TaskBlocked {
                task: self.plan.id(t),
                reason: BlockReason::WaitingForAgent { agent },
            });
            return Gate::Hold;
        };
        let capable = self.agents[a.ix()].spec.can_run(self.plan.task_type(t));
        if capable && self.agent_is_up(a) && self.can_take_more(a) {
            Gate::On(a)
        } else {
            self.stop_following();
            Gate::Dynamic
        }
    }

    /// A task ended: the tasks the schedule holds behind it may go.
    pub(super) fn follow_ended(&mut self, t: TaskIdx) {
        let Some(f) = self.follow.as_deref_mut() else {
            return;
        };
        if !f.active {
            return;
        }
        let mut release = Vec::new();
        for &w in &f.waiters[t.ix()] {
            let w = w as usize;
            f.unmet[w] -= 1;
            if f.unmet[w] == 0 && std::mem::take(&mut f.held[w]) {
                release.push(TaskIdx(w as u32));
            }
        }
        for w in release {
            self.enqueue(w);
        }
    }

    /// An agent registered: the tasks waiting for it as their slot's agent may go.
    pub(super) fn follow_agent_up(&mut self) {
        if let Some(f) = self.follow.as_deref_mut() {
            for t in std::mem::take(&mut f.awaiting_agent) {
                self.enqueue(t);
            }
        }
    }

    /// An attempt succeeded after `ran_ms`: far from its plan, the plan is dropped.
    pub(super) fn follow_check_duration(&mut self, t: TaskIdx, ran_ms: Time) {
        let Some(f) = self.follow.as_deref() else {
            return;
        };
        let planned = f.planned_ms[t.ix()];
        if f.active && ran_ms.abs_diff(planned) * 100 > planned * DEVIATION_PERCENT {
            self.stop_following();
        }
    }

    /// Drops the schedule for the rest of the run: every task it holds back is queued.
    pub(super) fn stop_following(&mut self) {
        let Some(f) = self.follow.as_deref_mut() else {
            return;
        };
        if !f.active {
            return;
        }
        f.active = false;
        let mut release: Vec<TaskIdx> = std::mem::take(&mut f.awaiting_agent);
        for (t, held) in f.held.iter_mut().enumerate() {
            if std::mem::take(held) {
                release.push(TaskIdx(t as u32));
            }
        }
        release.sort_unstable();
        for t in release {
            self.enqueue(t);
        }
    }
}
