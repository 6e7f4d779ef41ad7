//! Context sharing in the core: an agent's share goes on the board, is delivered at once
//! to the running attempts it concerns, and is selected into the context of later
//! assignments.

use super::{
    AgentIdx, Audience, CONTEXT_ITEMS, Context, ContextItem, Decision, Delivery, EventKind,
    NO_AGENT, RelatedWork, Scheduler, Shared, TaskStatus,
};
use crate::model::TaskType;
use crate::plan::{FileIdx, TaskIdx};

impl Scheduler {
    pub(super) fn share(&mut self, a: AgentIdx, item: ContextItem) {
        let agent = self.agents[a.ix()].spec.id.clone();
        let (kind, summary) = match &item {
            ContextItem::Discovery { summary, .. } => ("discovery", summary.clone()),
            ContextItem::Solution { summary, .. } => ("solution", summary.clone()),
            ContextItem::Error { message, .. } => ("error", message.clone()),
        };
        if !self.config.enable_context_sharing {
            self.ignore(format!(
                "{kind} shared by agent `{agent}` dropped: context sharing is off"
            ));
            return;
        }
        let mut files: Vec<FileIdx> = match &item {
            ContextItem::Discovery { files, .. } => files
                .iter()
                .filter_map(|f| self.plan.file_index(f))
                .collect(),
            _ => Vec::new(),
        };
        files.sort_unstable();
        files.dedup();
        let task = match &item {
            ContextItem::Error { task: Some(id), .. } => self
                .plan
                .task_index(id)
                .map(|t| (t.0, self.plan.task_type(t))),
            _ => None,
        };
        self.post(
            a,
            Shared {
                time: self.now,
                agent: agent.clone(),
                item,
            },
            files,
            task,
        );
        self.emit(EventKind::ContextShared {
            agent,
            kind: kind.to_string(),
            summary,
        });
    }

    /// Puts an item from agent `from` on the board and, with live context on, delivers it
    /// to the attempts running on other agents that it reaches (see [`Delivery`]).
    ///
    /// Cost: output-sensitive, O(c log c) for the c candidates (holders of the item's
    /// files, or running tasks of its type), never a scan of the agents.
    pub(super) fn post(
        &mut self,
        from: AgentIdx,
        shared: Shared,
        files: Vec<FileIdx>,
        task: Option<(u32, TaskType)>,
    ) {
        let posted = self.board.post(shared, files, task);
        if !self.live_context {
            return;
        }
        // Output-sensitive: only the running attempts the item can reach are looked at
        // (holders of its files, or the running tasks of its type), never every agent.
        let mut candidates: Vec<TaskIdx> = match posted.audience() {
            Audience::Files(files) => files.iter().flat_map(|&f| self.locks.holders(f)).collect(),
            Audience::Type(ty) => self.running_by_type[ty.index()].iter().copied().collect(),
            Audience::Nobody => Vec::new(),
        };
        candidates.sort_unstable();
        candidates.dedup();
        for t in candidates {
            // A task whose attempt is being taken off its agent (the failure being posted)
            // has no agent any more: it runs nowhere.
            let agent = self.tasks[t.ix()].agent;
            if agent == from.0
                || agent == NO_AGENT
                || self.progression[t.ix()].status != TaskStatus::Running
                || !posted.reaches(self.plan.locks(t), self.plan.task_type(t))
            {
                continue;
            }
            self.decisions.push_back(Decision::Deliver(Delivery {
                task: t,
                agent: AgentIdx(agent),
                attempt: self.tasks[t.ix()].attempt,
                shared: posted.shared().clone(),
            }));
        }
    }

    /// What the board and the lock table know that is relevant to `t`, which has just
    /// taken its locks on its agent.
    pub(super) fn context_for(&self, t: TaskIdx) -> Context {
        let mut context = Context::default();
        let locks = self.plan.locks(t);
        let own = self.tasks[t.ix()].agent;
        'files: for lock in locks {
            for holder in self.locks.holders(lock.file) {
                let agent = self.tasks[holder.ix()].agent;
                // Related work is other agents' work: an agent knows what it runs itself.
                if agent == own {
                    continue;
                }
                if context.related_work.len() == CONTEXT_ITEMS {
                    break 'files;
                }
                context.related_work.push(RelatedWork {
                    task: self.plan.id(holder),
                    agent: self.agents[agent as usize].spec.id.clone(),
                    file: self.plan.files[lock.file.ix()].clone(),
                });
            }
        }
        self.board
            .select(&mut context, locks, self.plan.task_type(t));
        context
    }
}
