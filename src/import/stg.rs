//! The Standard Task Graph Set format (Tobita and Kasahara, 2002): `P | prec | Cmax` on
//! identical processors with no communication cost.
//!
//! ```text
//!     50                       number of real tasks n
//!      0   0   0               id  processing-time  predecessor-count  predecessors…
//!      1   9   1   0           (ids 0..n+1 in order; 0 and n+1 are dummy entry and exit)
//!     …
//!     51   0  11   3  17 …
//! # information part: generator, seeds, CP length, …
//! ```
//!
//! Fields are read as whitespace-separated integers, never by column (some copies were
//! re-padded), and a record may wrap onto further lines. The part from the first line
//! starting with `#` is commentary and ignored. Tasks become `t1` … `tn`; the dummy entry
//! and exit tasks are dropped when their processing time is zero (as it always is in the
//! published set), and with them their edges. One time unit is one second.

use super::ImportError;
use super::build::{Job, Workflow};

/// More tasks than this is a corrupt count, not a task graph.
const MAX_TASKS: u64 = 10_000_000;

/// Reads an STG file.
pub(super) fn parse(text: &str, origin: &str) -> Result<Workflow, ImportError> {
    let mut tokens = Tokens::new(text, origin);
    let n = tokens.number(|| "the number of tasks".to_string())?;
    if n.value > MAX_TASKS {
        return Err(tokens.malformed(
            Some(n.line),
            format!(
                "{} tasks is more than the {MAX_TASKS} taskdist reads",
                n.value
            ),
        ));
    }
    let n = n.value;
    let exit = n + 1;
    let mut jobs = Vec::new();
    let mut entry_dropped = false;
    for expected in 0..=exit {
        let id = tokens.number(|| {
            format!("task {expected} (line 1 declares {n} tasks, numbered 1 to {n} between the dummies 0 and {exit})")
        })?;
        if id.value != expected {
            return Err(tokens.malformed(
                Some(id.line),
                format!(
                    "expected task {expected} here, found {} (tasks are numbered 0 to {exit} in order)",
                    id.value
                ),
            ));
        }
        let id = id.value;
        let time = tokens.number(|| format!("the processing time of task {id}"))?;
        let count = tokens.number(|| format!("the number of predecessors of task {id}"))?;
        let mut parents = Vec::new();
        for i in 1..=count.value {
            let pred =
                tokens.number(|| format!("predecessor {i} of the {} of task {id}", count.value))?;
            if !(pred.value == 0 && entry_dropped) {
                parents.push(task_id(pred.value));
            }
        }
        let dummy = (id == 0 || id == exit) && time.value == 0;
        if dummy {
            entry_dropped |= id == 0;
            continue;
        }
        jobs.push(Job {
            id: task_id(id),
            runtime_s: time.value as f64,
            parents,
            line: Some(time.line),
            ..Job::default()
        });
    }
    if let Some(extra) = tokens.next_raw() {
        return Err(tokens.malformed(
            Some(extra.line),
            format!(
                "`{}` after the last task: line 1 declares {n} tasks (plus the two dummies)",
                extra.text
            ),
        ));
    }
    Ok(Workflow {
        jobs,
        issues: Vec::new(),
    })
}

/// The scenario id of STG task `id`.
pub(crate) fn task_id(id: u64) -> String {
    format!("t{id}")
}

struct Token<'a> {
    text: &'a str,
    line: usize,
}

struct Number {
    value: u64,
    line: usize,
}

/// The whitespace-separated fields of the task-graph part, with their lines.
struct Tokens<'a> {
    lines: std::iter::Enumerate<std::str::Lines<'a>>,
    current: Option<(usize, std::str::SplitWhitespace<'a>)>,
    origin: &'a str,
    /// The last line read, for "ended early" messages.
    last_line: usize,
}

impl<'a> Tokens<'a> {
    fn new(text: &'a str, origin: &'a str) -> Self {
        Tokens {
            lines: text.lines().enumerate(),
            current: None,
            origin,
            last_line: 1,
        }
    }

