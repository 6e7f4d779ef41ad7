//! Generators: random plans, agents, settings and fault schedules, as one [`Case`].
//!
//! A case is a compact description (small integers, so a shrunk failure prints readably)
//! that [`Case::build`] turns into a validated plan, agents and a [`Config`] for one policy.
//! Alongside the plan it keeps what the generator knows for sure, so the checks do not have
//! to trust the code they check: each task's dependencies by kind, its layer, and its locks
//! by *canonical* file, whatever spelling of the path the task used.
//!
//! Shapes: the DAG is built over nodes `0..n` where node `i` draws its dependencies from
//! the `window` nodes before it, at most `fan_in` of them, so a small window gives deep,
//! narrow graphs and a large one wide, shallow graphs; the nodes are then shuffled into plan
//! order so plan order is not a topological order. Files come from a small pool so locks
//! overlap often, each path written in one of several spellings of the same file.

use proptest::collection::vec;
use proptest::prelude::*;
use std::sync::Arc;
use taskdist::model::{
    AgentSpec, Config, Dispatch, Policy, Priority, Scenario, Schedule, TaskSpec, TaskType, Time,
};
use taskdist::plan::{LockMode, Plan, TaskIdx};

/// The task types cases use: few, so capabilities matter.
pub const TYPES: [TaskType; 3] = [
    TaskType::FeatureImplementation,
    TaskType::BugFix,
    TaskType::Testing,
];

/// Agent speeds; the first is what shrinking goes to.
const SPEEDS: [f64; 4] = [1.0, 0.5, 1.5, 2.0];

/// One task of a case.
#[derive(Debug, Clone)]
pub struct TaskGen {
    /// Dependencies as `(distance back, blocked_by instead of depends_on)`.
    pub preds: Vec<(u16, bool)>,
    /// Index into [`TYPES`].
    pub ty: u8,
    /// 0 critical .. 3 low.
    pub priority: u8,
    /// Estimated duration.
    pub estimate_ms: u16,
    /// Its own timeout, if any.
    pub timeout_ms: Option<u16>,
    /// Files read, as `(canonical file, spelling)`.
    pub reads: Vec<(u8, u8)>,
    /// Files written, as `(canonical file, spelling)`.
    pub writes: Vec<(u8, u8)>,
    /// Sort key of its place in the plan (ties by node): plan order is not node order.
    pub place: u16,
}

/// One agent of a case.
#[derive(Debug, Clone)]
pub struct AgentGen {
    /// Bit `k` set: runs `TYPES[k]`; `None`: runs everything.
    pub caps: Option<u8>,
    /// `max_concurrent_tasks`.
    pub slots: u8,
    /// Index into the speed table.
    pub speed: u8,
    /// When it first comes up.
    pub join_at_ms: u16,
}

/// Scheduler settings of a case (the policy is chosen per run).
#[derive(Debug, Clone)]
pub struct Knobs {
    /// `max_retries_per_task`.
    pub max_retries: u32,
    /// `task_timeout_ms`.
    pub task_timeout_ms: u16,
    /// `enable_file_conflict_prevention`.
    pub locks: bool,
    /// `enable_context_sharing`.
    pub sharing: bool,
    /// `enable_auto_reassignment`.
    pub reassign: bool,
    /// `backoff_base_ms`.
    pub backoff_base_ms: u16,
    /// `backoff_max_ms` is the base plus this.
    pub backoff_extra_ms: u16,
    /// `heartbeat_timeout_ms`.
    pub heartbeat_ms: Option<u16>,
    /// `max_agents`, when it may be fewer than the agents.
    pub max_agents: Option<u8>,
    /// `jitter_seed`.
    pub jitter_seed: u64,
}

/// A scripted crash of one agent.
#[derive(Debug, Clone)]
pub struct CrashGen {
    /// Agent, modulo the number of agents.
    pub agent: u8,
    /// When.
    pub at_ms: u16,
    /// Back after this long.
    pub down_for_ms: u16,
    /// Goes silent (found out by heartbeat or timeouts) rather than saying goodbye.
    pub silent: bool,
}

