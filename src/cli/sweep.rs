//! `taskdist sweep FILE`: many seeded simulations over agent counts, policies and one
//! optional scenario axis, in parallel; prints the knee of each series and, with
//! `--out DIR`, writes `sweep.csv`, `sweep_summary.csv`, the speedup and utilization
//! figures (PNG and SVG) and `report.md`. With `--shard I/N` it runs one shard of the
//! sweep and writes `DIR/shard.json`; `taskdist sweep-merge` puts the shards together into
//! the files the whole sweep writes, byte for byte.

use super::ScenarioArgs;
use anyhow::Context;
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::fs;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use taskdist::import::{ImportOptions, SourceFormat};
use taskdist::model::format_exact;
use taskdist::model::{Human, Time, count};
use taskdist::report::Summary;
use taskdist::report::figures::{Curve, cost_figure, scurve_figure, tornado_figure};
use taskdist::report::markdown::{RiskSections, SweepReport};
use taskdist::report::plot::{speedup_figure, utilization_figure};
use taskdist::report::risk::{
    Criticality, Distribution, Tornado, TornadoRow, cdf_csv, criticality_csv, finished_plan,
    tornado_bars, tornado_csv,
};
use taskdist::report::shard::{SHARD_FILE, ShardError, ShardFile, ShardRun};
use taskdist::report::sweep::{
    AgentCounts, PointSummary, Policies, Shard, SweepRun, SweepSpec, Vary, cost_knee, knee,
    parse_deadline, points_csv, run_keys, run_sweep, runs_csv, series, summarize,
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
    /// Dispatch policies, comma-separated (critical-path, fifo, layered, priority,
    /// optimized: each run optimizes its own schedule)
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
    /// Report the probability of finishing by this makespan (`8h`, `90m`; a bare number
    /// is in the scenario's time_unit).
    #[arg(long, value_name = "T")]
    deadline: Option<String>,
    /// Run only shard I of N (I counts from 0: `$SLURM_ARRAY_TASK_ID/N`,
    /// `$JOB_COMPLETION_INDEX/N`): every N-th run of the sweep, from run I; writes
    /// DIR/shard.json for `taskdist sweep-merge` (needs --out). With --calibration the
    /// shard file carries the calibration's table: the merge needs no copy of the file.
    #[arg(long, value_name = "I/N", value_parser = parse_shard, requires = "out")]
    shard: Option<Shard>,
    /// Worker threads [default: one per core]. The results do not depend on it.
    #[arg(long, short = 'j', value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=1024))]
    jobs: Option<u32>,
}

fn parse_agents(text: &str) -> Result<AgentCounts, String> {
    text.parse()
        .map_err(|e: taskdist::report::sweep::SweepError| e.to_string())
}

