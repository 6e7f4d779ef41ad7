//! `taskdist simulate FILE`: one deterministic simulated run, its summary, and with
//! `--out DIR` the files `summary.json`, `trace.csv`, `events.jsonl` and the Gantt chart
//! `gantt.svg` / `gantt.png`; with `--serve`, the run replayed through the live page at
//! `--speed`. With `--seeds N`, N seeds of the configuration and the risk outputs instead
//! (makespan distribution, criticality, tornado).

use super::ScenarioArgs;
use anyhow::Context;
use clap::Args;
use rayon::prelude::*;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use taskdist::core::EventKind;
use taskdist::drive::run_setup;
use taskdist::model::{Config, Human, Policy, Time, count};
use taskdist::plan::{LowerBound, Plan};
use taskdist::report::figures::{Curve, scurve_figure, tornado_figure};
use taskdist::report::gantt::{Gantt, lock_waits, title as gantt_title};
use taskdist::report::markdown::RiskSections;
use taskdist::report::risk::{
    Distribution, Tornado, cdf_csv, criticality, criticality_csv, finished_plan, tornado_bars,
    tornado_csv,
};
use taskdist::report::sweep::{Shard, parse_deadline, simulate_config};
use taskdist::report::{Summary, TraceHasher, trace_csv, trace_hash_of};
use taskdist::sim::{AttemptRecord, SimError};
use taskdist::sim::{SimModels, SimRun, simulate_sealing};