/// What goes wrong, in per-mille chances per attempt, drawn from `seed` by (task, attempt)
/// so a fate does not depend on the order things happen in.
#[derive(Debug, Clone)]
pub struct Faults {
    /// Seed of every per-attempt draw.
    pub seed: u64,
    /// An attempt reports failure.
    pub fail: u16,
    /// An attempt never reports (only its timeout ends it).
    pub hang: u16,
    /// Durations vary by up to this percentage around `estimate / speed`.
    pub spread_pct: u8,
    /// A hung attempt reports anyway, after it was timed out.
    pub late: u16,
    /// A result is sent twice.
    pub duplicate: u16,
    /// Some other agent (or a nonsense index) reports this attempt.
    pub misroute: u16,
    /// The agent says `task_started`.
    pub started: u16,
    /// A success shares a discovery or a solution.
    pub share: u16,
    /// Scripted crashes.
    pub crashes: Vec<CrashGen>,
    /// At equal times, the core's deadlines fire before the driver's happenings.
    pub timeouts_first: bool,
}

/// Everything one property run needs.
#[derive(Debug, Clone)]
pub struct Case {
    /// Tasks by node (a topological order).
    pub tasks: Vec<TaskGen>,
    /// Agents, in the driver's order.
    pub agents: Vec<AgentGen>,
    /// Settings.
    pub knobs: Knobs,
    /// Faults.
    pub faults: Faults,
}

/// How a task depends on another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dep {
    /// `depends_on`: needs success.
    Needs,
    /// `blocked_by`: needs an end.
    After,
}

/// A case made concrete for one policy.
pub struct Built {
    /// The validated plan.
    pub plan: Arc<Plan>,
    /// The settings.
    pub config: Config,
    /// The agents, in the driver's order.
    pub agents: Vec<AgentSpec>,
    /// By plan index: dependencies as generated.
    pub preds: Vec<Vec<(TaskIdx, Dep)>>,
    /// By plan index: dependents that need it to succeed.
    pub needed_by: Vec<Vec<TaskIdx>>,
    /// By plan index: longest path in edges from a source.
    pub layer: Vec<u32>,
    /// By plan index: locks on canonical files, the strongest mode of each.
    pub canon: Vec<Vec<(u8, LockMode)>>,
}

fn task_count() -> impl Strategy<Value = usize> {
    prop_oneof![4 => 1usize..=50, 4 => 50usize..=150, 2 => 150usize..=300]
}

fn task_gen(window: u16, fan_in: usize, files: u8, after: f64) -> impl Strategy<Value = TaskGen> {
    let file = (0..files, 0u8..5);
    (
        vec((1..=window, prop::bool::weighted(after)), 0..=fan_in),
        0..TYPES.len() as u8,
        0u8..4,
        prop_oneof![1 => Just(0u16), 20 => 1u16..=100],
        prop::option::weighted(0.1, 20u16..=200),
        vec(file.clone(), 0..=2),
        vec(file, 0..=2),
        any::<u16>(),
    )
        .prop_map(
            |(preds, ty, priority, estimate_ms, timeout_ms, reads, writes, place)| TaskGen {
                preds,
                ty,
                priority,
                estimate_ms,
                timeout_ms,
                reads,
                writes,
                place,
            },
        )
}

fn agent_gen() -> impl Strategy<Value = AgentGen> {
    (
        prop::option::weighted(0.5, 1u8..(1 << TYPES.len())),
        1u8..=3,
        0..SPEEDS.len() as u8,
        prop_oneof![4 => Just(0u16), 1 => 1u16..=300],
    )
        .prop_map(|(caps, slots, speed, join_at_ms)| AgentGen {
            caps,
            slots,
            speed,
            join_at_ms,
        })
}

fn knobs() -> impl Strategy<Value = Knobs> {
    (
        0u32..=3,
        prop_oneof![1 => 20u16..=200, 4 => 400u16..=1000],
        prop::bool::weighted(0.9),
        any::<bool>(),
        prop::bool::weighted(0.7),
        0u16..=50,
        0u16..=200,
        prop::option::weighted(0.6, 15u16..=200),
        prop::option::weighted(0.5, 1u8..=3),
        any::<u64>(),
    )
        .prop_map(
            |(
                max_retries,
                task_timeout_ms,
                locks,
                sharing,
                reassign,
                backoff_base_ms,
                backoff_extra_ms,
                heartbeat_ms,
                max_agents,
                jitter_seed,
            )| Knobs {
                max_retries,
                task_timeout_ms,
                locks,
                sharing,
                reassign,
                backoff_base_ms,
                backoff_extra_ms,
                heartbeat_ms,
                max_agents,
                jitter_seed,
            },
        )
}

fn per_mille(max: u16) -> impl Strategy<Value = u16> {
    prop_oneof![Just(0u16), 0..=max]
}

