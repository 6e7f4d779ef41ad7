//! The `taskdist` command line: argument parsing (clap), one function per subcommand, and
//! the mapping from errors to exit codes. This is the only place that uses `anyhow`.
//!
//! Exit codes: 0 success; 1 an unexpected failure (e.g. stdout could not be written), a
//! real run whose tasks did not all succeed, or a `check` that found a regression; 2 bad
//! input — a scenario or baseline that cannot be read or is invalid, a usage error (clap's
//! own: bad ranges, unknown vary axes, …), a run database that is not one, is damaged or
//! belongs to a changed scenario, a task without a command; 130 a real run interrupted by
//! Ctrl-C (resumable). A `--serve` address that cannot be used (busy, or not loopback and
//! no token) is bad input too. Bad input never panics.

mod baseline;
mod calibrate;
mod generate;
mod import;
mod plan;
mod progress;
mod remote;
mod replay;
mod run;
#[cfg(feature = "serve")]
mod serve;
mod simulate;
mod sweep;
mod validate;

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use taskdist::calibrate::CalibrateError;
use taskdist::import::{ImportError, ImportFormat, ImportOptions, SourceFormat};
use taskdist::model::{Scenario, ScenarioError};
use taskdist::plan::Plan;
use taskdist::report::baseline::BaselineError;
use taskdist::report::shard::ShardError;
use taskdist::report::sweep::SweepError;

/// Exit status for a scenario that cannot be read or is invalid (and, from clap, for usage
/// errors).
pub const EXIT_BAD_INPUT: u8 = 2;
/// Exit status for any other failure.
pub const EXIT_FAILURE: u8 = 1;

/// Distributes a dependency graph of tasks across parallel agents.
#[derive(Debug, Parser)]
#[command(name = "taskdist", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands; each has its own arguments struct and function.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check a scenario file and list every problem in it (exit 2 if there is any).
    Validate(validate::ValidateArgs),
    /// Analyse a scenario: layers, critical path, total work, lower bound on makespan and the
    /// files that serialize the most work.
    Plan(plan::PlanArgs),
    /// Simulate a run with seeded durations, failures and crashes; print a summary and,
    /// with --out, write summary.json, trace.csv, events.jsonl and a Gantt chart.
    Simulate(simulate::SimulateArgs),
    /// Run the tasks for real as commands on N parallel agents, recording every step in a
    /// SQLite run database; write summary.json, trace.csv and attempt logs into the run
    /// directory (exit 1 if a task failed, 130 on Ctrl-C).
    Run(run::RunArgs),
    /// Continue a run that was interrupted or killed: completed tasks stay done, the
    /// attempts that were running run again.
    Resume(run::ResumeArgs),
    /// Join runs as a remote agent: take the assignments a coordinator (`run --broker`)
    /// sends through the broker and run each as a local agent would.
    Worker(remote::WorkerArgs),
    /// Write an Ed25519 key pair (NAME.key, NAME.pub) for signed broker runs.
    Keygen(remote::KeygenArgs),
    /// Convert a WfCommons, STG or Pegasus DAX workflow into a TOML scenario.
    Import(import::ImportArgs),
    /// Simulate every agent count, policy and seed (in parallel) for capacity planning;
    /// print the knee and, with --out, write CSVs, plots and report.md.
    Sweep(sweep::SweepArgs),
    /// Put the shards of a sweep run with --shard I/N (on any machines) together into the
    /// files the unsharded sweep writes, byte for byte.
    SweepMerge(sweep::MergeArgs),
    /// Record the distribution of a scenario's metrics over a set of seeds (JSON).
    Baseline(baseline::BaselineArgs),
    /// Rerun a baseline's seeds and fail (exit 1) when the makespan or a failure count
    /// regressed beyond the tolerance.
    Check(baseline::CheckArgs),
    /// Fit the simulator's models to recorded runs (durations, failures, hangs, agent
    /// losses, overheads) and print them with sample sizes and 95 % intervals; with -o,
    /// write a [simulation] table for --calibration.
    Calibrate(calibrate::CalibrateArgs),
    /// Re-simulate a recorded run with its own attempts, optionally with other agents or
    /// another policy; print the recorded-vs-replayed makespan.
    Replay(replay::ReplayArgs),
    /// Write a synthetic plan: a layered random DAG (about 3 dependencies per task, 10% of
    /// tasks on hot files, failures on), the same for the same seed.
    Gen(generate::GenArgs),
}

/// Runs the command and turns its outcome into an exit code, reporting errors on stderr.
pub fn main(cli: Cli) -> ExitCode {
    taskdist::report::plot::register_fonts();
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let result = run(cli, &mut out).and_then(|()| out.flush().map_err(anyhow::Error::from));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            let code = exit_code(&err);
            if let Some(scenario) = err.downcast_ref::<ScenarioError>() {
                // Its message already names the file and the OS error; the cause chain
                // would repeat them.
                eprintln!("error: {scenario}");
            } else if let Some(unfinished) = err.downcast_ref::<run::Unfinished>() {
                // Not an error of taskdist's: the run ended, just not well.
                eprintln!("{unfinished}");
            } else if let Some(import) = err.downcast_ref::<ImportError>() {
                eprintln!("error: {import}");
            } else if code != ExitCode::SUCCESS {
                eprintln!("error: {err:#}");
            }
            code
        }
    }
}

