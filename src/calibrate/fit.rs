//! Fitting the simulator's models to recorded attempts, and the `[simulation]` table and
//! report that come out of it.
//!
//! Durations are factors of the estimate: a successful attempt's time from its start to
//! its end over the task's estimate, a log-normal fitted on the logs. A task type's fit is
//! shrunk toward the fit of every type pooled, the more the fewer samples it has: with
//! `n` samples the type gets weight `n / (n + 5)` (five samples of prior). Below
//! [`MIN_SAMPLES`] the type gets the pooled fit and is flagged uncalibrated; from
//! [`EMPIRICAL_SAMPLES`] on, `--empirical` uses the observed factors themselves. Failed
//! attempts give the time-to-failure the same way, apart from the successes. Failure and
//! hang probabilities are proportions with Wilson intervals, shrunk the same way; agent
//! losses a Poisson rate per agent-hour; dispatch overhead and retry gaps are measured.

use super::read::{Attempt, Ended, RecordedRun};
use super::stats::{Interval, LogFit, Proportion, Rate};
use crate::model::{
    DurationModel, DurationText, ModelOverrides, SimulationFile, TaskType, Time, count,
};
use crate::report::sweep::quantile;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::path::PathBuf;

/// Fewer successful samples than this and a type takes the pooled fit (uncalibrated).
pub const MIN_SAMPLES: usize = 5;
/// From this many samples a type may use its observed factors (`--empirical`).
pub const EMPIRICAL_SAMPLES: usize = 30;
/// Charged attempts a single task needs for a failure probability of its own.
pub const TASK_ATTEMPTS: u64 = 10;
/// The prior's weight in samples when shrinking a type toward the pooled fit.
const PRIOR_SAMPLES: f64 = 5.0;

/// The samples of one group of attempts (every type pooled, one type, or one task).
#[derive(Debug, Clone, Default)]
struct Samples {
    /// Factors actual / estimate of successful attempts.
    success: Vec<f64>,
    /// Factors of failed attempts (time-to-failure).
    failure: Vec<f64>,
    succeeded: u64,
    failed: u64,
    timed_out: u64,
}

impl Samples {
    fn add(&mut self, a: &Attempt, estimate_ms: Time) {
        let factor = (estimate_ms > 0).then(|| {
            let ms = a.ended_ms.expect("a charged attempt ended") - a.started_ms;
            // A zero-length attempt (a clock tick) counts as half a millisecond, so its
            // log stays finite.
            (ms as f64).max(0.5) / estimate_ms as f64
        });
        match a.ended {
            Ended::Succeeded => {
                self.succeeded += 1;
                self.success.extend(factor);
            }
            Ended::Failed => {
                self.failed += 1;
                self.failure.extend(factor);
            }
            Ended::TimedOut => self.timed_out += 1,
            Ended::Lost | Ended::Open => {}
        }
    }

    fn charged(&self) -> u64 {
        self.succeeded + self.failed + self.timed_out
    }

    /// Failures among the attempts that did not hang (the simulator draws a hang first).
    fn failures(&self) -> Proportion {
        Proportion::new(self.failed, self.succeeded + self.failed)
    }

    fn hangs(&self) -> Proportion {
        Proportion::new(self.timed_out, self.charged())
    }
}

/// A duration fit as reported and as used.
#[derive(Debug, Clone, PartialEq)]
pub struct DurationFit {
    /// The raw fit of this group's samples (`None` without samples).
    pub fit: Option<LogFit>,
    /// The model written to the table (`None`: the pooled one applies).
    pub model: Option<DurationModel>,
    /// How the model was chosen, for the report.
    pub how: String,
}

