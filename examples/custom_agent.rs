//! A custom in-process [`Agent`]: the shape an LLM coding agent takes. Each attempt gets
//! the task and the context the scheduler selected (other agents' discoveries, known
//! solutions, recent errors); the agent "works", shares what it learned, and reports.
//! Here the work is a short sleep, and the first attempt of `flaky` fails to show a retry.
//!
//! `cargo run --example custom_agent`

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use taskdist::core::ContextItem;
use taskdist::model::{Format, Scenario};
use taskdist::plan::Plan;
use taskdist::runtime::{Agent, BoxFuture, Job, Report, RunStatus, Runner};
use tokio_util::sync::CancellationToken;

const PLAN: &str = r#"
time_unit = "ms"
[config]
backoff_base = "10ms"
[[agents]]
count = 2
[[tasks]]
id = "design"
estimated_duration = 20
[[tasks]]
id = "flaky"
estimated_duration = 20
depends_on = ["design"]
[[tasks]]
id = "docs"
estimated_duration = 20
depends_on = ["design"]
"#;

/// Stands in for a model call: reads the prompt material, answers after a while.
struct Coder {
    calls: AtomicU32,
}

impl Agent for Coder {
    fn execute<'a>(&'a self, job: Job, cancel: CancellationToken) -> BoxFuture<'a, Report> {
        Box::pin(async move {
            self.calls.fetch_add(1, Ordering::SeqCst);
            job.started();
            let task = job.spec().id.to_string();
            let prompt = format!(
                "task {task} (attempt {}), {} context item(s)",
                job.attempt,
                job.context.len()
            );
            println!("{} <- {prompt}", job.agent_id);
            tokio::select! {
                () = tokio::time::sleep(Duration::from_millis(job.spec().estimated_duration_ms)) => {}
                () = cancel.cancelled() => return Report::Failed { error: "cancelled".into() },
            }
            if task == "flaky" && job.attempt == 1 {
                return Report::Failed {
                    error: "tests failed: missing import".into(),
                };
            }
            job.share(ContextItem::Discovery {
                summary: format!("{task}: done"),
                details: String::new(),
                files: Vec::new(),
                confidence: 1.0,
            });
            Report::Succeeded {
                result: Some(format!("{task} written")),
            }
        })
    }
}

fn main() {
    let (scenario, issues) = Scenario::parse(PLAN, Format::Toml, "inline.toml").unwrap();
    let (scenario, plan) = Plan::from_scenario(scenario, issues).expect("a valid plan");
    let coder = Arc::new(Coder {
        calls: AtomicU32::new(0),
    });
    let mut runner = Runner::new(Arc::new(plan), scenario.config.clone());
    for spec in &scenario.agents {
        runner = runner.agent(spec.clone(), coder.clone());
    }
    let outcome = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(runner.run(CancellationToken::new()))
        .expect("the run ends");
    println!("{:?}: {} attempts", outcome.status, outcome.trace.len());
    assert!(matches!(outcome.status, RunStatus::Completed));
    // design, flaky twice (one retry), docs.
    assert_eq!(coder.calls.load(Ordering::SeqCst), 4);
}

/// `cargo test` runs the example (`test = true` in Cargo.toml).
#[test]
fn runs() {
    main();
}
