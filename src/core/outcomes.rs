//! How attempts and tasks end: success (releasing dependents), failure with retry after a
//! deterministic backoff, timeouts, cancels, skipping the dependents of a task that failed
//! for good, opening layers, and shutdown.

use super::{
    AgentIdx, CancelReason, ContextItem, Decision, EventKind, NO_AGENT, Scheduler, Shared,
    TaskStatus, Timer, mix,
};
use crate::model::{Time, format_exact};
use crate::plan::TaskIdx;

impl Scheduler {
    /// Tells the driver to stop `t`'s running attempt on `a`; returns the attempt number.
    pub(super) fn cancel(&mut self, t: TaskIdx, a: AgentIdx, reason: CancelReason) -> u32 {
        let attempt = self.tasks[t.ix()].attempt;
        self.decisions.push_back(Decision::Cancel {
            task: t,
            agent: a,
            attempt,
            reason,
        });
        attempt
    }

    /// An attempt taken back without charge (its agent left, or the driver shuts down).
    pub(super) fn requeue_event(&mut self, t: TaskIdx, a: AgentIdx, attempt: u32) {
        self.emit(EventKind::TaskRequeued {
            task: self.plan.id(t),
            agent: self.agents[a.ix()].spec.id.clone(),
            attempt,
        });
    }

    /// Frees the agent slot and the locks of `t`'s running attempt, and wakes whoever
    /// waited for them.
    pub(super) fn release(&mut self, t: TaskIdx, a: AgentIdx) {
        self.tasks[t.ix()].agent = NO_AGENT;
        self.unlist_idle(a);
        let running = &mut self.agents[a.ix()].running;
        let at = running
            .iter()
            .position(|&r| r == t)
            .expect("a running task is on its agent's list");
        running.remove(at);
        if running.is_empty() && self.agents[a.ix()].up {
            self.one_less_busy();
        }
        self.list_idle(a);
        let mut woken = std::mem::take(&mut self.woken);
        self.locks.release(t, self.plan.locks(t), &mut woken);
        for w in woken.drain(..) {
            self.enqueue(w);
        }
        self.woken = woken;
        if self.can_take_more(a) {
            self.wake_agent_waiters(a);
        }
    }

    pub(super) fn succeed(&mut self, t: TaskIdx, result: Option<String>) {
        self.follow_check_duration(t, self.now - self.tasks[t.ix()].started);
        let a = AgentIdx(self.tasks[t.ix()].agent);
        self.release(t, a);
        let duration = self.now - self.tasks[t.ix()].started;
        self.emit(EventKind::TaskComplete {
            task: self.plan.id(t),
            agent: self.agents[a.ix()].spec.id.clone(),
            attempt: self.tasks[t.ix()].attempt,
            duration,
            result,
        });
        self.end(t, TaskStatus::Completed);
        // By position, not through a clone of the plan's `Arc` (an atomic increment per
        // completion): `one_less_unmet` needs `self` mutably.
        for i in 0..self.plan.succs(t).len() {
            let to = self.plan.succs(t)[i].to;
            self.one_less_unmet(to);
        }
    }

    pub(super) fn one_less_unmet(&mut self, t: TaskIdx) {
        let state = &mut self.progression[t.ix()];
        if state.status != TaskStatus::Waiting {
            return; // already skipped
        }
        state.unmet -= 1;
        if state.unmet == 0 {
            self.become_ready(t);
        }
    }

    pub(super) fn time_out(&mut self, t: TaskIdx) {
        let a = AgentIdx(self.tasks[t.ix()].agent);
        let timeout = self.now - self.tasks[t.ix()].started;
        self.stats.timeouts += 1;
        let attempt = self.cancel(t, a, CancelReason::Timeout);
        self.emit(EventKind::TaskTimeout {
            task: self.plan.id(t),
            agent: self.agents[a.ix()].spec.id.clone(),
            attempt,
            timeout,
        });
        self.fail(t, format!("timed out after {}", format_exact(timeout)));
    }

