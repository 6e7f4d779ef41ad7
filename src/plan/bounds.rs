//! Lower bounds on the makespan of a plan on `m` identical agents at speed 1, without
//! failures: the classic three (critical path, work over agents, busiest file) and the
//! stronger ones that prove more schedules optimal — head/tail subsets, the energetic
//! (Fernandez–Bussell) interval test and a single-machine bound per file lock.
//!
//! Every bound holds for any feasible schedule, so the best of them is a bound too; the
//! optimizer stops the moment it meets it. Each is a property test against exhaustive
//! search on small random plans (`optimize::tests`).

use super::{LockMode, Plan, TaskIdx};
use crate::model::Time;
use serde::Serialize;

/// Above this many tasks the quadratic head-and-tail subsets are skipped (the
/// one-sided ones stay): they cost O(n²).
const TWO_SIDED_MAX_TASKS: usize = 5_000;

/// Above this many tasks the energetic test is skipped: each probe costs O(n³).
const ENERGETIC_MAX_TASKS: usize = 200;

/// Every lower bound of a plan on `m` agents, in milliseconds, and the best.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Bounds {
    /// Agents assumed.
    pub agents: usize,
    /// Longest chain of estimates.
    pub critical_path_ms: Time,
    /// `ceil(total work / m)`.
    pub work_ms: Time,
    /// The busiest file: its writers in turn plus its longest reader.
    pub file_ms: Time,
    /// Per file, on one machine: the earliest a writer can start, every writer's work,
    /// then the shortest path after one of them (with at most one reader added).
    pub lock_ms: Time,
    /// For subsets of tasks that cannot start before a head `a` and are followed by at
    /// least a tail `b`: `a + ceil(work / m) + b`.
    pub head_tail_ms: Time,
    /// The smallest makespan the energetic interval test cannot refute (0 when skipped):
    /// with every task in its window `[head, C - tail]`, no interval may hold more
    /// unavoidable work than `m` agents do in it.
    pub energetic_ms: Time,
    /// The best of the above, rounded up to a multiple of the durations' greatest common
    /// divisor (a left-justified schedule starts every task at a sum of durations).
    pub best_ms: Time,
    /// Which bound set `best_ms`: `critical_path`, `work`, `file`, `lock`, `head_tail` or
    /// `energetic` (the first in that order on a tie).
    pub set_by: &'static str,
}

/// The durations, heads and tails bounds are computed from.
struct Shape {
    d: Vec<Time>,
    /// Longest chain before the task (its earliest start).
    head: Vec<Time>,
    /// Longest chain after the task (its bottom level minus itself).
    tail: Vec<Time>,
}

impl Plan {
    /// Every lower bound on `agents` identical agents at speed 1 (see [`Bounds`]).
    pub fn bounds(&self, agents: usize) -> Bounds {
        let m = agents.max(1) as Time;
        let shape = self.shape();
        let gcd = shape.d.iter().fold(0, |g, &d| gcd(g, d)).max(1);
        let critical_path_ms = self.critical_path_ms();
        let work_ms = self.total_work_ms().div_ceil(m);
        let file_ms = self.file_work_ms().into_iter().max().unwrap_or(0);
        let lock_ms = self.lock_bound_ms(&shape);
        let head_tail_ms = head_tail_ms(&shape, m);
        let so_far = [critical_path_ms, work_ms, file_ms, lock_ms, head_tail_ms]
            .into_iter()
            .max()
            .unwrap_or(0)
            .next_multiple_of(gcd);
        let energetic_ms = if self.len() <= ENERGETIC_MAX_TASKS {
            energetic_ms(&shape, m, so_far, gcd)
        } else {
            0
        };
        let named = [
            ("critical_path", critical_path_ms),
            ("work", work_ms),
            ("file", file_ms),
            ("lock", lock_ms),
            ("head_tail", head_tail_ms),
            ("energetic", energetic_ms),
        ];
        let best = named.iter().map(|&(_, b)| b).max().unwrap_or(0);
        let set_by = named
            .iter()
            .find(|&&(_, b)| b == best)
            .map_or("critical_path", |&(name, _)| name);
        Bounds {
            agents: m as usize,
            critical_path_ms,
            work_ms,
            file_ms,
            lock_ms,
            head_tail_ms,
            energetic_ms,
            best_ms: best.next_multiple_of(gcd),
            set_by,
        }
    }

    fn shape(&self) -> Shape {
        let d: Vec<Time> = self.task_indices().map(|t| self.estimate_ms(t)).collect();
        let mut head = vec![0 as Time; self.len()];
        for &t in self.topo_order() {
            let end = head[t.ix()] + d[t.ix()];
            for e in self.succs(t) {
                head[e.to.ix()] = head[e.to.ix()].max(end);
            }
        }
        let tail = self
            .task_indices()
            .map(|t| self.bottom_level_ms(t) - d[t.ix()])
            .collect();
        Shape { d, head, tail }
    }

