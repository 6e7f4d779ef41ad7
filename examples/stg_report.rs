//! The maintainer's report of schedule quality against published optima: regenerates
//! `reports/stg.md` from the shared data folder with [`taskdist::report::stg`], then prints
//! where it wrote and one line per agent count for critical-path and optimized.
//!
//! `scripts/stg-report.sh [--data DIR] [-o FILE]` runs it (about 15 minutes on two cores),
//! as does `cargo run --release --example stg_report -- [--data DIR] [-o FILE]`. It is
//! built by `cargo test` but never run there (`test = false` in Cargo.toml, and no test
//! here); the module's own tests and `sim/import.rs` cover it on a miniature data folder.
//!
//! Exit codes as the `taskdist` command's: 2 for bad input (no `stg/` folder, a file that
//! cannot be read or parsed), 1 for any other failure.

use clap::Parser;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use taskdist::report::stg::StgReport;

/// Regenerate reports/stg.md: every policy's makespan on the STG benchmark graphs against
/// the proven optima, and on workflow samples against the lower bound.
#[derive(Debug, Parser)]
#[command(name = "stg_report")]
struct Args {
    /// The shared data folder, holding stg/, wfcommons/, pegasus_synthetic/ and
    /// heft_topcuoglu2002/ (see each folder's SOURCES.md).
    #[arg(long, value_name = "DIR", default_value = "../shared/data")]
    data: PathBuf,
    /// Where to write the report.
    #[arg(
        long,
        short = 'o',
        value_name = "FILE",
        default_value = "reports/stg.md"
    )]
    out: PathBuf,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let report = match StgReport::build(&args.data).and_then(|report| {
        report.write(&args.out)?;
        Ok(report)
    }) {
        Ok(report) => report,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::from(if err.is_bad_input() { 2 } else { 1 });
        }
    };
    let mut out = std::io::stdout().lock();
    let mut said = writeln!(out, "wrote {}", args.out.display());
    for line in report.headline() {
        said = said.and_then(|()| writeln!(out, "  {line}"));
    }
    match said {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: writing to stdout: {err}");
            ExitCode::from(1)
        }
    }
}
