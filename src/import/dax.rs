//! Pegasus DAX: the XML workflows of Pegasus (schemas 2.x and 3.x), as in the classic
//! synthetic Montage, CyberShake, Epigenomics, Inspiral and SIPHT workflows.
//!
//! ```xml
//! <adag xmlns="http://pegasus.isi.edu/schema/DAX" …>
//!   <job id="ID00000" namespace="Montage" name="mProjectPP" runtime="13.59">
//!     <uses file="region.hdr" link="input" …/>        <!-- read lock -->
//!     <uses file="p1.fits" link="output" …/>          <!-- write lock -->
//!   </job>
//!   <child ref="ID00003"> <parent ref="ID00000"/> </child>
//! </adag>
//! ```
//!
//! The `<child>`/`<parent>` edges are the dependencies (in some published workflows files
//! alone would miss edges). A `<uses>` names its file by `file` (2.x), `name` (3.x) or
//! `lfn`; `link="inout"` (and 4.x's `checkpoint`) take a write lock. The runtime is the
//! job's `runtime` attribute in seconds, or else its `<profile key="runtime">`. Namespaces
//! are ignored, so files without the DAX namespace read the same.

use super::ImportError;
use super::build::{Job, Workflow};
use crate::model::{Issue, IssueKind};
use roxmltree::{Document, Node};
use std::collections::BTreeMap;

/// Reads a DAX file.
pub(super) fn parse(text: &str, origin: &str) -> Result<Workflow, ImportError> {
    let doc = Document::parse(text).map_err(|e| {
        let pos = e.pos();
        ImportError::Syntax {
            origin: origin.to_string(),
            line: pos.row as usize,
            column: pos.col as usize,
            message: strip_position(&e.to_string()),
        }
    })?;
    let root = doc.root_element();
    let line_of = |node: Node| doc.text_pos_at(node.range().start).row as usize;
    if root.tag_name().name() != "adag" {
        return Err(ImportError::Malformed {
            origin: origin.to_string(),
            line: Some(line_of(root)),
            message: format!(
                "the root element is <{}>, not the <adag> of a Pegasus DAX",
                root.tag_name().name()
            ),
        });
    }
    let mut jobs: Vec<Job> = Vec::new();
    let mut issues = Vec::new();
    let mut index: BTreeMap<String, usize> = BTreeMap::new();
    let elements = root.children().filter(Node::is_element);
    for node in elements.clone().filter(|n| n.tag_name().name() == "job") {
        let line = Some(line_of(node));
        let Some(id) = node.attribute("id") else {
            return Err(ImportError::Malformed {
                origin: origin.to_string(),
                line,
                message: "a <job> has no `id` attribute".to_string(),
            });
        };
        let runtime_s = match runtime(node) {
            Ok(Some(runtime)) => runtime,
            Ok(None) => {
                issues.push(bad(
                    line,
                    id,
                    "runtime",
                    "is missing (no runtime attribute or profile)",
                ));
                0.0
            }
            Err(text) => {
                issues.push(bad(
                    line,
                    id,
                    "runtime",
                    &format!("`{text}` is not a number of seconds"),
                ));
                0.0
            }
        };
        let mut reads = Vec::new();
        let mut writes = Vec::new();
        for uses in node
            .children()
            .filter(|n| n.is_element() && n.tag_name().name() == "uses")
        {
            let uses_line = Some(line_of(uses));
            let Some(file) = ["file", "name", "lfn"]
                .iter()
                .find_map(|a| uses.attribute(*a))
            else {
                issues.push(bad(
                    uses_line,
                    id,
                    "uses",
                    "has no `file` (or `name`) attribute",
                ));
                continue;
            };
            match uses
                .attribute("link")
                .map(str::to_ascii_lowercase)
                .as_deref()
            {
                Some("input") => reads.push(file.to_string()),
                Some("output" | "inout" | "checkpoint") => writes.push(file.to_string()),
                other => issues.push(bad(
                    uses_line,
                    id,
                    "uses",
                    &format!(
                        "`{file}` has link `{}` (expected input, output or inout)",
                        other.unwrap_or("")
                    ),
                )),
            }
        }
        let mut metadata = BTreeMap::new();
        if let Some(name) = node.attribute("name") {
            let transformation = match node.attribute("namespace") {
                Some(ns) => format!("{ns}::{name}"),
                None => name.to_string(),
            };
            metadata.insert("transformation".to_string(), transformation.into());
        }
        // A repeated id is reported by validation with both lines; edges go to the first.
        index.entry(id.to_string()).or_insert(jobs.len());
        jobs.push(Job {
            id: id.to_string(),
            title: node.attribute("name").map(str::to_string),
            runtime_s,
            parents: Vec::new(),
            reads,
            writes,
            line,
            metadata,
        });
    }
    for child in elements.filter(|n| n.tag_name().name() == "child") {
        let line = Some(line_of(child));
        let Some(reference) = child.attribute("ref") else {
            return Err(ImportError::Malformed {
                origin: origin.to_string(),
                line,
                message: "a <child> has no `ref` attribute".to_string(),
            });
        };
        let Some(&c) = index.get(reference) else {
            issues.push(Issue::new(
                line,
                IssueKind::BadValue {
                    owner: "<child>".to_string(),
                    field: "ref",
                    message: format!("names unknown job `{reference}`"),
                },
            ));
            continue;
        };
        for parent in child
            .children()
            .filter(|n| n.is_element() && n.tag_name().name() == "parent")
        {
            match parent.attribute("ref") {
                // An unknown parent is reported by validation, at the job's line.
                Some(p) => jobs[c].parents.push(p.to_string()),
                None => issues.push(Issue::new(
                    Some(line_of(parent)),
                    IssueKind::BadValue {
                        owner: format!("<child ref=\"{reference}\">"),
                        field: "parent",
                        message: "has no `ref` attribute".to_string(),
                    },
                )),
            }
        }
    }
    Ok(Workflow { jobs, issues })
}

