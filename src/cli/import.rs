//! `taskdist import FORMAT FILE [-o OUT]`: converts a WfCommons, STG or Pegasus DAX
//! workflow into a TOML scenario that loads and plans exactly like the workflow itself.

use anyhow::Context;
use clap::{Args, ValueEnum};
use std::io::Write;
use std::path::PathBuf;
use taskdist::import::{ImportFormat, ImportOptions, to_toml};
use taskdist::model::count;
use taskdist::plan::Plan;

/// Arguments of `taskdist import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Format of the workflow file.
    #[arg(value_enum, value_name = "FORMAT")]
    format: ImportFormatArg,
    /// The workflow file.
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// Write the scenario here instead of to standard output.
    #[arg(long, short = 'o', value_name = "OUT")]
    out: Option<PathBuf>,
    /// Number of identical generalist agents the scenario declares.
    #[arg(
        long,
        short = 'n',
        value_name = "N",
        default_value_t = taskdist::import::DEFAULT_AGENTS,
        value_parser = clap::value_parser!(u32).range(1..=100_000)
    )]
    agents: u32,
}

/// The import formats, as named on the command line.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum ImportFormatArg {
    /// WfCommons instance (WfFormat JSON).
    Wfcommons,
    /// Standard Task Graph Set (.stg); one time unit is one second.
    Stg,
    /// Pegasus DAX (XML).
    Dax,
}

impl From<ImportFormatArg> for ImportFormat {
    fn from(format: ImportFormatArg) -> ImportFormat {
        match format {
            ImportFormatArg::Wfcommons => ImportFormat::Wfcommons,
            ImportFormatArg::Stg => ImportFormat::Stg,
            ImportFormatArg::Dax => ImportFormat::Dax,
        }
    }
}

/// Reads and validates the workflow, then writes it as a scenario. An invalid workflow
/// writes nothing and exits 2 with every problem listed.
pub fn import(args: &ImportArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let options = ImportOptions {
        agents: args.agents,
    };
    let (scenario, issues) = taskdist::import::read(&args.file, args.format.into(), &options)?;
    let (scenario, plan) = Plan::from_scenario(scenario, issues)?;
    let text = to_toml(&scenario);
    match &args.out {
        None => out.write_all(text.as_bytes())?,
        Some(path) => {
            std::fs::write(path, &text).with_context(|| format!("writing {}", path.display()))?;
            writeln!(
                out,
                "wrote {}: {}, {}, critical path {}, total work {} (from {})",
                path.display(),
                count(plan.len(), "task", "tasks"),
                count(plan.agents.len(), "agent", "agents"),
                taskdist::model::Human(plan.critical_path_ms()),
                taskdist::model::Human(plan.total_work_ms()),
                args.file.display()
            )?;
        }
    }
    Ok(())
}