    /// A charged failure of the running attempt: retry after a backoff, or fail for good
    /// and skip what needs this task.
    pub(super) fn fail(&mut self, t: TaskIdx, error: String) {
        self.stop_following();
        let a = AgentIdx(self.tasks[t.ix()].agent);
        self.release(t, a);
        let state = &mut self.tasks[t.ix()];
        state.failures += 1;
        if state.failed_on == 0 {
            self.failed_on.push(Vec::new());
            state.failed_on = self.failed_on.len() as u32;
        }
        let failed_on = &mut self.failed_on[state.failed_on as usize - 1];
        if !failed_on.contains(&a) {
            failed_on.push(a);
        }
        let failures = state.failures;
        let attempt = state.attempt;
        let will_retry = failures <= self.config.max_retries_per_task;
        let task_id = self.plan.id(t);
        let agent_id = self.agents[a.ix()].spec.id.clone();
        if self.config.enable_context_sharing {
            self.post(
                a,
                Shared {
                    time: self.now,
                    agent: agent_id.clone(),
                    item: ContextItem::Error {
                        task: Some(task_id.to_string()),
                        message: error.clone(),
                    },
                },
                Vec::new(),
                Some((t.0, self.plan.task_type(t))),
            );
        }
        self.emit(EventKind::TaskFailed {
            task: task_id.clone(),
            agent: agent_id,
            attempt,
            error: error.clone(),
            retry_count: failures,
            will_retry,
        });
        if will_retry {
            self.stats.retries += 1;
            if !self.config.enable_auto_reassignment {
                self.tasks[t.ix()].pinned = a.0;
            }
            let not_before = self.now + self.backoff_ms(t, failures);
            self.set_status(t, TaskStatus::Backoff);
            self.timers.set(not_before, Timer::Backoff(t, attempt));
            self.emit(EventKind::TaskRetry {
                task: task_id,
                retry_count: failures,
                not_before,
                error,
            });
        } else {
            self.end(t, TaskStatus::Failed);
            self.skip_dependents(t);
        }
    }

    /// `backoff_base · 2^(failures-1)`, capped at `backoff_max`, then jittered into its
    /// upper half by a hash of (jitter seed, task, failure count): spread out, yet the same
    /// on every run with the same seed.
    pub(super) fn backoff_ms(&self, t: TaskIdx, failures: u32) -> Time {
        let doubling = 1u64
            .checked_shl(failures.saturating_sub(1))
            .unwrap_or(u64::MAX);
        let full = self
            .config
            .backoff_base_ms
            .saturating_mul(doubling)
            .min(self.config.backoff_max_ms);
        let half = full / 2;
        let hash = mix(self.config.jitter_seed ^ mix(((t.0 as u64) << 32) | failures as u64));
        full - half + hash % (half + 1)
    }

    /// `t` failed for good or was skipped: its `depends_on` dependents are skipped (and
    /// theirs, transitively); its `blocked_by` dependents may now start.
    pub(super) fn skip_dependents(&mut self, t: TaskIdx) {
        let plan = self.plan.clone();
        let mut stack = vec![t];
        while let Some(x) = stack.pop() {
            for edge in plan.succs(x) {
                let s = edge.to;
                if self.progression[s.ix()].status != TaskStatus::Waiting {
                    continue;
                }
                match edge.kind {
                    crate::plan::EdgeKind::Needs => {
                        self.end(s, TaskStatus::Skipped);
                        self.emit(EventKind::TaskSkipped {
                            task: plan.id(s),
                            because: plan.id(x),
                        });
                        stack.push(s);
                    }
                    crate::plan::EdgeKind::After => self.one_less_unmet(s),
                }
            }
        }
    }

    /// Bookkeeping when a task ends: counts, layers, the time estimate.
    pub(super) fn end(&mut self, t: TaskIdx, status: TaskStatus) {
        debug_assert!(status.is_terminal());
        self.set_status(t, status);
        self.follow_ended(t);
        self.remaining_work_ms -= self.plan.estimate_ms(t);
        let by_level = self.plan.tasks_by_bottom_level();
        while by_level
            .get(self.longest_open)
            .is_some_and(|&o| self.progression[o.ix()].status.is_terminal())
        {
            self.longest_open += 1;
        }
        let l = self.plan.layer(t);
        let layer = &mut self.layers[l as usize];
        layer.remaining -= 1;
        match status {
            TaskStatus::Completed => layer.completed += 1,
            TaskStatus::Failed => layer.failed += 1,
            _ => layer.skipped += 1,
        }
        if layer.remaining == 0 {
            let done = *layer;
            self.emit(EventKind::LayerComplete {
                layer: l,
                completed: done.completed,
                failed: done.failed,
                skipped: done.skipped,
            });
            self.open_next_layers();
        }
    }

    /// Moves the open layer past every finished one; under `layered`, releases the tasks
    /// held at the barrier of each layer it opens.
    pub(super) fn open_next_layers(&mut self) {
        while (self.open_layer as usize) < self.layers.len()
            && self.layers[self.open_layer as usize].remaining == 0
        {
            self.open_layer += 1;
            if let Some(held) = self.held.get_mut(self.open_layer as usize) {
                for t in std::mem::take(held) {
                    self.enqueue(t);
                }
            }
        }
    }

    pub(super) fn shutdown(&mut self) {
        self.shutting_down = true;
        let running: Vec<(TaskIdx, AgentIdx)> = self
            .agents
            .iter()
            .enumerate()
            .flat_map(|(a, s)| s.running.iter().map(move |&t| (t, AgentIdx(a as u32))))
            .collect();
        for (t, a) in running {
            let attempt = self.cancel(t, a, CancelReason::Shutdown);
            self.requeue_event(t, a, attempt);
            self.release(t, a);
            self.enqueue(t);
        }
    }
}
