//! The scheduling core: a pure state machine that decides which agent runs which task and
//! when. It does no IO, reads no clock and draws no random numbers: drivers pass the time
//! in, feed what happened back as [`Input`]s, and drain what to do as [`Decision`]s and
//! what happened as [`Event`]s. The same inputs in the same order give the same decisions,
//! so one core serves the simulator, the real runner and the property tests.
//!
//! # Driving it
//!
//! ```text
//! loop {
//!     feed inputs:      handle_input(now, input)      (agents up/down, results, heartbeats, shares)
//!     fire deadlines:   handle_timeout(now)           when now >= poll_timeout()
//!     drain, in order:  poll_decision() until None    (Assign / Cancel)
//!                       poll_event() until None    (or drain_events(|event| ...))
//!     wait until the next input or poll_timeout()
//! }
//! ```
//!
//! # Rules it keeps
//!
//! - A task becomes ready when every `depends_on` task succeeded and every `blocked_by`
//!   task ended. A task that fails for good makes its `depends_on` dependents skipped.
//! - Ready tasks are ordered by the [`Policy`]; `layered` also holds each layer back until
//!   the one before it has ended.
//! - A task takes all its file locks at once or none; a task whose locks are busy is parked
//!   on the file and the agent takes other work; waiting writers go before new readers.
//! - Capabilities are requirements; no agent runs more than `max_concurrent_tasks`; at most
//!   `max_agents` agents hold work at once (an idle agent waits while that many are busy).
//! - A failed or timed-out attempt is retried after an exponential backoff with
//!   deterministic jitter, on an agent that has not failed the task when one is free, until
//!   `max_retries_per_task` retries are spent. The attempts of an agent that leaves or stops
//!   heartbeating are requeued without charge. Results name their attempt; stale ones are
//!   ignored.
//!
//! # Cost
//!
//! Each input, deadline and decision costs O(log n) in the number of tasks, plus O(k log n)
//! for k tasks it makes ready, skips or wakes from a released lock; no operation scans the
//! plan. Ready tasks live in one heap per task type; agents with a free slot live in
//! ordered sets per capability class (agents that run the same types), those already
//! working and those with nothing to do apart for the `max_agents` limit, with a bit per
//! class marking the non-empty sets; so picking the next assignment looks at the heads of
//! the non-empty ready queues, and an agent taking or ending an attempt updates one set,
//! not one per type it runs. The longest remaining
//! path (for the progress estimate) is a cursor over the plan's tasks by bottom level.

mod agents;
mod context;
mod dispatch;
mod events;
mod follow;
mod idle;
mod io;
mod locks;
mod outcomes;
mod sharing;
mod timers;

pub use context::{
    BOARD_CAPACITY, CONTEXT_ITEMS, Context, ContextItem, Items, RelatedWork, Shared,
};
pub use events::{BlockReason, Event, EventKind, Progress};
pub use follow::DEVIATION_PERCENT;
pub use io::{AgentIdx, Assignment, CancelReason, Decision, Delivery, Input};

use crate::model::{AgentSpec, Config, Policy, TaskType, Time, count};
use crate::plan::{Plan, TaskIdx};
use context::{Audience, Board};
use idle::IdleSet;
use locks::{Conflict, LockTable};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, VecDeque};
use std::sync::Arc;
use timers::{Timer, Timers};

/// Where a task stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TaskStatus {
    /// Some dependency has not finished.
    Waiting,
    /// Ready and in the queue.
    Ready,
    /// Ready but held back: parked on a lock, behind the layer barrier, or waiting for the
    /// one agent it stays with.
    Blocked,
    /// Failed, waiting out its backoff before the retry.
    Backoff,
    /// An attempt is running.
    Running,
    /// Succeeded.
    Completed,
    /// Failed for good (retries spent).
    Failed,
    /// Will not run: something it needs did not succeed.
    Skipped,
}

impl TaskStatus {
    const COUNT: usize = 8;

    /// Whether the task has ended.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            TaskStatus::Completed | TaskStatus::Failed | TaskStatus::Skipped
        )
    }
}

