//! The problem in compact arrays and its decoder: the serial schedule-generation scheme
//! with insertion. Given a precedence-feasible order, each task in turn goes at the
//! earliest time at or after its dependencies' ends where a capable slot is free for its
//! whole duration and no conflicting lock is held — into an earlier gap if one fits. Every
//! order decodes to an active schedule, and some order decodes to an optimal one.

use crate::model::Time;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// Compressed rows: `items[start[i]..start[i + 1]]` belong to row `i`.
#[derive(Debug, Clone, Default)]
pub(crate) struct Rows<T> {
    start: Vec<u32>,
    items: Vec<T>,
}

impl<T: Copy> Rows<T> {
    pub(crate) fn from_rows(rows: impl IntoIterator<Item = impl IntoIterator<Item = T>>) -> Self {
        let mut out = Rows {
            start: vec![0],
            items: Vec::new(),
        };
        for row in rows {
            out.items.extend(row);
            out.start.push(out.items.len() as u32);
        }
        out
    }

    pub(crate) fn row(&self, i: usize) -> &[T] {
        &self.items[self.start[i] as usize..self.start[i + 1] as usize]
    }
}

/// One agent slot.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Slot {
    /// Relative speed: a task takes `round(estimate / speed)`.
    pub speed: f64,
    /// Bit `ty` set for each task type it runs.
    pub mask: u8,
}

/// The scheduling problem: tasks with durations, precedences, locks and capable slots.
#[derive(Debug, Clone)]
pub(crate) struct Instance {
    pub dur: Vec<Time>,
    pub preds: Rows<u32>,
    pub succs: Rows<u32>,
    /// Per task, `(file, write)`.
    pub locks: Rows<(u32, bool)>,
    pub files: usize,
    pub slots: Vec<Slot>,
    /// Per task, the bit of its type.
    pub type_bit: Vec<u8>,
}

/// A decoded schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Decoded {
    pub start: Vec<Time>,
    pub end: Vec<Time>,
    pub slot: Vec<u32>,
    pub makespan: Time,
}

impl Instance {
    pub(crate) fn len(&self) -> usize {
        self.dur.len()
    }

    /// The task's duration on the slot, as the simulator draws it with fixed durations.
    pub(crate) fn dur_on(&self, t: usize, slot: usize) -> Time {
        let speed = self.slots[slot].speed;
        if speed == 1.0 {
            self.dur[t]
        } else {
            (self.dur[t] as f64 / speed).round().max(0.0) as Time
        }
    }

    /// The same problem with every precedence reversed (for backward passes).
    pub(crate) fn reversed(&self) -> Instance {
        Instance {
            preds: self.succs.clone(),
            succs: self.preds.clone(),
            ..self.clone()
        }
    }

    /// Bottom levels at speed 1 (the task's duration plus the longest chain after it).
    pub(crate) fn bottom_levels(&self) -> Vec<Time> {
        let order = self.order_by(&vec![0; self.len()]);
        let mut bl = vec![0; self.len()];
        for &t in order.iter().rev() {
            let t = t as usize;
            let after = self.succs.row(t).iter().map(|&s| bl[s as usize]).max();
            bl[t] = self.dur[t] + after.unwrap_or(0);
        }
        bl
    }

    /// The precedence-feasible order that takes, among the tasks whose predecessors are
    /// all placed, the one with the smallest key (ties by index).
    pub(crate) fn order_by<K: Ord + Copy>(&self, key: &[K]) -> Vec<u32> {
        let n = self.len();
        let mut unmet: Vec<u32> = (0..n).map(|t| self.preds.row(t).len() as u32).collect();
        let mut heap: BinaryHeap<Reverse<(K, u32)>> = (0..n as u32)
            .filter(|&t| unmet[t as usize] == 0)
            .map(|t| Reverse((key[t as usize], t)))
            .collect();
        let mut order = Vec::with_capacity(n);
        while let Some(Reverse((_, t))) = heap.pop() {
            order.push(t);
            for &s in self.succs.row(t as usize) {
                unmet[s as usize] -= 1;
                if unmet[s as usize] == 0 {
                    heap.push(Reverse((key[s as usize], s)));
                }
            }
        }
        assert_eq!(order.len(), n, "a validated plan is acyclic");
        order
    }
}

