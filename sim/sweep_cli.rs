//! `taskdist sweep` and the Gantt chart of `taskdist simulate --out`, end to end: a sweep
//! run is the run `simulate` makes, the output is the same on one thread and on several,
//! the files load as CSV and name the knee, and bad ranges or axes exit 2 without a panic.
//! Sweeps here use few seeds to keep CI fast.

use crate::scratch::scratch;
use crate::support::{csv_rows, ok, taskdist};
use std::path::Path;

#[test]
fn a_sweep_row_is_the_summary_simulate_prints_for_the_same_settings() {
    let dir = scratch("sweep-vs-simulate");
    let out = dir.to_str().unwrap();
    let run = taskdist(&[
        "sweep",
        "scenarios/webapp.toml",
        "--agents",
        "2..3",
        "--seeds",
        "2",
        "--seed",
        "40",
        "--policy",
        "fifo,critical-path",
        "--out",
        out,
    ]);
    ok(&run, "sweep");
    assert!(
        run.stderr.is_empty(),
        "no progress bar when piped: {}",
        run.stderr
    );
    let rows = csv_rows(&dir.join("sweep.csv"));
    assert_eq!(rows.len(), 2 * 2 * 2);
    // Policies in the order given, then agents, then seeds.
    let order: Vec<(&str, &str, &str)> = rows
        .iter()
        .map(|r| {
            (
                r["policy"].as_str(),
                r["agents"].as_str(),
                r["seed"].as_str(),
            )
        })
        .collect();
    assert_eq!(order[0], ("fifo", "2", "40"));
    assert_eq!(order[1], ("fifo", "2", "41"));
    assert_eq!(order[7], ("critical-path", "3", "41"));
    for row in [&rows[1], &rows[6]] {
        let single = taskdist(&[
            "simulate",
            "scenarios/webapp.toml",
            "--agents",
            &row["agents"],
            "--policy",
            &row["policy"],
            "--seed",
            &row["seed"],
            "--json",
        ]);
        ok(&single, "simulate");
        let summary: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(&single.stdout).unwrap();
        for (field, value) in &summary {
            let text = match value {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let cell = &row[field];
            let same = cell == &text
                || cell.parse::<f64>().ok() == text.parse::<f64>().ok()
                    && cell.parse::<f64>().is_ok();
            assert!(
                same,
                "{field}: sweep.csv has {cell}, simulate printed {text}"
            );
        }
        assert_eq!(row["error"], "");
    }
}

#[test]
fn one_thread_and_two_write_byte_identical_files() {
    let dirs = [scratch("sweep-j1"), scratch("sweep-j2")];
    for (dir, jobs) in dirs.iter().zip(["1", "2"]) {
        let run = taskdist(&[
            "sweep",
            "scenarios/failures.toml",
            "--agents",
            "1..4",
            "--seeds",
            "3",
            "--vary",
            "failure=0,0.2",
            "--out",
            dir.to_str().unwrap(),
            "-j",
            jobs,
        ]);
        ok(&run, "sweep");
    }
    for name in [
        "sweep.csv",
        "sweep_summary.csv",
        "speedup.png",
        "speedup.svg",
        "utilization.png",
        "utilization.svg",
        "cost.png",
        "cost.svg",
        "scurve.png",
        "scurve.svg",
        "makespan_cdf.csv",
        "criticality.csv",
        "tornado.csv",
        "tornado.png",
        "tornado.svg",
    ] {
        let a = std::fs::read(dirs[0].join(name)).unwrap();
        let b = std::fs::read(dirs[1].join(name)).unwrap();
        assert!(a == b, "{name} differs between -j 1 and -j 2");
    }
    // report.md quotes the command, which names the output directory; the rest is equal.
    let report = |d: &Path| {
        std::fs::read_to_string(d.join("report.md"))
            .unwrap()
            .replace(d.to_str().unwrap(), "DIR")
    };
    assert_eq!(report(&dirs[0]), report(&dirs[1]));
}

#[test]
fn the_report_names_the_knee_and_shows_the_figures() {
    let dir = scratch("sweep-report");
    let run = taskdist(&[
        "sweep",
        "scenarios/quickstart.toml",
        "--agents",
        "1..6",
        "--seeds",
        "4",
        "--policy",
        "critical-path,layered",
        "--out",
        dir.to_str().unwrap(),
    ]);
    ok(&run, "sweep");
    let report = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(report.contains("**Knee: "), "{report}");
    for figure in ["speedup.png", "utilization.png", "speedup.svg"] {
        assert!(report.contains(&format!("({figure})")), "{figure}");
        let bytes = std::fs::read(dir.join(figure)).unwrap();
        assert!(bytes.len() > 1000, "{figure} is nearly empty");
    }
    assert!(
        std::fs::read(dir.join("speedup.png"))
            .unwrap()
            .starts_with(b"\x89PNG")
    );
    // The knee printed and the knee in the summary CSV agree: the fewest agents within 5 %
    // of the best median makespan of the series.
    let points = csv_rows(&dir.join("sweep_summary.csv"));
    let critical: Vec<(u32, f64)> = points
        .iter()
        .filter(|p| p["policy"] == "critical-path")
        .map(|p| {
            (
                p["agents"].parse().unwrap(),
                p["makespan_p50"].parse().unwrap(),
            )
        })
        .collect();
    assert_eq!(critical.len(), 6);
    let best = critical.iter().map(|p| p.1).fold(f64::INFINITY, f64::min);
    let knee = critical.iter().find(|p| p.1 <= best * 1.05).unwrap().0;
    let line = run
        .stdout
        .lines()
        .find(|l| l.starts_with("critical-path"))
        .unwrap();
    assert_eq!(
        line.split_whitespace().nth(1).unwrap(),
        knee.to_string(),
        "{}",
        run.stdout
    );
}

#[test]
fn bad_ranges_and_axes_exit_2_without_a_panic() {
    let cases: [(&[&str], &str); 9] = [
        (&["--agents", "5..2"], "reversed"),
        (&["--agents", "0..3"], "start at 1"),
        (&["--agents", "two"], "not a whole number"),
        (&["--vary", "speed=1,2"], "unknown vary axis `speed`"),
        (&["--vary", "failure=0,1.5"], "not a probability"),
        (&["--vary", "locks"], "AXIS=v1"),
        (&["--seeds", "0"], "--seeds"),
        (&["--policy", "fifo,random"], "unknown policy `random`"),
        (&["--agents", "1..4096", "--seeds", "1000"], "too many"),
    ];
    for (extra, message) in cases {
        let mut args = vec!["sweep", "scenarios/quickstart.toml"];
        args.extend_from_slice(extra);
        let run = taskdist(&args);
        assert_eq!(run.code, Some(2), "{extra:?}\n{}", run.stderr);
        assert!(run.stderr.contains(message), "{extra:?}: {}", run.stderr);
        assert!(
            !run.stderr.contains("panicked"),
            "{extra:?}: {}",
            run.stderr
        );
        assert!(run.stdout.is_empty(), "{extra:?}");
    }
    let run = taskdist(&["sweep", "scenarios/invalid/cycle.toml", "--seeds", "1"]);
    assert_eq!(run.code, Some(2), "{}", run.stderr);
}

#[test]
fn every_vary_axis_runs_and_names_its_column() {
    for (vary, column, values) in [
        ("crash_mtbf=none,1h", "crash_mtbf", ["none", "1h"]),
        ("context=on,off", "context", ["on", "off"]),
        ("locks=on,off", "locks", ["on", "off"]),
    ] {
        let dir = scratch(&format!("sweep-axis-{column}"));
        let run = taskdist(&[
            "sweep",
            "scenarios/failures.toml",
            "--agents",
            "2,4",
            "--seeds",
            "2",
            "--vary",
            vary,
            "--out",
            dir.to_str().unwrap(),
        ]);
        ok(&run, vary);
        let points = csv_rows(&dir.join("sweep_summary.csv"));
        let seen: Vec<&str> = points.iter().map(|p| p[column].as_str()).collect();
        assert_eq!(seen, [values[0], values[0], values[1], values[1]], "{vary}");
    }
}

#[test]
fn turning_locks_off_removes_lock_wait() {
    let dir = scratch("sweep-locks");
    let run = taskdist(&[
        "sweep",
        "scenarios/locks.toml",
        "--agents",
        "4",
        "--seeds",
        "3",
        "--vary",
        "locks=on,off",
        "--out",
        dir.to_str().unwrap(),
    ]);
    ok(&run, "sweep");
    let points = csv_rows(&dir.join("sweep_summary.csv"));
    let wait = |v: &str| -> f64 {
        points.iter().find(|p| p["locks"] == v).unwrap()["lock_wait_mean"]
            .parse()
            .unwrap()
    };
    assert!(wait("on") > 0.0);
    assert_eq!(wait("off"), 0.0);
}

#[test]
fn simulate_out_writes_a_gantt_chart() {
    let dir = scratch("gantt");
    let run = taskdist(&[
        "simulate",
        "scenarios/failures.toml",
        "--out",
        dir.to_str().unwrap(),
    ]);
    ok(&run, "simulate");
    let png = std::fs::read(dir.join("gantt.png")).unwrap();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"));
    let svg = std::fs::read_to_string(dir.join("gantt.svg")).unwrap();
    assert!(svg.starts_with("<svg"), "{}", &svg[..80.min(svg.len())]);
    for agent in ["worker_1", "worker_4", "critical path", "lock wait"] {
        assert!(svg.contains(agent), "{agent} missing from the chart");
    }
    // Smaller runs than the scenario's agents, with its scripted crash of worker_2, work.
    ok(
        &taskdist(&["simulate", "scenarios/failures.toml", "--agents", "1"]),
        "one agent",
    );
}
