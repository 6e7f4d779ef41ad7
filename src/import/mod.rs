//! Readers for workflows written by other tools: WfCommons instances (WfFormat JSON), the
//! Standard Task Graph Set (`.stg`) and Pegasus DAX (XML). Each turns its file into the
//! same [`ScenarioFile`](crate::model::ScenarioFile) a user would write, so an imported
//! workflow plans, simulates and exports exactly like a native scenario, and
//! `taskdist import` only has to serialize it.
//!
//! ```text
//!  .json (WfCommons) ─┐
//!  .stg              ─┼─▶ ScenarioFile ─▶ Scenario::resolve ─▶ Plan::from_scenario
//!  .dax / .xml       ─┘        │
//!                              └─▶ to_toml ─▶ scenario.toml (loads and plans identically)
//! ```
//!
//! What every reader does the same way:
//!
//! - **Time**: durations are written as bare numbers of seconds (`time_unit = "seconds"`).
//!   WfCommons and DAX runtimes already are seconds; one STG time unit is taken as one second.
//! - **Dependencies** become `depends_on`; **files** read become `files_to_read` (read
//!   locks) and files written become `files_to_modify` (write locks).
//! - **Agents**: [`ImportOptions::agents`] identical generalist agents (default
//!   [`DEFAULT_AGENTS`]), and `config.max_agents` set to the same number.
//! - **Context sharing** is off (`config.enable_context_sharing = false`): the runtimes
//!   are measured or given, and the simulator's model of shared discoveries would shorten
//!   them. Turn it on in the written scenario to study its effect.
//! - **Timeout**: `config.task_timeout` is the longer of 30 minutes and twice the longest
//!   task, rounded up to whole minutes, so no imported task times out by construction.
//! - **Errors**: a file that cannot be parsed is an [`ImportError`] naming file, line and,
//!   where known, column; a parsed file that describes a broken graph (a dependency on an
//!   unknown task, a cycle, a negative runtime) is reported by the usual validation, each
//!   problem with the line of the task in the imported file.
//!
//! [`load`] is the one entry point the command line uses for every format, native or not.

mod build;
mod dax;
mod stg;
mod wfcommons;

pub use build::{DEFAULT_AGENTS, ImportOptions};

use crate::model::{FileKind, Format, Issue, Scenario, ScenarioError};
use crate::plan::Plan;
use std::fmt;
use std::path::{Path, PathBuf};

/// A workflow format taskdist imports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ImportFormat {
    /// A WfCommons instance: WfFormat 1.5 JSON (`workflow.specification` and
    /// `workflow.execution`), or the older inline flavour (`workflow.tasks` or
    /// `workflow.jobs` with runtimes and `files[{link, name}]`).
    Wfcommons,
    /// A Standard Task Graph Set file (Kasahara lab): `n`, then `id p k pred…` per task,
    /// dummy entry and exit tasks included; one time unit is one second.
    Stg,
    /// A Pegasus DAX (XML): `<job id runtime>` with `<uses file link>`, and
    /// `<child ref><parent ref/></child>` edges.
    Dax,
}

impl ImportFormat {
    /// Every import format.
    pub const ALL: [ImportFormat; 3] = [
        ImportFormat::Wfcommons,
        ImportFormat::Stg,
        ImportFormat::Dax,
    ];

    /// The name used on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            ImportFormat::Wfcommons => "wfcommons",
            ImportFormat::Stg => "stg",
            ImportFormat::Dax => "dax",
        }
    }
}

impl fmt::Display for ImportFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Any file taskdist reads as a plan: a native scenario or an imported workflow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SourceFormat {
    /// A native scenario in TOML.
    Toml,
    /// A native scenario in JSON.
    Json,
    /// A workflow to import.
    Import(ImportFormat),
}

