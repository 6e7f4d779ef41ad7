//! `taskdist validate FILE`: load a scenario, print a one-line summary or every problem.

use super::ScenarioArgs;
use clap::Args;
use std::io::Write;
use taskdist::model::count;
use taskdist::sim::SimModels;

/// Arguments of `taskdist validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    #[command(flatten)]
    scenario: ScenarioArgs,
}

/// Prints `OK <file>: N tasks, M agents, L layers`; an invalid scenario is returned as its
/// [`taskdist::model::ScenarioError`], which lists every problem found. The `[simulation]`
/// table is checked too (against the valid plan, since it names tasks and agents), so a
/// file `validate` passes is one `simulate` accepts.
pub fn validate(args: &ValidateArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let (scenario, plan) = args.scenario.load()?;
    SimModels::for_scenario(&scenario, &plan)?;
    let agents = plan.agents.len();
    let max_agents = scenario.config.max_agents as usize;
    let active = if agents > max_agents {
        format!(" ({max_agents} at once: config.max_agents)")
    } else {
        String::new()
    };
    writeln!(
        out,
        "OK {}: {}, {}{}, {}",
        scenario.source.origin,
        count(plan.len(), "task", "tasks"),
        count(agents, "agent", "agents"),
        active,
        count(plan.layer_sizes().len(), "layer", "layers"),
    )?;
    super::leave_to_exit((scenario, plan));
    Ok(())
}
