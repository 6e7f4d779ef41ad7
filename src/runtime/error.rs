//! Why a real run could not start or could not go on.

use super::journal::JournalError;
use crate::plan::TaskIdx;

/// An error of the real runner.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// A task has no command and the run has no `--exec` command for it.
    #[error(
        "task `{task}`{} has no command{}: give it `command = ...` or run with --exec CMD",
        at_line(*.line),
        others_too(*.others)
    )]
    MissingCommand {
        /// The first such task.
        task: String,
        /// Its line in the scenario file, if known.
        line: Option<usize>,
        /// How many more tasks lack one.
        others: usize,
    },
    /// A task's program cannot be found.
    #[error("task `{task}`{}: {}", at_line(*.line), not_found(.program))]
    CommandNotFound {
        /// The task.
        task: String,
        /// Its line in the scenario file, if known.
        line: Option<usize>,
        /// The program as written (empty for an empty command).
        program: String,
    },
    /// Replaying the journal did not give the attempts the store recorded: the journal
    /// was tampered with, or written by an incompatible version of taskdist.
    #[error(
        "the journal does not replay to the recorded run: task `{task}` replays to attempt {replayed} but attempt {recorded} was recorded"
    )]
    ReplayMismatch {
        /// The first task that differs.
        task: String,
        /// Its index.
        index: TaskIdx,
        /// The attempt number the replay reached.
        replayed: u32,
        /// The attempt number on record.
        recorded: u32,
    },
    /// A journal entry cannot be replayed.
    #[error("the journal is corrupt at entry {entry}: {reason}")]
    CorruptJournal {
        /// 1-based position of the entry.
        entry: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// Persisting a step failed; the run stopped so that nothing runs unrecorded.
    #[error("cannot record the run: {0}")]
    Journal(#[source] JournalError),
}

fn at_line(line: Option<usize>) -> String {
    line.map(|l| format!(" (line {l})")).unwrap_or_default()
}

fn others_too(others: usize) -> String {
    match others {
        0 => String::new(),
        1 => " (nor has 1 other task)".to_string(),
        n => format!(" (nor have {n} other tasks)"),
    }
}

fn not_found(program: &str) -> String {
    if program.is_empty() {
        "the command is empty".to_string()
    } else {
        format!("command `{program}` not found (not on PATH, or not executable)")
    }
}
