//! The simulator's models, resolved from the `[simulation]` table: durations, failures,
//! hangs, crashes and the effect of shared context, with per-type and per-task overrides
//! applied, and every bad value reported as an [`Issue`] before anything runs.

use crate::model::field_path::display_key;
use crate::model::{
    ContextModelFile, DurationModel, FileKind, Issue, IssueKind, KeyLines, ModelOverrides,
    SimulationFile, TaskType, Time, TimeUnit,
};
use crate::plan::{Plan, TaskIdx};
use rand::Rng;
use rand_distr::{Distribution, Exp1, LogNormal};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The largest σ of the log-normal duration model: at σ = 10 the longest of a million
/// draws is already some 10^13 times the median, past any use.
pub const MAX_SPREAD: f64 = 10.0;
/// The largest factor of the uniform duration model's `high`.
const MAX_FACTOR: f64 = 1000.0;

/// A duration model ready to sample.
#[derive(Debug, Clone)]
pub enum Durations {
    /// The estimate.
    Fixed,
    /// Log-normal factor with mean 1.
    Lognormal(LogNormal<f64>),
    /// Uniform factor.
    Uniform(f64, f64),
    /// Exponential factor with mean 1.
    Exponential,
    /// Observed durations.
    Empirical(Arc<[Time]>),
    /// Another model's draws times a factor (a sensitivity range's end: see
    /// [`SimModels::adjusted`]).
    Scaled(Arc<Durations>, f64),
    /// Observed factors of the estimate.
    Factors(Arc<[f64]>),
}

impl Durations {
    /// Draws a duration at speed 1 for a task estimated at `estimate_ms`.
    pub fn sample<R: Rng + ?Sized>(&self, estimate_ms: Time, rng: &mut R) -> f64 {
        let e = estimate_ms as f64;
        match self {
            Durations::Fixed => e,
            Durations::Lognormal(d) => e * d.sample(rng),
            Durations::Uniform(low, high) => {
                let u: f64 = rand::RngExt::random(rng);
                e * (low + (high - low) * u)
            }
            Durations::Exponential => {
                let x: f64 = Exp1.sample(rng);
                e * x
            }
            Durations::Empirical(samples) => {
                let i = rand::RngExt::random_range(rng, 0..samples.len());
                samples[i] as f64
            }
            Durations::Scaled(inner, factor) => inner.sample(estimate_ms, rng) * factor,
            Durations::Factors(factors) => {
                let i = rand::RngExt::random_range(rng, 0..factors.len());
                e * factors[i]
            }
        }
    }
}

/// The parameters for one task's attempts.
#[derive(Debug, Clone)]
pub struct Params {
    /// How long attempts take.
    pub durations: Durations,
    /// Chance an attempt fails.
    pub failure_probability: f64,
    /// Share of its duration a failed attempt runs (when `failure_durations` is unset).
    pub failed_fraction: f64,
    /// How long a failed attempt runs, as a model of its own (time-to-failure).
    pub failure_durations: Option<Durations>,
    /// Chance an attempt hangs.
    pub hang_probability: f64,
    /// 95 % interval of the durations' scale, as factors of `durations`, if known (a
    /// calibration's): the tornado's duration range.
    pub duration_interval: Option<(f64, f64)>,
    /// 95 % interval of `failure_probability`, if known: the tornado's failure range.
    pub failure_interval: Option<(f64, f64)>,
}

/// How shared context changes outcomes.
#[derive(Debug, Clone, PartialEq)]
pub struct ContextEffects {
    /// Chance a success shares a discovery about the files it wrote.
    pub discovery_probability: f64,
    /// Duration factor when a relevant discovery is received.
    pub discovery_speedup: f64,
    /// Failure factor when a solution for the type is received.
    pub solution_failure_factor: f64,
    /// Failure factor when errors of the same type are received.
    pub error_failure_factor: f64,
}

/// A scripted crash, resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct Crash {
    /// The agent's id.
    pub agent: String,
    /// When.
    pub at: Time,
    /// Back after this long, if ever.
    pub recover_after: Option<Time>,
}

