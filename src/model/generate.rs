//! Synthetic plans: a layered random DAG of any size, deterministic from a seed, for
//! what-if runs on plans shaped like real ones and for the benchmarks.
//!
//! The shape: tasks fill layers of about `width` tasks each; a task of layer k > 0 waits for
//! one random task of layer k-1 (so its layer is exactly k) and for a few more drawn from
//! the few layers before it, about [`GenParams::deps_per_task`] in all. A share of the tasks
//! ([`GenParams::hot_fraction`]) writes or reads one of a small set of hot files, the
//! contention real plans have around shared modules. Estimates are whole minutes; the
//! `[simulation]` table turns failures and duration noise on.
//!
//! The same parameters give the same plan on every machine: every draw comes from one
//! ChaCha8 stream seeded by [`GenParams::seed`]. This is input making, not a run, so it is
//! the one place outside the simulator that draws random numbers.

use super::{
    AgentFile, AgentSpec, ConfigFile, DurationModel, DurationText, MINUTE_MS, Policy, Priority,
    Scenario, ScenarioFile, SimulationFile, SourceInfo, TaskFile, TaskSpec, TaskType, TimeUnit,
};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// What to generate. [`GenParams::new`] gives the defaults the benchmarks use.
#[derive(Debug, Clone, PartialEq)]
pub struct GenParams {
    /// Number of tasks (at least 1).
    pub tasks: usize,
    /// Number of identical agents (`[[agents]] count`), also `max_agents`.
    pub agents: u32,
    /// Seed of the plan's shape and of its `[simulation]` table.
    pub seed: u64,
    /// Tasks per layer on average; 0 chooses `ceil(sqrt(tasks))`.
    pub width: usize,
    /// Mean number of dependencies of a task outside the first layer (1 to 5 each).
    pub deps_per_task: f64,
    /// Share of tasks that lock a hot file.
    pub hot_fraction: f64,
    /// Number of hot files; 0 chooses `ceil(sqrt(tasks) / 3)`.
    pub hot_files: usize,
    /// Failure probability of each attempt in `[simulation]`.
    pub failure_probability: f64,
    /// σ of the log-normal duration model; 0 writes the fixed model.
    pub duration_spread: f64,
    /// Dispatch policy written in `[config]` (`None`: the default).
    pub policy: Option<Policy>,
    /// Context sharing (on by default). In simulation a shared discovery shortens the
    /// attempts that receive it, so durations are only exactly the estimates with it off.
    pub context_sharing: bool,
}

impl GenParams {
    /// `tasks` tasks on `agents` agents: about 3 dependencies per task, 10% of tasks on hot
    /// files, 5% of attempts failing, durations log-normal with σ 0.3.
    pub fn new(tasks: usize, agents: u32, seed: u64) -> GenParams {
        GenParams {
            tasks,
            agents,
            seed,
            width: 0,
            deps_per_task: 3.0,
            hot_fraction: 0.1,
            hot_files: 0,
            failure_probability: 0.05,
            duration_spread: 0.3,
            policy: None,
            context_sharing: true,
        }
    }

    /// Every attempt lasts exactly its estimate and succeeds: fixed durations, no
    /// failures, no context sharing (whose simulated discoveries shorten attempts). The
    /// plan a deterministic peer model can replay.
    pub fn deterministic(mut self) -> GenParams {
        self.failure_probability = 0.0;
        self.duration_spread = 0.0;
        self.context_sharing = false;
        self
    }

    fn width(&self) -> usize {
        if self.width > 0 {
            self.width
        } else {
            (self.tasks as f64).sqrt().ceil().max(1.0) as usize
        }
    }

    fn hot_file_count(&self) -> usize {
        if self.hot_files > 0 {
            self.hot_files
        } else {
            ((self.tasks as f64).sqrt() / 3.0).ceil().max(1.0) as usize
        }
    }
}

/// Attempt timeout written in `[config]`: far above any drawn duration (estimates are at
/// most 20 minutes), so only hangs would time out.
const TASK_TIMEOUT: &str = "4h";
/// Longest estimate, minutes.
const MAX_ESTIMATE_MIN: u32 = 20;
/// How many layers back the extra dependencies may reach.
const DEP_WINDOW_LAYERS: usize = 3;

/// Task types with weights: mostly features, then tests and fixes.
const TYPE_WEIGHTS: [(TaskType, u32); 7] = [
    (TaskType::FeatureImplementation, 40),
    (TaskType::Testing, 20),
    (TaskType::BugFix, 15),
    (TaskType::Refactoring, 10),
    (TaskType::Documentation, 7),
    (TaskType::Integration, 5),
    (TaskType::Deployment, 3),
];

/// One generated task before it is written in either form.
struct Drawn {
    task_type: TaskType,
    priority: Priority,
    estimate_min: u32,
    deps: Vec<usize>,
    /// A hot file's number and whether the task writes it.
    hot: Option<(usize, bool)>,
}

