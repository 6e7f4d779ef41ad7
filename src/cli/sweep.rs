//! `taskdist sweep FILE`: many seeded simulations over agent counts, policies and one
//! optional scenario axis, in parallel; prints the knee of each series and, with
//! `--out DIR`, writes `sweep.csv`, `sweep_summary.csv`, the speedup and utilization
//! figures (PNG and SVG) and `report.md`.

use super::ScenarioArgs;
use anyhow::Context;
use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::fs;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use taskdist::model::{Human, Time};
use taskdist::report::markdown::SweepReport;
use taskdist::report::plot::{speedup_figure, utilization_figure};
use taskdist::report::sweep::{
    AgentCounts, Policies, SweepSpec, Vary, knee, points_csv, run_sweep, runs_csv, series,
    summarize,
};

/// Arguments of `taskdist sweep`.
#[derive(Debug, Args)]
pub struct SweepArgs {
    #[command(flatten)]
    scenario: ScenarioArgs,
    #[command(flatten)]
    calibration: super::calibrate::CalibrationArg,
    /// Agent counts: `1..32` (both ends included), `8`, or a list such as `1,2,4,8..12`
    /// [default: 1 to twice the scenario's agents].
    #[arg(long, short = 'n', value_name = "RANGE", value_parser = parse_agents)]
    agents: Option<AgentCounts>,
    /// Seeds per point; seed k is the first seed + k.
    #[arg(long, value_name = "N", default_value_t = 20,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    seeds: u32,
    /// First seed [default: simulation.seed, else 0].
    #[arg(long, value_name = "S")]
    seed: Option<u64>,
    /// Dispatch policies, comma-separated (critical-path, fifo, layered, priority)
    /// [default: config.policy].
    #[arg(long, value_name = "P,...", value_parser = parse_policies)]
    policy: Option<Policies>,
    /// Also sweep one scenario setting: failure=P,… (attempt failure probability),
    /// crash_mtbf=none|DURATION,… (random crashes), context=on,off (context sharing),
    /// locks=on,off (file lock prevention).
    #[arg(long, value_name = "AXIS=V,...", value_parser = parse_vary)]
    vary: Option<Vary>,
    /// Write sweep.csv, sweep_summary.csv, speedup.{png,svg}, utilization.{png,svg} and
    /// report.md into this directory.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Worker threads [default: one per core]. The results do not depend on it.
    #[arg(long, short = 'j', value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=1024))]
    jobs: Option<u32>,
}

fn parse_agents(text: &str) -> Result<AgentCounts, String> {
    text.parse()
        .map_err(|e: taskdist::report::sweep::SweepError| e.to_string())
}

fn parse_policies(text: &str) -> Result<Policies, String> {
    text.parse()
}

fn parse_vary(text: &str) -> Result<Vary, String> {
    text.parse()
        .map_err(|e: taskdist::report::sweep::SweepError| e.to_string())
}

