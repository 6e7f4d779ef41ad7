//! Shared helpers of the simulation tests: load a shipped scenario and run it the way
//! `taskdist simulate` does, keeping the events.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use taskdist::core::Event;
use taskdist::model::{Config, Scenario};
use taskdist::plan::Plan;
use taskdist::report::{Summary, trace_csv};
use taskdist::sim::{SimModels, SimRun, simulate};

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The shipped scenarios (scenarios/*.toml, not the deliberately invalid ones), by name.
pub fn shipped_scenarios() -> Vec<(String, PathBuf)> {
    let mut found: Vec<(String, PathBuf)> = std::fs::read_dir(root().join("scenarios"))
        .expect("scenarios/ exists")
        .map(|e| e.expect("readable entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .map(|p| (p.file_stem().unwrap().to_string_lossy().into_owned(), p))
        .collect();
    found.sort();
    found
}

/// A finished simulation with everything the checks need.
pub struct Outcome {
    pub plan: Arc<Plan>,
    pub config: Config,
    pub run: SimRun,
    pub events: Vec<Event>,
    pub trace: Vec<u8>,
    pub summary: Summary,
}

/// Loads and simulates a scenario file at its own seed (or `seed`).
pub fn simulate_file(path: &Path, seed: Option<u64>) -> Outcome {
    let (scenario, plan) = Plan::load(path).unwrap_or_else(|e| panic!("{e}"));
    simulate_scenario(&scenario, plan, seed)
}

/// Simulates a loaded scenario with its own agents and config.
pub fn simulate_scenario(scenario: &Scenario, plan: Plan, seed: Option<u64>) -> Outcome {
    let models = SimModels::for_scenario(scenario, &plan).unwrap_or_else(|e| panic!("{e}"));
    let seed = seed.unwrap_or(models.seed);
    let plan = Arc::new(plan);
    let mut events = Vec::new();
    let run = simulate(
        plan.clone(),
        scenario.config.clone(),
        scenario.agents.clone(),
        &models,
        seed,
        &mut |e| events.push(e.clone()),
    )
    .unwrap_or_else(|e| {
        // The last events usually show how the run got stuck.
        let tail: Vec<String> = events
            .iter()
            .rev()
            .take(25)
            .rev()
            .map(|e| serde_json::to_string(e).unwrap())
            .collect();
        panic!(
            "{}: {e}\nlast events:\n{}",
            scenario.source.origin,
            tail.join("\n")
        )
    });
    let trace = trace_csv(&run, &plan);
    let summary = Summary::new(&run, &plan, &scenario.config, &trace);
    Outcome {
        plan,
        config: scenario.config.clone(),
        run,
        events,
        trace,
        summary,
    }
}

/// A test that needs a tool this machine lacks (`missing` says which, and how to get it)
/// skips with a message, except under CI (`CI` set), where `.ci/run` installs what the
/// suite needs and a skip would hide a test that never ran: there it fails.
pub fn skip_unless_ci(test: &str, missing: &str) {
    assert!(
        std::env::var_os("CI").is_none(),
        "{test}: CI is set but {missing}"
    );
    eprintln!("{test}: skipped, {missing}");
}

/// What one run of the binary did.
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `taskdist` with `args` from the package root, so paths in messages are relative.
pub fn taskdist(args: &[&str]) -> Run {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_taskdist"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("the taskdist binary runs");
    Run {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Asserts that the binary exited 0, showing its output if not.
pub fn ok(run: &Run, what: &str) {
    assert_eq!(
        run.code,
        Some(0),
        "{what}\nstdout: {}\nstderr: {}",
        run.stdout,
        run.stderr
    );
}

/// The rows of a CSV file as maps from column to cell.
pub fn csv_rows(path: &Path) -> Vec<std::collections::BTreeMap<String, String>> {
    let mut reader = csv::Reader::from_path(path).unwrap();
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            assert_eq!(r.len(), header.len(), "{}: ragged row", path.display());
            header
                .iter()
                .cloned()
                .zip(r.iter().map(String::from))
                .collect()
        })
        .collect()
}
