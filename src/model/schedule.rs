//! A static schedule: for each agent slot, the tasks it runs in order with their planned
//! start times. `taskdist plan --optimize --json` writes one, `--schedule FILE` reads it
//! back, and the `optimized` policy follows it. Tasks and agents are named by id, so a
//! schedule file stays readable and is checked against the plan it is used with.

use super::Time;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// A static schedule and what is known of its quality.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    /// When the last task ends, with every task at its estimate (ms).
    pub makespan_ms: Time,
    /// The best lower bound known for the plan on these slots (ms).
    pub lower_bound_ms: Time,
    /// Which bound that is (see `plan::Bounds::set_by`).
    pub bound_by: String,
    /// How optimality was proved: `bound` (the makespan meets the lower bound), or `None`
    /// when it was not.
    pub proved_by: Option<String>,
    /// The slots: one per agent and concurrent attempt, in agent order.
    pub slots: Vec<SlotPlan>,
}

impl Schedule {
    /// `makespan / lower bound - 1`, in percent (0 when optimal).
    pub fn gap_percent(&self) -> f64 {
        if self.lower_bound_ms == 0 {
            return 0.0;
        }
        (self.makespan_ms as f64 / self.lower_bound_ms as f64 - 1.0) * 100.0
    }

    /// `optimal (bound)` or `gap 1.23%` (a gap to the bound, not necessarily to the
    /// optimum).
    pub fn status(&self) -> String {
        match &self.proved_by {
            Some(by) => format!("optimal ({by})"),
            None => format!("gap {:.2}%", self.gap_percent()),
        }
    }
}

/// The tasks one agent slot runs, in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SlotPlan {
    /// The agent's id (an agent with `max_concurrent_tasks = k` has k slots).
    pub agent: Arc<str>,
    /// Its tasks, by planned start.
    pub tasks: Vec<PlannedTask>,
}

/// One task's place in a slot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlannedTask {
    /// The task's id.
    pub task: Arc<str>,
    /// Planned start (ms from the start of the run).
    pub start_ms: Time,
    /// Planned end (ms).
    pub end_ms: Time,
}
