//! Deadlines the core keeps: retry backoffs, attempt timeouts and agent heartbeats, ordered
//! by `(time, insertion sequence)` so equal times fire in the order they were set. Entries
//! are never removed early; the owner checks on expiry whether one still applies (the
//! attempt it names may have ended), which keeps every update cheap.
//!
//! Most deadlines are set in time order: every attempt without a timeout of its own gets
//! `now + task_timeout`, and `now` never goes back. Those go to a FIFO queue, O(1) each; a
//! deadline earlier than the last one queued (a backoff, a task's own timeout, a re-armed
//! heartbeat) goes to a heap, O(log n). The earliest deadline is the smaller of the two
//! heads, so the order is the same as one heap of everything.

use super::io::AgentIdx;
use crate::model::Time;
use crate::plan::TaskIdx;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

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

/// A deadline: when, its insertion sequence number, what for.
type Entry = (Time, u64, Timer);

/// The deadlines.
#[derive(Default)]
pub(super) struct Timers {
    /// Deadlines set in time order, earliest first.
    in_order: VecDeque<Entry>,
    /// The others.
    heap: BinaryHeap<Reverse<Entry>>,
    seq: u64,
}

impl Timers {
    /// Sets a deadline.
    pub fn set(&mut self, at: Time, timer: Timer) {
        self.seq += 1;
        let entry = (at, self.seq, timer);
        if self.in_order.back().is_none_or(|last| last.0 <= at) {
            self.in_order.push_back(entry);
        } else {
            self.heap.push(Reverse(entry));
        }
    }

    /// Whether the head of the queue comes before the head of the heap.
    fn queue_first(&self) -> Option<bool> {
        match (self.in_order.front(), self.heap.peek()) {
            (None, None) => None,
            (Some(_), None) => Some(true),
            (None, Some(_)) => Some(false),
            (Some(q), Some(Reverse(h))) => Some((q.0, q.1) < (h.0, h.1)),
        }
    }

    /// The earliest deadline, if any.
    pub fn peek(&self) -> Option<(Time, Timer)> {
        let entry = if self.queue_first()? {
            self.in_order.front()
        } else {
            self.heap.peek().map(|Reverse(e)| e)
        };
        entry.map(|&(at, _, timer)| (at, timer))
    }

    /// Removes and returns the earliest deadline.
    pub fn pop(&mut self) -> Option<(Time, Timer)> {
        let entry = if self.queue_first()? {
            self.in_order.pop_front()
        } else {
            self.heap.pop().map(|Reverse(e)| e)
        };
        entry.map(|(at, _, timer)| (at, timer))
    }
}

#[cfg(test)]
mod tests {
    use super::{Timer, Timers};
    use crate::plan::TaskIdx;
    use proptest::prelude::*;

    proptest! {
        /// Deadlines come out by time, equal times in the order they were set, whichever
        /// mix of in-order and out-of-order deadlines went in.
        #[test]
        fn pops_by_time_then_insertion(
            ops in prop::collection::vec((any::<bool>(), 0u64..50), 1..200)
        ) {
            let mut timers = Timers::default();
            let mut model: Vec<(u64, u64)> = Vec::new();
            let mut seq = 0;
            for (pop, at) in ops {
                if pop {
                    model.sort();
                    let expected = (!model.is_empty()).then(|| model.remove(0));
                    let got = timers.pop().map(|(at, timer)| match timer {
                        Timer::Attempt(_, n) => (at, u64::from(n)),
                        other => panic!("unexpected {other:?}"),
                    });
                    prop_assert_eq!(got, expected);
                } else {
                    seq += 1;
                    timers.set(at, Timer::Attempt(TaskIdx(0), seq as u32));
                    model.push((at, seq));
                }
                model.sort();
                prop_assert_eq!(timers.peek().map(|(at, _)| at), model.first().map(|e| e.0));
            }
        }
    }
}
