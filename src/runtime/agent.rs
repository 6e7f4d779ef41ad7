//! The [`Agent`] trait: what the runner asks of anything that executes tasks, and the
//! [`Job`] it hands over for each attempt, with the [`Inbox`] of context shared while the
//! attempt runs.

use crate::core::{AgentIdx, Context, ContextItem, Shared};
use crate::model::{TaskSpec, Time};
use crate::plan::{Plan, TaskIdx};
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};
use tokio_util::sync::CancellationToken;

/// A boxed future that can move between threads: what [`Agent`] methods return, so agents
/// of different types can sit side by side as `Arc<dyn Agent>`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// How an attempt ended, as the agent reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Report {
    /// The work is done.
    Succeeded {
        /// A short summary for events and the store.
        result: Option<String>,
    },
    /// The work failed; the scheduler may retry it elsewhere.
    Failed {
        /// What went wrong, in one line; shared with other agents.
        error: String,
    },
}

/// Something that runs tasks: a local process, a remote worker, an LLM coding agent.
///
/// The runner calls [`Agent::execute`] once per attempt, possibly several at once (up to
/// the agent's `max_concurrent_tasks`), each on its own tokio task. When the scheduler
/// cancels the attempt (a timeout, a lost agent, Ctrl-C), `cancel` fires: the agent must
/// stop the work promptly and return (its report is then ignored). A report for an attempt
/// that was already cancelled is harmless: the scheduler ignores stale results.
pub trait Agent: Send + Sync {
    /// Runs one attempt and reports how it ended.
    fn execute<'a>(&'a self, job: Job, cancel: CancellationToken) -> BoxFuture<'a, Report>;

    /// Whether the agent is alive, asked every heartbeat interval (a third of
    /// `heartbeat_timeout`). An agent that answers `false`, or not within the interval,
    /// for the whole timeout is lost: its attempts are cancelled and requeued elsewhere.
    /// If it answers `true` again later it rejoins. The default is always alive, right for
    /// agents that live inside the runner's process.
    fn heartbeat(&self) -> BoxFuture<'_, bool> {
        Box::pin(async { true })
    }
}

/// What reaches the runner's loop from the tasks it spawned: agents' notes during an
/// attempt, attempts' reports, and heartbeat answers.
#[derive(Debug)]
pub(crate) enum Note {
    Started {
        task: TaskIdx,
        agent: AgentIdx,
        attempt: u32,
    },
    Share {
        agent: AgentIdx,
        item: ContextItem,
    },
    Done {
        task: TaskIdx,
        agent: AgentIdx,
        attempt: u32,
        report: Report,
    },
    Alive {
        agent: AgentIdx,
        alive: bool,
    },
}

/// Context items shared by other agents while an attempt runs, as the scheduler delivers
/// them to it (see [`crate::core::Delivery`] for which items reach which attempt), in the
/// order they were shared.
#[derive(Debug)]
pub struct Inbox(pub(crate) UnboundedReceiver<Arc<Shared>>);

impl Inbox {
    /// The next item; waits for one. `None` once the runner has let go of the attempt
    /// (it ended, was cancelled, or the run is over): nothing more will come.
    pub async fn recv(&mut self) -> Option<Arc<Shared>> {
        self.0.recv().await
    }

    /// The next item if one has arrived, without waiting.
    pub fn try_recv(&mut self) -> Option<Arc<Shared>> {
        self.0.try_recv().ok()
    }
}

/// One attempt handed to an agent: the task, the attempt number, the context the
/// scheduler selected for it, the inbox of context shared while it runs, and a line back
/// to the runner.
#[derive(Debug)]
pub struct Job {
    pub(crate) plan: Arc<Plan>,
    /// The task.
    pub task: TaskIdx,
    /// The agent running it.
    pub agent: AgentIdx,
    /// The agent's id.
    pub agent_id: Arc<str>,
    /// 1 for the first attempt of the task; each dispatch gets the next number.
    pub attempt: u32,
    /// How long the attempt may run before the scheduler cancels it, in milliseconds.
    pub timeout_ms: Time,
    /// Other agents' work on the same files, discoveries, solutions and recent errors.
    pub context: Context,
    /// A directory reserved for this attempt's files (logs, context) under the run
    /// directory, not yet created; `None` when the runner was given no run directory.
    pub dir: Option<PathBuf>,
    /// Context shared after the attempt was assigned, delivered while it runs.
    pub inbox: Inbox,
    pub(crate) notes: UnboundedSender<Note>,
}

impl Job {
    /// The task's specification.
    pub fn spec(&self) -> &TaskSpec {
        self.plan.task(self.task)
    }

    /// Tells the runner the work has actually begun (the `task_start` event).
    pub fn started(&self) {
        // The runner outlives every attempt it spawned; a send can only fail once it has
        // given up on the run, when nobody listens any more.
        let _ = self.notes.send(Note::Started {
            task: self.task,
            agent: self.agent,
            attempt: self.attempt,
        });
    }

    /// Posts a discovery, solution or error on the shared context board, where other
    /// agents' later assignments will find it.
    pub fn share(&self, item: ContextItem) {
        let _ = self.notes.send(Note::Share {
            agent: self.agent,
            item,
        });
    }
}
