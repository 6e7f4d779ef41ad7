//! Graphviz export of a plan: one node per task (coloured by type, critical path in bold),
//! solid edges for `depends_on`, dashed for `blocked_by`.

use super::{EdgeKind, Plan};
use petgraph::dot::{Config as DotConfig, Dot};
use petgraph::graph::{DiGraph, NodeIndex};

/// Fill colours by task type, in [`crate::model::TaskType::ALL`] order.
const TYPE_COLOURS: [&str; 7] = [
    "#8dd3c7", "#fb8072", "#bebada", "#80b1d3", "#fdb462", "#b3de69", "#fccde5",
];

impl Plan {
    /// The plan as a Graphviz `digraph`.
    pub fn to_dot(&self) -> String {
        let mut graph = DiGraph::<usize, EdgeKind>::with_capacity(self.len(), self.succ.len());
        for t in self.task_indices() {
            graph.add_node(t.ix());
        }
        for t in self.task_indices() {
            for edge in self.succs(t) {
                graph.add_edge(
                    NodeIndex::new(t.ix()),
                    NodeIndex::new(edge.to.ix()),
                    edge.kind,
                );
            }
        }
        let mut critical = vec![false; self.len()];
        for t in self.critical_path() {
            critical[t.ix()] = true;
        }
        let edge_attr = |_: &DiGraph<usize, EdgeKind>,
                         e: petgraph::graph::EdgeReference<'_, EdgeKind>| {
            match e.weight() {
                EdgeKind::Needs => String::new(),
                EdgeKind::After => "style=dashed".to_string(),
            }
        };
        let node_attr = |_: &DiGraph<usize, EdgeKind>, (_, &t): (NodeIndex, &usize)| {
            let task = &self.tasks[t];
            format!(
                "label={} shape=box style=\"filled{}\" fillcolor=\"{}\"{}",
                quote(&format!(
                    "{}\n{} · {}",
                    task.id,
                    task.task_type,
                    crate::model::Human(task.estimated_duration_ms)
                )),
                if critical[t] { ",bold" } else { "" },
                TYPE_COLOURS[task.task_type.index()],
                if critical[t] { " penwidth=3" } else { "" }
            )
        };
        let dot = Dot::with_attr_getters(
            &graph,
            &[DotConfig::EdgeNoLabel, DotConfig::NodeNoLabel],
            &edge_attr,
            &node_attr,
        );
        format!("{dot:?}")
    }
}

/// A DOT string literal.
fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
