//! Agents in the core: joining and leaving (lost agents' attempts requeued without charge),
//! heartbeats, capability classes, and the ordered sets of agents with a free slot that
//! dispatch picks from.

use super::{
    AgentClass, AgentIdx, AgentState, BlockReason, CancelReason, EventKind, IdleKey, IdleSet,
    Scheduler, TaskStatus, Timer, capability_mask,
};
use crate::model::{AgentSpec, TaskType, Time};
use crate::plan::TaskIdx;

impl Scheduler {
    pub(super) fn agent_up(&mut self, spec: AgentSpec) {
        let a = match self.agent_ids.get(&spec.id) {
            Some(&a) if self.agents[a.ix()].up => {
                // Already up: the agent re-announced itself; that is a heartbeat.
                self.touch(a);
                return;
            }
            Some(&a) => {
                let class = self.class_for(&spec);
                let agent = &mut self.agents[a.ix()];
                agent.rank = u64::MAX - spec.speed.to_bits();
                agent.class = class;
                agent.spec = spec;
                agent.up = true;
                a
            }
            None => {
                assert!(
                    spec.speed > 0.0 && spec.speed.is_finite(),
                    "agent speed must be positive"
                );
                let a = AgentIdx(self.agents.len() as u32);
                self.agent_ids.insert(spec.id.clone(), a);
                let class = self.class_for(&spec);
                self.agents.push(AgentState {
                    rank: u64::MAX - spec.speed.to_bits(),
                    spec,
                    up: true,
                    running: Vec::new(),
                    class,
                    listed: None,
                    heartbeat_deadline: 0,
                    heartbeat_armed: false,
                    waiting: Vec::new(),
                });
                a
            }
        };
        let spec = &self.agents[a.ix()].spec;
        self.emit(EventKind::AgentRegistered {
            agent: spec.id.clone(),
            name: spec.name.clone(),
            agent_type: spec.agent_type.clone(),
            capabilities: spec.capabilities.clone(),
            max_concurrent_tasks: spec.max_concurrent_tasks,
        });
        self.up_agents += 1;
        for ty in TaskType::ALL {
            if self.agents[a.ix()].spec.can_run(ty) {
                self.capable[ty.index()] += 1;
            }
        }
        self.list_idle(a);
        self.wake_agent_waiters(a);
        self.follow_agent_up();
        self.touch(a);
    }

    /// Takes an agent out of service: `lost` when it went silent, else it left. Its
    /// attempts are cancelled and requeued without charge.
    pub(super) fn drop_agent(&mut self, a: AgentIdx, lost: bool) {
        self.stop_following();
        let id = self.agents[a.ix()].spec.id.clone();
        if lost {
            let silent_for = self.config.heartbeat_timeout_ms.unwrap_or(0);
            self.emit(EventKind::AgentLost {
                agent: id,
                silent_for,
            });
        } else {
            self.emit(EventKind::AgentUnregistered { agent: id });
        }
        self.unlist_idle(a);
        let agent = &mut self.agents[a.ix()];
        agent.up = false;
        let was_busy = !agent.running.is_empty();
        if was_busy {
            self.one_less_busy();
        }
        self.up_agents -= 1;
        for ty in TaskType::ALL {
            if self.agents[a.ix()].spec.can_run(ty) {
                self.capable[ty.index()] -= 1;
            }
        }
        let running = self.agents[a.ix()].running.clone();
        for t in running {
            let attempt = self.cancel(t, a, CancelReason::AgentLost);
            if lost {
                self.tasks[t.ix()].lost += 1;
                let times = self.tasks[t.ix()].lost;
                if times > self.config.max_lost_per_task {
                    self.release(t, a);
                    self.emit(EventKind::TaskFailed {
                        task: self.plan.id(t),
                        agent: self.agents[a.ix()].spec.id.clone(),
                        attempt,
                        error: format!("lost with its agent {times} times"),
                        retry_count: self.tasks[t.ix()].failures,
                        will_retry: false,
                    });
                    self.end(t, TaskStatus::Failed);
                    self.skip_dependents(t);
                    continue;
                }
            }
            // The requeue is told before the release wakes any task parked on its files.
            self.requeue_event(t, a, attempt);
            self.release(t, a);
            self.stats.reassignments += 1;
            if self.config.enable_auto_reassignment {
                self.become_ready(t);
            } else {
                self.tasks[t.ix()].pinned = a.0;
                self.wait_for_agent(t, a);
            }
        }
    }

    pub(super) fn touch(&mut self, a: AgentIdx) {
        if let Some(timeout) = self.config.heartbeat_timeout_ms {
            let deadline = self.now + timeout;
            self.agents[a.ix()].heartbeat_deadline = deadline;
            if !self.agents[a.ix()].heartbeat_armed {
                self.arm_heartbeat(a, deadline);
            }
        }
    }