/// Every model of a simulation.
#[derive(Debug, Clone)]
pub struct SimModels {
    /// Master seed from the file (the CLI may override it).
    pub seed: u64,
    by_type: [Params; 7],
    by_task: BTreeMap<TaskIdx, Params>,
    /// Mean time between random crashes per agent.
    pub crash_mtbf: Option<Time>,
    /// Recovery time after a random crash.
    pub crash_recovery: Option<Time>,
    /// Scripted crashes.
    pub crashes: Vec<Crash>,
    /// Heartbeat period of live agents (None: a third of the heartbeat timeout).
    pub heartbeat_interval: Option<Time>,
    /// Step limit (None: the default for the plan's size).
    pub max_steps: Option<u64>,
    /// Time from each assignment to its attempt's start.
    pub dispatch_overhead_ms: Time,
    /// The effect of sharing.
    pub context: ContextEffects,
}

impl SimModels {
    /// The models of a scenario's `[simulation]` table (absent: fixed durations, no
    /// faults), checked against the plan.
    pub fn resolve(
        file: Option<&SimulationFile>,
        unit: TimeUnit,
        plan: &Plan,
    ) -> Result<SimModels, Vec<Issue>> {
        SimModels::resolve_with_lines(file, unit, plan, None)
    }

    /// [`SimModels::resolve`], given where the keys of the `[simulation]` table are in the
    /// text it was read from: each issue then names the line of its field.
    pub fn resolve_with_lines(
        file: Option<&SimulationFile>,
        unit: TimeUnit,
        plan: &Plan,
        lines: Option<&KeyLines>,
    ) -> Result<SimModels, Vec<Issue>> {
        let default_file = SimulationFile::default();
        let file = file.unwrap_or(&default_file);
        let mut issues = Vec::new();
        let mut check = Checker {
            unit,
            lines,
            issues: &mut issues,
        };
        let top = At::top();
        let base = Params {
            durations: Durations::Fixed,
            failure_probability: 0.0,
            failed_fraction: 0.5,
            failure_durations: None,
            hang_probability: 0.0,
            duration_interval: None,
            failure_interval: None,
        };
        let global = check.apply(&base, &file.models(), &top);
        let by_type = TaskType::ALL.map(|ty| match file.types.get(&ty) {
            Some(o) => {
                let ty = ty.to_string();
                check.apply(&global, o, &top.below(&["types", &ty]))
            }
            None => global.clone(),
        });
        let mut by_task = BTreeMap::new();
        for (id, o) in &file.tasks {
            match plan.task_index(id) {
                Some(t) => {
                    let ty = plan.task(t).task_type;
                    let params = check.apply(&by_type[ty.index()], o, &top.below(&["tasks", id]));
                    by_task.insert(t, params);
                }
                // The line is that of the task's key: `id` is no key of the file.
                None => check.push(
                    IssueKind::BadValue {
                        owner: "simulation.tasks".to_string(),
                        field: "id",
                        message: format!("names unknown task `{id}`"),
                    },
                    &["simulation", "tasks", id],
                ),
            }
        }
        let crash_mtbf = check.duration(file.crash_mtbf.as_ref(), &top, "crash_mtbf");
        if crash_mtbf == Some(0) {
            check.bad(&top, "crash_mtbf", "must be longer than zero");
        }
        let crash_recovery = check.duration(file.crash_recovery.as_ref(), &top, "crash_recovery");
        let heartbeat_interval =
            check.duration(file.heartbeat_interval.as_ref(), &top, "heartbeat_interval");
        if heartbeat_interval == Some(0) {
            check.bad(&top, "heartbeat_interval", "must be longer than zero");
        }
        let dispatch_overhead_ms = check
            .duration(file.dispatch_overhead.as_ref(), &top, "dispatch_overhead")
            .unwrap_or(0);
        let mut crashes = Vec::new();
        for (i, crash) in file.crashes.iter().enumerate() {
            let owner = At {
                name: format!("simulation.crashes (agent `{}`)", crash.agent),
                path: vec!["simulation".into(), "crashes".into(), i.to_string()],
            };
            if !plan.agents.iter().any(|a| *a.id == *crash.agent) {
                check.bad(&owner, "agent", "names no agent of the scenario");
            }
            let at = check.duration(Some(&crash.at), &owner, "at").unwrap_or(0);
            let recover_after =
                check.duration(crash.recover_after.as_ref(), &owner, "recover_after");
            crashes.push(Crash {
                agent: crash.agent.clone(),
                at,
                recover_after,
            });
        }
        let context = check.context(
            file.context
                .as_ref()
                .unwrap_or(&ContextModelFile::default()),
        );
        if lines.is_some() {
            // In the order of the file, as the rest of a scenario's issues are.
            issues.sort_by_key(|issue| issue.line);
        }
        if issues.is_empty() {
            Ok(SimModels {
                seed: file.seed.unwrap_or(0),
                by_type,
                by_task,
                crash_mtbf,
                crash_recovery,
                crashes,
                heartbeat_interval,
                max_steps: file.max_steps,
                dispatch_overhead_ms,
                context,
            })
        } else {
            Err(issues)
        }
    }

