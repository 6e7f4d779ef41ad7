//! The lock table: read/write locks on the plan's files, taken all at once or not at all.
//!
//! A task checks every lock it needs before it takes any (no hold-and-wait, so no
//! deadlock). A task that cannot have its locks is parked on the first file in its way and
//! woken when that file's last holder lets go, so nobody polls. A writer parked on a file
//! stops new readers from taking it ("writer waiting"), so a stream of readers cannot
//! starve it; since a writer only ever waits for holders, and holders are running tasks
//! that end, this never deadlocks.
//!
//! Cost: checking and taking are O(locks · log holders); a release wakes every task parked
//! on a file it empties, O(woken · log n), each woken task being re-examined at most once
//! before it runs or parks again.

use crate::plan::{FileIdx, LockMode, LockReq, TaskIdx};
use std::collections::BTreeSet;

/// Why a task cannot take its locks now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Conflict {
    /// The file is held in a conflicting mode; `holder` is one of the holders.
    Held {
        /// The file.
        file: FileIdx,
        /// The mode wanted.
        mode: LockMode,
        /// A current holder.
        holder: TaskIdx,
    },
    /// Free for reading, but a writer waits for it.
    WriterWaiting {
        /// The file.
        file: FileIdx,
    },
}

impl Conflict {
    /// The file the task waits on.
    pub fn file(self) -> FileIdx {
        match self {
            Conflict::Held { file, .. } | Conflict::WriterWaiting { file } => file,
        }
    }
}

#[derive(Default)]
struct FileState {
    holders: BTreeSet<TaskIdx>,
    writers_held: u32,
    waiting_writers: u32,
    parked: Vec<(TaskIdx, LockMode)>,
}

/// Lock state of every file in the plan.
pub(super) struct LockTable {
    enforce: bool,
    files: Vec<FileState>,
}

impl LockTable {
    /// A table for `files` files. With `enforce` off (file conflict prevention disabled)
    /// every check passes, but holders are still tracked for the context board.
    pub fn new(files: usize, enforce: bool) -> Self {
        LockTable {
            enforce,
            files: (0..files).map(|_| FileState::default()).collect(),
        }
    }

    /// The first lock of `locks` that cannot be taken now, if any.
    pub fn check(&self, t: TaskIdx, locks: &[LockReq]) -> Option<Conflict> {
        if !self.enforce {
            return None;
        }
        for lock in locks {
            let state = &self.files[lock.file.ix()];
            let other_holder = || state.holders.iter().copied().find(|&h| h != t);
            match lock.mode {
                LockMode::Write => {
                    if let Some(holder) = other_holder() {
                        return Some(Conflict::Held {
                            file: lock.file,
                            mode: lock.mode,
                            holder,
                        });
                    }
                }
                LockMode::Read => {
                    if state.writers_held > 0 {
                        return Some(Conflict::Held {
                            file: lock.file,
                            mode: lock.mode,
                            holder: other_holder().expect("a written file has a holder"),
                        });
                    }
                    if state.waiting_writers > 0 {
                        return Some(Conflict::WriterWaiting { file: lock.file });
                    }
                }
            }
        }
        None
    }

    /// Takes every lock of `locks` for `t`; [`LockTable::check`] must have passed.
    pub fn acquire(&mut self, t: TaskIdx, locks: &[LockReq]) {
        debug_assert!(
            self.check(t, locks).is_none(),
            "acquire after a failed check"
        );
        for lock in locks {
            let state = &mut self.files[lock.file.ix()];
            let fresh = state.holders.insert(t);
            assert!(fresh, "task {t:?} takes a lock it already holds");
            if lock.mode == LockMode::Write {
                state.writers_held += 1;
            }
        }
    }

    /// Parks `t` on the file of `conflict` until that file's holders are gone.
    pub fn park(&mut self, t: TaskIdx, conflict: Conflict, locks: &[LockReq]) {
        let file = conflict.file();
        let mode = locks
            .iter()
            .find(|l| l.file == file)
            .expect("a task parks on a file it needs")
            .mode;
        let state = &mut self.files[file.ix()];
        debug_assert!(!state.holders.is_empty(), "parking on a free file");
        if mode == LockMode::Write {
            state.waiting_writers += 1;
        }
        state.parked.push((t, mode));
    }

