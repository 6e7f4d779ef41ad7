//! A validated plan and its analysis: dense task indices, the dependency graph in compact
//! arrays, interned lock sets, layers, bottom levels, the critical path and lower bounds.
//!
//! [`Plan::build`] is the gate every driver passes: it reports every problem of a scenario
//! at once (cycles as paths, unknown or duplicate ids, tasks no agent can run), and what it
//! returns is ready for the core, which then never looks anything up by string.

mod analysis;
mod bounds;
mod dot;
mod ids;
mod paths;
mod text;

pub use analysis::{Analysis, FileLoad, LayerInfo, LowerBound};
pub use bounds::Bounds;
pub use paths::normalize_path;
pub use text::{Text, TextTable};

use crate::model::{
    AgentSpec, Issue, IssueKind, Priority, Scenario, ScenarioError, TaskSpec, TaskType, Time,
};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

/// A task's dense index in the plan: its position in the scenario file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TaskIdx(pub u32);

impl TaskIdx {
    /// As a `usize`, for indexing.
    pub fn ix(self) -> usize {
        self.0 as usize
    }
}

/// A file's dense index among the plan's normalized paths.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct FileIdx(pub u32);

impl FileIdx {
    /// As a `usize`, for indexing.
    pub fn ix(self) -> usize {
        self.0 as usize
    }
}

/// Shared (read) or exclusive (write) access to a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LockMode {
    /// `files_to_read`: any number of readers at once, no writer.
    Read,
    /// `files_to_modify`: one writer, no reader.
    Write,
}

/// One lock a task needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct LockReq {
    /// The file.
    pub file: FileIdx,
    /// How.
    pub mode: LockMode,
}

/// How a dependent relates to the task it follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EdgeKind {
    /// `depends_on`: the dependent needs this task to succeed, and is skipped if it fails.
    Needs,
    /// `blocked_by`: the dependent waits for this task to end, however it ends.
    After,
}

/// An edge to a dependent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Edge {
    /// The dependent task.
    pub to: TaskIdx,
    /// Whether it needs success or only an end.
    pub kind: EdgeKind,
}

/// What the scheduling core reads of a task at every step, in one 32-byte record per
/// task: its type, priority, timeout and estimate copied out of the [`TaskSpec`], with its
/// layer and bottom level. A spec is 240 bytes over four cache lines, and these fields sat
/// on three of them; at a million tasks nothing stays in cache from one touch of a task
/// to the next, so each was a miss. Two records share a line, and tasks dispatched close
/// together sit close together in the plan.
#[derive(Debug, Clone, Copy)]
struct Hot {
    bottom_level_ms: Time,
    estimate_ms: Time,
    /// The task's own timeout, when `has_timeout`.
    timeout_ms: Time,
    layer: u32,
    task_type: TaskType,
    priority: Priority,
    has_timeout: bool,
}

// Two records to a cache line: the point of the record.
const _: () = assert!(std::mem::size_of::<Hot>() == 32);

/// A validated plan, ready for the scheduling core.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The tasks, indexed by [`TaskIdx`].
    pub tasks: Vec<TaskSpec>,
    /// The agents the scenario declares (drivers register them with the core).
    pub agents: Vec<AgentSpec>,
    /// Normalized file paths, indexed by [`FileIdx`].
    pub files: Vec<Arc<str>>,
    /// Lookups only, never iterated: hashing order is never seen.
    file_lookup: HashMap<String, FileIdx, BuildFnv>,
    /// Which task has each id.
    index: ids::IdIndex,
    succ_start: Vec<u32>,
    succ: Vec<Edge>,
    pred_start: Vec<u32>,
    pred: Vec<TaskIdx>,
    lock_start: Vec<u32>,
    locks: Vec<LockReq>,
    /// Per task, what the core reads at every step (filled once the graph is acyclic).
    hot: Vec<Hot>,
    layer_sizes: Vec<u32>,
    by_bottom_level: Vec<TaskIdx>,
    topo: Vec<TaskIdx>,
    /// The task ids in index order, in one table shared by every run of the plan and by
    /// the events that name its tasks.
    ids: TextTable,
    /// The task titles, likewise (for `task_start` events).
    titles: TextTable,
}

impl Plan {
    /// Reads, resolves and validates a scenario file, reporting every problem at once.
    pub fn load(path: &Path) -> Result<(Scenario, Plan), ScenarioError> {
        let (scenario, issues) = Scenario::read(path)?;
        Plan::from_scenario(scenario, issues)
    }

    /// Validates a resolved scenario (plus the issues resolution already found).
    pub fn from_scenario(
        scenario: Scenario,
        issues: Vec<Issue>,
    ) -> Result<(Scenario, Plan), ScenarioError> {
        Plan::checked(scenario, issues, |scenario| {
            let plan = Plan::build(&scenario)?;
            Ok((scenario, plan))
        })
    }

