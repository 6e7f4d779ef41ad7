//! Seed sweep: generated scenarios with every fault on (failures, hangs, crashes with and
//! without recovery, timeouts), each run audited against the scheduler's guarantees.
//!
//! CI runs 500 seeds; `TASKDIST_SEEDS=N` runs more, `TASKDIST_SEED=S` runs just one. A
//! failure prints the command that reproduces it.

use crate::support::simulate_scenario;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use taskdist::model::{
    AgentSpec, Config, DurationModel, DurationText, MINUTE_MS, Policy, Priority, Scenario,
    SimulationFile, TaskSpec, TaskType,
};
use taskdist::plan::Plan;
use taskdist::sim::audit;

/// A random plan, agents, config and fault models, all drawn from `seed`.
pub fn generated_scenario(seed: u64) -> Scenario {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let n = rng.random_range(5..80usize);
    let files: Vec<String> = (0..rng.random_range(1..10))
        .map(|i| format!("src/f{i}.rs"))
        .collect();
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n {
        let task_type = TaskType::ALL[rng.random_range(0..TaskType::ALL.len())];
        let estimate = rng.random_range(1..40u64) * MINUTE_MS;
        let mut task = TaskSpec::new(&format!("t{i}"), task_type, estimate);
        task.priority = [
            Priority::Critical,
            Priority::High,
            Priority::Medium,
            Priority::Low,
        ][rng.random_range(0..4)];
        for _ in 0..rng.random_range(0..4) {
            if i > 0 {
                let dep = format!("t{}", rng.random_range(0..i));
                if rng.random_bool(0.8) {
                    task.depends_on.push(dep);
                } else {
                    task.blocked_by.push(dep);
                }
            }
        }
        for file in &files {
            match rng.random_range(0..10) {
                0 => task.files_to_modify.push(file.clone()),
                1 | 2 => task.files_to_read.push(file.clone()),
                _ => {}
            }
        }
        if rng.random_bool(0.2) {
            task.timeout_ms = Some(estimate * 2 + MINUTE_MS);
        }
        tasks.push(task);
    }
    let mut agents = vec![AgentSpec::new("generalist")];
    for i in 0..rng.random_range(0..5) {
        let mut agent = AgentSpec::new(&format!("a{i}"));
        agent.max_concurrent_tasks = rng.random_range(1..3);
        agent.speed = [0.5, 1.0, 2.0][rng.random_range(0..3)];
        if rng.random_bool(0.6) {
            let caps: Vec<TaskType> = TaskType::ALL
                .into_iter()
                .filter(|_| rng.random_bool(0.5))
                .collect();
            if !caps.is_empty() {
                agent.capabilities = Some(caps);
            }
        }
        agents.push(agent);
    }
    let config = Config {
        max_agents: rng.random_range(1..=agents.len() as u32),
        max_retries_per_task: rng.random_range(0..4),
        policy: Policy::ALL[rng.random_range(0..Policy::ALL.len())],
        enable_auto_reassignment: rng.random_bool(0.8),
        enable_context_sharing: rng.random_bool(0.5),
        enable_file_conflict_prevention: rng.random_bool(0.9),
        task_timeout_ms: 90 * MINUTE_MS,
        heartbeat_timeout_ms: Some(2 * MINUTE_MS),
        backoff_base_ms: 10_000,
        backoff_max_ms: 5 * MINUTE_MS,
        max_lost_per_task: 3,
        jitter_seed: 0,
        schedule: None,
    };
    let mut scenario = Scenario::from_parts(config, agents, tasks);
    scenario.file.simulation = Some(SimulationFile {
        seed: Some(seed),
        duration: Some(DurationModel::Lognormal {
            spread: 0.5,
            median: None,
        }),
        failure_probability: Some(rng.random_range(0.0..0.3)),
        hang_probability: Some(rng.random_range(0.0..0.08)),
        crash_mtbf: Some(DurationText::Text(format!(
            "{}m",
            rng.random_range(60..600)
        ))),
        crash_recovery: Some(DurationText::Text(format!("{}m", rng.random_range(1..30)))),
        ..SimulationFile::default()
    });
    scenario
}

fn seeds() -> Vec<u64> {
    if let Some(one) = std::env::var("TASKDIST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        return vec![one];
    }
    let count = std::env::var("TASKDIST_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(500u64);
    (0..count).collect()
}

#[test]
fn generated_scenarios_with_every_fault_keep_every_guarantee() {
    let mut failures = Vec::new();
    for seed in seeds() {
        let scenario = generated_scenario(seed);
        let plan = Plan::build(&scenario).unwrap_or_else(|issues| {
            panic!("seed {seed}: generated an invalid scenario: {issues:?}")
        });
        let outcome = std::panic::catch_unwind(|| simulate_scenario(&scenario, plan, Some(seed)));
        let violations = match outcome {
            Ok(o) => {
                let mut found: Vec<String> = audit(&o.plan, &o.config, &o.run, &o.events)
                    .into_iter()
                    .map(|v| v.0)
                    .collect();
                // The run's own bound holds for every run, faults and all.
                let summary = &o.summary;
                if o.run.trace.is_empty() != summary.efficiency.is_none()
                    || summary.efficiency.is_some_and(|e| e < 1.0)
                    || summary.run_bound > summary.makespan
                {
                    found.push(format!(
                        "makespan {} s below the run bound {} s (efficiency {:?})",
                        summary.makespan, summary.run_bound, summary.efficiency
                    ));
                }
                found
            }
            Err(panic) => vec![format!(
                "panicked: {}",
                panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default()
            )],
        };
        if !violations.is_empty() {
            failures.push(format!(
                "seed {seed}: {}\n  reproduce: TASKDIST_SEED={seed} cargo test --release --test sim sweep",
                violations.join("\n  ")
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
