//! The vocabulary every other module speaks: tasks, agents, configuration, time, and the
//! scenario file format (TOML or JSON) that describes a plan of work.
//!
//! The scenario file is read in two steps. [`ScenarioFile`] is the serde shape of the file,
//! with durations still as written; [`Scenario::resolve`] applies the time unit and the
//! defaults and collects every problem it finds as an [`Issue`] instead of stopping at the
//! first, so a user fixes a broken file in one pass. Graph-level checks (cycles, unknown
//! dependencies) live in [`crate::plan`], which builds on this.

mod duration;
mod error;
pub mod field_path;
pub mod generate;
mod json_chunks;
mod key_lines;
mod scenario;
mod schedule;
mod simulation;
mod toml_chunks;
mod words;

pub use duration::{
    DurationError, DurationText, HOUR_MS, Human, MINUTE_MS, SECOND_MS, Time, TimeUnit,
    format_exact, parse_duration, seconds,
};
pub use error::{FileKind, Issue, IssueKind, ScenarioError};
pub use key_lines::KeyLines;
pub(crate) use scenario::line_column;
pub use scenario::{
    AgentFile, CommandSpec, ConfigFile, Format, MAX_AGENTS, SPEED_RANGE, Scenario, ScenarioFile,
    SourceInfo, TaskFile,
};
pub use schedule::{Dispatch, PlannedTask, Schedule, SlotPlan};
pub use simulation::{
    CalibratedFrom, ContextModelFile, CrashFile, DurationModel, ModelOverrides, SimulationFile,
};
pub use words::{Count, count, was_or_were};

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

/// The kind of work a task is; agents declare which kinds they can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskType {
    /// Building a new feature.
    FeatureImplementation,
    /// Fixing a defect.
    BugFix,
    /// Joining pieces built separately.
    Integration,
    /// Writing or running tests.
    Testing,
    /// Writing documentation.
    Documentation,
    /// Restructuring code without changing behaviour.
    Refactoring,
    /// Shipping to an environment.
    Deployment,
}

impl TaskType {
    /// Every task type, in declaration order (the order of [`TaskType::index`]).
    pub const ALL: [TaskType; 7] = [
        TaskType::FeatureImplementation,
        TaskType::BugFix,
        TaskType::Integration,
        TaskType::Testing,
        TaskType::Documentation,
        TaskType::Refactoring,
        TaskType::Deployment,
    ];

    /// A dense index in `0..7`, for per-type tables.
    pub fn index(self) -> usize {
        self as usize
    }

    /// The name of each task type, in the order of [`TaskType::ALL`]: the names serde
    /// reads and writes (`rename_all = "snake_case"`; a unit test holds them equal).
    pub const NAMES: [&'static str; 7] = [
        "feature_implementation",
        "bug_fix",
        "integration",
        "testing",
        "documentation",
        "refactoring",
        "deployment",
    ];

    /// The name used in scenario files and events.
    pub fn as_str(self) -> &'static str {
        TaskType::NAMES[self.index()]
    }

    /// The task type of a name, if it is one.
    pub fn from_name(name: &str) -> Option<TaskType> {
        TaskType::ALL.into_iter().find(|ty| ty.as_str() == name)
    }
}

impl fmt::Display for TaskType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How urgent a task is. Orders the ready queue after critical-path length (see
/// [`Policy`]), or first under [`Policy::Priority`].
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    /// Must go first.
    Critical,
    /// Before the ordinary work.
    High,
    /// The default.
    #[default]
    Medium,
    /// When nothing else waits.
    Low,
}

impl Priority {
    /// 0 for critical up to 3 for low: smaller runs first.
    pub fn rank(self) -> u8 {
        self as u8
    }
}

