//! `taskdist stg-report [--data DIR] [-o reports/stg.md]`: schedule quality against
//! published optima.
//!
//! Every graph of the shared Standard Task Graph Set sample is simulated at m = 2, 4, 8
//! and 16 identical agents under each policy, with fixed durations and no faults, and its
//! makespan compared with the proven optimum (50- and 100-task random graphs) or with the
//! lower bound `max(CP, ceil(W/m))` (300-task random and application graphs). The WfCommons
//! and Pegasus DAX samples are compared with the plan's lower bound, which also counts the
//! work serialized by write locks. The report is a pure function of the data: the same
//! data gives the same bytes.

use anyhow::{Context, anyhow, bail};
use clap::Args;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use taskdist::import::{ImportError, ImportFormat, ImportOptions};
use taskdist::model::{Dispatch, Policy, SECOND_MS, Scenario, Time};
use taskdist::plan::Plan;
use taskdist::sim::{SimModels, scale_agents, simulate};

/// The agent counts of the published STG optima.
const AGENT_COUNTS: [usize; 4] = [2, 4, 8, 16];

/// Number of policies compared.
const POLICIES: usize = Policy::ALL.len();

/// Index of `optimized` in [`Policy::ALL`].
const OPTIMIZED: usize = POLICIES - 1;

/// Seeds per instance of the robustness experiment (log-normal durations).
const ROBUST_SEEDS: u64 = 100;

/// The σ of the log-normal durations of the robustness experiment.
const ROBUST_SPREAD: f64 = 0.3;

/// Random tie-break orders tried per graph in the tie-break experiment.
const RANDOM_ORDERS: usize = 16;

/// The tie-break variants of critical-path compared on the proven STG instances. The
/// policy breaks ties of bottom level by priority, then plan order, so reordering the
/// tasks of an imported graph changes only how ties are broken.
const TIE_BREAKS: [&str; 4] = [
    "plan order (the default)",
    "most immediate successors first (CP/MISF)",
    "longest task first",
    "best of 16 random orders",
];

/// Arguments of `taskdist stg-report`.
#[derive(Debug, Args)]
pub struct StgReportArgs {
    /// The shared data folder, holding stg/, wfcommons/, pegasus_synthetic/ and
    /// heft_topcuoglu2002/ (see each folder's SOURCES.md).
    #[arg(long, value_name = "DIR", default_value = "../shared/data")]
    data: PathBuf,
    /// Where to write the report.
    #[arg(
        long,
        short = 'o',
        value_name = "FILE",
        default_value = "reports/stg.md"
    )]
    out: PathBuf,
}

/// Runs every instance and writes the report.
pub fn stg_report(args: &StgReportArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let stg = args.data.join("stg");
    if !stg.is_dir() {
        // Bad input: exits 2 like any unreadable file.
        return Err(ImportError::Io {
            path: args.data.clone(),
            source: std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "no stg/ folder here (pass --data with the shared data folder)",
            ),
        }
        .into());
    }
    let references = read_references(&stg.join("reference/makespan_reference_50_100.csv"))?;
    let mut report = Report {
        load_before: load_average(),
        ..Report::default()
    };
    for set in ["50", "100", "300"] {
        for path in files(&stg.join("random").join(set), "stg")? {
            let name = format!("{set}/{}", file_name(&path));
            let mut graph = Graph::load(&path, &name, Some(ImportFormat::Stg))?;
            let kind = if set == "300" {
                Kind::Random300
            } else {
                Kind::Random
            };
            if kind == Kind::Random {
                let seed = report.graphs.len() as u64;
                graph.tie_breaks = Some(tie_break_makespans(&graph, seed)?);
                for (i, &m) in AGENT_COUNTS.iter().enumerate() {
                    if references
                        .get(&(name.clone(), m))
                        .is_some_and(|r| r.optimal)
                    {
                        graph.robust[i] = Some(graph.robustness(i)?);
                    }
                }
            }
            report.add(kind, graph, &references)?;
        }
    }
    for path in files(&stg.join("application"), "stg")? {
        let graph = Graph::load(&path, &file_name(&path), Some(ImportFormat::Stg))?;
        report.add(Kind::Application, graph, &references)?;
    }
    let mut workflows = files_deep(&args.data.join("wfcommons"), "json")?;
    workflows.extend(files(&args.data.join("pegasus_synthetic"), "xml")?);
    workflows.extend(files(&args.data.join("heft_topcuoglu2002"), "xml")?);
    for path in workflows {
        let name = path
            .strip_prefix(&args.data)
            .unwrap_or(&path)
            .display()
            .to_string();
        let graph = Graph::load(&path, &name, None)?;
        report.add(Kind::Workflow, graph, &references)?;
    }
    report.load_after = load_average();
    let text = report.render(&args.data);
    if let Some(dir) = args.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(&args.out, &text).with_context(|| format!("writing {}", args.out.display()))?;
    let headline = report.headline();
    writeln!(out, "wrote {}", args.out.display())?;
    for line in headline {
        writeln!(out, "  {line}")?;
    }
    Ok(())
}

/// One row of `makespan_reference_50_100.csv`.
#[derive(Debug, Deserialize)]
struct ReferenceRow {
    graph: String,
    processors: usize,
    upper_bound: u64,
    status: String,
    cp_length: u64,
    total_work: u64,
}

/// What is known about one (graph, m): the proven optimum, or bounds on it.
#[derive(Debug, Clone, Copy)]
struct Reference {
    upper: u64,
    optimal: bool,
    cp: u64,
    work: u64,
}