    /// [`Plan::from_scenario`] with the tasks moved into the plan (see
    /// [`Plan::build_owned`]): the scenario comes back with `tasks` empty. For drivers that
    /// need only the plan of a large scenario.
    pub fn from_scenario_owned(
        scenario: Scenario,
        issues: Vec<Issue>,
    ) -> Result<(Scenario, Plan), ScenarioError> {
        Plan::checked(scenario, issues, Plan::build_owned)
    }

    /// Builds the plan with `build`; any issue, of resolution or of the graph, makes the
    /// whole an error listing them all.
    fn checked(
        scenario: Scenario,
        mut issues: Vec<Issue>,
        build: impl FnOnce(Scenario) -> Result<(Scenario, Plan), Vec<Issue>>,
    ) -> Result<(Scenario, Plan), ScenarioError> {
        let origin = scenario.source.origin.clone();
        match build(scenario) {
            Ok(built) if issues.is_empty() => Ok(built),
            Ok(_) => Err(invalid(origin, issues)),
            Err(more) => {
                issues.extend(more);
                Err(invalid(origin, issues))
            }
        }
    }

    /// Validates the graph of a scenario and builds the plan; every problem is returned.
    /// The plan gets its own copy of the tasks.
    pub fn build(scenario: &Scenario) -> Result<Plan, Vec<Issue>> {
        Plan::build_from(
            Cow::Borrowed(&scenario.tasks),
            &scenario.agents,
            &scenario.source,
        )
    }

    /// [`Plan::build`] without copying the tasks: they move into the plan, and the
    /// scenario comes back with everything else (its `tasks` empty). For very large plans,
    /// where a second copy of the tasks would double the memory and the build time.
    pub fn build_owned(mut scenario: Scenario) -> Result<(Scenario, Plan), Vec<Issue>> {
        let tasks = std::mem::take(&mut scenario.tasks);
        let plan = Plan::build_from(Cow::Owned(tasks), &scenario.agents, &scenario.source)?;
        Ok((scenario, plan))
    }

    fn build_from(
        tasks: Cow<'_, [TaskSpec]>,
        agents: &[AgentSpec],
        source: &crate::model::SourceInfo,
    ) -> Result<Plan, Vec<Issue>> {
        let line = |i: usize| source.task_line(i);
        let mut issues = Vec::new();
        if tasks.len() >= u32::MAX as usize {
            panic!("more than 2^32 tasks");
        }
        if tasks.is_empty() {
            issues.push(Issue::new(None, IssueKind::NoTasks));
        }
        if agents.is_empty() {
            issues.push(Issue::new(None, IssueKind::NoAgents));
        }

        // The index is built on every core, and so are the locks and the text tables,
        // which do not need it.
        let parallel = tasks.len() >= PARALLEL_MIN;
        let ((index, duplicates), (lock_table, (ids, titles))) = join(
            parallel,
            || index_of(&tasks, &line, parallel),
            || {
                join(
                    parallel,
                    || lock_table(&tasks),
                    || {
                        (
                            TextTable::new(tasks.iter().map(|t| &*t.id)),
                            TextTable::new(tasks.iter().map(|t| &*t.title)),
                        )
                    },
                )
            },
        );
        issues.extend(duplicates);
        // Edges, deduplicated: a task named in both lists is a `Needs` edge. Flat: the
        // dependencies of task i are `preds[pred_start[i]..pred_start[i + 1]]`. The
        // lookups (three per task, each a cache miss in a big index) run on every core, by
        // blocks of tasks put back in order, so edges and issues come out as one pass would
        // make them.
        let mut preds: Vec<(TaskIdx, EdgeKind)> = Vec::with_capacity(tasks.len() * 3);
        let mut pred_start: Vec<u32> = Vec::with_capacity(tasks.len() + 1);
        let blocks: Vec<Edges> = tasks
            .par_chunks(EDGE_BLOCK)
            .enumerate()
            .map(|(b, block)| edges_of(block, b * EDGE_BLOCK, &index, &ids, &line))
            .collect();
        for block in blocks {
            let base = preds.len() as u32;
            pred_start.extend(block.starts.iter().map(|&s| base + s));
            preds.extend_from_slice(&block.preds);
            issues.extend(block.issues);
        }
        pred_start.push(preds.len() as u32);

        if !agents.is_empty() {
            let runnable: [bool; 7] = TaskType::ALL.map(|t| agents.iter().any(|a| a.can_run(t)));
            for (i, task) in tasks.iter().enumerate() {
                if !runnable[task.task_type.index()] {
                    issues.push(Issue::new(
                        line(i),
                        IssueKind::NoCapableAgent {
                            task: task.id.to_string(),
                            task_type: task.task_type.to_string(),
                        },
                    ));
                }
            }
        }

        let mut plan = Plan::assemble(
            tasks.into_owned(),
            agents.to_vec(),
            index,
            (pred_start, &preds),
            lock_table,
            (ids, titles),
        );
        if plan.topo.len() < plan.tasks.len() {
            for path in plan.cycles() {
                let first = path[0];
                issues.push(Issue::new(
                    line(first.ix()),
                    IssueKind::Cycle {
                        path: path.iter().map(|&t| plan.task(t).id.to_string()).collect(),
                    },
                ));
            }
        }
        if issues.is_empty() {
            plan.analyse_levels();
            Ok(plan)
        } else {
            Err(issues)
        }
    }