impl DurationFit {
    /// The 95 % interval of the durations' scale as factors of the fitted model: the
    /// interval of the fit's median over its median (`duration_interval` in the table,
    /// the tornado's range). `None` without a model of its own or without a finite
    /// interval (fewer than two samples).
    pub fn scale_interval(&self) -> Option<[f64; 2]> {
        let fit = self.fit.filter(|_| self.model.is_some())?;
        let scale = fit.mu_interval.map(|mu| (mu - fit.mu).exp());
        (scale.low.is_finite() && scale.high.is_finite())
            .then(|| [round(scale.low), round(scale.high)])
    }
}

/// A probability as reported and as used.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProbabilityFit {
    /// The raw proportion and its interval.
    pub observed: Proportion,
    /// The value written to the table.
    pub used: f64,
}

impl ProbabilityFit {
    /// The 95 % Wilson interval of the observed proportion (`failure_interval` in the
    /// table, the tornado's range).
    pub fn interval(&self) -> [f64; 2] {
        let i = self.observed.interval;
        [round(i.low), round(i.high)]
    }
}

/// Everything fitted for one task type.
#[derive(Debug, Clone, PartialEq)]
pub struct TypeFit {
    /// Successful durations.
    pub durations: DurationFit,
    /// Time-to-failure.
    pub failure_durations: DurationFit,
    /// Failure probability (of attempts that did not hang).
    pub failures: ProbabilityFit,
    /// Hang probability.
    pub hangs: ProbabilityFit,
    /// Whether it had enough successful samples for a fit of its own.
    pub calibrated: bool,
}

/// A measured span of time.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Spans {
    /// Samples.
    pub n: usize,
    /// Mean, ms.
    pub mean_ms: f64,
    /// Median, ms.
    pub median_ms: f64,
    /// 95th percentile, ms.
    pub p95_ms: f64,
    /// Largest, ms.
    pub max_ms: f64,
}

impl Spans {
    fn of(mut values: Vec<f64>) -> Option<Spans> {
        values.sort_by(f64::total_cmp);
        Some(Spans {
            n: values.len(),
            mean_ms: values.iter().sum::<f64>() / values.len().max(1) as f64,
            median_ms: quantile(&values, 0.5)?,
            p95_ms: quantile(&values, 0.95)?,
            max_ms: *values.last()?,
        })
    }
}

/// What one run contributed.
#[derive(Debug, Clone, PartialEq)]
pub struct RunInfo {
    /// Its database.
    pub db: PathBuf,
    /// Tasks in its plan.
    pub tasks: usize,
    /// Attempts on record.
    pub attempts: usize,
    /// Agents.
    pub agents: usize,
    /// Recorded makespan.
    pub makespan_ms: Time,
    /// The run's status.
    pub status: String,
}

/// One line: the database, its size and how it ended (the report and the TOML header
/// both list the runs this way).
impl fmt::Display for RunInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {}, {}, {}, makespan {:.3} s ({})",
            self.db.display(),
            count(self.tasks, "task", "tasks"),
            count(self.attempts, "attempt", "attempts"),
            count(self.agents, "agent", "agents"),
            self.makespan_ms as f64 / 1000.0,
            self.status
        )
    }
}

/// The models fitted from one or more runs.
#[derive(Debug, Clone, PartialEq)]
pub struct Calibration {
    /// The runs, in the order given.
    pub runs: Vec<RunInfo>,
    /// Every type pooled.
    pub pooled: TypeFit,
    /// Each type that had at least one charged attempt.
    pub types: BTreeMap<TaskType, TypeFit>,
    /// Tasks with at least [`TASK_ATTEMPTS`] charged attempts: their failure probability.
    pub tasks: BTreeMap<String, ProbabilityFit>,
    /// Agent losses per agent-hour (losses after a deliberate stop are not counted).
    pub agent_losses: Rate,
    /// Time lost agents took to come back.
    pub recovery: Option<Spans>,
    /// From assignment to start.
    pub dispatch: Option<Spans>,
    /// From a charged failure to the next attempt's assignment.
    pub retry_gaps: Option<Spans>,
    /// The runs' configured first backoffs (ms), for comparison with the retry gaps.
    pub backoff_base_ms: Vec<Time>,
}