/// Counters of what the core did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Attempts dispatched.
    pub attempts: u64,
    /// Failed attempts that were retried.
    pub retries: u64,
    /// Attempts taken back from a lost or departed agent and requeued.
    pub reassignments: u64,
    /// Attempts that timed out.
    pub timeouts: u64,
    /// Inputs ignored as stale or unknown.
    pub ignored_inputs: u64,
}

const NO_AGENT: u32 = u32::MAX;

/// Where a task stands and how many of its dependencies have yet to finish: the part of a
/// task's state that a dependency ending reads and writes. Kept apart from [`TaskState`]
/// in an array of 8-byte entries: each task end updates the entries of its successors,
/// scattered over the plan, and a dense array keeps far more of them in cache than the
/// full states would (a million tasks: 8 MB instead of 56 MB).
#[derive(Clone, Copy)]
struct Progression {
    status: TaskStatus,
    /// Dependencies that have not yet finished as this task needs.
    unmet: u32,
}

/// The rest of a task's state.
struct TaskState {
    /// Charged failures.
    failures: u32,
    /// Number of the latest attempt dispatched (0: none yet).
    attempt: u32,
    /// The agent running the current attempt.
    agent: u32,
    /// With auto-reassignment off: the agent this task stays with.
    pinned: u32,
    started: Time,
    /// When it last became ready: the `fifo` order (ties in plan order).
    ready_at: Time,
    /// Attempts lost with their agent (not charged as failures).
    lost: u32,
    /// 1 + the index in the scheduler's `failed_on` lists of the agents whose attempts of
    /// this task failed; 0 while none has. (Most tasks never fail: with the lists apart, a
    /// task's state is plain data, 40 bytes, and dropping a million of them frees one
    /// array instead of visiting every state for its list.)
    failed_on: u32,
}

struct AgentState {
    spec: AgentSpec,
    up: bool,
    /// Faster agents first: `u64::MAX - speed.to_bits()` (positive floats order as bits).
    rank: u64,
    running: Vec<TaskIdx>,
    /// Index of its [`AgentClass`].
    class: usize,
    /// In which of its class's idle sets it is listed: `Some(true)` working, `Some(false)`
    /// empty, `None` neither.
    listed: Option<bool>,
    heartbeat_deadline: Time,
    heartbeat_armed: bool,
    /// Tasks that stay with this agent and wait for a free slot.
    waiting: Vec<TaskIdx>,
}

/// A ready task's place in its queue; smaller runs first, the task index breaks ties.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct ReadyKey(u64, u64, TaskIdx);

/// An idle agent's place: faster first, then less loaded, then by index.
type IdleKey = (u64, u32, u32);

/// The agents that run the same set of task types. Their idle sets are shared, so an
/// agent's slot changing costs one set update whatever the number of types it runs; most
/// plans have one or two classes.
struct AgentClass {
    /// Bit `ty.index()` is set for each type the class runs.
    mask: u8,
    /// Members with a free slot that already run something.
    working: IdleSet,
    /// Members that run nothing: usable while fewer than `max_agents` agents are busy.
    empty: IdleSet,
}

/// The capability mask of an agent: bit `ty.index()` for each type it runs.
fn capability_mask(spec: &AgentSpec) -> u8 {
    TaskType::ALL
        .iter()
        .filter(|ty| spec.can_run(**ty))
        .fold(0, |mask, ty| mask | 1 << ty.index())
}

#[derive(Default, Clone, Copy)]
struct LayerState {
    remaining: u32,
    completed: u32,
    failed: u32,
    skipped: u32,
    started: bool,
}