fn faults() -> impl Strategy<Value = Faults> {
    let crash = (any::<u8>(), 0u16..=2000, 1u16..=500, any::<bool>()).prop_map(
        |(agent, at_ms, down_for_ms, silent)| CrashGen {
            agent,
            at_ms,
            down_for_ms,
            silent,
        },
    );
    (
        any::<u64>(),
        (per_mille(400), per_mille(100), 0u8..=100),
        (
            per_mille(1000),
            per_mille(500),
            per_mille(200),
            per_mille(1000),
            per_mille(500),
        ),
        vec(crash, 0..=3),
        any::<bool>(),
    )
        .prop_map(
            |(
                seed,
                (fail, hang, spread_pct),
                (late, duplicate, misroute, started, share),
                crashes,
                timeouts_first,
            )| {
                Faults {
                    seed,
                    fail,
                    hang,
                    spread_pct,
                    late,
                    duplicate,
                    misroute,
                    started,
                    share,
                    crashes,
                    timeouts_first,
                }
            },
        )
}

/// A whole case: plan shape, tasks, agents, settings and faults.
pub fn case() -> impl Strategy<Value = Case> {
    (task_count(), 1u16..=64, 0usize..=5, 1u8..=6, 0u8..=30)
        .prop_flat_map(|(n, window, fan_in, files, after_pct)| {
            (
                // Up to `n`, so that shrinking can drop tasks.
                vec(
                    task_gen(window, fan_in, files, after_pct as f64 / 100.0),
                    1..=n,
                ),
                vec(agent_gen(), 1..=6),
                knobs(),
                faults(),
            )
        })
        .prop_map(|(tasks, agents, knobs, faults)| Case {
            tasks,
            agents,
            knobs,
            faults,
        })
}

/// A case without faults of any kind: no failures, hangs, crashes, stale reports, and no
/// task timeout that an attempt could reach.
pub fn calm(mut case: Case) -> Case {
    case.faults = Faults {
        fail: 0,
        hang: 0,
        spread_pct: 0,
        late: 0,
        duplicate: 0,
        misroute: 0,
        crashes: Vec::new(),
        ..case.faults
    };
    for task in &mut case.tasks {
        task.timeout_ms = None;
    }
    case.knobs.task_timeout_ms = u16::MAX;
    case
}

/// The path of canonical file `file` in one of five spellings that all normalize to it.
fn spell(file: u8, spelling: u8) -> String {
    match spelling {
        0 => format!("src/m{file}/lib.rs"),
        1 => format!("./src/m{file}/lib.rs"),
        2 => format!("src//m{file}/./lib.rs"),
        3 => format!("src/other/../m{file}/lib.rs"),
        _ => format!("src\\m{file}\\lib.rs"),
    }
}