/// Arguments of `taskdist simulate`.
#[derive(Debug, Args)]
pub struct SimulateArgs {
    #[command(flatten)]
    scenario: ScenarioArgs,
    #[command(flatten)]
    calibration: super::calibrate::CalibrationArg,
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
    /// Follow this schedule (`taskdist plan --optimize --json` output) under the
    /// `optimized` policy; without it, `--policy optimized` computes one.
    #[arg(long, value_name = "FILE")]
    schedule: Option<PathBuf>,
    /// Write summary.json, trace.csv, events.jsonl, gantt.svg and gantt.png into this
    /// directory.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Print the summary as JSON instead of text.
    #[arg(long)]
    json: bool,
    /// Simulate N seeds of this configuration (from --seed on) instead of one, and report
    /// the makespan distribution (p50/p80/p95), each task's criticality index and the
    /// tornado of what moves the p80; with --out, write risk.md, runs.csv,
    /// makespan_cdf.csv, criticality.csv, tornado.csv and the S-curve and tornado charts.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    #[cfg_attr(feature = "serve", arg(conflicts_with = "serve"))]
    seeds: Option<u32>,
    /// With --seeds: report the probability of finishing by this makespan (`8h`, `90m`; a
    /// bare number is in the scenario's time_unit).
    #[arg(long, value_name = "T", requires = "seeds")]
    deadline: Option<String>,
    /// With --seeds: worker threads [default: one per core]. The results do not depend on it.
    #[arg(long, short = 'j', value_name = "N", requires = "seeds",
          value_parser = clap::value_parser!(u32).range(1..=1024))]
    jobs: Option<u32>,
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
    if let Some(n) = args.seeds {
        return simulate_seeds(args, n, out);
    }
    let Setup {
        scenario: _,
        plan,
        models,
        models_line,
        seed,
        config,
        agents,
    } = Setup::new(args)?;
    let mut progress = super::progress::Simulating::new(plan.len());
    let mut files = OutFiles::create(args.out.as_deref(), plan.len())?;
    #[cfg(feature = "serve")]
    let mut replay: Option<Vec<taskdist::core::Event>> = args.serve.serve.map(|_| Vec::new());
    let mut on_event = |event: &taskdist::core::Event| {
        progress.observe(event);
        #[cfg(feature = "serve")]
        if let Some(replay) = replay.as_mut() {
            replay.push(event.clone());
        }
        files.event(event);
    };
    let reproduce = format!(
        "taskdist simulate {}{} --seed {seed}{}{}",
        args.scenario.file.display(),
        args.calibration.flag(),
        args.agents
            .map_or(String::new(), |n| format!(" --agents {n}")),
        args.policy
            .map_or(String::new(), |p| format!(" --policy {p}"))
    );
    // The plan's lower bound, which the summary gives, does not depend on the run: at a
    // million tasks it takes a tenth of a second, spent on another core meanwhile. So is
    // the trace's hash when no trace is written: each block of rows as soon as the run
    // will not change it again, where it took another tenth of a second after the run.
    let working = Summary::working_agents(agents.len(), &config);
    let (run, bound, trace_hash) = std::thread::scope(|scope| {
        let bound = scope.spawn(|| plan.lower_bound(working));
        let mut run = |on_sealed: &mut dyn FnMut(&[AttemptRecord])| {
            simulate_sealing(
                plan.clone(),
                config.clone(),
                agents.clone(),
                &models,
                seed,
                &mut on_event,
                on_sealed,
            )
        };
        if args.out.is_some() {
            // The trace is written, and hashed as written.
            return (run(&mut |_| {}), joined(bound), None);
        }
        // Blocks go to the hashing thread and come back to be filled again, so that the
        // rows are copied into the same few buffers rather than into fresh memory.
        let (full, to_hash) = std::sync::mpsc::channel::<Vec<AttemptRecord>>();
        let (spare, hashed) = std::sync::mpsc::channel::<Vec<AttemptRecord>>();
        let (agents, plan) = (&agents, &plan);
        let hasher = scope.spawn(move || {
            let mut hasher = TraceHasher::new();
            for rows in to_hash {
                hasher.update(agents, plan, &rows);
                // The simulation may have ended and stopped taking buffers back.
                let _ = spare.send(rows);
            }
            hasher.finish()
        });
        let mut on_sealed = |rows: &[AttemptRecord]| {
            let mut block = hashed.try_recv().unwrap_or_default();
            block.clear();
            block.extend_from_slice(rows);
            full.send(block)
                .expect("the hashing thread takes every block");
        };
        let run = run(&mut on_sealed);
        drop(full);
        (run, joined(bound), Some(joined(hasher)))
    });
    let run = run.with_context(|| format!("reproduce with: {reproduce}"))?;
    progress.finish();
    let name = args.scenario.file.file_name().map_or_else(
        || args.scenario.file.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let summary = files.finish(&run, &plan, &config, &name, Some(bound), trace_hash)?;
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&summary)?)?;
    } else {
        writeln!(out, "{summary}")?;
        writeln!(out, "simulated; {models_line}")?;
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
    super::leave_to_exit((run, plan));
    Ok(())
}

