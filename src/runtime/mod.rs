//! The real runner: a thin tokio adapter that drives the scheduling core with real time
//! and real agents. It turns the core's decisions into work ([`Agent::execute`] on a tokio
//! task per attempt, cancellation tokens for cancels) and what comes back (results,
//! heartbeats, shared context) into inputs, with `now` the milliseconds since the run
//! started. It makes no scheduling decision of its own.
//!
//! ```text
//!   agents' notes ──▶ ┌────────── one step ──────────┐
//!   (started, share,  │ feed the core (handle_input / │    commit to the Journal
//!    done, alive)     │ handle_timeout), drain its    │──▶ (SQLite), then: events
//!   deadlines ──────▶ │ decisions and events          │    to observers, decisions
//!   Ctrl-C ─────────▶ └───────────────────────────────┘    carried out (spawn, cancel)
//! ```
//!
//! Every call into the core goes into the step's [`JournalEntry`] list, and a step is
//! committed before anything it decided is done. Replaying the journal
//! ([`Runner::resume`]) therefore rebuilds the core exactly; the resume then takes the
//! earlier process's agents down (their attempts are requeued, not charged), brings its
//! own agents up, and carries on: only the attempts that were in flight run again. Agents
//! that live on without the runner (remote workers, [`Runner::rejoinable`]) are kept up
//! instead, for one heartbeat timeout: one that joins again in that time gets its attempts
//! back (and whatever the core assigned it meanwhile); one that does not is lost.
//!
//! Time on resume continues from the last journaled time, so core times (the trace, the
//! makespan) count the time the run was being worked on, not the time it lay dead.
//!
//! Ctrl-C (the `stop` token of [`Runner::run`]) feeds the core
//! [`Input::Shutdown`]: dispatching stops, running attempts are cancelled and requeued,
//! the step is committed, and the run ends [`RunStatus::Interrupted`], resumable.
//!
//! The loop is single-threaded in spirit: it runs fine on a current-thread tokio runtime,
//! which is what the CLI uses. Commands spawned by [`CommandAgent`] die with the thread
//! that spawned them (Linux), so do not drive a runner from a short-lived blocking thread.

mod agent;
mod command;
mod error;
mod guard;
mod journal;
mod record;

pub use agent::{Agent, BoxFuture, Inbox, Job, Report};
pub use command::{CommandAgent, CommandSettings};
pub use error::RunError;
pub use journal::{Batch, Call, Journal, JournalEntry, JournalError, RunStatus};

use crate::core::{
    AgentIdx, Decision, Event, EventKind, Input, Progress, Scheduler, Stats, TaskStatus,
};
use crate::drive::{AttemptRecord, Outcome};
use crate::model::{AgentSpec, Config, Time};
use crate::plan::{Plan, TaskIdx};
pub(crate) use agent::Note;
use record::Recorder;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Where the runner hands each event.
type EventSink = Box<dyn FnMut(&Event) + Send>;

/// What a run did.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    /// How it ended.
    pub status: RunStatus,
    /// Every agent the core has seen, by [`AgentIdx`] (earlier processes' first).
    pub agents: Vec<AgentSpec>,
    /// Every attempt, in dispatch order, earlier processes' included.
    pub trace: Vec<AttemptRecord>,
    /// Core time when the run ended (all tasks ended, or it stopped).
    pub makespan: Time,
    /// Time tasks spent parked on file locks before their attempts started.
    pub lock_wait_total: Time,
    /// The core's counters.
    pub stats: Stats,
    /// The core's final totals.
    pub progress: Progress,
    /// Core time at which this process took over, when it resumed a journal.
    pub resumed_at: Option<Time>,
    /// The seed of the core's backoff jitter (`config.jitter_seed`).
    pub seed: u64,
}