/// The scheduling core. See the module documentation for how to drive it.
pub struct Scheduler {
    plan: Arc<Plan>,
    config: Config,
    now: Time,
    tasks: Vec<TaskState>,
    progression: Vec<Progression>,
    /// For each task that failed, the agents its attempts failed on (see `TaskState`).
    failed_on: Vec<Vec<AgentIdx>>,
    counts: [usize; TaskStatus::COUNT],
    agents: Vec<AgentState>,
    agent_ids: BTreeMap<Arc<str>, AgentIdx>,
    up_agents: usize,
    /// Agents running at least one attempt; at most `max_agents`.
    busy_agents: usize,
    /// Up agents able to run each type.
    capable: [u32; 7],
    /// Ready tasks per type, smallest key on top. Only the head is ever taken, so a heap
    /// serves: one contiguous array per type, no node allocations.
    ready: [BinaryHeap<Reverse<ReadyKey>>; 7],
    /// Bit `ty` is set while `ready[ty]` is not empty: dispatch looks at those types only.
    ready_types: u8,
    /// Agents by capability class, with their idle sets.
    classes: Vec<AgentClass>,
    /// The classes that run each type: bit `c` of `type_classes[ty]` is set when class `c`
    /// runs type `ty`.
    type_classes: [u128; 7],
    /// Bit `c` is set while class `c` has members with a free slot that already run
    /// something. (A class is a set of types: at most 2^7 = 128 classes.)
    working_classes: u128,
    /// Bit `c` is set while class `c` has members that run nothing.
    empty_classes: u128,
    locks: LockTable,
    timers: Timers,
    board: Board,
    layers: Vec<LayerState>,
    /// Lowest layer with unfinished tasks; `layered` dispatches no higher.
    open_layer: u32,
    held: Vec<Vec<TaskIdx>>,
    /// Position in the plan's tasks by bottom level (longest first) of the first task that
    /// has not ended: the longest remaining path, for the time estimate.
    longest_open: usize,
    remaining_work_ms: Time,
    stats: Stats,
    terminal_reported: usize,
    complete_reported: bool,
    stall_reported: bool,
    shutting_down: bool,
    /// Whether items posted on the board are delivered to running attempts.
    live_context: bool,
    /// With live context on, the running tasks of each type: where an error or a solution
    /// posted for a type finds the attempts it reaches.
    running_by_type: [BTreeSet<TaskIdx>; 7],
    woken: Vec<TaskIdx>,
    /// Tasks that stay with an idle agent which may not start work while `max_agents`
    /// others are busy; woken when one of those frees its place.
    limit_waiters: Vec<TaskIdx>,
    decisions: VecDeque<Decision>,
    events: VecDeque<Event>,
    /// Under `optimized` with a schedule: the schedule being followed (see `follow`).
    follow: Option<Box<follow::Follow>>,
}

impl Scheduler {
    /// A scheduler for a validated plan. No agent is registered yet: drivers send
    /// [`Input::AgentUp`] for each. The plan's tasks are announced (`tasks_added`) and its
    /// sources made ready at time 0.
    pub fn new(plan: Arc<Plan>, config: Config) -> Scheduler {
        let n = plan.len();
        let mut layers = vec![LayerState::default(); plan.layer_sizes().len()];
        let tasks = plan
            .task_indices()
            .map(|t| {
                layers[plan.layer(t) as usize].remaining += 1;
                TaskState {
                    failures: 0,
                    lost: 0,
                    attempt: 0,
                    agent: NO_AGENT,
                    pinned: NO_AGENT,
                    started: 0,
                    ready_at: 0,
                    failed_on: 0,
                }
            })
            .collect();
        let progression = plan
            .task_indices()
            .map(|t| Progression {
                status: TaskStatus::Waiting,
                unmet: plan.preds(t).len() as u32,
            })
            .collect();
        let mut counts = [0; TaskStatus::COUNT];
        counts[TaskStatus::Waiting as usize] = n;
        let follow = match (&config.policy, &config.schedule) {
            (Policy::Optimized, Some(schedule)) => {
                Some(Box::new(follow::Follow::new(&plan, schedule)))
            }
            _ => None,
        };
        let mut scheduler = Scheduler {
            follow,
            locks: LockTable::new(plan.files.len(), config.enable_file_conflict_prevention),
            held: vec![Vec::new(); layers.len()],
            remaining_work_ms: plan.total_work_ms(),
            plan,
            config,
            now: 0,
            tasks,
            progression,
            failed_on: Vec::new(),
            counts,
            agents: Vec::new(),
            agent_ids: BTreeMap::new(),
            up_agents: 0,
            busy_agents: 0,
            capable: [0; 7],
            ready: Default::default(),
            ready_types: 0,
            classes: Vec::new(),
            type_classes: [0; 7],
            working_classes: 0,
            empty_classes: 0,
            timers: Timers::default(),
            board: Board::default(),
            layers,
            open_layer: 0,
            longest_open: 0,
            stats: Stats::default(),
            terminal_reported: 0,
            complete_reported: false,
            stall_reported: false,
            shutting_down: false,
            live_context: true,
            running_by_type: Default::default(),
            woken: Vec::new(),
            limit_waiters: Vec::new(),
            decisions: VecDeque::new(),
            events: VecDeque::new(),
        };
        let ids = scheduler.plan.ids().clone();
        scheduler.emit(EventKind::TasksAdded {
            count: n,
            tasks: ids,
        });
        for t in scheduler.plan.clone().task_indices() {
            if scheduler.progression[t.ix()].unmet == 0 {
                scheduler.become_ready(t);
            }
        }
        scheduler
    }

