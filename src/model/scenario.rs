//! The scenario file format (TOML or JSON) and its resolution into a [`Scenario`].

use super::field_path::{json_error_path, toml_error_path};
use super::{
    AgentSpec, Config, DurationText, FileKind, Issue, IssueKind, KeyLines, Policy, Priority,
    ScenarioError, TaskSpec, TaskType, Time, TimeUnit, format_exact,
};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

/// The serde shape of a scenario file. Unknown fields are errors, so a typo never passes
/// silently; the original's camelCase names are accepted as aliases.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    /// Unit of bare numbers (default minutes).
    #[serde(default, alias = "timeUnit")]
    pub time_unit: TimeUnit,
    /// Scheduler settings.
    #[serde(default)]
    pub config: ConfigFile,
    /// Agents, one table per agent or per group of identical agents.
    #[serde(default)]
    pub agents: Vec<AgentFile>,
    /// The tasks of the plan.
    #[serde(default)]
    pub tasks: Vec<TaskFile>,
    /// Models for the simulator (ignored by the real runner).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub simulation: Option<super::SimulationFile>,
}

impl ScenarioFile {
    /// Checks the fast path that loading takes for a large file (its tasks cut into pieces
    /// parsed in parallel) against the whole-document parse on `text`, with pieces of
    /// `per_piece` tasks and no minimum size, so that small texts reach it too. `Ok(true)`:
    /// both read the same scenario; `Ok(false)`: the fast path declined and leaves `text`
    /// to the whole-document parse; `Err`: the two disagree (different scenarios, or the
    /// pieces accept what the whole refuses), which is a bug. The unit tests of both fast
    /// paths and the fuzz target `pieces` call this.
    pub fn check_pieces(text: &str, format: Format, per_piece: usize) -> Result<bool, String> {
        let fast = match format {
            Format::Toml => super::toml_chunks::parse_with(text, 0, per_piece),
            Format::Json => super::json_chunks::parse_with(text, 0, per_piece),
        };
        let Some(fast) = fast else {
            return Ok(false);
        };
        let whole = match format {
            Format::Toml => toml::from_str::<ScenarioFile>(text).map_err(|e| e.to_string()),
            Format::Json => serde_json::from_str::<ScenarioFile>(text).map_err(|e| e.to_string()),
        };
        match whole {
            Ok(whole) if same(&whole, &fast) => {
                if format == Format::Json {
                    Scenario::check_resolved_pieces(text, per_piece)?;
                }
                Ok(true)
            }
            Ok(whole) => Err(format!(
                "the pieces and the whole document differ:\npieces: {fast:?}\nwhole:  {whole:?}"
            )),
            Err(e) => Err(format!(
                "the pieces accepted what the whole document refuses: {e}"
            )),
        }
    }
}

impl Scenario {
    /// Checks the JSON fast path of [`Scenario::parse_owned`], which resolves each task as
    /// it is parsed, against [`Scenario::parse`], which parses the whole document and then
    /// resolves it, on `text` with pieces of `per_piece` tasks and no minimum size: the
    /// same scenario and issues, or the same error. `Err` says how they differ, which is a
    /// bug. [`ScenarioFile::check_pieces`] calls this for every JSON text it checks.
    pub(super) fn check_resolved_pieces(text: &str, per_piece: usize) -> Result<(), String> {
        let pieces =
            Scenario::parse_owned_with(text.to_string(), Format::Json, "check", 0, per_piece);
        let whole = Scenario::parse(text, Format::Json, "check");
        match (pieces, whole) {
            (Ok((pieces, issues)), Ok((mut whole, whole_issues))) => {
                whole.file.tasks.clear();
                if same(&pieces, &whole) && issues == whole_issues {
                    Ok(())
                } else {
                    Err(format!(
                        "resolving by pieces and resolving the whole differ:\n\
                         pieces: {pieces:?} {issues:?}\nwhole:  {whole:?} {whole_issues:?}"
                    ))
                }
            }
            (Err(pieces), Err(whole)) if pieces.to_string() == whole.to_string() => Ok(()),
            (pieces, whole) => Err(format!(
                "resolving by pieces gave {:?}, resolving the whole {:?}",
                pieces.map(|(_, issues)| issues).map_err(|e| e.to_string()),
                whole.map(|(_, issues)| issues).map_err(|e| e.to_string())
            )),
        }
    }
}

/// Whether the two parses of [`ScenarioFile::check_pieces`] read the same value. `==` alone
/// says no where a float is NaN (TOML writes `nan`, and `estimated_duration = nan` parses
/// before the resolution refuses it), though both parsers read the same NaN: the fuzz
/// target `pieces` took that for a disagreement. Where `==` says no, the two are the same
/// if every field prints the same, which the derived `Debug` shows in full.
fn same<T: PartialEq + std::fmt::Debug>(a: &T, b: &T) -> bool {
    a == b || format!("{a:?}") == format!("{b:?}")
}

/// The `[config]` table; every field optional, defaults from [`Config::default`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)] // each field is documented on `Config`
pub struct ConfigFile {
    #[serde(default, skip_serializing_if = "Option::is_none", alias = "maxAgents")]
    pub max_agents: Option<u32>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        alias = "maxRetriesPerTask"
    )]
    pub max_retries_per_task: Option<u32>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        alias = "taskTimeout"
    )]
    pub task_timeout: Option<DurationText>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        alias = "enableFileConflictPrevention"
    )]
    pub enable_file_conflict_prevention: Option<bool>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        alias = "enableContextSharing"
    )]
    pub enable_context_sharing: Option<bool>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        alias = "enableAutoReassignment"
    )]
    pub enable_auto_reassignment: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<Policy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff_base: Option<DurationText>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff_max: Option<DurationText>,
    /// `0` turns heartbeat checking off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heartbeat_timeout: Option<DurationText>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_lost_per_task: Option<u32>,
}

/// An `[[agents]]` table: one agent, or `count` identical ones.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentFile {
    /// Id of the agent; with `count > 1`, the prefix of `{id}_{n}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Free-form agent kind.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub agent_type: Option<String>,
    /// Task types it runs; omitted means every type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capabilities: Option<Vec<TaskType>>,
    /// Attempts at once (default 1).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        alias = "maxConcurrentTasks"
    )]
    pub max_concurrent_tasks: Option<u32>,
    /// Relative speed (default 1.0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speed: Option<f64>,
    /// Cost of an hour of this agent (default 0).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        alias = "costPerHour"
    )]
    pub cost_per_hour: Option<f64>,
    /// How many identical agents this table declares (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u32>,
}

/// A `[[tasks]]` table, with every field of the original TaskDistributor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)] // each field is documented on `TaskSpec`
pub struct TaskFile {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Defaults to `feature_implementation`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub task_type: Option<TaskType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<Priority>,
    #[serde(alias = "estimatedDuration")]
    pub estimated_duration: DurationText,
    #[serde(default, skip_serializing_if = "Vec::is_empty", alias = "dependsOn")]
    pub depends_on: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty", alias = "blockedBy")]
    pub blocked_by: Vec<String>,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        alias = "filesToModify"
    )]
    pub files_to_modify: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty", alias = "filesToRead")]
    pub files_to_read: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<DurationText>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<CommandSpec>,
}

