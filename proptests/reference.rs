//! A reference scheduler for the `fifo` policy: the core's documented rules written as
//! plainly as possible, with none of its indexes. Every step scans every task and every
//! agent: who holds a file is found by looking at the running tasks, whether a task is
//! ready by looking at its dependencies, which agent is idle by counting its tasks. It is
//! slow and obviously right; the model-based test drives it with the inputs of a real run
//! and requires the same decisions, timers and task states after every call.
//!
//! The rules it follows, from the core's and the config's documentation:
//!
//! - A task is ready when every `depends_on` task succeeded and every `blocked_by` task
//!   ended; it is skipped when a `depends_on` task failed for good or was skipped.
//! - `fifo`: ready tasks go in the order they became ready; tasks that became ready at the
//!   same time go in plan order. A task held back by a lock or by its agent keeps its place.
//! - An agent may take an attempt when it is up, has a free slot, and either already works
//!   or fewer than `max_agents` agents do.
//! - Dispatch repeats: take the first ready task whose type some agent that may take an
//!   attempt runs. If it stays with an agent (auto-reassignment off) that has no free slot,
//!   it waits for that agent; if that agent has a slot but may not start working, it waits
//!   for the number of working agents to drop; if one of its files is busy it waits for that
//!   file (the first busy one in file order) to be let go by every holder; otherwise it
//!   runs, on its own agent or on the fastest, then least loaded, then first registered
//!   agent that may take it and has not failed it (the first such agent if all have).
//! - A file is busy for a writer if anyone holds it, for a reader if a writer holds it or
//!   a writer waits for it.
//! - A failed or timed-out attempt is charged; the task retries after its backoff while
//!   charged failures do not exceed `max_retries_per_task`, else fails for good. A leaving
//!   agent's attempts are cancelled in the order they were given to it and requeued
//!   uncharged (or wait for that agent, with auto-reassignment off).
//! - With context sharing on, an assignment's related work lists, for each of the task's
//!   files in file order, the other running tasks that hold it on other agents, in plan
//!   order, at most [`CONTEXT_ITEMS`] in all; with sharing off, the context is empty.
//! - With context sharing on, an item put on the board (shared by an up agent, or the
//!   error of a failed attempt, whose message the reference takes from the core's
//!   `task_failed` event) is delivered to every attempt then running on another agent
//!   whose task it reaches, in plan order: a discovery the tasks locking one of its files,
//!   a solution the tasks of the type its problem type names, an error the tasks of the
//!   type of the task it names.
//! - Deadlines due together fire in the order they were set. The backoff's length is
//!   `base · 2^(failures-1)` capped at the maximum, jittered into its upper half by a hash
//!   that is the core's own business: the reference checks the core's `task_retry` time
//!   lies in that range and then uses it.
//!
//! Heartbeats are not modelled: the model-based test runs without them (agents that crash
//! are found out by their attempts' timeouts, or say goodbye).

use std::collections::BTreeMap;
use std::sync::Arc;
use taskdist::core::{
    AgentIdx, Assignment, CONTEXT_ITEMS, CancelReason, Context, ContextItem, Decision, Delivery,
    Event, EventKind, Input, RelatedWork, Shared, TaskStatus,
};
use taskdist::model::{AgentSpec, Config, Time};
use taskdist::plan::{FileIdx, LockMode, Plan, TaskIdx};

/// Where a task stands, with what it waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Waiting,
    Ready,
    /// Waits until nobody holds this file.
    ForFile(FileIdx),
    /// Waits until this agent has a free slot.
    ForAgent(AgentIdx),
    /// Waits until fewer than `max_agents` agents work.
    ForLimit,
    Backoff,
    Running,
    Completed,
    Failed,
    Skipped,
}

struct Task {
    state: State,
    /// When it last became ready: its place in the queue.
    ready_at: Time,
    attempt: u32,
    failures: u32,
    agent: Option<AgentIdx>,
    pinned: Option<AgentIdx>,
    failed_on: Vec<AgentIdx>,
    /// The running attempt's deadline or the backoff's end, and when that was set.
    timer: (Time, u64),
}

struct Agent {
    spec: AgentSpec,
    up: bool,
    /// Its tasks, in the order they were given to it.
    running: Vec<TaskIdx>,
}

