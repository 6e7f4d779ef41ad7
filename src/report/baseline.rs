//! Policy regression checks: a baseline records the distribution of a scenario's metrics
//! over a fixed set of seeds (`taskdist baseline`), and a check reruns the same seeds and
//! compares (`taskdist check`), failing when the median or 95th-percentile makespan, or a
//! failure count, got worse beyond a tolerance.
//!
//! The runs are deterministic, so with an unchanged scheduler a check reproduces its
//! baseline exactly; the tolerance only decides how large a deliberate change may be
//! before it must be acknowledged by recording a new baseline. Improvements beyond the
//! tolerance are reported, not failed.

use super::Summary;
use super::sweep::{prepare_config, quantile, simulate_config};
use crate::model::{Human, Policy, Scenario, Time};
use crate::plan::Plan;
use crate::sim::SimModels;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

/// The baseline file format version this build reads and writes.
pub const BASELINE_VERSION: u32 = 1;

/// Why a baseline could not be read. Every variant is bad input.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BaselineError {
    /// The file could not be read.
    #[error("cannot read baseline {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file is not a baseline.
    #[error("{path} is not a taskdist baseline: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The file is a baseline of another format version.
    #[error(
        "{path} is a version {found} baseline; this taskdist reads version {BASELINE_VERSION} (record it again)"
    )]
    Version {
        /// The file.
        path: PathBuf,
        /// Its version.
        found: u32,
    },
    /// A tolerance that is not a non-negative percentage.
    #[error("bad tolerance `{0}`: expected a percentage such as 2% (or 2)")]
    BadTolerance(String),
}

/// The distribution of one metric over the seeds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Distribution {
    /// 5th percentile.
    pub p5: f64,
    /// Median.
    pub p50: f64,
    /// 95th percentile.
    pub p95: f64,
    /// Mean.
    pub mean: f64,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
    /// Sum over the seeds (the count of events, for counters).
    pub total: f64,
}

impl Distribution {
    fn of(mut values: Vec<f64>) -> Option<Distribution> {
        values.sort_by(f64::total_cmp);
        let r = |x: f64| (x * 1e6).round() / 1e6;
        let total: f64 = values.iter().sum();
        Some(Distribution {
            p5: r(quantile(&values, 0.05)?),
            p50: r(quantile(&values, 0.5)?),
            p95: r(quantile(&values, 0.95)?),
            mean: r(total / values.len() as f64),
            min: r(values[0]),
            max: r(*values.last()?),
            total: r(total),
        })
    }
}

/// Reads one metric from a run's summary.
type Metric = fn(&Summary) -> f64;

/// The metrics a baseline records, by name, and how each is read from a run's summary.
const METRICS: [(&str, Metric); 11] = [
    ("makespan", |s| s.makespan),
    ("speedup", |s| s.speedup),
    ("makespan_over_lower_bound", |s| s.makespan_over_lower_bound),
    ("utilization", |s| s.utilization),
    ("lock_wait_total", |s| s.lock_wait_total),
    ("attempts", |s| s.attempts as f64),
    ("retries", |s| s.retries as f64),
    ("timeouts", |s| s.timeouts as f64),
    ("reassignments", |s| s.reassignments as f64),
    ("tasks_failed", |s| s.tasks_failed as f64),
    ("tasks_skipped", |s| s.tasks_skipped as f64),
];

/// A recorded baseline (`B.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Baseline {
    /// File format version ([`BASELINE_VERSION`]).
    pub version: u32,
    /// The scenario file, as given when recording.
    pub scenario: String,
    /// SHA-256 of the scenario file's bytes when recording; a check notes a change.
    pub scenario_sha256: String,
    /// `--agents`, if given (absent: the scenario's own agents).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agents: Option<u32>,
    /// The dispatch policy of the runs.
    pub policy: Policy,
    /// The first seed; the runs use `seed .. seed + seeds`.
    pub seed: u64,
    /// Number of seeds.
    pub seeds: u32,
    /// Runs that stopped early (stalled or over the step limit).
    pub errors: u32,
    /// Each metric's distribution over the runs that finished.
    pub metrics: BTreeMap<String, Distribution>,
}