    /// Whether items posted on the board while attempts run are delivered to them
    /// ([`Decision::Deliver`]); on unless switched off. A driver whose agents cannot use
    /// an item mid-attempt (the simulator, which draws an attempt's outcome when it
    /// starts) switches it off rather than pay for deliveries it drops: an item may reach
    /// every running attempt, and while it is on the core keeps an index of running tasks
    /// by type (O(log n) per attempt start and end). It changes no scheduling state, only
    /// which decisions are output, so a journal replays the same either way.
    pub fn set_live_context(&mut self, on: bool) {
        // The index of running tasks by type is kept only while it is on: dropped when it
        // goes off, rebuilt from the agents' running attempts when it comes back on.
        if on && !self.live_context {
            for agent in &self.agents {
                for &t in &agent.running {
                    self.running_by_type[self.plan.task_type(t).index()].insert(t);
                }
            }
        } else if !on {
            self.running_by_type = Default::default();
        }
        self.live_context = on;
    }

    // ----- getters -------------------------------------------------------------------

    /// The plan being run.
    pub fn plan(&self) -> &Arc<Plan> {
        &self.plan
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The latest time the core was given.
    pub fn now(&self) -> Time {
        self.now
    }

    /// Where a task stands.
    pub fn status(&self, t: TaskIdx) -> TaskStatus {
        self.progression[t.ix()].status
    }

    /// The number of the task's latest attempt (0 if never dispatched).
    pub fn attempt(&self, t: TaskIdx) -> u32 {
        self.tasks[t.ix()].attempt
    }

    /// The task's charged failures so far.
    pub fn failures(&self, t: TaskIdx) -> u32 {
        self.tasks[t.ix()].failures
    }

    /// The agent running the task now, if any.
    pub fn running_on(&self, t: TaskIdx) -> Option<AgentIdx> {
        let a = self.tasks[t.ix()].agent;
        (a != NO_AGENT).then_some(AgentIdx(a))
    }

    /// The index of the agent with this id, if it ever registered.
    pub fn agent_index(&self, id: &str) -> Option<AgentIdx> {
        self.agent_ids.get(id).copied()
    }

    /// The agent's specification (as last registered).
    pub fn agent(&self, a: AgentIdx) -> &AgentSpec {
        &self.agents[a.ix()].spec
    }

    /// Whether the agent is registered and not lost.
    pub fn agent_is_up(&self, a: AgentIdx) -> bool {
        self.agents.get(a.ix()).is_some_and(|s| s.up)
    }

    /// Agents registered so far (up or not), by index.
    pub fn agent_count(&self) -> usize {
        self.agents.len()
    }

    /// Whether every task has ended.
    pub fn is_finished(&self) -> bool {
        self.terminal() == self.tasks.len()
    }

    /// Whether nothing can happen without a new input: tasks remain, nothing runs and no
    /// backoff is pending (e.g. no agent that can run the ready tasks is up).
    pub fn is_stalled(&self) -> bool {
        !self.is_finished()
            && self.count(TaskStatus::Running) == 0
            && self.count(TaskStatus::Backoff) == 0
    }

    /// Counters of attempts, retries, reassignments, timeouts and ignored inputs.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Items on the shared context board.
    pub fn board_len(&self) -> usize {
        self.board.len()
    }

    /// Totals by state, the current layer, agents, elapsed and estimated remaining time.
    pub fn progress(&self) -> Progress {
        let busy = self.busy_agents;
        let idle = self.up_agents - busy;
        let longest = self
            .plan
            .tasks_by_bottom_level()
            .get(self.longest_open)
            .map(|&t| self.plan.bottom_level_ms(t));
        let estimated_remaining = longest.map(|path| {
            let slots = (busy + idle).max(1) as Time;
            path.max(self.remaining_work_ms / slots)
        });
        Progress {
            total_tasks: self.tasks.len(),
            waiting_tasks: self.count(TaskStatus::Waiting),
            ready_tasks: self.count(TaskStatus::Ready) + self.count(TaskStatus::Blocked),
            blocked_tasks: self.count(TaskStatus::Blocked),
            backoff_tasks: self.count(TaskStatus::Backoff),
            running_tasks: self.count(TaskStatus::Running),
            completed_tasks: self.count(TaskStatus::Completed),
            failed_tasks: self.count(TaskStatus::Failed),
            skipped_tasks: self.count(TaskStatus::Skipped),
            current_layer: (!self.is_finished()).then_some(self.open_layer),
            total_layers: self.layers.len(),
            active_agents: busy,
            idle_agents: idle,
            elapsed: self.now,
            estimated_remaining: if self.is_finished() {
                Some(0)
            } else {
                estimated_remaining
            },
            attempts: self.stats.attempts,
        }
    }

    // ----- inputs ----------------------------------------------------------------------

    /// Takes in something that happened at `now`, then dispatches what has become possible.
    pub fn handle_input(&mut self, now: Time, input: Input) {
        self.advance_to(now);
        match input {
            Input::AgentUp { spec } => self.agent_up(spec),
            Input::AgentDown { agent } => {
                if self.known_up(agent, "agent_down") {
                    self.drop_agent(agent, false);
                }
            }
            Input::AgentLost { agent } => {
                if self.known_up(agent, "agent_lost") {
                    self.drop_agent(agent, true);
                }
            }
            Input::Heartbeat { agent } => {
                if self.known_up(agent, "heartbeat") {
                    self.touch(agent);
                }
            }
            Input::TaskStarted {
                task,
                agent,
                attempt,
            } => {
                if self.current_attempt(task, agent, attempt, "task_started") {
                    self.emit(EventKind::TaskStart {
                        task: self.plan.id(task),
                        agent: self.agents[agent.ix()].spec.id.clone(),
                        attempt,
                        title: self.plan.title(task),
                        layer: self.plan.layer(task),
                    });
                }
            }
            Input::TaskSucceeded {
                task,
                agent,
                attempt,
                result,
            } => {
                if self.current_attempt(task, agent, attempt, "task_succeeded") {
                    self.succeed(task, result);
                }
            }
            Input::TaskFailed {
                task,
                agent,
                attempt,
                error,
            } => {
                if self.current_attempt(task, agent, attempt, "task_failed") {
                    self.fail(task, error);
                }
            }
            Input::Share { agent, item } => {
                if self.known_up(agent, "share") {
                    self.touch(agent);
                    self.share(agent, item);
                }
            }
            Input::Shutdown => self.shutdown(),
        }
        self.settle();
    }

    /// Fires every deadline at or before `now` (backoffs ending, attempts timing out,
    /// agents going silent), then dispatches.
    pub fn handle_timeout(&mut self, now: Time) {
        self.advance_to(now);
        while let Some((at, timer)) = self.timers.peek() {
            if at > now {
                break;
            }
            self.timers.pop();
            match timer {
                Timer::Backoff(t, attempt) => {
                    if self.progression[t.ix()].status == TaskStatus::Backoff
                        && self.tasks[t.ix()].attempt == attempt
                    {
                        self.become_ready(t);
                    }
                }
                Timer::Attempt(t, attempt) => {
                    if self.progression[t.ix()].status == TaskStatus::Running
                        && self.tasks[t.ix()].attempt == attempt
                    {
                        self.time_out(t);
                    }
                }
                Timer::Heartbeat(a) => {
                    let agent = &mut self.agents[a.ix()];
                    agent.heartbeat_armed = false;
                    if agent.up {
                        if agent.heartbeat_deadline <= now {
                            self.drop_agent(a, true);
                        } else {
                            let at = agent.heartbeat_deadline;
                            self.arm_heartbeat(a, at);
                        }
                    }
                }
            }
        }
        self.settle();
    }

    // ----- outputs ---------------------------------------------------------------------

    /// The next command for the driver. Drain before sleeping: decisions are made when
    /// inputs arrive and wait here in order.
    #[must_use]
    pub fn poll_decision(&mut self) -> Option<Decision> {
        self.decisions.pop_front()
    }

    /// The next event, in the order things happened.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Hands every pending event to `f`, in order, and drops them: for drivers that only
    /// read events, without moving each one out as [`Scheduler::poll_event`] does.
    pub fn drain_events(&mut self, mut f: impl FnMut(&Event)) {
        for event in &self.events {
            f(event);
        }
        self.events.clear();
    }

    /// When [`Scheduler::handle_timeout`] should next be called, if anything is pending.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Time> {
        self.timers.peek().map(|(at, _)| at)
    }

