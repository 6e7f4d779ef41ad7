//! Determinism: the same scenario and seed give the same trace, events and files, run
//! after run; the command line writes byte-identical output directories.

use crate::support::{root, shipped_scenarios, simulate_file};
use std::process::Command;

#[test]
fn every_shipped_scenario_replays_identically() {
    for (name, path) in shipped_scenarios() {
        let first = simulate_file(&path, Some(3));
        let second = simulate_file(&path, Some(3));
        assert_eq!(
            first.trace, second.trace,
            "{name}: trace differs between two runs"
        );
        assert_eq!(
            first.events, second.events,
            "{name}: events differ between two runs"
        );
        assert_eq!(first.summary, second.summary, "{name}");
    }
}

#[test]
fn simulate_writes_byte_identical_outputs() {
    let tmp = crate::scratch::scratch("determinism");
    let scenario = root().join("scenarios/failures.toml");
    let mut outputs = Vec::new();
    for run in 0..2 {
        let dir = tmp.join(format!("run{run}"));
        let out = dir.to_str().unwrap();
        taskdist(&[
            "simulate",
            scenario.to_str().unwrap(),
            "--seed",
            "5",
            "--out",
            out,
        ]);
        let files: Vec<Vec<u8>> = [
            "summary.json",
            "trace.csv",
            "events.jsonl",
            "gantt.svg",
            "gantt.png",
        ]
        .iter()
        .map(|f| std::fs::read(dir.join(f)).unwrap())
        .collect();
        outputs.push(files);
    }
    assert_eq!(outputs[0], outputs[1]);
    // trace_hash is the SHA-256 of trace.csv.
    let summary: serde_json::Value = serde_json::from_slice(&outputs[0][0]).unwrap();
    assert_eq!(
        summary["trace_hash"].as_str().unwrap(),
        taskdist::report::sha256_hex(&outputs[0][1])
    );
}

/// Without `--out`, the trace's hash is made on another core while the run goes on, a
/// block of rows at a time; with it, from the written `trace.csv`. Either way the same
/// summary, on a plan big enough for many blocks (more than 65,536 attempts).
#[test]
fn the_summary_is_the_same_with_the_trace_written_or_not() {
    let tmp = crate::scratch::scratch("hash_as_it_goes");
    let file = tmp.join("big.json");
    let path = file.to_str().unwrap();
    taskdist(&[
        "gen", "--tasks", "100000", "--agents", "200", "--seed", "2", "-o", path,
    ]);
    let out = tmp.join("out");
    let streamed = taskdist(&["simulate", "--json", path]);
    taskdist(&["simulate", "--json", path, "--out", out.to_str().unwrap()]);
    let written = std::fs::read(out.join("summary.json")).unwrap();
    assert_eq!(
        String::from_utf8(streamed).unwrap(),
        String::from_utf8(written).unwrap()
    );
}

/// What `taskdist ARGS` prints, once it has succeeded.
fn taskdist(args: &[&str]) -> Vec<u8> {
    let output = Command::new(env!("CARGO_BIN_EXE_taskdist"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}