/// The reference table; a file that cannot be read or parsed is bad input (exit 2).
fn read_references(path: &Path) -> Result<BTreeMap<(String, usize), Reference>, ImportError> {
    let malformed = |e: csv::Error| match e.kind() {
        csv::ErrorKind::Io(_) => ImportError::Io {
            path: path.to_path_buf(),
            source: std::io::Error::other(e.to_string()),
        },
        _ => ImportError::Malformed {
            origin: path.display().to_string(),
            line: e.position().map(|p| p.line() as usize),
            message: e.to_string(),
        },
    };
    let mut reader = csv::Reader::from_path(path).map_err(malformed)?;
    let mut map = BTreeMap::new();
    for row in reader.deserialize() {
        let row: ReferenceRow = row.map_err(malformed)?;
        map.insert(
            (row.graph, row.processors),
            Reference {
                upper: row.upper_bound,
                optimal: row.status == "optimal",
                cp: row.cp_length,
                work: row.total_work,
            },
        );
    }
    Ok(map)
}

/// The files with this extension in a folder, sorted; none if the folder is missing.
fn files(dir: &Path, extension: &str) -> anyhow::Result<Vec<PathBuf>> {
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let path = entry?.path();
        if path.is_file() && path.extension().is_some_and(|e| e == extension) {
            found.push(path);
        }
    }
    found.sort();
    Ok(found)
}

/// Like [`files`], in every folder below `dir` too.
fn files_deep(dir: &Path, extension: &str) -> anyhow::Result<Vec<PathBuf>> {
    let mut found = files(dir, extension)?;
    if dir.is_dir() {
        let mut subdirs = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            let path = entry?.path();
            if path.is_dir() {
                subdirs.push(path);
            }
        }
        subdirs.sort();
        for sub in subdirs {
            found.extend(files_deep(&sub, extension)?);
        }
    }
    found.sort();
    Ok(found)
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
}

/// A loaded graph and its makespan per agent count and policy.
struct Graph {
    name: String,
    scenario: Scenario,
    plan: Arc<Plan>,
    /// `makespans[i][p]`: at `AGENT_COUNTS[i]` agents under `Policy::ALL[p]`, in ms.
    makespans: Vec<[Time; POLICIES]>,
    /// `optimizer[i]`: the optimizer's run at `AGENT_COUNTS[i]` agents.
    optimizer: Vec<OptimizerRun>,
    /// `robust[i]`: median makespans under log-normal durations at `AGENT_COUNTS[i]`
    /// agents (proven STG instances only).
    robust: Vec<Option<Robust>>,
    /// `tie_breaks[i][v]`: critical-path at `AGENT_COUNTS[i]` agents with tie-break
    /// variant `TIE_BREAKS[v]`, in ms (STG graphs with published optima only).
    tie_breaks: Option<Vec<[Time; 4]>>,
}

impl Graph {
    fn load(path: &Path, name: &str, format: Option<ImportFormat>) -> anyhow::Result<Graph> {
        let options = ImportOptions { agents: 1 };
        let (scenario, plan) = taskdist::import::load(path, format.map(Into::into), &options)?;
        let plan = Arc::new(plan);
        let mut makespans = Vec::new();
        let mut optimizer = Vec::new();
        for m in AGENT_COUNTS {
            let run = OptimizerRun::new(&scenario, &plan, m)?;
            let mut row = [0; POLICIES];
            for (slot, policy) in row.iter_mut().zip(Policy::ALL) {
                let schedule = (policy == Policy::Optimized).then(|| run.schedule.clone());
                *slot = makespan(&scenario, &plan, m, policy, schedule.clone(), None)
                    .with_context(|| format!("{name} at m = {m} under {policy}"))?;
            }
            // With exact durations the run reproduces its schedule.
            if row[OPTIMIZED] != run.schedule.makespan_ms {
                bail!(
                    "{name} at m = {m}: optimized ran {} ms, its schedule says {} ms",
                    row[OPTIMIZED],
                    run.schedule.makespan_ms
                );
            }
            makespans.push(row);
            optimizer.push(run);
        }
        Ok(Graph {
            name: name.to_string(),
            scenario,
            plan,
            makespans,
            optimizer,
            robust: vec![None; AGENT_COUNTS.len()],
            tie_breaks: None,
        })
    }

    /// The median makespans of `optimized`, `critical-path` and of following the schedule
    /// over [`ROBUST_SEEDS`] seeds of log-normal durations, at agent count
    /// `AGENT_COUNTS[i]`, with the dispatch mode `optimized` chose for these durations.
    fn robustness(&self, i: usize) -> anyhow::Result<Robust> {
        let m = AGENT_COUNTS[i];
        let file = taskdist::model::SimulationFile {
            duration: Some(taskdist::model::DurationModel::Lognormal {
                spread: ROBUST_SPREAD,
                median: None,
            }),
            ..Default::default()
        };
        let models = SimModels::resolve(Some(&file), self.scenario.time_unit, &self.plan)
            .map_err(|issues| anyhow!("log-normal models: {}", issues[0]))?;
        let schedule = self.optimizer[i].schedule.clone();
        let config = run_config(&self.scenario, m, Policy::Optimized, Some(schedule.clone()));
        let agents = scale_agents(&self.scenario.agents, m);
        let began = std::time::Instant::now();
        let dispatch =
            taskdist::sim::choose_dispatch(&self.plan, &config, &agents, &models).dispatch;
        let choice_seconds = began.elapsed().as_secs_f64();
        let with = |dispatch: Dispatch| {
            Some(Arc::new(taskdist::model::Schedule {
                dispatch,
                ..(*schedule).clone()
            }))
        };
        let runs = [
            (Policy::Optimized, with(dispatch)),
            (Policy::CriticalPath, None),
            (Policy::Optimized, with(Dispatch::Follow)),
        ];
        let mut medians = [0; 3];
        for (k, (policy, schedule)) in runs.into_iter().enumerate() {
            let mut spans = (0..ROBUST_SEEDS)
                .map(|seed| {
                    makespan(
                        &self.scenario,
                        &self.plan,
                        m,
                        policy,
                        schedule.clone(),
                        Some((&models, seed)),
                    )
                })
                .collect::<anyhow::Result<Vec<Time>>>()?;
            spans.sort_unstable();
            medians[k] = spans[spans.len() / 2];
        }
        Ok(Robust {
            optimized: medians[0],
            critical_path: medians[1],
            follow: medians[2],
            dispatch,
            choice_seconds,
        })
    }