    fn next_raw(&mut self) -> Option<Token<'a>> {
        loop {
            if let Some((line, words)) = &mut self.current
                && let Some(text) = words.next()
            {
                return Some(Token { text, line: *line });
            }
            let (index, line) = self.lines.next()?;
            if line.trim_start().starts_with('#') {
                // The information part: nothing after it is task data.
                self.current = None;
                while self.lines.next().is_some() {}
                return None;
            }
            self.last_line = index + 1;
            self.current = Some((index + 1, line.split_whitespace()));
        }
    }

    /// The next field as a non-negative integer; `what` names it in errors.
    fn number(&mut self, what: impl FnOnce() -> String) -> Result<Number, ImportError> {
        let Some(token) = self.next_raw() else {
            let line = self.last_line;
            return Err(
                self.malformed(Some(line), format!("the task graph ends before {}", what()))
            );
        };
        match token.text.parse::<u64>() {
            Ok(value) => Ok(Number {
                value,
                line: token.line,
            }),
            Err(_) => Err(self.malformed(
                Some(token.line),
                format!(
                    "`{}` is not a whole number (expected {})",
                    token.text,
                    what()
                ),
            )),
        }
    }

    fn malformed(&self, line: Option<usize>, message: String) -> ImportError {
        ImportError::Malformed {
            origin: self.origin.to_string(),
            line,
            message,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: &str = "\
  3
  0  0  0
  1  4  1  0
  2  2  1  0
  3  5  2  1  2
  4  0  1  3
# Standard Task Graph Set Project
# CP Length : 9
";

    #[test]
    fn dummies_are_dropped_and_edges_kept() {
        let workflow = parse(SMALL, "small.stg").unwrap();
        let ids: Vec<&str> = workflow.jobs.iter().map(|j| j.id.as_str()).collect();
        assert_eq!(ids, vec!["t1", "t2", "t3"]);
        assert!(workflow.jobs[0].parents.is_empty());
        assert_eq!(workflow.jobs[2].parents, vec!["t1", "t2"]);
        assert_eq!(workflow.jobs[2].runtime_s, 5.0);
        assert_eq!(workflow.jobs[2].line, Some(5));
    }

    #[test]
    fn records_may_wrap_and_padding_does_not_matter() {
        let text = "2\n0 0 0\n1 3 1\n 0\n2 1\n1 1\n3 0 1 2\n";
        let workflow = parse(text, "wrapped.stg").unwrap();
        assert_eq!(workflow.jobs.len(), 2);
        assert_eq!(workflow.jobs[1].parents, vec!["t1"]);
    }

    #[test]
    fn a_dummy_with_work_is_kept() {
        let text = "1\n0 2 0\n1 3 1 0\n2 0 1 1\n";
        let workflow = parse(text, "x.stg").unwrap();
        let ids: Vec<&str> = workflow.jobs.iter().map(|j| j.id.as_str()).collect();
        assert_eq!(ids, vec!["t0", "t1"]);
        assert_eq!(workflow.jobs[1].parents, vec!["t0"]);
    }

    fn error(text: &str) -> String {
        parse(text, "bad.stg").unwrap_err().to_string()
    }

    #[test]
    fn malformed_files_name_the_line() {
        assert_eq!(
            error("3\n0 0 0\n1 4 1 0\n2 x 1 0\n"),
            "bad.stg:4: `x` is not a whole number (expected the processing time of task 2)"
        );
        assert_eq!(
            error("3\n0 0 0\n1 4 1 0\n"),
            "bad.stg:3: the task graph ends before task 2 (line 1 declares 3 tasks, numbered 1 to 3 between the dummies 0 and 4)"
        );
        assert_eq!(
            error("2\n0 0 0\n2 4 1 0\n"),
            "bad.stg:3: expected task 1 here, found 2 (tasks are numbered 0 to 3 in order)"
        );
        assert_eq!(
            error("1\n0 0 0\n1 4 1 0\n2 0 1 1\n3 1 0\n"),
            "bad.stg:5: `3` after the last task: line 1 declares 1 tasks (plus the two dummies)"
        );
        assert_eq!(
            error("1\n0 0 0\n1 4 3 0\n# 2 0 1 1\n"),
            "bad.stg:3: the task graph ends before predecessor 2 of the 3 of task 1"
        );
        assert_eq!(
            error(""),
            "bad.stg:1: the task graph ends before the number of tasks"
        );
        assert!(error("99999999999\n").contains("more than the 10000000"));
        assert!(error("-1\n").contains("`-1` is not a whole number"));
    }
}
