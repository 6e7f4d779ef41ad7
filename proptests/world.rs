//! The observer: replays a run's journal and keeps its own account of what is true — which
//! attempts are live, which tasks succeeded, failed for good or must be skipped, which
//! agents are up, active and how loaded, who holds which canonical file — from the inputs
//! the driver sent and the decisions the core made, never from the core's getters. Each
//! decision is checked against that account, and the core's final state is compared with
//! it. Breaches are tagged with the property they break, so each property test reports only
//! its own.
//!
//! Whether an agent is up is read from the core's agent events (`agent_registered`,
//! `agent_lost`, `agent_unregistered`), and retry times from `task_retry`: the core alone
//! knows the jitter. Within one call every agent event precedes every dispatch (the core
//! dispatches once, at the end of the call), so applying a step's agent events before its
//! decisions is exact.

use crate::driver::{Call, End, Run};
use crate::generators::{Dep, conflicting, runs};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use taskdist::core::{AgentIdx, CancelReason, Decision, EventKind, Input, TaskStatus};
use taskdist::model::{AgentSpec, Policy, Time};
use taskdist::plan::{LockMode, TaskIdx};

/// The guarantees, numbered as in the issue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Prop {
    /// 1: a task is dispatched only once its dependencies succeeded (or ended).
    Dependencies = 1,
    /// 2: overlapping attempts never hold conflicting locks.
    Locks = 2,
    /// 3: capabilities, `max_concurrent_tasks` and `max_agents` are honoured.
    Capacity = 3,
    /// 4: every task ends completed, failed or skipped; none lost, none left running.
    Termination = 4,
    /// 5: attempts stay within the budget; lost agents' attempts are not charged.
    Budget = 5,
    /// 6: a retry avoids agents that failed the task when another is free.
    RetryAgent = 6,
    /// 9: `layered` keeps its barrier; every policy is work-conserving.
    LayersAndWork = 9,
}

/// One breach of one property.
#[derive(Debug, Clone)]
pub struct Breach {
    /// The property broken.
    pub prop: Prop,
    /// Journal step (`None`: at the end of the run).
    pub step: Option<usize>,
    /// What happened.
    pub what: String,
}

impl fmt::Display for Breach {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.step {
            Some(step) => write!(
                f,
                "property {} at step {step}: {}",
                self.prop as u8, self.what
            ),
            None => write!(f, "property {} at the end: {}", self.prop as u8, self.what),
        }
    }
}

#[derive(Default, Clone)]
struct Truth {
    succeeded: bool,
    failed: bool,
    skipped: bool,
    failures: u32,
    /// Attempts dispatched.
    assigns: u32,
    /// Attempts taken back without charge (agent lost or left).
    uncharged: u32,
    live: Option<(AgentIdx, u32)>,
    failed_on: Vec<AgentIdx>,
    /// Without auto-reassignment: the agent the task stays with.
    pinned: Option<AgentIdx>,
    /// End of the backoff announced by the last `task_retry`.
    backoff_until: Option<Time>,
}

impl Truth {
    fn ended(&self) -> bool {
        self.succeeded || self.failed || self.skipped
    }
}

struct Seen {
    spec: AgentSpec,
    up: bool,
    live: Vec<TaskIdx>,
}

struct World<'r> {
    run: &'r Run,
    tasks: Vec<Truth>,
    agents: Vec<Seen>,
    ids: BTreeMap<Arc<str>, AgentIdx>,
    /// Live attempts' locks per canonical file.
    holders: BTreeMap<u8, Vec<(TaskIdx, LockMode)>>,
    now: Time,
    step: usize,
    lost_cancels: u64,
    breaches: Vec<Breach>,
}

/// Every breach of properties 1–6 and 9 in `run`.
pub fn check(run: &Run) -> Vec<Breach> {
    let mut world = World {
        run,
        tasks: vec![Truth::default(); run.built.plan.len()],
        agents: Vec::new(),
        ids: BTreeMap::new(),
        holders: BTreeMap::new(),
        now: 0,
        step: 0,
        lost_cancels: 0,
        breaches: Vec::new(),
    };
    for (i, step) in run.journal.iter().enumerate() {
        world.step = i;
        world.now = step.now;
        world.apply(i);
    }
    world.at_end();
    world.breaches
}