impl SourceFormat {
    /// The format of a file, from its extension and, for `.json`, its content: a JSON
    /// object with a `workflow` member is a WfCommons instance, anything else a scenario
    /// (whose own parser then reports what is wrong with it).
    ///
    /// `.stg` is STG; `.dax` and `.xml` are DAX; `.toml` is a scenario.
    pub fn detect(path: &Path, text: &str) -> Option<SourceFormat> {
        let extension = path.extension()?.to_str()?.to_ascii_lowercase();
        match extension.as_str() {
            "toml" => Some(SourceFormat::Toml),
            "json" if wfcommons::looks_like_wfcommons(text) => {
                Some(SourceFormat::Import(ImportFormat::Wfcommons))
            }
            "json" => Some(SourceFormat::Json),
            "stg" => Some(SourceFormat::Import(ImportFormat::Stg)),
            "dax" | "xml" => Some(SourceFormat::Import(ImportFormat::Dax)),
            _ => None,
        }
    }
}

impl From<ImportFormat> for SourceFormat {
    fn from(format: ImportFormat) -> SourceFormat {
        SourceFormat::Import(format)
    }
}

/// Why a file could not be read as a plan. Problems of the graph itself (unknown
/// dependencies, cycles, bad runtimes) come as [`ImportError::Scenario`], listing every
/// problem with its line in the imported file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImportError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file's extension and content name no format taskdist reads.
    #[error(
        "{path}: unknown scenario format (use .toml or .json, or a workflow to import: WfCommons .json, .stg, .dax or .xml; or pass --format)"
    )]
    UnknownFormat {
        /// The file.
        path: PathBuf,
    },
    /// The file is not well-formed JSON or XML, or a value has the wrong type.
    #[error("{origin}:{line}:{column}: {message}")]
    Syntax {
        /// The file name.
        origin: String,
        /// 1-based line.
        line: usize,
        /// 1-based column, in characters.
        column: usize,
        /// What the parser says.
        message: String,
    },
    /// The file parses but does not have the shape of its format (a missing section, a
    /// truncated STG task list, a token that is not a number).
    #[error("{origin}:{}{message}", .line.map_or(String::new(), |l| format!("{l}: ")))]
    Malformed {
        /// The file name.
        origin: String,
        /// 1-based line, if the problem has one.
        line: Option<usize>,
        /// What is wrong.
        message: String,
    },
    /// A native scenario's error, or the validation of an imported graph.
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
}

/// Parses the text of a workflow file into a scenario, with the field-level issues
/// resolution found (graph checks are [`Plan::from_scenario`]'s). `origin` names the file
/// in messages.
pub fn parse(
    text: &str,
    format: ImportFormat,
    origin: &str,
    options: &ImportOptions,
) -> Result<(Scenario, Vec<Issue>), ImportError> {
    let workflow = match format {
        ImportFormat::Wfcommons => wfcommons::parse(text, origin)?,
        ImportFormat::Stg => stg::parse(text, origin)?,
        ImportFormat::Dax => dax::parse(text, origin)?,
    };
    Ok(workflow.into_scenario(origin, options))
}

/// Reads a workflow file into a scenario (see [`parse`]).
pub fn read(
    path: &Path,
    format: ImportFormat,
    options: &ImportOptions,
) -> Result<(Scenario, Vec<Issue>), ImportError> {
    let text = read_text(path)?;
    parse(&text, format, &path.display().to_string(), options)
}

/// Reads and validates any plan file: a native scenario (TOML or JSON) or a workflow to
/// import, the format chosen by `format` or else by [`SourceFormat::detect`]. `options`
/// apply to imported workflows only; a native scenario declares its own agents.
pub fn load(
    path: &Path,
    format: Option<SourceFormat>,
    options: &ImportOptions,
) -> Result<(Scenario, Plan), ImportError> {
    let text = read_text(path)?;
    load_text(path, &text, format, options)
}

