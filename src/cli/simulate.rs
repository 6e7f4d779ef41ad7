//! `taskdist simulate FILE`: one deterministic simulated run, its summary, and with
//! `--out DIR` the files `summary.json`, `trace.csv`, `events.jsonl` and the Gantt chart
//! `gantt.svg` / `gantt.png`; with `--serve`, the run replayed through the live page at
//! `--speed`.

use super::ScenarioArgs;
use anyhow::Context;
use clap::Args;
use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::Arc;
use taskdist::core::EventKind;
use taskdist::model::Policy;
use taskdist::report::gantt::{Gantt, lock_waits, title as gantt_title};
use taskdist::report::{Summary, trace_csv};
use taskdist::sim::{SimModels, run_setup, simulate as run_simulation};

/// Arguments of `taskdist simulate`.
#[derive(Debug, Args)]
pub struct SimulateArgs {
    #[command(flatten)]
    scenario: ScenarioArgs,
    /// Run with N agents, repeating the scenario's agent list in order (a mix of
    /// capabilities keeps its proportions); also sets max_agents to N
    /// [default: the scenario's agents].
    #[arg(long, short = 'n', value_name = "N", value_parser = clap::value_parser!(u32).range(1..=taskdist::model::MAX_AGENTS as i64))]
    agents: Option<u32>,
    /// Master seed of every random draw [default: simulation.seed, else 0].
    #[arg(long, value_name = "S")]
    seed: Option<u64>,
    /// Dispatch policy [default: config.policy].
    #[arg(long, value_name = "P", value_parser = parse_policy)]
    policy: Option<Policy>,
    /// Write summary.json, trace.csv, events.jsonl, gantt.svg and gantt.png into this
    /// directory.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Print the summary as JSON instead of text.
    #[arg(long)]
    json: bool,
    #[cfg(feature = "serve")]
    #[command(flatten)]
    serve: super::serve::ServeArgs,
    /// With --serve: simulated time per real time of the replay (60: a simulated minute
    /// per second) [default: the replay takes about a minute, and at least real time].
    #[cfg(feature = "serve")]
    #[arg(long, value_name = "X", requires = "serve", value_parser = parse_speed)]
    speed: Option<f64>,
}

#[cfg(feature = "serve")]
fn parse_speed(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(x) if x.is_finite() && x > 0.0 => Ok(x),
        _ => Err(format!("`{text}` is not a positive number")),
    }
}

/// How long a replay takes at the default speed.
#[cfg(feature = "serve")]
const REPLAY_MS: f64 = 60_000.0;

fn parse_policy(text: &str) -> Result<Policy, String> {
    text.parse()
}

