//! WfCommons workflow instances (WfFormat JSON), traces of real runs.
//!
//! WfFormat 1.5 keeps the graph and the run apart; the two are joined by task id:
//!
//! ```text
//! workflow.specification.tasks[]: { id, name, parents[], children[], inputFiles[], outputFiles[] }
//! workflow.execution.tasks[]:     { id, runtimeInSeconds, command{program}, coreCount, … }
//! ```
//!
//! The older inline flavour (schema 1.4 and before) has one list, `workflow.tasks` (or
//! `workflow.jobs`), each task with its `runtimeInSeconds` (or `runtime`), `parents`,
//! `children` and `files[{link: input|output, name}]`.
//!
//! Edges are the union of `parents` and the reverse of `children` (the two agree in every
//! published instance). Files read become read locks and files written write locks. The
//! observed runtime becomes the estimate; core counts are kept as metadata but not
//! modelled (each task occupies one agent).

use super::ImportError;
use super::build::{Job, Workflow};
use crate::model::field_path::json_error_path;
use crate::model::line_column;
use crate::model::{Issue, IssueKind};
use serde::Deserialize;
use std::collections::BTreeMap;

/// Whether a JSON text is a WfCommons instance rather than a scenario: an object with a
/// `workflow` member. Unparsable text is not, so the scenario parser reports its error.
pub(super) fn looks_like_wfcommons(text: &str) -> bool {
    // The probe below reads the whole text, a second parse of a large scenario. A key
    // spelt `workflow` is in the text as such, or written with a `\u` escape. Both
    // searches read all of a scenario's text (neither is usually there), on the main
    // thread before anything else can start: `memmem`'s vector search took 40 % fewer
    // instructions than `str::contains` on a generated 100k-task file.
    let has = |needle: &str| memchr::memmem::find(text.as_bytes(), needle.as_bytes()).is_some();
    if !has("workflow") && !has("\\u") {
        return false;
    }
    #[derive(Deserialize)]
    struct Probe {
        workflow: Option<serde::de::IgnoredAny>,
    }
    serde_json::from_str::<Probe>(text).is_ok_and(|p| p.workflow.is_some())
}

#[derive(Deserialize)]
struct Instance {
    workflow: WorkflowSection,
}

#[derive(Deserialize)]
struct WorkflowSection {
    specification: Option<Specification>,
    execution: Option<Execution>,
    tasks: Option<Vec<InlineTask>>,
    jobs: Option<Vec<InlineTask>>,
}