    /// Builds the compact arrays and a topological order (Kahn); layers and bottom levels
    /// come later, once the graph is known to be acyclic. `edges` are each task's
    /// dependencies, flat (see [`Plan::build_from`]); `texts` the id and title tables.
    fn assemble(
        tasks: Vec<TaskSpec>,
        agents: Vec<AgentSpec>,
        index: ids::IdIndex,
        (pred_start, preds): (Vec<u32>, &[(TaskIdx, EdgeKind)]),
        lock_table: LockTable,
        (ids, titles): (TextTable, TextTable),
    ) -> Plan {
        let n = tasks.len();
        let mut out_degree = vec![0u32; n];
        for (d, _) in preds {
            out_degree[d.ix()] += 1;
        }
        let succ_start = prefix_sums(out_degree.iter().copied());
        let mut fill: Vec<u32> = succ_start[..n].to_vec();
        let mut succ = vec![
            Edge {
                to: TaskIdx(0),
                kind: EdgeKind::Needs
            };
            *succ_start.last().unwrap_or(&0) as usize
        ];
        // Visiting dependents in index order keeps each successor list in plan order.
        for i in 0..n {
            let list = &preds[pred_start[i] as usize..pred_start[i + 1] as usize];
            for &(d, kind) in list {
                succ[fill[d.ix()] as usize] = Edge {
                    to: TaskIdx(i as u32),
                    kind,
                };
                fill[d.ix()] += 1;
            }
        }
        let pred = preds.iter().map(|(d, _)| *d).collect();

        let mut plan = Plan {
            tasks,
            agents,
            files: lock_table.files,
            file_lookup: lock_table.lookup,
            index,
            succ_start,
            succ,
            pred_start,
            pred,
            lock_start: lock_table.lock_start,
            locks: lock_table.locks,
            hot: Vec::new(),
            layer_sizes: Vec::new(),
            by_bottom_level: Vec::new(),
            topo: Vec::new(),
            ids,
            titles,
        };
        plan.topo = plan.kahn();
        plan
    }

    /// Kahn's algorithm; a short order means a cycle.
    fn kahn(&self) -> Vec<TaskIdx> {
        let n = self.tasks.len();
        let mut remaining: Vec<u32> = (0..n)
            .map(|i| self.preds(TaskIdx(i as u32)).len() as u32)
            .collect();
        let mut order: Vec<TaskIdx> = (0..n as u32)
            .map(TaskIdx)
            .filter(|t| remaining[t.ix()] == 0)
            .collect();
        let mut head = 0;
        while head < order.len() {
            let t = order[head];
            head += 1;
            for edge in self.succs(t) {
                remaining[edge.to.ix()] -= 1;
                if remaining[edge.to.ix()] == 0 {
                    order.push(edge.to);
                }
            }
        }
        order
    }