/// A real run being set up: the plan, the agents and where to record it. See the module
/// documentation for what [`Runner::run`] does.
pub struct Runner {
    plan: Arc<Plan>,
    config: Config,
    agents: Vec<(AgentSpec, Arc<dyn Agent>)>,
    journal: Option<Box<dyn Journal>>,
    history: Vec<JournalEntry>,
    recorded_attempts: Option<Vec<u32>>,
    run_dir: Option<PathBuf>,
    on_event: Option<EventSink>,
    stop_grace_ms: Time,
    joins: Option<UnboundedReceiver<Joining>>,
    rejoinable: Option<Rejoinable>,
}

/// Which agents of an earlier process may join again and keep their attempts.
type Rejoinable = Box<dyn Fn(&AgentSpec) -> bool + Send>;

/// An agent joining a run that is under way (a remote worker): its spec and the agent.
pub type Joining = (AgentSpec, Arc<dyn Agent>);

impl Runner {
    /// A runner for `plan` under `config`, with no agent yet.
    pub fn new(plan: Arc<Plan>, config: Config) -> Runner {
        Runner {
            plan,
            config,
            agents: Vec::new(),
            journal: None,
            history: Vec::new(),
            recorded_attempts: None,
            run_dir: None,
            on_event: None,
            stop_grace_ms: 5_000,
            joins: None,
            rejoinable: None,
        }
    }

    /// Adds an agent; agents register with the core in the order they are added. Ids must
    /// be unique.
    pub fn agent(mut self, spec: AgentSpec, agent: Arc<dyn Agent>) -> Runner {
        assert!(
            self.agents.iter().all(|(s, _)| s.id != spec.id),
            "agent `{}` added twice",
            spec.id
        );
        self.agents.push((spec, agent));
        self
    }

    /// Agents may join while the run is under way, sent on `joins`: each comes up with
    /// the core (`AgentUp`) and is probed for heartbeats like the others. While the sender
    /// lives, a run with nothing to do waits for agents instead of ending as stalled. An
    /// agent whose id is up already replaces it: a new process under the same id (a
    /// remote worker restarted), so the old one is lost (`AgentLost`: its attempts are
    /// requeued and counted as lost) and the new one comes up.
    pub fn joins(mut self, joins: UnboundedReceiver<Joining>) -> Runner {
        self.joins = Some(joins);
        self
    }

    /// On resume, the earlier process's agents for which `f` holds (and that this process
    /// does not bring up itself) are not taken down but kept for one heartbeat timeout
    /// (only when `heartbeat_timeout` is set): if one joins again (through
    /// [`Runner::joins`]) in that time, its running attempts are executed on it again under
    /// the same attempt numbers, so it can report work it went on with while no runner
    /// listened; if not, the core loses it and requeues its attempts.
    pub fn rejoinable(mut self, f: impl Fn(&AgentSpec) -> bool + Send + 'static) -> Runner {
        self.rejoinable = Some(Box::new(f));
        self
    }

    /// Records every step in `journal` before acting on it.
    pub fn journal(mut self, journal: Box<dyn Journal>) -> Runner {
        self.journal = Some(journal);
        self
    }

    /// Continues a run from its journal: the entries are replayed into a fresh core before
    /// anything runs. `recorded_attempts`, if given, is the latest attempt number on record
    /// for each task (by index): the replay must reach exactly those, or the run refuses
    /// to start ([`RunError::ReplayMismatch`]).
    pub fn resume(
        mut self,
        history: Vec<JournalEntry>,
        recorded_attempts: Option<Vec<u32>>,
    ) -> Runner {
        self.history = history;
        self.recorded_attempts = recorded_attempts;
        self
    }

    /// Gives each attempt a directory under `dir` (see [`attempt_dir`]), kept after the run.
    /// Without one, a command agent's attempt gets a temporary directory, removed when the
    /// attempt ends.
    pub fn run_dir(mut self, dir: PathBuf) -> Runner {
        self.run_dir = Some(dir);
        self
    }

