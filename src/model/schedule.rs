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
    /// How the core dispatches with this schedule (default `follow`; a schedule made for
    /// random durations may say otherwise, see [`Dispatch`]).
    #[serde(default, skip_serializing_if = "Dispatch::is_follow")]
    pub dispatch: Dispatch,
}

/// How the `optimized` policy uses its schedule.
///
/// With exact durations the schedule is best followed slot by slot. When durations are
/// random, its slot sequences and planned gaps no longer hold and a list schedule may do
/// better; which one is chosen at plan time by simulating samples of the scenario's own
/// duration model (`sim::choose_dispatch`).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Dispatch {
    /// Follow the slot sequences while the run goes as planned (a task starts on its
    /// slot once its dependencies, its slot predecessor and the tasks planned before it
    /// on its files are done); at the first fault or an attempt far off its plan,
    /// dispatch dynamically by planned start.
    #[default]
    Follow,
    /// From the start, a list schedule: any free agent takes the ready task with the
    /// earliest planned start.
    PlannedStart,
    /// From the start, a list schedule in critical-path order (longest bottom level
    /// first), as the `critical-path` policy.
    CriticalPath,
}

impl Dispatch {
    /// Every mode. A plan-time choice for random durations keeps the first
    /// (critical-path order) unless another is significantly better on its samples.
    pub const ALL: [Dispatch; 3] = [
        Dispatch::CriticalPath,
        Dispatch::PlannedStart,
        Dispatch::Follow,
    ];

    /// Whether this is [`Dispatch::Follow`] (the serialized default).
    pub fn is_follow(&self) -> bool {
        *self == Dispatch::Follow
    }
}

impl std::fmt::Display for Dispatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Dispatch::Follow => "follow",
            Dispatch::PlannedStart => "planned-start",
            Dispatch::CriticalPath => "critical-path",
        })
    }
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