fn parse_shard(text: &str) -> Result<Shard, String> {
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

/// A sweep ready to run or to report: the scenario and plan, the settings, and the
/// canonical arguments (what a shard file records and the report quotes).
struct Setup {
    scenario: taskdist::model::Scenario,
    plan: Arc<taskdist::plan::Plan>,
    spec: SweepSpec,
    /// The tornado's runs: the scenario as written, at its own agent count and the first
    /// policy, over the sweep's seeds. Numbered after the sweep's runs.
    tornado: Tornado,
    /// The canonical arguments after `taskdist`, without `--out`, `--shard` or `-j`.
    argv: Vec<String>,
    /// The scenario file as given.
    scenario_path: String,
}

impl Setup {
    fn new(
        args: &SweepArgs,
        scenario: taskdist::model::Scenario,
        plan: taskdist::plan::Plan,
    ) -> anyhow::Result<Setup> {
        let models = taskdist::sim::SimModels::for_scenario(&scenario, &plan)?;
        let agents = match &args.agents {
            Some(counts) => counts.0.clone(),
            None => (1..=(2 * scenario.agents.len() as u32).max(2)).collect(),
        };
        let policies = match &args.policy {
            Some(p) => p.0.clone(),
            None => vec![scenario.config.policy],
        };
        let deadline = args
            .deadline
            .as_deref()
            .map(|text| parse_deadline(text, scenario.time_unit))
            .transpose()?;
        let spec = SweepSpec {
            agents,
            policies,
            vary: args.vary.clone(),
            seeds: args.seeds,
            base_seed: args.seed.unwrap_or(models.seed),
            deadline,
        };
        let tornado = Tornado::new(
            &plan,
            &models,
            Some(scenario.agents.len() as u32),
            Some(spec.policies[0]),
            spec.seed_list().collect(),
        );
        Ok(Setup {
            tornado,
            argv: canonical_args(args, &spec),
            scenario_path: args.scenario.file.display().to_string(),
            scenario,
            plan: Arc::new(plan),
            spec,
        })
    }

    /// The command that reproduces this sweep, with every setting spelled out.
    fn command(&self) -> String {
        format!("taskdist {}", self.argv.join(" "))
    }
}

/// Runs the sweep (or one shard of it) and reports it.
pub fn sweep(args: &SweepArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let shard = args.shard.unwrap_or(Shard::WHOLE);
    // A shard file carries the scenario's text and the calibration's table, so the merge
    // needs no copy of either file.
    let (text, mut scenario, plan) = if args.shard.is_some() {
        let (text, scenario, plan) = args.scenario.load_with_text()?;
        (Some(text), scenario, plan)
    } else {
        let (scenario, plan) = args.scenario.load()?;
        (None, scenario, plan)
    };
    let models = args.calibration.apply(&mut scenario)?;
    let simulation = args
        .calibration
        .path()
        .and_then(|_| scenario.file.simulation.clone());
    let setup = Setup::new(args, scenario, plan)?;
    let executed = execute(&setup, shard, args.jobs)?;
    writeln!(out, "{models}")?;
    match (text, &args.out) {
        (Some(text), Some(dir)) => {
            let runs_total = setup.spec.run_count() + setup.tornado.run_count();
            let count = executed.runs.len() + executed.tornado.len();
            let split = |result: Result<Summary, taskdist::sim::SimError>| match result {
                Ok(summary) => (Some(summary), None),
                Err(error) => (None, Some(error)),
            };
            let mut shard_runs: Vec<ShardRun> = executed
                .runs
                .into_iter()
                .map(|run| {
                    let (summary, error) = split(run.result);
                    ShardRun {
                        index: run.index,
                        summary,
                        error,
                        critical: run.critical,
                    }
                })
                .collect();
            shard_runs.extend(executed.tornado.into_iter().map(|(index, result)| {
                let (summary, error) = split(result);
                ShardRun {
                    index,
                    summary,
                    error,
                    critical: Vec::new(),
                }
            }));
            let file = ShardFile::new(
                setup.argv.clone(),
                text,
                simulation,
                shard,
                runs_total,
                shard_runs,
            );
            fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            let path = dir.join(SHARD_FILE);
            let bytes = serde_json::to_vec(&file)?;
            fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
            writeln!(
                out,
                "shard {shard} of {}: {count} of {runs_total} runs; wrote {}\n\
                 merge all {} shards with: taskdist sweep-merge DIR... --out DIR",
                setup.command(),
                path.display(),
                shard.count
            )?;
            Ok(())
        }
        _ => report(&setup, &executed, args.out.as_deref(), out),
    }
}

/// Arguments of `taskdist sweep-merge`.
#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The shard directories (the --out of each `taskdist sweep --shard I/N`), in any order.
    #[arg(value_name = "DIR", required = true)]
    shards: Vec<PathBuf>,
    /// Write the sweep's files here, as the unsharded sweep writes them.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
}

/// `sweep`'s arguments alone, to read back the arguments a shard file records.
#[derive(Debug, clap::Parser)]
#[command(name = "taskdist", no_binary_name = true)]
enum Recorded {
    Sweep(SweepArgs),
}