/// The order in which ready tasks are dispatched.
///
/// Every policy is a total order that ends with the task's position in the plan, so two
/// runs never break a tie differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "kebab-case")]
pub enum Policy {
    /// Longest remaining path (by estimated duration) first, then priority, then plan order.
    /// A task is dispatched the moment its own dependencies are done.
    #[default]
    CriticalPath,
    /// First ready, first dispatched; ties in plan order. Ignores priority and path length.
    Fifo,
    /// The original's parallel layers done right: layer k+1 starts only when every task of
    /// layer k has ended; within a layer, critical path order.
    Layered,
    /// Priority class first, then longest remaining path, then plan order.
    Priority,
    /// Follows a static schedule from the optimizer (`Config::schedule`): each task on
    /// its planned agent, after its predecessor there; dynamic dispatch by planned start
    /// once a failure, a lost agent or a duration far from its estimate breaks the plan.
    /// Without a schedule, like `critical-path`.
    Optimized,
}

impl Policy {
    /// Every policy, for sweeps and property tests.
    pub const ALL: [Policy; 5] = [
        Policy::CriticalPath,
        Policy::Fifo,
        Policy::Layered,
        Policy::Priority,
        Policy::Optimized,
    ];

    /// The name used in scenario files and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Policy::CriticalPath => "critical-path",
            Policy::Fifo => "fifo",
            Policy::Layered => "layered",
            Policy::Priority => "priority",
            Policy::Optimized => "optimized",
        }
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Policy {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Policy::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| {
                format!("unknown policy `{s}` (expected critical-path, fifo, layered, priority or optimized)")
            })
    }
}

/// The scheduler's settings, with defaults applied. Every field has an effect; the
/// original TaskDistributor ignored several of them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Config {
    /// How many agents may hold work at once (default 5). More may register: while this many
    /// are busy, the others wait, and take work as soon as fewer are busy (an agent that
    /// leaves or is lost frees its place at once).
    pub max_agents: u32,
    /// Failed attempts a task may be retried after its first (default 3; 0 means one
    /// attempt only). Attempts lost with an agent are not charged.
    pub max_retries_per_task: u32,
    /// How long an attempt may run before it is cancelled and counted as failed (default
    /// 30 minutes); a task's own `timeout` overrides it.
    pub task_timeout_ms: Time,
    /// Take read/write file locks (default true). Off, tasks touching the same files may run
    /// at the same time.
    pub enable_file_conflict_prevention: bool,
    /// Keep the shared context board and send relevant context with each assignment
    /// (default true). Off, assignments carry no context and shared items are dropped.
    pub enable_context_sharing: bool,
    /// Move work to another agent when an agent fails it or is lost (default true). Off, a
    /// task stays with the agent it was first given: retries wait for that agent, and the
    /// work of a lost agent waits for it to come back.
    pub enable_auto_reassignment: bool,
    /// The order of the ready queue (default critical-path).
    pub policy: Policy,
    /// The first retry's backoff (default 10 s); each further retry doubles it.
    pub backoff_base_ms: Time,
    /// The longest backoff (default 10 minutes).
    pub backoff_max_ms: Time,
    /// An agent silent for this long is lost and its attempts requeued (default 5 minutes;
    /// `None` turns heartbeat checking off).
    pub heartbeat_timeout_ms: Option<Time>,
    /// Attempts of one task that may be lost with their agent (lost by silence, not
    /// charged as failures) and requeued (default 3). The next loss fails the task for
    /// good, so a task that kills every agent it lands on ends instead of looping forever.
    #[serde(default = "default_max_lost_per_task")]
    pub max_lost_per_task: u32,
    /// Seed of the deterministic backoff jitter. The core has no randomness of its own: a
    /// driver sets this from its master seed.
    pub jitter_seed: u64,
    /// The static schedule the `optimized` policy follows (drivers compute one when it is
    /// missing: `optimize::ensure_schedule`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<Arc<Schedule>>,
}