/// A command for the real runner: a shell line as the user wrote it, or an argv list run
/// without a shell. Task data is passed in the environment, never spliced into either.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum CommandSpec {
    /// Run by `sh -c`.
    Shell(String),
    /// Program and arguments, no shell.
    Argv(Vec<String>),
}

impl CommandSpec {
    /// The program it executes (`sh` for a shell line); `None` for an empty argv or an
    /// empty program name.
    pub fn program(&self) -> Option<&str> {
        match self {
            CommandSpec::Shell(_) => Some("sh"),
            CommandSpec::Argv(argv) => argv.first().map(String::as_str).filter(|p| !p.is_empty()),
        }
    }
}

/// The two file formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// TOML (`.toml`).
    Toml,
    /// JSON (`.json`).
    Json,
}

impl Format {
    /// The format a file name's extension names, if any.
    pub fn from_path(path: &Path) -> Option<Format> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "toml" => Some(Format::Toml),
            "json" => Some(Format::Json),
            _ => None,
        }
    }
}

/// Where a scenario came from, so later checks can name file and line.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SourceInfo {
    /// File name as given by the user, or `<input>`.
    pub origin: String,
    /// 1-based line where each task (by index in the file) starts, if found.
    pub task_lines: Vec<Option<usize>>,
    /// The file the `[simulation]` table was read from, its format and what it is: the
    /// scenario itself, or a calibration whose table replaced the scenario's. The table is
    /// checked against the plan after loading; its issues name this file, which is read
    /// again for the line of each. `None` for text given in code.
    pub simulation_file: Option<(PathBuf, Format, FileKind)>,
}

impl SourceInfo {
    /// The line of the task at `index`, if known.
    pub fn task_line(&self, index: usize) -> Option<usize> {
        self.task_lines.get(index).copied().flatten()
    }
}

/// A scenario with defaults applied and durations in milliseconds.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    /// Unit of bare numbers in the file.
    pub time_unit: TimeUnit,
    /// Scheduler settings.
    pub config: Config,
    /// Agents, `count` groups expanded.
    pub agents: Vec<AgentSpec>,
    /// Tasks in file order; this order is the final tie-break of every policy.
    pub tasks: Vec<TaskSpec>,
    /// Where it came from.
    pub source: SourceInfo,
    /// The file as read, for tools that write it back or read tables of their own.
    pub file: ScenarioFile,
}

impl Scenario {
    /// Reads a scenario file, choosing the format by extension. Returns the scenario and
    /// the field-level issues found (graph checks are [`crate::plan`]'s).
    pub fn read(path: &Path) -> Result<(Scenario, Vec<Issue>), ScenarioError> {
        let format = Format::from_path(path).ok_or_else(|| ScenarioError::UnknownFormat {
            path: path.to_path_buf(),
        })?;
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let (mut scenario, issues) = Scenario::parse(&text, format, &path.display().to_string())?;
        scenario.source.simulation_file = Some((path.to_path_buf(), format, FileKind::Scenario));
        Ok((scenario, issues))
    }

    /// Parses scenario text; `origin` names it in messages.
    pub fn parse(
        text: &str,
        format: Format,
        origin: &str,
    ) -> Result<(Scenario, Vec<Issue>), ScenarioError> {
        let (file, source) = Scenario::parse_file(text, format, origin)?;
        Ok(Scenario::resolve_with(file, source, Some((text, format))))
    }

    /// Like [`Scenario::parse`], for a run that needs only the resolved tasks: the text is
    /// dropped once parsed, and each task of the file once resolved, so a large file is
    /// never held three times over (text, parsed and resolved). The scenario comes back
    /// with its file's `tasks` empty.
    ///
    /// A large JSON file goes further: each task is resolved as soon as it is parsed, on
    /// every core, so the file's list of parsed tasks never exists at all (at a million
    /// tasks, a few hundred megabytes and a pass over them).
    pub fn parse_owned(
        text: String,
        format: Format,
        origin: &str,
    ) -> Result<(Scenario, Vec<Issue>), ScenarioError> {
        Scenario::parse_owned_with(
            text,
            format,
            origin,
            super::json_chunks::MIN_TASKS,
            RESOLVE_BLOCK,
        )
    }

    /// [`Scenario::parse_owned`] that resolves a JSON file of at least `min_tasks` tasks as
    /// it parses it, by pieces of at least `per_piece` tasks: the tests take small files
    /// that way too.
    pub(super) fn parse_owned_with(
        text: String,
        format: Format,
        origin: &str,
        min_tasks: usize,
        per_piece: usize,
    ) -> Result<(Scenario, Vec<Issue>), ScenarioError> {
        let (mut file, source) = match format {
            Format::Json => {
                let resolved = super::json_chunks::Cut::new(&text, min_tasks)
                    .and_then(|cut| Scenario::resolve_pieces(&text, cut, origin, per_piece));
                if let Some(resolved) = resolved {
                    return Ok(resolved);
                }
                // Not cut, or a task that does not parse: the whole-document parse says
                // where.
                Scenario::parse_whole(&text, format, origin)?
            }
            Format::Toml => Scenario::parse_file(&text, format, origin)?,
        };
        let resolver = Resolver::new(&file, Some((&text, format)));
        drop(text);
        let file_tasks = std::mem::take(&mut file.tasks);
        Ok(Scenario::resolve_from(resolver, file, file_tasks, source))
    }

    /// [`Scenario::parse_owned`] of a cut JSON text: every task parsed and resolved where
    /// it is. `None` if a task does not parse.
    fn resolve_pieces(
        text: &str,
        cut: super::json_chunks::Cut,
        origin: &str,
        per_piece: usize,
    ) -> Option<(Scenario, Vec<Issue>)> {
        let resolver = Resolver::new(&cut.head, Some((text, Format::Json)));
        let tasks = cut.map_tasks(text, per_piece, |index, task| resolver.task(index, task))?;
        let source = SourceInfo {
            origin: origin.to_string(),
            task_lines: task_lines(text, Format::Json, tasks.iter().map(|t| &*t.id)),
            simulation_file: None,
        };
        Some(resolver.finish(cut.head, tasks, source))
    }

    /// The file's fields as written, and where its tasks are.
    fn parse_file(
        text: &str,
        format: Format,
        origin: &str,
    ) -> Result<(ScenarioFile, SourceInfo), ScenarioError> {
        // A large file is parsed by pieces; if that fails, the whole-document parse says
        // why, with the error's position and field.
        let pieces = match format {
            Format::Toml => super::toml_chunks::parse(text),
            Format::Json => super::json_chunks::parse(text),
        };
        match pieces {
            Some(file) => Ok(Scenario::with_source(file, text, format, origin)),
            None => Scenario::parse_whole(text, format, origin),
        }
    }

