//! Deadlines the core keeps: retry backoffs, attempt timeouts and agent heartbeats, in one
//! heap ordered by `(time, insertion sequence)` so equal times fire in the order they were
//! set. Entries are never removed early; the owner checks on expiry whether one still
//! applies (the attempt it names may have ended), which keeps every update O(log n).

use super::io::AgentIdx;
use crate::model::Time;
use crate::plan::TaskIdx;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// What a deadline is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Timer {
    /// The task's backoff after the failure of this attempt ends.
    Backoff(TaskIdx, u32),
    /// This attempt of the task times out.
    Attempt(TaskIdx, u32),
    /// The agent's heartbeat deadline may have passed.
    Heartbeat(AgentIdx),
}

/// The heap of deadlines.
#[derive(Default)]
pub(super) struct Timers {
    heap: BinaryHeap<Reverse<(Time, u64, Timer)>>,
    seq: u64,
}

impl Timers {
    /// Sets a deadline.
    pub fn set(&mut self, at: Time, timer: Timer) {
        self.seq += 1;
        self.heap.push(Reverse((at, self.seq, timer)));
    }

    /// The earliest deadline, if any.
    pub fn peek(&self) -> Option<(Time, Timer)> {
        self.heap
            .peek()
            .map(|Reverse((at, _, timer))| (*at, *timer))
    }

    /// Removes and returns the earliest deadline.
    pub fn pop(&mut self) -> Option<(Time, Timer)> {
        self.heap.pop().map(|Reverse((at, _, timer))| (at, timer))
    }
}