/// The reference scheduler.
pub struct Reference {
    plan: Arc<Plan>,
    config: Config,
    now: Time,
    tasks: Vec<Task>,
    agents: Vec<Agent>,
    ids: BTreeMap<Arc<str>, AgentIdx>,
    timers_set: u64,
    /// The core's `task_retry` times of the current call, in order.
    retries: Vec<(TaskIdx, Time)>,
    /// The core's `task_failed` messages of the current call, in order.
    errors: Vec<(TaskIdx, String)>,
    decisions: Vec<Decision>,
    /// What disagreed with the documented rules on the core's side (backoff range).
    pub complaints: Vec<String>,
}

impl Reference {
    /// A reference for `plan` under `config`; its sources are ready at time 0.
    pub fn new(plan: Arc<Plan>, config: Config) -> Reference {
        let tasks = plan
            .task_indices()
            .map(|_| Task {
                state: State::Waiting,
                ready_at: 0,
                attempt: 0,
                failures: 0,
                agent: None,
                pinned: None,
                failed_on: Vec::new(),
                timer: (0, 0),
            })
            .collect();
        let mut reference = Reference {
            plan,
            config,
            now: 0,
            tasks,
            agents: Vec::new(),
            ids: BTreeMap::new(),
            timers_set: 0,
            retries: Vec::new(),
            errors: Vec::new(),
            decisions: Vec::new(),
            complaints: Vec::new(),
        };
        reference.settle();
        reference
    }

    /// Takes in an input at `now` (with the core's events of the same call, for the
    /// backoff times); returns the decisions.
    pub fn handle_input(
        &mut self,
        now: Time,
        input: &Input,
        core_events: &[Event],
    ) -> Vec<Decision> {
        self.begin(now, core_events);
        match input {
            Input::AgentUp { spec } => self.agent_up(spec),
            Input::AgentDown { agent } => {
                if self.agents.get(agent.ix()).is_some_and(|a| a.up) {
                    self.drop_agent(*agent);
                }
            }
            Input::TaskSucceeded {
                task,
                agent,
                attempt,
                ..
            } => {
                if self.current(*task, *agent, *attempt) {
                    self.release(*task);
                    self.tasks[task.ix()].state = State::Completed;
                }
            }
            Input::TaskFailed {
                task,
                agent,
                attempt,
                ..
            } => {
                if self.current(*task, *agent, *attempt) {
                    self.fail(*task);
                }
            }
            Input::Share { agent, item } => {
                if self.config.enable_context_sharing
                    && self.agents.get(agent.ix()).is_some_and(|a| a.up)
                {
                    self.deliver(*agent, item.clone());
                }
            }
            Input::Heartbeat { .. } | Input::TaskStarted { .. } => {}
            Input::Shutdown => unimplemented!("the model-based test does not shut down"),
            Input::AgentLost { .. } => unimplemented!("the model-based test loses no agent"),
        }
        self.settle();
        self.end()
    }

    /// Fires the deadlines due at `now`; returns the decisions.
    pub fn handle_timeout(&mut self, now: Time, core_events: &[Event]) -> Vec<Decision> {
        self.begin(now, core_events);
        loop {
            let due = (0..self.tasks.len())
                .filter(|&t| matches!(self.tasks[t].state, State::Running | State::Backoff))
                .filter(|&t| self.tasks[t].timer.0 <= now)
                .min_by_key(|&t| self.tasks[t].timer);
            let Some(t) = due.map(|t| TaskIdx(t as u32)) else {
                break;
            };
            if self.tasks[t.ix()].state == State::Running {
                let task = &self.tasks[t.ix()];
                self.decisions.push(Decision::Cancel {
                    task: t,
                    agent: task.agent.expect("running"),
                    attempt: task.attempt,
                    reason: CancelReason::Timeout,
                });
                self.fail(t);
            } else {
                self.make_ready(t);
            }
        }
        self.settle();
        self.end()
    }

    /// The decisions made since the last call (by [`Reference::new`]: none, no agent is up).
    pub fn take_decisions(&mut self) -> Vec<Decision> {
        std::mem::take(&mut self.decisions)
    }

    /// The next deadline.
    pub fn poll_timeout(&self) -> Option<Time> {
        self.tasks
            .iter()
            .filter(|t| matches!(t.state, State::Running | State::Backoff))
            .map(|t| t.timer.0)
            .min()
    }

    /// The task's status in the core's terms.
    pub fn status(&self, t: TaskIdx) -> TaskStatus {
        match self.tasks[t.ix()].state {
            State::Waiting => TaskStatus::Waiting,
            State::Ready => TaskStatus::Ready,
            State::ForFile(_) | State::ForAgent(_) | State::ForLimit => TaskStatus::Blocked,
            State::Backoff => TaskStatus::Backoff,
            State::Running => TaskStatus::Running,
            State::Completed => TaskStatus::Completed,
            State::Failed => TaskStatus::Failed,
            State::Skipped => TaskStatus::Skipped,
        }
    }

