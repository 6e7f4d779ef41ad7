//! Shared by the benchmark binaries: generated plans and the instant-feedback driver that
//! measures the scheduling core alone.

#![allow(dead_code)] // each benchmark binary uses its own part of this module

use std::collections::VecDeque;
use std::sync::Arc;
use taskdist::core::{Decision, Input, Scheduler};
use taskdist::model::generate::{GenParams, generate};
use taskdist::model::{AgentSpec, Config, Scenario};
use taskdist::plan::Plan;

/// A generated plan, validated, with its scenario (whose tasks moved into the plan: one
/// copy of them, as a large plan needs).
pub fn generated_plan(params: &GenParams) -> (Scenario, Arc<Plan>) {
    let (scenario, plan) = Plan::build_owned(generate(params)).expect("a generated plan is valid");
    (scenario, Arc::new(plan))
}

/// The config the core benchmarks run with: the scenario's, every agent allowed to work.
pub fn bench_config(scenario: &Scenario, agents: usize) -> Config {
    Config {
        max_agents: agents as u32,
        ..scenario.config.clone()
    }
}

/// Runs the core alone: every agent registers at time 0, and each assignment succeeds the
/// moment it is made (first assigned, first done; the clock moves 1 ms per completion).
/// Events are drained (read in place) and dropped. Returns the number of completions.
pub fn run_core(plan: Arc<Plan>, config: Config, agents: &[AgentSpec]) -> u64 {
    let mut core = Scheduler::new(plan, config);
    for spec in agents {
        core.handle_input(0, Input::AgentUp { spec: spec.clone() });
    }
    let mut running = VecDeque::new();
    let mut now = 0;
    let mut completions = 0;
    loop {
        while let Some(decision) = core.poll_decision() {
            if let Decision::Assign(a) = decision {
                running.push_back((a.task, a.agent, a.attempt));
            }
        }
        core.drain_events(|_| {});
        let Some((task, agent, attempt)) = running.pop_front() else {
            break;
        };
        now += 1;
        core.handle_input(
            now,
            Input::TaskSucceeded {
                task,
                agent,
                attempt,
                result: None,
            },
        );
        completions += 1;
    }
    assert!(core.is_finished(), "every task completes");
    completions
}