/// Puts the shards of one sweep together and writes what the unsharded sweep writes.
pub fn merge(args: &MergeArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let merged = taskdist::report::shard::merge(&args.shards)?;
    let Recorded::Sweep(sweep_args) = <Recorded as clap::Parser>::try_parse_from(&merged.args)
        .map_err(|e| ShardError::Damaged {
            dir: args.shards[0].clone(),
            reason: format!("its arguments do not parse: {e}"),
        })?;
    let (mut scenario, plan) = taskdist::import::load_text(
        &sweep_args.scenario.file,
        &merged.scenario,
        sweep_args.scenario.format.map(SourceFormat::from),
        &ImportOptions::default(),
    )?;
    // The calibration's table as the shards carry it: the file need not be here.
    if sweep_args.calibration.path().is_some() != merged.simulation.is_some() {
        return Err(ShardError::Damaged {
            dir: args.shards[0].clone(),
            reason: "its arguments and the calibration table it carries disagree".to_string(),
        }
        .into());
    }
    if merged.simulation.is_some() {
        scenario.file.simulation = merged.simulation;
        // The calibration's table, as the shards carry it: its issues are that file's
        // (read again for their lines only if it is here).
        scenario.source.simulation_file = sweep_args.calibration.path().map(|path| {
            (
                path.to_path_buf(),
                taskdist::model::Format::Toml,
                taskdist::model::FileKind::Calibration,
            )
        });
    }
    let setup = Setup::new(&sweep_args, scenario, plan)?;
    assert_eq!(
        setup.argv, merged.args,
        "canonical arguments read back to themselves"
    );
    let keys = run_keys(&setup.spec);
    let main = setup.spec.run_count();
    let total = main + setup.tornado.run_count();
    if merged.runs.len() as u64 != total {
        return Err(ShardError::Damaged {
            dir: args.shards[0].clone(),
            reason: format!(
                "the shards hold {} runs, the sweep has {total}",
                merged.runs.len()
            ),
        }
        .into());
    }
    let mut executed = Executed {
        runs: Vec::with_capacity(main as usize),
        tornado: Vec::new(),
    };
    for run in merged.runs {
        let result = match (run.summary, run.error) {
            (Some(summary), _) => Ok(summary),
            (None, Some(error)) => Err(error),
            (None, None) => unreachable!("ShardFile::read checks each run"),
        };
        if run.index < main {
            executed.runs.push(SweepRun {
                index: run.index,
                key: keys[run.index as usize],
                result,
                critical: run.critical,
            });
        } else {
            executed.tornado.push((run.index, result));
        }
    }
    report(&setup, &executed, Some(&args.out), out)
}

/// Runs `shard`'s runs of the sweep, then its tornado runs, on `jobs` threads, with a
/// progress bar on a terminal.
fn execute(setup: &Setup, shard: Shard, jobs: Option<u32>) -> anyhow::Result<Executed> {
    let main = setup.spec.run_count();
    let total = (0..main + setup.tornado.run_count())
        .filter(|&k| shard.takes(k))
        .count() as u64;
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
    let (scenario, plan, spec) = (&setup.scenario, &setup.plan, &setup.spec);
    let work = || -> anyhow::Result<Executed> {
        let runs = run_sweep(scenario, plan, spec, shard, &tick)?;
        let tornado = setup.tornado.run(scenario, plan, main, shard, &tick);
        Ok(Executed { runs, tornado })
    };
    let executed = match jobs {
        Some(n) => rayon::ThreadPoolBuilder::new()
            .num_threads(n as usize)
            .build()
            .context("starting the worker threads")?
            .install(work)?,
        None => work()?,
    };
    bar.finish_and_clear();
    Ok(executed)
}

/// The results of a sweep's runs (or of one shard's): the sweep's runs, then the
/// tornado's, each with its number in the sweep's run list.
struct Executed {
    runs: Vec<SweepRun>,
    tornado: Vec<(u64, Result<Summary, taskdist::sim::SimError>)>,
}

/// Prints the knee of each series and, with `dir`, writes the sweep's files.
fn report(
    setup: &Setup,
    executed: &Executed,
    dir: Option<&Path>,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let spec = &setup.spec;
    let runs = &executed.runs;
    let points = summarize(spec, &setup.plan, runs);
    let risk = Risk::new(setup, executed, &points);
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
            setup.scenario_path,
            first.key.agents,
            first.key.seed,
        );
    }

    writeln!(
        out,
        "swept {}: {} ({} x {}{} x {} from {})",
        setup.scenario_path,
        count(spec.run_count(), "run", "runs"),
        count(spec.agents.len(), "agent count", "agent counts"),
        count(spec.policies.len(), "policy", "policies"),
        spec.vary.as_ref().map_or(String::new(), |v| format!(
            " x {} {}",
            count(v.values.len(), "value", "values"),
            v.axis
        )),
        count(spec.seeds, "seed", "seeds"),
        spec.base_seed
    )?;
    let incomplete: usize = points.iter().map(|p| p.incomplete).sum();
    if incomplete > 0 {
        writeln!(
            out,
            "{incomplete} of {} lost tasks (failed for good or skipped) and did not finish the \
             plan: the medians and knees are over the others",
            count(runs.len(), "run", "runs")
        )?;
    }
    let labels: Vec<String> = series(&points)
        .iter()
        .map(|s| taskdist::report::sweep::series_label(spec, &s[0]))
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
            None => writeln!(out, "{label:<width$}  no run finished the plan")?,
        }
    }

    risk.print(setup, out)?;

    if let Some(dir) = dir {
        write_outputs(dir, setup, runs, &points, &risk)?;
        writeln!(
            out,
            "wrote {0}/report.md, {0}/sweep.csv, {0}/sweep_summary.csv, {0}/speedup.png|svg, \
             {0}/utilization.png|svg, {0}/cost.png|svg, {0}/scurve.png|svg, \
             {0}/makespan_cdf.csv, {0}/criticality.csv, {0}/tornado.csv, {0}/tornado.png|svg",
            dir.display()
        )?;
    }
    Ok(())
}

