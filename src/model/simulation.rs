//! The `[simulation]` table of a scenario: the seeded models the simulator draws from.
//! Only the file shape lives here; [`crate::sim`] gives it meaning.
//!
//! ```toml
//! [simulation]
//! seed = 42
//! duration = { model = "lognormal", spread = 0.3 }
//! failure_probability = 0.05
//! failed_fraction = 0.5          # a failed attempt takes this share of its duration
//! failure_duration = { model = "lognormal", spread = 0.3, median = 0.4 }  # or its own model
//! dispatch_overhead = "5ms"      # from assignment to the attempt's start
//! hang_probability = 0.01        # an attempt that never reports (only its timeout ends it)
//! crash_mtbf = "6h"              # mean time between crashes, per agent
//! crash_recovery = "15m"         # a crashed agent comes back after this (omit: never)
//! crashes = [{ agent = "agent_2", at = "40m", recover_after = "10m" }]
//!
//! [simulation.types.testing]     # overrides for one task type
//! failure_probability = 0.2
//! failure_interval = [0.12, 0.31]  # its 95 % interval (the tornado's range; calibrate writes it)
//! duration = { model = "lognormal", spread = 0.35, median = 0.9 }
//! duration_interval = [0.88, 1.13]  # of the durations' scale, as factors of the model
//!
//! [simulation.tasks.deploy]      # overrides for one task
//! hang_probability = 0.5
//! ```

use super::DurationText;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A duration model: how long an attempt takes, relative to the task's estimate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "model", rename_all = "snake_case", deny_unknown_fields)]
pub enum DurationModel {
    /// Exactly the estimate.
    Fixed,
    /// Log-normal factor of the estimate; `spread` is the σ of the underlying normal
    /// (0.25 ≈ ±25 %). Its mean is 1 (the estimate) unless `median` is given: then the
    /// factor's median is `median` (μ = ln median), as `taskdist calibrate` fits it.
    Lognormal {
        /// σ of ln(duration).
        spread: f64,
        /// Median factor (e^μ); absent, μ = -σ²/2 so that the mean factor is 1.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        median: Option<f64>,
    },
    /// Uniform between `low` and `high` times the estimate.
    Uniform {
        /// Lower factor.
        low: f64,
        /// Upper factor.
        high: f64,
    },
    /// Exponential with mean equal to the estimate.
    Exponential,
    /// One of the observed durations, each equally likely (the estimate is ignored).
    Empirical {
        /// Observed durations.
        samples: Vec<DurationText>,
    },
    /// One of the observed factors actual / estimate, each equally likely, times the
    /// estimate (what `taskdist calibrate --empirical` writes for well-sampled types).
    Factors {
        /// Observed factors.
        factors: Vec<f64>,
    },
}

/// Model parameters that can be set globally, per task type and per task.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelOverrides {
    /// Duration model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<DurationModel>,
    /// Probability that an attempt fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_probability: Option<f64>,
    /// Share of its drawn duration a failed attempt runs before it fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_fraction: Option<f64>,
    /// How long a failed attempt runs before it fails, as its own model of the estimate
    /// (time-to-failure); when set, `failed_fraction` is not used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_duration: Option<DurationModel>,
    /// Probability that an attempt hangs: it never reports, only its timeout ends it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hang_probability: Option<f64>,
    /// The 95 % interval `[low, high]` of the durations' scale, as factors of the
    /// duration model (`taskdist calibrate` writes the interval of the fitted median over
    /// the median). Only the tornado reads it: it varies the durations between its ends
    /// instead of ×0.75–×1.25. Set with `duration` (a level that sets `duration` alone
    /// has no interval).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_interval: Option<[f64; 2]>,
    /// The 95 % interval `[low, high]` of the failure probability (`taskdist calibrate`
    /// writes the Wilson interval of the observed proportion). Only the tornado reads it:
    /// it varies the failure probability between its ends instead of ±0.1. Set with
    /// `failure_probability` (a level that sets `failure_probability` alone has none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_interval: Option<[f64; 2]>,
}

/// A scripted agent crash.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CrashFile {
    /// The agent's id.
    pub agent: String,
    /// When it crashes.
    pub at: DurationText,
    /// When it comes back, counted from the crash (omit: never).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recover_after: Option<DurationText>,
}

/// How shared context changes outcomes, so that sharing can be valued.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContextModelFile {
    /// Probability that a successful attempt shares a discovery about the files it wrote
    /// (default 0.5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discovery_probability: Option<f64>,
    /// Duration factor for an attempt that receives a discovery touching its files
    /// (default 0.85).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discovery_speedup: Option<f64>,
    /// Failure-probability factor for an attempt that receives a solution for its task
    /// type (default 0.5). Solutions are shared by attempts that succeed after a failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub solution_failure_factor: Option<f64>,
    /// Failure-probability factor for an attempt that receives errors of earlier attempts
    /// of the same type (default 0.8): knowing what went wrong helps a little.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_failure_factor: Option<f64>,
}