    /// Calls `f` with every event, after the step that produced it is committed.
    pub fn on_event(mut self, f: impl FnMut(&Event) + Send + 'static) -> Runner {
        self.on_event = Some(Box::new(f));
        self
    }

    /// How long to wait, once the run ends, for cancelled attempts to return (default 5 s);
    /// attempts still running then are abandoned.
    pub fn stop_grace_ms(mut self, ms: Time) -> Runner {
        self.stop_grace_ms = ms;
        self
    }

    /// Runs until every task has ended, no progress is possible, or `stop` is cancelled.
    pub async fn run(self, stop: CancellationToken) -> Result<RunOutcome, RunError> {
        let (tx, rx) = unbounded_channel();
        let mut driver = Driver {
            core: Scheduler::new(self.plan.clone(), self.config.clone()),
            recorder: Recorder::new(self.plan.clone()),
            plan: self.plan,
            journal: self.journal,
            journal_closed: false,
            on_event: self.on_event,
            clock: Clock::new(0),
            entries: Vec::new(),
            decisions: Vec::new(),
            events: Vec::new(),
            slots: Vec::new(),
            running: BTreeMap::new(),
            tx,
            run_dir: self.run_dir,
            probes: BTreeMap::new(),
            heartbeat_timeout_ms: self.config.heartbeat_timeout_ms,
            latest: BTreeMap::new(),
            parked: BTreeMap::new(),
        };
        let resumed_at = driver.replay(self.history, self.recorded_attempts)?;
        if resumed_at.is_some()
            && let Some(journal) = &mut driver.journal
        {
            journal.resume().map_err(RunError::Journal)?;
        }
        let rejoinable = self
            .rejoinable
            .filter(|_| self.config.heartbeat_timeout_ms.is_some());
        driver.start(self.agents, resumed_at.is_some(), rejoinable)?;
        driver.spawn_heartbeats();
        let status = driver.drive(rx, self.joins, &stop).await;
        for handle in driver.probes.values() {
            handle.abort();
        }
        // Whatever ended the loop, no attempt is left running behind the caller's back.
        driver
            .wind_down(Duration::from_millis(self.stop_grace_ms))
            .await;
        let status = status?;
        let progress = driver.core.progress();
        if let Some(journal) = &mut driver.journal {
            journal
                .finish(&status, &progress)
                .map_err(RunError::Journal)?;
        }
        let core = &driver.core;
        Ok(RunOutcome {
            status,
            agents: (0..core.agent_count())
                .map(|a| core.agent(AgentIdx(a as u32)).clone())
                .collect(),
            makespan: core.now(),
            lock_wait_total: driver.recorder.lock_wait_total,
            stats: core.stats(),
            progress,
            trace: driver.recorder.trace,
            resumed_at,
            seed: self.config.jitter_seed,
        })
    }
}

/// The directory reserved for one attempt under a run directory:
/// `attempts/<index>-<task id, made file-name safe>/<attempt>`.
pub fn attempt_dir(run_dir: &Path, plan: &Plan, task: TaskIdx, attempt: u32) -> PathBuf {
    let id: String = plan
        .task(task)
        .id
        .chars()
        .take(64)
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    run_dir
        .join("attempts")
        .join(format!("{}-{id}", task.0))
        .join(attempt.to_string())
}

/// Core time: milliseconds since the run started, continuing from `offset` on resume, and
/// never going backwards.
struct Clock {
    origin: Instant,
    offset: Time,
    last: Time,
}

impl Clock {
    fn new(offset: Time) -> Clock {
        Clock {
            origin: Instant::now(),
            offset,
            last: offset,
        }
    }

    fn now(&mut self) -> Time {
        let elapsed = self.origin.elapsed().as_millis() as Time;
        self.last = self.last.max(self.offset + elapsed);
        self.last
    }

    /// The instant at which the clock reads `at`.
    fn instant(&self, at: Time) -> Instant {
        self.origin + Duration::from_millis(at.saturating_sub(self.offset))
    }
}

