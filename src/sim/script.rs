//! What a replay feeds the simulator instead of drawing: each task's recorded attempt
//! outcomes and durations, in order, and the times agents were lost and came back. Built
//! from a run database by [`crate::replay`]; the simulator only reads it.

use crate::model::Time;

/// How a recorded attempt ended, as far as the scheduler could tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScriptedEnd {
    /// It reported success.
    Succeeded,
    /// It reported failure.
    Failed,
    /// It never reported: its timeout ended it.
    Hung,
    /// It never reported: it was lost with its agent (or stopped with its runner), and
    /// that loss ended it. Scripted only when the losses are replayed too.
    Lost,
}

/// One recorded attempt that the scheduler charged to its task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScriptedAttempt {
    /// From its assignment to its report (unused for [`ScriptedEnd::Hung`] and
    /// [`ScriptedEnd::Lost`]).
    pub duration_ms: Time,
    /// How it ended.
    pub end: ScriptedEnd,
    /// Its report's position in the recorded run (the journal's order): reports at equal
    /// times are taken in this order.
    pub rank: u64,
}

/// An agent that left the recorded run (lost, or taken down when its runner died).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leave {
    /// The agent's id.
    pub agent: String,
    /// When the scheduler was told.
    pub at: Time,
    /// Its position in the recorded run (the journal's order).
    pub rank: u64,
    /// When it came back, if it did, and that return's position.
    pub back_at: Option<(Time, u64)>,
}

/// A recorded run, as the simulator replays it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Script {
    /// By task index: the recorded attempts in attempt order. With `by_attempt`, every
    /// one (lost ones too): attempt `k` replays entry `k − 1`. Without, only the charged
    /// ones (successes, failures, hangs): an attempt replays the entry after the task's
    /// charged failures so far, so an attempt lost in the replay does not use one up.
    pub attempts: Vec<Vec<ScriptedAttempt>>,
    /// Whether `attempts` holds every recorded attempt, indexed by attempt number (when
    /// the recorded losses are replayed: an attempt lost with its agent in the recorded
    /// run is lost in the replay too, instead of taking the record of the attempt that
    /// re-ran it, which may end before the loss and change what follows).
    pub by_attempt: bool,
    /// Agent losses, in the order the run recorded them.
    pub leaves: Vec<Leave>,
    /// When the recorded runner woke for the core's deadlines (its `handle_timeout`
    /// calls), ascending, each with its position in the recorded run. A real timer fires
    /// a little late, and deadlines that passed while it slept are handled together; the
    /// replay handles a deadline at the first of these times at or after it, up to
    /// [`TIMER_LAG_MAX_MS`] late, and in that wake-up's place among reports and losses
    /// at the same time (a runner killed just after waking for a retry leaves the retry
    /// ready before its resume takes the agents down).
    pub timeouts: Vec<(Time, u64)>,
}

/// The most a replay delays a deadline to a recorded wake-up: beyond this, the wake-up
/// was for something else.
pub const TIMER_LAG_MAX_MS: Time = 500;

impl Script {
    /// When the replay handles a deadline due at `due`, and its rank among happenings at
    /// that time: a recorded wake-up's position, or `None` when no recorded wake-up
    /// matches (the deadline is then handled at `due`, after everything else at `due`).
    pub fn wake_up(&self, due: Time) -> (Time, Option<u64>) {
        let i = self.timeouts.partition_point(|&(t, _)| t < due);
        match self.timeouts.get(i) {
            Some(&(t, rank)) if t - due <= TIMER_LAG_MAX_MS => (t, Some(rank)),
            _ => (due, None),
        }
    }
}