impl Calibration {
    /// Fits the models to `runs` (at least one). `empirical`: types with at least
    /// [`EMPIRICAL_SAMPLES`] successful samples use their observed factors.
    pub fn fit(runs: &[RecordedRun], empirical: bool) -> Calibration {
        assert!(!runs.is_empty(), "a calibration needs a run");
        let mut pooled = Samples::default();
        let mut by_type: BTreeMap<TaskType, Samples> = BTreeMap::new();
        let mut by_task: BTreeMap<String, (TaskType, Samples)> = BTreeMap::new();
        let mut dispatch = Vec::new();
        let mut gaps = Vec::new();
        let mut recovery = Vec::new();
        let mut losses = 0;
        let mut agent_hours = 0.0;
        for run in runs {
            let plan = &run.plan;
            for a in &run.attempts {
                dispatch.push((a.started_ms - a.assigned_ms) as f64);
                if !a.ended.is_charged() {
                    continue;
                }
                let (ty, estimate) = (plan.task_type(a.task), plan.estimate_ms(a.task));
                pooled.add(a, estimate);
                by_type.entry(ty).or_default().add(a, estimate);
                by_task
                    .entry(plan.task(a.task).id.to_string())
                    .or_insert_with(|| (ty, Samples::default()))
                    .1
                    .add(a, estimate);
            }
            // Retry gaps: a charged failure, then the task's next assignment.
            let mut last_failure: Vec<Option<Time>> = vec![None; plan.len()];
            for a in &run.attempts {
                if let Some(end) = last_failure[a.task.ix()].take() {
                    gaps.push(a.assigned_ms.saturating_sub(end) as f64);
                }
                if matches!(a.ended, Ended::Failed | Ended::TimedOut) {
                    last_failure[a.task.ix()] = a.ended_ms;
                }
            }
            for loss in run.losses.iter().filter(|l| !l.by_resume) {
                losses += 1;
                recovery.extend(loss.back_at.map(|(b, _)| (b - loss.at) as f64));
            }
            agent_hours += run.agent_hours();
        }
        let pooled_fit = fit_pooled(&pooled);
        let types = by_type
            .iter()
            .map(|(ty, s)| (*ty, fit_type(s, &pooled_fit, empirical)))
            .collect::<BTreeMap<_, _>>();
        let tasks = by_task
            .iter()
            .filter(|(_, (_, s))| s.charged() >= TASK_ATTEMPTS)
            .map(|(id, (ty, s))| {
                let prior = types[ty].failures.used;
                (id.clone(), shrunk_probability(s.failures(), prior))
            })
            .collect();
        Calibration {
            runs: runs
                .iter()
                .map(|r| RunInfo {
                    db: r.db.clone(),
                    tasks: r.plan.len(),
                    attempts: r.attempts.len(),
                    agents: r.agents.len(),
                    makespan_ms: r.makespan_ms,
                    status: r.status.clone(),
                })
                .collect(),
            pooled: pooled_fit,
            types,
            tasks,
            agent_losses: Rate::new(losses, agent_hours),
            recovery: Spans::of(recovery),
            dispatch: Spans::of(dispatch),
            retry_gaps: Spans::of(gaps),
            backoff_base_ms: runs.iter().map(|r| r.config.backoff_base_ms).collect(),
        }
    }