/// What a scoped thread returned; its panic, if it panicked, goes on in this thread.
fn joined<T>(handle: std::thread::ScopedJoinHandle<'_, T>) -> T {
    handle
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

/// A simulated run's files in `--out DIR`: `events.jsonl` written as the events come (the
/// ones the Gantt chart's lock waits are rebuilt from kept), then `trace.csv`,
/// `summary.json`, `gantt.svg` and `gantt.png`. Shared by `simulate` and `replay`.
pub(super) struct OutFiles {
    dir: Option<PathBuf>,
    events: Option<EventsFile>,
    held_events: Vec<taskdist::core::Event>,
    /// Whether the Gantt chart draws one bar per attempt and so needs the lock waits; a
    /// plan too big for that gets the aggregated chart, which draws none.
    keep_held: bool,
}

/// Bytes of `events.jsonl` written to the file at a time.
const EVENT_CHUNK: usize = 1 << 20;

/// Events handed to the writing thread at a time.
const EVENT_BATCH: usize = 4096;

/// `events.jsonl`: the simulating thread copies the events into batches of
/// [`EVENT_BATCH`], and a second thread serializes them and writes them to the file, so the
/// simulation neither serializes (a million-task run writes 700 MiB of JSON) nor waits on
/// the file system. The writer hands each batch back once written, and the simulating
/// thread empties it: the events' shared strings are counted up and down on one thread
/// only.
struct EventsFile {
    path: PathBuf,
    batch: Vec<taskdist::core::Event>,
    /// `None` once the writer has stopped on an error (which `finish` reports).
    sender: Option<std::sync::mpsc::SyncSender<Vec<taskdist::core::Event>>>,
    /// Batches the writer has written, to be emptied and filled again.
    spare: std::sync::mpsc::Receiver<Vec<taskdist::core::Event>>,
    writer: std::thread::JoinHandle<std::io::Result<()>>,
}

impl EventsFile {
    fn create(path: PathBuf) -> anyhow::Result<EventsFile> {
        let mut file =
            File::create(&path).with_context(|| format!("creating {}", path.display()))?;
        let (sender, receiver) = std::sync::mpsc::sync_channel::<Vec<taskdist::core::Event>>(4);
        let (give_back, spare) = std::sync::mpsc::channel();
        let writer = std::thread::Builder::new()
            .name("events.jsonl".into())
            .spawn(move || {
                let mut chunk = Vec::with_capacity(EVENT_CHUNK + 4096);
                let mut scratch = Vec::new();
                for batch in receiver {
                    for event in &batch {
                        event_line(&mut chunk, &mut scratch, event);
                        if chunk.len() >= EVENT_CHUNK {
                            file.write_all(&chunk)?;
                            chunk.clear();
                        }
                    }
                    // The other end is gone only once no more batches come.
                    let _ = give_back.send(batch);
                }
                file.write_all(&chunk)?;
                file.flush()
            })
            .context("starting the thread that writes events.jsonl")?;
        Ok(EventsFile {
            path,
            batch: Vec::with_capacity(EVENT_BATCH),
            sender: Some(sender),
            spare,
            writer,
        })
    }

    fn write(&mut self, event: &taskdist::core::Event) {
        if self.sender.is_none() {
            return;
        }
        self.batch.push(event.clone());
        if self.batch.len() >= EVENT_BATCH {
            self.send();
        }
    }

    fn send(&mut self) {
        let next = match self.spare.try_recv() {
            Ok(mut written) => {
                written.clear();
                written
            }
            Err(_) => Vec::with_capacity(EVENT_BATCH),
        };
        let batch = std::mem::replace(&mut self.batch, next);
        if let Some(sender) = &self.sender
            && sender.send(batch).is_err()
        {
            // The writer stopped on an error; `finish` reports it.
            self.sender = None;
        }
    }

    fn finish(mut self) -> anyhow::Result<()> {
        if !self.batch.is_empty() {
            self.send();
        }
        drop(self.sender.take());
        let written = self
            .writer
            .join()
            .map_err(|_| anyhow::anyhow!("the thread writing {} panicked", self.path.display()))?;
        written.with_context(|| format!("writing {}", self.path.display()))
    }
}

/// Appends one line of `events.jsonl` to `out`: `{"time":T,` and the event's kind as its
/// own JSON object carries it (`"event":…` and its fields) — the bytes `serde_json` writes
/// for the whole event (its kind is flattened into it), without going through a map
/// serializer. `scratch` holds the kind meanwhile (reused: no allocation per event).
fn event_line(out: &mut Vec<u8>, scratch: &mut Vec<u8>, event: &taskdist::core::Event) {
    scratch.clear();
    serde_json::to_writer(&mut *scratch, &event.kind).expect("an event serializes to JSON");
    out.extend_from_slice(b"{\"time\":");
    serde_json::to_writer(&mut *out, &event.time).expect("a number serializes");
    // The kind is `{"event":"…",…}` (internally tagged: never empty).
    out.push(b',');
    out.extend_from_slice(&scratch[1..]);
    out.push(b'\n');
}

impl OutFiles {
    /// Creates `dir` and its `events.jsonl` (nothing without a directory), for a plan of
    /// `tasks` tasks.
    pub(super) fn create(dir: Option<&Path>, tasks: usize) -> anyhow::Result<OutFiles> {
        let events = match dir {
            Some(dir) => {
                fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
                Some(EventsFile::create(dir.join("events.jsonl"))?)
            }
            None => None,
        };
        Ok(OutFiles {
            dir: dir.map(Path::to_path_buf),
            events,
            held_events: Vec::new(),
            keep_held: tasks <= taskdist::report::gantt::DETAIL_MAX,
        })
    }

    /// Takes one event of the run.
    pub(super) fn event(&mut self, event: &taskdist::core::Event) {
        let Some(events) = self.events.as_mut() else {
            return;
        };
        if self.keep_held
            && matches!(
                event.kind,
                EventKind::TaskBlocked { .. } | EventKind::TaskExecute { .. }
            )
        {
            self.held_events.push(event.clone());
        }
        events.write(event);
    }

    /// The run's summary, and with a directory its files; `name` titles the Gantt chart.
    /// `bound` is the plan's lower bound if already computed (see [`Summary::with_bound`]),
    /// and `trace_hash` the trace's hash ([`TraceHasher`]), used when no trace is written.
    pub(super) fn finish(
        self,
        run: &SimRun,
        plan: &Plan,
        config: &Config,
        name: &str,
        bound: Option<LowerBound>,
        trace_hash: Option<String>,
    ) -> anyhow::Result<Summary> {
        if let Some(events) = self.events {
            events.finish()?;
        }
        let bound = bound.unwrap_or_else(|| Summary::plan_bound(plan, run.agents.len(), config));
        let Some(dir) = &self.dir else {
            let hash = trace_hash.unwrap_or_else(|| trace_hash_of(run.into(), plan));
            return Ok(Summary::with_trace_hash(
                run.into(),
                plan,
                config,
                hash,
                bound,
            ));
        };
        let trace = trace_csv(run, plan);
        let summary = Summary::with_bound(run.into(), plan, config, &trace, bound);
        let write = |name: &str, bytes: &[u8]| {
            let path = dir.join(name);
            fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))
        };
        write("trace.csv", &trace)?;
        let mut json = serde_json::to_string_pretty(&summary)?;
        json.push('\n');
        write("summary.json", json.as_bytes())?;
        let waits = lock_waits(plan, &self.held_events);
        let gantt = Gantt {
            run,
            plan,
            lock_waits: &waits,
            title: gantt_title(name, run, config.policy.as_str()),
        }
        .figure()?;
        write("gantt.svg", gantt.svg.as_bytes())?;
        write("gantt.png", &gantt.png)?;
        Ok(summary)
    }
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