    /// [`Scenario::parse_file`] without the fast paths: the whole document at once.
    fn parse_whole(
        text: &str,
        format: Format,
        origin: &str,
    ) -> Result<(ScenarioFile, SourceInfo), ScenarioError> {
        let file: ScenarioFile = match format {
            Format::Toml => toml::from_str(text).map_err(|e| {
                let (line, column) = e
                    .span()
                    .map_or((1, 1), |span| line_column(text, span.start));
                let message = e.message().trim().to_string();
                ScenarioError::Syntax {
                    origin: origin.to_string(),
                    line,
                    column,
                    field: error_field(text, format, &message),
                    message,
                }
            })?,
            Format::Json => serde_json::from_str(text).map_err(|e| {
                let message = strip_json_position(&e.to_string());
                ScenarioError::Syntax {
                    origin: origin.to_string(),
                    line: e.line().max(1),
                    column: json_column(text, e.line(), e.column()),
                    field: error_field(text, format, &message),
                    message,
                }
            })?,
        };
        Ok(Scenario::with_source(file, text, format, origin))
    }

    /// The parsed file and where its tasks are in `text`.
    fn with_source(
        file: ScenarioFile,
        text: &str,
        format: Format,
        origin: &str,
    ) -> (ScenarioFile, SourceInfo) {
        let source = SourceInfo {
            origin: origin.to_string(),
            task_lines: task_lines(text, format, file.tasks.iter().map(|t| t.id.as_str())),
            simulation_file: None,
        };
        (file, source)
    }

    /// Applies defaults and the time unit; collects every field-level issue.
    pub fn resolve(file: ScenarioFile, source: SourceInfo) -> (Scenario, Vec<Issue>) {
        Scenario::resolve_with(file, source, None)
    }

    /// [`Scenario::resolve`], given the `text` the file was read from when there is one:
    /// the issues of its configuration and agents then name their lines too.
    fn resolve_with(
        mut file: ScenarioFile,
        source: SourceInfo,
        text: Option<(&str, Format)>,
    ) -> (Scenario, Vec<Issue>) {
        let resolver = Resolver::new(&file, text);
        let file_tasks = std::mem::take(&mut file.tasks);
        let (mut scenario, issues) =
            Scenario::resolve_from(resolver, file, file_tasks.clone(), source);
        scenario.file.tasks = file_tasks;
        (scenario, issues)
    }

    /// [`Scenario::resolve`] with the file's tasks apart, each moved into its resolved
    /// task (a copy when the file keeps its own, as [`Scenario::resolve`] does).
    ///
    /// Tasks resolve on every core; their issues come out in file order, each task's in
    /// the order it raised them, as one pass would give them.
    fn resolve_from(
        resolver: Resolver,
        file: ScenarioFile,
        file_tasks: Vec<TaskFile>,
        source: SourceInfo,
    ) -> (Scenario, Vec<Issue>) {
        let resolve = |(index, task): (usize, TaskFile)| resolver.task(index, task);
        // A small file is resolved where it is: handing it to other cores costs more.
        let tasks: Vec<TaskSpec> = if file_tasks.len() < 2 * RESOLVE_BLOCK {
            file_tasks.into_iter().enumerate().map(resolve).collect()
        } else {
            file_tasks
                .into_par_iter()
                .enumerate()
                .with_min_len(RESOLVE_BLOCK)
                .map(resolve)
                .collect()
        };
        resolver.finish(file, tasks, source)
    }

    /// A scenario built in code (by importers, generators and tests), with no file behind it.
    pub fn from_parts(config: Config, agents: Vec<AgentSpec>, tasks: Vec<TaskSpec>) -> Scenario {
        Scenario {
            time_unit: TimeUnit::Minutes,
            config,
            agents,
            tasks,
            source: SourceInfo {
                origin: "<generated>".to_string(),
                task_lines: Vec::new(),
                simulation_file: None,
            },
            file: ScenarioFile::default(),
        }
    }
}

/// Tasks per parallel job of [`Scenario::resolve_from`], at the least.
const RESOLVE_BLOCK: usize = 4_096;

/// The issue of a value out of its range (its line is given later, where known).
fn bad_value(owner: String, field: &'static str, message: impl Into<String>) -> Issue {
    Issue::new(
        None,
        IssueKind::BadValue {
            owner,
            field,
            message: message.into(),
        },
    )
}

/// The field a configuration or agent issue is about, if it names one.
fn issue_field(kind: &IssueKind) -> Option<&'static str> {
    match kind {
        IssueKind::BadValue { field, .. } | IssueKind::BadDuration { field, .. } => Some(field),
        IssueKind::DuplicateAgent { .. } => Some("id"),
        _ => None,
    }
}

/// What resolving a file's tasks takes from the rest of the file (its configuration and
/// agents, resolved first: their issues come before any task's), and the issues raised.
struct Resolver {
    unit: TimeUnit,
    config: Config,
    agents: Vec<AgentSpec>,
    /// `config.task_timeout`, the timeout of a task that sets none, and how to name it.
    default_timeout: (Time, &'static str),
    /// The configuration's and agents' issues.
    issues: Vec<Issue>,
    /// The issues of the tasks that raised any, each task's with its index, handed over
    /// from any core.
    raised: Mutex<Vec<(usize, Vec<Issue>)>>,
}

impl Resolver {
    /// Resolves `file`'s configuration and agents. With the `text` it was read from, their
    /// issues are given the line of the field or entry that raised them.
    fn new(file: &ScenarioFile, text: Option<(&str, Format)>) -> Resolver {
        let mut issues = Vec::new();
        let unit = file.time_unit;
        let config = resolve_config(&file.config, unit, &mut issues);
        let config_issues = issues.len();
        let mut entry_of = Vec::new();
        let agents = resolve_agents(&file.agents, &mut issues, &mut entry_of);
        if !issues.is_empty()
            && let Some((text, format)) = text
            && let Some(lines) = KeyLines::read(text, format, &["config", "agents"])
        {
            for (i, issue) in issues.iter_mut().enumerate() {
                let field = issue_field(&issue.kind);
                issue.line = match i.checked_sub(config_issues) {
                    None => field.and_then(|field| lines.line(&["config", field])),
                    Some(agent_issue) => {
                        // The entry's own field, else where the entry starts.
                        let entry = entry_of[agent_issue].to_string();
                        field
                            .and_then(|field| lines.line(&["agents", &entry, field]))
                            .or_else(|| lines.line(&["agents", &entry]))
                    }
                };
            }
        }
        let default_timeout_field = match file.config.task_timeout {
            Some(_) => "config.task_timeout",
            None => "the default config.task_timeout",
        };
        let default_timeout = (config.task_timeout_ms, default_timeout_field);
        Resolver {
            unit,
            config,
            agents,
            default_timeout,
            issues,
            raised: Mutex::new(Vec::new()),
        }
    }

    /// Resolves task `index`, on any core. Issues are rare: a task with some hands them
    /// over with its index.
    fn task(&self, index: usize, task: TaskFile) -> TaskSpec {
        let mut own = Vec::new();
        let spec = resolve_task(task, self.unit, self.default_timeout, &mut own);
        if !own.is_empty() {
            self.raised
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push((index, own));
        }
        spec
    }