/// The `[simulation]` table.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimulationFile {
    /// Master seed (default 0); `--seed` overrides it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Duration model (default fixed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<DurationModel>,
    /// Probability that an attempt fails (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_probability: Option<f64>,
    /// Share of its drawn duration a failed attempt runs (default 0.5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_fraction: Option<f64>,
    /// Time-to-failure model of failed attempts (default: `failed_fraction` of the drawn
    /// duration).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_duration: Option<DurationModel>,
    /// Time from an assignment to its attempt's start, added to every attempt (default 0):
    /// a real runner's process start-up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dispatch_overhead: Option<DurationText>,
    /// Probability that an attempt hangs (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hang_probability: Option<f64>,
    /// Interval of the durations' scale (see [`ModelOverrides::duration_interval`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_interval: Option<[f64; 2]>,
    /// Interval of the failure probability (see [`ModelOverrides::failure_interval`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_interval: Option<[f64; 2]>,
    /// Mean time between crashes of each agent (omit: no random crashes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crash_mtbf: Option<DurationText>,
    /// Time a randomly crashed agent takes to come back (omit: it never does).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crash_recovery: Option<DurationText>,
    /// Scripted crashes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub crashes: Vec<CrashFile>,
    /// How often live agents heartbeat (default: a third of `heartbeat_timeout`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heartbeat_interval: Option<DurationText>,
    /// Most simulation steps before the run is abandoned (default 50 per task + 100 000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_steps: Option<u64>,
    /// The effect of shared context.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<ContextModelFile>,
    /// Overrides by task type name.
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "types_by_name"
    )]
    pub types: BTreeMap<super::TaskType, ModelOverrides>,
    /// Overrides by task id.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tasks: BTreeMap<String, ModelOverrides>,
    /// What a calibration was fitted from (written by `taskdist calibrate`); the models do
    /// not read it, the commands quote it so a fitted model says how much it rests on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibrated_from: Option<CalibratedFrom>,
}

/// The sample behind a calibration: how many runs and attempts it was fitted from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalibratedFrom {
    /// Run databases fitted.
    pub runs: usize,
    /// Attempts recorded in them.
    pub attempts: usize,
}

impl SimulationFile {
    /// The global model parameters, as overrides of the built-in defaults.
    pub fn models(&self) -> ModelOverrides {
        ModelOverrides {
            duration: self.duration.clone(),
            failure_probability: self.failure_probability,
            failed_fraction: self.failed_fraction,
            failure_duration: self.failure_duration.clone(),
            hang_probability: self.hang_probability,
            duration_interval: self.duration_interval,
            failure_interval: self.failure_interval,
        }
    }
}

/// The `types` table, each key read as a string and then as a task type. A reader that
/// tracks the path of a bad value (`simulation.types.testing.duration`, in the message)
/// records a string key, where a key read as an enum would leave a gap in the path
/// (`simulation.types.duration`). An unknown name gets the message an enum's would.
fn types_by_name<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<BTreeMap<super::TaskType, ModelOverrides>, D::Error> {
    use serde::de::{self, MapAccess, Visitor};
    struct TypeName(super::TaskType);
    impl<'de> Deserialize<'de> for TypeName {
        fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            let name = String::deserialize(deserializer)?;
            super::TaskType::from_name(&name)
                .map(TypeName)
                .ok_or_else(|| de::Error::unknown_variant(&name, &super::TaskType::NAMES))
        }
    }
    struct Types;
    impl<'de> Visitor<'de> for Types {
        type Value = BTreeMap<super::TaskType, ModelOverrides>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a table of task types")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut types = BTreeMap::new();
            while let Some(TypeName(ty)) = map.next_key()? {
                types.insert(ty, map.next_value()?);
            }
            Ok(types)
        }
    }
    deserializer.deserialize_map(Types)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::TaskType;
    use crate::model::field_path::{json_error_path, toml_error_path};

    #[test]
    fn task_type_names_are_serdes() {
        for (ty, name) in TaskType::ALL.into_iter().zip(TaskType::NAMES) {
            assert_eq!(serde_json::to_string(&ty).unwrap(), format!("\"{name}\""));
            assert_eq!(
                serde_json::from_str::<TaskType>(&format!("\"{name}\"")).unwrap(),
                ty
            );
            assert_eq!(TaskType::from_name(name), Some(ty));
        }
        assert_eq!(TaskType::from_name("tests"), None);
    }

    #[test]
    fn a_bad_value_under_a_type_has_the_types_key_in_its_path() {
        let toml = "[types.testing]\nfailure_probability = 'often'\n";
        let path = toml_error_path::<SimulationFile>(toml).unwrap();
        assert_eq!(path.to_string(), "types.testing.failure_probability");
        let json = r#"{"types": {"bug_fix": {"hang_probability": "x"}}}"#;
        let path = json_error_path::<SimulationFile>(json).unwrap();
        assert_eq!(path.to_string(), "types.bug_fix.hang_probability");
        // Each type read back, and an unknown name refused as an enum's would be.
        let read: SimulationFile =
            toml::from_str("[types.deployment]\nfailure_probability = 0.5\n[types.testing]\n")
                .unwrap();
        assert_eq!(
            read.types.keys().copied().collect::<Vec<_>>(),
            [TaskType::Testing, TaskType::Deployment]
        );
        assert_eq!(
            read.types[&TaskType::Deployment].failure_probability,
            Some(0.5)
        );
        let error = toml::from_str::<SimulationFile>("[types.tests]\n").unwrap_err();
        assert!(
            error
                .message()
                .starts_with("unknown variant `tests`, expected one of"),
            "{error}"
        );
    }
}