/// What to run for a baseline.
#[derive(Debug, Clone)]
pub struct BaselineSpec {
    /// `--agents`, or the scenario's agents.
    pub agents: Option<u32>,
    /// The policy.
    pub policy: Policy,
    /// First seed.
    pub seed: u64,
    /// Number of seeds.
    pub seeds: u32,
}

impl Baseline {
    /// Runs the seeds (in parallel, results independent of the thread count) and records
    /// the distributions. `label` and `sha256` identify the scenario file.
    pub fn record(
        scenario: &Scenario,
        plan: &Arc<Plan>,
        models: &SimModels,
        spec: &BaselineSpec,
        label: &str,
        sha256: &str,
    ) -> Baseline {
        // Prepared once for every seed (under `optimized`: the schedule and its dispatch).
        let (config, agents) =
            prepare_config(scenario, plan, models, spec.agents, Some(spec.policy), None);
        let results: Vec<Option<Summary>> = (0..spec.seeds as u64)
            .into_par_iter()
            .map(|k| {
                let seed = spec.seed.wrapping_add(k);
                simulate_config(plan, &config, agents.clone(), models, seed, false)
                    .ok()
                    .map(|(summary, _)| summary)
            })
            .collect();
        let finished: Vec<&Summary> = results.iter().flatten().collect();
        let metrics = METRICS
            .iter()
            .filter_map(|(name, get)| {
                let values = finished.iter().map(|s| get(s)).collect();
                Some((name.to_string(), Distribution::of(values)?))
            })
            .collect();
        Baseline {
            version: BASELINE_VERSION,
            scenario: label.to_string(),
            scenario_sha256: sha256.to_string(),
            agents: spec.agents,
            policy: spec.policy,
            seed: spec.seed,
            seeds: spec.seeds,
            errors: (results.len() - finished.len()) as u32,
            metrics,
        }
    }

    /// The settings to rerun this baseline with.
    pub fn spec(&self) -> BaselineSpec {
        BaselineSpec {
            agents: self.agents,
            policy: self.policy,
            seed: self.seed,
            seeds: self.seeds,
        }
    }

    /// Pretty JSON, newline-terminated.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a baseline serializes") + "\n"
    }

    /// Reads a baseline file.
    pub fn read(path: &Path) -> Result<Baseline, BaselineError> {
        let text = std::fs::read_to_string(path).map_err(|source| BaselineError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let parse = |message: String| BaselineError::Parse {
            path: path.to_path_buf(),
            message,
        };
        let value: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| parse(e.to_string()))?;
        let version = value.get("version").and_then(|v| v.as_u64());
        match version {
            Some(v) if v == BASELINE_VERSION as u64 => {}
            Some(v) => {
                return Err(BaselineError::Version {
                    path: path.to_path_buf(),
                    found: v.min(u32::MAX as u64) as u32,
                });
            }
            None => return Err(parse("no `version` field".to_string())),
        }
        serde_json::from_value(value).map_err(|e| parse(e.to_string()))
    }
}

/// A relative tolerance: `2%` (or `2`) is 0.02.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tolerance(pub f64);

impl FromStr for Tolerance {
    type Err = BaselineError;

    fn from_str(text: &str) -> Result<Self, BaselineError> {
        let number = text.trim().strip_suffix('%').unwrap_or(text.trim()).trim();
        match number.parse::<f64>() {
            Ok(p) if p.is_finite() && p >= 0.0 => Ok(Tolerance(p / 100.0)),
            _ => Err(BaselineError::BadTolerance(text.to_string())),
        }
    }
}

impl fmt::Display for Tolerance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}%", (self.0 * 100.0 * 1e6).round() / 1e6)
    }
}

/// How a checked metric moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Within the tolerance.
    Ok,
    /// Worse beyond the tolerance: the check fails.
    Regressed,
    /// Better beyond the tolerance: worth recording a new baseline.
    Improved,
}

/// One compared metric.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckRow {
    /// What was compared, e.g. `makespan p50`.
    pub what: String,
    /// Whether the values are durations in seconds (shown as such).
    pub duration: bool,
    /// The baseline's value.
    pub baseline: f64,
    /// The value now.
    pub current: f64,
    /// The verdict.
    pub verdict: Verdict,
}

/// The result of a check: every compared metric, and notes (e.g. a changed scenario).
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// The compared metrics.
    pub rows: Vec<CheckRow>,
    /// Things worth knowing that are not regressions.
    pub notes: Vec<String>,
    /// The tolerance applied.
    pub tolerance: Tolerance,
}

