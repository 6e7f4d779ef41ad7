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

mod context;
mod events;
mod follow;
mod idle;
mod io;
mod locks;
mod timers;

pub use context::{
    BOARD_CAPACITY, CONTEXT_ITEMS, Context, ContextItem, Items, RelatedWork, Shared,
};
pub use events::{BlockReason, Event, EventKind, Progress};
pub use follow::DEVIATION_PERCENT;
pub use io::{AgentIdx, Assignment, CancelReason, Decision, Delivery, Input};

use crate::model::{AgentSpec, Config, Policy, TaskType, Time, format_exact};
use crate::plan::{FileIdx, Plan, TaskIdx};
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

    // ----- agents ----------------------------------------------------------------------

    fn agent_up(&mut self, spec: AgentSpec) {
        let a = match self.agent_ids.get(&spec.id) {
            Some(&a) if self.agents[a.ix()].up => {
                // Already up: the agent re-announced itself; that is a heartbeat.
                self.touch(a);
                return;
            }
            Some(&a) => {
                let class = self.class_for(&spec);
                let agent = &mut self.agents[a.ix()];
                agent.rank = u64::MAX - spec.speed.to_bits();
                agent.class = class;
                agent.spec = spec;
                agent.up = true;
                a
            }
            None => {
                assert!(
                    spec.speed > 0.0 && spec.speed.is_finite(),
                    "agent speed must be positive"
                );
                let a = AgentIdx(self.agents.len() as u32);
                self.agent_ids.insert(spec.id.clone(), a);
                let class = self.class_for(&spec);
                self.agents.push(AgentState {
                    rank: u64::MAX - spec.speed.to_bits(),
                    spec,
                    up: true,
                    running: Vec::new(),
                    class,
                    listed: None,
                    heartbeat_deadline: 0,
                    heartbeat_armed: false,
                    waiting: Vec::new(),
                });
                a
            }
        };
        let spec = &self.agents[a.ix()].spec;
        self.emit(EventKind::AgentRegistered {
            agent: spec.id.clone(),
            name: spec.name.clone(),
            agent_type: spec.agent_type.clone(),
            capabilities: spec.capabilities.clone(),
            max_concurrent_tasks: spec.max_concurrent_tasks,
        });
        self.up_agents += 1;
        for ty in TaskType::ALL {
            if self.agents[a.ix()].spec.can_run(ty) {
                self.capable[ty.index()] += 1;
            }
        }
        self.list_idle(a);
        self.wake_agent_waiters(a);
        self.follow_agent_up();
        self.touch(a);
    }

    /// Takes an agent out of service: `lost` when it went silent, else it left. Its
    /// attempts are cancelled and requeued without charge.
    fn drop_agent(&mut self, a: AgentIdx, lost: bool) {
        self.stop_following();
        let id = self.agents[a.ix()].spec.id.clone();
        if lost {
            let silent_for = self.config.heartbeat_timeout_ms.unwrap_or(0);
            self.emit(EventKind::AgentLost {
                agent: id,
                silent_for,
            });
        } else {
            self.emit(EventKind::AgentUnregistered { agent: id });
        }
        self.unlist_idle(a);
        let agent = &mut self.agents[a.ix()];
        agent.up = false;
        let was_busy = !agent.running.is_empty();
        if was_busy {
            self.one_less_busy();
        }
        self.up_agents -= 1;
        for ty in TaskType::ALL {
            if self.agents[a.ix()].spec.can_run(ty) {
                self.capable[ty.index()] -= 1;
            }
        }
        let running = self.agents[a.ix()].running.clone();
        for t in running {
            let attempt = self.cancel(t, a, CancelReason::AgentLost);
            if lost {
                self.tasks[t.ix()].lost += 1;
                let times = self.tasks[t.ix()].lost;
                if times > self.config.max_lost_per_task {
                    self.release(t, a);
                    self.emit(EventKind::TaskFailed {
                        task: self.plan.id(t),
                        agent: self.agents[a.ix()].spec.id.clone(),
                        attempt,
                        error: format!("lost with its agent {times} times"),
                        retry_count: self.tasks[t.ix()].failures,
                        will_retry: false,
                    });
                    self.end(t, TaskStatus::Failed);
                    self.skip_dependents(t);
                    continue;
                }
            }
            // The requeue is told before the release wakes any task parked on its files.
            self.requeue_event(t, a, attempt);
            self.release(t, a);
            self.stats.reassignments += 1;
            if self.config.enable_auto_reassignment {
                self.become_ready(t);
            } else {
                self.tasks[t.ix()].pinned = a.0;
                self.wait_for_agent(t, a);
            }
        }
    }

    fn touch(&mut self, a: AgentIdx) {
        if let Some(timeout) = self.config.heartbeat_timeout_ms {
            let deadline = self.now + timeout;
            self.agents[a.ix()].heartbeat_deadline = deadline;
            if !self.agents[a.ix()].heartbeat_armed {
                self.arm_heartbeat(a, deadline);
            }
        }
    }

    fn arm_heartbeat(&mut self, a: AgentIdx, at: Time) {
        self.agents[a.ix()].heartbeat_armed = true;
        self.timers.set(at, Timer::Heartbeat(a));
    }

    fn idle_key(&self, a: AgentIdx) -> IdleKey {
        let agent = &self.agents[a.ix()];
        (agent.rank, agent.running.len() as u32, a.0)
    }

    /// Whether the agent has a free slot (regardless of the `max_agents` limit).
    fn has_free_slot(&self, a: AgentIdx) -> bool {
        let agent = &self.agents[a.ix()];
        agent.up && (agent.running.len() as u32) < agent.spec.max_concurrent_tasks
    }

    /// Whether as many agents as `max_agents` are busy: then only those may take more.
    fn at_agent_limit(&self) -> bool {
        self.busy_agents >= self.config.max_agents as usize
    }

    /// Whether the agent may take one more attempt now.
    fn can_take_more(&self, a: AgentIdx) -> bool {
        self.has_free_slot(a) && (!self.agents[a.ix()].running.is_empty() || !self.at_agent_limit())
    }

    /// Whether some agent that can run type `ty` may take an attempt now.
    fn type_has_taker(&self, ty: usize) -> bool {
        let classes = self.type_classes[ty];
        self.working_classes & classes != 0
            || (!self.at_agent_limit() && self.empty_classes & classes != 0)
    }

    /// The class of agents that run what `spec` runs (made on first sight).
    fn class_for(&mut self, spec: &AgentSpec) -> usize {
        let mask = capability_mask(spec);
        if let Some(c) = self.classes.iter().position(|c| c.mask == mask) {
            return c;
        }
        let c = self.classes.len();
        self.classes.push(AgentClass {
            mask,
            working: IdleSet::default(),
            empty: IdleSet::default(),
        });
        for ty in TaskType::ALL {
            if mask & 1 << ty.index() != 0 {
                self.type_classes[ty.index()] |= 1 << c;
            }
        }
        c
    }

    /// Puts the agent in its class's idle sets, if it has a free slot.
    fn list_idle(&mut self, a: AgentIdx) {
        debug_assert!(
            self.agents[a.ix()].listed.is_none(),
            "agent {a:?} listed twice"
        );
        if self.has_free_slot(a) {
            let key = self.idle_key(a);
            let agent = &self.agents[a.ix()];
            let working = !agent.running.is_empty();
            let c = agent.class;
            let class = &mut self.classes[c];
            let (set, nonempty) = if working {
                (&mut class.working, &mut self.working_classes)
            } else {
                (&mut class.empty, &mut self.empty_classes)
            };
            set.insert(key.0, key.1, key.2);
            *nonempty |= 1 << c;
            self.agents[a.ix()].listed = Some(working);
        }
    }

    /// Takes the agent out of the idle sets (before its load or state changes).
    fn unlist_idle(&mut self, a: AgentIdx) {
        let key = self.idle_key(a);
        let agent = &mut self.agents[a.ix()];
        let c = agent.class;
        let class = &mut self.classes[c];
        let (set, nonempty) = match agent.listed.take() {
            Some(true) => (&mut class.working, &mut self.working_classes),
            Some(false) => (&mut class.empty, &mut self.empty_classes),
            None => return,
        };
        let listed = set.remove(key.0, key.1, key.2);
        debug_assert!(listed, "agent {a:?} listed under its key");
        if set.is_empty() {
            *nonempty &= !(1 << c);
        }
    }

    /// An agent stopped being busy; if that lifts the `max_agents` limit, the tasks that
    /// waited for their idle agent to be allowed to work are queued again.
    fn one_less_busy(&mut self) {
        let was_at_limit = self.at_agent_limit();
        self.busy_agents -= 1;
        if was_at_limit && !self.at_agent_limit() {
            for t in std::mem::take(&mut self.limit_waiters) {
                self.enqueue(t);
            }
        }
    }

    fn wake_agent_waiters(&mut self, a: AgentIdx) {
        let waiting = std::mem::take(&mut self.agents[a.ix()].waiting);
        for t in waiting {
            self.enqueue(t);
        }
    }

    fn wait_for_agent(&mut self, t: TaskIdx, a: AgentIdx) {
        self.set_status(t, TaskStatus::Blocked);
        self.agents[a.ix()].waiting.push(t);
        self.emit(EventKind::TaskBlocked {
            task: self.plan.id(t),
            reason: BlockReason::WaitingForAgent {
                agent: self.agents[a.ix()].spec.id.clone(),
            },
        });
    }

    // ----- tasks -----------------------------------------------------------------------

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

    fn ready_key(&self, t: TaskIdx) -> ReadyKey {
        let state = &self.tasks[t.ix()];
        let longest_first = u64::MAX - self.plan.bottom_level_ms(t);
        let priority = self.plan.priority(t).rank() as u64;
        match self.config.policy {
            Policy::CriticalPath | Policy::Layered => ReadyKey(longest_first, priority, t),
            Policy::Fifo => ReadyKey(state.ready_at, 0, t),
            Policy::Priority => ReadyKey(priority, longest_first, t),
            Policy::Optimized => match &self.follow {
                Some(f) if !f.by_critical_path() => ReadyKey(f.planned_start(t), longest_first, t),
                _ => ReadyKey(longest_first, priority, t),
            },
        }
    }

    /// The task's dependencies are done, or its backoff ended: it joins the ready queue
    /// (behind the layer barrier under `layered`).
    fn become_ready(&mut self, t: TaskIdx) {
        self.tasks[t.ix()].ready_at = self.now;
        let layer = self.plan.layer(t);
        if self.config.policy == Policy::Layered && layer > self.open_layer {
            self.set_status(t, TaskStatus::Blocked);
            self.held[layer as usize].push(t);
            self.emit(EventKind::TaskBlocked {
                task: self.plan.id(t),
                reason: BlockReason::LayerBarrier {
                    layer,
                    current: self.open_layer,
                },
            });
            return;
        }
        let ty = self.plan.task_type(t);
        if self.capable[ty.index()] == 0 && !self.agents.is_empty() {
            self.emit(EventKind::TaskBlocked {
                task: self.plan.id(t),
                reason: BlockReason::NoCapableAgent { task_type: ty },
            });
        }
        self.enqueue(t);
    }

    /// Into the ready queue of its type, keeping its place in `fifo` order.
    fn enqueue(&mut self, t: TaskIdx) {
        // A task is in a ready heap exactly while its status is Ready.
        debug_assert_ne!(
            self.progression[t.ix()].status,
            TaskStatus::Ready,
            "task {t:?} queued twice"
        );
        self.set_status(t, TaskStatus::Ready);
        let key = self.ready_key(t);
        let ty = self.plan.task_type(t).index();
        self.ready[ty].push(Reverse(key));
        self.ready_types |= 1 << ty;
    }

    /// Matches ready tasks with idle agents until no ready task has both a free capable
    /// agent and free locks.
    fn dispatch(&mut self) {
        if self.shutting_down {
            return;
        }
        loop {
            let mut best: Option<(ReadyKey, usize)> = None;
            let mut types = self.ready_types;
            while types != 0 {
                let ty = types.trailing_zeros() as usize;
                types &= types - 1;
                if !self.type_has_taker(ty) {
                    continue;
                }
                if let Some(&Reverse(key)) = self.ready[ty].peek()
                    && best.is_none_or(|(b, _)| key < b)
                {
                    best = Some((key, ty));
                }
            }
            let Some((key, ty)) = best else { break };
            self.ready[ty].pop();
            if self.ready[ty].is_empty() {
                self.ready_types &= !(1 << ty);
            }
            let t = key.2;
            let planned_agent = match self.follow_gate(t) {
                follow::Gate::Dynamic => None,
                follow::Gate::Hold => continue,
                follow::Gate::On(a) => Some(a),
            };
            let pinned = self.tasks[t.ix()].pinned;
            if pinned != NO_AGENT && !self.has_free_slot(AgentIdx(pinned)) {
                self.wait_for_agent(t, AgentIdx(pinned));
                continue;
            }
            if pinned != NO_AGENT && !self.can_take_more(AgentIdx(pinned)) {
                self.set_status(t, TaskStatus::Blocked);
                self.limit_waiters.push(t);
                self.emit(EventKind::TaskBlocked {
                    task: self.plan.id(t),
                    reason: BlockReason::AgentLimit {
                        max_agents: self.config.max_agents,
                    },
                });
                continue;
            }
            if let Some(conflict) = self.locks.check(t, self.plan.locks(t)) {
                self.park_on_lock(t, conflict);
                continue;
            }
            let agent = if pinned != NO_AGENT {
                AgentIdx(pinned)
            } else if let Some(a) = planned_agent {
                a
            } else {
                self.choose_agent(t, ty)
            };
            self.assign(t, agent);
        }
    }

    /// The agents whose attempts of `t` failed.
    fn failed_on(&self, t: TaskIdx) -> &[AgentIdx] {
        match self.tasks[t.ix()].failed_on {
            0 => &[],
            i => &self.failed_on[i as usize - 1],
        }
    }

    /// The first agent of the type that may take work (fastest, least loaded, lowest
    /// index) and has not failed this task; the first of all if every one has.
    fn choose_agent(&self, t: TaskIdx, ty: usize) -> AgentIdx {
        let at_limit = self.at_agent_limit();
        let classes = self.type_classes[ty];
        let sets = (0..self.classes.len())
            .filter(move |&c| classes & 1 << c != 0)
            .flat_map(|c| {
                let class = &self.classes[c];
                std::iter::once(&class.working).chain((!at_limit).then_some(&class.empty))
            });
        let first = sets
            .clone()
            .filter_map(IdleSet::first)
            .min()
            .map(|key| AgentIdx(key.2))
            .expect("dispatch picks types with takers");
        let failed_on = self.failed_on(t);
        if failed_on.is_empty() || !failed_on.contains(&first) {
            return first;
        }
        // Every taker in order, merged from the sets; at most |failed_on| + 1 are looked at.
        let mut heads: Vec<_> = sets.map(|set| set.iter().peekable()).collect();
        loop {
            let next = heads.iter_mut().filter_map(|h| h.peek().copied()).min();
            let Some(key) = next else { return first };
            for head in &mut heads {
                head.next_if(|&k| k == key);
            }
            if !failed_on.contains(&AgentIdx(key.2)) {
                return AgentIdx(key.2);
            }
        }
    }

    fn park_on_lock(&mut self, t: TaskIdx, conflict: Conflict) {
        self.set_status(t, TaskStatus::Blocked);
        let plan = self.plan.clone();
        self.locks.park(t, conflict, plan.locks(t));
        let reason = match conflict {
            Conflict::Held { file, mode, holder } => BlockReason::Lock {
                file: plan.files[file.ix()].clone(),
                mode,
                holder: plan.id(holder),
            },
            Conflict::WriterWaiting { file } => BlockReason::WriterWaiting {
                file: plan.files[file.ix()].clone(),
            },
        };
        self.emit(EventKind::TaskBlocked {
            task: plan.id(t),
            reason,
        });
    }

    fn assign(&mut self, t: TaskIdx, a: AgentIdx) {
        // Fields are borrowed one by one below rather than through a clone of the plan's
        // `Arc`: this runs once per attempt, and each clone is an atomic increment.
        self.locks.acquire(t, self.plan.locks(t));
        self.unlist_idle(a);
        if self.agents[a.ix()].running.is_empty() {
            self.busy_agents += 1;
            debug_assert!(self.busy_agents <= self.config.max_agents as usize);
        }
        self.agents[a.ix()].running.push(t);
        self.list_idle(a);
        self.set_status(t, TaskStatus::Running);
        let state = &mut self.tasks[t.ix()];
        state.attempt += 1;
        state.agent = a.0;
        state.started = self.now;
        let attempt = state.attempt;
        let timeout = self
            .plan
            .timeout_ms(t)
            .unwrap_or(self.config.task_timeout_ms);
        let deadline = self.now + timeout;
        self.timers.set(deadline, Timer::Attempt(t, attempt));
        self.stats.attempts += 1;
        self.stall_reported = false;

        let layer = self.plan.layer(t);
        if !self.layers[layer as usize].started {
            self.layers[layer as usize].started = true;
            self.emit(EventKind::LayerStart {
                layer,
                total_layers: self.layers.len(),
                tasks: self.plan.layer_sizes()[layer as usize],
            });
        }
        let context = if self.config.enable_context_sharing {
            self.context_for(t)
        } else {
            Context::default()
        };
        self.emit(EventKind::TaskExecute {
            task: self.plan.id(t),
            agent: self.agents[a.ix()].spec.id.clone(),
            attempt,
            deadline,
            context_items: context.len(),
        });
        self.decisions.push_back(Decision::Assign(Assignment {
            task: t,
            agent: a,
            attempt,
            deadline,
            context,
        }));
    }

    /// Tells the driver to stop `t`'s running attempt on `a`; returns the attempt number.
    fn cancel(&mut self, t: TaskIdx, a: AgentIdx, reason: CancelReason) -> u32 {
        let attempt = self.tasks[t.ix()].attempt;
        self.decisions.push_back(Decision::Cancel {
            task: t,
            agent: a,
            attempt,
            reason,
        });
        attempt
    }

    /// An attempt taken back without charge (its agent left, or the driver shuts down).
    fn requeue_event(&mut self, t: TaskIdx, a: AgentIdx, attempt: u32) {
        self.emit(EventKind::TaskRequeued {
            task: self.plan.id(t),
            agent: self.agents[a.ix()].spec.id.clone(),
            attempt,
        });
    }

    /// Frees the agent slot and the locks of `t`'s running attempt, and wakes whoever
    /// waited for them.
    fn release(&mut self, t: TaskIdx, a: AgentIdx) {
        self.tasks[t.ix()].agent = NO_AGENT;
        self.unlist_idle(a);
        let running = &mut self.agents[a.ix()].running;
        let at = running
            .iter()
            .position(|&r| r == t)
            .expect("a running task is on its agent's list");
        running.remove(at);
        if running.is_empty() && self.agents[a.ix()].up {
            self.one_less_busy();
        }
        self.list_idle(a);
        let mut woken = std::mem::take(&mut self.woken);
        self.locks.release(t, self.plan.locks(t), &mut woken);
        for w in woken.drain(..) {
            self.enqueue(w);
        }
        self.woken = woken;
        if self.can_take_more(a) {
            self.wake_agent_waiters(a);
        }
    }

    fn succeed(&mut self, t: TaskIdx, result: Option<String>) {
        self.follow_check_duration(t, self.now - self.tasks[t.ix()].started);
        let a = AgentIdx(self.tasks[t.ix()].agent);
        self.release(t, a);
        let duration = self.now - self.tasks[t.ix()].started;
        self.emit(EventKind::TaskComplete {
            task: self.plan.id(t),
            agent: self.agents[a.ix()].spec.id.clone(),
            attempt: self.tasks[t.ix()].attempt,
            duration,
            result,
        });
        self.end(t, TaskStatus::Completed);
        // By position, not through a clone of the plan's `Arc` (an atomic increment per
        // completion): `one_less_unmet` needs `self` mutably.
        for i in 0..self.plan.succs(t).len() {
            let to = self.plan.succs(t)[i].to;
            self.one_less_unmet(to);
        }
    }

    fn one_less_unmet(&mut self, t: TaskIdx) {
        let state = &mut self.progression[t.ix()];
        if state.status != TaskStatus::Waiting {
            return; // already skipped
        }
        state.unmet -= 1;
        if state.unmet == 0 {
            self.become_ready(t);
        }
    }

    fn time_out(&mut self, t: TaskIdx) {
        let a = AgentIdx(self.tasks[t.ix()].agent);
        let timeout = self.now - self.tasks[t.ix()].started;
        self.stats.timeouts += 1;
        let attempt = self.cancel(t, a, CancelReason::Timeout);
        self.emit(EventKind::TaskTimeout {
            task: self.plan.id(t),
            agent: self.agents[a.ix()].spec.id.clone(),
            attempt,
            timeout,
        });
        self.fail(t, format!("timed out after {}", format_exact(timeout)));
    }

    /// A charged failure of the running attempt: retry after a backoff, or fail for good
    /// and skip what needs this task.
    fn fail(&mut self, t: TaskIdx, error: String) {
        self.stop_following();
        let a = AgentIdx(self.tasks[t.ix()].agent);
        self.release(t, a);
        let state = &mut self.tasks[t.ix()];
        state.failures += 1;
        if state.failed_on == 0 {
            self.failed_on.push(Vec::new());
            state.failed_on = self.failed_on.len() as u32;
        }
        let failed_on = &mut self.failed_on[state.failed_on as usize - 1];
        if !failed_on.contains(&a) {
            failed_on.push(a);
        }
        let failures = state.failures;
        let attempt = state.attempt;
        let will_retry = failures <= self.config.max_retries_per_task;
        let task_id = self.plan.id(t);
        let agent_id = self.agents[a.ix()].spec.id.clone();
        if self.config.enable_context_sharing {
            self.post(
                a,
                Shared {
                    time: self.now,
                    agent: agent_id.clone(),
                    item: ContextItem::Error {
                        task: Some(task_id.to_string()),
                        message: error.clone(),
                    },
                },
                Vec::new(),
                Some((t.0, self.plan.task_type(t))),
            );
        }
        self.emit(EventKind::TaskFailed {
            task: task_id.clone(),
            agent: agent_id,
            attempt,
            error: error.clone(),
            retry_count: failures,
            will_retry,
        });
        if will_retry {
            self.stats.retries += 1;
            if !self.config.enable_auto_reassignment {
                self.tasks[t.ix()].pinned = a.0;
            }
            let not_before = self.now + self.backoff_ms(t, failures);
            self.set_status(t, TaskStatus::Backoff);
            self.timers.set(not_before, Timer::Backoff(t, attempt));
            self.emit(EventKind::TaskRetry {
                task: task_id,
                retry_count: failures,
                not_before,
                error,
            });
        } else {
            self.end(t, TaskStatus::Failed);
            self.skip_dependents(t);
        }
    }

    /// `backoff_base · 2^(failures-1)`, capped at `backoff_max`, then jittered into its
    /// upper half by a hash of (jitter seed, task, failure count): spread out, yet the same
    /// on every run with the same seed.
    fn backoff_ms(&self, t: TaskIdx, failures: u32) -> Time {
        let doubling = 1u64
            .checked_shl(failures.saturating_sub(1))
            .unwrap_or(u64::MAX);
        let full = self
            .config
            .backoff_base_ms
            .saturating_mul(doubling)
            .min(self.config.backoff_max_ms);
        let half = full / 2;
        let hash = mix(self.config.jitter_seed ^ mix(((t.0 as u64) << 32) | failures as u64));
        full - half + hash % (half + 1)
    }

    /// `t` failed for good or was skipped: its `depends_on` dependents are skipped (and
    /// theirs, transitively); its `blocked_by` dependents may now start.
    fn skip_dependents(&mut self, t: TaskIdx) {
        let plan = self.plan.clone();
        let mut stack = vec![t];
        while let Some(x) = stack.pop() {
            for edge in plan.succs(x) {
                let s = edge.to;
                if self.progression[s.ix()].status != TaskStatus::Waiting {
                    continue;
                }
                match edge.kind {
                    crate::plan::EdgeKind::Needs => {
                        self.end(s, TaskStatus::Skipped);
                        self.emit(EventKind::TaskSkipped {
                            task: plan.id(s),
                            because: plan.id(x),
                        });
                        stack.push(s);
                    }
                    crate::plan::EdgeKind::After => self.one_less_unmet(s),
                }
            }
        }
    }

    /// Bookkeeping when a task ends: counts, layers, the time estimate.
    fn end(&mut self, t: TaskIdx, status: TaskStatus) {
        debug_assert!(status.is_terminal());
        self.set_status(t, status);
        self.follow_ended(t);
        self.remaining_work_ms -= self.plan.estimate_ms(t);
        let by_level = self.plan.tasks_by_bottom_level();
        while by_level
            .get(self.longest_open)
            .is_some_and(|&o| self.progression[o.ix()].status.is_terminal())
        {
            self.longest_open += 1;
        }
        let l = self.plan.layer(t);
        let layer = &mut self.layers[l as usize];
        layer.remaining -= 1;
        match status {
            TaskStatus::Completed => layer.completed += 1,
            TaskStatus::Failed => layer.failed += 1,
            _ => layer.skipped += 1,
        }
        if layer.remaining == 0 {
            let done = *layer;
            self.emit(EventKind::LayerComplete {
                layer: l,
                completed: done.completed,
                failed: done.failed,
                skipped: done.skipped,
            });
            self.open_next_layers();
        }
    }

    /// Moves the open layer past every finished one; under `layered`, releases the tasks
    /// held at the barrier of each layer it opens.
    fn open_next_layers(&mut self) {
        while (self.open_layer as usize) < self.layers.len()
            && self.layers[self.open_layer as usize].remaining == 0
        {
            self.open_layer += 1;
            if let Some(held) = self.held.get_mut(self.open_layer as usize) {
                for t in std::mem::take(held) {
                    self.enqueue(t);
                }
            }
        }
    }

    fn shutdown(&mut self) {
        self.shutting_down = true;
        let running: Vec<(TaskIdx, AgentIdx)> = self
            .agents
            .iter()
            .enumerate()
            .flat_map(|(a, s)| s.running.iter().map(move |&t| (t, AgentIdx(a as u32))))
            .collect();
        for (t, a) in running {
            let attempt = self.cancel(t, a, CancelReason::Shutdown);
            self.requeue_event(t, a, attempt);
            self.release(t, a);
            self.enqueue(t);
        }
    }

    // ----- context ---------------------------------------------------------------------

    fn share(&mut self, a: AgentIdx, item: ContextItem) {
        let agent = self.agents[a.ix()].spec.id.clone();
        let (kind, summary) = match &item {
            ContextItem::Discovery { summary, .. } => ("discovery", summary.clone()),
            ContextItem::Solution { summary, .. } => ("solution", summary.clone()),
            ContextItem::Error { message, .. } => ("error", message.clone()),
        };
        if !self.config.enable_context_sharing {
            self.ignore(format!(
                "{kind} shared by agent `{agent}` dropped: context sharing is off"
            ));
            return;
        }
        let mut files: Vec<FileIdx> = match &item {
            ContextItem::Discovery { files, .. } => files
                .iter()
                .filter_map(|f| self.plan.file_index(f))
                .collect(),
            _ => Vec::new(),
        };
        files.sort_unstable();
        files.dedup();
        let task = match &item {
            ContextItem::Error { task: Some(id), .. } => self
                .plan
                .task_index(id)
                .map(|t| (t.0, self.plan.task_type(t))),
            _ => None,
        };
        self.post(
            a,
            Shared {
                time: self.now,
                agent: agent.clone(),
                item,
            },
            files,
            task,
        );
        self.emit(EventKind::ContextShared {
            agent,
            kind: kind.to_string(),
            summary,
        });
    }

    /// Puts an item from agent `from` on the board and, with live context on, delivers it
    /// to the attempts running on other agents that it reaches (see [`Delivery`]).
    ///
    /// Cost: output-sensitive, O(c log c) for the c candidates (holders of the item's
    /// files, or running tasks of its type), never a scan of the agents.
    fn post(
        &mut self,
        from: AgentIdx,
        shared: Shared,
        files: Vec<FileIdx>,
        task: Option<(u32, TaskType)>,
    ) {
        let posted = self.board.post(shared, files, task);
        if !self.live_context {
            return;
        }
        // Output-sensitive: only the running attempts the item can reach are looked at
        // (holders of its files, or the running tasks of its type), never every agent.
        let mut candidates: Vec<TaskIdx> = match posted.audience() {
            Audience::Files(files) => files.iter().flat_map(|&f| self.locks.holders(f)).collect(),
            Audience::Type(ty) => self.running_by_type[ty.index()].iter().copied().collect(),
            Audience::Nobody => Vec::new(),
        };
        candidates.sort_unstable();
        candidates.dedup();
        for t in candidates {
            // A task whose attempt is being taken off its agent (the failure being posted)
            // has no agent any more: it runs nowhere.
            let agent = self.tasks[t.ix()].agent;
            if agent == from.0
                || agent == NO_AGENT
                || self.progression[t.ix()].status != TaskStatus::Running
                || !posted.reaches(self.plan.locks(t), self.plan.task_type(t))
            {
                continue;
            }
            self.decisions.push_back(Decision::Deliver(Delivery {
                task: t,
                agent: AgentIdx(agent),
                attempt: self.tasks[t.ix()].attempt,
                shared: posted.shared().clone(),
            }));
        }
    }

    /// What the board and the lock table know that is relevant to `t`, which has just
    /// taken its locks on its agent.
    fn context_for(&self, t: TaskIdx) -> Context {
        let mut context = Context::default();
        let locks = self.plan.locks(t);
        let own = self.tasks[t.ix()].agent;
        'files: for lock in locks {
            for holder in self.locks.holders(lock.file) {
                let agent = self.tasks[holder.ix()].agent;
                // Related work is other agents' work: an agent knows what it runs itself.
                if agent == own {
                    continue;
                }
                if context.related_work.len() == CONTEXT_ITEMS {
                    break 'files;
                }
                context.related_work.push(RelatedWork {
                    task: self.plan.id(holder),
                    agent: self.agents[agent as usize].spec.id.clone(),
                    file: self.plan.files[lock.file.ix()].clone(),
                });
            }
        }
        self.board
            .select(&mut context, locks, self.plan.task_type(t));
        context
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
                    "no progress possible: task `{}` is ready but no agent that can run `{ty}` is up ({} tasks unfinished)",
                    self.plan.task(key.2).id,
                    self.tasks.len() - self.terminal()
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
            "no progress possible: {} tasks unfinished and no agent is up",
            self.tasks.len() - self.terminal()
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