impl Case {
    /// The plan, agents and settings of this case under `policy`.
    pub fn build(&self, policy: Policy) -> Built {
        let n = self.tasks.len();
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by_key(|&node| (self.tasks[node].place, node));
        let mut position = vec![0; n];
        for (p, &node) in order.iter().enumerate() {
            position[node] = p;
        }
        // Dependencies by node; a node named twice keeps `Needs`, as the plan does.
        let mut node_preds: Vec<Vec<(usize, Dep)>> = Vec::with_capacity(n);
        let mut layer_of_node = vec![0u32; n];
        for (i, task) in self.tasks.iter().enumerate() {
            let mut preds: Vec<(usize, Dep)> = Vec::new();
            for &(back, after) in &task.preds {
                let Some(p) = i.checked_sub(back as usize) else {
                    continue;
                };
                let dep = if after { Dep::After } else { Dep::Needs };
                match preds.iter_mut().find(|(q, _)| *q == p) {
                    Some(entry) if dep == Dep::Needs => entry.1 = Dep::Needs,
                    Some(_) => {}
                    None => preds.push((p, dep)),
                }
            }
            layer_of_node[i] = preds
                .iter()
                .map(|&(p, _)| layer_of_node[p] + 1)
                .max()
                .unwrap_or(0);
            node_preds.push(preds);
        }

        let id = |node: usize| format!("t{node}");
        let mut tasks = Vec::with_capacity(n);
        let mut preds = vec![Vec::new(); n];
        let mut needed_by = vec![Vec::new(); n];
        let mut layer = vec![0; n];
        let mut canon = vec![Vec::new(); n];
        for (p, &node) in order.iter().enumerate() {
            let g = &self.tasks[node];
            let mut spec = TaskSpec::new(&id(node), TYPES[g.ty as usize], g.estimate_ms as Time);
            spec.priority = [
                Priority::Critical,
                Priority::High,
                Priority::Medium,
                Priority::Low,
            ][g.priority as usize];
            spec.timeout_ms = g.timeout_ms.map(Time::from);
            for &(q, dep) in &node_preds[node] {
                match dep {
                    Dep::Needs => {
                        spec.depends_on.push(id(q));
                        needed_by[position[q]].push(TaskIdx(p as u32));
                    }
                    Dep::After => spec.blocked_by.push(id(q)),
                }
                preds[p].push((TaskIdx(position[q] as u32), dep));
            }
            let mut locks: Vec<(u8, LockMode)> = Vec::new();
            for (list, mode, paths) in [
                (&g.writes, LockMode::Write, &mut spec.files_to_modify),
                (&g.reads, LockMode::Read, &mut spec.files_to_read),
            ] {
                for &(file, spelling) in list {
                    paths.push(spell(file, spelling));
                    match locks.iter_mut().find(|(f, _)| *f == file) {
                        Some(entry) => entry.1 = entry.1.max(mode),
                        None => locks.push((file, mode)),
                    }
                }
            }
            canon[p] = locks;
            layer[p] = layer_of_node[node];
            tasks.push(spec);
        }

        let mut agents: Vec<AgentSpec> = self
            .agents
            .iter()
            .enumerate()
            .map(|(i, g)| {
                let mut spec = AgentSpec::new(&format!("a{i}"));
                spec.capabilities = g.caps.map(|bits| {
                    (0..TYPES.len())
                        .filter(|k| bits & (1 << k) != 0)
                        .map(|k| TYPES[k])
                        .collect()
                });
                spec.max_concurrent_tasks = g.slots as u32;
                spec.speed = SPEEDS[g.speed as usize];
                spec
            })
            .collect();
        // Every type a task has needs an agent that runs it, or the plan is rightly refused.
        for task in &tasks {
            if !agents.iter().any(|a| runs(a, task.task_type)) {
                agents[0].capabilities = None;
            }
        }

        let k = &self.knobs;
        let mut config = Config {
            max_agents: k.max_agents.map_or(agents.len() as u32, u32::from),
            max_retries_per_task: k.max_retries,
            task_timeout_ms: k.task_timeout_ms as Time,
            enable_file_conflict_prevention: k.locks,
            enable_context_sharing: k.sharing,
            enable_auto_reassignment: k.reassign,
            policy,
            backoff_base_ms: k.backoff_base_ms as Time,
            backoff_max_ms: (k.backoff_base_ms + k.backoff_extra_ms) as Time,
            heartbeat_timeout_ms: k.heartbeat_ms.map(Time::from),
            // The model requeues every lost attempt: no cap on losses.
            max_lost_per_task: u32::MAX,
            jitter_seed: k.jitter_seed,
            schedule: None,
        };
        let scenario = Scenario::from_parts(config.clone(), agents.clone(), tasks);
        let plan = match Plan::build(&scenario) {
            Ok(plan) => plan,
            Err(issues) => panic!("generated plan refused: {issues:?}"),
        };
        if policy == Policy::Optimized {
            // A small budget: the properties are about following a schedule and falling
            // back from it, not about its quality. A plan whose types the first
            // `max_agents` agents cannot all run gets none, and is dispatched in order.
            let budget = taskdist::optimize::Budget {
                decodes: 50,
                seed: 0,
                wall_cap: None,
            };
            if let Ok(out) =
                taskdist::optimize::optimize(&plan, &agents, config.max_agents as usize, budget)
            {
                // Every dispatch mode, picked by bits of the jitter seed the core does
                // not otherwise see this way.
                let dispatch = Dispatch::ALL[(k.jitter_seed >> 40) as usize % Dispatch::ALL.len()];
                config.schedule = Some(Arc::new(Schedule {
                    dispatch,
                    ..out.schedule
                }));
            }
        }
        Built {
            plan: Arc::new(plan),
            config,
            agents,
            preds,
            needed_by,
            layer,
            canon,
        }
    }
}

/// Whether `agent` may run `ty`, read straight from its capability list.
pub fn runs(agent: &AgentSpec, ty: TaskType) -> bool {
    agent
        .capabilities
        .as_ref()
        .is_none_or(|caps| caps.contains(&ty))
}

/// Whether two lock sets on canonical files conflict (same file, not both reading).
pub fn conflicting(a: &[(u8, LockMode)], b: &[(u8, LockMode)]) -> Option<u8> {
    a.iter().find_map(|&(f, m)| {
        b.iter()
            .find(|&&(g, n)| g == f && (m, n) != (LockMode::Read, LockMode::Read))
            .map(|_| f)
    })
}