    /// The `[simulation]` table of the fitted models.
    pub fn simulation(&self) -> SimulationFile {
        let mut file = SimulationFile {
            duration: self.pooled.durations.model.clone(),
            failure_duration: self.pooled.failure_durations.model.clone(),
            failure_probability: Some(round(self.pooled.failures.used)),
            hang_probability: (self.pooled.hangs.observed.k > 0)
                .then(|| round(self.pooled.hangs.used)),
            dispatch_overhead: self
                .dispatch
                .map(|d| DurationText::from(d.mean_ms.round() as Time)),
            duration_interval: self.pooled.durations.scale_interval(),
            failure_interval: Some(self.pooled.failures.interval()),
            calibrated_from: Some(crate::model::CalibratedFrom {
                runs: self.runs.len(),
                attempts: self.runs.iter().map(|r| r.attempts).sum(),
            }),
            ..SimulationFile::default()
        };
        let losses = &self.agent_losses;
        if losses.events > 0 {
            let mtbf_ms = 1.0 / losses.estimate * crate::model::HOUR_MS as f64;
            file.crash_mtbf = Some(DurationText::from(mtbf_ms.round() as Time));
            file.crash_recovery = self
                .recovery
                .map(|r| DurationText::from((r.mean_ms.round() as Time).max(1)));
        }
        for (ty, fit) in &self.types {
            if !fit.calibrated {
                continue;
            }
            file.types.insert(
                *ty,
                ModelOverrides {
                    duration: fit.durations.model.clone(),
                    failure_duration: fit.failure_durations.model.clone(),
                    failure_probability: Some(round(fit.failures.used)),
                    hang_probability: file.hang_probability.map(|_| round(fit.hangs.used)),
                    failed_fraction: None,
                    duration_interval: fit.durations.scale_interval(),
                    failure_interval: Some(fit.failures.interval()),
                },
            );
        }
        for (id, fit) in &self.tasks {
            file.tasks.insert(
                id.clone(),
                ModelOverrides {
                    failure_probability: Some(round(fit.used)),
                    ..ModelOverrides::default()
                },
            );
        }
        file
    }

    /// The calibration file: a header comment (the runs, the sample sizes, the
    /// uncalibrated types) and the `[simulation]` table.
    pub fn to_toml(&self) -> String {
        #[derive(Serialize)]
        struct Wrapper {
            simulation: SimulationFile,
        }
        let mut text = String::new();
        let total: usize = self.runs.iter().map(|r| r.attempts).sum();
        let _ = writeln!(
            text,
            "# taskdist calibrate: models fitted from {} ({}; {}, {}, {}).",
            count(self.runs.len(), "run", "runs"),
            count(total, "attempt", "attempts"),
            count(
                self.pooled.durations.fit.map_or(0, |f| f.n),
                "successful duration",
                "successful durations"
            ),
            count(self.pooled.failures.observed.k, "failure", "failures"),
            count(self.pooled.hangs.observed.k, "hang", "hangs"),
        );
        for run in &self.runs {
            let _ = writeln!(text, "#   {run}");
        }
        for (ty, fit) in &self.types {
            let n = fit.durations.fit.map_or(0, |f| f.n);
            let _ = writeln!(
                text,
                "#   {ty}: {}, {}{}",
                count(n, "successful duration", "successful durations"),
                count(fit.hangs.observed.n, "attempt", "attempts"),
                if fit.calibrated {
                    String::new()
                } else {
                    format!(
                        " (uncalibrated: fewer than {MIN_SAMPLES} samples, the pooled fit applies)"
                    )
                }
            );
        }
        text.push_str(
            "# Every value is an estimate from the samples above; `taskdist calibrate` prints their intervals.\n\
             # duration_interval and failure_interval are 95 % intervals (of the durations' scale, as factors of the\n\
             # model, and the Wilson interval of the failure probability): the ranges of the tornado chart.\n\
             # Use it with: taskdist simulate SCENARIO --calibration THIS_FILE (it replaces the scenario's [simulation]).\n",
        );
        let table = toml::to_string(&Wrapper {
            simulation: self.simulation(),
        })
        .expect("a simulation table serializes");
        text.push_str(&table);
        text
    }
}

/// Four significant digits: what the samples can support, and readable.
fn round(x: f64) -> f64 {
    if x == 0.0 || !x.is_finite() {
        return x;
    }
    let scale = 10f64.powi(3 - x.abs().log10().floor() as i32);
    (x * scale).round() / scale
}