#[derive(Deserialize)]
struct Specification {
    tasks: Vec<SpecTask>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SpecTask {
    id: Option<String>,
    name: Option<String>,
    #[serde(default)]
    parents: Vec<String>,
    #[serde(default)]
    children: Vec<String>,
    #[serde(default)]
    input_files: Vec<String>,
    #[serde(default)]
    output_files: Vec<String>,
}

#[derive(Deserialize)]
struct Execution {
    #[serde(default)]
    tasks: Vec<ExecTask>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ExecTask {
    id: String,
    runtime_in_seconds: Option<f64>,
    command: Option<Command>,
    core_count: Option<f64>,
}

#[derive(Deserialize)]
struct Command {
    program: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct InlineTask {
    id: Option<String>,
    name: Option<String>,
    runtime_in_seconds: Option<f64>,
    runtime: Option<f64>,
    #[serde(default)]
    parents: Vec<String>,
    #[serde(default)]
    children: Vec<String>,
    #[serde(default)]
    files: Vec<InlineFile>,
    category: Option<String>,
    cores: Option<f64>,
}

#[derive(Deserialize)]
struct InlineFile {
    link: String,
    name: Option<String>,
    id: Option<String>,
}

/// A task before edges are completed from `children`.
struct Found {
    job: Job,
    children: Vec<String>,
}

/// Reads a WfCommons instance.
pub(super) fn parse(text: &str, origin: &str) -> Result<Workflow, ImportError> {
    let instance: Instance = serde_json::from_str(text).map_err(|e| {
        // serde_json's columns count bytes; report characters, as editors do.
        let line = e.line().max(1);
        let offset: usize = text
            .split_inclusive('\n')
            .take(line - 1)
            .map(str::len)
            .sum::<usize>()
            + e.column().saturating_sub(1);
        let (line, column) = line_column(text, offset);
        let message = e.to_string();
        let message = match message.rfind(" at line ") {
            Some(at) => message[..at].to_string(),
            None => message,
        };
        // Read again with path tracking, only now that reading has failed: name the field.
        let message = match json_error_path::<Instance>(text) {
            Some(path) => format!("{path}: {message}"),
            None => message,
        };
        ImportError::Syntax {
            origin: origin.to_string(),
            line,
            column,
            message,
        }
    })?;
    let mut lines = LineFinder::new(text);
    let mut issues = Vec::new();
    let section = instance.workflow;
    let found: Vec<Found> = if let Some(spec) = section.specification {
        let runs: BTreeMap<String, ExecTask> = section
            .execution
            .map(|e| e.tasks)
            .unwrap_or_default()
            .into_iter()
            .map(|t| (t.id.clone(), t))
            .collect();
        let mut found = Vec::with_capacity(spec.tasks.len());
        for task in spec.tasks {
            let Some(id) = task.id.clone().or_else(|| task.name.clone()) else {
                return Err(malformed(
                    origin,
                    None,
                    "a task of workflow.specification.tasks has neither `id` nor `name`",
                ));
            };
            let line = lines.find(&id);
            let run = runs.get(&id);
            let runtime_s = match run.and_then(|r| r.runtime_in_seconds) {
                Some(runtime) => runtime,
                None => {
                    issues.push(bad(
                        line,
                        &id,
                        "runtimeInSeconds",
                        "is missing: the task has no record in workflow.execution.tasks",
                    ));
                    0.0
                }
            };
            let mut metadata = BTreeMap::new();
            if let Some(program) = run.and_then(|r| r.command.as_ref()?.program.clone()) {
                metadata.insert("program".to_string(), program.into());
            }
            if let Some(cores) = run.and_then(|r| r.core_count) {
                metadata.insert("cores".to_string(), cores.into());
            }
            found.push(Found {
                job: Job {
                    title: task.name.clone(),
                    id,
                    runtime_s,
                    parents: task.parents,
                    reads: task.input_files,
                    writes: task.output_files,
                    line,
                    metadata,
                },
                children: task.children,
            });
        }
        found
    } else if let Some(tasks) = section.tasks.or(section.jobs) {
        let mut found = Vec::with_capacity(tasks.len());
        for task in tasks {
            let Some(id) = task.id.clone().or_else(|| task.name.clone()) else {
                return Err(malformed(
                    origin,
                    None,
                    "a task of workflow.tasks has neither `id` nor `name`",
                ));
            };
            let line = lines.find(&id);
            let runtime_s = match task.runtime_in_seconds.or(task.runtime) {
                Some(runtime) => runtime,
                None => {
                    issues.push(bad(
                        line,
                        &id,
                        "runtimeInSeconds",
                        "is missing (neither runtimeInSeconds nor runtime)",
                    ));
                    0.0
                }
            };
            let mut reads = Vec::new();
            let mut writes = Vec::new();
            for file in task.files {
                let Some(name) = file.name.or(file.id) else {
                    issues.push(bad(line, &id, "files", "has an entry without `name`"));
                    continue;
                };
                match file.link.as_str() {
                    "input" => reads.push(name),
                    "output" => writes.push(name),
                    other => issues.push(bad(
                        line,
                        &id,
                        "files",
                        &format!("`{name}` has link `{other}` (expected input or output)"),
                    )),
                }
            }
            let mut metadata = BTreeMap::new();
            if let Some(category) = task.category {
                metadata.insert("category".to_string(), category.into());
            }
            if let Some(cores) = task.cores {
                metadata.insert("cores".to_string(), cores.into());
            }
            found.push(Found {
                job: Job {
                    title: task.name.clone(),
                    id,
                    runtime_s,
                    parents: task.parents,
                    reads,
                    writes,
                    line,
                    metadata,
                },
                children: task.children,
            });
        }
        found
    } else {
        return Err(malformed(
            origin,
            None,
            "no tasks: expected workflow.specification.tasks (WfFormat 1.5) or workflow.tasks",
        ));
    };
    Ok(join_children(found, issues))
}

/// Adds the edges that only `children` lists give.
fn join_children(found: Vec<Found>, mut issues: Vec<Issue>) -> Workflow {
    let index: BTreeMap<String, usize> = found
        .iter()
        .enumerate()
        .map(|(i, f)| (f.job.id.clone(), i))
        .collect();
    let mut extra: Vec<Vec<String>> = vec![Vec::new(); found.len()];
    for f in &found {
        for child in &f.children {
            match index.get(child) {
                Some(&c) => extra[c].push(f.job.id.clone()),
                None => issues.push(bad(
                    f.job.line,
                    &f.job.id,
                    "children",
                    &format!("names unknown task `{child}`"),
                )),
            }
        }
    }
    let jobs = found
        .into_iter()
        .zip(extra)
        .map(|(f, more)| {
            let mut job = f.job;
            // Duplicates are dropped when the scenario is built.
            job.parents.extend(more);
            job
        })
        .collect();
    Workflow { jobs, issues }
}

fn bad(line: Option<usize>, id: &str, field: &'static str, message: &str) -> Issue {
    Issue::new(
        line,
        IssueKind::BadValue {
            owner: format!("task `{id}`"),
            field,
            message: message.to_string(),
        },
    )
}

fn malformed(origin: &str, line: Option<usize>, message: &str) -> ImportError {
    ImportError::Malformed {
        origin: origin.to_string(),
        line,
        message: message.to_string(),
    }
}

/// Finds the line where each task is defined: the next line, after the previous task's,
/// that holds `"id"` or `"name"` and the task's id as a JSON string. Tasks are looked up in
/// file order, so a search never starts over.
struct LineFinder<'a> {
    lines: Vec<&'a str>,
    next: usize,
}

impl<'a> LineFinder<'a> {
    fn new(text: &'a str) -> Self {
        LineFinder {
            lines: text.lines().collect(),
            next: 0,
        }
    }