/// Like [`load`], for the text of `path` already read (with [`read_text`]).
pub fn load_text(
    path: &Path,
    text: &str,
    format: Option<SourceFormat>,
    options: &ImportOptions,
) -> Result<(Scenario, Plan), ImportError> {
    let origin = path.display().to_string();
    let format = detect(path, text, format)?;
    let (mut scenario, issues) = match format {
        SourceFormat::Toml => Scenario::parse(text, Format::Toml, &origin)?,
        SourceFormat::Json => Scenario::parse(text, Format::Json, &origin)?,
        SourceFormat::Import(format) => parse(text, format, &origin, options)?,
    };
    scenario.source.simulation_file = simulation_file(path, format);
    Ok(Plan::from_scenario(scenario, issues)?)
}

/// Like [`load`], for a command that needs only the plan: the tasks move into the plan,
/// and the scenario comes back without them (its `tasks` and its file's `tasks` are
/// empty). The text, the parsed tasks and the resolved tasks are each dropped as soon as
/// the next form is made, so a large plan is never held more than about twice.
pub fn load_owned(
    path: &Path,
    format: Option<SourceFormat>,
    options: &ImportOptions,
) -> Result<(Scenario, Plan), ImportError> {
    let text = read_text(path)?;
    let origin = path.display().to_string();
    let format = detect(path, &text, format)?;
    let (mut scenario, issues) = match format {
        SourceFormat::Toml => Scenario::parse_owned(text, Format::Toml, &origin)?,
        SourceFormat::Json => Scenario::parse_owned(text, Format::Json, &origin)?,
        SourceFormat::Import(format) => parse(&text, format, &origin, options)?,
    };
    scenario.source.simulation_file = simulation_file(path, format);
    // Only `to_toml` reads the file's tasks (to write an import back); a run does not.
    scenario.file.tasks = Vec::new();
    Ok(Plan::from_scenario_owned(scenario, issues)?)
}

/// The file a native scenario was read from and its format, where its `[simulation]` table
/// is (see [`crate::model::SourceInfo::simulation_file`]); `None` for a workflow imported
/// from another format, which has no such table.
fn simulation_file(
    path: &Path,
    detected: SourceFormat,
) -> Option<(std::path::PathBuf, Format, FileKind)> {
    let format = match detected {
        SourceFormat::Toml => Format::Toml,
        SourceFormat::Json => Format::Json,
        SourceFormat::Import(_) => return None,
    };
    Some((path.to_path_buf(), format, FileKind::Scenario))
}

/// The format given, else the one [`SourceFormat::detect`] finds.
fn detect(
    path: &Path,
    text: &str,
    format: Option<SourceFormat>,
) -> Result<SourceFormat, ImportError> {
    match format {
        Some(format) => Ok(format),
        None => SourceFormat::detect(path, text).ok_or_else(|| ImportError::UnknownFormat {
            path: path.to_path_buf(),
        }),
    }
}

/// The scenario as a TOML scenario file: what `taskdist import` writes. Reading it back
/// gives the same tasks, agents and configuration, so it plans and simulates identically.
pub fn to_toml(scenario: &Scenario) -> String {
    let body = toml::to_string(&scenario.file).expect("a scenario file serializes to TOML");
    let mut text = String::new();
    text.push_str("# A taskdist scenario (see README: Scenario format).\n");
    if scenario.source.origin != "<generated>" {
        text.push_str(&format!("# Imported from {}.\n", scenario.source.origin));
    }
    text.push('\n');
    text.push_str(&body);
    text
}