/// One of this process's agents.
struct Slot {
    spec: AgentSpec,
    agent: Arc<dyn Agent>,
}

/// An attempt running on a tokio task.
struct Running {
    cancel: CancellationToken,
    handle: JoinHandle<()>,
    /// Where context delivered to the attempt goes (its [`Job::inbox`]).
    inbox: UnboundedSender<Arc<crate::core::Shared>>,
}

struct Driver {
    core: Scheduler,
    plan: Arc<Plan>,
    recorder: Recorder,
    journal: Option<Box<dyn Journal>>,
    /// Set once a shutdown is committed: what follows is not part of the replayable run.
    journal_closed: bool,
    on_event: Option<EventSink>,
    clock: Clock,
    entries: Vec<JournalEntry>,
    decisions: Vec<Decision>,
    events: Vec<Event>,
    /// This process's agents, by [`AgentIdx`].
    slots: Vec<Option<Slot>>,
    running: BTreeMap<(TaskIdx, u32), Running>,
    tx: UnboundedSender<Note>,
    run_dir: Option<PathBuf>,
    /// The heartbeat probes of this process's agents, one per agent.
    probes: BTreeMap<AgentIdx, JoinHandle<()>>,
    heartbeat_timeout_ms: Option<Time>,
    /// The latest assignment of each task seen in the replay, to hand a rejoining agent.
    latest: BTreeMap<TaskIdx, crate::core::Assignment>,
    /// Assignments to kept agents of an earlier process that have not joined again yet.
    parked: BTreeMap<AgentIdx, Vec<crate::core::Assignment>>,
}

impl Driver {
    /// Feeds the journal of earlier processes to the core; returns the time it reached.
    fn replay(
        &mut self,
        history: Vec<JournalEntry>,
        recorded: Option<Vec<u32>>,
    ) -> Result<Option<Time>, RunError> {
        if history.is_empty() {
            return Ok(None);
        }
        let mut last = 0;
        for (i, entry) in history.into_iter().enumerate() {
            check_entry(i, &entry, last)?;
            last = entry.now;
            match entry.call {
                Call::Input {
                    input: Input::Shutdown,
                } => self.recorder.close_all(entry.now, Outcome::Cancelled),
                Call::Input { input } => self.core.handle_input(entry.now, input),
                Call::Timeout => self.core.handle_timeout(entry.now),
            }
            self.drain(entry.now);
            for decision in self.decisions.drain(..) {
                if let Decision::Assign(a) = decision {
                    self.latest.insert(a.task, a);
                }
            }
            self.events.clear();
        }
        if let Some(recorded) = recorded {
            for t in self.plan.task_indices() {
                let replayed = self.core.attempt(t);
                let on_record = recorded.get(t.ix()).copied().unwrap_or(0);
                if replayed != on_record {
                    return Err(RunError::ReplayMismatch {
                        task: self.plan.task(t).id.to_string(),
                        index: t,
                        replayed,
                        recorded: on_record,
                    });
                }
            }
        }
        self.clock = Clock::new(last);
        Ok(Some(last))
    }

