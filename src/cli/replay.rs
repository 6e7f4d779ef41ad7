//! `taskdist replay RUN`: re-simulates a recorded run with its own attempts (see
//! [`taskdist::replay`]), optionally with other agents or another policy; prints the
//! summary and the recorded-vs-replayed makespan, and with `--out DIR` writes the same
//! files as `simulate` plus `replay.json`.

use super::simulate::OutFiles;
use anyhow::Context;
use clap::Args;
use serde::Serialize;
use std::io::Write;
use std::path::PathBuf;
use taskdist::calibrate::RecordedRun;
use taskdist::model::Policy;
use taskdist::replay::{Replay, ReplayOptions, replay as run_replay};
use taskdist::report::Summary;

/// Arguments of `taskdist replay`.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// The run database, or the run directory holding taskdist.db.
    #[arg(value_name = "RUN")]
    run: PathBuf,
    /// Replay with N agents (the recorded list repeated); recorded agent losses are then
    /// not replayed unless N is the recorded number [default: the recorded agents].
    #[arg(long, short = 'n', value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    agents: Option<u32>,
    /// Dispatch policy [default: the recorded one].
    #[arg(long, value_name = "P", value_parser = |s: &str| s.parse::<Policy>())]
    policy: Option<Policy>,
    /// Seed of the draws for attempts beyond the recorded ones.
    #[arg(long, value_name = "S", default_value_t = 0)]
    seed: u64,
    /// Write summary.json, trace.csv, events.jsonl, gantt.svg, gantt.png and replay.json
    /// into this directory.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Print the summary and the comparison as JSON instead of text.
    #[arg(long)]
    json: bool,
}

/// The recorded-vs-replayed comparison (`replay.json`).
#[derive(Debug, Serialize)]
struct Comparison<'a> {
    run: String,
    agents: usize,
    policy: Policy,
    seed: u64,
    recorded_makespan: f64,
    replayed_makespan: f64,
    makespan_error: f64,
    same_agent_attempts: usize,
    recorded_attempts: usize,
    same_agent_share: f64,
    agent_losses_replayed: bool,
    summary: &'a Summary,
}

fn comparison<'a>(args: &ReplayArgs, replay: &Replay, summary: &'a Summary) -> Comparison<'a> {
    Comparison {
        run: args.run.display().to_string(),
        agents: replay.run.agents.len(),
        policy: replay.config.policy,
        seed: args.seed,
        recorded_makespan: replay.recorded_makespan_ms as f64 / 1000.0,
        replayed_makespan: replay.run.makespan as f64 / 1000.0,
        makespan_error: replay.makespan_error(),
        same_agent_attempts: replay.same_agent.0,
        recorded_attempts: replay.same_agent.1,
        same_agent_share: replay.same_agent_share(),
        agent_losses_replayed: replay.losses_replayed,
        summary,
    }
}

/// Reads the run (refusing a bad database before anything is written), replays, reports.
pub fn replay(args: &ReplayArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let recorded = RecordedRun::open(&args.run)?;
    let options = ReplayOptions {
        agents: args.agents,
        policy: args.policy,
        seed: args.seed,
    };
    let mut files = OutFiles::create(args.out.as_deref(), recorded.plan.len())?;
    let replay = run_replay(&recorded, &options, &mut |event| files.event(event))
        .with_context(|| format!("replaying {}", args.run.display()))?;
    let name = format!("replay of {}", recorded.scenario_path.display());
    let summary = files.finish(&replay.run, &replay.plan, &replay.config, &name, None, None)?;
    let comparison = comparison(args, &replay, &summary);
    let json = serde_json::to_string_pretty(&comparison)? + "\n";
    if let Some(dir) = &args.out {
        let path = dir.join("replay.json");
        std::fs::write(&path, &json).with_context(|| format!("writing {}", path.display()))?;
    }
    if args.json {
        write!(out, "{json}")?;
        return Ok(());
    }
    writeln!(out, "{summary}")?;
    writeln!(
        out,
        "recorded makespan {:.3} s, replayed {:.3} s ({:+.2} %); same agent for {} of {} recorded attempts ({:.1} %){}",
        comparison.recorded_makespan,
        comparison.replayed_makespan,
        100.0 * comparison.makespan_error,
        comparison.same_agent_attempts,
        comparison.recorded_attempts,
        100.0 * comparison.same_agent_share,
        if replay.losses_replayed {
            ""
        } else {
            "; recorded agent losses not replayed (another pool)"
        }
    )?;
    if let Some(dir) = &args.out {
        writeln!(
            out,
            "wrote {0}/summary.json, {0}/trace.csv, {0}/events.jsonl, {0}/gantt.svg, {0}/gantt.png, {0}/replay.json",
            dir.display()
        )?;
    }
    Ok(())
}