/// The risk and cost results of a sweep: per series its knees and the makespan
/// distribution at its knee, the criticality of every point, and the tornado.
struct Risk {
    /// Per series: label, knee by time, knee by cost, the S-curve and distribution at the
    /// knee (by time).
    series: Vec<SeriesRisk>,
    /// Per point (in `points` order), its finished runs' makespans.
    curves: Vec<Curve>,
    /// Per point (in `points` order), its runs' criticality ranking.
    criticality: Vec<Vec<Criticality>>,
    /// The headline: the series with the shortest median makespan at its knee (index
    /// into `series`), if any run finished.
    headline: Option<usize>,
    /// The tornado's bars.
    tornado: Vec<TornadoRow>,
}

struct SeriesRisk {
    label: String,
    knee: Option<taskdist::report::sweep::Knee>,
    cost_knee: Option<taskdist::report::sweep::CostKnee>,
    /// The S-curve at the knee, and the index of that point.
    at_knee: Option<(Curve, Distribution, usize)>,
}

impl Risk {
    fn new(setup: &Setup, executed: &Executed, points: &[PointSummary]) -> Risk {
        let spec = &setup.spec;
        let runs = &executed.runs;
        // Runs are grouped by point in points' order: `seeds` runs each.
        let seeds = spec.seeds as usize;
        let point_runs = |i: usize| &runs[i * seeds..(i + 1) * seeds];
        let curves: Vec<Curve> = (0..points.len())
            .map(|i| {
                let mut makespans: Vec<f64> = point_runs(i)
                    .iter()
                    .filter_map(|r| finished_plan(&r.result).map(|s| s.makespan))
                    .collect();
                makespans.sort_by(f64::total_cmp);
                Curve {
                    label: String::new(),
                    makespans,
                    runs: seeds,
                }
            })
            .collect();
        let criticality: Vec<Vec<Criticality>> = (0..points.len())
            .map(|i| {
                let finished: Vec<&SweepRun> = point_runs(i)
                    .iter()
                    .filter(|r| finished_plan(&r.result).is_some())
                    .collect();
                taskdist::report::risk::criticality(
                    &setup.plan,
                    finished.iter().map(|r| r.critical.as_slice()),
                    finished.len(),
                )
            })
            .collect();
        let mut offset = 0;
        let mut series_risk = Vec::new();
        for s in series(points) {
            let label = taskdist::report::sweep::series_label(spec, &s[0]);
            let knee = knee(s);
            let at_knee = knee.as_ref().map(|k| {
                let i = offset
                    + s.iter()
                        .position(|p| p.agents == k.agents)
                        .expect("a point");
                let c = Curve {
                    label: format!("{label}, {}", count(k.agents, "agent", "agents")),
                    ..curves[i].clone()
                };
                let d = Distribution::new(&c.makespans, seeds, spec.deadline);
                (c, d, i)
            });
            series_risk.push(SeriesRisk {
                label,
                cost_knee: cost_knee(s),
                knee,
                at_knee,
            });
            offset += s.len();
        }
        let headline = series_risk
            .iter()
            .enumerate()
            .filter_map(|(i, s)| Some((i, s.knee.as_ref()?.best_makespan_p50)))
            .min_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)))
            .map(|(i, _)| i);
        let makespans: Vec<Option<f64>> = executed
            .tornado
            .iter()
            .map(|(_, r)| finished_plan(r).map(|s| s.makespan))
            .collect();
        Risk {
            series: series_risk,
            curves,
            criticality,
            headline,
            tornado: setup.tornado.rows(&makespans),
        }
    }

    /// What the tornado ran, in words.
    fn tornado_config(setup: &Setup) -> String {
        format!(
            "the scenario as written, {}, {}, {}",
            count(setup.tornado.agents.unwrap_or(0), "agent", "agents"),
            setup.spec.policies[0],
            count(setup.spec.seeds, "seed", "seeds")
        )
    }

    fn print(&self, setup: &Setup, out: &mut dyn Write) -> anyhow::Result<()> {
        let priced = self
            .series
            .iter()
            .any(|s| s.cost_knee.as_ref().is_some_and(|k| k.cost_held_p50 > 0.0));
        for s in &self.series {
            if priced && let Some(c) = &s.cost_knee {
                writeln!(
                    out,
                    "{}: knee by cost {} ({} p50, held cost {:.2}, busy cost {:.2})",
                    s.label,
                    count(c.agents, "agent", "agents"),
                    human(c.makespan_p50),
                    c.cost_held_p50,
                    c.cost_busy_p50
                )?;
            }
            if let Some((c, d, _)) = &s.at_knee {
                write!(
                    out,
                    "{}: makespan p50 {} p80 {} p95 {}",
                    c.label,
                    d.p50.map_or("–".into(), human),
                    d.p80.map_or("–".into(), human),
                    d.p95.map_or("–".into(), human)
                )?;
                if let (Some(t), Some(p)) = (d.deadline, d.deadline_probability) {
                    write!(out, ", P(by {}) {:.1}%", human(t), p * 100.0)?;
                }
                writeln!(out)?;
            }
        }
        if let Some(h) = self.headline
            && let Some((c, _, i)) = &self.series[h].at_knee
        {
            let top: Vec<String> = self.criticality[*i]
                .iter()
                .filter(|c| c.runs_on_path > 0)
                .take(5)
                .map(|c| format!("{} {:.0}%", c.task_id, c.criticality * 100.0))
                .collect();
            writeln!(out, "most critical at {}: {}", c.label, top.join(", "))?;
        }
        let top: Vec<String> = self
            .tornado
            .iter()
            .take(3)
            .filter_map(|r| Some(format!("{} (swing {})", r.label(), human(r.swing?))))
            .collect();
        if !top.is_empty() {
            writeln!(
                out,
                "moves p80 most ({}): {}",
                Risk::tornado_config(setup),
                top.join(", ")
            )?;
        }
        Ok(())
    }

    fn sections(&self, setup: &Setup) -> String {
        let cost: Vec<_> = self
            .series
            .iter()
            .map(|s| (s.label.clone(), s.knee.clone(), s.cost_knee.clone()))
            .collect();
        let curves: Vec<(String, Distribution)> = self
            .series
            .iter()
            .filter_map(|s| {
                s.at_knee
                    .as_ref()
                    .map(|(c, d, _)| (c.label.clone(), d.clone()))
            })
            .collect();
        let (over, ranked) = match self.headline.and_then(|h| self.series[h].at_knee.as_ref()) {
            Some((c, d, i)) => (
                format!(
                    "the {} runs of {} (the headline knee) that finished the plan",
                    d.finished, c.label
                ),
                self.criticality[*i].as_slice(),
            ),
            None => ("no run that finished the plan".to_string(), &[][..]),
        };
        RiskSections {
            cost: &cost,
            curves: &curves,
            criticality: (&over, ranked),
            tornado: (&Risk::tornado_config(setup), &self.tornado),
        }
        .markdown()
    }
}