    /// Takes an earlier process's agents down (or keeps the `rejoinable` ones, their
    /// attempts parked until they join) and brings this process's agents up.
    fn start(
        &mut self,
        agents: Vec<(AgentSpec, Arc<dyn Agent>)>,
        resumed: bool,
        rejoinable: Option<Rejoinable>,
    ) -> Result<(), RunError> {
        let now = self.clock.now();
        if resumed {
            // Idle agents go first, so the attempts requeued from the busy ones find no
            // old agent free to take them (unless one runs several tasks at once; such an
            // assignment is dropped unstarted by `commit`).
            let mut busy = BTreeSet::new();
            for t in self.plan.task_indices() {
                busy.extend(self.core.running_on(t));
            }
            let up = (0..self.core.agent_count() as u32)
                .map(AgentIdx)
                .filter(|&a| self.core.agent_is_up(a));
            let (busy, idle): (Vec<AgentIdx>, Vec<AgentIdx>) = up.partition(|a| busy.contains(a));
            let latest = std::mem::take(&mut self.latest);
            for agent in idle.into_iter().chain(busy) {
                let spec = self.core.agent(agent);
                let keep = rejoinable.as_ref().is_some_and(|f| f(spec))
                    && !agents.iter().any(|(s, _)| s.id == spec.id);
                if !keep {
                    self.call(now, Input::AgentDown { agent });
                    continue;
                }
                // Its heartbeat deadline counts from now: that long to join again.
                self.call(now, Input::Heartbeat { agent });
                let parked: Vec<_> = self
                    .plan
                    .task_indices()
                    .filter(|&t| self.core.running_on(t) == Some(agent))
                    .filter_map(|t| latest.get(&t))
                    .filter(|a| a.agent == agent && a.attempt == self.core.attempt(a.task))
                    .cloned()
                    .collect();
                self.parked.insert(agent, parked);
            }
        }
        let mut slots = Vec::new();
        for (spec, agent) in agents {
            self.call(now, Input::AgentUp { spec: spec.clone() });
            let a = self
                .core
                .agent_index(&spec.id)
                .expect("an agent that came up is known");
            if slots.len() <= a.ix() {
                slots.resize_with(a.ix() + 1, || None);
            }
            slots[a.ix()] = Some(Slot { spec, agent });
        }
        self.slots = slots;
        self.commit()
    }

    fn spawn_heartbeats(&mut self) {
        for a in 0..self.slots.len() {
            self.spawn_probe(AgentIdx(a as u32));
        }
    }

    /// Asks the agent in slot `a` whether it is alive every third of the heartbeat timeout.
    fn spawn_probe(&mut self, a: AgentIdx) {
        let (Some(timeout_ms), Some(Some(slot))) =
            (self.heartbeat_timeout_ms, self.slots.get(a.ix()))
        else {
            return;
        };
        let every = Duration::from_millis((timeout_ms / 3).max(1));
        {
            let agent = slot.agent.clone();
            let tx = self.tx.clone();
            let probe = tokio::spawn(async move {
                let mut ticks = tokio::time::interval(every);
                ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                ticks.tick().await; // the first tick is immediate; AgentUp was a heartbeat
                loop {
                    ticks.tick().await;
                    let alive = tokio::time::timeout(every, agent.heartbeat())
                        .await
                        .unwrap_or(false);
                    if tx.send(Note::Alive { agent: a, alive }).is_err() {
                        return;
                    }
                }
            });
            // An agent replaced by a new one under its id is probed through the new one.
            if let Some(old) = self.probes.insert(a, probe) {
                old.abort();
            }
        }
    }

    /// Brings up an agent that joined mid-run, replacing (losing) one up under its id; an
    /// earlier process's agent kept for rejoining gets its parked attempts.
    fn join(&mut self, spec: AgentSpec, agent: Arc<dyn Agent>) {
        if let Some(a) = self.core.agent_index(&spec.id)
            && let Some(parked) = self.parked.remove(&a)
            && self.core.agent_is_up(a)
        {
            let now = self.clock.now();
            self.call(now, Input::Heartbeat { agent: a });
            if self.slots.len() <= a.ix() {
                self.slots.resize_with(a.ix() + 1, || None);
            }
            self.slots[a.ix()] = Some(Slot { spec, agent });
            self.spawn_probe(a);
            for assignment in parked {
                if self.core.running_on(assignment.task) == Some(a)
                    && self.core.attempt(assignment.task) == assignment.attempt
                {
                    self.carry_out(Decision::Assign(assignment));
                }
            }
            return;
        }
        let now = self.clock.now();
        if let Some(a) = self.core.agent_index(&spec.id)
            && self.core.agent_is_up(a)
        {
            // Joining again while up: a new process under the same id (a remote worker
            // restarted). The old one's attempts are lost with it, then the new one comes up.
            self.call(now, Input::AgentLost { agent: a });
        } else if let Some(a) = self.core.agent_index(&spec.id)
            && self.slots.get(a.ix()).is_some_and(Option::is_some)
        {
            return;
        }
        self.call(now, Input::AgentUp { spec: spec.clone() });
        let a = self
            .core
            .agent_index(&spec.id)
            .expect("an agent that came up is known");
        if self.slots.len() <= a.ix() {
            self.slots.resize_with(a.ix() + 1, || None);
        }
        self.slots[a.ix()] = Some(Slot { spec, agent });
        self.spawn_probe(a);
    }