    /// The scenario, and its issues: those of the configuration and agents, then each
    /// task's in file order, in the order it raised them, as one pass would give them, each
    /// on its task's line.
    fn finish(
        self,
        file: ScenarioFile,
        tasks: Vec<TaskSpec>,
        source: SourceInfo,
    ) -> (Scenario, Vec<Issue>) {
        let mut issues = self.issues;
        let mut raised = self
            .raised
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner);
        raised.sort_unstable_by_key(|&(index, _)| index);
        for (index, own) in &mut raised {
            for issue in own {
                issue.line = source.task_line(*index);
            }
        }
        issues.extend(raised.into_iter().flat_map(|(_, own)| own));
        let scenario = Scenario {
            time_unit: self.unit,
            config: self.config,
            agents: self.agents,
            tasks,
            source,
            file,
        };
        (scenario, issues)
    }
}

fn duration_field(
    value: &DurationText,
    unit: TimeUnit,
    owner: impl FnOnce() -> String,
    field: &'static str,
    issues: &mut Vec<Issue>,
) -> Option<Time> {
    match value.to_millis(unit) {
        Ok(ms) => Some(ms),
        Err(error) => {
            issues.push(Issue::new(
                None,
                IssueKind::BadDuration {
                    owner: owner(),
                    field,
                    error,
                },
            ));
            None
        }
    }
}

fn resolve_config(file: &ConfigFile, unit: TimeUnit, issues: &mut Vec<Issue>) -> Config {
    let defaults = Config::default();
    let owner = || "config".to_string();
    let mut duration = |value: &Option<DurationText>, field, default| match value {
        Some(v) => duration_field(v, unit, owner, field, issues).unwrap_or(default),
        None => default,
    };
    let task_timeout_ms = duration(&file.task_timeout, "task_timeout", defaults.task_timeout_ms);
    let backoff_base_ms = duration(&file.backoff_base, "backoff_base", defaults.backoff_base_ms);
    let backoff_max_ms = duration(&file.backoff_max, "backoff_max", defaults.backoff_max_ms);
    let heartbeat = duration(
        &file.heartbeat_timeout,
        "heartbeat_timeout",
        defaults.heartbeat_timeout_ms.unwrap_or(0),
    );
    let config = Config {
        max_agents: file.max_agents.unwrap_or(defaults.max_agents),
        max_retries_per_task: file
            .max_retries_per_task
            .unwrap_or(defaults.max_retries_per_task),
        task_timeout_ms,
        enable_file_conflict_prevention: file
            .enable_file_conflict_prevention
            .unwrap_or(defaults.enable_file_conflict_prevention),
        enable_context_sharing: file
            .enable_context_sharing
            .unwrap_or(defaults.enable_context_sharing),
        enable_auto_reassignment: file
            .enable_auto_reassignment
            .unwrap_or(defaults.enable_auto_reassignment),
        policy: file.policy.unwrap_or(defaults.policy),
        backoff_base_ms,
        backoff_max_ms,
        heartbeat_timeout_ms: (heartbeat > 0).then_some(heartbeat),
        max_lost_per_task: file.max_lost_per_task.unwrap_or(defaults.max_lost_per_task),
        jitter_seed: defaults.jitter_seed,
        schedule: None,
    };
    if config.max_agents == 0 {
        issues.push(bad_value(owner(), "max_agents", "must be at least 1"));
    }
    if config.task_timeout_ms == 0 {
        issues.push(bad_value(
            owner(),
            "task_timeout",
            "must be longer than zero",
        ));
    }
    if config.backoff_max_ms < config.backoff_base_ms {
        issues.push(bad_value(
            owner(),
            "backoff_max",
            "must not be shorter than backoff_base",
        ));
    }
    config
}

/// The most agents a scenario may declare (and `--agents` may ask for): `count` expands
/// into one spec per agent, and a typo of a few digits must be an error, not an
/// allocation of billions.
pub const MAX_AGENTS: usize = 100_000;

/// The range of an agent's `speed`: an attempt lasts `estimate / speed`, and beyond these
/// a duration of at most 10 years would leave the simulated clock's range.
pub const SPEED_RANGE: std::ops::RangeInclusive<f64> = 0.001..=1000.0;

/// The agents of `files`, in order; each issue raised goes to `issues`, and the index of
/// the entry that raised it to `entry_of`, so that it can be given that entry's line.
fn resolve_agents(
    files: &[AgentFile],
    issues: &mut Vec<Issue>,
    entry_of: &mut Vec<usize>,
) -> Vec<AgentSpec> {
    let mut agents = Vec::new();
    let mut seen = BTreeSet::new();
    for (entry, file) in files.iter().enumerate() {
        let before = issues.len();
        resolve_agent(file, &mut agents, &mut seen, issues);
        entry_of.extend(std::iter::repeat_n(entry, issues.len() - before));
    }
    agents
}

/// One entry of `agents`: its `count` agents appended to `agents` (none if the entry would
/// pass [`MAX_AGENTS`]); `seen` holds the ids made so far.
fn resolve_agent(
    file: &AgentFile,
    agents: &mut Vec<AgentSpec>,
    seen: &mut BTreeSet<String>,
    issues: &mut Vec<Issue>,
) {
    let count = file.count.unwrap_or(1);
    let label = file
        .id
        .clone()
        .unwrap_or_else(|| format!("agent_{}", agents.len() + 1));
    let owner = || format!("agent `{label}`");
    if let Some(speed) = file.speed
        && !SPEED_RANGE.contains(&speed)
    {
        issues.push(bad_value(
            owner(),
            "speed",
            format!(
                "must be a number from {} to {}, not {speed}",
                SPEED_RANGE.start(),
                SPEED_RANGE.end()
            ),
        ));
    }
    if file.id.as_deref().is_some_and(|id| id.trim().is_empty()) {
        issues.push(bad_value(
            "an agent".to_string(),
            "id",
            "is empty (omit it for `agent_N`)",
        ));
    }
    if let Some(cost) = file.cost_per_hour
        && !(cost.is_finite() && cost >= 0.0)
    {
        issues.push(bad_value(
            owner(),
            "cost_per_hour",
            format!("must be a finite number, 0 or more, not {cost}"),
        ));
    }
    if file.max_concurrent_tasks == Some(0) {
        issues.push(bad_value(
            owner(),
            "max_concurrent_tasks",
            "must be at least 1",
        ));
    }
    if let Some(caps) = &file.capabilities
        && caps.is_empty()
    {
        issues.push(bad_value(
            owner(),
            "capabilities",
            "is empty: the agent could run nothing (omit it to run every type)",
        ));
    }
    if agents.len() + count as usize > MAX_AGENTS {
        issues.push(bad_value(
            owner(),
            "count",
            format!("would make more than {MAX_AGENTS} agents in all"),
        ));
        return;
    }
    for n in 1..=count {
        let id = match (&file.id, count) {
            (Some(id), 1) => id.clone(),
            (Some(id), _) => format!("{id}_{n}"),
            (None, _) => format!("agent_{}", agents.len() + 1),
        };
        if !seen.insert(id.clone()) {
            issues.push(Issue::new(
                None,
                IssueKind::DuplicateAgent { id: id.clone() },
            ));
        }
        let name = match (&file.name, count) {
            (Some(name), 1) => name.clone(),
            (Some(name), _) => format!("{name} {n}"),
            (None, _) => id.clone(),
        };
        agents.push(AgentSpec {
            id: Arc::from(id.as_str()),
            name,
            agent_type: file
                .agent_type
                .clone()
                .unwrap_or_else(|| "agent".to_string()),
            capabilities: file.capabilities.clone(),
            max_concurrent_tasks: file.max_concurrent_tasks.unwrap_or(1).max(1),
            speed: file
                .speed
                .filter(|s| SPEED_RANGE.contains(s))
                .unwrap_or(1.0),
            cost_per_hour: file
                .cost_per_hour
                .filter(|c| c.is_finite() && *c >= 0.0)
                .unwrap_or(0.0),
        });
    }
}

