//! What goes into the core ([`Input`]) and what comes out of it as commands for the driver
//! ([`Decision`]). Inputs are serializable so a driver can journal them and rebuild the
//! exact state by replaying them.

use super::context::{Context, ContextItem, Shared};
use crate::model::{AgentSpec, Time};
use crate::plan::TaskIdx;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// An agent's dense index: the order in which the core first saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AgentIdx(pub u32);

impl AgentIdx {
    /// As a `usize`, for indexing.
    pub fn ix(self) -> usize {
        self.0 as usize
    }
}

/// Something that happened outside the core, reported by the driver with its time.
///
/// Results carry the attempt number they answer; a result for any other attempt than the
/// one running (a timed-out, cancelled or requeued attempt) is ignored, so late or duplicate
/// reports never change state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "input", rename_all = "snake_case")]
pub enum Input {
    /// An agent joins, or comes back under the same id. Its index is assigned in order of
    /// first appearance (see [`super::Scheduler::agent_index`]).
    AgentUp {
        /// Who it is and what it can do.
        spec: AgentSpec,
    },
    /// An agent leaves on purpose; its attempts are requeued without charging the tasks.
    AgentDown {
        /// The agent.
        agent: AgentIdx,
    },
    /// The agent is known to be lost now, without waiting for its heartbeat deadline: the
    /// process behind it was replaced (a remote worker restarted under its id). As when
    /// it goes silent, its attempts are requeued and counted as lost, apart from failures.
    AgentLost {
        /// The agent.
        agent: AgentIdx,
    },
    /// The agent is alive. Any input from an agent counts as a heartbeat too.
    Heartbeat {
        /// The agent.
        agent: AgentIdx,
    },
    /// The agent actually began an assigned attempt.
    TaskStarted {
        /// The task.
        task: TaskIdx,
        /// The agent.
        agent: AgentIdx,
        /// The attempt it began.
        attempt: u32,
    },
    /// An attempt finished successfully.
    TaskSucceeded {
        /// The task.
        task: TaskIdx,
        /// The agent.
        agent: AgentIdx,
        /// The attempt that finished.
        attempt: u32,
        /// Free-form result summary.
        result: Option<String>,
    },
    /// An attempt failed.
    TaskFailed {
        /// The task.
        task: TaskIdx,
        /// The agent.
        agent: AgentIdx,
        /// The attempt that failed.
        attempt: u32,
        /// What went wrong (shared with other agents when context sharing is on).
        error: String,
    },
    /// An agent shares a discovery, a solution or an error on the context board.
    Share {
        /// The agent sharing.
        agent: AgentIdx,
        /// What it shares.
        item: ContextItem,
    },
    /// Stop dispatching and cancel every running attempt (a driver shutting down). The
    /// cancelled attempts are not charged; the tasks go back to ready for a later resume.
    Shutdown,
}

/// A command from the core to its driver.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum Decision {
    /// Run this attempt of this task on this agent.
    Assign(Assignment),
    /// Stop this attempt; any result it still reports is ignored.
    Cancel {
        /// The task.
        task: TaskIdx,
        /// The agent running it.
        agent: AgentIdx,
        /// The attempt to stop.
        attempt: u32,
        /// Why.
        reason: CancelReason,
    },
    /// Hand an item shared while this attempt runs to it: the item reaches the attempt's
    /// task by the rules that select an assignment's context (see [`Delivery`]).
    Deliver(Delivery),
}

/// A context item for an attempt already running.
///
/// When an item goes on the board (an agent shares it, or the core records a failure),
/// every attempt then running on another agent whose task it is relevant to gets one, in
/// plan order of the tasks: a discovery the attempts that lock one of its files, a
/// solution the attempts of the type its problem type names, an error the attempts of the
/// type of the task it came from. The sharing agent's own attempts get none: like related
/// work, an agent knows what it said itself. Nothing is delivered with context sharing off.
/// A delivery changes no state of the core (it is not journaled or replayed); a driver
/// carries it out, or drops it if the attempt has ended since.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    /// The task.
    pub task: TaskIdx,
    /// The agent running it.
    pub agent: AgentIdx,
    /// The running attempt.
    pub attempt: u32,
    /// The item, with who shared it and when.
    pub shared: Arc<Shared>,
}

/// One attempt handed to an agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Assignment {
    /// The task.
    pub task: TaskIdx,
    /// The agent.
    pub agent: AgentIdx,
    /// 1 for the first attempt; every dispatch of the task gets the next number.
    pub attempt: u32,
    /// When the core will time the attempt out.
    pub deadline: Time,
    /// What other agents found that is relevant to this task.
    pub context: Context,
}

/// Why an attempt is cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CancelReason {
    /// It ran past its timeout (counted as a failed attempt).
    Timeout,
    /// Its agent was lost or left (not counted).
    AgentLost,
    /// The driver is shutting down (not counted).
    Shutdown,
}