/// What `simulate` sets up before it runs, with one seed or many: the scenario with its
/// calibration applied, the plan, the models and what the output says of them, the (first)
/// seed, and the configuration and agents, with the schedule prepared when the policy has
/// one.
struct Setup {
    scenario: taskdist::model::Scenario,
    plan: Arc<Plan>,
    models: SimModels,
    models_line: String,
    seed: u64,
    config: Config,
    agents: Vec<taskdist::model::AgentSpec>,
}

impl Setup {
    fn new(args: &SimulateArgs) -> anyhow::Result<Setup> {
        let (mut scenario, plan) = args.scenario.load()?;
        let models_line = args.calibration.apply(&mut scenario)?;
        let models = SimModels::for_scenario(&scenario, &plan)?;
        let seed = args.seed.unwrap_or(models.seed);
        let (mut config, agents) = run_setup(&scenario, args.agents, args.policy);
        let plan = Arc::new(plan);
        taskdist::sim::prepare_schedule(
            &plan,
            &mut config,
            &agents,
            &models,
            args.schedule.as_deref(),
        )?;
        Ok(Setup {
            scenario,
            plan,
            models,
            models_line,
            seed,
            config,
            agents,
        })
    }
}

/// `simulate --seeds N`: N seeds of one configuration, and what a planner reads from them.
fn simulate_seeds(args: &SimulateArgs, n: u32, out: &mut dyn Write) -> anyhow::Result<()> {
    // One schedule (read from --schedule, or computed once under `optimized`) for every
    // run, the tornado's included.
    let Setup {
        scenario,
        plan,
        models,
        models_line,
        seed: first,
        config,
        agents,
    } = Setup::new(args)?;
    let seeds: Vec<u64> = (0..n as u64).map(|k| first.wrapping_add(k)).collect();
    let deadline = args
        .deadline
        .as_deref()
        .map(|text| parse_deadline(text, scenario.time_unit))
        .transpose()?;
    let mut tornado = Tornado::new(
        &plan,
        &models,
        args.agents,
        Some(config.policy),
        seeds.clone(),
    );
    tornado.schedule = config.schedule.clone();
    let work = || {
        let runs: Vec<Result<(Summary, Vec<u32>), SimError>> = seeds
            .par_iter()
            .map(|&seed| simulate_config(&plan, &config, agents.clone(), &models, seed, true))
            .collect();
        let tornado_runs = tornado.run(&scenario, &plan, 0, Shard::WHOLE, &|| {});
        (runs, tornado_runs)
    };
    let (runs, tornado_runs) = match args.jobs {
        Some(j) => rayon::ThreadPoolBuilder::new()
            .num_threads(j as usize)
            .build()
            .context("starting the worker threads")?
            .install(work),
        None => work(),
    };
    let config_text = format!(
        "{}, {}, {} from {first}",
        count(agents.len(), "agent", "agents"),
        config.policy,
        count(n, "seed", "seeds")
    );
    // A run that lost tasks ran a part of the plan: like one that stopped early, it did
    // not finish the plan, so the distribution and the criticality leave it out.
    let ran: Vec<&(Summary, Vec<u32>)> = runs.iter().filter_map(|r| r.as_ref().ok()).collect();
    let lost_tasks = ran.iter().filter(|(s, _)| !s.is_complete()).count();
    let finished: Vec<&(Summary, Vec<u32>)> = ran
        .iter()
        .copied()
        .filter(|(s, _)| s.is_complete())
        .collect();
    let mut makespans: Vec<f64> = finished.iter().map(|(s, _)| s.makespan).collect();
    makespans.sort_by(f64::total_cmp);
    let distribution = Distribution::new(&makespans, runs.len(), deadline);
    let ranked = criticality(
        &plan,
        finished.iter().map(|(_, c)| c.as_slice()),
        finished.len(),
    );
    let tornado_makespans: Vec<Option<f64>> = tornado_runs
        .iter()
        .map(|(_, r)| finished_plan(r).map(|s| s.makespan))
        .collect();
    let rows = tornado.rows(&tornado_makespans);

    if let Some(first_error) = runs.iter().find_map(|r| r.as_ref().err()) {
        eprintln!(
            "warning: {} of {n} runs stopped early; the first: {first_error}",
            runs.len() - ran.len()
        );
    }
    if args.json {
        let json = serde_json::json!({
            "scenario": args.scenario.file.display().to_string(),
            "agents": agents.len(),
            "policy": config.policy.to_string(),
            "seeds": n,
            "first_seed": first,
            "makespan": distribution,
            "runs_that_lost_tasks": lost_tasks,
            "criticality": ranked.iter().filter(|c| c.runs_on_path > 0).collect::<Vec<_>>(),
            "tornado": rows,
        });
        writeln!(out, "{}", serde_json::to_string_pretty(&json)?)?;
    } else {
        let lost = if lost_tasks > 0 {
            format!(" ({lost_tasks} lost tasks)")
        } else {
            String::new()
        };
        writeln!(
            out,
            "simulated {} at {config_text}: {} of {} runs finished the plan{lost}; {models_line}",
            args.scenario.file.display(),
            distribution.finished,
            distribution.runs
        )?;
        let h = |x: Option<f64>| {
            x.map_or("–".to_string(), |s| {
                Human((s * 1000.0).round() as Time).to_string()
            })
        };
        write!(
            out,
            "makespan p50 {} p80 {} p95 {}",
            h(distribution.p50),
            h(distribution.p80),
            h(distribution.p95)
        )?;
        if let (Some(t), Some(p)) = (distribution.deadline, distribution.deadline_probability) {
            write!(out, ", P(by {}) {:.1}%", h(Some(t)), p * 100.0)?;
        }
        writeln!(out)?;
        let top: Vec<String> = ranked
            .iter()
            .filter(|c| c.runs_on_path > 0)
            .take(5)
            .map(|c| format!("{} {:.0}%", c.task_id, c.criticality * 100.0))
            .collect();
        writeln!(out, "most critical: {}", top.join(", "))?;
        let top: Vec<String> = rows
            .iter()
            .take(3)
            .map(|r| format!("{} (swing {})", r.label(), h(r.swing)))
            .collect();
        writeln!(out, "moves p80 most: {}", top.join(", "))?;
    }

    if let Some(dir) = &args.out {
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let write = |name: &str, bytes: &[u8]| {
            let path = dir.join(name);
            fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))
        };
        // runs.csv: `seed`, every summary field, `error`.
        let mut writer = csv::Writer::from_writer(Vec::new());
        let mut header = vec!["seed".to_string()];
        header.extend(Summary::csv_header().into_iter().filter(|h| h != "seed"));
        header.push("error".to_string());
        writer.write_record(&header)?;
        let keep: Vec<bool> = Summary::csv_header().iter().map(|h| h != "seed").collect();
        for (seed, run) in seeds.iter().zip(&runs) {
            let mut record = vec![seed.to_string()];
            match run {
                Ok((summary, _)) => {
                    record.extend(
                        summary
                            .csv_values()
                            .into_iter()
                            .zip(&keep)
                            .filter_map(|(v, &k)| k.then_some(v)),
                    );
                    record.push(String::new());
                }
                Err(e) => {
                    record.extend(keep.iter().filter(|&&k| k).map(|_| String::new()));
                    record.push(e.to_string());
                }
            }
            writer.write_record(&record)?;
        }
        write(
            "runs.csv",
            &writer.into_inner().map_err(|e| e.into_error())?,
        )?;
        let curve = Curve {
            label: config_text.clone(),
            makespans,
            runs: runs.len(),
        };
        write("makespan_cdf.csv", &cdf_csv(&[], [(Vec::new(), &curve)]))?;
        write(
            "criticality.csv",
            &criticality_csv(&[], [(Vec::new(), ranked.as_slice())]),
        )?;
        write("tornado.csv", &tornado_csv(&rows))?;
        let name = args.scenario.file.file_name().map_or_else(
            || args.scenario.file.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        let scurve = scurve_figure(
            &format!("{name}: makespan distribution"),
            std::slice::from_ref(&curve),
            distribution.deadline,
        )?;
        write("scurve.svg", scurve.svg.as_bytes())?;
        write("scurve.png", &scurve.png)?;
        let tornado_chart = tornado_figure(
            &format!("{name}: what moves the p80 makespan"),
            rows.first().and_then(|r| r.p80_base).unwrap_or(0.0),
            &tornado_bars(&rows),
        )?;
        write("tornado.svg", tornado_chart.svg.as_bytes())?;
        write("tornado.png", &tornado_chart.png)?;
        let over = format!("the {} runs that finished the plan", distribution.finished);
        let sections = RiskSections {
            cost: &[],
            curves: &[(config_text.clone(), distribution.clone())],
            criticality: (&over, &ranked),
            tornado: (&config_text, &rows),
        };
        let md = format!(
            "# Risk of `{}`\n\n```sh\n{}\n```\n\n{}",
            args.scenario.file.display(),
            seeds_command(args, n, first, deadline),
            sections.markdown()
        );
        write("risk.md", md.as_bytes())?;
        if !args.json {
            writeln!(
                out,
                "wrote {0}/risk.md, {0}/runs.csv, {0}/makespan_cdf.csv, {0}/criticality.csv, \
                 {0}/tornado.csv, {0}/scurve.png|svg, {0}/tornado.png|svg",
                dir.display()
            )?;
        }
    }
    Ok(())
}