/// Resolves one task; `default_timeout` is `config.task_timeout`, the timeout of a task that
/// sets none, and how to name it. Its issues have no line yet: [`Resolver::finish`] gives
/// them their task's, once the lines are known.
fn resolve_task(
    file: TaskFile,
    unit: TimeUnit,
    default_timeout: (Time, &'static str),
    issues: &mut Vec<Issue>,
) -> TaskSpec {
    let owner = || format!("task `{}`", file.id);
    let estimated_duration_ms = duration_field(
        &file.estimated_duration,
        unit,
        owner,
        "estimated_duration",
        issues,
    )
    .unwrap_or(0);
    let timeout_ms = file
        .timeout
        .as_ref()
        .and_then(|t| duration_field(t, unit, owner, "timeout", issues));
    if timeout_ms == Some(0) {
        issues.push(bad_value(owner(), "timeout", "must be longer than zero"));
    }
    if file.id.trim().is_empty() {
        issues.push(Issue::new(None, IssueKind::EmptyId));
    }
    // A timeout that could not be read is reported above; comparing the estimate with the
    // default in its place would report a second, wrong problem.
    let timeout = match (&file.timeout, timeout_ms) {
        (None, _) => Some(default_timeout),
        (Some(_), Some(ms)) if ms > 0 => Some((ms, "the task's `timeout`")),
        (Some(_), _) => None,
    };
    if let Some((timeout, timeout_field)) = timeout
        && timeout > 0
        && estimated_duration_ms > timeout
    {
        issues.push(Issue::new(
            None,
            IssueKind::EstimateExceedsTimeout {
                task: file.id.clone(),
                estimate: format_exact(estimated_duration_ms),
                timeout: format_exact(timeout),
                timeout_field,
            },
        ));
    }
    let id: Arc<str> = Arc::from(file.id.as_str());
    TaskSpec {
        // Most tasks have no title of their own: the id's allocation serves both.
        title: file.title.as_deref().map_or_else(|| id.clone(), Arc::from),
        id,
        description: file.description.unwrap_or_default(),
        task_type: file.task_type.unwrap_or(TaskType::FeatureImplementation),
        priority: file.priority.unwrap_or_default(),
        estimated_duration_ms,
        depends_on: file.depends_on,
        blocked_by: file.blocked_by,
        files_to_modify: file.files_to_modify,
        files_to_read: file.files_to_read,
        metadata: file.metadata,
        timeout_ms,
        command: file.command,
    }
}

/// The field of the value that `text` failed on, read again with path tracking (only once
/// reading has failed: see [`super::field_path`]); for a task, with its id when the text
/// has one. For an unknown field, the table that has it (the message names the field).
fn error_field(text: &str, format: Format, message: &str) -> Option<String> {
    let path = match format {
        Format::Toml => toml_error_path::<ScenarioFile>(text),
        Format::Json => json_error_path::<ScenarioFile>(text),
    }?
    .of_message(message)?;
    // The text parsed as TOML/JSON (the error is a value's), so it reads as a plain tree.
    let task_id = path.index_in("tasks").and_then(|index| match format {
        Format::Toml => {
            let table: toml::Table = toml::from_str(text).ok()?;
            let task = table.get("tasks")?.as_array()?.get(index)?;
            task.get("id")?.as_str().map(str::to_string)
        }
        Format::Json => {
            let value: serde_json::Value = serde_json::from_str(text).ok()?;
            let task = value.get("tasks")?.as_array()?.get(index)?;
            task.get("id")?.as_str().map(str::to_string)
        }
    });
    Some(match task_id {
        Some(id) => format!("{path} (task `{id}`)"),
        None => path.to_string(),
    })
}

/// 1-based line and column of a byte offset; the column counts characters, as editors do.
/// The scenario loader and the workflow importers report positions with it.
pub(crate) fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut end = offset.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let before = &text[..end];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |nl| nl + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

/// serde_json counts columns in bytes; this is the same position in characters.
fn json_column(text: &str, line: usize, byte_column: usize) -> usize {
    let Some(row) = text.lines().nth(line.saturating_sub(1)) else {
        return byte_column.max(1);
    };
    let mut end = byte_column.saturating_sub(1).min(row.len());
    while !row.is_char_boundary(end) {
        end -= 1;
    }
    row[..end].chars().count() + 1
}

/// serde_json appends " at line L column C"; the line and column are reported separately.
fn strip_json_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(at) => message[..at].to_string(),
        None => message.to_string(),
    }
}

/// Finds the line where each task starts, so issues can point at it: `ids` are the tasks'
/// ids in file order. TOML: the n-th `[[tasks]]` header; JSON: the line of the task's
/// `"id"` key, in order.
fn task_lines<'a>(
    text: &str,
    format: Format,
    ids: impl ExactSizeIterator<Item = &'a str>,
) -> Vec<Option<usize>> {
    let tasks = ids.len();
    let mut lines = Vec::with_capacity(tasks);
    match format {
        Format::Toml => {
            for (number, line) in text.lines().enumerate() {
                let trimmed = line.trim_start();
                if trimmed.starts_with("[[tasks]]") || trimmed.starts_with("[[ tasks ]]") {
                    lines.push(Some(number + 1));
                }
            }
        }
        Format::Json => {
            let mut search_from = 0;
            let all = lines_of(text);
            for id in ids {
                if search_from == all.len() {
                    // Past the last line (every task of a one-line file after the first):
                    // no line to find, and no id to quote, a million times over.
                    lines.push(None);
                    continue;
                }
                let quoted = serde_json::to_string(id).unwrap_or_default();
                let found = (search_from..all.len())
                    .find(|&i| all[i].contains("\"id\"") && all[i].contains(&quoted));
                if let Some(i) = found {
                    search_from = i + 1;
                }
                lines.push(found.map(|i| i + 1));
            }
        }
    }
    // Inline TOML arrays of tasks have no headers: report no line rather than a wrong one.
    if lines.len() != tasks {
        return vec![None; tasks];
    }
    lines
}

/// `text.lines().collect()`, its line ends found with the `memchr` crate's vector search:
/// on a generated 100k-task JSON file, one line of 13 MB, a tenth of the instructions of
/// `str::lines`' word-at-a-time search.
fn lines_of(text: &str) -> Vec<&str> {
    let mut lines = Vec::new();
    let mut start = 0;
    for end in memchr::memchr_iter(b'\n', text.as_bytes()) {
        lines.push(without_cr(&text[start..end]));
        start = end + 1;
    }
    // The last line, if it has no `\n`, keeps a `\r` at its end: only `\r\n` ends a line.
    if start < text.len() {
        lines.push(&text[start..]);
    }
    lines
}