    /// Releases `t`'s locks; tasks parked on files this empties are appended to `woken`.
    pub fn release(&mut self, t: TaskIdx, locks: &[LockReq], woken: &mut Vec<TaskIdx>) {
        for lock in locks {
            let state = &mut self.files[lock.file.ix()];
            let held = state.holders.remove(&t);
            assert!(held, "task {t:?} releases a lock it does not hold");
            if lock.mode == LockMode::Write {
                state.writers_held -= 1;
            }
            if state.holders.is_empty() {
                state.waiting_writers = 0;
                woken.extend(state.parked.drain(..).map(|(task, _)| task));
            }
        }
    }

    /// Tasks holding `file` now, in index order.
    pub fn holders(&self, file: FileIdx) -> impl Iterator<Item = TaskIdx> + '_ {
        self.files[file.ix()].holders.iter().copied()
    }

    /// Whether `t` is parked anywhere (for assertions; O(parked)).
    #[cfg(test)]
    pub fn is_parked(&self, t: TaskIdx) -> bool {
        self.files
            .iter()
            .any(|f| f.parked.iter().any(|&(p, _)| p == t))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(f: u32) -> LockReq {
        LockReq {
            file: FileIdx(f),
            mode: LockMode::Write,
        }
    }
    fn r(f: u32) -> LockReq {
        LockReq {
            file: FileIdx(f),
            mode: LockMode::Read,
        }
    }

    #[test]
    fn writers_exclude_everyone_readers_share() {
        let mut table = LockTable::new(2, true);
        table.acquire(TaskIdx(0), &[r(0)]);
        assert_eq!(table.check(TaskIdx(1), &[r(0)]), None);
        table.acquire(TaskIdx(1), &[r(0)]);
        assert!(matches!(
            table.check(TaskIdx(2), &[w(0)]),
            Some(Conflict::Held { .. })
        ));
        let mut woken = Vec::new();
        table.release(TaskIdx(0), &[r(0)], &mut woken);
        table.release(TaskIdx(1), &[r(0)], &mut woken);
        assert_eq!(table.check(TaskIdx(2), &[w(0), w(1)]), None);
        table.acquire(TaskIdx(2), &[w(0), w(1)]);
        assert!(matches!(
            table.check(TaskIdx(3), &[r(1)]),
            Some(Conflict::Held { .. })
        ));
    }

    #[test]
    fn all_or_nothing() {
        let mut table = LockTable::new(2, true);
        table.acquire(TaskIdx(0), &[w(1)]);
        let conflict = table.check(TaskIdx(1), &[w(0), w(1)]).unwrap();
        assert_eq!(conflict.file(), FileIdx(1));
        // Nothing was taken for the blocked task: file 0 is still free.
        assert_eq!(table.holders(FileIdx(0)).count(), 0);
    }

    #[test]
    fn a_waiting_writer_stops_new_readers_and_wakes_on_release() {
        let mut table = LockTable::new(1, true);
        table.acquire(TaskIdx(0), &[r(0)]);
        let conflict = table.check(TaskIdx(1), &[w(0)]).unwrap();
        table.park(TaskIdx(1), conflict, &[w(0)]);
        // A later reader may not overtake the waiting writer.
        assert_eq!(
            table.check(TaskIdx(2), &[r(0)]),
            Some(Conflict::WriterWaiting { file: FileIdx(0) })
        );
        let conflict = table.check(TaskIdx(2), &[r(0)]).unwrap();
        table.park(TaskIdx(2), conflict, &[r(0)]);
        let mut woken = Vec::new();
        table.release(TaskIdx(0), &[r(0)], &mut woken);
        assert_eq!(woken, vec![TaskIdx(1), TaskIdx(2)]);
        assert!(!table.is_parked(TaskIdx(1)));
        assert_eq!(table.check(TaskIdx(1), &[w(0)]), None);
    }

    #[test]
    fn disabled_locks_never_conflict() {
        let mut table = LockTable::new(1, false);
        table.acquire(TaskIdx(0), &[w(0)]);
        assert_eq!(table.check(TaskIdx(1), &[w(0)]), None);
        table.acquire(TaskIdx(1), &[w(0)]);
        assert_eq!(table.holders(FileIdx(0)).count(), 2);
    }
}
