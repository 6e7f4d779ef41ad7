//! The shared context board: discoveries, solutions by problem type and errors that agents
//! post, kept bounded, and the selection of what is relevant to one task.
//!
//! The board holds at most [`BOARD_CAPACITY`] items of each kind and each assignment
//! carries at most [`CONTEXT_ITEMS`] of each, so building a context costs a bounded amount
//! of work whatever the size of the plan.

use crate::model::{TaskType, Time};
use crate::plan::{FileIdx, LockReq, Text};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::sync::Arc;

/// Items of each kind the board keeps; the oldest go first.
pub const BOARD_CAPACITY: usize = 64;
/// Items of each kind one assignment carries, newest first.
pub const CONTEXT_ITEMS: usize = 5;

/// What an agent shares.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ContextItem {
    /// Something learned about the code, e.g. a pattern, touching some files.
    Discovery {
        /// One line.
        summary: String,
        /// More.
        #[serde(default)]
        details: String,
        /// Files it concerns; tasks touching them receive it.
        #[serde(default)]
        files: Vec<String>,
        /// 0..1.
        #[serde(default = "one")]
        confidence: f64,
    },
    /// A fix for a kind of problem; tasks of that type (problem type = task type name)
    /// receive it.
    Solution {
        /// The problem type, e.g. `bug_fix` or any label.
        problem_type: String,
        /// One line.
        summary: String,
        /// More.
        #[serde(default)]
        details: String,
    },
    /// An error worth avoiding.
    Error {
        /// The task it happened in, if any.
        task: Option<String>,
        /// The message.
        message: String,
    },
}

fn one() -> f64 {
    1.0
}

/// A shared item with who shared it and when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Shared {
    /// Time it was posted.
    pub time: Time,
    /// The agent that posted it (`scheduler` for errors the core posts itself).
    pub agent: Arc<str>,
    /// The item.
    pub item: ContextItem,
}

/// Work currently running on another agent that touches the same files.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RelatedWork {
    /// The running task.
    pub task: Text,
    /// The agent running it.
    pub agent: Arc<str>,
    /// The file both touch.
    pub file: Arc<str>,
}

/// Shared items, newest first; reads as a slice.
///
/// The solutions and errors for a task type are the same for every assignment of that type
/// until something is posted, so each assignment takes one reference to the board's list
/// instead of copying it; and an empty list (most of them) is no reference at all, so
/// building and dropping a context costs no atomic counter update.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Items(Option<Arc<[Arc<Shared>]>>);

impl std::ops::Deref for Items {
    type Target = [Arc<Shared>];

    fn deref(&self) -> &[Arc<Shared>] {
        self.0.as_deref().unwrap_or(&[])
    }
}

impl From<Vec<Arc<Shared>>> for Items {
    fn from(items: Vec<Arc<Shared>>) -> Items {
        Items((!items.is_empty()).then(|| items.into()))
    }
}

impl Serialize for Items {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        <[Arc<Shared>]>::serialize(self, serializer)
    }
}

impl<'de> Deserialize<'de> for Items {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Items, D::Error> {
        Vec::<Arc<Shared>>::deserialize(deserializer).map(Items::from)
    }
}

/// The context one assignment carries.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Context {
    /// Other agents' running work on the same files.
    pub related_work: Vec<RelatedWork>,
    /// Discoveries touching the task's files.
    pub discoveries: Items,
    /// Solutions for the task's type.
    pub solutions: Items,
    /// Errors of earlier attempts of this task and of tasks of the same type.
    pub errors: Items,
}

impl Context {
    /// Number of items carried.
    pub fn len(&self) -> usize {
        self.related_work.len() + self.discoveries.len() + self.solutions.len() + self.errors.len()
    }

    /// Whether it carries nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A discovery with its files resolved to the plan's file indices (sorted).
struct Entry {
    shared: Arc<Shared>,
    files: Vec<FileIdx>,
    /// For errors: the task index and type they came from.
    task: Option<(u32, TaskType)>,
    /// For solutions: the task type their problem type names, if it names one (only
    /// those reach tasks).
    solves: Option<TaskType>,
}

impl Entry {
    /// Whether the item reaches a task with these locks (sorted by file) and this type:
    /// the one selection rule, used for assignments and for attempts already running.
    /// A discovery reaches the tasks that lock one of its files, a solution the tasks of
    /// the type its problem type names, an error the tasks of the type of the task it
    /// came from.
    fn reaches(&self, locks: &[LockReq], task_type: TaskType) -> bool {
        match self.shared.item {
            ContextItem::Discovery { .. } => self.touches(locks),
            ContextItem::Solution { .. } => self.solves == Some(task_type),
            ContextItem::Error { .. } => self.task.is_some_and(|(_, ty)| ty == task_type),
        }
    }

    /// Whether one of the item's files is among `locks` (sorted by file).
    fn touches(&self, locks: &[LockReq]) -> bool {
        self.files
            .iter()
            .any(|f| locks.binary_search_by_key(f, |l| l.file).is_ok())
    }
}

/// An item just posted: what it is, where the tasks it may reach are, and the rule.
pub(super) struct Posted<'b>(&'b Entry);

/// Where the tasks an item may reach are to be found: by the files they lock, or by type.
pub(super) enum Audience<'b> {
    /// Tasks locking one of these files (sorted).
    Files(&'b [FileIdx]),
    /// Tasks of this type.
    Type(TaskType),
    /// No task (a solution whose problem type names no task type).
    Nobody,
}

impl<'b> Posted<'b> {
    /// The item.
    pub fn shared(&self) -> &Arc<Shared> {
        &self.0.shared
    }