/// The checks: (metric, statistic, shown as). Higher is worse for all of them.
const CHECKS: [(&str, &str, bool); 6] = [
    ("makespan", "p50", true),
    ("makespan", "p95", true),
    ("tasks_failed", "total", false),
    ("tasks_skipped", "total", false),
    ("retries", "total", false),
    ("timeouts", "total", false),
];

fn stat(d: &Distribution, name: &str) -> f64 {
    match name {
        "p5" => d.p5,
        "p50" => d.p50,
        "p95" => d.p95,
        "mean" => d.mean,
        "min" => d.min,
        "max" => d.max,
        _ => d.total,
    }
}

impl Comparison {
    /// Compares `current` (recorded with `baseline.spec()`) against `baseline`.
    pub fn new(baseline: &Baseline, current: &Baseline, tolerance: Tolerance) -> Comparison {
        let mut rows = Vec::new();
        let verdict = |base: f64, now: f64| {
            // A hair of slack so a value equal to the limit after rounding passes.
            let slack = 1e-9 * base.abs().max(1.0);
            if now > base * (1.0 + tolerance.0) + slack {
                Verdict::Regressed
            } else if now < base * (1.0 - tolerance.0) - slack {
                Verdict::Improved
            } else {
                Verdict::Ok
            }
        };
        for (metric, statistic, duration) in CHECKS {
            let zero = Distribution::of(vec![0.0]).expect("one value");
            let base = baseline.metrics.get(metric).unwrap_or(&zero);
            let now = current.metrics.get(metric).unwrap_or(&zero);
            let (b, c) = (stat(base, statistic), stat(now, statistic));
            let what = match statistic {
                "total" => format!("{} (all seeds)", metric.replace('_', " ")),
                s => format!("{} {s}", metric.replace('_', " ")),
            };
            rows.push(CheckRow {
                what,
                duration,
                baseline: b,
                current: c,
                verdict: verdict(b, c),
            });
        }
        rows.push(CheckRow {
            what: "runs stopped early".to_string(),
            duration: false,
            baseline: baseline.errors as f64,
            current: current.errors as f64,
            verdict: verdict(baseline.errors as f64, current.errors as f64),
        });
        let mut notes = Vec::new();
        if baseline.scenario_sha256 != current.scenario_sha256 {
            notes.push(format!(
                "the scenario file changed since the baseline was recorded from {}",
                baseline.scenario
            ));
        }
        Comparison {
            rows,
            notes,
            tolerance,
        }
    }

    /// Whether any checked metric regressed beyond the tolerance.
    pub fn regressed(&self) -> bool {
        self.rows.iter().any(|r| r.verdict == Verdict::Regressed)
    }
}

fn show(value: f64, duration: bool) -> String {
    if duration {
        Human((value * 1000.0).round() as Time).to_string()
    } else if value.fract() == 0.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.2}")
    }
}

fn change(base: f64, now: f64) -> String {
    if base == now {
        "=".to_string()
    } else if base == 0.0 {
        format!("{:+} from 0", now)
    } else {
        format!("{:+.1}%", (now / base - 1.0) * 100.0)
    }
}

