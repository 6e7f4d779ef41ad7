//! `taskdist calibrate RUN... [-o FILE]`: fits the simulator's models to recorded runs and
//! prints them with their sample sizes and intervals; and the `--calibration FILE` option
//! that `simulate`, `sweep`, `baseline` and `check` share.

use anyhow::Context;
use clap::Args;
use std::io::Write;
use std::path::PathBuf;
use taskdist::calibrate::{Calibration, RecordedRun, read_calibration};
use taskdist::model::{Scenario, count};

/// Arguments of `taskdist calibrate`.
#[derive(Debug, Args)]
pub struct CalibrateArgs {
    /// Run databases, or run directories holding taskdist.db.
    #[arg(value_name = "RUN", required = true)]
    runs: Vec<PathBuf>,
    /// Write the fitted `[simulation]` table here (TOML, for --calibration).
    #[arg(long, short = 'o', value_name = "FILE")]
    output: Option<PathBuf>,
    /// Types with at least 30 successful samples use their observed duration factors
    /// instead of a log-normal.
    #[arg(long)]
    empirical: bool,
}

/// The `--calibration FILE` option.
#[derive(Debug, Args)]
pub struct CalibrationArg {
    /// Simulate with the `[simulation]` table of FILE (written by `taskdist calibrate`)
    /// instead of the scenario's own; the rest of the scenario stays.
    #[arg(long, value_name = "FILE")]
    calibration: Option<PathBuf>,
}

impl CalibrationArg {
    /// The calibration file, if one was given.
    pub fn path(&self) -> Option<&std::path::Path> {
        self.calibration.as_deref()
    }

    /// ` --calibration FILE`, or nothing: for the commands that reproduce a run.
    pub fn flag(&self) -> String {
        self.path()
            .map_or(String::new(), |p| format!(" --calibration {}", p.display()))
    }

    /// Puts the calibration's table in place of the scenario's; returns the line that says
    /// where the simulated figures' models come from (and, for a calibration, from how many
    /// runs), for the commands to print beside their figures.
    pub fn apply(&self, scenario: &mut Scenario) -> anyhow::Result<String> {
        let Some(path) = &self.calibration else {
            return Ok(match scenario.file.simulation {
                Some(_) => "models: the scenario's [simulation] table (not calibrated)".into(),
                None => {
                    "models: the built-in defaults (the scenario has no [simulation] table)".into()
                }
            });
        };
        let table = read_calibration(path)?;
        let line = match table.calibrated_from {
            Some(from) => format!(
                "models: calibrated from {} ({}) in {}",
                count(from.runs, "run", "runs"),
                count(from.attempts, "attempt", "attempts"),
                path.display()
            ),
            None => format!(
                "models: the [simulation] table of {} (it does not say what it was fitted from)",
                path.display()
            ),
        };
        scenario.file.simulation = Some(table);
        // Its issues (checked against the plan later) are the calibration file's.
        scenario.source.simulation_file = Some((
            path.clone(),
            taskdist::model::Format::Toml,
            taskdist::model::FileKind::Calibration,
        ));
        Ok(line)
    }
}

/// Reads the runs (all of them, before anything is written), fits, reports.
pub fn calibrate(args: &CalibrateArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let runs = args
        .runs
        .iter()
        .map(|path| RecordedRun::open(path))
        .collect::<Result<Vec<_>, _>>()?;
    let calibration = Calibration::fit(&runs, args.empirical);
    write!(out, "{calibration}")?;
    if let Some(path) = &args.output {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(path, calibration.to_toml())
            .with_context(|| format!("writing {}", path.display()))?;
        writeln!(
            out,
            "wrote {}; use it with --calibration {}",
            path.display(),
            path.display()
        )?;
    }
    Ok(())
}