/// Runs the simulation and reports it.
pub fn simulate(args: &SimulateArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let (scenario, plan) = args.scenario.load()?;
    let models = SimModels::for_scenario(&scenario, &plan)?;
    let seed = args.seed.unwrap_or(models.seed);
    let (config, agents) = run_setup(&scenario, args.agents, args.policy);
    let plan = Arc::new(plan);

    let mut events = match &args.out {
        Some(dir) => {
            fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            let path = dir.join("events.jsonl");
            let file =
                File::create(&path).with_context(|| format!("creating {}", path.display()))?;
            Some((BufWriter::new(file), path))
        }
        None => None,
    };
    let mut write_error: Option<std::io::Error> = None;
    // The Gantt chart's lock waits are rebuilt from these two kinds of event.
    let mut held_events = Vec::new();
    #[cfg(feature = "serve")]
    let mut replay: Option<Vec<taskdist::core::Event>> = args.serve.serve.map(|_| Vec::new());
    let mut on_event = |event: &taskdist::core::Event| {
        #[cfg(feature = "serve")]
        if let Some(replay) = replay.as_mut() {
            replay.push(event.clone());
        }
        if events.is_some()
            && matches!(
                event.kind,
                EventKind::TaskBlocked { .. } | EventKind::TaskExecute { .. }
            )
        {
            held_events.push(event.clone());
        }
        if let Some((writer, _)) = events.as_mut()
            && write_error.is_none()
        {
            let line = serde_json::to_string(event).expect("events serialize");
            if let Err(e) = writeln!(writer, "{line}") {
                write_error = Some(e);
            }
        }
    };
    let reproduce = format!(
        "taskdist simulate {} --seed {seed}{}{}",
        args.scenario.file.display(),
        args.agents
            .map_or(String::new(), |n| format!(" --agents {n}")),
        args.policy
            .map_or(String::new(), |p| format!(" --policy {p}"))
    );
    let run = run_simulation(
        plan.clone(),
        config.clone(),
        agents,
        &models,
        seed,
        &mut on_event,
    )
    .with_context(|| format!("reproduce with: {reproduce}"))?;
    if let Some((mut writer, path)) = events {
        if let Some(e) = write_error {
            return Err(e).with_context(|| format!("writing {}", path.display()));
        }
        writer
            .flush()
            .with_context(|| format!("writing {}", path.display()))?;
    }

    let trace = trace_csv(&run, &plan);
    let summary = Summary::new(&run, &plan, &config, &trace);
    if let Some(dir) = &args.out {
        let write = |name: &str, bytes: &[u8]| {
            let path = dir.join(name);
            fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))
        };
        write("trace.csv", &trace)?;
        let mut json = serde_json::to_string_pretty(&summary)?;
        json.push('\n');
        write("summary.json", json.as_bytes())?;
        let name = args.scenario.file.file_name().map_or_else(
            || args.scenario.file.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        let waits = lock_waits(&plan, &held_events);
        let gantt = Gantt {
            run: &run,
            plan: &plan,
            lock_waits: &waits,
            title: gantt_title(&name, &run, config.policy.as_str()),
        }
        .figure()?;
        write("gantt.svg", gantt.svg.as_bytes())?;
        write("gantt.png", &gantt.png)?;
    }
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&summary)?)?;
    } else {
        writeln!(out, "{summary}")?;
        match &args.out {
            Some(dir) => writeln!(
                out,
                "wrote {0}/summary.json, {0}/trace.csv, {0}/events.jsonl, {0}/gantt.svg, {0}/gantt.png",
                dir.display()
            )?,
            None => writeln!(out, "reproduce: {reproduce}")?,
        }
    }
    #[cfg(feature = "serve")]
    if let Some(events) = replay {
        out.flush()?;
        let speed = args
            .speed
            .unwrap_or_else(|| three_digits((run.makespan as f64 / REPLAY_MS).max(1.0)));
        let title = args
            .scenario
            .file
            .file_stem()
            .map_or_else(|| "simulation".into(), |s| s.to_string_lossy());
        let state = taskdist::serve::LiveState::new(
            &plan,
            &title,
            taskdist::serve::Source::Simulation,
            speed,
        );
        let p = &run.progress;
        let why = if p.completed_tasks == p.total_tasks {
            "completed"
        } else {
            "failed"
        };
        if let Some(page) = args.serve.start(state)? {
            eprintln!(
                "replaying {} events over {} of simulated time at {speed}x: {}",
                events.len(),
                human(run.makespan as f64),
                human(run.makespan as f64 / speed)
            );
            replay_events(&page.live(), &events, speed);
            page.finish(why, true)?;
        }
    }
    Ok(())
}

/// `x` rounded to three significant digits (a speed to print).
#[cfg(feature = "serve")]
fn three_digits(x: f64) -> f64 {
    let scale = 10f64.powi(x.log10().floor() as i32 - 2);
    (x / scale).round() * scale
}

/// `3h 25m`, `4m 05s`, `2.5 s`.
#[cfg(feature = "serve")]
fn human(ms: f64) -> String {
    let s = (ms / 1000.0).round() as u64;
    if s >= 3600 {
        format!("{}h {:02}m", s / 3600, s / 60 % 60)
    } else if s >= 60 {
        format!("{}m {:02}s", s / 60, s % 60)
    } else {
        format!("{:.1} s", ms / 1000.0)
    }
}

/// Publishes each event when its time comes, `speed` times faster than it happened.
#[cfg(feature = "serve")]
fn replay_events(live: &taskdist::serve::Live, events: &[taskdist::core::Event], speed: f64) {
    let start = std::time::Instant::now();
    for event in events {
        let due = start + std::time::Duration::from_secs_f64(event.time as f64 / speed / 1000.0);
        let now = std::time::Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        live.publish(event);
    }
}