/// Reusable state of the decoder (interval lists per slot and per file).
pub(crate) struct Decoder {
    /// Per slot, busy intervals sorted by start.
    busy: Vec<Vec<(Time, Time)>>,
    /// Per file, `(start, end, write)` of the tasks placed so far.
    held: Vec<Vec<(Time, Time, bool)>>,
}

impl Decoder {
    pub(crate) fn new(inst: &Instance) -> Decoder {
        Decoder {
            busy: vec![Vec::new(); inst.slots.len()],
            held: vec![Vec::new(); inst.files],
        }
    }

    /// Decodes a precedence-feasible order. Returns `None` if a task has no capable slot.
    pub(crate) fn decode(&mut self, inst: &Instance, order: &[u32]) -> Option<Decoded> {
        let n = inst.len();
        self.busy.iter_mut().for_each(Vec::clear);
        self.held.iter_mut().for_each(Vec::clear);
        let mut out = Decoded {
            start: vec![0; n],
            end: vec![0; n],
            slot: vec![0; n],
            makespan: 0,
        };
        for &t in order {
            let t = t as usize;
            let ready = inst
                .preds
                .row(t)
                .iter()
                .map(|&p| out.end[p as usize])
                .max()
                .unwrap_or(0);
            let (start, slot) = self.place(inst, t, ready)?;
            let end = start + inst.dur_on(t, slot);
            let list = &mut self.busy[slot];
            let at = list.partition_point(|&(s, _)| s <= start);
            list.insert(at, (start, end));
            for &(f, write) in inst.locks.row(t) {
                self.held[f as usize].push((start, end, write));
            }
            out.start[t] = start;
            out.end[t] = end;
            out.slot[t] = slot as u32;
            out.makespan = out.makespan.max(end);
        }
        Some(out)
    }

    /// The earliest start at or after `ready` on some capable slot with free locks; among
    /// slots free then, the one whose previous work ends latest (the tightest fit), then
    /// the lowest.
    fn place(&self, inst: &Instance, t: usize, ready: Time) -> Option<(Time, usize)> {
        let mut at = ready;
        loop {
            // (start, -previous end, slot) of the best slot for a start at or after `at`.
            let mut best: Option<(Time, Reverse<Time>, usize)> = None;
            let mut lock_retry = Time::MAX;
            for (s, slot) in inst.slots.iter().enumerate() {
                if slot.mask & inst.type_bit[t] == 0 {
                    continue;
                }
                let d = inst.dur_on(t, s);
                let (start, prev_end) = earliest_gap(&self.busy[s], at, d);
                if best.is_some_and(|b| (start, Reverse(prev_end), s) >= b) {
                    continue;
                }
                match self.lock_conflict(inst, t, start, start + d) {
                    None => best = Some((start, Reverse(prev_end), s)),
                    Some(free_at) => lock_retry = lock_retry.min(free_at),
                }
            }
            match best {
                Some((start, _, s)) if start <= lock_retry => return Some((start, s)),
                _ if lock_retry == Time::MAX => return best.map(|(start, _, s)| (start, s)),
                // A slot was blocked by a lock only; try again from when that lock frees
                // (it may beat the best found), unless the best is sooner.
                _ => at = lock_retry,
            }
        }
    }

    /// The latest end among the locks that conflict with `t` over `[start, end)`.
    fn lock_conflict(&self, inst: &Instance, t: usize, start: Time, end: Time) -> Option<Time> {
        let mut free_at: Option<Time> = None;
        for &(f, write) in inst.locks.row(t) {
            for &(s, e, w) in &self.held[f as usize] {
                if (write || w) && s < end.max(start + 1) && start < e {
                    free_at = Some(free_at.map_or(e, |x: Time| x.max(e)));
                }
            }
        }
        free_at
    }
}

/// The earliest start at or after `at` of a gap of `d` in `busy` (sorted, disjoint), and
/// the end of the interval before it (0 if none).
fn earliest_gap(busy: &[(Time, Time)], at: Time, d: Time) -> (Time, Time) {
    let mut start = at;
    let mut prev_end = 0;
    for &(s, e) in busy {
        if e <= start {
            prev_end = e;
            continue;
        }
        if start + d <= s && (d > 0 || start < s) {
            return (start, prev_end);
        }
        start = start.max(e);
        prev_end = e;
    }
    (start, prev_end)
}
