//! The sans-IO scheduling core driven by hand: no clock, no threads, no IO. Time is a
//! number we pass in; every attempt "takes" its estimate and succeeds.
//!
//! `cargo run --example core_by_hand`

use std::sync::Arc;
use taskdist::core::{Decision, Input, Scheduler};
use taskdist::model::{Config, Format, Scenario};
use taskdist::plan::Plan;

const PLAN: &str = r#"
[[agents]]
count = 2
[[tasks]]
id = "schema"
estimated_duration = "20m"
[[tasks]]
id = "api"
estimated_duration = "30m"
depends_on = ["schema"]
[[tasks]]
id = "ui"
estimated_duration = "25m"
depends_on = ["schema"]
"#;

fn main() {
    let (scenario, issues) = Scenario::parse(PLAN, Format::Toml, "inline.toml").unwrap();
    let (scenario, plan) = Plan::from_scenario(scenario, issues).expect("a valid plan");
    let plan = Arc::new(plan);
    let mut core = Scheduler::new(plan.clone(), Config::default());
    for spec in scenario.agents {
        core.handle_input(0, Input::AgentUp { spec });
    }
    let mut running = Vec::new(); // (end time, task, agent, attempt)
    let mut now = 0;
    loop {
        // Drain the decisions: each assignment "runs" for the task's estimate.
        while let Some(decision) = core.poll_decision() {
            if let Decision::Assign(a) = decision {
                let end = now + plan.task(a.task).estimated_duration_ms;
                println!(
                    "{now:>8} ms  {} -> agent {}",
                    plan.task(a.task).id,
                    a.agent.ix()
                );
                running.push((end, a.task, a.agent, a.attempt));
            }
        }
        // Move time to the next attempt to end and report it.
        running.sort_by_key(|r| std::cmp::Reverse(r.0));
        let Some((end, task, agent, attempt)) = running.pop() else {
            break;
        };
        now = end;
        core.handle_input(
            now,
            Input::TaskSucceeded {
                task,
                agent,
                attempt,
                result: None,
            },
        );
    }
    let progress = core.progress();
    println!("all {} tasks done at {now} ms", progress.completed_tasks);
    assert_eq!(progress.completed_tasks, 3);
    // schema (20m), then api (30m) and ui (25m) side by side.
    assert_eq!(now, 50 * 60_000);
}

/// `cargo test` runs the example (`test = true` in Cargo.toml).
#[test]
fn runs() {
    main();
}