    /// The critical path and total work in whole seconds (STG time units).
    fn cp_and_work_s(&self) -> (u64, u64) {
        (
            self.plan.critical_path_ms().div_ceil(SECOND_MS),
            self.plan.total_work_ms().div_ceil(SECOND_MS),
        )
    }
}

/// One instance of the robustness experiment: median makespans (ms) over the seeds.
#[derive(Debug, Clone, Copy)]
struct Robust {
    /// Under `optimized`, with the dispatch mode it chose for the durations.
    optimized: Time,
    /// Under `critical-path`.
    critical_path: Time,
    /// Under `optimized` made to follow its schedule ([`Dispatch::Follow`]).
    follow: Time,
    /// The mode `optimized` chose.
    dispatch: Dispatch,
    /// Wall time of the choice, in seconds (machine-dependent; the choice is not).
    choice_seconds: f64,
}

/// The optimizer's result on one graph at one agent count, and what it took.
struct OptimizerRun {
    schedule: Arc<taskdist::model::Schedule>,
    decodes: u64,
    /// Wall time, in seconds (machine-dependent; the schedule is not).
    seconds: f64,
}

impl OptimizerRun {
    fn new(scenario: &Scenario, plan: &Plan, m: usize) -> anyhow::Result<OptimizerRun> {
        let agents = scale_agents(&scenario.agents, m);
        let began = std::time::Instant::now();
        let budget = taskdist::optimize::Budget {
            wall_cap: None,
            ..Default::default()
        };
        let out = taskdist::optimize::optimize(plan, &agents, m, budget)?;
        Ok(OptimizerRun {
            seconds: began.elapsed().as_secs_f64(),
            schedule: Arc::new(out.schedule),
            decodes: out.decodes,
        })
    }
}

/// One simulated run with `m` generalist agents, no faults and no context sharing: with
/// fixed durations and seed 0, or with `models` and that seed. Heartbeat checking is
/// off: nothing crashes, and it only adds steps. Under `optimized`, `schedule` is
/// followed.
fn makespan(
    scenario: &Scenario,
    plan: &Arc<Plan>,
    m: usize,
    policy: Policy,
    schedule: Option<Arc<taskdist::model::Schedule>>,
    models: Option<(&SimModels, u64)>,
) -> anyhow::Result<Time> {
    let fixed;
    let (models, seed) = match models {
        Some(given) => given,
        None => {
            fixed = SimModels::for_scenario(scenario, plan)?;
            (&fixed, 0)
        }
    };
    let config = run_config(scenario, m, policy, schedule);
    let agents = scale_agents(&scenario.agents, m);
    let run = simulate(plan.clone(), config, agents, models, seed, &mut |_| {})?;
    if run.progress.completed_tasks != plan.len() {
        bail!(
            "only {} of {} tasks completed",
            run.progress.completed_tasks,
            plan.len()
        );
    }
    Ok(run.makespan)
}

/// The configuration of [`makespan`]'s runs.
fn run_config(
    scenario: &Scenario,
    m: usize,
    policy: Policy,
    schedule: Option<Arc<taskdist::model::Schedule>>,
) -> taskdist::model::Config {
    let mut config = scenario.config.clone();
    config.policy = policy;
    config.schedule = schedule;
    config.max_agents = m as u32;
    config.heartbeat_timeout_ms = None;
    // Imported scenarios have it off already; a shared discovery would shorten tasks.
    config.enable_context_sharing = false;
    config
}

/// Critical-path's makespans with each tie-break variant at each agent count.
fn tie_break_makespans(graph: &Graph, seed: u64) -> anyhow::Result<Vec<[Time; 4]>> {
    let plan = &graph.plan;
    let n = plan.len();
    let by_key = |key: &dyn Fn(usize) -> Time| {
        let mut order: Vec<usize> = (0..n).collect();
        // Stable: equal keys keep plan order.
        order.sort_by_key(|&i| std::cmp::Reverse(key(i)));
        order
    };
    let successors = by_key(&|i| plan.succs(taskdist::plan::TaskIdx(i as u32)).len() as Time);
    let longest = by_key(&|i| plan.tasks[i].estimated_duration_ms);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut random = Vec::with_capacity(RANDOM_ORDERS);
    for _ in 0..RANDOM_ORDERS {
        let mut order: Vec<usize> = (0..n).collect();
        for i in (1..n).rev() {
            order.swap(i, rng.random_range(0..=i));
        }
        random.push(reordered(&graph.scenario, &order)?);
    }
    let successors = reordered(&graph.scenario, &successors)?;
    let longest = reordered(&graph.scenario, &longest)?;
    let mut rows = Vec::with_capacity(AGENT_COUNTS.len());
    for (i, &m) in AGENT_COUNTS.iter().enumerate() {
        let default = graph.makespans[i][0];
        let mut best = default;
        for (scenario, plan) in &random {
            best = best.min(makespan(
                scenario,
                plan,
                m,
                Policy::CriticalPath,
                None,
                None,
            )?);
        }
        rows.push([
            default,
            makespan(
                &successors.0,
                &successors.1,
                m,
                Policy::CriticalPath,
                None,
                None,
            )?,
            makespan(&longest.0, &longest.1, m, Policy::CriticalPath, None, None)?,
            best,
        ]);
    }
    Ok(rows)
}

