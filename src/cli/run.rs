//! `taskdist run FILE` and `taskdist resume PATH`: real execution of a scenario's tasks as
//! commands, recorded in a SQLite run database, with events as JSON lines, a progress bar
//! on a terminal, and the same `summary.json` and `trace.csv` as `simulate`.

use super::ScenarioArgs;
use anyhow::Context;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use std::fs::{File, OpenOptions};
use std::io::{self, IsTerminal, LineWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use taskdist::core::{Event, EventKind};
use taskdist::drive::run_setup;
use taskdist::model::{AgentSpec, CommandSpec, Config, Format, Scenario};
use taskdist::plan::Plan;
use taskdist::remote::driver::{Hub, HubSettings};
use taskdist::report::{Summary, trace_csv_of};
use taskdist::runtime::{CommandAgent, CommandSettings, RunOutcome, RunStatus, Runner};
use taskdist::store::{NewRun, SavedRun, Store, StoreError};
use tokio_util::sync::CancellationToken;

/// Exit status of a run stopped by Ctrl-C or SIGTERM (128 + SIGINT, as shells report it).
pub const EXIT_INTERRUPTED: u8 = 130;

/// The run database's name inside a run directory.
const DB_NAME: &str = taskdist::store::DB_FILE;

/// Arguments of `taskdist run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    scenario: ScenarioArgs,
    /// Run with N agents, repeating the scenario's agent list in order; also sets
    /// max_agents to N [default: the scenario's agents].
    #[arg(long, short = 'n', value_name = "N", value_parser = clap::value_parser!(u32).range(0..=taskdist::model::MAX_AGENTS as i64))]
    agents: Option<u32>,
    /// Let remote workers (`taskdist worker`) join through this broker:
    /// redis://[:PASSWORD@]HOST:PORT[/DB] or rediss://. `--agents 0` then runs every task
    /// remotely.
    #[arg(long, value_name = "URL")]
    broker: Option<String>,
    #[command(flatten)]
    keys: super::remote::CoordinatorKeys,
    /// The run directory: attempt logs, summary.json, trace.csv, events.jsonl and the
    /// database [default: runs/<scenario name>].
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// The run database; must not exist yet [default: <out>/taskdist.db].
    #[arg(long, value_name = "PATH")]
    db: Option<PathBuf>,
    /// Shell command for tasks without a `command` of their own; it reads the task from
    /// TASKDIST_* environment variables (e.g. "$TASKDIST_TASK_ID"), which are never pasted
    /// into the command line.
    #[arg(long, value_name = "CMD")]
    exec: Option<String>,
    /// Write events as JSON lines to FILE, or to stdout with `-` [default:
    /// <out>/events.jsonl].
    #[arg(long, value_name = "FILE|-")]
    events: Option<String>,
    /// Dispatch policy [default: config.policy].
    #[arg(long, value_name = "P", value_parser = |s: &str| s.parse::<taskdist::model::Policy>())]
    policy: Option<taskdist::model::Policy>,
    /// Follow this schedule (`taskdist plan --optimize --json` output) under the
    /// `optimized` policy; without it, `--policy optimized` computes one.
    #[arg(long, value_name = "FILE")]
    schedule: Option<PathBuf>,
    #[cfg(feature = "serve")]
    #[command(flatten)]
    serve: super::serve::ServeArgs,
}

/// Arguments of `taskdist resume`.
#[derive(Debug, Args)]
pub struct ResumeArgs {
    /// The run database, or the run directory holding taskdist.db.
    #[arg(value_name = "PATH")]
    path: PathBuf,
    /// The keys of a run with remote workers (never stored in the database).
    #[command(flatten)]
    keys: super::remote::CoordinatorKeys,
    /// The broker URL, when it is not the one the run recorded, or when it holds a
    /// password (the run records the URL without it).
    #[arg(long, value_name = "URL")]
    broker: Option<String>,
}

/// A run that ended without every task succeeding: the message and the exit status.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Unfinished {
    /// What happened and what to do.
    pub message: String,
    /// The exit status.
    pub code: u8,
}

/// A usage error of `run` that clap cannot express (exit 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BadRun(String);