    /// One cycle per strongly connected component that has one, each as a path that
    /// starts and ends at the component's first task in plan order.
    fn cycles(&self) -> Vec<Vec<TaskIdx>> {
        use petgraph::graph::{DiGraph, NodeIndex};
        let n = self.tasks.len();
        let mut graph = DiGraph::<(), ()>::with_capacity(n, self.succ.len());
        for _ in 0..n {
            graph.add_node(());
        }
        for i in 0..n {
            for edge in self.succs(TaskIdx(i as u32)) {
                graph.add_edge(NodeIndex::new(i), NodeIndex::new(edge.to.ix()), ());
            }
        }
        let mut cycles = Vec::new();
        for component in petgraph::algo::tarjan_scc(&graph) {
            let mut members: Vec<usize> = component.iter().map(|n| n.index()).collect();
            members.sort_unstable();
            if members.len() < 2 {
                continue; // self-loops are reported as SelfDependency
            }
            let inside = |t: usize| members.binary_search(&t).is_ok();
            // Breadth-first search from the first member back to itself, along "waits for"
            // edges, gives the shortest cycle through it, the easiest one to read.
            let start = members[0];
            let mut parent: BTreeMap<usize, usize> = BTreeMap::new();
            let mut queue = std::collections::VecDeque::from([start]);
            let mut closing = None;
            'search: while let Some(t) = queue.pop_front() {
                for dep in self.preds(TaskIdx(t as u32)) {
                    let next = dep.ix();
                    if next == start {
                        closing = Some(t);
                        break 'search;
                    }
                    if inside(next) && !parent.contains_key(&next) {
                        parent.insert(next, t);
                        queue.push_back(next);
                    }
                }
            }
            let mut middle = Vec::new();
            let mut at = closing.expect("a strongly connected component has a cycle");
            while at != start {
                middle.push(at);
                at = parent[&at];
            }
            middle.reverse();
            let mut path = vec![start];
            path.extend(middle);
            path.push(start);
            cycles.push(path.into_iter().map(|t| TaskIdx(t as u32)).collect());
        }
        cycles.sort();
        cycles
    }

    /// Layers (longest path from a source, in edges) and bottom levels (longest path to a
    /// sink, by estimated duration, including the task itself).
    fn analyse_levels(&mut self) {
        // The two are independent walks of the graph: one on each core.
        let parallel = self.tasks.len() >= PARALLEL_MIN;
        let (layer, bottom) = join(parallel, || self.layers(), || self.bottom_levels());
        let depth = layer.iter().max().map_or(0, |&l| l as usize + 1);
        let mut layer_sizes = vec![0u32; depth];
        for &l in &layer {
            layer_sizes[l as usize] += 1;
        }
        let (by_bottom_level, hot) = join(
            parallel,
            || radix_sort_desc(&bottom),
            || {
                self.tasks
                    .iter()
                    .zip(layer.iter().zip(&bottom))
                    .map(|(task, (&layer, &bottom_level_ms))| Hot {
                        bottom_level_ms,
                        estimate_ms: task.estimated_duration_ms,
                        timeout_ms: task.timeout_ms.unwrap_or(0),
                        layer,
                        task_type: task.task_type,
                        priority: task.priority,
                        has_timeout: task.timeout_ms.is_some(),
                    })
                    .collect()
            },
        );
        self.by_bottom_level = by_bottom_level;
        self.hot = hot;
        self.layer_sizes = layer_sizes;
    }

    /// Each task's layer: the longest path from a source to it, in edges.
    fn layers(&self) -> Vec<u32> {
        let mut layer = vec![0u32; self.tasks.len()];
        for &t in &self.topo {
            for edge in self.succs(t) {
                layer[edge.to.ix()] = layer[edge.to.ix()].max(layer[t.ix()] + 1);
            }
        }
        layer
    }

    /// Each task's bottom level: the longest path from it to a sink, by estimated
    /// duration, itself included.
    fn bottom_levels(&self) -> Vec<Time> {
        let mut bottom = vec![0 as Time; self.tasks.len()];
        for &t in self.topo.iter().rev() {
            let below = self
                .succs(t)
                .iter()
                .map(|e| bottom[e.to.ix()])
                .max()
                .unwrap_or(0);
            bottom[t.ix()] = self.tasks[t.ix()].estimated_duration_ms + below;
        }
        bottom
    }

    /// Number of tasks.
    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    /// Whether the plan has no tasks (a validated plan never is).
    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    /// The task ids in index order, one shared table for every run of the plan.
    pub fn ids(&self) -> &TextTable {
        &self.ids
    }

    /// The id of `t`, as events carry it (no copy: a handle into [`Plan::ids`]).
    pub fn id(&self, t: TaskIdx) -> Text {
        self.ids.text(t.ix())
    }

    /// The title of `t`, as events carry it (no copy: a handle into a shared table).
    pub fn title(&self, t: TaskIdx) -> Text {
        self.titles.text(t.ix())
    }

    /// The task with this id.
    pub fn task_index(&self, id: &str) -> Option<TaskIdx> {
        self.index.get(id, |j| self.ids.get(j))
    }

    /// The file with this path (normalized first), if any task locks it.
    pub fn file_index(&self, path: &str) -> Option<FileIdx> {
        self.file_lookup.get(&normalize_path(path)).copied()
    }

    /// The task's specification.
    pub fn task(&self, t: TaskIdx) -> &TaskSpec {
        &self.tasks[t.ix()]
    }

    /// Tasks that wait for `t`, in plan order.
    pub fn succs(&self, t: TaskIdx) -> &[Edge] {
        &self.succ[self.succ_start[t.ix()] as usize..self.succ_start[t.ix() + 1] as usize]
    }

    /// Tasks `t` waits for (both kinds), in plan order.
    pub fn preds(&self, t: TaskIdx) -> &[TaskIdx] {
        &self.pred[self.pred_start[t.ix()] as usize..self.pred_start[t.ix() + 1] as usize]
    }

    /// The locks `t` takes, sorted by file, one per file (write wins over read).
    pub fn locks(&self, t: TaskIdx) -> &[LockReq] {
        &self.locks[self.lock_start[t.ix()] as usize..self.lock_start[t.ix() + 1] as usize]
    }

    /// Whether `t` modifies any file (its `files_to_modify` is not empty), read from the
    /// compact lock table, which the core has just used when the task ends, rather than
    /// from the task's spec, which by then is cold memory.
    pub fn modifies_files(&self, t: TaskIdx) -> bool {
        self.locks(t).iter().any(|l| l.mode == LockMode::Write)
    }

    /// The layer of `t`: 0 for tasks without dependencies, else one more than the deepest
    /// task it waits for.
    pub fn layer(&self, t: TaskIdx) -> u32 {
        self.hot[t.ix()].layer
    }

    /// Number of tasks in each layer.
    pub fn layer_sizes(&self) -> &[u32] {
        &self.layer_sizes
    }

    /// Longest path from `t` to the end of the plan, by estimated duration, `t` included.
    pub fn bottom_level_ms(&self, t: TaskIdx) -> Time {
        self.hot[t.ix()].bottom_level_ms
    }

    /// The task's type (as its spec says; read from the compact per-task record).
    pub fn task_type(&self, t: TaskIdx) -> TaskType {
        self.hot[t.ix()].task_type
    }

    /// The task's priority (as its spec says).
    pub fn priority(&self, t: TaskIdx) -> Priority {
        self.hot[t.ix()].priority
    }

    /// The task's estimated duration (as its spec says).
    pub fn estimate_ms(&self, t: TaskIdx) -> Time {
        self.hot[t.ix()].estimate_ms
    }

    /// The task's own attempt timeout, if its spec sets one.
    pub fn timeout_ms(&self, t: TaskIdx) -> Option<Time> {
        let hot = &self.hot[t.ix()];
        hot.has_timeout.then_some(hot.timeout_ms)
    }

    /// Every task by bottom level, the longest first, ties in plan order: the scheduler
    /// finds the longest remaining path by walking it.
    pub fn tasks_by_bottom_level(&self) -> &[TaskIdx] {
        &self.by_bottom_level
    }

    /// A topological order (Kahn's, sources in plan order).
    pub fn topo_order(&self) -> &[TaskIdx] {
        &self.topo
    }

    /// Every task's index, in plan order.
    pub fn task_indices(&self) -> impl Iterator<Item = TaskIdx> + use<> {
        (0..self.tasks.len() as u32).map(TaskIdx)
    }
}