impl fmt::Display for Comparison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cells: Vec<[String; 5]> = self
            .rows
            .iter()
            .map(|r| {
                [
                    r.what.clone(),
                    show(r.baseline, r.duration),
                    show(r.current, r.duration),
                    change(r.baseline, r.current),
                    match r.verdict {
                        Verdict::Ok => "ok".to_string(),
                        Verdict::Regressed => format!("REGRESSED (limit +{})", self.tolerance),
                        Verdict::Improved => "improved".to_string(),
                    },
                ]
            })
            .collect();
        let header = ["metric", "baseline", "current", "change", ""].map(String::from);
        let widths: Vec<usize> = (0..5)
            .map(|i| {
                std::iter::once(&header)
                    .chain(&cells)
                    .map(|c| c[i].chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        for row in std::iter::once(&header).chain(&cells) {
            let line = format!(
                "  {:<w0$}  {:>w1$}  {:>w2$}  {:>w3$}  {}",
                row[0],
                row[1],
                row[2],
                row[3],
                row[4],
                w0 = widths[0],
                w1 = widths[1],
                w2 = widths[2],
                w3 = widths[3],
            );
            writeln!(f, "{}", line.trim_end())?;
        }
        for note in &self.notes {
            writeln!(f, "note: {note}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Format;

    const PLAN: &str = "[[agents]]\ncount = 2\n\
        [simulation]\nduration = { model = 'lognormal', spread = 0.3 }\nfailure_probability = 0.2\n\
        [[tasks]]\nid = 'a'\nestimated_duration = '10m'\n\
        [[tasks]]\nid = 'b'\nestimated_duration = '10m'\n\
        [[tasks]]\nid = 'c'\nestimated_duration = '5m'\ndepends_on = ['a', 'b']\n";

    fn record(policy: Policy) -> Baseline {
        let (scenario, issues) = Scenario::parse(PLAN, Format::Toml, "t.toml").unwrap();
        let (scenario, plan) = Plan::from_scenario(scenario, issues).unwrap();
        let models = SimModels::for_scenario(&scenario, &plan).unwrap();
        let spec = BaselineSpec {
            agents: None,
            policy,
            seed: 3,
            seeds: 16,
        };
        Baseline::record(&scenario, &Arc::new(plan), &models, &spec, "t.toml", "abc")
    }

    #[test]
    fn a_rerun_matches_its_baseline_exactly() {
        let baseline = record(Policy::CriticalPath);
        let again = record(Policy::CriticalPath);
        assert_eq!(baseline, again);
        let cmp = Comparison::new(&baseline, &again, Tolerance(0.0));
        assert!(!cmp.regressed(), "{cmp}");
        assert!(cmp.rows.iter().all(|r| r.verdict == Verdict::Ok));
        assert!(baseline.metrics["retries"].total > 0.0);
        let json = baseline.to_json();
        let dir = crate::scratch::scratch("baseline");
        let path = dir.join("b.json");
        std::fs::write(&path, &json).unwrap();
        assert_eq!(Baseline::read(&path).unwrap(), baseline);
        std::fs::write(&path, json.replace("\"version\": 1", "\"version\": 9")).unwrap();
        assert!(matches!(
            Baseline::read(&path),
            Err(BaselineError::Version { found: 9, .. })
        ));
        std::fs::write(&path, "{\"version\": 1}").unwrap();
        assert!(matches!(
            Baseline::read(&path),
            Err(BaselineError::Parse { .. })
        ));
    }

    #[test]
    fn a_longer_makespan_beyond_the_tolerance_regresses_and_says_so() {
        let baseline = record(Policy::CriticalPath);
        let mut worse = baseline.clone();
        worse.metrics.get_mut("makespan").unwrap().p50 *= 1.03;
        worse.metrics.get_mut("tasks_failed").unwrap().total += 1.0;
        let cmp = Comparison::new(&baseline, &worse, "2%".parse().unwrap());
        assert!(cmp.regressed());
        let text = cmp.to_string();
        assert!(text.contains("makespan p50"), "{text}");
        assert!(text.contains("+3.0%"), "{text}");
        assert!(text.contains("REGRESSED (limit +2%)"), "{text}");
        assert!(text.contains("tasks failed (all seeds)"), "{text}");
        // Within 5 % it passes; better is reported, not failed.
        let mut within = baseline.clone();
        within.metrics.get_mut("makespan").unwrap().p50 *= 1.03;
        assert!(!Comparison::new(&baseline, &within, Tolerance(0.05)).regressed());
        let mut better = baseline.clone();
        better.metrics.get_mut("makespan").unwrap().p95 *= 0.5;
        let cmp = Comparison::new(&baseline, &better, Tolerance(0.02));
        assert!(!cmp.regressed());
        assert!(cmp.rows.iter().any(|r| r.verdict == Verdict::Improved));
    }

    #[test]
    fn tolerances_read_as_percentages() {
        assert_eq!("2%".parse::<Tolerance>().unwrap(), Tolerance(0.02));
        assert_eq!("2".parse::<Tolerance>().unwrap(), Tolerance(0.02));
        assert_eq!("0.5 %".parse::<Tolerance>().unwrap(), Tolerance(0.005));
        for bad in ["-1%", "x", "", "inf"] {
            assert!(bad.parse::<Tolerance>().is_err(), "{bad}");
        }
        assert_eq!(Tolerance(0.02).to_string(), "2%");
    }
}
