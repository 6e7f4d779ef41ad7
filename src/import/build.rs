//! The shape every reader produces ([`Workflow`]: jobs with runtimes, parents and files)
//! and its translation into a scenario file, with the defaults the module doc lists.

use crate::model::{
    AgentFile, ConfigFile, DurationText, HOUR_MS, Issue, MINUTE_MS, Scenario, ScenarioFile,
    SourceInfo, TaskFile, Time, TimeUnit,
};
use std::collections::{BTreeMap, BTreeSet};

/// How many generalist agents an imported scenario declares unless told otherwise.
pub const DEFAULT_AGENTS: u32 = 4;

/// Choices an imported workflow's file does not make for itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportOptions {
    /// Number of identical generalist agents (default [`DEFAULT_AGENTS`]); also
    /// `config.max_agents`.
    pub agents: u32,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions {
            agents: DEFAULT_AGENTS,
        }
    }
}

/// One task as a reader found it.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct Job {
    /// Unique id, what parents refer to.
    pub id: String,
    /// A display name, if the format has one besides the id.
    pub title: Option<String>,
    /// Runtime in seconds, as written (resolution rejects negative or huge ones).
    pub runtime_s: f64,
    /// Ids of the tasks it waits for.
    pub parents: Vec<String>,
    /// Files it reads.
    pub reads: Vec<String>,
    /// Files it writes.
    pub writes: Vec<String>,
    /// 1-based line where it is defined in the imported file.
    pub line: Option<usize>,
    /// Facts worth keeping for agents (program, transformation, …).
    pub metadata: BTreeMap<String, serde_json::Value>,
}

/// A parsed workflow, before translation.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct Workflow {
    /// The jobs in file order (which is the plan's final tie-break).
    pub jobs: Vec<Job>,
    /// Problems the reader found that validation would not (e.g. a `children` entry naming
    /// no task); reported together with validation's own.
    pub issues: Vec<Issue>,
}

/// The task timeout is at least this (the scenario format's own default).
const MIN_TIMEOUT_MS: Time = 30 * MINUTE_MS;

/// And at most the longest duration a scenario may give (10 years): a task too long for
/// that is reported once, as its own error, not again as the timeout's.
const MAX_TIMEOUT_MS: Time = 10 * 365 * 24 * HOUR_MS;

impl Workflow {
    /// The scenario file for these jobs, resolved as if it had been read from disk.
    pub fn into_scenario(self, origin: &str, options: &ImportOptions) -> (Scenario, Vec<Issue>) {
        let longest_ms = self
            .jobs
            .iter()
            .map(|j| j.runtime_s)
            .filter(|s| s.is_finite() && *s >= 0.0)
            .fold(0.0f64, f64::max)
            * 1000.0;
        // Twice the longest task, in whole minutes: an imported task never times out
        // unless a simulation model makes it hang or run long.
        let timeout_ms = ((2.0 * longest_ms / MINUTE_MS as f64).ceil() as Time)
            .saturating_mul(MINUTE_MS)
            .clamp(MIN_TIMEOUT_MS, MAX_TIMEOUT_MS);
        let mut task_lines = Vec::with_capacity(self.jobs.len());
        let tasks = self
            .jobs
            .into_iter()
            .map(|job| {
                task_lines.push(job.line);
                TaskFile {
                    title: job.title.filter(|t| *t != job.id),
                    id: job.id,
                    description: None,
                    task_type: None,
                    priority: None,
                    estimated_duration: DurationText::Number(job.runtime_s),
                    depends_on: dedup(job.parents),
                    blocked_by: Vec::new(),
                    files_to_modify: dedup(job.writes),
                    files_to_read: dedup(job.reads),
                    metadata: job.metadata,
                    timeout: None,
                    command: None,
                }
            })
            .collect();
        let file = ScenarioFile {
            time_unit: TimeUnit::Seconds,
            config: ConfigFile {
                max_agents: Some(options.agents),
                task_timeout: Some(DurationText::from(timeout_ms)),
                // The runtimes were measured (or given): the simulator's model of shared
                // discoveries shortening tasks would make them shorter than they were.
                enable_context_sharing: Some(false),
                ..ConfigFile::default()
            },
            agents: vec![AgentFile {
                count: Some(options.agents),
                ..AgentFile::default()
            }],
            tasks,
            simulation: None,
        };
        let source = SourceInfo {
            origin: origin.to_string(),
            task_lines,
            simulation_file: None,
        };
        let (scenario, mut issues) = Scenario::resolve(file, source);
        issues.extend(self.issues);
        (scenario, issues)
    }
}

/// The list without repeats, first occurrence kept.
fn dedup(list: Vec<String>) -> Vec<String> {
    let mut seen = BTreeSet::new();
    list.into_iter()
        .filter(|s| seen.insert(s.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(id: &str, runtime_s: f64) -> Job {
        Job {
            id: id.to_string(),
            runtime_s,
            ..Job::default()
        }
    }

    #[test]
    fn timeout_fits_the_longest_task() {
        let short = Workflow {
            jobs: vec![job("a", 12.5)],
            issues: Vec::new(),
        };
        let (scenario, issues) = short.into_scenario("x", &ImportOptions::default());
        assert!(issues.is_empty(), "{issues:?}");
        assert_eq!(scenario.config.task_timeout_ms, 30 * MINUTE_MS);
        assert_eq!(scenario.tasks[0].estimated_duration_ms, 12_500);
        assert_eq!(scenario.agents.len(), DEFAULT_AGENTS as usize);
        assert_eq!(scenario.config.max_agents, DEFAULT_AGENTS);

        let long = Workflow {
            jobs: vec![job("a", 3600.0), job("b", 5000.0)],
            issues: Vec::new(),
        };
        let (scenario, _) = long.into_scenario("x", &ImportOptions { agents: 2 });
        // 2 × 5000 s = 166.7 min, rounded up to 167 min.
        assert_eq!(scenario.config.task_timeout_ms, 167 * MINUTE_MS);
        assert!(scenario.config.task_timeout_ms > 2 * HOUR_MS);
        assert_eq!(scenario.agents.len(), 2);

        // A task too long for any timeout is one error, its own.
        let huge = Workflow {
            jobs: vec![job("a", 1e12)],
            issues: Vec::new(),
        };
        let (scenario, issues) = huge.into_scenario("x", &ImportOptions::default());
        assert_eq!(scenario.config.task_timeout_ms, MAX_TIMEOUT_MS);
        assert_eq!(issues.len(), 1, "{issues:?}");
        assert!(issues[0].to_string().contains("task `a`"), "{issues:?}");
    }

    #[test]
    fn lists_are_deduplicated_and_titles_kept_only_when_different() {
        let mut a = job("a", 1.0);
        a.title = Some("a".to_string());
        a.reads = vec!["f".into(), "g".into(), "f".into()];
        let mut b = job("b", 1.0);
        b.title = Some("Bee".to_string());
        b.parents = vec!["a".into(), "a".into()];
        let workflow = Workflow {
            jobs: vec![a, b],
            issues: Vec::new(),
        };
        let (scenario, _) = workflow.into_scenario("x", &ImportOptions::default());
        assert_eq!(scenario.tasks[0].files_to_read, vec!["f", "g"]);
        assert_eq!(&*scenario.tasks[0].title, "a");
        assert_eq!(scenario.file.tasks[0].title, None);
        assert_eq!(&*scenario.tasks[1].title, "Bee");
        assert_eq!(scenario.tasks[1].depends_on, vec!["a"]);
    }
}
