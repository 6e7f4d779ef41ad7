//! Errors of reading a scenario: syntax errors with file, line and column, and the list of
//! every semantic problem found ([`Issue`]), each naming the task and its line.

use std::fmt;
use std::path::PathBuf;

/// One problem in a scenario, found before anything runs.
#[derive(Debug, Clone, PartialEq)]
pub struct Issue {
    /// 1-based line in the scenario file, if known: that of the offending field of the
    /// configuration or of an agent (or where the agent's entry starts), or where the
    /// offending task starts.
    pub line: Option<usize>,
    /// What is wrong.
    pub kind: IssueKind,
}

impl Issue {
    /// An issue at a known line (or none).
    pub fn new(line: Option<usize>, kind: IssueKind) -> Self {
        Issue { line, kind }
    }
}

impl fmt::Display for Issue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "line {line}: {}", self.kind),
            None => write!(f, "{}", self.kind),
        }
    }
}

/// The kinds of problem validation reports.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum IssueKind {
    /// The dependencies (`depends_on` and `blocked_by`) form a cycle; the path starts and
    /// ends at the same task.
    #[error("dependency cycle: {} (each task waits for the next)", .path.join(" -> "))]
    Cycle {
        /// The tasks on the cycle, the first repeated at the end.
        path: Vec<String>,
    },
    /// A task depends on an id that no task has.
    #[error("task `{task}`: {field} names unknown task `{missing}`")]
    UnknownDependency {
        /// The task with the bad reference.
        task: String,
        /// `depends_on` or `blocked_by`.
        field: &'static str,
        /// The id that does not exist.
        missing: String,
    },
    /// A task depends on itself.
    #[error("task `{task}`: {field} names the task itself")]
    SelfDependency {
        /// The task.
        task: String,
        /// `depends_on` or `blocked_by`.
        field: &'static str,
    },
    /// Two tasks share an id.
    #[error("duplicate task id `{id}` (first defined on line {})", .first_line.map_or("?".to_string(), |l| l.to_string()))]
    DuplicateTask {
        /// The repeated id.
        id: String,
        /// Where it was first defined.
        first_line: Option<usize>,
    },
    /// Two agents share an id.
    #[error("duplicate agent id `{id}`")]
    DuplicateAgent {
        /// The repeated id.
        id: String,
    },
    /// No registered agent has the task's type among its capabilities.
    #[error("task `{task}`: no agent can run type `{task_type}`")]
    NoCapableAgent {
        /// The task nobody can run.
        task: String,
        /// Its type.
        task_type: String,
    },
    /// The scenario declares no agent.
    #[error("the scenario has no agents (add an [[agents]] table, e.g. `count = 3`)")]
    NoAgents,
    /// The scenario declares no task.
    #[error("the scenario has no tasks")]
    NoTasks,
    /// A duration field could not be read, is negative or is not finite.
    #[error("{owner}: `{field}`: {error}")]
    BadDuration {
        /// `task `x``, `agent `y``, or `config`.
        owner: String,
        /// The field name.
        field: &'static str,
        /// Why.
        error: super::DurationError,
    },
    /// A number is out of its allowed range.
    #[error("{owner}: `{field}` {message}")]
    BadValue {
        /// `task `x``, `agent `y``, or `config`.
        owner: String,
        /// The field name.
        field: &'static str,
        /// What is allowed.
        message: String,
    },
    /// A task's estimate is longer than its timeout: every attempt that runs as estimated
    /// would be cancelled, so the plan cannot succeed as written.
    #[error(
        "task `{task}`: estimated_duration {estimate} is longer than its timeout {timeout} (from {timeout_field}): every attempt would time out; {}", timeout_fix(.timeout_field, .estimate)
    )]
    EstimateExceedsTimeout {
        /// The task.
        task: String,
        /// Its estimate, as written back (`"50m"`).
        estimate: String,
        /// The timeout that applies to it.
        timeout: String,
        /// Where that timeout comes from: the task's own `timeout`, or
        /// `config.task_timeout` (its default when the scenario sets none).
        timeout_field: &'static str,
    },
    /// A task id is empty.
    #[error("a task has an empty id")]
    EmptyId,
}

/// How to mend an estimate longer than its timeout, by where the timeout comes from.
fn timeout_fix(timeout_field: &str, estimate: &str) -> String {
    if timeout_field.contains("config") {
        format!(
            "raise config.task_timeout above {estimate} (or set this task's `timeout`), or lower the estimate"
        )
    } else {
        format!("raise the task's `timeout` above {estimate}, or lower the estimate")
    }
}

/// Why a scenario could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScenarioError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file's extension names no format taskdist reads.
    #[error("{path}: unknown scenario format (use .toml or .json, or pass --format)")]
    UnknownFormat {
        /// The file.
        path: PathBuf,
    },
    /// The file is not valid TOML/JSON, or has a field of the wrong type or an unknown field.
    #[error("{origin}:{line}:{column}: {}{message}", .field.as_ref().map_or(String::new(), |f| format!("{f}: ")))]
    Syntax {
        /// The file name (or `<input>`).
        origin: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// The field the offending value belongs to, when the text parsed but a value did
        /// not fit: `agents[0].count`, ``tasks[3].depends_on (task `deploy`)``.
        field: Option<String>,
        /// The parser's message.
        message: String,
    },
    /// The file parsed but describes an invalid plan; every problem found is listed.
    #[error("{}", display_invalid(.origin, *.file, .issues))]
    Invalid {
        /// The file name (or `<input>`).
        origin: String,
        /// What the file is: the scenario, or the calibration its `[simulation]` table was
        /// read from.
        file: FileKind,
        /// Every problem found, in file order.
        issues: Vec<Issue>,
    },
}

/// What a file with [`ScenarioError::Invalid`] issues is, as its message says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// A scenario file (or an imported workflow).
    Scenario,
    /// A calibration file given with `--calibration`, whose `[simulation]` table replaced
    /// the scenario's.
    Calibration,
}

fn display_invalid(origin: &str, file: FileKind, issues: &[Issue]) -> String {
    let what = match file {
        FileKind::Scenario => "the scenario",
        FileKind::Calibration => "the calibration's [simulation] table",
    };
    let mut out = format!(
        "{origin}: {} in {what}:",
        super::count(issues.len(), "error", "errors")
    );
    for issue in issues {
        match issue.line {
            Some(line) => out.push_str(&format!("\n  {origin}:{line}: {}", issue.kind)),
            None => out.push_str(&format!("\n  {origin}: {}", issue.kind)),
        }
    }
    out
}