/// The scenario with its tasks in another order (`order[k]` is the old index of the k-th).
fn reordered(scenario: &Scenario, order: &[usize]) -> anyhow::Result<(Scenario, Arc<Plan>)> {
    let tasks = order.iter().map(|&i| scenario.tasks[i].clone()).collect();
    let shuffled = Scenario::from_parts(scenario.config.clone(), scenario.agents.clone(), tasks);
    let plan = Plan::build(&shuffled)
        .map_err(|issues| anyhow!("a reordered graph is invalid: {}", issues[0]))?;
    Ok((shuffled, Arc::new(plan)))
}

/// Which table a graph belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    /// 50- and 100-task random STG graphs, with published optima or bounds.
    Random,
    /// 300-task random STG graphs: lower bound only.
    Random300,
    /// STG application graphs: lower bound only.
    Application,
    /// WfCommons and DAX samples: the plan's lower bound.
    Workflow,
}

/// One (graph, m) compared with its yardstick.
struct Case {
    graph: usize,
    m_index: usize,
    /// The yardstick in ms: the optimum, the best known upper bound, or a lower bound.
    target_ms: Time,
    /// Whether `target_ms` is a proven optimum.
    proven: bool,
}

#[derive(Default)]
struct Report {
    graphs: Vec<Graph>,
    cases: BTreeMap<Kind, Vec<Case>>,
    /// Graphs whose CP or W differ from the reference table (should be none).
    mismatches: Vec<String>,
    checked: usize,
    /// The machine's load averages when the report started and ended (timing context).
    load_before: String,
    load_after: String,
}

impl Report {
    fn add(
        &mut self,
        kind: Kind,
        graph: Graph,
        references: &BTreeMap<(String, usize), Reference>,
    ) -> anyhow::Result<()> {
        let index = self.graphs.len();
        let (cp, work) = graph.cp_and_work_s();
        for (m_index, &m) in AGENT_COUNTS.iter().enumerate() {
            let trivial_ms = cp.max(work.div_ceil(m as u64)) * SECOND_MS;
            let case = match kind {
                Kind::Random => {
                    let Some(r) = references.get(&(graph.name.clone(), m)) else {
                        continue;
                    };
                    if m_index == 0 {
                        self.checked += 1;
                        if (r.cp, r.work) != (cp, work) {
                            self.mismatches.push(format!(
                                "{}: CP {cp}, W {work}; the reference says CP {}, W {}",
                                graph.name, r.cp, r.work
                            ));
                        }
                    }
                    Case {
                        graph: index,
                        m_index,
                        target_ms: r.upper * SECOND_MS,
                        proven: r.optimal,
                    }
                }
                Kind::Random300 | Kind::Application => Case {
                    graph: index,
                    m_index,
                    target_ms: trivial_ms,
                    proven: false,
                },
                Kind::Workflow => {
                    let bound = graph.plan.lower_bound_ms(m);
                    Case {
                        graph: index,
                        m_index,
                        target_ms: bound,
                        proven: false,
                    }
                }
            };
            self.cases.entry(kind).or_default().push(case);
        }
        self.graphs.push(graph);
        Ok(())
    }