/// Dispatches to the subcommand, writing its output to `out`.
pub fn run(cli: Cli, out: &mut dyn Write) -> anyhow::Result<()> {
    match cli.command {
        Command::Validate(args) => validate::validate(&args, out),
        Command::Plan(args) => plan::plan(&args, out),
        Command::Simulate(args) => simulate::simulate(&args, out),
        Command::Run(args) => run::run(&args, out),
        Command::Resume(args) => run::resume(&args, out),
        Command::Worker(args) => remote::worker(&args, out),
        Command::Keygen(args) => remote::keygen(&args, out),
        Command::Import(args) => import::import(&args, out),
        Command::Sweep(args) => sweep::sweep(&args, out),
        Command::SweepMerge(args) => sweep::merge(&args, out),
        Command::Baseline(args) => baseline::baseline(&args, out),
        Command::Check(args) => baseline::check(&args, out),
        Command::Gen(args) => generate::generate(&args, out),
        Command::Calibrate(args) => calibrate::calibrate(&args, out),
        Command::Replay(args) => replay::replay(&args, out),
    }
}

/// Leaves `value` to the process's exit instead of dropping it: a command that loaded a
/// million-task plan ends right after, and freeing the plan one allocation at a time took
/// a third of a second for nothing.
fn leave_to_exit<T>(value: T) {
    std::mem::forget(value);
}

/// 2 for bad input, 0 when the reader of our output went away (`taskdist plan … | head`),
/// 1 for anything else.
fn exit_code(err: &anyhow::Error) -> ExitCode {
    if err.downcast_ref::<ScenarioError>().is_some()
        || err.downcast_ref::<ImportError>().is_some()
        || err.downcast_ref::<SweepError>().is_some()
        || err.downcast_ref::<ShardError>().is_some()
        || err.downcast_ref::<BaselineError>().is_some()
        || err
            .downcast_ref::<taskdist::optimize::OptimizeError>()
            .is_some()
        || err.downcast_ref::<CalibrateError>().is_some()
        || run::is_bad_input(err)
        || remote::is_bad_input(err)
    {
        return ExitCode::from(EXIT_BAD_INPUT);
    }
    #[cfg(feature = "serve")]
    if serve::is_bad_input(err) {
        return ExitCode::from(EXIT_BAD_INPUT);
    }
    if let Some(unfinished) = err.downcast_ref::<run::Unfinished>() {
        return ExitCode::from(unfinished.code);
    }
    let broken_pipe = err
        .chain()
        .filter_map(|cause| cause.downcast_ref::<io::Error>())
        .any(|e| e.kind() == io::ErrorKind::BrokenPipe);
    if broken_pipe {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_FAILURE)
    }
}

/// The scenario file argument shared by every subcommand that reads one.
#[derive(Debug, Args)]
pub struct ScenarioArgs {
    /// Scenario file (.toml, .json), or a workflow to import: WfCommons .json, .stg,
    /// Pegasus .dax/.xml (with 4 generalist agents; see README: Importing workflows).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Read the file as this format whatever its extension or content.
    #[arg(long, value_enum)]
    pub format: Option<FormatArg>,
}

/// The scenario formats, as named on the command line.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum FormatArg {
    /// TOML.
    Toml,
    /// JSON.
    Json,
    /// A WfCommons instance (WfFormat JSON).
    Wfcommons,
    /// A Standard Task Graph Set file.
    Stg,
    /// A Pegasus DAX (XML).
    Dax,
}

impl From<FormatArg> for SourceFormat {
    fn from(format: FormatArg) -> SourceFormat {
        match format {
            FormatArg::Toml => SourceFormat::Toml,
            FormatArg::Json => SourceFormat::Json,
            FormatArg::Wfcommons => SourceFormat::Import(ImportFormat::Wfcommons),
            FormatArg::Stg => SourceFormat::Import(ImportFormat::Stg),
            FormatArg::Dax => SourceFormat::Import(ImportFormat::Dax),
        }
    }
}

impl ScenarioArgs {
    /// Reads and validates the scenario, importing it if it is a workflow of another
    /// format. Every failure is an [`ImportError`] (a [`ScenarioError`] inside for native
    /// scenarios and invalid graphs), so it exits 2. The tasks move into the plan: the
    /// scenario comes back without them (commands read the tasks from the plan), so a
    /// large plan is held once.
    pub fn load(&self) -> Result<(Scenario, Plan), ImportError> {
        let spinner = progress::loading(&self.file);
        let loaded = taskdist::import::load_owned(
            &self.file,
            self.format.map(SourceFormat::from),
            &ImportOptions::default(),
        );
        if let Some(spinner) = spinner {
            spinner.finish_and_clear();
        }
        loaded
    }
}

impl ScenarioArgs {
    /// Like [`ScenarioArgs::load`], and also returns the file's text, from which the
    /// scenario was parsed or imported (the real runner records its hash).
    pub fn load_with_text(&self) -> Result<(String, Scenario, Plan), ImportError> {
        let path = self.file.as_path();
        let text = taskdist::import::read_text(path)?;
        let (scenario, plan) = taskdist::import::load_text(
            path,
            &text,
            self.format.map(SourceFormat::from),
            &ImportOptions::default(),
        )?;
        Ok((text, scenario, plan))
    }
}