    // ----- task status -----------------------------------------------------------------

    fn count(&self, status: TaskStatus) -> usize {
        self.counts[status as usize]
    }

    fn terminal(&self) -> usize {
        self.count(TaskStatus::Completed)
            + self.count(TaskStatus::Failed)
            + self.count(TaskStatus::Skipped)
    }

    fn set_status(&mut self, t: TaskIdx, status: TaskStatus) {
        let state = &mut self.progression[t.ix()];
        let was = state.status;
        self.counts[was as usize] -= 1;
        self.counts[status as usize] += 1;
        state.status = status;
        if self.live_context && (was == TaskStatus::Running) != (status == TaskStatus::Running) {
            let running = &mut self.running_by_type[self.plan.task_type(t).index()];
            if status == TaskStatus::Running {
                running.insert(t);
            } else {
                running.remove(&t);
            }
        }
    }

    // ----- plumbing --------------------------------------------------------------------

    fn advance_to(&mut self, now: Time) {
        assert!(
            now >= self.now,
            "time went backwards: {now} after {} (drivers must pass a monotonic time)",
            self.now
        );
        self.now = now;
    }

    fn emit(&mut self, kind: EventKind) {
        self.events.push_back(Event {
            time: self.now,
            kind,
        });
    }

    fn ignore(&mut self, reason: String) {
        self.stats.ignored_inputs += 1;
        self.emit(EventKind::InputIgnored { reason });
    }