    /// The optimizer's quality, proofs and time on the proven STG optima, and its
    /// robustness to log-normal durations.
    fn optimizer_tables(&self, s: &mut String) {
        let budget = taskdist::optimize::DEFAULT_BUDGET;
        let _ = writeln!(
            s,
            "## The optimizer (`optimized`) on the proven STG optima\n\n\
             `taskdist plan --optimize` with the default budget of {budget} decodes (seed 0), its \
             schedule then followed by the core in the simulation (which reproduced every \
             schedule's makespan exactly, or this report would have failed). \"by bound\": the \
             makespan met the lower bound, proving optimality without the reference. Time is \
             wall time per instance on this 2-core machine, shared with other builds while it \
             ran: load average {} at the start, {} at the end.\n",
            self.load_before, self.load_after
        );
        let _ = writeln!(
            s,
            "| m | instances | optimal | share | mean ratio | worst ratio | worst graph | proved by bound | time p50 | time mean | time max | decodes mean |"
        );
        let _ = writeln!(
            s,
            "|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|"
        );
        let cases: Vec<&Case> = self
            .cases
            .get(&Kind::Random)
            .into_iter()
            .flatten()
            .filter(|c| c.proven)
            .collect();
        let rows = AGENT_COUNTS
            .iter()
            .enumerate()
            .map(|(i, m)| (m.to_string(), Some(i)))
            .chain(std::iter::once(("all".to_string(), None)));
        for (label, m_index) in rows {
            let chosen: Vec<&&Case> = cases
                .iter()
                .filter(|c| m_index.is_none_or(|i| c.m_index == i))
                .collect();
            let mut tally = Tally::default();
            let mut proved = 0;
            let mut times: Vec<f64> = Vec::new();
            let mut decodes = 0u64;
            for c in &chosen {
                let graph = &self.graphs[c.graph];
                tally.add(self.makespan(c, OPTIMIZED), c.target_ms, &graph.name);
                let run = &graph.optimizer[c.m_index];
                proved += usize::from(run.schedule.proved_by.is_some());
                times.push(run.seconds);
                decodes += run.decodes;
            }
            times.sort_by(f64::total_cmp);
            let n = times.len().max(1);
            let _ = writeln!(
                s,
                "| {label} | {} | {} | {} | {:.4} | {:.4} | {} | {} ({}) | {:.3} s | {:.3} s | {:.3} s | {} |",
                tally.count,
                tally.hits,
                tally.share(),
                tally.mean(),
                tally.worst,
                tally.worst_name,
                proved,
                percent(proved, tally.count),
                times.get(times.len() / 2).copied().unwrap_or(0.0),
                times.iter().sum::<f64>() / n as f64,
                times.last().copied().unwrap_or(0.0),
                decodes / n as u64,
            );
        }
        let _ = writeln!(s);
        let _ = writeln!(
            s,
            "### Robustness: log-normal durations\n\n\
             Each proven instance again, with log-normal durations (σ = {ROBUST_SPREAD}, mean the \
             estimate) over seeds 0–{}, and each policy's median makespan over those seeds. \
             For random durations `optimized` chooses at plan time how to dispatch \
             (`taskdist::sim::choose_dispatch`): it simulates critical-path order, dispatch by \
             planned start, and following the schedule on {} samples of the scenario's own \
             duration model, seeded from its master seed with the top bit set (so never seeds \
             0–{}), and keeps critical-path order unless another mode's mean makespan on the \
             samples is lower by more than {} standard errors of the paired differences (\"choice \
             time\": its wall time per instance). With fixed durations it follows the \
             schedule (the tables above).\n\n\
             The gate, as read here: per instance, r = median under `optimized` / median under \
             `critical-path`; it holds at m when both the mean and the median of r over the \
             instances are at most 1. The share of instances with r ≤ 1 is shown too. \
             \"follow\" is the schedule followed as the policy did before the choice existed \
             (until an attempt ends more than {}% off its plan, then dispatching by planned \
             start), same seeds.\n",
            ROBUST_SEEDS - 1,
            taskdist::sim::DISPATCH_SAMPLES,
            ROBUST_SEEDS - 1,
            taskdist::sim::DISPATCH_Z,
            taskdist::core::DEVIATION_PERCENT
        );
        let _ = writeln!(
            s,
            "| m | instances | chosen: critical-path / planned-start / follow | choice time mean | r ≤ 1 | mean r | median r | worst r | best r | gate | follow: r ≤ 1 | follow: mean r |"
        );
        let _ = writeln!(
            s,
            "|---:|---:|---|---:|---:|---:|---:|---:|---:|---|---:|---:|"
        );
        for (i, m) in AGENT_COUNTS.iter().enumerate() {
            let runs: Vec<Robust> = cases
                .iter()
                .filter(|c| c.m_index == i)
                .filter_map(|c| self.graphs[c.graph].robust[i])
                .collect();
            let mut ratios: Vec<f64> = runs
                .iter()
                .map(|r| ratio(r.optimized, r.critical_path))
                .collect();
            ratios.sort_by(f64::total_cmp);
            let follow: Vec<f64> = runs
                .iter()
                .map(|r| ratio(r.follow, r.critical_path))
                .collect();
            let chosen = |d: Dispatch| runs.iter().filter(|r| r.dispatch == d).count();
            let no_worse = runs
                .iter()
                .filter(|r| r.optimized <= r.critical_path)
                .count();
            let follow_no_worse = runs.iter().filter(|r| r.follow <= r.critical_path).count();
            let n = ratios.len().max(1) as f64;
            let mean = ratios.iter().sum::<f64>() / n;
            let median = ratios.get(ratios.len() / 2).copied().unwrap_or(1.0);
            let _ = writeln!(
                s,
                "| {m} | {} | {} / {} / {} | {:.3} s | {} ({}) | {:.5} | {:.5} | {:.4} | {:.4} | {} | {} ({}) | {:.4} |",
                runs.len(),
                chosen(Dispatch::CriticalPath),
                chosen(Dispatch::PlannedStart),
                chosen(Dispatch::Follow),
                runs.iter().map(|r| r.choice_seconds).sum::<f64>() / n,
                no_worse,
                percent(no_worse, runs.len()),
                mean,
                median,
                ratios.last().copied().unwrap_or(1.0),
                ratios.first().copied().unwrap_or(1.0),
                if mean <= 1.0 && median <= 1.0 {
                    "holds"
                } else {
                    "fails"
                },
                follow_no_worse,
                percent(follow_no_worse, runs.len()),
                follow.iter().sum::<f64>() / n,
            );
        }
        let _ = writeln!(s);
    }

    fn makespan(&self, case: &Case, policy: usize) -> Time {
        self.graphs[case.graph].makespans[case.m_index][policy]
    }

    /// The tally of `policy` over the cases that `keep` selects, at agent count `m_index`.
    fn tally(
        &self,
        kind: Kind,
        m_index: usize,
        policy: usize,
        keep: impl Fn(&Case) -> bool,
    ) -> Tally {
        let mut tally = Tally::default();
        for case in self.cases.get(&kind).into_iter().flatten() {
            if case.m_index == m_index && keep(case) {
                let name = &self.graphs[case.graph].name;
                tally.add(self.makespan(case, policy), case.target_ms, name);
            }
        }
        tally
    }

    /// One line per agent count for critical-path and optimized on the proven STG optima.
    fn headline(&self) -> Vec<String> {
        [(0, "critical-path"), (OPTIMIZED, "optimized")]
            .into_iter()
            .flat_map(|p| AGENT_COUNTS.iter().enumerate().map(move |(i, m)| (p, i, m)))
            .map(|((policy, name), i, m)| {
                let t = self.tally(Kind::Random, i, policy, |c| c.proven);
                format!(
                    "{name}, m = {m:>2}: optimal on {} ({}/{}), mean ratio {:.4}, worst {:.4}",
                    t.share(),
                    t.hits,
                    t.count,
                    t.mean(),
                    t.worst
                )
            })
            .collect()
    }