    /// The loop: wait for a note, a deadline or the stop signal; feed the core; commit;
    /// carry out the decisions.
    async fn drive(
        &mut self,
        mut rx: UnboundedReceiver<Note>,
        mut joins: Option<UnboundedReceiver<Joining>>,
        stop: &CancellationToken,
    ) -> Result<RunStatus, RunError> {
        loop {
            if self.core.is_finished() {
                let p = self.core.progress();
                return Ok(if p.completed_tasks == p.total_tasks {
                    RunStatus::Completed
                } else {
                    RunStatus::Failed
                });
            }
            if self.core.is_stalled() && self.all_agents_up() && joins.is_none() {
                return Ok(RunStatus::Stalled {
                    reason: self.stall_reason(),
                });
            }
            let far = self.clock.instant(self.clock.last) + Duration::from_secs(86_400);
            let deadline = self
                .core
                .poll_timeout()
                .map_or(far, |at| self.clock.instant(at));
            tokio::select! {
                biased;
                () = stop.cancelled() => {
                    // Results already in (an attempt whose process has just exited gets to
                    // report after one yield) are kept rather than thrown away and re-run;
                    // what they would start is cancelled in the same step, so never starts.
                    tokio::task::yield_now().await;
                    while let Ok(note) = rx.try_recv() {
                        self.note(note);
                    }
                    let now = self.clock.now();
                    self.call(now, Input::Shutdown);
                    self.commit()?;
                    self.journal_closed = true;
                    return Ok(RunStatus::Interrupted);
                }
                note = rx.recv() => {
                    let note = note.expect("the driver holds a sender");
                    self.note(note);
                    while let Ok(note) = rx.try_recv() {
                        self.note(note);
                    }
                }
                joining = async { joins.as_mut().expect("guarded").recv().await }, if joins.is_some() => {
                    match joining {
                        Some((spec, agent)) => self.join(spec, agent),
                        None => joins = None,
                    }
                }
                () = tokio::time::sleep_until(deadline) => {}
            }
            let now = self.clock.now();
            if self.core.poll_timeout().is_some_and(|at| at <= now) {
                self.call(now, Call::Timeout);
            }
            self.commit()?;
        }
    }

    /// Turns a note from an agent, an attempt or a heartbeat probe into core input.
    fn note(&mut self, note: Note) {
        let now = self.clock.now();
        match note {
            Note::Started {
                task,
                agent,
                attempt,
            } => self.call(
                now,
                Input::TaskStarted {
                    task,
                    agent,
                    attempt,
                },
            ),
            Note::Share { agent, item } => self.call(now, Input::Share { agent, item }),
            Note::Done {
                task,
                agent,
                attempt,
                report,
            } => {
                self.running.remove(&(task, attempt));
                let input = match report {
                    Report::Succeeded { result } => Input::TaskSucceeded {
                        task,
                        agent,
                        attempt,
                        result,
                    },
                    Report::Failed { error } => Input::TaskFailed {
                        task,
                        agent,
                        attempt,
                        error,
                    },
                };
                self.call(now, input);
            }
            Note::Alive { agent, alive } => {
                if !alive {
                    return; // silence: the core's heartbeat deadline does the rest
                }
                if self.core.agent_is_up(agent) {
                    self.call(now, Input::Heartbeat { agent });
                } else if let Some(Some(slot)) = self.slots.get(agent.ix()) {
                    // It was lost and answers again: it rejoins.
                    let spec = slot.spec.clone();
                    self.call(now, Input::AgentUp { spec });
                }
            }
        }
    }