    /// The models of a loaded scenario; problems are reported like any scenario error,
    /// naming the file the table was read from (the scenario's, or a calibration that
    /// replaced its table), each on the line of its field.
    pub fn for_scenario(
        scenario: &crate::model::Scenario,
        plan: &Plan,
    ) -> Result<SimModels, crate::model::ScenarioError> {
        let file = scenario.file.simulation.as_ref();
        SimModels::resolve(file, scenario.time_unit, plan).map_err(|issues| {
            // The text was dropped once parsed (a large plan is not held twice): it is read
            // again, now that lines are wanted. Should the file have changed since, the
            // issues found first stand, without lines.
            let lines = scenario
                .source
                .simulation_file
                .as_ref()
                .and_then(|(path, format, _)| {
                    let text = std::fs::read_to_string(path).ok()?;
                    KeyLines::read(&text, *format, &["simulation"])
                });
            let issues = lines
                .and_then(|lines| {
                    SimModels::resolve_with_lines(file, scenario.time_unit, plan, Some(&lines))
                        .err()
                })
                .filter(|with_lines| {
                    // The same issues, in the order of their lines.
                    with_lines.len() == issues.len()
                        && with_lines
                            .iter()
                            .all(|found| issues.iter().any(|first| first.kind == found.kind))
                })
                .unwrap_or(issues);
            let (origin, file) = match &scenario.source.simulation_file {
                Some((path, _, file)) => (path.display().to_string(), *file),
                None => (scenario.source.origin.clone(), FileKind::Scenario),
            };
            crate::model::ScenarioError::Invalid {
                origin,
                file,
                issues,
            }
        })
    }

    /// The parameters for a task: its own overrides, else its type's, else the global ones.
    pub fn params(&self, t: TaskIdx, task_type: TaskType) -> &Params {
        self.by_task
            .get(&t)
            .unwrap_or(&self.by_type[task_type.index()])
    }

    /// These models with the attempts of every task of `task_type` drawing
    /// `duration_factor` times as long and failing with a probability shifted by
    /// `failure_delta` (kept within 0 to 1), per-task overrides of that type included: one
    /// end of a sensitivity range (the tornado chart). The draws stay where they were, so
    /// runs of the adjusted models differ from the originals only by the change.
    pub fn adjusted(
        &self,
        plan: &Plan,
        task_type: TaskType,
        duration_factor: f64,
        failure_delta: f64,
    ) -> SimModels {
        let mut models = self.clone();
        let adjust = |p: &mut Params| {
            if duration_factor != 1.0 {
                p.durations = Durations::Scaled(Arc::new(p.durations.clone()), duration_factor);
            }
            p.failure_probability = (p.failure_probability + failure_delta).clamp(0.0, 1.0);
        };
        adjust(&mut models.by_type[task_type.index()]);
        for (t, params) in models.by_task.iter_mut() {
            if plan.task_type(*t) == task_type {
                adjust(params);
            }
        }
        models
    }

    /// The parameters of `task_type`'s attempts (without per-task overrides).
    pub fn type_params(&self, task_type: TaskType) -> &Params {
        &self.by_type[task_type.index()]
    }