/// The job's runtime in seconds: its `runtime` attribute, else a `<profile>` keyed
/// `runtime`; `Err` holds text that is not a number.
fn runtime(job: Node) -> Result<Option<f64>, String> {
    let text = job.attribute("runtime").map(str::to_string).or_else(|| {
        job.children()
            .filter(|n| n.is_element() && n.tag_name().name() == "profile")
            .find(|n| n.attribute("key") == Some("runtime"))
            .map(|n| n.text().unwrap_or("").to_string())
    });
    match text {
        None => Ok(None),
        Some(text) => text.trim().parse::<f64>().map(Some).map_err(|_| text),
    }
}

fn bad(line: Option<usize>, id: &str, field: &'static str, message: &str) -> Issue {
    Issue::new(
        line,
        IssueKind::BadValue {
            owner: format!("job `{id}`"),
            field,
            message: message.to_string(),
        },
    )
}

/// roxmltree ends its messages with "at 3:7"; the position is reported separately.
fn strip_position(message: &str) -> String {
    match message.rfind(" at ") {
        Some(at)
            if message[at + 4..]
                .chars()
                .all(|c| c.is_ascii_digit() || c == ':') =>
        {
            message[..at].to_string()
        }
        _ => message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<adag xmlns="http://pegasus.isi.edu/schema/DAX" version="2.1" name="test">
  <job id="ID00000" namespace="Demo" name="split" version="1.0" runtime="0.07">
    <uses file="in.dat" link="input" size="10"/>
    <uses file="a.dat" link="output" size="5"/>
  </job>
  <job id="ID00001" name="work" runtime="12">
    <uses name="a.dat" link="input"/>
    <uses lfn="log" link="inout"/>
  </job>
  <job id="ID00002" name="join">
    <profile namespace="pegasus" key="runtime">3.5</profile>
    <uses file="log" link="inout"/>
  </job>
  <child ref="ID00001"><parent ref="ID00000"/></child>
  <child ref="ID00002">
    <parent ref="ID00000"/>
    <parent ref="ID00001"/>
  </child>
</adag>
"#;

    #[test]
    fn reads_jobs_files_and_edges() {
        let workflow = parse(SMALL, "small.dax").unwrap();
        assert!(workflow.issues.is_empty(), "{:?}", workflow.issues);
        let jobs = &workflow.jobs;
        assert_eq!(jobs.len(), 3);
        assert_eq!(jobs[0].runtime_s, 0.07);
        assert_eq!(jobs[0].reads, vec!["in.dat"]);
        assert_eq!(jobs[0].writes, vec!["a.dat"]);
        assert_eq!(jobs[0].metadata["transformation"], "Demo::split");
        assert_eq!(jobs[0].line, Some(3));
        assert_eq!(jobs[1].reads, vec!["a.dat"]);
        assert_eq!(jobs[1].writes, vec!["log"]);
        assert_eq!(jobs[2].runtime_s, 3.5);
        assert_eq!(jobs[2].parents, vec!["ID00000", "ID00001"]);
        assert_eq!(jobs[2].title.as_deref(), Some("join"));
    }

    #[test]
    fn problems_name_the_line() {
        let err = parse("<adag>\n  <job id='a'>\n</adag>", "bad.dax")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("bad.dax:3:"), "{err}");
        assert!(!err.ends_with(char::is_numeric), "{err}");

        let err = parse("<?xml version='1.0'?>\n<workflow/>", "bad.xml")
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "bad.xml:2: the root element is <workflow>, not the <adag> of a Pegasus DAX"
        );

        let text = "<adag>\n<job id='a' runtime='soon'/>\n<job id='b'>\n<uses file='f' link='sideways'/>\n</job>\n<child ref='c'><parent ref='a'/></child>\n</adag>";
        let workflow = parse(text, "x.dax").unwrap();
        let messages: Vec<String> = workflow.issues.iter().map(|i| i.to_string()).collect();
        assert_eq!(
            messages,
            vec![
                "line 2: job `a`: `runtime` `soon` is not a number of seconds",
                "line 3: job `b`: `runtime` is missing (no runtime attribute or profile)",
                "line 4: job `b`: `uses` `f` has link `sideways` (expected input, output or inout)",
                "line 6: <child>: `ref` names unknown job `c`",
            ]
        );
    }
}
