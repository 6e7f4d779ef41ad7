//! Dispatch: ready queues ordered by the policy, the choice of agent (one that has not
//! failed the task when possible), parking on busy file locks, and the assignment itself
//! with its deadline and context.

use super::{
    AgentIdx, Assignment, BlockReason, Conflict, Context, Decision, EventKind, IdleSet, NO_AGENT,
    ReadyKey, Scheduler, TaskStatus, Timer, follow,
};
use crate::model::Policy;
use crate::plan::TaskIdx;
use std::cmp::Reverse;

impl Scheduler {
    pub(super) fn ready_key(&self, t: TaskIdx) -> ReadyKey {
        let state = &self.tasks[t.ix()];
        let longest_first = u64::MAX - self.plan.bottom_level_ms(t);
        let priority = self.plan.priority(t).rank() as u64;
        match self.config.policy {
            Policy::CriticalPath | Policy::Layered => ReadyKey(longest_first, priority, t),
            Policy::Fifo => ReadyKey(state.ready_at, 0, t),
            Policy::Priority => ReadyKey(priority, longest_first, t),
            Policy::Optimized => match &self.follow {
                Some(f) if !f.by_critical_path() => ReadyKey(f.planned_start(t), longest_first, t),
                _ => ReadyKey(longest_first, priority, t),
            },
        }
    }

    /// The task's dependencies are done, or its backoff ended: it joins the ready queue
    /// (behind the layer barrier under `layered`).
    pub(super) fn become_ready(&mut self, t: TaskIdx) {
        self.tasks[t.ix()].ready_at = self.now;
        let layer = self.plan.layer(t);
        if self.config.policy == Policy::Layered && layer > self.open_layer {
            self.set_status(t, TaskStatus::Blocked);
            self.held[layer as usize].push(t);
            self.emit(EventKind::TaskBlocked {
                task: self.plan.id(t),
                reason: BlockReason::LayerBarrier {
                    layer,
                    current: self.open_layer,
                },
            });
            return;
        }
        let ty = self.plan.task_type(t);
        if self.capable[ty.index()] == 0 && !self.agents.is_empty() {
            self.emit(EventKind::TaskBlocked {
                task: self.plan.id(t),
                reason: BlockReason::NoCapableAgent { task_type: ty },
            });
        }
        self.enqueue(t);
    }

    /// Into the ready queue of its type, keeping its place in `fifo` order.
    pub(super) fn enqueue(&mut self, t: TaskIdx) {
        // A task is in a ready heap exactly while its status is Ready.
        debug_assert_ne!(
            self.progression[t.ix()].status,
            TaskStatus::Ready,
            "task {t:?} queued twice"
        );
        self.set_status(t, TaskStatus::Ready);
        let key = self.ready_key(t);
        let ty = self.plan.task_type(t).index();
        self.ready[ty].push(Reverse(key));
        self.ready_types |= 1 << ty;
    }

    /// Matches ready tasks with idle agents until no ready task has both a free capable
    /// agent and free locks.
    pub(super) fn dispatch(&mut self) {
        if self.shutting_down {
            return;
        }
        loop {
            let mut best: Option<(ReadyKey, usize)> = None;
            let mut types = self.ready_types;
            while types != 0 {
                let ty = types.trailing_zeros() as usize;
                types &= types - 1;
                if !self.type_has_taker(ty) {
                    continue;
                }
                if let Some(&Reverse(key)) = self.ready[ty].peek()
                    && best.is_none_or(|(b, _)| key < b)
                {
                    best = Some((key, ty));
                }
            }
            let Some((key, ty)) = best else { break };
            self.ready[ty].pop();
            if self.ready[ty].is_empty() {
                self.ready_types &= !(1 << ty);
            }
            let t = key.2;
            let planned_agent = match self.follow_gate(t) {
                follow::Gate::Dynamic => None,
                follow::Gate::Hold => continue,
                follow::Gate::On(a) => Some(a),
            };
            let pinned = self.tasks[t.ix()].pinned;
            if pinned != NO_AGENT && !self.has_free_slot(AgentIdx(pinned)) {
                self.wait_for_agent(t, AgentIdx(pinned));
                continue;
            }
            if pinned != NO_AGENT && !self.can_take_more(AgentIdx(pinned)) {
                self.set_status(t, TaskStatus::Blocked);
                self.limit_waiters.push(t);
                self.emit(EventKind::TaskBlocked {
                    task: self.plan.id(t),
                    reason: BlockReason::AgentLimit {
                        max_agents: self.config.max_agents,
                    },
                });
                continue;
            }
            if let Some(conflict) = self.locks.check(t, self.plan.locks(t)) {
                self.park_on_lock(t, conflict);
                continue;
            }
            let agent = if pinned != NO_AGENT {
                AgentIdx(pinned)
            } else if let Some(a) = planned_agent {
                a
            } else {
                self.choose_agent(t, ty)
            };
            self.assign(t, agent);
        }
    }