/// `max_lost_per_task` of run databases written before the setting existed.
fn default_max_lost_per_task() -> u32 {
    3
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_agents: 5,
            max_retries_per_task: 3,
            task_timeout_ms: 30 * MINUTE_MS,
            enable_file_conflict_prevention: true,
            enable_context_sharing: true,
            enable_auto_reassignment: true,
            policy: Policy::CriticalPath,
            backoff_base_ms: 10 * SECOND_MS,
            backoff_max_ms: 10 * MINUTE_MS,
            heartbeat_timeout_ms: Some(5 * MINUTE_MS),
            max_lost_per_task: default_max_lost_per_task(),
            jitter_seed: 0,
            schedule: None,
        }
    }
}

/// One agent: who it is, what it can run, how much at once and how fast.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentSpec {
    /// Unique id (`agent_1` … when generated by `count = N`).
    pub id: Arc<str>,
    /// Display name.
    pub name: String,
    /// Free-form kind of agent (`coding`, `ci-runner`, …); informational.
    pub agent_type: String,
    /// Task types this agent runs; `None` runs every type.
    pub capabilities: Option<Vec<TaskType>>,
    /// Attempts it runs at once (default 1).
    pub max_concurrent_tasks: u32,
    /// Relative speed (default 1.0): a simulated attempt takes `estimate / speed`.
    pub speed: f64,
    /// What an hour of this agent costs (default 0; any currency, e.g. an LLM agent's
    /// token spend per hour of work): summaries price runs with it.
    #[serde(default)]
    pub cost_per_hour: f64,
}

impl AgentSpec {
    /// A generalist agent: every type, one task at a time, speed 1.
    pub fn new(id: &str) -> Self {
        AgentSpec {
            id: Arc::from(id),
            name: id.to_string(),
            agent_type: "agent".to_string(),
            capabilities: None,
            max_concurrent_tasks: 1,
            speed: 1.0,
            cost_per_hour: 0.0,
        }
    }

    /// Whether this agent may run tasks of `task_type`.
    pub fn can_run(&self, task_type: TaskType) -> bool {
        self.capabilities
            .as_ref()
            .is_none_or(|caps| caps.contains(&task_type))
    }
}

/// One task of the plan, with durations resolved to milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskSpec {
    /// Unique id, referenced by `depends_on` and `blocked_by`.
    pub id: Arc<str>,
    /// Short title (defaults to the id). Shared: every `task_start` event carries it.
    pub title: Arc<str>,
    /// Longer description.
    pub description: String,
    /// Kind of work; an agent must have it among its capabilities.
    pub task_type: TaskType,
    /// Urgency.
    pub priority: Priority,
    /// Estimated duration at speed 1.
    pub estimated_duration_ms: Time,
    /// Tasks that must **succeed** before this one starts; if one fails for good, this task
    /// is skipped.
    pub depends_on: Vec<String>,
    /// Tasks that must have **ended** (succeeded, failed or been skipped) before this one
    /// starts; their failure does not skip this task.
    pub blocked_by: Vec<String>,
    /// Files this task writes: exclusive locks.
    pub files_to_modify: Vec<String>,
    /// Files this task reads: shared locks.
    pub files_to_read: Vec<String>,
    /// Free-form data carried along for agents.
    pub metadata: BTreeMap<String, serde_json::Value>,
    /// This task's attempt timeout, overriding `task_timeout`.
    pub timeout_ms: Option<Time>,
    /// What the real runner executes for this task.
    pub command: Option<CommandSpec>,
}

impl TaskSpec {
    /// A task with the given id, type and estimate and nothing else.
    pub fn new(id: &str, task_type: TaskType, estimated_duration_ms: Time) -> Self {
        TaskSpec {
            id: Arc::from(id),
            title: Arc::from(id),
            description: String::new(),
            task_type,
            priority: Priority::Medium,
            estimated_duration_ms,
            depends_on: Vec::new(),
            blocked_by: Vec::new(),
            files_to_modify: Vec::new(),
            files_to_read: Vec::new(),
            metadata: BTreeMap::new(),
            timeout_ms: None,
            command: None,
        }
    }
}
