//! `taskdist baseline FILE -o B.json` records a scenario's metric distributions over a set
//! of seeds; `taskdist check FILE --baseline B.json` reruns those seeds and exits 1 with a
//! readable table when the makespan or a failure count regressed beyond the tolerance.

use super::ScenarioArgs;
use anyhow::Context;
use clap::Args;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use taskdist::model::{Policy, count};
use taskdist::report::baseline::{Baseline, BaselineSpec, Comparison, Tolerance};
use taskdist::report::sha256_hex;
use taskdist::sim::SimModels;

/// Arguments of `taskdist baseline`.
#[derive(Debug, Args)]
pub struct BaselineArgs {
    #[command(flatten)]
    scenario: ScenarioArgs,
    #[command(flatten)]
    calibration: super::calibrate::CalibrationArg,
    /// Number of seeds; seed k is the first seed + k.
    #[arg(long, value_name = "N", default_value_t = 50,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    seeds: u32,
    /// First seed [default: simulation.seed, else 0].
    #[arg(long, value_name = "S")]
    seed: Option<u64>,
    /// Run with N agents, as `simulate --agents` [default: the scenario's agents].
    #[arg(long, short = 'n', value_name = "N", value_parser = clap::value_parser!(u32).range(1..=taskdist::model::MAX_AGENTS as i64))]
    agents: Option<u32>,
    /// Dispatch policy [default: config.policy].
    #[arg(long, value_name = "P", value_parser = parse_policy)]
    policy: Option<Policy>,
    /// Where to write the baseline (JSON).
    #[arg(long, short = 'o', value_name = "B.json")]
    output: PathBuf,
}

/// Arguments of `taskdist check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    scenario: ScenarioArgs,
    #[command(flatten)]
    calibration: super::calibrate::CalibrationArg,
    /// The baseline to compare with; its seeds, agents and policy are rerun.
    #[arg(long, value_name = "B.json")]
    baseline: PathBuf,
    /// How much worse a checked metric may get: `2%` (or `2`).
    #[arg(long, value_name = "PCT", default_value = "2%", value_parser = parse_tolerance)]
    tolerance: Tolerance,
}

fn parse_policy(text: &str) -> Result<Policy, String> {
    text.parse()
}

fn parse_tolerance(text: &str) -> Result<Tolerance, String> {
    text.parse()
        .map_err(|e: taskdist::report::baseline::BaselineError| e.to_string())
}

/// Loads the scenario and its models, and hashes the file; the last string says where the
/// models come from.
fn load(
    args: &ScenarioArgs,
    calibration: &super::calibrate::CalibrationArg,
) -> anyhow::Result<(
    taskdist::model::Scenario,
    Arc<taskdist::plan::Plan>,
    SimModels,
    String,
    String,
)> {
    let (mut scenario, plan) = args.load()?;
    let models_line = calibration.apply(&mut scenario)?;
    let models = SimModels::for_scenario(&scenario, &plan)?;
    // Readable: load() just read it.
    let bytes =
        std::fs::read(&args.file).with_context(|| format!("reading {}", args.file.display()))?;
    Ok((
        scenario,
        Arc::new(plan),
        models,
        sha256_hex(&bytes),
        models_line,
    ))
}

/// Records a baseline.
pub fn baseline(args: &BaselineArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let (scenario, plan, models, sha, models_line) = load(&args.scenario, &args.calibration)?;
    let spec = BaselineSpec {
        agents: args.agents,
        policy: args.policy.unwrap_or(scenario.config.policy),
        seed: args.seed.unwrap_or(models.seed),
        seeds: args.seeds,
    };
    let label = args.scenario.file.display().to_string();
    let baseline = Baseline::record(&scenario, &plan, &models, &spec, &label, &sha);
    if let Some(parent) = args.output.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    std::fs::write(&args.output, baseline.to_json())
        .with_context(|| format!("writing {}", args.output.display()))?;
    let makespan = &baseline.metrics.get("makespan");
    writeln!(
        out,
        "recorded {} of {} ({} policy{}) in {}{}",
        count(spec.seeds, "seed", "seeds"),
        label,
        spec.policy,
        spec.agents.map_or(String::new(), |n| format!(
            ", {}",
            count(n, "agent", "agents")
        )),
        args.output.display(),
        makespan.map_or(String::new(), |m| format!(
            ": makespan p50 {:.3} s, p95 {:.3} s",
            m.p50, m.p95
        )),
    )?;
    writeln!(out, "{models_line}")?;
    if baseline.errors > 0 {
        writeln!(
            out,
            "note: {} stopped early",
            count(baseline.errors, "run", "runs")
        )?;
    }
    Ok(())
}

/// The outcome of `taskdist check` that is not an error but must exit non-zero.
#[derive(Debug)]
pub struct Regressed;

impl std::fmt::Display for Regressed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the check found a regression")
    }
}

impl std::error::Error for Regressed {}

/// Checks a scenario against a baseline.
pub fn check(args: &CheckArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let recorded = Baseline::read(&args.baseline)?;
    let (scenario, plan, models, sha, models_line) = load(&args.scenario, &args.calibration)?;
    writeln!(out, "{models_line}")?;
    let label = args.scenario.file.display().to_string();
    let current = Baseline::record(&scenario, &plan, &models, &recorded.spec(), &label, &sha);
    let comparison = Comparison::new(&recorded, &current, args.tolerance);
    writeln!(
        out,
        "check {label} against {}: {} from {}, {} policy{}, tolerance {}",
        args.baseline.display(),
        count(recorded.seeds, "seed", "seeds"),
        recorded.seed,
        recorded.policy,
        recorded.agents.map_or(String::new(), |n| format!(
            ", {}",
            count(n, "agent", "agents")
        )),
        args.tolerance
    )?;
    write!(out, "{comparison}")?;
    if comparison.regressed() {
        let regressed = comparison
            .rows
            .iter()
            .filter(|r| r.verdict == taskdist::report::baseline::Verdict::Regressed)
            .count();
        writeln!(
            out,
            "FAIL: {regressed} of {} checks regressed beyond {}.\n\
             If the change is intended, record the baseline again:\n  \
             taskdist baseline {label} --seeds {} --seed {}{} --policy {} -o {}",
            comparison.rows.len(),
            args.tolerance,
            recorded.seeds,
            recorded.seed,
            recorded
                .agents
                .map_or(String::new(), |n| format!(" --agents {n}")),
            recorded.policy,
            args.baseline.display()
        )?;
        out.flush()?;
        return Err(Regressed.into());
    }
    writeln!(
        out,
        "OK: no checked metric regressed beyond {}",
        args.tolerance
    )?;
    Ok(())
}