    fn call(&mut self, now: Time, input: impl Into<Call>) {
        let call = input.into();
        match &call {
            Call::Input { input } => self.core.handle_input(now, input.clone()),
            Call::Timeout => self.core.handle_timeout(now),
        }
        self.entries.push(JournalEntry { now, call });
        self.drain(now);
    }

    fn drain(&mut self, now: Time) {
        while let Some(decision) = self.core.poll_decision() {
            self.recorder.decision(now, &decision);
            self.decisions.push(decision);
        }
        while let Some(event) = self.core.poll_event() {
            self.recorder.event(&event);
            self.events.push(event);
        }
    }

    /// Makes the step durable, then lets it have its effects.
    fn commit(&mut self) -> Result<(), RunError> {
        if self.entries.is_empty() {
            debug_assert!(self.decisions.is_empty() && self.events.is_empty());
            return Ok(());
        }
        if let Some(journal) = &mut self.journal
            && !self.journal_closed
        {
            let progress = self.core.progress();
            let statuses = touched(&self.core, &self.plan, &self.events);
            journal
                .commit(Batch {
                    entries: &self.entries,
                    decisions: &self.decisions,
                    events: &self.events,
                    statuses: &statuses,
                    progress: &progress,
                })
                .map_err(RunError::Journal)?;
        }
        self.entries.clear();
        if let Some(on_event) = &mut self.on_event {
            for event in &self.events {
                on_event(event);
            }
        }
        self.events.clear();
        // An attempt assigned and cancelled within one step never needs to start.
        let decisions = std::mem::take(&mut self.decisions);
        let cancelled: BTreeSet<(TaskIdx, u32)> = decisions
            .iter()
            .filter_map(|d| match d {
                Decision::Cancel { task, attempt, .. } => Some((*task, *attempt)),
                Decision::Assign(_) | Decision::Deliver(_) => None,
            })
            .collect();
        for decision in decisions {
            if let Decision::Assign(a) = &decision
                && cancelled.contains(&(a.task, a.attempt))
            {
                continue;
            }
            self.carry_out(decision);
        }
        Ok(())
    }

    fn carry_out(&mut self, decision: Decision) {
        match decision {
            Decision::Assign(assignment) => {
                if let Some(parked) = self.parked.get_mut(&assignment.agent) {
                    // A kept agent of an earlier process that has not joined again yet.
                    parked.push(assignment);
                    return;
                }
                let slot = self.slots[assignment.agent.ix()]
                    .as_ref()
                    .expect("the core assigns only to agents that are up: this process's");
                let (task, attempt) = (assignment.task, assignment.attempt);
                let (inbox, inbox_rx) = unbounded_channel();
                let job = Job {
                    plan: self.plan.clone(),
                    task,
                    agent: assignment.agent,
                    agent_id: slot.spec.id.clone(),
                    attempt,
                    timeout_ms: assignment.deadline.saturating_sub(self.core.now()),
                    context: assignment.context,
                    dir: self
                        .run_dir
                        .as_ref()
                        .map(|dir| attempt_dir(dir, &self.plan, task, attempt)),
                    inbox: Inbox(inbox_rx),
                    notes: self.tx.clone(),
                };
                let cancel = CancellationToken::new();
                let token = cancel.clone();
                let agent = slot.agent.clone();
                let tx = self.tx.clone();
                let a = assignment.agent;
                let handle = tokio::spawn(async move {
                    let report = agent.execute(job, token).await;
                    let _ = tx.send(Note::Done {
                        task,
                        agent: a,
                        attempt,
                        report,
                    });
                });
                self.running.insert(
                    (task, attempt),
                    Running {
                        cancel,
                        handle,
                        inbox,
                    },
                );
            }
            Decision::Cancel { task, attempt, .. } => {
                if let Some(running) = self.running.get(&(task, attempt)) {
                    running.cancel.cancel();
                }
                for parked in self.parked.values_mut() {
                    parked.retain(|a| (a.task, a.attempt) != (task, attempt));
                }
            }
            Decision::Deliver(delivery) => {
                // An attempt that has reported already is gone from `running`; one whose
                // agent stopped reading its inbox just drops the item.
                if let Some(running) = self.running.get(&(delivery.task, delivery.attempt)) {
                    let _ = running.inbox.send(delivery.shared);
                }
            }
        }
    }

