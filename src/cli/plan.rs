//! `taskdist plan FILE`: the static analysis of a scenario, as text, JSON or Graphviz.

use super::ScenarioArgs;
use anyhow::Context;
use clap::Args;
use std::io::Write;

/// Arguments of `taskdist plan`.
#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    scenario: ScenarioArgs,
    /// Number of identical agents assumed for the lower bound [default: the agents the
    /// scenario declares, at most its config.max_agents].
    #[arg(long, short = 'm', value_name = "M", value_parser = clap::value_parser!(u32).range(1..=taskdist::model::MAX_AGENTS as i64))]
    agents: Option<u32>,
    /// Print the analysis as JSON (durations in seconds).
    #[arg(long, conflicts_with = "dot")]
    json: bool,
    /// Print the dependency graph in Graphviz DOT (render with `dot -Tsvg`).
    #[arg(long)]
    dot: bool,
}

/// Prints the analysis (text, `--json`) or the graph (`--dot`).
pub fn plan(args: &PlanArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let (scenario, plan) = args.scenario.load()?;
    if args.dot {
        out.write_all(plan.to_dot().as_bytes())?;
        return Ok(());
    }
    let agents = match args.agents {
        Some(m) => m as usize,
        None => plan.agents.len().min(scenario.config.max_agents as usize),
    };
    let analysis = plan.analyse(agents);
    if args.json {
        let json = serde_json::to_string_pretty(&analysis).context("serializing the analysis")?;
        writeln!(out, "{json}")?;
    } else {
        write!(out, "{analysis}")?;
    }
    Ok(())
}