/// FNV-1a, 64 bits: ids and paths are short, and SipHash (the std default) spends most
/// of a million-task build hashing them. The maps are lookups into the user's own plan,
/// so collision attacks are not a concern here.
#[derive(Debug, Clone, Copy, Default)]
struct BuildFnv;

impl std::hash::BuildHasher for BuildFnv {
    type Hasher = Fnv;

    fn build_hasher(&self) -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

/// The FNV-1a state.
struct Fnv(u64);

impl std::hash::Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ b as u64).wrapping_mul(0x0100_0000_01b3);
        }
    }
}

/// The indices of `keys` by key, the largest first, ties in index order: a stable LSD
/// radix sort on 16-bit digits, skipping digits every key shares. O(n) per digit, where a
/// comparison sort of a million keys took longer than the rest of the plan build.
fn radix_sort_desc(keys: &[Time]) -> Vec<TaskIdx> {
    let mut order: Vec<TaskIdx> = (0..keys.len() as u32).map(TaskIdx).collect();
    // Each radix pass clears and scans 2^16 counters: for a small plan (a remote worker
    // builds a one-task plan per attempt) that is all the cost, and a stable comparison
    // sort gives the same order.
    if keys.len() < RADIX_MIN {
        order.sort_by_key(|t| std::cmp::Reverse(keys[t.ix()]));
        return order;
    }
    let mut scratch = vec![TaskIdx(0); keys.len()];
    // Ascending on the complement is descending on the key, and stays stable.
    let digit = |t: TaskIdx, shift: u32| ((!keys[t.ix()] >> shift) & 0xffff) as usize;
    for shift in [0, 16, 32, 48] {
        let mut counts = vec![0usize; 1 << 16];
        for &t in &order {
            counts[digit(t, shift)] += 1;
        }
        if counts.contains(&keys.len()) {
            continue; // every key has this digit: the pass would change nothing
        }
        let mut start = 0;
        for c in counts.iter_mut() {
            let here = *c;
            *c = start;
            start += here;
        }
        for &t in &order {
            let d = digit(t, shift);
            scratch[counts[d]] = t;
            counts[d] += 1;
        }
        std::mem::swap(&mut order, &mut scratch);
    }
    order
}

/// Below this many keys [`radix_sort_desc`] sorts by comparisons.
const RADIX_MIN: usize = 1 << 12;

fn prefix_sums(counts: impl Iterator<Item = u32>) -> Vec<u32> {
    let mut out = vec![0u32];
    let mut total = 0u32;
    for c in counts {
        total += c;
        out.push(total);
    }
    out
}

fn invalid(origin: String, mut issues: Vec<Issue>) -> ScenarioError {
    // File order reads best; issues without a line (config, agents) go first.
    issues.sort_by_key(|i| i.line.unwrap_or(0));
    ScenarioError::Invalid {
        origin,
        file: crate::model::FileKind::Scenario,
        issues,
    }
}