fn lognormal(mu: f64, sigma: f64) -> DurationModel {
    DurationModel::Lognormal {
        spread: round(sigma),
        median: Some(round(mu.exp())),
    }
}

/// A group's own fit, used as is.
fn fit_durations(samples: &[f64]) -> DurationFit {
    let fit = LogFit::of(samples);
    DurationFit {
        fit,
        model: fit.map(|f| lognormal(f.mu, f.sigma)),
        how: match fit {
            Some(f) => format!("log-normal of {} samples", f.n),
            None => "no samples".to_string(),
        },
    }
}

fn fit_pooled(s: &Samples) -> TypeFit {
    TypeFit {
        durations: fit_durations(&s.success),
        failure_durations: fit_durations(&s.failure),
        failures: ProbabilityFit {
            observed: s.failures(),
            used: s.failures().estimate,
        },
        hangs: ProbabilityFit {
            observed: s.hangs(),
            used: s.hangs().estimate,
        },
        calibrated: s.success.len() >= MIN_SAMPLES,
    }
}

/// A type's duration fit shrunk toward the pooled one.
fn shrunk_durations(samples: &[f64], pooled: &DurationFit, empirical: bool) -> DurationFit {
    let fit = LogFit::of(samples);
    let (Some(own), Some(prior)) = (fit, pooled.fit) else {
        return DurationFit {
            fit,
            model: None,
            how: "no samples: the pooled fit applies".to_string(),
        };
    };
    if own.n < MIN_SAMPLES {
        return DurationFit {
            fit,
            model: None,
            how: format!("uncalibrated (fewer than {MIN_SAMPLES} samples): the pooled fit applies"),
        };
    }
    if empirical && own.n >= EMPIRICAL_SAMPLES {
        let mut factors: Vec<f64> = samples.iter().map(|&x| round(x)).collect();
        factors.sort_by(f64::total_cmp);
        return DurationFit {
            fit,
            model: Some(DurationModel::Factors { factors }),
            how: format!("the {} observed factors (empirical)", own.n),
        };
    }
    let w = own.n as f64 / (own.n as f64 + PRIOR_SAMPLES);
    let mu = w * own.mu + (1.0 - w) * prior.mu;
    let var = w * own.sigma * own.sigma + (1.0 - w) * prior.sigma * prior.sigma;
    DurationFit {
        fit,
        model: Some(lognormal(mu, var.sqrt())),
        how: format!("shrunk toward the pooled fit (own weight {w:.2})"),
    }
}

fn shrunk_probability(observed: Proportion, prior: f64) -> ProbabilityFit {
    let used = (observed.k as f64 + PRIOR_SAMPLES * prior) / (observed.n as f64 + PRIOR_SAMPLES);
    ProbabilityFit { observed, used }
}

fn fit_type(s: &Samples, pooled: &TypeFit, empirical: bool) -> TypeFit {
    let calibrated = s.success.len() >= MIN_SAMPLES;
    TypeFit {
        durations: shrunk_durations(&s.success, &pooled.durations, empirical),
        failure_durations: shrunk_durations(&s.failure, &pooled.failure_durations, false),
        failures: shrunk_probability(s.failures(), pooled.failures.used),
        hangs: shrunk_probability(s.hangs(), pooled.hangs.used),
        calibrated,
    }
}

fn interval(i: Interval, digits: usize) -> String {
    let end = |x: f64| {
        if x.is_finite() {
            format!("{x:.digits$}")
        } else {
            "∞".to_string()
        }
    };
    format!("[{}, {}]", end(i.low), end(i.high))
}

