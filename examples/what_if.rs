//! A what-if simulation from code: load a scenario, change its agents and dispatch
//! policy, simulate each variant with the same seed, and compare the summaries.
//!
//! `cargo run --example what_if [SCENARIO]` (default: scenarios/quickstart.toml)

use std::path::PathBuf;
use std::sync::Arc;
use taskdist::drive::run_setup;
use taskdist::model::{Policy, Scenario};
use taskdist::plan::Plan;
use taskdist::report::{Summary, trace_csv};
use taskdist::sim::{SimModels, simulate};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios/quickstart.toml"),
        PathBuf::from,
    );
    let (scenario, issues) = Scenario::read(&path)?;
    let (scenario, plan) = Plan::from_scenario(scenario, issues)?;
    let models = SimModels::for_scenario(&scenario, &plan)?;
    let plan = Arc::new(plan);
    let seed = models.seed;

    println!(
        "{:>6}  {:<14} {:>12} {:>8}",
        "agents", "policy", "makespan (s)", "speedup"
    );
    let mut makespans = Vec::new();
    for agents in [1, 2, 4, 8] {
        for policy in [Policy::CriticalPath, Policy::Fifo] {
            // The same setup `taskdist simulate --agents N --policy P` makes.
            let (config, specs) = run_setup(&scenario, Some(agents), Some(policy));
            let run = simulate(
                plan.clone(),
                config.clone(),
                specs,
                &models,
                seed,
                &mut |_| {},
            )?;
            let summary = Summary::new(&run, &plan, &config, &trace_csv(&run, &plan));
            println!(
                "{agents:>6}  {:<14} {:>12.0} {:>7.2}x",
                policy.as_str(),
                summary.makespan,
                summary.speedup
            );
            makespans.push((agents, policy, summary.makespan));
        }
    }
    // More agents never hurt this plan under the critical-path policy.
    let critical: Vec<f64> = makespans
        .iter()
        .filter(|(_, p, _)| *p == Policy::CriticalPath)
        .map(|(_, _, m)| *m)
        .collect();
    assert!(critical.first() >= critical.last(), "{critical:?}");
    Ok(())
}

/// `cargo test` runs the example (`test = true` in Cargo.toml).
#[test]
fn runs() {
    main().unwrap();
}
