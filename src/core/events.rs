//! The observable events of a distribution, each stamped with its time: every event the
//! original TaskDistributor named, plus those correctness needs (`task_timeout`,
//! `agent_lost`, `task_skipped`, …). Serialized as one JSON object per event, with the
//! event name under `"event"`.

use crate::model::{TaskType, Time};
use crate::plan::{LockMode, Text, TextTable};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// An event and the time it happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Milliseconds since the start of the run.
    pub time: Time,
    /// What happened.
    #[serde(flatten)]
    pub kind: EventKind,
}

/// Why a ready task is not running.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum BlockReason {
    /// A file it needs is held by a running task.
    Lock {
        /// The file.
        file: Arc<str>,
        /// How this task wants it.
        mode: LockMode,
        /// A running task holding it.
        holder: Text,
    },
    /// The file is free for reading, but a writer is waiting for it and goes first.
    WriterWaiting {
        /// The file.
        file: Arc<str>,
    },
    /// No agent that can run the task's type is up.
    NoCapableAgent {
        /// The type.
        task_type: TaskType,
    },
    /// `layered` policy: its layer has not started.
    LayerBarrier {
        /// Its layer.
        layer: u32,
        /// The layer running now.
        current: u32,
    },
    /// Auto-reassignment is off and the agent the task stays with is idle, but may not
    /// start work while `max_agents` other agents are busy.
    AgentLimit {
        /// The limit.
        max_agents: u32,
    },
    /// Auto-reassignment is off and the agent the task stays with is busy or away; or,
    /// under `optimized`, its slot's agent has not registered yet.
    WaitingForAgent {
        /// That agent.
        agent: Arc<str>,
    },
    /// `optimized` policy: the task before it on its slot, or on one of its files, has
    /// not ended.
    Schedule,
}

impl BlockReason {
    /// A short label for traces: `lock:<file>`, `writer_waiting:<file>`,
    /// `no_capable_agent`, `layer_barrier`, `agent_limit`, `agent:<id>` or `schedule`.
    pub fn label(&self) -> String {
        match self {
            BlockReason::Lock { file, .. } => format!("lock:{file}"),
            BlockReason::WriterWaiting { file } => format!("writer_waiting:{file}"),
            BlockReason::NoCapableAgent { .. } => "no_capable_agent".to_string(),
            BlockReason::LayerBarrier { .. } => "layer_barrier".to_string(),
            BlockReason::AgentLimit { .. } => "agent_limit".to_string(),
            BlockReason::WaitingForAgent { agent } => format!("agent:{agent}"),
            BlockReason::Schedule => "schedule".to_string(),
        }
    }

    /// Whether the task waits for a file lock (the time counts as lock wait).
    pub fn is_lock(&self) -> bool {
        matches!(
            self,
            BlockReason::Lock { .. } | BlockReason::WriterWaiting { .. }
        )
    }
}

/// Totals by state and where the run stands.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    /// Tasks in the plan.
    pub total_tasks: usize,
    /// Waiting for dependencies.
    pub waiting_tasks: usize,
    /// Ready, or held back by a lock, the layer barrier or a busy agent.
    pub ready_tasks: usize,
    /// Ready but blocked (lock, layer barrier, agent).
    pub blocked_tasks: usize,
    /// Waiting out a retry backoff.
    pub backoff_tasks: usize,
    /// Running now.
    pub running_tasks: usize,
    /// Succeeded.
    pub completed_tasks: usize,
    /// Failed for good.
    pub failed_tasks: usize,
    /// Skipped because something they need failed.
    pub skipped_tasks: usize,
    /// Lowest layer with unfinished tasks.
    pub current_layer: Option<u32>,
    /// Number of layers.
    pub total_layers: usize,
    /// Agents up and running something.
    pub active_agents: usize,
    /// Agents up with nothing to run.
    pub idle_agents: usize,
    /// Milliseconds since the start.
    pub elapsed: Time,
    /// Rough milliseconds still to go: the longer of the longest remaining path and the
    /// remaining work spread over the working agents.
    pub estimated_remaining: Option<Time>,
    /// Attempts dispatched so far.
    pub attempts: u64,
}