/// Draws every task in plan order and hands each to `each`.
fn draw(params: &GenParams, mut each: impl FnMut(usize, Drawn)) {
    assert!(params.tasks > 0, "a plan needs at least one task");
    let mut rng = ChaCha8Rng::seed_from_u64(params.seed);
    let width = params.width();
    let hot_files = params.hot_file_count();
    let total_weight: u32 = TYPE_WEIGHTS.iter().map(|(_, w)| w).sum();
    // Start index of each layer drawn so far; layer sizes vary ±50% around the width.
    let mut layer_start: Vec<usize> = vec![0];
    let mut layer_end = width.max(1);
    // Extra dependencies beyond the first: mean deps_per_task - 1, from 0 to 4.
    let extra_mean = (params.deps_per_task - 1.0).clamp(0.0, 4.0);
    let mut deps = Vec::with_capacity(5);
    for i in 0..params.tasks {
        if i == layer_end {
            layer_start.push(i);
            let half = width / 2;
            layer_end = i + (width - half + rng.random_range(0..=2 * half)).max(1);
        }
        let layer = layer_start.len() - 1;
        deps.clear();
        if layer > 0 {
            let prev = layer_start[layer - 1]..layer_start[layer];
            deps.push(rng.random_range(prev));
            let window_from = layer_start[layer.saturating_sub(DEP_WINDOW_LAYERS)];
            let window = window_from..layer_start[layer];
            // Four coin flips with p = extra_mean / 4 give 0..=4 extra dependencies.
            let extra = (0..4)
                .filter(|_| rng.random::<f64>() < extra_mean / 4.0)
                .count();
            for _ in 0..extra {
                let d = rng.random_range(window.clone());
                if !deps.contains(&d) {
                    deps.push(d);
                }
            }
            deps.sort_unstable();
        }
        let mut pick = rng.random_range(0..total_weight);
        let mut task_type = TaskType::FeatureImplementation;
        for &(ty, w) in &TYPE_WEIGHTS {
            if pick < w {
                task_type = ty;
                break;
            }
            pick -= w;
        }
        let priority = match rng.random_range(0..20u32) {
            0 => Priority::Critical,
            1..=4 => Priority::High,
            5..=16 => Priority::Medium,
            _ => Priority::Low,
        };
        let estimate_min = rng.random_range(1..=MAX_ESTIMATE_MIN);
        let hot = (rng.random::<f64>() < params.hot_fraction)
            .then(|| (rng.random_range(0..hot_files), rng.random::<bool>()));
        each(
            i,
            Drawn {
                task_type,
                priority,
                estimate_min,
                deps: deps.clone(),
                hot,
            },
        );
    }
}

fn task_id(i: usize) -> String {
    format!("t{i}")
}

fn hot_path(f: usize) -> String {
    format!("src/shared/hot_{f}.rs")
}

fn config_file(params: &GenParams) -> ConfigFile {
    ConfigFile {
        max_agents: Some(params.agents),
        task_timeout: Some(DurationText::Text(TASK_TIMEOUT.to_string())),
        policy: params.policy,
        enable_context_sharing: (!params.context_sharing).then_some(false),
        ..ConfigFile::default()
    }
}

fn simulation_file(params: &GenParams) -> SimulationFile {
    SimulationFile {
        seed: Some(params.seed),
        duration: Some(if params.duration_spread > 0.0 {
            DurationModel::Lognormal {
                spread: params.duration_spread,
                median: None,
            }
        } else {
            DurationModel::Fixed
        }),
        failure_probability: (params.failure_probability > 0.0)
            .then_some(params.failure_probability),
        ..SimulationFile::default()
    }
}

/// The generated plan as a scenario file, ready to write as TOML or JSON.
pub fn generate_file(params: &GenParams) -> ScenarioFile {
    let mut tasks = Vec::with_capacity(params.tasks);
    draw(params, |i, d| {
        let (modify, read) = split_hot(d.hot);
        tasks.push(TaskFile {
            id: task_id(i),
            title: None,
            description: None,
            task_type: Some(d.task_type),
            priority: Some(d.priority),
            estimated_duration: DurationText::Number(d.estimate_min as f64),
            depends_on: d.deps.iter().map(|&p| task_id(p)).collect(),
            blocked_by: Vec::new(),
            files_to_modify: modify,
            files_to_read: read,
            metadata: Default::default(),
            timeout: None,
            command: None,
        });
    });
    ScenarioFile {
        tasks,
        ..settings_file(params)
    }
}

/// Everything of the scenario file but its tasks.
fn settings_file(params: &GenParams) -> ScenarioFile {
    ScenarioFile {
        time_unit: TimeUnit::Minutes,
        config: config_file(params),
        agents: vec![AgentFile {
            count: Some(params.agents),
            ..AgentFile::default()
        }],
        tasks: Vec::new(),
        simulation: Some(simulation_file(params)),
    }
}

fn split_hot(hot: Option<(usize, bool)>) -> (Vec<String>, Vec<String>) {
    match hot {
        Some((f, true)) => (vec![hot_path(f)], Vec::new()),
        Some((f, false)) => (Vec::new(), vec![hot_path(f)]),
        None => (Vec::new(), Vec::new()),
    }
}