    pub(super) fn arm_heartbeat(&mut self, a: AgentIdx, at: Time) {
        self.agents[a.ix()].heartbeat_armed = true;
        self.timers.set(at, Timer::Heartbeat(a));
    }

    pub(super) fn idle_key(&self, a: AgentIdx) -> IdleKey {
        let agent = &self.agents[a.ix()];
        (agent.rank, agent.running.len() as u32, a.0)
    }

    /// Whether the agent has a free slot (regardless of the `max_agents` limit).
    pub(super) fn has_free_slot(&self, a: AgentIdx) -> bool {
        let agent = &self.agents[a.ix()];
        agent.up && (agent.running.len() as u32) < agent.spec.max_concurrent_tasks
    }

    /// Whether as many agents as `max_agents` are busy: then only those may take more.
    pub(super) fn at_agent_limit(&self) -> bool {
        self.busy_agents >= self.config.max_agents as usize
    }

    /// Whether the agent may take one more attempt now.
    pub(super) fn can_take_more(&self, a: AgentIdx) -> bool {
        self.has_free_slot(a) && (!self.agents[a.ix()].running.is_empty() || !self.at_agent_limit())
    }

    /// Whether some agent that can run type `ty` may take an attempt now.
    pub(super) fn type_has_taker(&self, ty: usize) -> bool {
        let classes = self.type_classes[ty];
        self.working_classes & classes != 0
            || (!self.at_agent_limit() && self.empty_classes & classes != 0)
    }

    /// The class of agents that run what `spec` runs (made on first sight).
    pub(super) fn class_for(&mut self, spec: &AgentSpec) -> usize {
        let mask = capability_mask(spec);
        if let Some(c) = self.classes.iter().position(|c| c.mask == mask) {
            return c;
        }
        let c = self.classes.len();
        self.classes.push(AgentClass {
            mask,
            working: IdleSet::default(),
            empty: IdleSet::default(),
        });
        for ty in TaskType::ALL {
            if mask & 1 << ty.index() != 0 {
                self.type_classes[ty.index()] |= 1 << c;
            }
        }
        c
    }

    /// Puts the agent in its class's idle sets, if it has a free slot.
    pub(super) fn list_idle(&mut self, a: AgentIdx) {
        debug_assert!(
            self.agents[a.ix()].listed.is_none(),
            "agent {a:?} listed twice"
        );
        if self.has_free_slot(a) {
            let key = self.idle_key(a);
            let agent = &self.agents[a.ix()];
            let working = !agent.running.is_empty();
            let c = agent.class;
            let class = &mut self.classes[c];
            let (set, nonempty) = if working {
                (&mut class.working, &mut self.working_classes)
            } else {
                (&mut class.empty, &mut self.empty_classes)
            };
            set.insert(key.0, key.1, key.2);
            *nonempty |= 1 << c;
            self.agents[a.ix()].listed = Some(working);
        }
    }

    /// Takes the agent out of the idle sets (before its load or state changes).
    pub(super) fn unlist_idle(&mut self, a: AgentIdx) {
        let key = self.idle_key(a);
        let agent = &mut self.agents[a.ix()];
        let c = agent.class;
        let class = &mut self.classes[c];
        let (set, nonempty) = match agent.listed.take() {
            Some(true) => (&mut class.working, &mut self.working_classes),
            Some(false) => (&mut class.empty, &mut self.empty_classes),
            None => return,
        };
        let listed = set.remove(key.0, key.1, key.2);
        debug_assert!(listed, "agent {a:?} listed under its key");
        if set.is_empty() {
            *nonempty &= !(1 << c);
        }
    }

    /// An agent stopped being busy; if that lifts the `max_agents` limit, the tasks that
    /// waited for their idle agent to be allowed to work are queued again.
    pub(super) fn one_less_busy(&mut self) {
        let was_at_limit = self.at_agent_limit();
        self.busy_agents -= 1;
        if was_at_limit && !self.at_agent_limit() {
            for t in std::mem::take(&mut self.limit_waiters) {
                self.enqueue(t);
            }
        }
    }

    pub(super) fn wake_agent_waiters(&mut self, a: AgentIdx) {
        let waiting = std::mem::take(&mut self.agents[a.ix()].waiting);
        for t in waiting {
            self.enqueue(t);
        }
    }

    pub(super) fn wait_for_agent(&mut self, t: TaskIdx, a: AgentIdx) {
        self.set_status(t, TaskStatus::Blocked);
        self.agents[a.ix()].waiting.push(t);
        self.emit(EventKind::TaskBlocked {
            task: self.plan.id(t),
            reason: BlockReason::WaitingForAgent {
                agent: self.agents[a.ix()].spec.id.clone(),
            },
        });
    }
}