    /// Whether runs differ by seed: some duration is drawn at random, or a fault can
    /// happen.
    pub fn is_random(&self) -> bool {
        self.has_faults()
            || self
                .by_type
                .iter()
                .chain(self.by_task.values())
                .any(|p| !matches!(p.durations, Durations::Fixed))
    }

    /// Whether any fault can happen (failures, hangs or crashes).
    pub fn has_faults(&self) -> bool {
        self.crash_mtbf.is_some()
            || !self.crashes.is_empty()
            || self
                .by_type
                .iter()
                .chain(self.by_task.values())
                .any(|p| p.failure_probability > 0.0 || p.hang_probability > 0.0)
    }
}

/// Where a checked value is: the owner its issues name, and the keys from the top of the
/// file to it, for the line of a field.
struct At {
    name: String,
    path: Vec<String>,
}

impl At {
    /// The `[simulation]` table.
    fn top() -> At {
        At {
            name: "simulation".to_string(),
            path: vec!["simulation".to_string()],
        }
    }

    /// The table at `keys` below this one, named by its path.
    fn below(&self, keys: &[&str]) -> At {
        At {
            name: keys.iter().fold(self.name.clone(), |name, key| {
                format!("{name}.{}", display_key(key))
            }),
            path: self
                .path
                .iter()
                .cloned()
                .chain(keys.iter().map(|k| k.to_string()))
                .collect(),
        }
    }

    /// The value of `key` in this table, named as this table: the fields of a `duration`
    /// model are named as their owner's (`simulation: `spread` …`).
    fn inside(&self, key: &str) -> At {
        At {
            name: self.name.clone(),
            path: self.path.iter().cloned().chain([key.to_string()]).collect(),
        }
    }
}

struct Checker<'a> {
    unit: TimeUnit,
    /// Where the table's keys are in the file's text, when it is known.
    lines: Option<&'a KeyLines>,
    issues: &'a mut Vec<Issue>,
}

