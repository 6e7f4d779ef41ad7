//! `taskdist simulate` end to end: the figures the simulator issue is judged by.

use crate::support::root;
use std::path::Path;
use std::process::Command;

fn simulate(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_taskdist"))
        .arg("simulate")
        .args(args)
        .output()
        .unwrap()
}

use crate::scratch::scratch;

#[test]
fn a_chain_of_three_ten_minute_tasks_takes_1800_s_with_any_agent_count() {
    let dir = scratch("chain");
    let file = dir.join("chain.toml");
    std::fs::write(
        &file,
        "[[agents]]\ncount = 1\n\
         [[tasks]]\nid = 'a'\nestimated_duration = '10m'\n\
         [[tasks]]\nid = 'b'\nestimated_duration = '10m'\ndepends_on = ['a']\n\
         [[tasks]]\nid = 'c'\nestimated_duration = '10m'\ndepends_on = ['b']\n",
    )
    .unwrap();
    for agents in ["1", "2", "5", "16"] {
        let out = simulate(&[file.to_str().unwrap(), "--agents", agents, "--json"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(summary["makespan"], 1800.0, "{agents} agents");
        assert_eq!(summary["agents"], agents.parse::<u64>().unwrap());
        // Fixed durations, no faults: the run's bound is the chain, met exactly.
        assert_eq!(summary["run_bound"], 1800.0, "{agents} agents");
        assert_eq!(summary["run_critical_path"], 1800.0, "{agents} agents");
        assert_eq!(summary["efficiency"], 1.0, "{agents} agents");
    }
}

/// Parses trace.csv into (task, start, end) rows.
fn trace(dir: &Path) -> Vec<(String, f64, f64)> {
    let mut reader = csv::Reader::from_path(dir.join("trace.csv")).unwrap();
    let headers = reader.headers().unwrap().clone();
    assert_eq!(
        headers.iter().collect::<Vec<_>>(),
        [
            "task_id",
            "agent_id",
            "attempt",
            "start",
            "end",
            "outcome",
            "layer",
            "wait_reason"
        ]
    );
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            (
                r[0].to_string(),
                r[3].parse().unwrap(),
                r[4].parse().unwrap(),
            )
        })
        .collect()
}

#[test]
fn two_tasks_writing_the_same_file_never_overlap_in_the_trace() {
    let dir = scratch("locks");
    let file = dir.join("two_writers.toml");
    std::fs::write(
        &file,
        "[[agents]]\ncount = 4\n\
         [[tasks]]\nid = 'first'\nestimated_duration = '20m'\nfiles_to_modify = ['src/app.ts']\n\
         [[tasks]]\nid = 'second'\nestimated_duration = '15m'\nfiles_to_modify = ['./src/app.ts']\n\
         [[tasks]]\nid = 'free'\nestimated_duration = '5m'\nfiles_to_modify = ['src/other.ts']\n",
    )
    .unwrap();
    let out_dir = dir.join("out");
    let out = simulate(&[file.to_str().unwrap(), "--out", out_dir.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows = trace(&out_dir);
    let find = |id: &str| rows.iter().find(|r| r.0 == id).unwrap().clone();
    let (first, second) = (find("first"), find("second"));
    assert!(
        first.2 <= second.1 || second.2 <= first.1,
        "{first:?} overlaps {second:?}"
    );
    // `free` ran alongside: locks serialize only what shares a file.
    assert_eq!(find("free").1, 0.0);
}

#[test]
fn the_lock_heavy_scenario_serializes_its_hot_file() {
    let out_dir = scratch("hot");
    let scenario = root().join("scenarios/locks.toml");
    let out = simulate(&[
        scenario.to_str().unwrap(),
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows = trace(&out_dir);
    let mut routes: Vec<(f64, f64)> = rows
        .iter()
        .filter(|r| r.0.starts_with("endpoint_"))
        .map(|r| (r.1, r.2))
        .collect();
    routes.sort_by(|a, b| a.partial_cmp(b).unwrap());
    for pair in routes.windows(2) {
        assert!(
            pair[0].1 <= pair[1].0,
            "writers of src/routes.ts overlap: {pair:?}"
        );
    }
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out_dir.join("summary.json")).unwrap()).unwrap();
    assert!(summary["lock_wait_total"].as_f64().unwrap() > 3600.0);
    std::fs::remove_dir_all(out_dir).ok();
}

#[test]
fn bad_simulation_models_exit_2_and_name_the_problem() {
    let dir = scratch("badsim");
    let file = dir.join("bad.toml");
    std::fs::write(
        &file,
        "[[agents]]\nid = 'a'\n[simulation]\nfailure_probability = 1.5\n\
         crashes = [{ agent = 'ghost', at = '5m' }]\n\
         [[tasks]]\nid = 'x'\nestimated_duration = '1m'\n",
    )
    .unwrap();
    let out = simulate(&[file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("failure_probability"), "{stderr}");
    assert!(stderr.contains("ghost"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}