fn write_durations(f: &mut fmt::Formatter<'_>, name: &str, d: &DurationFit) -> fmt::Result {
    match d.fit {
        None => writeln!(f, "  {name:<24} n=0    {}", d.how),
        Some(fit) => writeln!(
            f,
            "  {name:<24} n={:<4} median {:.3} {}  spread {:.3} {}  — {}",
            fit.n,
            fit.median(),
            interval(fit.mu_interval.map(f64::exp), 3),
            fit.sigma,
            interval(fit.sigma_interval, 3),
            d.how
        ),
    }
}

fn write_probability(f: &mut fmt::Formatter<'_>, name: &str, p: &ProbabilityFit) -> fmt::Result {
    let o = p.observed;
    let observed = if o.n == 0 {
        "no attempts".to_string()
    } else if o.k == 0 {
        format!(
            "0 of {}: at most {:.3} (95 % upper bound)",
            o.n, o.interval.high
        )
    } else {
        format!(
            "{} of {}: {:.3} {}",
            o.k,
            o.n,
            o.estimate,
            interval(o.interval, 3)
        )
    };
    writeln!(f, "  {name:<24} {observed}  — used {:.4}", p.used)
}

fn write_spans(f: &mut fmt::Formatter<'_>, name: &str, s: Option<Spans>) -> fmt::Result {
    match s {
        None => writeln!(f, "{name}: no samples"),
        Some(s) => writeln!(
            f,
            "{name}: n={} mean {:.1} ms, median {:.1} ms, p95 {:.1} ms, max {:.1} ms",
            s.n, s.mean_ms, s.median_ms, s.p95_ms, s.max_ms
        ),
    }
}

impl fmt::Display for Calibration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "calibrated from {} (every figure below is an estimate from n samples, with its 95 % interval):",
            count(self.runs.len(), "run", "runs")
        )?;
        for run in &self.runs {
            writeln!(f, "  {run}")?;
        }
        writeln!(
            f,
            "successful durations (factor actual / estimate, log-normal on the logs):"
        )?;
        write_durations(f, "all types", &self.pooled.durations)?;
        for (ty, fit) in &self.types {
            write_durations(f, ty.as_str(), &fit.durations)?;
        }
        writeln!(f, "time to failure (factor of the estimate, fitted apart):")?;
        write_durations(f, "all types", &self.pooled.failure_durations)?;
        for (ty, fit) in &self.types {
            write_durations(f, ty.as_str(), &fit.failure_durations)?;
        }
        writeln!(
            f,
            "failure probability (failed / attempts that did not hang, Wilson interval):"
        )?;
        write_probability(f, "all types", &self.pooled.failures)?;
        for (ty, fit) in &self.types {
            write_probability(f, ty.as_str(), &fit.failures)?;
        }
        for (id, fit) in &self.tasks {
            write_probability(f, &format!("task {id}"), fit)?;
        }
        writeln!(f, "hangs (timed out / attempts, Wilson interval):")?;
        write_probability(f, "all types", &self.pooled.hangs)?;
        for (ty, fit) in &self.types {
            write_probability(f, ty.as_str(), &fit.hangs)?;
        }
        let l = &self.agent_losses;
        if l.events == 0 {
            writeln!(
                f,
                "agent losses: 0 in {:.4} agent-hours: at most {:.3} per agent-hour (95 % upper bound)",
                l.exposure, l.interval.high
            )?;
        } else {
            writeln!(
                f,
                "agent losses: {} in {:.4} agent-hours: {:.3} per agent-hour {} (Poisson)",
                l.events,
                l.exposure,
                l.estimate,
                interval(l.interval, 3)
            )?;
        }
        write_spans(f, "agent recovery", self.recovery)?;
        write_spans(f, "dispatch overhead (assign → start)", self.dispatch)?;
        write_spans(f, "retry gaps (failure → next assignment)", self.retry_gaps)?;
        let bases: Vec<String> = self
            .backoff_base_ms
            .iter()
            .map(|b| format!("{b} ms"))
            .collect();
        writeln!(
            f,
            "  (configured backoff_base: {}; a retry waits between half and all of its backoff)",
            bases.join(", ")
        )
    }
}