/// The text of a file to load; a directory or an unreadable file is an [`ImportError::Io`].
pub fn read_text(path: &Path) -> Result<String, ImportError> {
    let io = |source| ImportError::Io {
        path: path.to_path_buf(),
        source,
    };
    if path.is_dir() {
        // Without this, a directory reads as an unknown format or an obscure OS error.
        return Err(io(std::io::Error::new(
            std::io::ErrorKind::IsADirectory,
            "is a directory, not a scenario file",
        )));
    }
    std::fs::read_to_string(path).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_are_detected_by_extension_and_content() {
        let detect = |name: &str, text: &str| SourceFormat::detect(Path::new(name), text);
        assert_eq!(detect("a.toml", ""), Some(SourceFormat::Toml));
        assert_eq!(
            detect("a.JSON", "{\"tasks\": []}"),
            Some(SourceFormat::Json)
        );
        assert_eq!(
            detect("a.json", "{\"workflow\": {}}"),
            Some(ImportFormat::Wfcommons.into())
        );
        assert_eq!(detect("a.stg", ""), Some(ImportFormat::Stg.into()));
        assert_eq!(detect("a.dax", ""), Some(ImportFormat::Dax.into()));
        assert_eq!(detect("a.xml", ""), Some(ImportFormat::Dax.into()));
        assert_eq!(detect("a.yaml", ""), None);
        assert_eq!(detect("noextension", ""), None);
    }

    #[test]
    fn the_written_toml_resolves_to_the_same_scenario() {
        let text = "3\n0 0 0\n1 4 1 0\n2 2 1 0\n3 5 2 1 2\n4 0 1 3\n";
        let options = ImportOptions { agents: 3 };
        let (imported, issues) = parse(text, ImportFormat::Stg, "x.stg", &options).unwrap();
        assert!(issues.is_empty(), "{issues:?}");
        let toml = to_toml(&imported);
        assert!(toml.starts_with("# A taskdist scenario"), "{toml}");
        let (read_back, issues) = Scenario::parse(&toml, Format::Toml, "x.toml").unwrap();
        assert!(issues.is_empty(), "{issues:?}");
        assert_eq!(read_back.tasks, imported.tasks);
        assert_eq!(read_back.agents, imported.agents);
        assert_eq!(read_back.config, imported.config);
        assert_eq!(read_back.file, imported.file);
        assert!(!imported.config.enable_context_sharing);
        assert_eq!(imported.agents.len(), 3);
    }

    /// The files of `dir` with an extension other than `.md` (folders have none).
    fn shipped(dir: &str) -> Vec<std::path::PathBuf> {
        let mut paths: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.extension().is_some_and(|e| e != "md"))
            .collect();
        paths.sort();
        assert!(!paths.is_empty(), "no files in {dir}");
        paths
    }

    #[test]
    fn a_plan_loaded_for_a_run_is_the_same_plan() {
        let options = ImportOptions::default();
        for path in [shipped("scenarios"), shipped("scenarios/imported")].concat() {
            let (kept, plan) = load(&path, None, &options).unwrap();
            let (owned, lean) = load_owned(&path, None, &options).unwrap();
            let name = path.display();
            assert_eq!(lean.tasks, plan.tasks, "{name}");
            assert!(lean.ids().iter().eq(plan.ids().iter()), "{name}");
            assert_eq!(lean.analyse(3), plan.analyse(3), "{name}");
            assert!(
                owned.tasks.is_empty() && owned.file.tasks.is_empty(),
                "{name}"
            );
            assert_eq!(owned.config, kept.config, "{name}");
            assert_eq!(owned.agents, kept.agents, "{name}");
            assert_eq!(owned.source, kept.source, "{name}");
            assert_eq!(owned.file.simulation, kept.file.simulation, "{name}");
        }
    }

    #[test]
    fn a_broken_file_reads_the_same_either_way() {
        let options = ImportOptions::default();
        // The error loading gives, or else the `[simulation]` table's (checked against
        // the plan, and read again from the file for its lines).
        let error = |loaded: Result<(Scenario, Plan), ImportError>| match loaded {
            Err(e) => e.to_string(),
            Ok((scenario, plan)) => crate::sim::SimModels::for_scenario(&scenario, &plan)
                .map(|_| ())
                .expect_err("a broken file is refused")
                .to_string(),
        };
        for path in shipped("scenarios/invalid") {
            let kept = error(load(&path, None, &options));
            let owned = error(load_owned(&path, None, &options));
            assert_eq!(owned, kept, "{}", path.display());
        }
    }
}