impl Checker<'_> {
    /// Raises `kind`, on the line of the value at `path` (or of the nearest key above it
    /// that is written).
    fn push(&mut self, kind: IssueKind, path: &[&str]) {
        let line = self.lines.and_then(|lines| lines.nearest_line(path));
        self.issues.push(Issue::new(line, kind));
    }

    /// Raises an issue with `at`'s `field`, on that field's line.
    fn push_at(&mut self, kind: IssueKind, at: &At, field: &str) {
        let path: Vec<&str> = at.path.iter().map(String::as_str).chain([field]).collect();
        self.push(kind, &path);
    }

    fn bad(&mut self, at: &At, field: &'static str, message: &str) {
        let kind = IssueKind::BadValue {
            owner: at.name.clone(),
            field,
            message: message.to_string(),
        };
        self.push_at(kind, at, field);
    }

    fn duration(
        &mut self,
        value: Option<&crate::model::DurationText>,
        at: &At,
        field: &'static str,
    ) -> Option<Time> {
        match value?.to_millis(self.unit) {
            Ok(ms) => Some(ms),
            Err(error) => {
                let kind = IssueKind::BadDuration {
                    owner: at.name.clone(),
                    field,
                    error,
                };
                self.push_at(kind, at, field);
                None
            }
        }
    }

    fn probability(
        &mut self,
        value: Option<f64>,
        owner: &At,
        field: &'static str,
        default: f64,
    ) -> f64 {
        match value {
            Some(p) if (0.0..=1.0).contains(&p) => p,
            Some(p) => {
                self.bad(owner, field, &format!("must be between 0 and 1, not {p}"));
                default
            }
            None => default,
        }
    }

    fn factor(&mut self, value: Option<f64>, owner: &At, field: &'static str, default: f64) -> f64 {
        match value {
            Some(f) if f.is_finite() && f >= 0.0 => f,
            Some(f) => {
                self.bad(
                    owner,
                    field,
                    &format!("must be a non-negative number, not {f}"),
                );
                default
            }
            None => default,
        }
    }

    fn apply(&mut self, base: &Params, o: &ModelOverrides, owner: &At) -> Params {
        let durations = match &o.duration {
            None => base.durations.clone(),
            Some(model) => self
                .durations(model, &owner.inside("duration"))
                .unwrap_or(Durations::Fixed),
        };
        let failure_durations = match &o.failure_duration {
            None => base.failure_durations.clone(),
            Some(model) => self.durations(model, &owner.below(&["failure_duration"])),
        };
        Params {
            durations,
            failure_probability: self.probability(
                o.failure_probability,
                owner,
                "failure_probability",
                base.failure_probability,
            ),
            failed_fraction: self.probability(
                o.failed_fraction,
                owner,
                "failed_fraction",
                base.failed_fraction,
            ),
            failure_durations,
            hang_probability: self.probability(
                o.hang_probability,
                owner,
                "hang_probability",
                base.hang_probability,
            ),
            // An interval belongs to the model it was given with: a level that sets the
            // model alone has none.
            duration_interval: match (o.duration.is_some(), o.duration_interval) {
                (_, Some(interval)) => self.interval(interval, owner, "duration_interval", None),
                (true, None) => None,
                (false, None) => base.duration_interval,
            },
            failure_interval: match (o.failure_probability.is_some(), o.failure_interval) {
                (_, Some(interval)) => {
                    self.interval(interval, owner, "failure_interval", Some(1.0))
                }
                (true, None) => None,
                (false, None) => base.failure_interval,
            },
        }
    }

    /// An interval `[low, high]` with `0 <= low <= high` (and `high <= max`), finite.
    fn interval(
        &mut self,
        [low, high]: [f64; 2],
        owner: &At,
        field: &'static str,
        max: Option<f64>,
    ) -> Option<(f64, f64)> {
        let top = max.unwrap_or(f64::MAX);
        if low.is_finite() && high.is_finite() && 0.0 <= low && low <= high && high <= top {
            Some((low, high))
        } else {
            let bound = max.map_or(String::new(), |m| format!(" <= {m}"));
            self.bad(
                owner,
                field,
                &format!("must be [low, high] with 0 <= low <= high{bound}, not [{low}, {high}]"),
            );
            None
        }
    }

    fn durations(&mut self, model: &DurationModel, owner: &At) -> Option<Durations> {
        Some(match model {
            DurationModel::Fixed => Durations::Fixed,
            DurationModel::Exponential => Durations::Exponential,
            DurationModel::Lognormal { spread, median } => {
                if !(0.0..=MAX_SPREAD).contains(spread) {
                    self.bad(
                        owner,
                        "spread",
                        &format!("must be a number from 0 to {MAX_SPREAD}, not {spread}"),
                    );
                    return None;
                }
                let mu = match median {
                    Some(m) if m.is_finite() && *m > 0.0 => m.ln(),
                    Some(m) => {
                        self.bad(
                            owner,
                            "median",
                            &format!("must be a positive number, not {m}"),
                        );
                        return None;
                    }
                    // Mean 1: E[exp(N(μ, σ))] = exp(μ + σ²/2).
                    None => -spread * spread / 2.0,
                };
                Durations::Lognormal(LogNormal::new(mu, *spread).ok()?)
            }
            DurationModel::Factors { factors } => {
                if factors.is_empty() || !factors.iter().all(|f| f.is_finite() && *f >= 0.0) {
                    self.bad(
                        owner,
                        "factors",
                        "must list at least one factor, each a non-negative number",
                    );
                    return None;
                }
                Durations::Factors(factors.as_slice().into())
            }
            DurationModel::Uniform { low, high } => {
                if !(*low >= 0.0 && low <= high && *high <= MAX_FACTOR) {
                    self.bad(
                        owner,
                        "low",
                        &format!("and `high` must satisfy 0 <= low <= high <= {MAX_FACTOR}"),
                    );
                    return None;
                }
                Durations::Uniform(*low, *high)
            }
            DurationModel::Empirical { samples } => {
                if samples.is_empty() {
                    self.bad(owner, "samples", "must list at least one duration");
                    return None;
                }
                let resolved: Vec<Time> = samples
                    .iter()
                    .filter_map(|s| self.duration(Some(s), owner, "samples"))
                    .collect();
                Durations::Empirical(resolved.into())
            }
        })
    }

    fn context(&mut self, file: &ContextModelFile) -> ContextEffects {
        let owner = &At::top().below(&["context"]);
        ContextEffects {
            discovery_probability: self.probability(
                file.discovery_probability,
                owner,
                "discovery_probability",
                0.5,
            ),
            discovery_speedup: match file.discovery_speedup {
                Some(f) if f > 0.0 && f <= 1.0 => f,
                Some(f) => {
                    self.bad(
                        owner,
                        "discovery_speedup",
                        &format!("must be above 0 and at most 1 (the share of its duration an attempt with a discovery runs), not {f}"),
                    );
                    0.85
                }
                None => 0.85,
            },
            solution_failure_factor: self.factor(
                file.solution_failure_factor,
                owner,
                "solution_failure_factor",
                0.5,
            ),
            error_failure_factor: self.factor(
                file.error_failure_factor,
                owner,
                "error_failure_factor",
                0.8,
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Format, Scenario};

    /// The issues of `text`'s `[simulation]` table, without its lines and with them.
    fn issues(text: &str, format: Format) -> (Vec<Issue>, Vec<Issue>) {
        let (scenario, issues) = Scenario::parse(text, format, "t").unwrap();
        let (scenario, plan) = Plan::from_scenario(scenario, issues).unwrap();
        let file = scenario.file.simulation.as_ref();
        let without = SimModels::resolve(file, scenario.time_unit, &plan).unwrap_err();
        let lines = KeyLines::read(text, format, &["simulation"]).unwrap();
        let with = SimModels::resolve_with_lines(file, scenario.time_unit, &plan, Some(&lines))
            .unwrap_err();
        (without, with)
    }

    /// Each issue's line holds what the issue is about: the field's name, or the key of
    /// the task that does not exist.
    fn assert_on_their_lines(text: &str, issues: &[Issue]) {
        for issue in issues {
            let line = issue.line.unwrap_or_else(|| panic!("no line: {issue}"));
            let written = text.lines().nth(line - 1).unwrap();
            let key = match &issue.kind {
                IssueKind::BadValue { message, .. } if message.starts_with("names unknown") => {
                    message.split('`').nth(1).unwrap()
                }
                IssueKind::BadValue { field, .. } | IssueKind::BadDuration { field, .. } => field,
                other => panic!("not an issue of the table: {other}"),
            };
            assert!(written.contains(key), "{issue}: line {line} is `{written}`");
        }
        let lines: Vec<_> = issues.iter().map(|i| i.line).collect();
        assert!(lines.is_sorted(), "in the order of the file: {lines:?}");
    }

    #[test]
    fn simulation_issues_name_their_lines_in_the_order_of_the_file() {
        let toml = "[[agents]]\ncount = 2\n[[tasks]]\nid = 'a.b'\nestimated_duration = 1\n\
            [simulation]\nfailure_probability = 2\n\
            failure_duration = { model = 'uniform', low = 2, high = 1 }\n\
            crashes = [{ agent = 'agent_1', at = '1m' },\n  { agent = 'ghost', at = 'x' }]\n\
            [simulation.types.testing]\nduration = { model = 'empirical', samples = ['1m', 'y'] }\n\
            [simulation.tasks.'a.b']\nhang_probability = 3\n\
            [simulation.tasks.nope]\nfailed_fraction = 0.5\n";
        let (without, with) = issues(toml, Format::Toml);
        assert_eq!(with.len(), 7, "{with:#?}");
        assert!(without.iter().all(|i| i.line.is_none()), "no text, no line");
        assert_on_their_lines(toml, &with);

        let json = "{\"agents\": [{\"count\": 1}],\n \"tasks\": [{\"id\": \"a\",\n \
            \"estimated_duration\": 1}],\n \"simulation\": {\n  \"context\": {\n   \
            \"discovery_speedup\": 5},\n  \"heartbeat_interval\": \"0s\",\n  \
            \"duration\": {\"model\": \"lognormal\",\n   \"spread\": 0.2,\n   \"median\": -1}}}\n";
        let (_, with) = issues(json, Format::Json);
        assert_eq!(with.len(), 3, "{with:#?}");
        assert_on_their_lines(json, &with);
    }
}
