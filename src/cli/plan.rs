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
    /// Search a near-optimal static schedule for the agents (see `optimize`): prints its
    /// makespan, the best lower bound and whether they meet; with `--json`, the schedule
    /// (the file `--schedule` reads).
    #[arg(long, conflicts_with = "dot")]
    optimize: bool,
    /// Schedule decodes the optimizer may spend (deterministic; it stops sooner when the
    /// makespan meets the lower bound).
    #[arg(long, value_name = "N", requires = "optimize", default_value_t = taskdist::optimize::DEFAULT_BUDGET)]
    budget: u64,
}

/// Prints the analysis (text, `--json`) or the graph (`--dot`).
pub fn plan(args: &PlanArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let (scenario, plan) = args.scenario.load()?;
    // The `[simulation]` table is checked as `validate` checks it: a file `plan` analyses
    // is one `validate` passes and `simulate` accepts.
    let models = taskdist::sim::SimModels::for_scenario(&scenario, &plan)?;
    if args.dot {
        out.write_all(plan.to_dot().as_bytes())?;
        return Ok(());
    }
    let agents = match args.agents {
        Some(m) => m as usize,
        None => plan.agents.len().min(scenario.config.max_agents as usize),
    };
    if args.optimize {
        return optimize(args, &scenario, plan, &models, agents, out);
    }
    let analysis = plan.analyse(agents);
    if args.json {
        let json = serde_json::to_string_pretty(&analysis).context("serializing the analysis")?;
        writeln!(out, "{json}")?;
    } else {
        write!(out, "{analysis}")?;
    }
    Ok(())
}

/// `--optimize`: the schedule on the first `agents` agents of the scenario, repeated as
/// `--agents` asks (as `simulate --agents` builds them).
fn optimize(
    args: &PlanArgs,
    scenario: &taskdist::model::Scenario,
    plan: taskdist::plan::Plan,
    models: &taskdist::sim::SimModels,
    agents: usize,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    use taskdist::optimize::{Budget, optimize};
    let specs = taskdist::sim::scale_agents(&scenario.agents, agents);
    let budget = Budget {
        decodes: args.budget,
        ..Budget::default()
    };
    let outcome = optimize(&plan, &specs, agents, budget)?;
    // With random durations or faults in the scenario, how to dispatch with the schedule
    // is chosen here too, so the file `--json` writes is run as `--policy optimized` would.
    let mut config = scenario.config.clone();
    config.policy = taskdist::model::Policy::Optimized;
    config.max_agents = agents as u32;
    config.schedule = Some(std::sync::Arc::new(outcome.schedule.clone()));
    let plan = std::sync::Arc::new(plan);
    let choice = taskdist::sim::set_dispatch(&plan, &mut config, &specs, models);
    let s = config.schedule.as_deref().unwrap_or(&outcome.schedule);
    if args.json {
        let json = serde_json::to_string_pretty(s).context("serializing the schedule")?;
        writeln!(out, "{json}")?;
        return Ok(());
    }
    writeln!(
        out,
        "optimized makespan {} on {} slots; lower bound {} (set by {}); {}; {} decodes{}",
        taskdist::model::Human(s.makespan_ms),
        s.slots.len(),
        taskdist::model::Human(s.lower_bound_ms),
        s.bound_by,
        s.status(),
        outcome.decodes,
        if outcome.capped {
            " (stopped by the wall-time cap)"
        } else {
            ""
        }
    )?;
    if choice.samples > 0 {
        writeln!(
            out,
            "durations are random: dispatch mode `{}`, chosen over {} samples of the scenario's models",
            choice.dispatch, choice.samples
        )?;
    }
    Ok(())
}