    fn find(&mut self, id: &str) -> Option<usize> {
        let quoted = serde_json::to_string(id).ok()?;
        let found = (self.next..self.lines.len()).find(|&i| {
            let line = self.lines[i];
            (line.contains("\"id\"") || line.contains("\"name\"")) && line.contains(&quoted)
        })?;
        self.next = found + 1;
        Some(found + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const V15: &str = r#"{
  "name": "tiny",
  "schemaVersion": "1.5",
  "workflow": {
    "specification": {
      "tasks": [
        {
          "name": "split",
          "id": "split_1",
          "parents": [],
          "children": ["work_1", "work_2"],
          "inputFiles": ["in.txt"],
          "outputFiles": ["a.txt", "b.txt"]
        },
        {
          "name": "work", "id": "work_1", "parents": ["split_1"], "children": ["join_1"],
          "inputFiles": ["a.txt"], "outputFiles": ["a.out"]
        },
        {
          "name": "work", "id": "work_2", "parents": [], "children": ["join_1"],
          "inputFiles": ["b.txt"], "outputFiles": ["b.out"]
        },
        {
          "name": "join", "id": "join_1", "parents": ["work_1", "work_2"], "children": [],
          "inputFiles": ["a.out", "b.out"], "outputFiles": ["result.txt"]
        }
      ],
      "files": [{"id": "in.txt", "sizeInBytes": 10}]
    },
    "execution": {
      "makespanInSeconds": 30,
      "tasks": [
        {"id": "split_1", "runtimeInSeconds": 1.5, "command": {"program": "split"}},
        {"id": "work_1", "runtimeInSeconds": 10.25, "coreCount": 1},
        {"id": "work_2", "runtimeInSeconds": 12},
        {"id": "join_1", "runtimeInSeconds": 2.001}
      ]
    }
  }
}"#;

    #[test]
    fn reads_wfformat_1_5() {
        assert!(looks_like_wfcommons(V15));
        let workflow = parse(V15, "tiny.json").unwrap();
        assert!(workflow.issues.is_empty(), "{:?}", workflow.issues);
        let ids: Vec<&str> = workflow.jobs.iter().map(|j| j.id.as_str()).collect();
        assert_eq!(ids, vec!["split_1", "work_1", "work_2", "join_1"]);
        let split = &workflow.jobs[0];
        assert_eq!(split.title.as_deref(), Some("split"));
        assert_eq!(split.runtime_s, 1.5);
        assert_eq!(split.reads, vec!["in.txt"]);
        assert_eq!(split.writes, vec!["a.txt", "b.txt"]);
        assert_eq!(split.metadata["program"], "split");
        assert_eq!(split.line, Some(9));
        // work_2 lists no parents, but split_1 names it as a child.
        assert_eq!(workflow.jobs[2].parents, vec!["split_1"]);
        assert_eq!(workflow.jobs[2].line, Some(20));
        assert_eq!(workflow.jobs[3].runtime_s, 2.001);
    }

    #[test]
    fn reads_the_inline_flavour() {
        let text = r#"{"workflow": {"tasks": [
            {"name": "a", "runtimeInSeconds": 3, "files": [{"link": "output", "name": "f"}]},
            {"name": "b", "runtime": 4.5, "parents": ["a"], "category": "post",
             "files": [{"link": "input", "name": "f"}, {"link": "sideways", "name": "g"}]}
        ]}}"#;
        assert!(looks_like_wfcommons(text));
        let workflow = parse(text, "old.json").unwrap();
        assert_eq!(workflow.jobs[0].writes, vec!["f"]);
        assert_eq!(workflow.jobs[1].reads, vec!["f"]);
        assert_eq!(workflow.jobs[1].runtime_s, 4.5);
        assert_eq!(workflow.jobs[1].metadata["category"], "post");
        assert_eq!(workflow.issues.len(), 1);
        assert_eq!(
            workflow.issues[0].to_string(),
            "line 3: task `b`: `files` `g` has link `sideways` (expected input or output)"
        );
    }