    fn known_up(&mut self, a: AgentIdx, what: &str) -> bool {
        if self.agent_is_up(a) {
            return true;
        }
        let reason = match self.agents.get(a.ix()) {
            Some(agent) => format!("{what} from agent `{}`, which is not up", agent.spec.id),
            None => format!("{what} from unknown agent #{}", a.0),
        };
        self.ignore(reason);
        false
    }

    /// Whether a result names the attempt now running on that agent; if not, it is stale
    /// (timed out, requeued, finished before) and ignored.
    fn current_attempt(&mut self, t: TaskIdx, a: AgentIdx, attempt: u32, what: &str) -> bool {
        if t.ix() >= self.tasks.len() {
            self.ignore(format!("{what} for unknown task #{}", t.0));
            return false;
        }
        if self.agent_is_up(a) {
            self.touch(a);
        }
        let state = &self.tasks[t.ix()];
        let status = self.progression[t.ix()].status;
        if status == TaskStatus::Running && state.attempt == attempt && state.agent == a.0 {
            return true;
        }
        let agent = self
            .agents
            .get(a.ix())
            .map_or_else(|| format!("#{}", a.0), |s| s.spec.id.to_string());
        self.ignore(format!(
            "stale {what} for task `{}` attempt {attempt} from agent `{agent}` (task is {:?}, latest attempt {})",
            self.plan.task(t).id,
            status,
            state.attempt
        ));
        false
    }