fn write_outputs(
    dir: &Path,
    setup: &Setup,
    runs: &[SweepRun],
    points: &[PointSummary],
    risk: &Risk,
) -> anyhow::Result<()> {
    let spec = &setup.spec;
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let write = |name: &str, bytes: &[u8]| {
        let path = dir.join(name);
        fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))
    };
    write("sweep.csv", &runs_csv(spec, runs))?;
    write("sweep_summary.csv", &points_csv(spec, points))?;
    let name = Path::new(&setup.scenario_path).file_name().map_or_else(
        || setup.scenario_path.clone(),
        |n| n.to_string_lossy().into_owned(),
    );
    let speedup = speedup_figure(&format!("{name}: speedup against agents"), spec, points)?;
    write("speedup.svg", speedup.svg.as_bytes())?;
    write("speedup.png", &speedup.png)?;
    let utilization =
        utilization_figure(&format!("{name}: utilization against agents"), spec, points)?;
    write("utilization.svg", utilization.svg.as_bytes())?;
    write("utilization.png", &utilization.png)?;
    let cost = cost_figure(
        &format!("{name}: median makespan against cost"),
        spec,
        points,
    )?;
    write("cost.svg", cost.svg.as_bytes())?;
    write("cost.png", &cost.png)?;

    // The point columns every per-point risk CSV starts with.
    let mut keys = vec!["agents", "policy"];
    if let Some(vary) = &spec.vary {
        keys.push(vary.axis.as_str());
    }
    let key = |p: &PointSummary| {
        let mut cells = vec![p.agents.to_string(), p.policy.clone()];
        if spec.vary.is_some() {
            cells.push(spec.vary_label(p.vary));
        }
        cells
    };
    write(
        "makespan_cdf.csv",
        &cdf_csv(&keys, points.iter().map(key).zip(&risk.curves)),
    )?;
    write(
        "criticality.csv",
        &criticality_csv(
            &keys,
            points
                .iter()
                .map(key)
                .zip(risk.criticality.iter().map(Vec::as_slice)),
        ),
    )?;
    let knee_curves: Vec<Curve> = risk
        .series
        .iter()
        .filter_map(|s| s.at_knee.as_ref().map(|(c, _, _)| c.clone()))
        .collect();
    let deadline = spec.deadline.map(taskdist::model::seconds);
    let scurve = scurve_figure(
        &format!("{name}: makespan distribution at each knee"),
        &knee_curves,
        deadline,
    )?;
    write("scurve.svg", scurve.svg.as_bytes())?;
    write("scurve.png", &scurve.png)?;
    write("tornado.csv", &tornado_csv(&risk.tornado))?;
    let base = risk.tornado.first().and_then(|r| r.p80_base).unwrap_or(0.0);
    let tornado = tornado_figure(
        &format!("{name}: what moves the p80 makespan"),
        base,
        &tornado_bars(&risk.tornado),
    )?;
    write("tornado.svg", tornado.svg.as_bytes())?;
    write("tornado.png", &tornado.png)?;

    let command = setup.command();
    let sections = risk.sections(setup);
    let report = SweepReport {
        scenario: &setup.scenario_path,
        command: &command,
        plan: &setup.plan,
        spec,
        points,
        risk: &sections,
    };
    write("report.md", report.markdown().as_bytes())?;
    Ok(())
}