/// Starts a new run.
pub fn run(args: &RunArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    if args.agents == Some(0) && args.broker.is_none() {
        return Err(BadRun("--agents 0 needs --broker (remote workers)".to_string()).into());
    }
    if args.broker.is_none() && args.keys.key.is_some() {
        return Err(BadRun("--key and --trust need --broker".to_string()).into());
    }
    let (text, scenario, plan) = args.scenario.load_with_text()?;
    let workdir = std::env::current_dir().context("reading the current directory")?;
    let (mut config, agents) = run_setup(&scenario, args.agents, args.policy);
    if args.broker.is_some() {
        // Remote workers count too: the scenario's limit holds for local and remote.
        config.max_agents = config.max_agents.max(scenario.config.max_agents);
    }
    taskdist::optimize::prepare(&plan, &mut config, &agents, args.schedule.as_deref())?;
    config.jitter_seed = scenario
        .file
        .simulation
        .as_ref()
        .and_then(|s| s.seed)
        .unwrap_or(0);
    let exec = args.exec.clone().map(CommandSpec::Shell);
    let settings = CommandSettings {
        exec: exec.clone(),
        ..CommandSettings::new(workdir.clone())
    };
    settings.check(&plan, &scenario.source)?;
    let broker = match &args.broker {
        Some(url) => Some((url.clone(), args.keys.settings(url, exec.clone())?)),
        None => None,
    };
    // Before the database exists, so a busy port leaves nothing behind to clean up.
    #[cfg(feature = "serve")]
    let page = args.serve.start(taskdist::serve::LiveState::new(
        &plan,
        &stem(&args.scenario.file),
        taskdist::serve::Source::Run,
        1.0,
    ))?;

    let out_dir = workdir.join(match &args.out {
        Some(dir) => dir.clone(),
        None => Path::new("runs").join(stem(&args.scenario.file)),
    });
    let db = workdir.join(args.db.clone().unwrap_or_else(|| out_dir.join(DB_NAME)));
    let events = match args.events.as_deref() {
        Some("-") => "-".to_string(),
        Some(path) => workdir.join(path).to_string_lossy().into_owned(),
        None => out_dir.join("events.jsonl").to_string_lossy().into_owned(),
    };
    let scenario_path = workdir.join(&args.scenario.file);
    let store = Store::create(
        &db,
        &plan,
        &NewRun {
            scenario_path: &scenario_path,
            scenario_text: &text,
            config: &config,
            agents: &agents,
            exec: exec.as_ref(),
            workdir: &workdir,
            run_dir: &out_dir,
            events: Some(&events),
        },
    )?;
    if let Some((url, _)) = &broker {
        // Never the password: `resume` asks for the URL again (--broker) when it had one.
        store.set_broker(&taskdist::remote::driver::redact(url))?;
    }
    let job = Job {
        plan: Arc::new(plan),
        config,
        agents,
        settings,
        store,
        run_dir: out_dir,
        events,
        history: None,
        broker: broker.map(|(_, hub)| hub),
        #[cfg(feature = "serve")]
        page,
    };
    job.execute(out)
}

/// Continues a run from its database.
pub fn resume(args: &ResumeArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let db = if args.path.is_dir() {
        args.path.join(DB_NAME)
    } else {
        args.path.clone()
    };
    let (store, saved) = Store::open(&db)?;
    if saved.is_finished() {
        writeln!(
            out,
            "the run in {} has already finished ({}); nothing to resume",
            db.display(),
            saved.status
        )?;
        return Ok(());
    }
    let text = std::fs::read_to_string(&saved.scenario_path).map_err(|source| {
        StoreError::ScenarioMissing {
            path: saved.scenario_path.clone(),
            source,
        }
    })?;
    store.check_scenario(&saved, &text)?;
    let format = Format::from_path(&saved.scenario_path).unwrap_or(Format::Toml);
    let origin = saved.scenario_path.display().to_string();
    let (scenario, issues) = Scenario::parse(&text, format, &origin)?;
    let (scenario, plan) = Plan::from_scenario(scenario, issues)?;
    let SavedRun {
        config,
        agents,
        exec,
        workdir,
        run_dir,
        events,
        ..
    } = saved;
    let broker = match (store.broker(), &args.broker) {
        (None, Some(_)) => {
            return Err(BadRun(
                "--broker: this run had no remote workers (it was started without --broker)"
                    .to_string(),
            )
            .into());
        }
        (None, None) => None,
        (Some(_), Some(url)) => Some(args.keys.settings(url, exec.clone())?),
        (Some(url), None) if taskdist::remote::driver::has_hidden_password(&url) => {
            return Err(BadRun(format!(
                "the run's broker `{url}` needs its password, which is never recorded: give --broker with the full URL"
            ))
            .into());
        }
        (Some(url), None) => Some(args.keys.settings(&url, exec.clone())?),
    };
    let settings = CommandSettings {
        exec,
        ..CommandSettings::new(workdir)
    };
    settings.check(&plan, &scenario.source)?;
    let history = store.journal()?;
    let recorded = store.recorded_attempts(plan.len())?;
    let job = Job {
        plan: Arc::new(plan),
        config,
        agents,
        settings,
        store,
        run_dir,
        events: events.unwrap_or_else(|| "-".to_string()),
        history: Some((history, recorded)),
        broker,
        #[cfg(feature = "serve")]
        page: None,
    };
    job.execute(out)
}