/// Below this many tasks the independent parts of a plan build run one after the other:
/// handing work to another core costs more than it saves (a remote worker builds a
/// one-task plan per attempt).
const PARALLEL_MIN: usize = 16_384;

/// `a` and `b`, on two cores when `parallel`, else in turn.
fn join<A, B>(parallel: bool, a: impl FnOnce() -> A + Send, b: impl FnOnce() -> B + Send) -> (A, B)
where
    A: Send,
    B: Send,
{
    if parallel {
        rayon::join(a, b)
    } else {
        (a(), b())
    }
}

/// Every task's index by id, and a [`IssueKind::DuplicateTask`] for each later task with
/// an id already taken.
fn index_of(
    tasks: &[TaskSpec],
    line: &(dyn Fn(usize) -> Option<usize> + Sync),
    parallel: bool,
) -> (ids::IdIndex, Vec<Issue>) {
    let (index, duplicates) = ids::IdIndex::build(tasks.len(), |i| &tasks[i].id, parallel);
    let issues = duplicates
        .into_iter()
        .map(|(i, first)| {
            Issue::new(
                line(i),
                IssueKind::DuplicateTask {
                    id: tasks[i].id.to_string(),
                    first_line: line(first),
                },
            )
        })
        .collect();
    (index, issues)
}

/// The normalized files of a plan and each task's locks, flat as the edges are: the locks
/// of task i are `locks[lock_start[i]..lock_start[i + 1]]`.
struct LockTable {
    files: Vec<Arc<str>>,
    /// Only looked up: file indices follow the order files first appear in the tasks.
    lookup: HashMap<String, FileIdx, BuildFnv>,
    lock_start: Vec<u32>,
    locks: Vec<LockReq>,
}

/// The [`LockTable`] of `tasks`: each path normalized, each file once per task with its
/// strongest mode.
fn lock_table(tasks: &[TaskSpec]) -> LockTable {
    let mut files: Vec<Arc<str>> = Vec::new();
    let mut lookup: HashMap<String, FileIdx, BuildFnv> = HashMap::default();
    let mut lock_start = Vec::with_capacity(tasks.len() + 1);
    let mut locks = Vec::new();
    for task in tasks {
        lock_start.push(locks.len() as u32);
        let mut own: Vec<LockReq> = Vec::new();
        let modes = [
            (&task.files_to_modify, LockMode::Write),
            (&task.files_to_read, LockMode::Read),
        ];
        for (list, mode) in modes {
            for path in list {
                let normal = normalize_path(path);
                let next = FileIdx(files.len() as u32);
                let file = *lookup.entry(normal).or_insert_with_key(|k| {
                    files.push(Arc::from(k.as_str()));
                    next
                });
                own.push(LockReq { file, mode });
            }
        }
        // Write sorts after read: keep the strongest mode of each file.
        own.sort_by_key(|l| (l.file, std::cmp::Reverse(l.mode)));
        own.dedup_by_key(|l| l.file);
        locks.extend(own);
    }
    lock_start.push(locks.len() as u32);
    LockTable {
        files,
        lookup,
        lock_start,
        locks,
    }
}

/// Tasks per block of the parallel dependency lookup in [`Plan::build_from`].
const EDGE_BLOCK: usize = 16_384;

/// Tasks whose dependencies [`edges_of`] looks up together.
const LOOKUP_TASKS: usize = 64;

/// The dependency edges of a block of tasks, and the issues they raise.
struct Edges {
    preds: Vec<(TaskIdx, EdgeKind)>,
    /// Where each task's edges start in `preds`.
    starts: Vec<u32>,
    issues: Vec<Issue>,
}