    /// After every input: dispatch, drop dead deadlines from the top of the heap so
    /// `poll_timeout` is exact, and report progress, completion or a stall.
    fn settle(&mut self) {
        self.dispatch();
        while let Some((at, timer)) = self.timers.peek() {
            let live = match timer {
                Timer::Backoff(t, attempt) => {
                    self.progression[t.ix()].status == TaskStatus::Backoff
                        && self.tasks[t.ix()].attempt == attempt
                }
                Timer::Attempt(t, attempt) => {
                    self.progression[t.ix()].status == TaskStatus::Running
                        && self.tasks[t.ix()].attempt == attempt
                }
                Timer::Heartbeat(a) => {
                    let agent = &self.agents[a.ix()];
                    if agent.up && agent.heartbeat_deadline > at {
                        // Refreshed since it was set: move it rather than wake for nothing.
                        let deadline = agent.heartbeat_deadline;
                        self.timers.pop();
                        self.arm_heartbeat(a, deadline);
                        continue;
                    }
                    agent.up
                }
            };
            if live {
                break;
            }
            if let Timer::Heartbeat(a) = timer {
                self.agents[a.ix()].heartbeat_armed = false;
            }
            self.timers.pop();
        }
        let terminal = self.terminal();
        if terminal != self.terminal_reported {
            self.terminal_reported = terminal;
            let progress = self.progress();
            self.emit(EventKind::Progress(progress));
        }
        if self.is_finished() {
            if !self.complete_reported {
                self.complete_reported = true;
                self.emit(EventKind::DistributionComplete {
                    total_tasks: self.tasks.len(),
                    completed_tasks: self.count(TaskStatus::Completed),
                    failed_tasks: self.count(TaskStatus::Failed),
                    skipped_tasks: self.count(TaskStatus::Skipped),
                    duration: self.now,
                });
            }
        } else if self.is_stalled() && !self.stall_reported && !self.shutting_down {
            self.stall_reported = true;
            let error = self.stall_reason();
            self.emit(EventKind::DistributionError { error });
        }
    }

    /// Names one task that cannot move and why. Only called when stalled, so nothing runs
    /// and no file is held: what is left is ready with no capable agent up, or waiting for
    /// the agent it stays with.
    fn stall_reason(&self) -> String {
        for ty in TaskType::ALL {
            if let Some(Reverse(key)) = self.ready[ty.index()].peek() {
                return format!(
                    "no progress possible: task `{}` is ready but no agent that can run `{ty}` is up ({} unfinished)",
                    self.plan.task(key.2).id,
                    count(self.tasks.len() - self.terminal(), "task", "tasks")
                );
            }
        }
        for agent in &self.agents {
            if let Some(&t) = agent.waiting.first() {
                debug_assert!(
                    !agent.up,
                    "an up agent with nothing running has woken its waiters"
                );
                return format!(
                    "no progress possible: task `{}` waits for agent `{}`, which is down (auto-reassignment is off)",
                    self.plan.task(t).id,
                    agent.spec.id
                );
            }
        }
        format!(
            "no progress possible: {} unfinished and no agent is up",
            count(self.tasks.len() - self.terminal(), "task", "tasks")
        )
    }
}

/// A 64-bit finalizer (from SplitMix64): spreads the bits of its input so nearby inputs
/// give unrelated outputs. Used only to derive jitter deterministically from a seed; the
/// core draws no random numbers.
fn mix(mut x: u64) -> u64 {
    x ^= x >> 30;
    x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x ^= x >> 27;
    x = x.wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

#[cfg(test)]
mod tests;
