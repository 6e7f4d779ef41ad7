//! Golden replays: each shipped scenario at its own seed must give exactly the summary
//! checked into `sim/golden/<name>.json`. Any change of scheduling behaviour shows up here
//! as a diff. To accept a change on purpose, re-bless and review the diff in git:
//!
//! ```text
//! TASKDIST_BLESS=1 cargo test --release --test sim golden
//! ```

use crate::support::{root, shipped_scenarios, simulate_file};

#[test]
fn shipped_scenarios_match_their_golden_summaries() {
    let bless = std::env::var_os("TASKDIST_BLESS").is_some();
    let dir = root().join("sim/golden");
    std::fs::create_dir_all(&dir).unwrap();
    let mut mismatches = Vec::new();
    let scenarios = shipped_scenarios();
    assert!(
        scenarios.len() >= 4,
        "quickstart, webapp, failures and locks at least"
    );
    for (name, path) in scenarios {
        let outcome = simulate_file(&path, None);
        let actual = serde_json::to_string_pretty(&outcome.summary).unwrap() + "\n";
        let golden_path = dir.join(format!("{name}.json"));
        if bless {
            std::fs::write(&golden_path, &actual).unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&golden_path).unwrap_or_default();
        if expected != actual {
            mismatches.push(format!(
                "{name}: summary differs from {}\n--- expected\n{expected}\n+++ actual\n{actual}",
                golden_path.display()
            ));
        }
    }
    assert!(
        mismatches.is_empty(),
        "{}\nIf the change is intended: TASKDIST_BLESS=1 cargo test --release --test sim golden",
        mismatches.join("\n")
    );
}