/// "sleep" for `scenarios/sleep.toml`.
fn stem(path: &Path) -> String {
    path.file_stem()
        .map_or_else(|| "run".to_string(), |s| s.to_string_lossy().into_owned())
}

/// Everything a run or a resume needs, checked and ready.
struct Job {
    plan: Arc<Plan>,
    config: Config,
    agents: Vec<AgentSpec>,
    settings: CommandSettings,
    store: Store,
    run_dir: PathBuf,
    events: String,
    history: Option<(Vec<taskdist::runtime::JournalEntry>, Vec<u32>)>,
    /// The broker remote workers join through, with `--broker`.
    broker: Option<HubSettings>,
    /// The live page, with `--serve`.
    #[cfg(feature = "serve")]
    page: Option<super::serve::Page>,
}

/// Where events go: a file (appended to on resume) or stdout.
enum Sink {
    File(LineWriter<File>),
    Stdout,
}

/// What the event callback shares with the code that reports at the end.
struct Observers {
    sink: Sink,
    error: Option<io::Error>,
    bar: Option<ProgressBar>,
}

impl Observers {
    fn event(&mut self, event: &Event) {
        if self.error.is_none() {
            let line = serde_json::to_string(event).expect("events serialize");
            let written = match &mut self.sink {
                Sink::File(file) => writeln!(file, "{line}"),
                Sink::Stdout => writeln!(io::stdout(), "{line}"),
            };
            self.error = written.err();
        }
        if let (Some(bar), EventKind::Progress(p)) = (&self.bar, &event.kind) {
            bar.set_position((p.completed_tasks + p.failed_tasks + p.skipped_tasks) as u64);
            bar.set_message(format!(
                "{} running, {} failed, {} skipped",
                p.running_tasks, p.failed_tasks, p.skipped_tasks
            ));
        }
    }
}

impl Job {
    fn execute(self, out: &mut dyn Write) -> anyhow::Result<()> {
        let db = self.store.path().to_path_buf();
        let to_stdout = self.events == "-";
        let sink = if to_stdout {
            Sink::Stdout
        } else {
            let path = PathBuf::from(&self.events);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("creating {}", parent.display()))?;
            }
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .with_context(|| format!("opening {}", path.display()))?;
            Sink::File(LineWriter::new(file))
        };
        let bar = io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(self.plan.len() as u64);
            bar.set_style(
                ProgressStyle::with_template(
                    "{elapsed_precise} [{bar:30}] {pos}/{len} tasks ended, {msg}",
                )
                .expect("a valid template")
                .progress_chars("=> "),
            );
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        let observers = Arc::new(Mutex::new(Observers {
            sink,
            error: None,
            bar,
        }));

        let agent = Arc::new(CommandAgent::new(self.settings));
        let mut broker = self.broker;
        if let Some(settings) = &mut broker {
            settings.stale = Some(self.store.stale_recorder()?);
        }
        let mut runner = Runner::new(self.plan.clone(), self.config.clone())
            .journal(Box::new(self.store))
            .run_dir(self.run_dir.clone());
        for spec in &self.agents {
            runner = runner.agent(spec.clone(), agent.clone());
        }
        if let Some((history, recorded)) = self.history {
            runner = runner.resume(history, Some(recorded));
        }
        let tokio = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("starting the tokio runtime")?;
        let hub = match broker {
            Some(settings) => {
                let (joins, joining) = tokio::sync::mpsc::unbounded_channel();
                let hub =
                    tokio.block_on(Hub::start(settings, self.plan.clone(), &self.config, joins))?;
                // Workers go on without a coordinator: a resumed run takes back theirs.
                runner = runner
                    .joins(joining)
                    .rejoinable(|spec| spec.agent_type == taskdist::remote::REMOTE_AGENT_TYPE);
                Some(hub)
            }
            None => None,
        };
        let seen = observers.clone();
        let acks = hub.clone();
        #[cfg(feature = "serve")]
        let live = self.page.as_ref().map(super::serve::Page::live);
        runner = runner.on_event(move |event| {
            seen.lock().expect("not poisoned").event(event);
            if let Some(hub) = &acks {
                hub.committed(event);
            }
            #[cfg(feature = "serve")]
            if let Some(live) = &live {
                live.publish(event);
            }
        });

        let outcome = tokio.block_on(async {
            let stop = CancellationToken::new();
            let signals = tokio::spawn(stop_on_signal(stop.clone()));
            let outcome = runner.run(stop).await;
            signals.abort();
            // A run that ended clears its keys; one to be resumed keeps them.
            if let (Some(hub), Ok(o)) = (&hub, &outcome)
                && matches!(o.status, RunStatus::Completed | RunStatus::Failed)
            {
                hub.finish().await;
            }
            outcome
        });
        let mut observers = Arc::into_inner(observers)
            .expect("the runner has let go of its observers")
            .into_inner()
            .expect("not poisoned");
        if let Some(bar) = observers.bar.take() {
            bar.finish_and_clear();
        }
        let outcome = outcome?;
        if let Some(e) = observers.error {
            return Err(e).with_context(|| format!("writing events to {}", self.events));
        }
        if let Sink::File(mut file) = observers.sink {
            file.flush()
                .with_context(|| format!("writing events to {}", self.events))?;
        }
        let summary = write_reports(&outcome, &self.plan, &self.config, &self.run_dir)?;
        let mut stderr = io::stderr();
        let report: &mut dyn Write = if to_stdout { &mut stderr } else { out };
        // An interrupted run's totals are no measure of anything; its message says enough.
        if outcome.status != RunStatus::Interrupted {
            writeln!(report, "{summary}")?;
        }
        writeln!(
            report,
            "wrote {0}/summary.json and {0}/trace.csv; attempt logs in {0}/attempts",
            self.run_dir.display()
        )?;
        // Before the closing message, which goes to stderr.
        report.flush()?;
        #[cfg(feature = "serve")]
        if let Some(page) = self.page {
            page.finish(
                outcome.status.as_str(),
                outcome.status != RunStatus::Interrupted,
            )?;
        }
        finish(&outcome, &db)
    }
}