    /// Per file: `min head + writers' work + min tail` over its writers, and over its
    /// writers with each reader (a reader excludes every writer, so it joins the
    /// sequence).
    fn lock_bound_ms(&self, s: &Shape) -> Time {
        #[derive(Clone, Copy)]
        struct Acc {
            work: Time,
            head: Time,
            tail: Time,
        }
        let none = Acc {
            work: 0,
            head: Time::MAX,
            tail: Time::MAX,
        };
        let mut writers = vec![none; self.files.len()];
        let mut readers: Vec<Vec<TaskIdx>> = vec![Vec::new(); self.files.len()];
        for t in self.task_indices() {
            for lock in self.locks(t) {
                let f = lock.file.ix();
                match lock.mode {
                    LockMode::Write => {
                        let w = &mut writers[f];
                        w.work += s.d[t.ix()];
                        w.head = w.head.min(s.head[t.ix()]);
                        w.tail = w.tail.min(s.tail[t.ix()]);
                    }
                    LockMode::Read => readers[f].push(t),
                }
            }
        }
        let mut best = 0;
        for (w, readers) in writers.iter().zip(&readers) {
            if w.work == 0 {
                continue;
            }
            best = best.max(w.head + w.work + w.tail);
            for r in readers {
                let r = r.ix();
                best = best.max(w.head.min(s.head[r]) + w.work + s.d[r] + w.tail.min(s.tail[r]));
            }
        }
        best
    }
}

fn gcd(a: Time, b: Time) -> Time {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// `max over S of min head(S) + ceil(work(S) / m) + min tail(S)`, for S the tasks with
/// head ≥ a (one-sided), tail ≥ b (one-sided), and both (when the plan is small enough).
fn head_tail_ms(s: &Shape, m: Time) -> Time {
    let n = s.d.len();
    let mut best = 0;
    // One-sided, by heads: add tasks from the latest head down; `a` is the current head.
    for (key, other) in [(&s.head, &s.tail), (&s.tail, &s.head)] {
        // (key, duration, other) by key, latest first: sorting the values themselves, not
        // indices into them, keeps a million-task plan's sort in cache. The order within
        // equal keys does not matter: S is only complete after the last of them.
        let mut order: Vec<(Time, Time, Time)> =
            (0..n).map(|j| (key[j], s.d[j], other[j])).collect();
        order.sort_unstable_by_key(|a| std::cmp::Reverse(a.0));
        let mut work = 0;
        let mut other_min = Time::MAX;
        for (i, &(k, d, o)) in order.iter().enumerate() {
            work += d;
            other_min = other_min.min(o);
            if order.get(i + 1).is_none_or(|next| next.0 != k) {
                best = best.max(k + work.div_ceil(m) + other_min);
            }
        }
    }
    if n > TWO_SIDED_MAX_TASKS {
        return best;
    }
    // Two-sided: S = {head ≥ a, tail ≥ b}; for each a, sweep b downwards.
    let mut by_head: Vec<usize> = (0..n).collect();
    by_head.sort_by_key(|&j| std::cmp::Reverse(s.head[j]));
    let mut by_tail: Vec<usize> = (0..n).collect();
    by_tail.sort_by_key(|&j| std::cmp::Reverse(s.tail[j]));
    let mut member = vec![false; n];
    for (i, &j) in by_head.iter().enumerate() {
        member[j] = true;
        if by_head.get(i + 1).is_some_and(|&k| s.head[k] == s.head[j]) {
            continue;
        }
        let a = s.head[j];
        let mut work = 0;
        for (x, &k) in by_tail.iter().enumerate() {
            if member[k] {
                work += s.d[k];
            }
            if work > 0 && by_tail.get(x + 1).is_none_or(|&y| s.tail[y] != s.tail[k]) {
                best = best.max(a + work.div_ceil(m) + s.tail[k]);
            }
        }
    }
    best
}

/// The smallest makespan `C ≥ from` (a multiple of `step`) that the energetic test does
/// not refute: galloping up from `from`, then bisection (refutation is monotone: a larger
/// `C` only widens the windows). The serial time is never refuted.
fn energetic_ms(s: &Shape, m: Time, from: Time, step: Time) -> Time {
    let serial = s.d.iter().sum::<Time>().div_ceil(step);
    let mut lo = from / step;
    if lo >= serial || !refuted(s, m, lo * step) {
        return from;
    }
    // Invariant: lo is refuted, hi is not.
    let mut jump = 1;
    let mut hi = loop {
        let next = (lo + jump).min(serial);
        if next == serial || !refuted(s, m, next * step) {
            break next;
        }
        lo = next;
        jump *= 2;
    };
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if refuted(s, m, mid * step) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    hi * step
}

/// Whether no schedule of makespan `c` exists by energetic reasoning: some interval
/// `[t1, t2)` between a head and a deadline must hold more work than `m (t2 - t1)`.
fn refuted(s: &Shape, m: Time, c: Time) -> bool {
    let n = s.d.len();
    // A window that cannot hold its task refutes `c` outright.
    if (0..n).any(|j| s.head[j] + s.d[j] + s.tail[j] > c) {
        return true;
    }
    let mut starts: Vec<Time> = s.head.clone();
    starts.sort_unstable();
    starts.dedup();
    let mut ends: Vec<Time> = (0..n).map(|j| c - s.tail[j]).collect();
    ends.sort_unstable();
    ends.dedup();
    for &t1 in &starts {
        for &t2 in ends.iter().filter(|&&t2| t2 > t1) {
            let len = t2 - t1;
            let mut need: Time = 0;
            for j in 0..n {
                let (r, d, deadline) = (s.head[j], s.d[j], c - s.tail[j]);
                // The least of j inside [t1, t2): pushed as far left or right as it goes.
                let left = (r + d).saturating_sub(t1);
                let right = t2.saturating_sub(deadline - d);
                need += d.min(len).min(left).min(right);
            }
            if need > m * len {
                return true;
            }
        }
    }
    false
}