    /// The agents whose attempts of `t` failed.
    pub(super) fn failed_on(&self, t: TaskIdx) -> &[AgentIdx] {
        match self.tasks[t.ix()].failed_on {
            0 => &[],
            i => &self.failed_on[i as usize - 1],
        }
    }

    /// The first agent of the type that may take work (fastest, least loaded, lowest
    /// index) and has not failed this task; the first of all if every one has.
    pub(super) fn choose_agent(&self, t: TaskIdx, ty: usize) -> AgentIdx {
        let at_limit = self.at_agent_limit();
        let classes = self.type_classes[ty];
        let sets = (0..self.classes.len())
            .filter(move |&c| classes & 1 << c != 0)
            .flat_map(|c| {
                let class = &self.classes[c];
                std::iter::once(&class.working).chain((!at_limit).then_some(&class.empty))
            });
        let first = sets
            .clone()
            .filter_map(IdleSet::first)
            .min()
            .map(|key| AgentIdx(key.2))
            .expect("dispatch picks types with takers");
        let failed_on = self.failed_on(t);
        if failed_on.is_empty() || !failed_on.contains(&first) {
            return first;
        }
        // Every taker in order, merged from the sets; at most |failed_on| + 1 are looked at.
        let mut heads: Vec<_> = sets.map(|set| set.iter().peekable()).collect();
        loop {
            let next = heads.iter_mut().filter_map(|h| h.peek().copied()).min();
            let Some(key) = next else { return first };
            for head in &mut heads {
                head.next_if(|&k| k == key);
            }
            if !failed_on.contains(&AgentIdx(key.2)) {
                return AgentIdx(key.2);
            }
        }
    }

    pub(super) fn park_on_lock(&mut self, t: TaskIdx, conflict: Conflict) {
        self.set_status(t, TaskStatus::Blocked);
        let plan = self.plan.clone();
        self.locks.park(t, conflict, plan.locks(t));
        let reason = match conflict {
            Conflict::Held { file, mode, holder } => BlockReason::Lock {
                file: plan.files[file.ix()].clone(),
                mode,
                holder: plan.id(holder),
            },
            Conflict::WriterWaiting { file } => BlockReason::WriterWaiting {
                file: plan.files[file.ix()].clone(),
            },
        };
        self.emit(EventKind::TaskBlocked {
            task: plan.id(t),
            reason,
        });
    }

    pub(super) fn assign(&mut self, t: TaskIdx, a: AgentIdx) {
        // Fields are borrowed one by one below rather than through a clone of the plan's
        // `Arc`: this runs once per attempt, and each clone is an atomic increment.
        self.locks.acquire(t, self.plan.locks(t));
        self.unlist_idle(a);
        if self.agents[a.ix()].running.is_empty() {
            self.busy_agents += 1;
            debug_assert!(self.busy_agents <= self.config.max_agents as usize);
        }
        self.agents[a.ix()].running.push(t);
        self.list_idle(a);
        self.set_status(t, TaskStatus::Running);
        let state = &mut self.tasks[t.ix()];
        state.attempt += 1;
        state.agent = a.0;
        state.started = self.now;
        let attempt = state.attempt;
        let timeout = self
            .plan
            .timeout_ms(t)
            .unwrap_or(self.config.task_timeout_ms);
        let deadline = self.now + timeout;
        self.timers.set(deadline, Timer::Attempt(t, attempt));
        self.stats.attempts += 1;
        self.stall_reported = false;

        let layer = self.plan.layer(t);
        if !self.layers[layer as usize].started {
            self.layers[layer as usize].started = true;
            self.emit(EventKind::LayerStart {
                layer,
                total_layers: self.layers.len(),
                tasks: self.plan.layer_sizes()[layer as usize],
            });
        }
        let context = if self.config.enable_context_sharing {
            self.context_for(t)
        } else {
            Context::default()
        };
        self.emit(EventKind::TaskExecute {
            task: self.plan.id(t),
            agent: self.agents[a.ix()].spec.id.clone(),
            attempt,
            deadline,
            context_items: context.len(),
        });
        self.decisions.push_back(Decision::Assign(Assignment {
            task: t,
            agent: a,
            attempt,
            deadline,
            context,
        }));
    }
}