/// Writes `trace.csv` and `summary.json` into the run directory; returns the summary.
fn write_reports(
    outcome: &RunOutcome,
    plan: &Plan,
    config: &Config,
    dir: &Path,
) -> anyhow::Result<Summary> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let trace = trace_csv_of(outcome.into(), plan);
    let summary = Summary::of(outcome.into(), plan, config, &trace);
    let write = |name: &str, bytes: &[u8]| {
        let path = dir.join(name);
        std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))
    };
    write("trace.csv", &trace)?;
    let mut json = serde_json::to_string_pretty(&summary)?;
    json.push('\n');
    write("summary.json", json.as_bytes())?;
    Ok(summary)
}

/// Success only when every task succeeded; otherwise an [`Unfinished`] with its status.
fn finish(outcome: &RunOutcome, db: &Path) -> anyhow::Result<()> {
    let p = &outcome.progress;
    let unfinished = |message: String, code: u8| Err(Unfinished { message, code }.into());
    match &outcome.status {
        RunStatus::Completed => Ok(()),
        RunStatus::Failed => unfinished(
            format!(
                "{} of {} tasks failed and {} {} skipped; see the attempt logs and trace.csv",
                p.failed_tasks,
                p.total_tasks,
                p.skipped_tasks,
                taskdist::model::was_or_were(p.skipped_tasks)
            ),
            super::EXIT_FAILURE,
        ),
        RunStatus::Stalled { reason } => unfinished(
            format!(
                "{reason}\nthe run is saved; resume it with: taskdist resume {}",
                db.display()
            ),
            super::EXIT_FAILURE,
        ),
        RunStatus::Interrupted => unfinished(
            format!(
                "interrupted with {} of {} tasks done; running attempts were stopped and will run again on resume:\n  taskdist resume {}",
                p.completed_tasks,
                p.total_tasks,
                db.display()
            ),
            EXIT_INTERRUPTED,
        ),
    }
}

/// Cancels `stop` on the first Ctrl-C or SIGTERM.
pub async fn stop_on_signal(stop: CancellationToken) {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => {
            // Without a SIGTERM handler, Ctrl-C still works.
            let _ = tokio::signal::ctrl_c().await;
            stop.cancel();
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
    stop.cancel();
}

/// Whether the error is the user's to fix before anything can run (exit 2): a run
/// database that cannot be used, a scenario that changed, a task without a command.
pub fn is_bad_input(err: &anyhow::Error) -> bool {
    use taskdist::runtime::RunError;
    if err.downcast_ref::<BadRun>().is_some() {
        return true;
    }
    if let Some(e) = err.downcast_ref::<StoreError>() {
        return !matches!(e, StoreError::Sqlite { .. } | StoreError::Io { .. });
    }
    matches!(
        err.downcast_ref::<RunError>(),
        Some(
            RunError::MissingCommand { .. }
                | RunError::CommandNotFound { .. }
                | RunError::CorruptJournal { .. }
                | RunError::ReplayMismatch { .. }
        )
    )
}