/// `1..5,8` for `[1, 2, 3, 4, 5, 8]`: the agent counts as the command line takes them.
fn agents_text(counts: &[u32]) -> String {
    counts
        .chunk_by(|a, b| b == &(a + 1))
        .map(|run| match run {
            [one] => one.to_string(),
            [first, .., last] => format!("{first}..{last}"),
            [] => String::new(),
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn human(secs: f64) -> String {
    Human((secs * 1000.0).round() as Time).to_string()
}

/// Runs the sweep and reports it.
pub fn sweep(args: &SweepArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let (mut scenario, plan) = args.scenario.load()?;
    args.calibration.apply(&mut scenario)?;
    let models = taskdist::sim::SimModels::for_scenario(&scenario, &plan)?;
    let agents = match &args.agents {
        Some(counts) => counts.0.clone(),
        None => (1..=(2 * scenario.agents.len() as u32).max(2)).collect(),
    };
    let policies = match &args.policy {
        Some(p) => p.0.clone(),
        None => vec![scenario.config.policy],
    };
    let spec = SweepSpec {
        agents,
        policies,
        vary: args.vary.clone(),
        seeds: args.seeds,
        base_seed: args.seed.unwrap_or(models.seed),
    };
    let command = command_line(args, &spec);
    let plan = Arc::new(plan);

    let total = spec.run_count();
    let bar = if std::io::stderr().is_terminal() {
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{spinner} sweep [{bar:40}] {pos}/{len} runs, {eta} left")
                .expect("a valid template")
                .progress_chars("=> "),
        );
        bar
    } else {
        ProgressBar::hidden()
    };
    let tick = || bar.inc(1);
    let runs = match args.jobs {
        Some(n) => rayon::ThreadPoolBuilder::new()
            .num_threads(n as usize)
            .build()
            .context("starting the worker threads")?
            .install(|| run_sweep(&scenario, &plan, &spec, &tick))?,
        None => run_sweep(&scenario, &plan, &spec, &tick)?,
    };
    bar.finish_and_clear();
    let points = summarize(&spec, &plan, &runs);

    let failed: Vec<_> = runs.iter().filter(|r| r.result.is_err()).collect();
    if let Some(first) = failed.first() {
        let policy = spec.policies[first.key.policy];
        let vary = match (&spec.vary, first.key.vary) {
            (Some(v), Some(i)) => format!(" with {}={}", v.axis, v.values[i]),
            _ => String::new(),
        };
        eprintln!(
            "warning: {} of {} runs stopped early; the first: {}{vary}; reproduce with: \
             taskdist simulate {} --agents {} --policy {policy} --seed {}",
            failed.len(),
            runs.len(),
            first.result.as_ref().expect_err("a failed run"),
            args.scenario.file.display(),
            first.key.agents,
            first.key.seed,
        );
    }

    writeln!(
        out,
        "swept {}: {} runs ({} agent counts x {} policies{} x {} seeds from {})",
        args.scenario.file.display(),
        total,
        spec.agents.len(),
        spec.policies.len(),
        spec.vary.as_ref().map_or(String::new(), |v| format!(
            " x {} {} values",
            v.values.len(),
            v.axis
        )),
        spec.seeds,
        spec.base_seed
    )?;
    let labels: Vec<String> = series(&points)
        .iter()
        .map(|s| taskdist::report::sweep::series_label(&spec, &s[0]))
        .collect();
    let width = labels.iter().map(String::len).max().unwrap_or(6).max(6);
    writeln!(
        out,
        "{:<width$}  {:>5}  {:>12}  {:>12}  {:>6}",
        "series", "knee", "p50 at knee", "best p50", "at"
    )?;
    for (s, label) in series(&points).into_iter().zip(&labels) {
        match knee(s) {
            Some(k) => writeln!(
                out,
                "{label:<width$}  {:>5}  {:>12}  {:>12}  {:>6}",
                k.agents,
                human(k.makespan_p50),
                human(k.best_makespan_p50),
                k.best_agents
            )?,
            None => writeln!(out, "{label:<width$}  no run finished")?,
        }
    }

    if let Some(dir) = &args.out {
        write_outputs(dir, args, &spec, &plan, &runs, &points, &command)?;
        writeln!(
            out,
            "wrote {0}/report.md, {0}/sweep.csv, {0}/sweep_summary.csv, {0}/speedup.png|svg, \
             {0}/utilization.png|svg",
            dir.display()
        )?;
    }
    Ok(())
}

fn write_outputs(
    dir: &Path,
    args: &SweepArgs,
    spec: &SweepSpec,
    plan: &taskdist::plan::Plan,
    runs: &[taskdist::report::sweep::SweepRun],
    points: &[taskdist::report::sweep::PointSummary],
    command: &str,
) -> anyhow::Result<()> {
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let write = |name: &str, bytes: &[u8]| {
        let path = dir.join(name);
        fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))
    };
    write("sweep.csv", &runs_csv(spec, runs))?;
    write("sweep_summary.csv", &points_csv(spec, points))?;
    let name = args.scenario.file.file_name().map_or_else(
        || args.scenario.file.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let speedup = speedup_figure(&format!("{name}: speedup against agents"), spec, points)?;
    write("speedup.svg", speedup.svg.as_bytes())?;
    write("speedup.png", &speedup.png)?;
    let utilization =
        utilization_figure(&format!("{name}: utilization against agents"), spec, points)?;
    write("utilization.svg", utilization.svg.as_bytes())?;
    write("utilization.png", &utilization.png)?;
    let report = SweepReport {
        scenario: &args.scenario.file.display().to_string(),
        command,
        plan,
        spec,
        points,
    };
    write("report.md", report.markdown().as_bytes())?;
    Ok(())
}

/// The command that reproduces this sweep, with every setting spelled out.
fn command_line(args: &SweepArgs, spec: &SweepSpec) -> String {
    let mut cmd = format!(
        "taskdist sweep {} --agents {} --seeds {}",
        args.scenario.file.display(),
        agents_text(&spec.agents),
        spec.seeds
    );
    if let Some(seed) = args.seed {
        cmd += &format!(" --seed {seed}");
    }
    if args.policy.is_some() {
        let names: Vec<String> = spec.policies.iter().map(ToString::to_string).collect();
        cmd += &format!(" --policy {}", names.join(","));
    }
    if let Some(vary) = &spec.vary {
        let values: Vec<String> = vary.values.iter().map(ToString::to_string).collect();
        cmd += &format!(" --vary {}={}", vary.axis, values.join(","));
    }
    if let Some(dir) = &args.out {
        cmd += &format!(" --out {}", dir.display());
    }
    cmd
}

#[cfg(test)]
mod tests {
    use super::agents_text;

    #[test]
    fn agent_counts_print_as_ranges() {
        assert_eq!(agents_text(&[1, 2, 3, 4, 5, 8]), "1..5,8");
        assert_eq!(agents_text(&[3]), "3");
        assert_eq!(agents_text(&[1, 3, 4]), "1,3..4");
    }
}