    fn render(&self, data: &Path) -> String {
        let mut s = String::new();
        let proven = |c: &Case| c.proven;
        let random = self.cases.get(&Kind::Random).map_or(0, Vec::len);
        let proven_count = self
            .cases
            .get(&Kind::Random)
            .into_iter()
            .flatten()
            .filter(|c| c.proven)
            .count();
        let graphs_of = |kind: Kind| {
            let mut seen: Vec<usize> = self
                .cases
                .get(&kind)
                .into_iter()
                .flatten()
                .map(|c| c.graph)
                .collect();
            seen.dedup();
            seen.len()
        };
        let _ = writeln!(s, "# Schedule quality against published optima\n");
        let _ = writeln!(
            s,
            "Generated by `cargo run --release -- stg-report --data {} -o reports/stg.md`; do not edit by hand.\n",
            data.display()
        );
        let _ = writeln!(
            s,
            "Each graph is imported as taskdist would import it (`taskdist import stg`, one STG time \
             unit = one second; WfCommons and DAX runtimes in seconds), then simulated with m \
             identical generalist agents, fixed durations, no failures and no communication cost \
             (the STG model, P | prec | Cmax), once per policy. The ratio is makespan / yardstick: \
             1 is optimal. `priority` orders by priority class first, then like `critical-path`; \
             every imported task has the same priority, so the two always agree here.\n"
        );

        let _ = writeln!(
            s,
            "## Headline: the default policy (critical-path) on proven STG optima\n"
        );
        let _ = writeln!(
            s,
            "{} random graphs of 50 and 100 tasks, {proven_count} (graph, m) instances with a proven optimum.\n",
            graphs_of(Kind::Random)
        );
        let _ = writeln!(
            s,
            "| m | instances | optimal | share optimal | mean ratio | worst ratio | worst graph |"
        );
        let _ = writeln!(s, "|---:|---:|---:|---:|---:|---:|---|");
        for (i, m) in AGENT_COUNTS.iter().enumerate() {
            let t = self.tally(Kind::Random, i, 0, proven);
            let _ = writeln!(
                s,
                "| {m} | {} | {} | {} | {:.4} | {:.4} | {} |",
                t.count,
                t.hits,
                t.share(),
                t.mean(),
                t.worst,
                t.worst_name
            );
        }
        let all = self.tally_all(Kind::Random, 0, proven);
        let _ = writeln!(
            s,
            "| all | {} | {} | {} | {:.4} | {:.4} | {} |\n",
            all.count,
            all.hits,
            all.share(),
            all.mean(),
            all.worst,
            all.worst_name
        );

        let _ = writeln!(s, "## Every policy on the proven STG optima\n");
        self.policy_table(&mut s, Kind::Random, proven, "optimal");
        self.optimizer_tables(&mut s);

        let open = random - proven_count;
        let _ = writeln!(s, "## Open STG instances (50 and 100 tasks)\n");
        let _ = writeln!(
            s,
            "{open} instances have no proven optimum, only a lower bound LB and a best known \
             makespan UB (LB < UB). \"At UB\" counts makespans at or below the best known; the \
             ratio is to UB, so a ratio below 1 would improve on the published best.\n"
        );
        self.policy_table(&mut s, Kind::Random, |c| !c.proven, "at UB");

        let _ = writeln!(s, "## STG 300-task random graphs\n");
        let _ = writeln!(
            s,
            "{} graphs. No optimum is published for them here: the yardstick is \
             LB = max(CP, ceil(W/m)); a makespan at LB is optimal, one above it may be too.\n",
            graphs_of(Kind::Random300)
        );
        self.policy_table(&mut s, Kind::Random300, |_| true, "at LB");

        let _ = writeln!(s, "## STG application graphs\n");
        let _ = writeln!(
            s,
            "Makespan in time units, and its ratio to LB = max(CP, ceil(W/m)).\n"
        );
        self.per_graph_table(&mut s, Kind::Application, true);

        let _ = writeln!(s, "## Workflow samples: WfCommons and Pegasus DAX\n");
        let _ = writeln!(
            s,
            "{} workflows. Yardstick: the plan's lower bound, the best of its bounds as `taskdist \
             plan` prints it (critical path, W/m, the busiest file — the work that must hold one \
             file's write lock in turn; files read are read locks, files written write locks — \
             and the head/tail, lock and energetic bounds). Summary over all samples:\n",
            graphs_of(Kind::Workflow)
        );
        self.policy_table(&mut s, Kind::Workflow, |_| true, "at LB");
        let _ = writeln!(
            s,
            "Per workflow, critical-path: makespan in seconds and its ratio to the lower bound.\n"
        );
        self.per_graph_table(&mut s, Kind::Workflow, false);
        let _ = writeln!(
            s,
            "The bound is loose for some shapes, so a ratio here measures the bound as much as \
             the schedule: where one long task gates most others (bwa: the index build precedes \
             a hundred alignments) W/m cannot be reached, and where a file name is reused by \
             several jobs (Sipht_60, Montage) their write locks serialize more than any single \
             file's term counts. Compare policies on the same row.\n"
        );

        self.misses(&mut s);

        let _ = writeln!(s, "## Import check\n");
        if self.mismatches.is_empty() {
            let _ = writeln!(
                s,
                "The critical path and total work of all {} imported 50- and 100-task graphs equal \
                 the reference table's `cp_length` and `total_work`.",
                self.checked
            );
        } else {
            let _ = writeln!(
                s,
                "These imported graphs disagree with the reference table:\n"
            );
            for line in &self.mismatches {
                let _ = writeln!(s, "- {line}");
            }
        }
        s
    }