/// The sweep's arguments after `taskdist`, every setting spelled out, in one canonical
/// form: what the report quotes, and what identifies the sweep in its shard files. The
/// output directory, the shard and the thread count are left out: none changes the
/// results.
fn canonical_args(args: &SweepArgs, spec: &SweepSpec) -> Vec<String> {
    let mut argv: Vec<String> = vec![
        "sweep".into(),
        args.scenario.file.display().to_string(),
        "--agents".into(),
        agents_text(&spec.agents),
        "--seeds".into(),
        spec.seeds.to_string(),
    ];
    if let Some(format) = args.scenario.format {
        let name = format
            .to_possible_value()
            .expect("every format has a name")
            .get_name()
            .to_string();
        argv.extend(["--format".into(), name]);
    }
    if let Some(path) = args.calibration.path() {
        argv.extend(["--calibration".into(), path.display().to_string()]);
    }
    if let Some(seed) = args.seed {
        argv.extend(["--seed".into(), seed.to_string()]);
    }
    if args.policy.is_some() {
        let names: Vec<String> = spec.policies.iter().map(ToString::to_string).collect();
        argv.extend(["--policy".into(), names.join(",")]);
    }
    if let Some(vary) = &spec.vary {
        let values: Vec<String> = vary.values.iter().map(ToString::to_string).collect();
        argv.extend([
            "--vary".into(),
            format!("{}={}", vary.axis, values.join(",")),
        ]);
    }
    if let Some(deadline) = spec.deadline {
        argv.extend(["--deadline".into(), format_exact(deadline)]);
    }
    argv
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
