//! First attempts drawn ahead: every task's first-attempt draws, made on another core while
//! the simulation runs on its own.
//!
//! An attempt's draws take one keystream computation, about a seventh of a big
//! simulation's time on its one thread, while the machine's other cores wait. A draw
//! depends only on the master seed, the task, the attempt and the task's models (see the
//! parent module's "Randomness"), never on the schedule, so another thread can make them
//! first. It fills the tasks in plan order, a chunk at a time, and publishes each chunk
//! whole; the simulation takes a first attempt's draws from a published chunk, and makes
//! them itself for a task whose chunk is not out yet, and for every later attempt. Either
//! way the values are the same, so the run is too: the helper changes when draws are
//! made, never what they are.

use super::{Drawn, Draws, SimModels};
use crate::plan::{Plan, TaskIdx};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

/// Tasks per published chunk: 128 KiB of draws.
const CHUNK: usize = 4096;

/// Plans of fewer tasks draw as they go: a thread costs more than it saves there.
pub(super) const AHEAD_MIN: usize = 65_536;

/// The first attempts' draws of a plan, filled by [`Ahead::fill`] on one thread and read by
/// the simulation on another.
pub(super) struct Ahead {
    chunks: Vec<OnceLock<Box<[Drawn]>>>,
    /// Set once the simulation has ended: the rest is not needed.
    stop: AtomicBool,
}

impl Ahead {
    /// Room for the draws of `tasks` tasks, none made yet.
    pub(super) fn new(tasks: usize) -> Ahead {
        Ahead {
            chunks: (0..tasks.div_ceil(CHUNK))
                .map(|_| OnceLock::new())
                .collect(),
            stop: AtomicBool::new(false),
        }
    }

    /// Makes every task's first-attempt draws in plan order, a chunk at a time, until done
    /// or [`Ahead::stop`]. Draws of its own generator, keyed as the simulation's: `seed`.
    pub(super) fn fill(&self, plan: &Plan, models: &SimModels, seed: u64) {
        let mut draws = Draws::new(seed);
        for (c, slot) in self.chunks.iter().enumerate() {
            if self.stop.load(Ordering::Relaxed) {
                return;
            }
            let tasks = c * CHUNK..((c + 1) * CHUNK).min(plan.len());
            let chunk: Box<[Drawn]> = tasks
                .map(|i| {
                    let t = TaskIdx(i as u32);
                    let params = models.params(t, plan.task_type(t));
                    draws.attempt_draws(t, 1, params, plan.estimate_ms(t)).0
                })
                .collect();
            // Only this thread sets the chunks.
            slot.set(chunk)
                .unwrap_or_else(|_| unreachable!("chunk {c} is filled once"));
        }
    }

    /// The first attempt's draws of `t`, if made yet.
    pub(super) fn first(&self, t: TaskIdx) -> Option<Drawn> {
        let chunk = self.chunks.get(t.ix() / CHUNK)?.get()?;
        Some(chunk[t.ix() % CHUNK])
    }

    /// Tells [`Ahead::fill`] to stop at its next chunk.
    pub(super) fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