    #[test]
    fn scenarios_are_not_wfcommons() {
        assert!(!looks_like_wfcommons(r#"{"tasks": [], "agents": []}"#));
        assert!(!looks_like_wfcommons("{not json"));
        assert!(!looks_like_wfcommons("[1, 2]"));
        // The quick check for the word must not miss a key spelt with an escape.
        assert!(looks_like_wfcommons(r#"{"\u0077orkflow": {}}"#));
        assert!(!looks_like_wfcommons(r#"{"tasks": [{"id": "\u0077"}]}"#));
    }

    #[test]
    fn problems_name_the_line() {
        let err = parse(
            "{\"workflow\": {\"tasks\": [\n  {\"name\": 3}]}}",
            "bad.json",
        )
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("bad.json:2:"), "{err}");
        assert!(err.contains("invalid type"), "{err}");

        let err = parse("{\"workflow\": {}}", "empty.json")
            .unwrap_err()
            .to_string();
        assert!(err.contains("no tasks"), "{err}");

        let text = "{\"workflow\": {\"specification\": {\"tasks\": [\n\
                    {\"id\": \"a\", \"children\": [\"ghost\"]}]}}}";
        let workflow = parse(text, "x.json").unwrap();
        let messages: Vec<String> = workflow.issues.iter().map(|i| i.to_string()).collect();
        assert_eq!(
            messages,
            vec![
                "line 2: task `a`: `runtimeInSeconds` is missing: the task has no record in workflow.execution.tasks",
                "line 2: task `a`: `children` names unknown task `ghost`",
            ]
        );
    }

    /// A task must be named somehow: both flavours refuse one with neither `id` nor `name`
    /// and say which list it is in (fuzzing reached the inline flavour's case only in its
    /// seventh round).
    #[test]
    fn a_task_without_id_or_name_is_refused() {
        for (text, list) in [
            (
                r#"{"workflow": {"tasks": [{"runtime": 1}]}}"#,
                "workflow.tasks",
            ),
            (
                r#"{"workflow": {"specification": {"tasks": [{"parents": []}]}}}"#,
                "workflow.specification.tasks",
            ),
        ] {
            let err = parse(text, "anon.json").unwrap_err().to_string();
            assert!(err.starts_with("anon.json"), "{err}");
            assert!(
                err.contains(&format!("a task of {list} has neither `id` nor `name`")),
                "{err}"
            );
        }
    }
}
