//! Policy regression checks in CI: every shipped scenario has a baseline in
//! `reports/baselines/`, and `taskdist check` passes against it. A scheduling change that
//! makes the median or p95 makespan, or a failure count, worse by more than 2 % fails
//! here with the check's table. If the change is intended, record the baselines again
//! (`scripts/reports.sh baselines`) and review the diff.
//!
//! Also: a doctored baseline fails the check with a readable diff, and a broken baseline
//! file exits 2.

use crate::support::{root, shipped_scenarios};
use std::process::Command;

fn taskdist(args: &[&str]) -> (Option<i32>, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_taskdist"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("the taskdist binary runs");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn every_shipped_scenario_passes_its_checked_in_baseline() {
    let mut failures = Vec::new();
    for (name, path) in shipped_scenarios() {
        let baseline = format!("reports/baselines/{name}.json");
        assert!(
            root().join(&baseline).exists(),
            "{baseline} is missing: record it with scripts/reports.sh baselines"
        );
        let scenario = format!("scenarios/{}", path.file_name().unwrap().to_string_lossy());
        let (code, stdout, stderr) = taskdist(&["check", &scenario, "--baseline", &baseline]);
        if code != Some(0) {
            failures.push(format!("{scenario} (exit {code:?}):\n{stdout}{stderr}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{}\nIf the change is intended: scripts/reports.sh baselines",
        failures.join("\n")
    );
}

#[test]
fn a_regression_fails_the_check_with_a_readable_diff() {
    let dir = crate::scratch::scratch("check");
    let recorded = dir.join("quickstart.json");
    let (code, stdout, stderr) = taskdist(&[
        "baseline",
        "scenarios/quickstart.toml",
        "--seeds",
        "8",
        "-o",
        recorded.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    let (code, stdout, _) = taskdist(&[
        "check",
        "scenarios/quickstart.toml",
        "--baseline",
        recorded.to_str().unwrap(),
        "--tolerance",
        "0%",
    ]);
    assert_eq!(code, Some(0), "a fresh baseline checks clean:\n{stdout}");
    assert!(stdout.contains("OK"), "{stdout}");

    // A baseline whose median makespan was 10 % shorter: today's runs are a regression.
    let mut baseline: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&recorded).unwrap()).unwrap();
    let p50 = baseline["metrics"]["makespan"]["p50"].as_f64().unwrap();
    baseline["metrics"]["makespan"]["p50"] = serde_json::json!(p50 / 1.1);
    let doctored = dir.join("doctored.json");
    std::fs::write(&doctored, baseline.to_string()).unwrap();
    let (code, stdout, stderr) = taskdist(&[
        "check",
        "scenarios/quickstart.toml",
        "--baseline",
        doctored.to_str().unwrap(),
        "--tolerance",
        "2%",
    ]);
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    let line = stdout
        .lines()
        .find(|l| l.contains("makespan p50"))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(line.contains("+10.0%"), "{line}");
    assert!(line.contains("REGRESSED (limit +2%)"), "{line}");
    assert!(stdout.contains("FAIL: 1 of"), "{stdout}");
    assert!(
        stdout.contains("taskdist baseline scenarios/quickstart.toml"),
        "{stdout}"
    );
    // Within a 15 % tolerance it passes.
    let (code, _, _) = taskdist(&[
        "check",
        "scenarios/quickstart.toml",
        "--baseline",
        doctored.to_str().unwrap(),
        "--tolerance",
        "15",
    ]);
    assert_eq!(code, Some(0));

    // Broken baselines and tolerances are bad input.
    std::fs::write(&doctored, "{\"version\": 1, \"scenario\": 3}").unwrap();
    for args in [
        vec!["--baseline", doctored.to_str().unwrap()],
        vec!["--baseline", "reports/baselines/no-such.json"],
        vec![
            "--baseline",
            recorded.to_str().unwrap(),
            "--tolerance",
            "-3%",
        ],
    ] {
        let mut full = vec!["check", "scenarios/quickstart.toml"];
        full.extend(args.iter().copied());
        let (code, _, stderr) = taskdist(&full);
        assert_eq!(code, Some(2), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}