    /// Where to look for the tasks it reaches: every task [`Posted::reaches`] is among
    /// these, so a driver of running attempts need not look at any other.
    pub fn audience(&self) -> Audience<'b> {
        let entry = self.0;
        match entry.shared.item {
            ContextItem::Discovery { .. } => Audience::Files(&entry.files),
            ContextItem::Solution { .. } => entry.solves.map_or(Audience::Nobody, Audience::Type),
            ContextItem::Error { .. } => entry
                .task
                .map_or(Audience::Nobody, |(_, ty)| Audience::Type(ty)),
        }
    }

    /// Whether it reaches a task with these locks and this type (the selection rule).
    pub fn reaches(&self, locks: &[LockReq], task_type: TaskType) -> bool {
        self.0.reaches(locks, task_type)
    }
}

/// The bounded board.
#[derive(Default)]
pub(super) struct Board {
    discoveries: VecDeque<Entry>,
    solutions: VecDeque<Entry>,
    errors: VecDeque<Entry>,
    /// Per task type, the newest solutions for it, as [`Board::select`] hands them out:
    /// kept up to date at each post, because assignments (which read them) far outnumber
    /// posts (which change them).
    solutions_for: [Items; 7],
    /// Per task type, the newest errors of tasks of that type, likewise.
    errors_for: [Items; 7],
}

impl Board {
    /// Posts an item; `files` are the plan's indices of the files a discovery names and
    /// `task` the task an error came from. Returns the posted entry, for handing it to
    /// the running attempts it reaches ([`Posted`]).
    pub fn post(
        &mut self,
        shared: Shared,
        files: Vec<FileIdx>,
        task: Option<(u32, TaskType)>,
    ) -> Posted<'_> {
        let (queue, kind) = match shared.item {
            ContextItem::Discovery { .. } => (&mut self.discoveries, 0),
            ContextItem::Solution { .. } => (&mut self.solutions, 1),
            ContextItem::Error { .. } => (&mut self.errors, 2),
        };
        let evicted = if queue.len() == BOARD_CAPACITY {
            queue.pop_front()
        } else {
            None
        };
        let solves = match &shared.item {
            ContextItem::Solution { problem_type, .. } => TaskType::ALL
                .into_iter()
                .find(|ty| ty.as_str() == problem_type),
            _ => None,
        };
        queue.push_back(Entry {
            shared: Arc::new(shared),
            files,
            task,
            solves,
        });
        // The lists by type that the new entry or the evicted one may be part of.
        let types = |e: &Entry| [e.solves, e.task.map(|(_, ty)| ty)];
        let last = queue.back().expect("just pushed");
        let mut touched = types(last).to_vec();
        if let Some(old) = &evicted {
            touched.extend(types(old));
        }
        for ty in touched.into_iter().flatten() {
            self.refresh(ty);
        }
        Posted(self.newest_posted(kind))
    }

    /// The entry posted last of this kind (0 discoveries, 1 solutions, 2 errors).
    fn newest_posted(&self, kind: usize) -> &Entry {
        let queue = [&self.discoveries, &self.solutions, &self.errors][kind];
        queue.back().expect("just posted")
    }

    /// Recomputes the solutions and errors handed to tasks of type `ty`.
    fn refresh(&mut self, ty: TaskType) {
        // Solutions and errors reach tasks by type alone, whatever their files. An error
        // names the task it came from with that task's type, so the errors of "this task
        // or tasks of its type" are those of its type.
        self.solutions_for[ty.index()] = newest(&self.solutions, |e| e.reaches(&[], ty)).into();
        self.errors_for[ty.index()] = newest(&self.errors, |e| e.reaches(&[], ty)).into();
    }

    /// Fills `context` with the items relevant to a task with these locks (sorted by file)
    /// and this type.
    pub fn select(&self, context: &mut Context, locks: &[LockReq], task_type: TaskType) {
        // A task without files can be touched by no discovery: skip the scan.
        if !locks.is_empty() {
            let touches = |entry: &Entry| entry.reaches(locks, task_type);
            context.discoveries = newest(&self.discoveries, touches).into();
        }
        context.solutions = self.solutions_for[task_type.index()].clone();
        context.errors = self.errors_for[task_type.index()].clone();
    }

    /// Items on the board, all kinds.
    pub fn len(&self) -> usize {
        self.discoveries.len() + self.solutions.len() + self.errors.len()
    }
}

/// The newest relevant items, at most [`CONTEXT_ITEMS`].
fn newest(queue: &VecDeque<Entry>, relevant: impl Fn(&Entry) -> bool) -> Vec<Arc<Shared>> {
    let mut found = Vec::new();
    for entry in queue.iter().rev().filter(|e| relevant(e)) {
        found.push(entry.shared.clone());
        if found.len() == CONTEXT_ITEMS {
            break;
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::{Context, ContextItem, Items, Shared};
    use std::sync::Arc;

    /// `Items` serializes as the plain list it reads as, and an empty list holds nothing.
    #[test]
    fn items_read_and_serialize_as_a_list() {
        let error = Arc::new(Shared {
            time: 5,
            agent: Arc::from("a1"),
            item: ContextItem::Error {
                task: Some("t".to_string()),
                message: "boom".to_string(),
            },
        });
        let context = Context {
            errors: Items::from(vec![error.clone()]),
            ..Context::default()
        };
        assert_eq!(context.errors.len(), 1);
        assert!(context.solutions.is_empty());
        assert_eq!(Items::from(Vec::new()), Items::default());
        let json = serde_json::to_value(&context).unwrap();
        assert_eq!(json["solutions"], serde_json::json!([]));
        assert_eq!(json["errors"][0]["item"]["message"], "boom");
        let back: Context = serde_json::from_value(json).unwrap();
        assert_eq!(back, context);
        assert_eq!(*back.errors[0], *error);
    }
}