/// The generated plan resolved in memory, without a file: the same tasks, agents and
/// config as reading [`generate_file`]'s output, but one copy of the tasks instead of two
/// (its `file` keeps the config, agents and `[simulation]` table, not the tasks).
pub fn generate(params: &GenParams) -> Scenario {
    let mut tasks = Vec::with_capacity(params.tasks);
    draw(params, |i, d| {
        let (modify, read) = split_hot(d.hot);
        let id = task_id(i);
        let mut spec = TaskSpec::new(&id, d.task_type, d.estimate_min as u64 * MINUTE_MS);
        spec.priority = d.priority;
        spec.depends_on = d.deps.iter().map(|&p| task_id(p)).collect();
        spec.files_to_modify = modify;
        spec.files_to_read = read;
        tasks.push(spec);
    });
    let (mut scenario, issues) = Scenario::resolve(
        settings_file(params),
        SourceInfo {
            origin: format!(
                "<generated: {}, seed {}>",
                super::count(params.tasks, "task", "tasks"),
                params.seed
            ),
            task_lines: Vec::new(),
            simulation_file: None,
        },
    );
    debug_assert!(
        issues.is_empty(),
        "generated settings are valid: {issues:?}"
    );
    scenario.tasks = tasks;
    scenario
}

/// `agents` generalist agents `agent_1` … as a generated plan declares them.
pub fn generated_agents(agents: u32) -> Vec<AgentSpec> {
    (1..=agents)
        .map(|n| AgentSpec::new(&format!("agent_{n}")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_and_the_in_memory_plan_agree() {
        let params = GenParams::new(500, 7, 3);
        let file = generate_file(&params);
        let (read, issues) = Scenario::resolve(file, SourceInfo::default());
        assert!(issues.is_empty(), "{issues:?}");
        let made = generate(&params);
        assert_eq!(read.tasks, made.tasks);
        assert_eq!(read.agents, made.agents);
        assert_eq!(read.agents, generated_agents(7));
        assert_eq!(read.config, made.config);
        assert_eq!(read.file.simulation, made.file.simulation);
    }

    #[test]
    fn generated_plans_validate_with_every_estimate_within_its_timeout() {
        // The shape flags do not change estimates or the timeout; the extremes of the
        // estimate range are drawn at this size.
        let file = generate_file(&GenParams::new(20_000, 3, 5));
        let (read, issues) = Scenario::resolve(file, SourceInfo::default());
        assert!(issues.is_empty(), "{issues:?}");
        let longest = read.tasks.iter().map(|t| t.estimated_duration_ms).max();
        assert_eq!(longest, Some(MAX_ESTIMATE_MIN as u64 * MINUTE_MS));
        assert!(longest.unwrap() < read.config.task_timeout_ms);
    }

    #[test]
    fn toml_and_json_round_trip() {
        let params = GenParams::new(50, 3, 9);
        let file = generate_file(&params);
        let made = generate(&params);
        let toml_text = toml::to_string(&file).unwrap();
        let (read, issues) =
            Scenario::parse(&toml_text, super::super::Format::Toml, "g.toml").unwrap();
        assert!(issues.is_empty(), "{issues:?}");
        assert_eq!(read.tasks, made.tasks);
        assert_eq!(read.source.task_lines.len(), 50);
        let json_text = serde_json::to_string(&file).unwrap();
        let (read, _) = Scenario::parse(&json_text, super::super::Format::Json, "g.json").unwrap();
        assert_eq!(read.tasks, made.tasks);
        assert_eq!(read.file.simulation, made.file.simulation);
    }

    #[test]
    fn same_seed_same_plan_and_the_shape_is_as_documented() {
        let params = GenParams::new(10_000, 10, 42);
        let a = generate(&params);
        assert_eq!(a.tasks, generate(&params).tasks);
        assert_ne!(a.tasks, generate(&GenParams { seed: 43, ..params }).tasks);
        let deps: usize = a.tasks.iter().map(|t| t.depends_on.len()).sum();
        let with_deps = a.tasks.iter().filter(|t| !t.depends_on.is_empty()).count();
        let mean = deps as f64 / with_deps as f64;
        assert!((2.7..3.1).contains(&mean), "mean dependencies {mean}");
        let hot = a
            .tasks
            .iter()
            .filter(|t| !t.files_to_modify.is_empty() || !t.files_to_read.is_empty())
            .count();
        assert!((800..1200).contains(&hot), "{hot} tasks on hot files");
        // Layers: one more than the deepest dependency; about sqrt(10 000) = 100 of them.
        let mut layer = vec![0usize; a.tasks.len()];
        for (i, t) in a.tasks.iter().enumerate() {
            for d in &t.depends_on {
                let d: usize = d[1..].parse().unwrap();
                assert!(d < i, "dependencies come earlier in the plan");
                layer[i] = layer[i].max(layer[d] + 1);
            }
        }
        let layers = layer.iter().max().unwrap() + 1;
        assert!((80..125).contains(&layers), "{layers} layers");
    }
}