    fn tally_all(&self, kind: Kind, policy: usize, keep: impl Fn(&Case) -> bool) -> Tally {
        let mut tally = Tally::default();
        for case in self.cases.get(&kind).into_iter().flatten() {
            if keep(case) {
                let name = format!(
                    "{} (m = {})",
                    self.graphs[case.graph].name, AGENT_COUNTS[case.m_index]
                );
                tally.add(self.makespan(case, policy), case.target_ms, &name);
            }
        }
        tally
    }

    /// Rows (m, policy): instances, hits, share, mean and worst ratio.
    fn policy_table(
        &self,
        s: &mut String,
        kind: Kind,
        keep: impl Fn(&Case) -> bool + Copy,
        hit: &str,
    ) {
        let _ = writeln!(
            s,
            "| m | policy | instances | {hit} | share | within 1% | mean ratio | worst ratio | worst graph |"
        );
        let _ = writeln!(s, "|---:|---|---:|---:|---:|---:|---:|---:|---|");
        for (i, m) in AGENT_COUNTS.iter().enumerate() {
            for (p, policy) in Policy::ALL.iter().enumerate() {
                let t = self.tally(kind, i, p, keep);
                if t.count == 0 {
                    continue;
                }
                let _ = writeln!(
                    s,
                    "| {m} | {policy} | {} | {} | {} | {} | {:.4} | {:.4} | {} |",
                    t.count,
                    t.hits,
                    t.share(),
                    percent(t.close, t.count),
                    t.mean(),
                    t.worst,
                    t.worst_name
                );
            }
        }
        let _ = writeln!(s);
    }

    /// One row per graph: the makespan and ratio at each m (critical-path), or with
    /// `all_policies` one column group per policy at each m.
    fn per_graph_table(&self, s: &mut String, kind: Kind, all_policies: bool) {
        let cases: Vec<&Case> = self.cases.get(&kind).into_iter().flatten().collect();
        let policies: Vec<usize> = if all_policies {
            (0..Policy::ALL.len()).collect()
        } else {
            vec![0]
        };
        let _ = write!(s, "| graph | tasks |");
        if all_policies {
            let _ = write!(s, " m | LB |");
            for p in &policies {
                let _ = write!(s, " {} |", Policy::ALL[*p]);
            }
            let _ = writeln!(s);
            let _ = writeln!(s, "|---|---:|---:|---:|{}", "---:|".repeat(policies.len()));
            for case in &cases {
                let graph = &self.graphs[case.graph];
                let _ = write!(
                    s,
                    "| {} | {} | {} | {} |",
                    graph.name,
                    graph.plan.len(),
                    AGENT_COUNTS[case.m_index],
                    units(case.target_ms)
                );
                for p in &policies {
                    let made = self.makespan(case, *p);
                    let _ = write!(s, " {} ({:.3}) |", units(made), ratio(made, case.target_ms));
                }
                let _ = writeln!(s);
            }
        } else {
            for m in AGENT_COUNTS {
                let _ = write!(s, " m = {m} |");
            }
            let _ = writeln!(s);
            let _ = writeln!(s, "|---|---:|{}", "---:|".repeat(AGENT_COUNTS.len()));
            let mut rows: BTreeMap<usize, Vec<&Case>> = BTreeMap::new();
            for case in &cases {
                rows.entry(case.graph).or_default().push(case);
            }
            for (graph, row) in rows {
                let g = &self.graphs[graph];
                let _ = write!(s, "| {} | {} |", g.name, g.plan.len());
                for case in row {
                    let made = self.makespan(case, 0);
                    let _ = write!(
                        s,
                        " {} ({:.3}) |",
                        seconds(made),
                        ratio(made, case.target_ms)
                    );
                }
                let _ = writeln!(s);
            }
        }
        let _ = writeln!(s);
    }