/// The command that reproduces a `--seeds` run, every setting spelled out.
fn seeds_command(args: &SimulateArgs, n: u32, first: u64, deadline: Option<Time>) -> String {
    let mut cmd = format!(
        "taskdist simulate {}{} --seeds {n} --seed {first}",
        args.scenario.file.display(),
        args.calibration.flag()
    );
    if let Some(a) = args.agents {
        cmd += &format!(" --agents {a}");
    }
    if let Some(p) = args.policy {
        cmd += &format!(" --policy {p}");
    }
    if let Some(file) = &args.schedule {
        cmd += &format!(" --schedule {}", file.display());
    }
    if let Some(d) = deadline {
        cmd += &format!(" --deadline {}", taskdist::model::format_exact(d));
    }
    cmd
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;
    use taskdist::core::Event;

    /// `events.jsonl` is written on its own thread, by batches, each line put together
    /// from the event's time and kind: the file must be the events in order, each as the
    /// line `serde_json` writes for the whole event, whatever its kind.
    #[test]
    fn events_jsonl_is_every_event_in_order_as_serde_json_writes_it() {
        // Between them, these runs raise every kind of event a simulation without scripted
        // departures or stalls has.
        let mut events: Vec<Event> = Vec::new();
        let runs = [
            ("failures.toml", None),
            ("failures.toml", Some(1)),
            ("locks.toml", None),
            ("webapp.toml", None),
        ];
        for (name, seed) in runs {
            let path = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("scenarios")
                .join(name);
            let (scenario, plan) =
                taskdist::import::load_owned(&path, None, &Default::default()).unwrap();
            let models = SimModels::for_scenario(&scenario, &plan).unwrap();
            let (config, agents) = run_setup(&scenario, None, None);
            taskdist::sim::simulate(
                Arc::new(plan),
                config,
                agents,
                &models,
                seed.unwrap_or(models.seed),
                &mut |e| events.push(e.clone()),
            )
            .unwrap();
        }
        // Enough copies of the run's events for several batches and chunks.
        let copies = (3 * EVENT_BATCH).div_ceil(events.len()) + 1;
        let dir = tempfile::tempdir().unwrap();
        let mut file = EventsFile::create(dir.path().join("events.jsonl")).unwrap();
        let mut expected = String::new();
        let mut kinds = BTreeSet::new();
        for event in std::iter::repeat_n(&events, copies).flatten() {
            file.write(event);
            let whole = serde_json::to_string(event).unwrap();
            let value: serde_json::Value = serde_json::from_str(&whole).unwrap();
            kinds.insert(value["event"].as_str().unwrap().to_string());
            expected += &whole;
            expected.push('\n');
        }
        file.finish().unwrap();
        let written = fs::read_to_string(dir.path().join("events.jsonl")).unwrap();
        assert!(written.len() > EVENT_CHUNK, "{} bytes only", written.len());
        assert!(written == expected, "events.jsonl differs from the events");
        let expected_kinds = [
            "agent_lost",
            "agent_registered",
            "context_shared",
            "distribution_complete",
            "layer_complete",
            "layer_start",
            "progress",
            "task_blocked",
            "task_complete",
            "task_execute",
            "task_failed",
            "task_requeued",
            "task_retry",
            "task_skipped",
            "task_start",
            "task_timeout",
            "tasks_added",
        ];
        assert_eq!(
            kinds,
            expected_kinds.map(String::from).into(),
            "kinds of event"
        );
    }
}
