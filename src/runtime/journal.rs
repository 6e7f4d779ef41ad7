//! The write-ahead journal of a run: every call the runner makes into the scheduling core,
//! with its time, handed to a [`Journal`] (the SQLite store, or anything else) before any
//! decision that came out of it is carried out.
//!
//! The core is deterministic, so replaying the entries in order rebuilds its exact state:
//! that is how a run resumes after a crash. One rule bends that: an
//! [`Input::Shutdown`](crate::core::Input::Shutdown) ends the process that journaled it
//! and is skipped on replay, so the resumed core still sees the attempts it cancelled as
//! running and requeues them when the resume takes their agents down.

use crate::core::{Decision, Event, Input, Progress, TaskStatus};
use crate::model::Time;
use crate::plan::TaskIdx;
use serde::{Deserialize, Serialize};

/// One call into the core.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "call", rename_all = "snake_case")]
pub enum Call {
    /// `handle_input(now, input)`.
    Input {
        /// What was fed in.
        input: Input,
    },
    /// `handle_timeout(now)`.
    Timeout,
}

/// A journaled call and the core time it was made at.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JournalEntry {
    /// Milliseconds since the run started, as the core was told.
    pub now: Time,
    /// The call.
    pub call: Call,
}

/// Everything one step of the runner did: the calls it made and what the core answered.
/// A step is committed as a whole before its decisions are carried out.
#[derive(Debug, Clone, Copy)]
pub struct Batch<'a> {
    /// The calls, in order.
    pub entries: &'a [JournalEntry],
    /// The decisions they produced, in order.
    pub decisions: &'a [Decision],
    /// The events they produced, in order.
    pub events: &'a [Event],
    /// The status after the step of every task the step may have changed (those its
    /// events name, and the dependents of those that ended), by task index.
    pub statuses: &'a [(TaskIdx, TaskStatus)],
    /// The core's totals after the step.
    pub progress: &'a Progress,
}

/// How a run (or one process's part of it) ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunStatus {
    /// Every task ended and every one succeeded.
    Completed,
    /// Every task ended, some failed or were skipped.
    Failed,
    /// Stopped on request (Ctrl-C); resumable.
    Interrupted,
    /// No progress was possible with the agents there were.
    Stalled {
        /// The core's explanation, naming a task.
        reason: String,
    },
}

impl RunStatus {
    /// The name used in the store and in messages.
    pub fn as_str(&self) -> &'static str {
        match self {
            RunStatus::Completed => "completed",
            RunStatus::Failed => "failed",
            RunStatus::Interrupted => "interrupted",
            RunStatus::Stalled { .. } => "stalled",
        }
    }
}

/// The error a [`Journal`] returns; the runner stops and reports it.
pub type JournalError = Box<dyn std::error::Error + Send + Sync>;

/// Durable storage for a run. The runner calls [`Journal::commit`] once per step, before
/// it starts or cancels anything the step decided, so after a crash the journal never
/// lags behind what was done; a failed commit stops the run.
pub trait Journal: Send {
    /// Makes a step durable.
    fn commit(&mut self, batch: Batch<'_>) -> Result<(), JournalError>;

    /// Called once, before the first commit, when the run continues an earlier one whose
    /// journal replayed cleanly (nothing is written before that check).
    fn resume(&mut self) -> Result<(), JournalError> {
        Ok(())
    }

    /// Records how the run (this process's part of it) ended, with the final totals.
    fn finish(&mut self, status: &RunStatus, progress: &Progress) -> Result<(), JournalError>;
}