impl World<'_> {
    fn breach(&mut self, prop: Prop, what: String) {
        self.breaches.push(Breach {
            prop,
            step: Some(self.step),
            what,
        });
    }

    fn id(&self, t: TaskIdx) -> &str {
        &self.run.built.plan.task(t).id
    }

    fn apply(&mut self, i: usize) {
        let run = self.run;
        let step = &run.journal[i];
        match &step.call {
            Call::Input(Input::AgentUp { spec }) if !self.ids.contains_key(&spec.id) => {
                self.ids
                    .insert(spec.id.clone(), AgentIdx(self.agents.len() as u32));
                self.agents.push(Seen {
                    spec: spec.clone(),
                    up: false,
                    live: Vec::new(),
                });
            }
            Call::Input(Input::TaskSucceeded {
                task,
                agent,
                attempt,
                ..
            }) if self.is_live(*task, *agent, *attempt) => {
                self.release(*task);
                self.tasks[task.ix()].succeeded = true;
            }
            Call::Input(Input::TaskFailed {
                task,
                agent,
                attempt,
                ..
            }) if self.is_live(*task, *agent, *attempt) => self.charge(*task, *agent),
            _ => {}
        }
        for event in &step.events {
            match &event.kind {
                EventKind::AgentRegistered { agent, .. } => {
                    let a = self.ids[agent];
                    self.agents[a.ix()].up = true;
                }
                EventKind::AgentLost { agent, .. } | EventKind::AgentUnregistered { agent } => {
                    let a = self.ids[agent];
                    self.agents[a.ix()].up = false;
                }
                EventKind::TaskRetry {
                    task, not_before, ..
                } => {
                    let t = run.built.plan.task_index(task).expect("a plan task");
                    self.tasks[t.ix()].backoff_until = Some(*not_before);
                }
                _ => {}
            }
        }
        for decision in &step.decisions {
            match decision {
                Decision::Cancel {
                    task,
                    agent,
                    attempt,
                    reason,
                } => {
                    if !self.is_live(*task, *agent, *attempt) {
                        let what = format!(
                            "cancel of attempt {attempt} of {} on agent {}, which is not running",
                            self.id(*task),
                            agent.0
                        );
                        self.breach(Prop::Termination, what);
                        continue;
                    }
                    match reason {
                        CancelReason::Timeout => self.charge(*task, *agent),
                        CancelReason::AgentLost | CancelReason::Shutdown => {
                            self.release(*task);
                            self.lost_cancels += u64::from(*reason == CancelReason::AgentLost);
                            let truth = &mut self.tasks[task.ix()];
                            truth.uncharged += 1;
                            if !run.built.config.enable_auto_reassignment {
                                truth.pinned = Some(*agent);
                            }
                        }
                    }
                }
                Decision::Assign(a) => self.assign(a.task, a.agent, a.attempt),
                Decision::Deliver(d) => {
                    if !self.is_live(d.task, d.agent, d.attempt) {
                        let what = format!(
                            "context delivered to attempt {} of {} on agent {}, which is not running",
                            d.attempt,
                            self.id(d.task),
                            d.agent.0
                        );
                        self.breach(Prop::Termination, what);
                    }
                }
            }
        }
        let quiet = step.timeout.is_none_or(|at| at > step.now);
        let changed = !step.decisions.is_empty() || !step.events.is_empty();
        if quiet && changed && !step.following {
            self.work_conserving();
        }
    }

    fn is_live(&self, t: TaskIdx, a: AgentIdx, attempt: u32) -> bool {
        self.tasks
            .get(t.ix())
            .is_some_and(|truth| truth.live == Some((a, attempt)))
    }

    /// The live attempt of `t` ends: its agent slot and locks are free.
    fn release(&mut self, t: TaskIdx) {
        let (a, _) = self.tasks[t.ix()].live.take().expect("a live attempt");
        self.agents[a.ix()].live.retain(|&x| x != t);
        for holders in self.holders.values_mut() {
            holders.retain(|&(x, _)| x != t);
        }
    }

    /// A charged failure of `t`'s live attempt on `a`.
    fn charge(&mut self, t: TaskIdx, a: AgentIdx) {
        self.release(t);
        let config = &self.run.built.config;
        let truth = &mut self.tasks[t.ix()];
        truth.failures += 1;
        if !truth.failed_on.contains(&a) {
            truth.failed_on.push(a);
        }
        if !config.enable_auto_reassignment {
            truth.pinned = Some(a);
        }
        if truth.failures > config.max_retries_per_task {
            truth.failed = true;
            // Everything that needs it, transitively, will not run.
            let mut stack = vec![t];
            while let Some(x) = stack.pop() {
                for &d in &self.run.built.needed_by[x.ix()] {
                    let dep = &mut self.tasks[d.ix()];
                    if !dep.ended() && dep.live.is_none() {
                        dep.skipped = true;
                        stack.push(d);
                    }
                }
            }
        }
    }

    fn deps_done(&self, t: TaskIdx) -> bool {
        self.run.built.preds[t.ix()]
            .iter()
            .all(|&(p, dep)| match dep {
                Dep::Needs => self.tasks[p.ix()].succeeded,
                Dep::After => self.tasks[p.ix()].ended(),
            })
    }

    /// Whether every task of a layer below `t`'s has ended (the `layered` barrier).
    fn lower_layers_ended(&self, t: TaskIdx) -> bool {
        let layer = &self.run.built.layer;
        (0..self.tasks.len()).all(|u| layer[u] >= layer[t.ix()] || self.tasks[u].ended())
    }

    fn busy_agents(&self) -> usize {
        self.agents.iter().filter(|s| !s.live.is_empty()).count()
    }

    /// Whether agent `a` may take `t` now: up, able to run it, a free slot, and already
    /// working or fewer than `max_agents` agents are.
    fn can_take(&self, a: AgentIdx, t: TaskIdx) -> bool {
        let seen = &self.agents[a.ix()];
        seen.up
            && (seen.live.len() as u32) < seen.spec.max_concurrent_tasks
            && (!seen.live.is_empty()
                || self.busy_agents() < self.run.built.config.max_agents as usize)
            && runs(&seen.spec, self.run.built.plan.task(t).task_type)
    }

    fn assign(&mut self, t: TaskIdx, a: AgentIdx, attempt: u32) {
        let run = self.run;
        let built = &run.built;
        let config = &built.config;
        let truth = self.tasks[t.ix()].clone();
        let id = self.id(t).to_string();

        // 1. Dependencies, and no task runs twice at once or after it ended.
        if truth.ended() || truth.live.is_some() {
            let what = format!(
                "{id} dispatched again: {:?}",
                (truth.succeeded, truth.failed, truth.skipped, truth.live)
            );
            self.breach(Prop::Dependencies, what);
        }
        for &(p, dep) in &built.preds[t.ix()] {
            let done = match dep {
                Dep::Needs => self.tasks[p.ix()].succeeded,
                Dep::After => self.tasks[p.ix()].ended(),
            };
            if !done {
                let what = format!("{id} dispatched before {} ({dep:?}) was done", self.id(p));
                self.breach(Prop::Dependencies, what);
            }
        }

        // 2. Locks against every live attempt.
        if config.enable_file_conflict_prevention {
            let mine = &built.canon[t.ix()];
            for (&file, holders) in &self.holders {
                for &(u, mode) in holders {
                    if let Some(f) = conflicting(mine, &[(file, mode)]) {
                        let what = format!(
                            "{id} dispatched while {} holds file m{f} ({mode:?})",
                            self.id(u)
                        );
                        self.breaches.push(Breach {
                            prop: Prop::Locks,
                            step: Some(self.step),
                            what,
                        });
                    }
                }
            }
        }

        // 3. The agent: up, capable, with a free slot; at most max_agents working.
        let Some(seen) = self.agents.get(a.ix()) else {
            self.breach(
                Prop::Capacity,
                format!("{id} dispatched to unknown agent {}", a.0),
            );
            return;
        };
        let ty = built.plan.task(t).task_type;
        let (agent, up, capable) = (seen.spec.id.clone(), seen.up, runs(&seen.spec, ty));
        let (load, slots) = (seen.live.len() as u32, seen.spec.max_concurrent_tasks);
        if !up {
            self.breach(
                Prop::Capacity,
                format!("{id} dispatched to agent {agent}, which is down"),
            );
        }
        if !capable {
            self.breach(
                Prop::Capacity,
                format!("{id} ({ty}) dispatched to agent {agent}, which cannot run it"),
            );
        }
        if load >= slots {
            self.breach(
                Prop::Capacity,
                format!("{id} dispatched to agent {agent} already running {load}"),
            );
        }

        // 5. Attempts are numbered 1, 2, 3… per task.
        if attempt != truth.assigns + 1 {
            self.breach(
                Prop::Budget,
                format!(
                    "{id} dispatched as attempt {attempt} after {} attempts",
                    truth.assigns
                ),
            );
        }

        // 6. Retries: elsewhere when possible, or with the agent the task stays with.
        if config.enable_auto_reassignment {
            if truth.failed_on.contains(&a)
                && let Some(b) = (0..self.agents.len() as u32)
                    .map(AgentIdx)
                    .find(|&b| !truth.failed_on.contains(&b) && self.can_take(b, t))
            {
                let what = format!(
                    "retry of {id} sent to agent {}, which failed it, while agent {} was free",
                    self.agents[a.ix()].spec.id,
                    self.agents[b.ix()].spec.id
                );
                self.breach(Prop::RetryAgent, what);
            }
        } else if let Some(p) = truth.pinned
            && p != a
        {
            self.breach(
                Prop::RetryAgent,
                format!("{id} left agent {} for {} with reassignment off", p.0, a.0),
            );
        }

        // 9. The layer barrier.
        if run.policy == Policy::Layered && !self.lower_layers_ended(t) {
            self.breach(
                Prop::LayersAndWork,
                format!(
                    "{id} (layer {}) dispatched before the layers below ended",
                    built.layer[t.ix()]
                ),
            );
        }

        self.agents[a.ix()].live.push(t);
        let working = self.agents.iter().filter(|s| !s.live.is_empty()).count();
        if working > config.max_agents as usize {
            self.breach(
                Prop::Capacity,
                format!(
                    "{working} agents working, max_agents is {}",
                    config.max_agents
                ),
            );
        }
        let truth = &mut self.tasks[t.ix()];
        truth.live = Some((a, attempt));
        truth.assigns += 1;
        for &(file, mode) in &built.canon[t.ix()] {
            self.holders.entry(file).or_default().push((t, mode));
        }
    }

    /// Whether `t` may start now: dependencies done, not running, not ended, not backing off,
    /// past the layer barrier under `layered`.
    fn startable(&self, t: TaskIdx) -> bool {
        let truth = &self.tasks[t.ix()];
        !truth.ended()
            && truth.live.is_none()
            && truth.backoff_until.is_none_or(|at| at <= self.now)
            && (truth.failures == 0 || truth.backoff_until.is_some())
            && self.deps_done(t)
            && (self.run.policy != Policy::Layered || self.lower_layers_ended(t))
    }

    /// Property 9: after the core has settled, no agent with a free slot stands idle while a
    /// startable task it can run has its locks free. A file is free for writing when nobody
    /// holds it; for reading when no writer holds it, and, if readers hold it, no writer
    /// could be waiting for it (a waiting writer rightly keeps new readers out).
    fn work_conserving(&mut self) {
        let built = &self.run.built;
        let n = self.tasks.len();
        let mut may_wait_to_write = BTreeMap::<u8, bool>::new();
        for t in (0..n as u32).map(TaskIdx) {
            let truth = &self.tasks[t.ix()];
            if !truth.ended() && truth.live.is_none() && self.deps_done(t) {
                for &(f, mode) in &built.canon[t.ix()] {
                    if mode == LockMode::Write {
                        may_wait_to_write.insert(f, true);
                    }
                }
            }
        }
        let free = |t: TaskIdx| {
            !built.config.enable_file_conflict_prevention
                || built.canon[t.ix()].iter().all(|&(f, mode)| {
                    let holders = self.holders.get(&f).map_or(&[][..], Vec::as_slice);
                    match mode {
                        LockMode::Write => holders.is_empty(),
                        LockMode::Read => {
                            holders.iter().all(|&(_, m)| m == LockMode::Read)
                                && (holders.is_empty() || !may_wait_to_write.contains_key(&f))
                        }
                    }
                })
        };
        for t in (0..n as u32).map(TaskIdx) {
            if !self.startable(t) || !free(t) {
                continue;
            }
            let pinned = if built.config.enable_auto_reassignment {
                None
            } else {
                self.tasks[t.ix()].pinned
            };
            let idle = (0..self.agents.len() as u32)
                .map(AgentIdx)
                .find(|&a| pinned.is_none_or(|p| p == a) && self.can_take(a, t));
            if let Some(a) = idle {
                let what = format!(
                    "agent {} idle at {} ms while {} could start",
                    self.agents[a.ix()].spec.id,
                    self.now,
                    self.id(t)
                );
                self.breach(Prop::LayersAndWork, what);
                return; // one per step is enough
            }
        }
    }

    fn at_end(&mut self) {
        let run = self.run;
        let config = &run.built.config;
        let mut end = |prop, what| {
            self.breaches.push(Breach {
                prop,
                step: None,
                what,
            });
        };
        if run.end != End::Finished {
            end(
                Prop::Termination,
                format!("the run did not finish: {:?}", run.end),
            );
        }
        let last = &run.last;
        for (i, truth) in self.tasks.iter().enumerate() {
            let t = TaskIdx(i as u32);
            let id = run.built.plan.task(t).id.clone();
            // 4. Every task ended the way the account says.
            let expected = if truth.succeeded {
                TaskStatus::Completed
            } else if truth.failed {
                TaskStatus::Failed
            } else if truth.skipped {
                TaskStatus::Skipped
            } else {
                TaskStatus::Running // stands for "not ended"; never matches a finished run
            };
            if run.end == End::Finished && last.status[i] != expected {
                end(
                    Prop::Termination,
                    format!("{id} is {:?}, expected {expected:?}", last.status[i]),
                );
            }
            if run.end == End::Finished && !last.status[i].is_terminal() {
                end(
                    Prop::Termination,
                    format!("{id} is {:?}, which is not terminal", last.status[i]),
                );
            }
            if truth.live.is_some() || last.running_on[i].is_some() {
                end(Prop::Termination, format!("{id} still running at the end"));
            }
            // 5. The budget, and only charged failures counted.
            if truth.failures > config.max_retries_per_task + 1 {
                end(
                    Prop::Budget,
                    format!("{id} failed {} times", truth.failures),
                );
            }
            if truth.assigns > config.max_retries_per_task + 1 + truth.uncharged {
                end(
                    Prop::Budget,
                    format!(
                        "{id} ran {} attempts, {} uncharged",
                        truth.assigns, truth.uncharged
                    ),
                );
            }
            if last.failures[i] != truth.failures {
                end(
                    Prop::Budget,
                    format!(
                        "{id}: core counts {} failures, {} were charged",
                        last.failures[i], truth.failures
                    ),
                );
            }
            if last.attempt[i] != truth.assigns {
                end(
                    Prop::Budget,
                    format!(
                        "{id}: core says attempt {}, {} were dispatched",
                        last.attempt[i], truth.assigns
                    ),
                );
            }
        }
        if last.stats.reassignments != self.lost_cancels {
            end(
                Prop::Budget,
                format!(
                    "{} reassignments counted, {} attempts lost",
                    last.stats.reassignments, self.lost_cancels
                ),
            );
        }
    }
}