    /// Where critical-path misses a proven optimum, by how much, and what tie-breaking and
    /// a search over tie-break orders would change.
    fn misses(&self, s: &mut String) {
        let proven: Vec<&Case> = self
            .cases
            .get(&Kind::Random)
            .into_iter()
            .flatten()
            .filter(|c| c.proven)
            .collect();
        let mut misses: Vec<(&Case, Time)> = proven
            .iter()
            .map(|&c| (c, self.makespan(c, 0)))
            .filter(|(c, made)| *made > c.target_ms)
            .collect();
        let _ = writeln!(s, "## Where critical-path misses the optimum, and why\n");
        let _ = writeln!(
            s,
            "Critical-path is list scheduling by bottom level (HLFET): whenever an agent is free \
             it takes the ready task with the longest path to the end, and it never keeps an \
             agent idle while a task is ready. P | prec | Cmax is NP-hard; the published optima \
             come from branch and bound. A greedy one-pass schedule misses when reaching the \
             optimum needs a choice that looks worse locally: at small m the optimum is almost \
             always ceil(W/m), a packing with (nearly) no idle agent time, and one early choice \
             that strands a long task near the end costs a time unit or two; at m = 16 the \
             optimum is the critical path, which bottom-level order nearly always reaches.\n"
        );
        let _ = writeln!(
            s,
            "| m | proven instances | misses | optimum = max(CP, ceil(W/m)) among misses | off by 1 unit | by 2 | by 3 or more |"
        );
        let _ = writeln!(s, "|---:|---:|---:|---:|---:|---:|---:|");
        for (i, &m) in AGENT_COUNTS.iter().enumerate() {
            let total = proven.iter().filter(|c| c.m_index == i).count();
            let at_m: Vec<&(&Case, Time)> = misses.iter().filter(|(c, _)| c.m_index == i).collect();
            let trivial = at_m
                .iter()
                .filter(|(c, _)| {
                    let (cp, work) = self.graphs[c.graph].cp_and_work_s();
                    cp.max(work.div_ceil(m as u64)) * SECOND_MS == c.target_ms
                })
                .count();
            let gap = |lo: Time, hi: Time| {
                at_m.iter()
                    .filter(|(c, made)| {
                        let units = (made - c.target_ms) / SECOND_MS;
                        units >= lo && units <= hi
                    })
                    .count()
            };
            let _ = writeln!(
                s,
                "| {m} | {total} | {} | {trivial} | {} | {} | {} |",
                at_m.len(),
                gap(1, 1),
                gap(2, 2),
                gap(3, Time::MAX)
            );
        }
        let _ = writeln!(s);

        let _ = writeln!(s, "### Tie-breaking and search\n");
        let _ = writeln!(
            s,
            "The same policy with ties of bottom level broken another way (the graph's tasks \
             reordered, since plan order is the last key). The last row keeps, per instance, the \
             best of the default and {RANDOM_ORDERS} random orders: a search a planner could run \
             before dispatching, not a dispatch rule. Share of the {} proven instances solved \
             optimally:\n",
            proven.len()
        );
        let _ = write!(s, "| tie-break |");
        for m in AGENT_COUNTS {
            let _ = write!(s, " m = {m} |");
        }
        let _ = writeln!(s, " all | mean ratio |");
        let _ = writeln!(s, "|---|{}---:|---:|", "---:|".repeat(AGENT_COUNTS.len()));
        for (v, name) in TIE_BREAKS.iter().enumerate() {
            let _ = write!(s, "| {name} |");
            let mut hits_all = 0;
            let mut sum = 0.0;
            for i in 0..AGENT_COUNTS.len() {
                let (mut hits, mut count) = (0, 0);
                for c in proven.iter().filter(|c| c.m_index == i) {
                    let Some(rows) = &self.graphs[c.graph].tie_breaks else {
                        continue;
                    };
                    let made = rows[i][v];
                    count += 1;
                    hits += usize::from(made <= c.target_ms);
                    sum += ratio(made, c.target_ms);
                }
                hits_all += hits;
                let _ = write!(s, " {} |", percent(hits, count));
            }
            let _ = writeln!(
                s,
                " {} | {:.4} |",
                percent(hits_all, proven.len()),
                sum / proven.len().max(1) as f64
            );
        }
        let _ = writeln!(
            s,
            "\nThe fixed rules stay within a few points of plan order, some above and some below; \
             the spread between orders is what the search exploits. So the gap is the one-pass \
             greedy choice, not a poor rule for ties.\n"
        );
        let _ = writeln!(
            s,
            "What came of it: the plan-time search is the `optimized` policy (see the \
             optimizer's table above). It searches schedules, not tie-break orders, and the core \
             follows the schedule it finds; with random durations it keeps critical-path order \
             unless the schedule or its planned-start order measurably does better on samples of \
             the scenario's own models (the robustness table).\n"
        );

        misses.sort_by(|a, b| {
            ratio(b.1, b.0.target_ms)
                .total_cmp(&ratio(a.1, a.0.target_ms))
                .then(a.0.graph.cmp(&b.0.graph))
                .then(a.0.m_index.cmp(&b.0.m_index))
        });
        let shown = misses.len().min(WORST_SHOWN);
        let _ = writeln!(s, "### The {shown} largest misses\n");
        let _ = writeln!(
            s,
            "| graph | m | makespan | optimum | ratio | CP | ceil(W/m) | best of the tie-break variants |"
        );
        let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|---:|---:|");
        for (case, made) in misses.iter().take(shown) {
            let graph = &self.graphs[case.graph];
            let (cp, work) = graph.cp_and_work_s();
            let m = AGENT_COUNTS[case.m_index] as u64;
            let best = graph
                .tie_breaks
                .as_ref()
                .and_then(|rows| rows[case.m_index].iter().min().copied())
                .unwrap_or(*made);
            let _ = writeln!(
                s,
                "| {} | {m} | {} | {} | {:.4} | {cp} | {} | {} |",
                graph.name,
                units(*made),
                units(case.target_ms),
                ratio(*made, case.target_ms),
                work.div_ceil(m),
                units(best)
            );
        }
        let _ = writeln!(s);
    }
}

/// How many of the largest misses the report lists.
const WORST_SHOWN: usize = 20;

fn percent(hits: usize, count: usize) -> String {
    if count == 0 {
        "-".to_string()
    } else {
        format!("{:.1}%", 100.0 * hits as f64 / count as f64)
    }
}

/// Counts of makespans at or below their yardstick, and the ratios.
#[derive(Default)]
struct Tally {
    count: usize,
    hits: usize,
    /// Makespans within 1 % of the yardstick.
    close: usize,
    sum: f64,
    worst: f64,
    worst_name: String,
}

impl Tally {
    fn add(&mut self, made: Time, target: Time, name: &str) {
        let r = ratio(made, target);
        self.count += 1;
        if made <= target {
            self.hits += 1;
        }
        if r <= 1.01 {
            self.close += 1;
        }
        self.sum += r;
        if r > self.worst {
            self.worst = r;
            self.worst_name = name.to_string();
        }
    }

    fn mean(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.sum / self.count as f64
        }
    }

    fn share(&self) -> String {
        percent(self.hits, self.count)
    }
}

/// `/proc/loadavg`'s three averages, or `unknown`.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|| "unknown".to_string())
}

fn ratio(made: Time, target: Time) -> f64 {
    if target == 0 {
        1.0
    } else {
        made as f64 / target as f64
    }
}

/// Whole STG time units (seconds).
fn units(ms: Time) -> String {
    if ms.is_multiple_of(SECOND_MS) {
        (ms / SECOND_MS).to_string()
    } else {
        seconds(ms)
    }
}

fn seconds(ms: Time) -> String {
    format!("{:.1}", ms as f64 / SECOND_MS as f64)
}