/// A task's two lists of dependencies: each field's name, its ids, and the kind of edge.
fn dependency_lists(task: &TaskSpec) -> [(&'static str, &[String], EdgeKind); 2] {
    [
        ("depends_on", &task.depends_on, EdgeKind::Needs),
        ("blocked_by", &task.blocked_by, EdgeKind::After),
    ]
}

/// [`Edges`] of `tasks`, the first of which is task `first` of the plan: each task's
/// `depends_on` and `blocked_by` looked up in `index`, sorted and deduplicated (a task
/// named in both lists is a `Needs` edge).
fn edges_of(
    tasks: &[TaskSpec],
    first: usize,
    index: &ids::IdIndex,
    ids: &TextTable,
    line: &(dyn Fn(usize) -> Option<usize> + Sync),
) -> Edges {
    let mut preds: Vec<(TaskIdx, EdgeKind)> = Vec::with_capacity(tasks.len() * 3);
    let mut starts = Vec::with_capacity(tasks.len());
    let mut issues = Vec::new();
    let mut keys: Vec<&str> = Vec::new();
    let mut found: Vec<Option<TaskIdx>> = Vec::new();
    for (k, task) in tasks.iter().enumerate() {
        // The keys of the next tasks are looked up together, so that their cache misses
        // overlap (`IdIndex::get_many`); then consumed in the same order.
        if k % LOOKUP_TASKS == 0 {
            keys.clear();
            found.clear();
            for task in tasks[k..].iter().take(LOOKUP_TASKS) {
                keys.extend(
                    dependency_lists(task)
                        .iter()
                        .flat_map(|(_, list, _)| list.iter())
                        .map(String::as_str),
                );
            }
            index.get_many(&keys, &|j| ids.get(j), &mut found);
            found.reverse();
        }
        let i = first + k;
        let from = preds.len();
        starts.push(from as u32);
        for (field, list, kind) in dependency_lists(task) {
            for dep in list {
                match found.pop().expect("a lookup per key") {
                    None => issues.push(Issue::new(
                        line(i),
                        IssueKind::UnknownDependency {
                            task: task.id.to_string(),
                            field,
                            missing: dep.clone(),
                        },
                    )),
                    Some(d) if d.ix() == i => issues.push(Issue::new(
                        line(i),
                        IssueKind::SelfDependency {
                            task: task.id.to_string(),
                            field,
                        },
                    )),
                    Some(d) => preds.push((d, kind)),
                }
            }
        }
        preds[from..].sort_unstable();
        let mut kept = from;
        for k in from..preds.len() {
            if kept == from || preds[kept - 1].0 != preds[k].0 {
                preds[kept] = preds[k];
                kept += 1;
            }
        }
        preds.truncate(kept);
    }
    Edges {
        preds,
        starts,
        issues,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Format, MINUTE_MS};

    pub(crate) fn scenario(text: &str) -> Result<(Scenario, Plan), ScenarioError> {
        let (scenario, issues) = Scenario::parse(text, Format::Toml, "t.toml")?;
        Plan::from_scenario(scenario, issues)
    }

    fn issues(text: &str) -> Vec<Issue> {
        match scenario(text) {
            Err(ScenarioError::Invalid { issues, .. }) => issues,
            other => panic!("expected invalid, got {other:?}"),
        }
    }

    const AGENT: &str = "[[agents]]\ncount = 1\n";

    #[test]
    fn cycles_are_reported_as_paths() {
        let text = format!(
            "{AGENT}[[tasks]]\nid='a'\nestimated_duration=1\ndepends_on=['c']\n\
             [[tasks]]\nid='b'\nestimated_duration=1\ndepends_on=['a']\n\
             [[tasks]]\nid='c'\nestimated_duration=1\nblocked_by=['b']\n\
             [[tasks]]\nid='d'\nestimated_duration=1\ndepends_on=['e']\n\
             [[tasks]]\nid='e'\nestimated_duration=1\ndepends_on=['d']\n"
        );
        let found = issues(&text);
        let messages: Vec<String> = found.iter().map(|i| i.kind.to_string()).collect();
        assert_eq!(
            messages,
            vec![
                "dependency cycle: a -> c -> b -> a (each task waits for the next)",
                "dependency cycle: d -> e -> d (each task waits for the next)"
            ]
        );
    }

    #[test]
    fn every_graph_error_is_reported_at_once() {
        let text = "[[agents]]\ncapabilities=['testing']\n\
             [[tasks]]\nid='a'\ntype='testing'\nestimated_duration=1\ndepends_on=['ghost']\n\
             [[tasks]]\nid='a'\ntype='testing'\nestimated_duration=1\n\
             [[tasks]]\nid='b'\ntype='deployment'\nestimated_duration=1\nblocked_by=['b']\n";
        let found = issues(text);
        let messages: Vec<String> = found.iter().map(|i| i.to_string()).collect();
        assert_eq!(
            messages,
            vec![
                "line 3: task `a`: depends_on names unknown task `ghost`",
                "line 8: duplicate task id `a` (first defined on line 3)",
                "line 12: task `b`: blocked_by names the task itself",
                "line 12: task `b`: no agent can run type `deployment`",
            ]
        );
    }

    #[test]
    fn zero_agents_is_an_error() {
        let found = issues("[[tasks]]\nid='a'\nestimated_duration=1\n");
        assert_eq!(found, vec![Issue::new(None, IssueKind::NoAgents)]);
    }

    #[test]
    fn locks_are_normalized_and_write_wins() {
        let text = format!(
            "{AGENT}[[tasks]]\nid='a'\nestimated_duration=1\n\
             files_to_modify=['./src/x.ts']\nfiles_to_read=['src/x.ts', 'src/y.ts']\n"
        );
        let (_, plan) = scenario(&text).unwrap();
        let locks = plan.locks(TaskIdx(0));
        assert_eq!(locks.len(), 2);
        assert_eq!(&*plan.files[locks[0].file.ix()], "src/x.ts");
        assert_eq!(locks[0].mode, LockMode::Write);
        assert_eq!(locks[1].mode, LockMode::Read);
    }

    #[test]
    fn a_task_modifies_files_when_its_spec_lists_some() {
        let text = format!(
            "{AGENT}[[tasks]]\nid='none'\nestimated_duration=1\n\
             [[tasks]]\nid='reads'\nestimated_duration=1\nfiles_to_read=['a', 'b']\n\
             [[tasks]]\nid='writes'\nestimated_duration=1\nfiles_to_modify=['a']\n\
             [[tasks]]\nid='both'\nestimated_duration=1\n\
             files_to_modify=['./a', 'a']\nfiles_to_read=['a', 'b']\n"
        );
        let (_, plan) = scenario(&text).unwrap();
        let answers: Vec<(bool, bool)> = (0..plan.len() as u32)
            .map(|i| {
                let t = TaskIdx(i);
                (
                    plan.modifies_files(t),
                    !plan.task(t).files_to_modify.is_empty(),
                )
            })
            .collect();
        assert_eq!(
            answers,
            [(false, false), (false, false), (true, true), (true, true)]
        );
    }

    #[test]
    fn tasks_by_bottom_level_sort_longest_first_ties_in_plan_order() {
        let keys: Vec<Time> = vec![5, 70_000, 5, 1 << 40, 0, 70_000, (1 << 40) + 3];
        let order: Vec<u32> = radix_sort_desc(&keys).iter().map(|t| t.0).collect();
        assert_eq!(order, vec![6, 3, 1, 5, 0, 2, 4]);
        assert!(radix_sort_desc(&[]).is_empty());
        // The radix passes, for a plan large enough to take them, give the same order.
        let keys: Vec<Time> = (0..RADIX_MIN as u64 * 3)
            .map(|i| (i * 7919 % 1009) << ((i % 4) * 16))
            .collect();
        let mut expected: Vec<u32> = (0..keys.len() as u32).collect();
        expected.sort_by_key(|&i| std::cmp::Reverse(keys[i as usize]));
        let order: Vec<u32> = radix_sort_desc(&keys).iter().map(|t| t.0).collect();
        assert_eq!(order, expected);
    }

    #[test]
    fn layers_and_bottom_levels() {
        let text = format!(
            "{AGENT}[[tasks]]\nid='a'\nestimated_duration=10\n\
             [[tasks]]\nid='b'\nestimated_duration=5\ndepends_on=['a']\n\
             [[tasks]]\nid='c'\nestimated_duration=20\ndepends_on=['a']\n\
             [[tasks]]\nid='d'\nestimated_duration=1\ndepends_on=['b','c']\n"
        );
        let (_, plan) = scenario(&text).unwrap();
        let layers: Vec<u32> = plan.task_indices().map(|t| plan.layer(t)).collect();
        assert_eq!(layers, vec![0, 1, 1, 2]);
        assert_eq!(plan.layer_sizes(), &[1, 2, 1]);
        assert_eq!(plan.bottom_level_ms(TaskIdx(0)), 31 * MINUTE_MS);
        assert_eq!(plan.bottom_level_ms(TaskIdx(1)), 6 * MINUTE_MS);
        let succ: Vec<u32> = plan.succs(TaskIdx(0)).iter().map(|e| e.to.0).collect();
        assert_eq!(succ, vec![1, 2]);
    }

    #[test]
    fn the_compact_record_and_the_id_table_repeat_the_specs() {
        let text = format!(
            "{AGENT}[[tasks]]\nid='a'\nestimated_duration=10\n\
             [[tasks]]\nid='bb'\ntitle='Build B'\ntype='testing'\npriority='critical'\n\
             estimated_duration=5\ntimeout='1h'\ndepends_on=['a']\n\
             [[tasks]]\nid='c'\ntype='deployment'\npriority='low'\nestimated_duration=20\n"
        );
        let (_, plan) = scenario(&text).unwrap();
        for t in plan.task_indices() {
            let spec = plan.task(t);
            assert_eq!(plan.task_type(t), spec.task_type);
            assert_eq!(plan.priority(t), spec.priority);
            assert_eq!(plan.estimate_ms(t), spec.estimated_duration_ms);
            assert_eq!(plan.timeout_ms(t), spec.timeout_ms);
            assert_eq!(plan.id(t), &*spec.id);
            assert_eq!(plan.title(t), &*spec.title);
            assert_eq!(plan.ids().get(t.ix()), &*spec.id);
        }
        assert_eq!(plan.timeout_ms(TaskIdx(0)), None);
        assert_eq!(plan.timeout_ms(TaskIdx(1)), Some(60 * MINUTE_MS));
        assert_eq!(plan.ids().iter().collect::<Vec<_>>(), ["a", "bb", "c"]);
        assert_eq!(plan.title(TaskIdx(1)), "Build B");
    }
}
