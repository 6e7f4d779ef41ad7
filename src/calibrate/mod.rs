//! Closing the loop between real runs and the simulator: [`RecordedRun`] reads a run
//! database back, [`Calibration`] fits the simulator's models to one or more runs (with
//! sample sizes and intervals), and [`crate::replay`] re-simulates a run with its own
//! recorded attempts.
//!
//! ```text
//!  run database(s) ──▶ RecordedRun ──▶ Calibration::fit ──▶ [simulation] table (TOML)
//!  (store: attempts,     (plan from the     (log-normal factors,   + printed report
//!   journal, scenario)    recorded text)     Wilson, Poisson)      ──▶ simulate/sweep/
//!                                                                      baseline/check
//!                                                                      --calibration
//! ```
//!
//! It sits above `store` and `import` (it reads runs and parses the scenarios they
//! recorded) and below the CLI. A database that is not a taskdist run, is damaged or
//! holds no finished attempt is refused with [`CalibrateError`], before anything is
//! written.

mod fit;
mod read;
pub mod stats;

pub use fit::{
    Calibration, DurationFit, EMPIRICAL_SAMPLES, MIN_SAMPLES, ProbabilityFit, RunInfo, Spans,
    TASK_ATTEMPTS, TypeFit,
};
pub use read::{Attempt, Ended, Loss, RecordedRun};

use crate::model::SimulationFile;
use crate::store::StoreError;
use std::path::{Path, PathBuf};

/// Why a run cannot be calibrated or replayed, or a calibration file not read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CalibrateError {
    /// The database cannot be opened as a taskdist run (not one, damaged, in use, missing).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The database opens but what it holds does not fit together.
    #[error("{} is damaged: {detail}; nothing was written", .db.display())]
    Damaged {
        /// The database.
        db: PathBuf,
        /// What does not fit.
        detail: String,
    },
    /// No attempt in the database ended (succeeded, failed or timed out).
    #[error("{} holds no finished attempt: there is nothing to learn from; nothing was written", .db.display())]
    NoFinishedAttempt {
        /// The database.
        db: PathBuf,
    },
    /// A calibration file cannot be read.
    #[error("{}: {source}", .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A calibration file is not a `[simulation]` table: not TOML, or a field unknown or
    /// of the wrong type.
    #[error(
        "{}:{line}:{column}: not a calibration file: {}{message}",
        .path.display(),
        .field.as_ref().map_or(String::new(), |f| format!("{f}: "))
    )]
    NotCalibration {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// The field the offending value belongs to, where the text parsed that far:
        /// `simulation.failure_probability`.
        field: Option<String>,
        /// What the TOML parser says.
        message: String,
    },
}

/// Reads a calibration file (what `taskdist calibrate` writes): a TOML file whose only
/// table is `[simulation]`.
pub fn read_calibration(path: &Path) -> Result<SimulationFile, CalibrateError> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Wrapper {
        simulation: SimulationFile,
    }
    let text = std::fs::read_to_string(path).map_err(|source| CalibrateError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    toml::from_str::<Wrapper>(&text)
        .map(|w| w.simulation)
        .map_err(|e| {
            let (line, column) = e
                .span()
                .map_or((1, 1), |span| crate::model::line_column(&text, span.start));
            let message = e.message().trim().to_string();
            let field = crate::model::field_path::toml_error_path::<Wrapper>(&text)
                .and_then(|path| path.of_message(&message))
                .map(|path| path.to_string());
            CalibrateError::NotCalibration {
                path: path.to_path_buf(),
                line,
                column,
                field,
                message,
            }
        })
}