/// A line without the `\r` of a `\r\n` ending, as `str::lines` gives it.
fn without_cr(line: &str) -> &str {
    line.strip_suffix('\r').unwrap_or(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_of_is_str_lines() {
        // Every text of up to six characters from `a`, `é`, `\r` and `\n`.
        let alphabet = ['a', 'é', '\r', '\n'];
        let mut texts = vec![String::new()];
        let mut longest = texts.clone();
        for _ in 0..6 {
            longest = longest
                .iter()
                .flat_map(|t| alphabet.iter().map(move |&c| format!("{t}{c}")))
                .collect();
            texts.extend_from_slice(&longest);
        }
        assert_eq!(texts.len(), (0..=6).map(|n| 4usize.pow(n)).sum::<usize>());
        for text in &texts {
            assert_eq!(lines_of(text), text.lines().collect::<Vec<_>>(), "{text:?}");
        }
    }

    use crate::model::MINUTE_MS;

    /// A large JSON file, pretty-printed, whose tasks raise issues here and there.
    fn large_json(broken: Option<usize>) -> String {
        let n = super::super::json_chunks::MIN_TASKS + 5;
        let tasks: Vec<String> = (0..n)
            .map(|i| {
                let duration = match i % 7_001 {
                    100 => r#""five""#.to_string(),
                    _ => format!("{}", i % 9 + 1),
                };
                let timeout = if i % 9_973 == 5 { ",\n  \"timeout\": 0" } else { "" };
                let depends = if i > 0 {
                    format!(",\n  \"depends_on\": [\"t{}\"]", i - 1)
                } else {
                    String::new()
                };
                let id = if Some(i) == broken { "7".to_string() } else { format!("\"t{i}\"") };
                format!("{{\n  \"id\": {id},\n  \"estimated_duration\": {duration}{timeout}{depends}\n}}")
            })
            .collect();
        format!(
            "{{\n\"time_unit\": \"hours\",\n\"config\": {{\"task_timeout\": \"20h\"}},\n\"agents\": [{{\"count\": 2}}],\n\"tasks\": [\n{}\n]\n}}\n",
            tasks.join(",\n")
        )
    }

    /// A large JSON file's tasks are resolved as they are parsed, with no list of parsed
    /// tasks in between: the same scenario, and the same issues on the same lines, as
    /// parsing the whole file first and resolving it after.
    #[test]
    fn a_large_json_file_resolved_as_it_is_parsed_is_the_file_parsed_then_resolved() {
        let text = large_json(None);
        assert!(
            super::super::json_chunks::Cut::new(&text, super::super::json_chunks::MIN_TASKS)
                .is_some()
        );
        let (mut whole, whole_issues) = Scenario::parse(&text, Format::Json, "big.json").unwrap();
        whole.file.tasks.clear();
        let lines: Vec<&str> = text.lines().collect();
        let (pieces, issues) =
            Scenario::parse_owned(text.clone(), Format::Json, "big.json").unwrap();
        assert_eq!(issues, whole_issues);
        // Three bad durations and three zero timeouts, each on its task's `"id"` line.
        assert_eq!(issues.len(), 6, "{issues:?}");
        for (issue, task) in issues.iter().zip(["t5", "t100", "t7101", "t9978"]) {
            let line = issue.line.expect("a line");
            assert_eq!(
                lines[line - 1],
                format!("  \"id\": \"{task}\","),
                "{issue:?}"
            );
        }
        assert_eq!(pieces.tasks.len(), whole.tasks.len());
        assert_eq!(pieces, whole);
    }

    /// A task that does not parse sends a large JSON file to the whole-document parse,
    /// whose error names the place.
    #[test]
    fn a_task_that_does_not_parse_in_a_large_json_file_is_reported_as_in_a_small_one() {
        let text = large_json(Some(12_345));
        let whole = Scenario::parse(&text, Format::Json, "big.json").unwrap_err();
        let owned = Scenario::parse_owned(text, Format::Json, "big.json").unwrap_err();
        assert_eq!(owned.to_string(), whole.to_string());
        assert!(owned.to_string().contains("tasks[12345].id"), "{owned}");
    }

    /// A large JSON file whose tasks array is closed by `}` is refused, as a small one is:
    /// the fast path, which cuts the array out, once took any closing bracket for the
    /// array's (found by the `pieces` fuzz target).
    #[test]
    fn a_large_json_file_whose_tasks_array_is_closed_by_a_brace_is_refused() {
        let good = large_json(None);
        let close = good.rfind("\n]\n}").expect("the array's end");
        let mut text = good.clone();
        text.replace_range(close + 1..close + 2, "}");
        let whole = Scenario::parse(&text, Format::Json, "big.json").map(|_| ());
        let owned = Scenario::parse_owned(text, Format::Json, "big.json").map(|_| ());
        let whole = whole.expect_err("the whole-document parse refuses it");
        let owned = owned.expect_err("the fast path refuses it too");
        assert_eq!(owned.to_string(), whole.to_string());
        assert!(Scenario::parse_owned(good, Format::Json, "big.json").is_ok());
    }

    /// Both fast paths cut even a small clean file into pieces of a few tasks, and read it
    /// as the whole-document parse does: a generated plan with dependencies and files.
    #[test]
    fn a_small_file_is_cut_finely_in_both_formats() {
        use crate::model::generate::{GenParams, generate_file};
        let file = generate_file(&GenParams::new(12, 3, 7));
        let toml = toml::to_string(&file).unwrap();
        let json = serde_json::to_string_pretty(&file).unwrap();
        for (text, format) in [(toml, Format::Toml), (json, Format::Json)] {
            for per_piece in 1..4 {
                assert_eq!(
                    ScenarioFile::check_pieces(&text, format, per_piece),
                    Ok(true),
                    "{format:?}, {per_piece} per piece"
                );
            }
        }
    }

    const EXAMPLE: &str = r#"
time_unit = "minutes"

[config]
max_retries_per_task = 3
policy = "critical-path"

[[agents]]
count = 3
capabilities = ["feature_implementation", "bug_fix", "testing"]

[[tasks]]
id = "auth"
title = "Implement user authentication"
type = "feature_implementation"
priority = "high"
estimated_duration = "30m"
depends_on = []
files_to_modify = ["src/auth/auth.ts", "src/components/Login.tsx"]
files_to_read = ["src/config.ts"]

[[tasks]]
id = "tests"
type = "testing"
estimated_duration = 15
depends_on = ["auth"]
"#;

    #[test]
    fn the_issue_example_parses() {
        let (scenario, issues) = Scenario::parse(EXAMPLE, Format::Toml, "x.toml").unwrap();
        assert!(issues.is_empty(), "{issues:?}");
        assert_eq!(scenario.agents.len(), 3);
        assert_eq!(&*scenario.agents[2].id, "agent_3");
        assert_eq!(scenario.tasks[0].estimated_duration_ms, 30 * MINUTE_MS);
        assert_eq!(scenario.tasks[1].estimated_duration_ms, 15 * MINUTE_MS);
        assert_eq!(scenario.tasks[0].priority, Priority::High);
        assert_eq!(scenario.source.task_lines, vec![Some(12), Some(22)]);
    }

    #[test]
    fn json_and_camel_case_parse() {
        let json = r#"{"agents":[{"id":"a","maxConcurrentTasks":2}],
            "tasks":[{"id":"x","estimatedDuration":"45s","filesToModify":["a.ts"]}]}"#;
        let (scenario, issues) = Scenario::parse(json, Format::Json, "x.json").unwrap();
        assert!(issues.is_empty());
        assert_eq!(scenario.agents[0].max_concurrent_tasks, 2);
        assert_eq!(scenario.tasks[0].estimated_duration_ms, 45_000);
        assert_eq!(scenario.source.task_lines, vec![Some(2)]);
    }

    #[test]
    fn unknown_fields_are_syntax_errors_with_position() {
        let text = "[[tasks]]\nid = \"a\"\nestimated_duration = 1\ncolour = \"red\"\n";
        match Scenario::parse(text, Format::Toml, "bad.toml") {
            Err(ScenarioError::Syntax { line, message, .. }) => {
                assert_eq!(line, 4);
                assert!(message.contains("colour"), "{message}");
            }
            other => panic!("expected a syntax error, got {other:?}"),
        }
    }

    #[test]
    fn syntax_error_columns_count_characters() {
        let text = "[[tasks]]\nid = \"a\"\ntitle = \"éééé\" x\n";
        match Scenario::parse(text, Format::Toml, "bad.toml") {
            Err(ScenarioError::Syntax { line, column, .. }) => assert_eq!((line, column), (3, 16)),
            other => panic!("expected a syntax error, got {other:?}"),
        }
        let json = "{\"tasks\": [\n  {\"id\": \"éééé\" x}]}";
        match Scenario::parse(json, Format::Json, "bad.json") {
            Err(ScenarioError::Syntax { line, column, .. }) => assert_eq!((line, column), (2, 17)),
            other => panic!("expected a syntax error, got {other:?}"),
        }
    }

    #[test]
    fn a_huge_agent_count_is_an_issue_not_an_allocation() {
        let text =
            "[[agents]]\ncount = 4000000000\n[[tasks]]\nid = \"a\"\nestimated_duration = 1\n";
        let (scenario, issues) = Scenario::parse(text, Format::Toml, "x.toml").unwrap();
        assert!(scenario.agents.is_empty());
        assert!(issues[0].to_string().contains("`count`"), "{issues:?}");
    }

    #[test]
    fn all_duration_issues_are_collected() {
        let text = "[[tasks]]\nid = \"a\"\nestimated_duration = -3\n\n[[tasks]]\nid = \"b\"\nestimated_duration = \"nan\"\ntimeout = \"1 fortnight\"\n";
        let (_, issues) = Scenario::parse(text, Format::Toml, "bad.toml").unwrap();
        assert_eq!(issues.len(), 3, "{issues:?}");
        assert_eq!(issues[0].line, Some(1));
        assert!(issues[0].to_string().contains("task `a`"));
        assert_eq!(issues[2].line, Some(5));
    }

    /// Tasks resolved on every core are what one pass over them gives, issues in the same
    /// order: by task in file order, each task's in the order it raises them.
    #[test]
    fn parallel_resolution_is_one_pass() {
        let mut text = String::from("[config]\ntask_timeout = '20m'\n[[agents]]\n");
        for i in 0..3 * RESOLVE_BLOCK + 5 {
            text += &format!("[[tasks]]\nid = 't{i}'\n");
            match i % 1_009 {
                0 => text += "estimated_duration = -1\ntimeout = 'soon'\n",
                1 => text += "estimated_duration = '30m'\n",
                _ => text += &format!("estimated_duration = {}\n", i % 17),
            }
        }
        let (file, source) = Scenario::parse_file(&text, Format::Toml, "t.toml").unwrap();
        let (scenario, issues) = Scenario::resolve(file.clone(), source.clone());
        let config = resolve_config(&file.config, file.time_unit, &mut Vec::new());
        let mut one_pass = Vec::new();
        let tasks: Vec<TaskSpec> = file
            .tasks
            .iter()
            .enumerate()
            .map(|(i, task)| {
                let mut own = Vec::new();
                let spec = resolve_task(
                    task.clone(),
                    file.time_unit,
                    (config.task_timeout_ms, "config.task_timeout"),
                    &mut own,
                );
                for mut issue in own {
                    issue.line = source.task_line(i);
                    one_pass.push(issue);
                }
                spec
            })
            .collect();
        assert_eq!(scenario.tasks, tasks);
        assert_eq!(issues, one_pass);
        assert_eq!(issues.len(), 3 * 13, "{issues:?}");
        assert!(issues.is_sorted_by_key(|issue| issue.line));
        assert!(issues[0].to_string().contains("estimated_duration"));
        assert!(issues[1].to_string().contains("timeout"));
    }

    fn syntax(text: &str, format: Format) -> String {
        match Scenario::parse(text, format, "f") {
            Err(e @ ScenarioError::Syntax { .. }) => e.to_string(),
            other => panic!("expected a syntax error, got {other:?}"),
        }
    }

    #[test]
    fn wrong_types_name_the_field_path_and_keep_the_position() {
        assert_eq!(
            syntax(
                r#"{"agents":[{"count":"two"}],"tasks":[{"id":"a","estimated_duration":1}]}"#,
                Format::Json
            ),
            "f:1:25: agents[0].count: invalid type: string \"two\", expected u32"
        );
        assert_eq!(
            syntax(
                "[config]\nmax_retries_per_task = -1\n[[agents]]\n",
                Format::Toml
            ),
            "f:2:24: config.max_retries_per_task: invalid value: integer `-1`, expected u32"
        );
        let toml = "[[agents]]\n[[tasks]]\nid = 'a'\nestimated_duration = 1\n\
                    [[tasks]]\nid = 'b'\nestimated_duration = 1\ndepends_on = 'a'\n";
        assert_eq!(
            syntax(toml, Format::Toml),
            "f:8:14: tasks[1].depends_on (task `b`): invalid type: string \"a\", expected a sequence"
        );
        let json = "{\"tasks\": [{\"id\": \"a\", \"estimated_duration\": 1},\n\
                    {\"id\": \"b\", \"estimated_duration\": 1, \"priority\": 3}]}";
        assert!(
            syntax(json, Format::Json).starts_with("f:2:50: tasks[1].priority (task `b`): "),
            "{}",
            syntax(json, Format::Json)
        );
        // No id to name: the path alone.
        assert!(
            syntax("[[tasks]]\nestimated_duration = 1\n", Format::Toml)
                .contains("tasks[0]: missing field `id`"),
        );
        // Not TOML at all: a position, no path.
        assert_eq!(syntax("[[tasks]\n", Format::Toml).matches(": ").count(), 1);
    }

    #[test]
    fn an_estimate_longer_than_its_timeout_is_an_issue_for_every_such_task() {
        let text = "[config]\ntask_timeout = '20m'\n[[agents]]\n\
                    [[tasks]]\nid = 'a'\nestimated_duration = '20m'\n\
                    [[tasks]]\nid = 'b'\nestimated_duration = '21m'\n\
                    [[tasks]]\nid = 'c'\nestimated_duration = '2h'\ntimeout = '3h'\n\
                    [[tasks]]\nid = 'd'\nestimated_duration = '2h'\ntimeout = '1h'\n\
                    [[tasks]]\nid = 'e'\nestimated_duration = '2h'\ntimeout = 'soon'\n";
        let (_, issues) = Scenario::parse(text, Format::Toml, "x.toml").unwrap();
        let found: Vec<(Option<usize>, String)> = issues
            .iter()
            .map(|i| (i.line, i.kind.to_string()))
            .collect();
        assert_eq!(found.len(), 3, "{found:?}");
        assert_eq!(found[0].0, Some(7));
        assert!(found[0].1.starts_with("task `b`: estimated_duration 21m is longer than its timeout 20m (from config.task_timeout)"), "{found:?}");
        assert!(
            found[0].1.contains("raise config.task_timeout above 21m"),
            "{found:?}"
        );
        assert_eq!(found[1].0, Some(14));
        assert!(found[1].1.contains("task `d`: estimated_duration 2h is longer than its timeout 1h (from the task's `timeout`)"), "{found:?}");
        // An unreadable timeout is reported once, as unreadable.
        assert!(found[2].1.starts_with("task `e`: `timeout`"), "{found:?}");
        // Without [config], the default 30m applies and says so.
        let text = "[[agents]]\n[[tasks]]\nid = 'a'\nestimated_duration = '45m'\n";
        let (_, issues) = Scenario::parse(text, Format::Toml, "x.toml").unwrap();
        assert!(
            issues[0]
                .to_string()
                .contains("timeout 30m (from the default config.task_timeout)"),
            "{issues:?}"
        );
    }

    #[test]
    fn agent_speed_and_id_ranges() {
        for (agent, needle) in [
            (
                "speed = 0.0005",
                "`speed` must be a number from 0.001 to 1000, not 0.0005",
            ),
            (
                "speed = 1e300",
                "`speed` must be a number from 0.001 to 1000",
            ),
            (
                "speed = nan",
                "`speed` must be a number from 0.001 to 1000, not NaN",
            ),
            ("id = ' '", "`id` is empty"),
            (
                "capabilities = []",
                "`capabilities` is empty: the agent could run nothing",
            ),
        ] {
            let text =
                format!("[[agents]]\n{agent}\n[[tasks]]\nid = 'a'\nestimated_duration = 1\n");
            let (_, issues) = Scenario::parse(&text, Format::Toml, "x.toml").unwrap();
            assert_eq!(issues.len(), 1, "{agent}: {issues:?}");
            assert!(
                issues[0].to_string().contains(needle),
                "{agent}: {issues:?}"
            );
        }
    }
    /// Agent counts add up across entries: the entry that passes `MAX_AGENTS` is named, and
    /// no agent of it is made (so a huge `count` cannot allocate without bound).
    #[test]
    fn agent_counts_past_the_limit_name_the_entry() {
        let half = MAX_AGENTS / 2 + 1;
        let text = format!(
            "[[agents]]\nid = 'a'\ncount = {half}\n[[agents]]\nid = 'b'\ncount = {half}\n\
             [[tasks]]\nid = 't'\nestimated_duration = 1\n"
        );
        let (scenario, issues) = Scenario::parse(&text, Format::Toml, "x.toml").unwrap();
        assert_eq!(issues.len(), 1, "{issues:?}");
        let shown = issues[0].to_string();
        assert!(
            shown.contains("`count` would make more than 100000 agents in all"),
            "{shown}"
        );
        assert!(shown.contains('b'), "names the second entry: {shown}");
        assert_eq!(issues[0].line, Some(6), "the line of its `count`");
        assert_eq!(scenario.agents.len(), half, "the first entry's agents only");
    }

    /// Issues of the configuration and agents name the line of their field, or of their
    /// agent's entry, in TOML and JSON (camelCase too), read whole or owned.
    #[test]
    fn config_and_agent_issues_name_their_lines() {
        let toml = [
            "[config]",
            "max_agents = 0",
            "backoff_base = '1h'",
            "backoff_max = '1m'",
            "[[agents]]",
            "id = 'x'",
            "[[agents]]",
            "id = 'y'",
            "max_concurrent_tasks = 0",
            "[[agents]]",
            "count = 2",
            "[[agents]]",
            "id = 'x' # again",
            "[[tasks]]",
            "id = 't'",
            "estimated_duration = 1",
        ]
        .join("\n");
        let json = [
            "{",
            r#"  "config": {"#,
            r#"    "maxAgents": 0,"#,
            r#"    "task_timeout": "5x""#,
            "  },",
            r#"  "agents": ["#,
            r#"    {"id": "a"},"#,
            "    {",
            r#"      "id": "b","#,
            r#"      "speed": 0.00001"#,
            "    },",
            r#"    {"id": "a"} "#,
            "  ],",
            r#"  "tasks": [{"id": "t", "estimated_duration": 1}]"#,
            "}",
        ]
        .join("\n");
        // (the text on the line the issue must name, what the issue says)
        let cases = [
            (
                &toml,
                Format::Toml,
                [
                    ("max_agents = 0", "config: `max_agents` must be at least 1"),
                    (
                        "backoff_max = '1m'",
                        "config: `backoff_max` must not be shorter",
                    ),
                    (
                        "max_concurrent_tasks = 0",
                        "agent `y`: `max_concurrent_tasks` must",
                    ),
                    ("id = 'x' # again", "duplicate agent id `x`"),
                ],
            ),
            (
                &json,
                Format::Json,
                [
                    (r#""5x""#, "config: `task_timeout`: `5x` is not a duration"),
                    (
                        r#""maxAgents": 0"#,
                        "config: `max_agents` must be at least 1",
                    ),
                    ("0.00001", "agent `b`: `speed` must be"),
                    (r#"{"id": "a"} "#, "duplicate agent id `a`"),
                ],
            ),
        ];
        for (text, format, expected) in cases {
            let lines: Vec<&str> = text.lines().collect();
            for owned in [false, true] {
                let (_, issues) = if owned {
                    Scenario::parse_owned(text.to_string(), format, "x")
                } else {
                    Scenario::parse(text, format, "x")
                }
                .unwrap();
                assert_eq!(issues.len(), expected.len(), "{format:?}: {issues:?}");
                for (issue, (on_line, says)) in issues.iter().zip(expected) {
                    let kind = issue.kind.to_string();
                    assert!(kind.contains(says), "{kind} does not say {says}");
                    let line = issue.line.expect("a line");
                    assert!(
                        lines[line - 1].contains(on_line),
                        "{format:?}, owned {owned}: {kind} on line {line}, `{}`",
                        lines[line - 1]
                    );
                }
            }
        }
        // Without the text (a file built in code), no line rather than a wrong one.
        let (file, source) = Scenario::parse_file(&toml, Format::Toml, "x").unwrap();
        let (_, issues) = Scenario::resolve(file, source);
        assert_eq!(issues.len(), 4);
        assert!(issues.iter().all(|i| i.line.is_none()), "{issues:?}");
    }
}