/// Everything that can happen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum EventKind {
    /// An agent joined.
    AgentRegistered {
        /// Its id.
        agent: Arc<str>,
        /// Display name.
        name: String,
        /// Free-form kind.
        agent_type: String,
        /// Task types it runs (`None`: all).
        capabilities: Option<Vec<TaskType>>,
        /// Attempts at once.
        max_concurrent_tasks: u32,
    },
    /// An agent left on purpose.
    AgentUnregistered {
        /// Its id.
        agent: Arc<str>,
    },
    /// An agent stopped heartbeating and is considered gone.
    AgentLost {
        /// Its id.
        agent: Arc<str>,
        /// How long it had been silent.
        silent_for: Time,
    },
    /// The plan's tasks were taken in.
    TasksAdded {
        /// How many.
        count: usize,
        /// Their ids, in plan order (the plan's shared list: a run of a million tasks
        /// does not copy a million ids to announce them).
        tasks: TextTable,
    },
    /// The first task of a layer was dispatched.
    LayerStart {
        /// 0-based layer.
        layer: u32,
        /// Layers in the plan.
        total_layers: usize,
        /// Tasks in this layer.
        tasks: u32,
    },
    /// Every task of a layer has ended.
    LayerComplete {
        /// 0-based layer.
        layer: u32,
        /// Tasks of it that succeeded.
        completed: u32,
        /// … failed for good.
        failed: u32,
        /// … were skipped.
        skipped: u32,
    },
    /// A task was handed to an agent (the driver's cue to run it).
    TaskExecute {
        /// Task id.
        task: Text,
        /// Agent id.
        agent: Arc<str>,
        /// Attempt number.
        attempt: u32,
        /// When the attempt times out.
        deadline: Time,
        /// How many context items it carries.
        context_items: usize,
    },
    /// The agent reported that it began the attempt.
    TaskStart {
        /// Task id.
        task: Text,
        /// Agent id.
        agent: Arc<str>,
        /// Attempt number.
        attempt: u32,
        /// Task title.
        title: Text,
        /// Its layer.
        layer: u32,
    },
    /// An attempt succeeded; the task is done.
    TaskComplete {
        /// Task id.
        task: Text,
        /// Agent id.
        agent: Arc<str>,
        /// Attempt number.
        attempt: u32,
        /// How long the attempt ran.
        duration: Time,
        /// The agent's result summary.
        result: Option<String>,
    },
    /// An attempt failed (or timed out).
    TaskFailed {
        /// Task id.
        task: Text,
        /// Agent id.
        agent: Arc<str>,
        /// Attempt number.
        attempt: u32,
        /// What went wrong.
        error: String,
        /// Failed attempts so far.
        retry_count: u32,
        /// Whether it will be retried; if not, it failed for good.
        will_retry: bool,
    },
    /// A failed task will be retried after a backoff.
    TaskRetry {
        /// Task id.
        task: Text,
        /// Failed attempts so far.
        retry_count: u32,
        /// When it becomes ready again.
        not_before: Time,
        /// The error that caused the retry.
        error: String,
    },
    /// An attempt ran past its timeout and was cancelled.
    TaskTimeout {
        /// Task id.
        task: Text,
        /// Agent id.
        agent: Arc<str>,
        /// Attempt number.
        attempt: u32,
        /// The timeout that expired.
        timeout: Time,
    },
    /// An attempt was taken back without charging the task (its agent was lost or left,
    /// or the driver shut down).
    TaskRequeued {
        /// Task id.
        task: Text,
        /// Agent id.
        agent: Arc<str>,
        /// The attempt taken back.
        attempt: u32,
    },
    /// A ready task cannot run yet.
    TaskBlocked {
        /// Task id.
        task: Text,
        /// Why.
        reason: BlockReason,
    },
    /// A task will not run because a task it needs failed or was skipped.
    TaskSkipped {
        /// Task id.
        task: Text,
        /// The task it needed that did not succeed.
        because: Text,
    },
    /// An agent posted to the context board.
    ContextShared {
        /// Agent id.
        agent: Arc<str>,
        /// `discovery`, `solution` or `error`.
        kind: String,
        /// One line.
        summary: String,
    },
    /// An input that no longer applies (a stale or duplicate result, an unknown agent)
    /// was ignored.
    InputIgnored {
        /// Why.
        reason: String,
    },
    /// Totals after something ended.
    Progress(Progress),
    /// Every task has ended.
    DistributionComplete {
        /// Tasks in the plan.
        total_tasks: usize,
        /// Succeeded.
        completed_tasks: usize,
        /// Failed for good.
        failed_tasks: usize,
        /// Skipped.
        skipped_tasks: usize,
        /// From time 0 to now.
        duration: Time,
    },
    /// The run cannot go on as things stand (e.g. no agent left that can run what is
    /// ready). A driver that can add agents may still continue.
    DistributionError {
        /// What is stuck, naming a task.
        error: String,
    },
}
