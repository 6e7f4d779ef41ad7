//! What shared context is worth, as the simulator models it: over many seeds, runs with
//! `enable_context_sharing = true` fail fewer attempts, complete at least as many tasks,
//! and, where both runs complete every task, finish sooner on average than the same runs
//! with it off (discoveries shorten work on the same files; solutions and known errors
//! lower failure rates).

use crate::support::{Outcome, root, simulate_scenario};
use taskdist::plan::Plan;

fn runs(sharing: bool, seeds: u64) -> Vec<Outcome> {
    let path = root().join("scenarios/webapp.toml");
    let (mut scenario, _) = Plan::load(&path).unwrap();
    scenario.config.enable_context_sharing = sharing;
    // More failures than the shipped file, so solutions have something to prevent.
    let sim = scenario.file.simulation.as_mut().unwrap();
    sim.failure_probability = Some(0.15);
    let plan = Plan::build(&scenario).unwrap();
    (0..seeds)
        .map(|seed| simulate_scenario(&scenario, plan.clone(), Some(seed)))
        .collect()
}

#[test]
fn sharing_context_lowers_failures_and_makespan() {
    let seeds = 40;
    let on = runs(true, seeds);
    let off = runs(false, seeds);
    let failure_rate = |runs: &[Outcome]| {
        let retries: u64 = runs.iter().map(|o| o.summary.retries).sum();
        let attempts: u64 = runs.iter().map(|o| o.summary.attempts).sum();
        retries as f64 / attempts as f64
    };
    let completed = |runs: &[Outcome]| {
        runs.iter()
            .map(|o| o.summary.tasks_completed)
            .sum::<usize>()
    };
    assert!(
        failure_rate(&on) < failure_rate(&off) * 0.9,
        "failed share of attempts with sharing {:.3}, without {:.3}",
        failure_rate(&on),
        failure_rate(&off)
    );
    assert!(completed(&on) >= completed(&off));
    // Makespan only where both runs completed every task: a run whose base task failed
    // for good "finishes" early with everything skipped.
    let both: Vec<(f64, f64)> = on
        .iter()
        .zip(&off)
        .filter(|(a, b)| {
            a.summary.tasks_completed == a.summary.tasks
                && b.summary.tasks_completed == b.summary.tasks
        })
        .map(|(a, b)| (a.summary.makespan, b.summary.makespan))
        .collect();
    assert!(
        both.len() >= seeds as usize / 2,
        "only {} seeds completed both ways",
        both.len()
    );
    let mean = |f: fn(&(f64, f64)) -> f64| both.iter().map(f).sum::<f64>() / both.len() as f64;
    let (with, without) = (mean(|p| p.0), mean(|p| p.1));
    assert!(
        with < without,
        "mean makespan with sharing {with:.0}s, without {without:.0}s"
    );
}