    fn all_agents_up(&self) -> bool {
        self.slots
            .iter()
            .enumerate()
            .all(|(a, slot)| slot.is_none() || self.core.agent_is_up(AgentIdx(a as u32)))
    }

    fn stall_reason(&self) -> String {
        let stuck = self
            .plan
            .task_indices()
            .find(|&t| !self.core.status(t).is_terminal());
        match stuck {
            Some(t) => format!(
                "no progress possible: task `{}` is {:?} and nothing is running",
                self.plan.task(t).id,
                self.core.status(t)
            ),
            None => "no progress possible".to_string(),
        }
    }

    /// Cancels whatever still runs and waits up to `grace` for it to return.
    async fn wind_down(&mut self, grace: Duration) {
        let running = std::mem::take(&mut self.running);
        for r in running.values() {
            r.cancel.cancel();
        }
        let deadline = Instant::now() + grace;
        for (_, r) in running {
            let abort = r.handle.abort_handle();
            if tokio::time::timeout_at(deadline, r.handle).await.is_err() {
                abort.abort();
            }
        }
    }
}

/// The tasks whose status a step may have changed, with their status now: those its
/// events name, and the dependents of those that ended (they may have become ready or been
/// skipped without an event of their own).
fn touched(core: &Scheduler, plan: &Plan, events: &[Event]) -> Vec<(TaskIdx, TaskStatus)> {
    let mut tasks = BTreeSet::new();
    for event in events {
        let id = match &event.kind {
            EventKind::TaskExecute { task, .. }
            | EventKind::TaskStart { task, .. }
            | EventKind::TaskComplete { task, .. }
            | EventKind::TaskFailed { task, .. }
            | EventKind::TaskRetry { task, .. }
            | EventKind::TaskTimeout { task, .. }
            | EventKind::TaskRequeued { task, .. }
            | EventKind::TaskBlocked { task, .. }
            | EventKind::TaskSkipped { task, .. } => task,
            _ => continue,
        };
        let t = plan.task_index(id).expect("events name plan tasks");
        tasks.insert(t);
        if core.status(t).is_terminal() {
            tasks.extend(plan.succs(t).iter().map(|e| e.to));
        }
    }
    tasks.into_iter().map(|t| (t, core.status(t))).collect()
}

impl From<Input> for Call {
    fn from(input: Input) -> Call {
        Call::Input { input }
    }
}

/// Rejects a journal entry the core would choke on: time going backwards, or an agent the
/// core cannot accept.
fn check_entry(index: usize, entry: &JournalEntry, last: Time) -> Result<(), RunError> {
    let problem = if entry.now < last {
        Some(format!("time goes back from {last} to {}", entry.now))
    } else if let Call::Input {
        input: Input::AgentUp { spec },
    } = &entry.call
        && !(spec.speed.is_finite() && spec.speed > 0.0)
    {
        Some(format!("agent `{}` has speed {}", spec.id, spec.speed))
    } else {
        None
    };
    match problem {
        Some(reason) => Err(RunError::CorruptJournal {
            entry: index + 1,
            reason,
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests;