    fn begin(&mut self, now: Time, core_events: &[Event]) {
        self.now = now;
        self.retries = core_events
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::TaskRetry {
                    task, not_before, ..
                } => Some((
                    self.plan.task_index(task).expect("a plan task"),
                    *not_before,
                )),
                _ => None,
            })
            .collect();
        self.retries.reverse(); // popped from the back, in order
        self.errors = core_events
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::TaskFailed { task, error, .. } => Some((
                    self.plan.task_index(task).expect("a plan task"),
                    error.clone(),
                )),
                _ => None,
            })
            .collect();
        self.errors.reverse();
    }

    fn end(&mut self) -> Vec<Decision> {
        if !self.retries.is_empty() {
            self.complaints.push(format!(
                "at {} ms the core announced retries the rules do not: {:?}",
                self.now, self.retries
            ));
        }
        std::mem::take(&mut self.decisions)
    }

    fn current(&self, t: TaskIdx, a: AgentIdx, attempt: u32) -> bool {
        self.tasks.get(t.ix()).is_some_and(|task| {
            task.state == State::Running && task.attempt == attempt && task.agent == Some(a)
        })
    }

    fn agent_up(&mut self, spec: &AgentSpec) {
        let a = match self.ids.get(&spec.id) {
            Some(&a) if self.agents[a.ix()].up => return,
            Some(&a) => a,
            None => {
                let a = AgentIdx(self.agents.len() as u32);
                self.ids.insert(spec.id.clone(), a);
                self.agents.push(Agent {
                    spec: spec.clone(),
                    up: false,
                    running: Vec::new(),
                });
                a
            }
        };
        let agent = &mut self.agents[a.ix()];
        agent.spec = spec.clone();
        agent.up = true;
    }

    fn drop_agent(&mut self, a: AgentIdx) {
        self.agents[a.ix()].up = false;
        for t in self.agents[a.ix()].running.clone() {
            self.decisions.push(Decision::Cancel {
                task: t,
                agent: a,
                attempt: self.tasks[t.ix()].attempt,
                reason: CancelReason::AgentLost,
            });
            self.release(t);
            if self.config.enable_auto_reassignment {
                self.make_ready(t);
            } else {
                self.tasks[t.ix()].pinned = Some(a);
                self.tasks[t.ix()].state = State::ForAgent(a);
            }
        }
    }

    fn release(&mut self, t: TaskIdx) {
        let a = self.tasks[t.ix()].agent.take().expect("running");
        self.agents[a.ix()].running.retain(|&x| x != t);
    }

    fn fail(&mut self, t: TaskIdx) {
        let a = self.tasks[t.ix()].agent.expect("running");
        self.release(t);
        if self.config.enable_context_sharing {
            let message = match self.errors.pop() {
                Some((u, message)) if u == t => message,
                other => {
                    self.complaints.push(format!(
                        "at {} ms task {} failed, the core's next task_failed is {other:?}",
                        self.now,
                        self.plan.id(t)
                    ));
                    String::new()
                }
            };
            let item = ContextItem::Error {
                task: Some(self.plan.id(t).to_string()),
                message,
            };
            self.deliver(a, item);
        }
        let task = &mut self.tasks[t.ix()];
        task.failures += 1;
        if !task.failed_on.contains(&a) {
            task.failed_on.push(a);
        }
        if task.failures > self.config.max_retries_per_task {
            task.state = State::Failed;
            return;
        }
        if !self.config.enable_auto_reassignment {
            task.pinned = Some(a);
        }
        task.state = State::Backoff;
        let failures = task.failures;
        let full = 1u64
            .checked_shl(failures - 1)
            .map_or(u64::MAX, |d| self.config.backoff_base_ms.saturating_mul(d))
            .min(self.config.backoff_max_ms);
        let range = self.now + (full - full / 2)..=self.now + full;
        let at = match self.retries.pop() {
            Some((u, at)) if u == t => {
                if !range.contains(&at) {
                    self.complaints.push(format!(
                        "retry {failures} of task {} at {at} ms, outside {range:?}",
                        t.0
                    ));
                }
                at
            }
            other => {
                self.complaints.push(format!(
                    "no task_retry for task {} where the rules retry it (next: {other:?})",
                    t.0
                ));
                *range.end()
            }
        };
        self.timers_set += 1;
        self.tasks[t.ix()].timer = (at, self.timers_set);
    }

    fn make_ready(&mut self, t: TaskIdx) {
        self.tasks[t.ix()].state = State::Ready;
        self.tasks[t.ix()].ready_at = self.now;
    }

    fn has_free_slot(&self, a: AgentIdx) -> bool {
        let agent = &self.agents[a.ix()];
        agent.up && (agent.running.len() as u32) < agent.spec.max_concurrent_tasks
    }

    fn working(&self) -> usize {
        self.agents.iter().filter(|a| !a.running.is_empty()).count()
    }

    fn can_take(&self, a: AgentIdx) -> bool {
        self.has_free_slot(a)
            && (!self.agents[a.ix()].running.is_empty()
                || self.working() < self.config.max_agents as usize)
    }

    fn runs(&self, a: AgentIdx, t: TaskIdx) -> bool {
        let ty = self.plan.task(t).task_type;
        self.agents[a.ix()]
            .spec
            .capabilities
            .as_ref()
            .is_none_or(|caps| caps.contains(&ty))
    }

    fn idle_agents(&self, t: TaskIdx) -> Vec<AgentIdx> {
        let mut idle: Vec<AgentIdx> = (0..self.agents.len() as u32)
            .map(AgentIdx)
            .filter(|&a| self.can_take(a) && self.runs(a, t))
            .collect();
        idle.sort_by(|&x, &y| {
            let (ax, ay) = (&self.agents[x.ix()], &self.agents[y.ix()]);
            ay.spec
                .speed
                .total_cmp(&ax.spec.speed)
                .then(ax.running.len().cmp(&ay.running.len()))
                .then(x.cmp(&y))
        });
        idle
    }

    fn holders(&self, file: FileIdx) -> impl Iterator<Item = (TaskIdx, LockMode)> + '_ {
        self.plan
            .task_indices()
            .filter(|&u| self.tasks[u.ix()].state == State::Running)
            .filter_map(move |u| {
                self.plan
                    .locks(u)
                    .iter()
                    .find(|l| l.file == file)
                    .map(|l| (u, l.mode))
            })
    }

    fn writer_waits(&self, file: FileIdx) -> bool {
        self.plan.task_indices().any(|u| {
            self.tasks[u.ix()].state == State::ForFile(file)
                && self
                    .plan
                    .locks(u)
                    .iter()
                    .any(|l| l.file == file && l.mode == LockMode::Write)
        })
    }

    /// The first of `t`'s files (in file order) it cannot take now.
    fn busy_file(&self, t: TaskIdx) -> Option<FileIdx> {
        if !self.config.enable_file_conflict_prevention {
            return None;
        }
        self.plan
            .locks(t)
            .iter()
            .map(|l| (l.file, l.mode))
            .find_map(|(file, mode)| {
                let busy = match mode {
                    LockMode::Write => self.holders(file).next().is_some(),
                    LockMode::Read => {
                        self.holders(file).any(|(_, m)| m == LockMode::Write)
                            || self.writer_waits(file)
                    }
                };
                busy.then_some(file)
            })
    }

    /// Wakes what waited, skips and readies by the dependency rules, then dispatches.
    fn settle(&mut self) {
        for t in self.plan.task_indices() {
            match self.tasks[t.ix()].state {
                State::ForFile(file) if self.holders(file).next().is_none() => {
                    self.tasks[t.ix()].state = State::Ready;
                }
                State::ForAgent(a) if self.has_free_slot(a) => {
                    self.tasks[t.ix()].state = State::Ready
                }
                State::ForLimit if self.working() < self.config.max_agents as usize => {
                    self.tasks[t.ix()].state = State::Ready;
                }
                _ => {}
            }
        }
        let plan = self.plan.clone();
        let spec_deps = |t: TaskIdx| {
            let spec = plan.task(t);
            let index = |id: &String| plan.task_index(id).expect("validated");
            (
                spec.depends_on.iter().map(index).collect::<Vec<_>>(),
                spec.blocked_by.iter().map(index).collect::<Vec<_>>(),
            )
        };
        loop {
            let mut changed = false;
            for t in plan.task_indices() {
                if self.tasks[t.ix()].state != State::Waiting {
                    continue;
                }
                let (needs, after) = spec_deps(t);
                let state = |u: &TaskIdx| self.tasks[u.ix()].state;
                if needs
                    .iter()
                    .any(|u| matches!(state(u), State::Failed | State::Skipped))
                {
                    self.tasks[t.ix()].state = State::Skipped;
                    changed = true;
                } else if needs.iter().all(|u| state(u) == State::Completed)
                    && after.iter().all(|u| {
                        matches!(state(u), State::Completed | State::Failed | State::Skipped)
                    })
                {
                    self.make_ready(t);
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
        loop {
            let next = plan
                .task_indices()
                .filter(|&t| {
                    self.tasks[t.ix()].state == State::Ready && !self.idle_agents(t).is_empty()
                })
                .min_by_key(|&t| (self.tasks[t.ix()].ready_at, t));
            let Some(t) = next else { break };
            if let Some(p) = self.tasks[t.ix()].pinned {
                if !self.has_free_slot(p) {
                    self.tasks[t.ix()].state = State::ForAgent(p);
                    continue;
                }
                if !self.can_take(p) {
                    self.tasks[t.ix()].state = State::ForLimit;
                    continue;
                }
            }
            if let Some(file) = self.busy_file(t) {
                self.tasks[t.ix()].state = State::ForFile(file);
                continue;
            }
            let agent = match self.tasks[t.ix()].pinned {
                Some(p) => p,
                None => {
                    let idle = self.idle_agents(t);
                    let failed_on = &self.tasks[t.ix()].failed_on;
                    idle.iter()
                        .copied()
                        .find(|a| !failed_on.contains(a))
                        .unwrap_or(idle[0])
                }
            };
            self.assign(t, agent);
        }
    }

    fn assign(&mut self, t: TaskIdx, a: AgentIdx) {
        let timeout = self
            .plan
            .task(t)
            .timeout_ms
            .unwrap_or(self.config.task_timeout_ms);
        self.timers_set += 1;
        let task = &mut self.tasks[t.ix()];
        task.state = State::Running;
        task.attempt += 1;
        task.agent = Some(a);
        task.timer = (self.now + timeout, self.timers_set);
        let (attempt, deadline) = (task.attempt, task.timer.0);
        self.agents[a.ix()].running.push(t);
        let context = Context {
            related_work: self.related_work(t, a),
            ..Context::default()
        };
        self.decisions.push(Decision::Assign(Assignment {
            task: t,
            agent: a,
            attempt,
            deadline,
            context,
        }));
    }

    /// Delivers an item `from` put on the board to the running attempts on other agents
    /// whose tasks it reaches, in plan order.
    fn deliver(&mut self, from: AgentIdx, item: ContextItem) {
        let plan = &self.plan;
        let reaches = |t: TaskIdx| match &item {
            ContextItem::Discovery { files, .. } => plan
                .locks(t)
                .iter()
                .any(|l| files.iter().any(|f| plan.file_index(f) == Some(l.file))),
            ContextItem::Solution { problem_type, .. } => {
                plan.task_type(t).as_str() == problem_type
            }
            ContextItem::Error { task, .. } => task
                .as_deref()
                .and_then(|id| plan.task_index(id))
                .is_some_and(|u| plan.task_type(u) == plan.task_type(t)),
        };
        let reached: Vec<(TaskIdx, AgentIdx, u32)> = plan
            .task_indices()
            .filter_map(|t| {
                let task = &self.tasks[t.ix()];
                let agent = task.agent.filter(|&b| b != from)?;
                (task.state == State::Running && reaches(t)).then_some((t, agent, task.attempt))
            })
            .collect();
        let shared = Arc::new(Shared {
            time: self.now,
            agent: self.agents[from.ix()].spec.id.clone(),
            item,
        });
        for (task, agent, attempt) in reached {
            self.decisions.push(Decision::Deliver(Delivery {
                task,
                agent,
                attempt,
                shared: shared.clone(),
            }));
        }
    }

    /// The other agents' running work on `t`'s files, as an assignment to `a` carries it.
    fn related_work(&self, t: TaskIdx, a: AgentIdx) -> Vec<RelatedWork> {
        if !self.config.enable_context_sharing {
            return Vec::new();
        }
        let mut related = Vec::new();
        for lock in self.plan.locks(t) {
            for (u, _) in self.holders(lock.file) {
                let agent = self.tasks[u.ix()].agent.expect("running");
                if u != t && agent != a {
                    related.push(RelatedWork {
                        task: self.plan.id(u),
                        agent: self.agents[agent.ix()].spec.id.clone(),
                        file: self.plan.files[lock.file.ix()].clone(),
                    });
                }
            }
        }
        related.truncate(CONTEXT_ITEMS);
        related
    }
}
