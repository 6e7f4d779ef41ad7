//! Risk and cost outputs, end to end: `taskdist simulate --seeds N` and `taskdist sweep`
//! give the makespan distribution (p50/p80/p95, the probability of finishing by a
//! deadline), the criticality index of each task and the tornado, identically on one
//! thread and on two; agents' `cost_per_hour` prices runs (busy and held cost) and is
//! validated; the sweep names the knee by cost.

use crate::scratch::scratch;
use crate::support::{csv_rows, ok, taskdist};
use std::collections::BTreeMap;

fn num(row: &BTreeMap<String, String>, column: &str) -> f64 {
    row[column]
        .parse()
        .unwrap_or_else(|_| panic!("{column}: {:?}", row.get(column)))
}

/// Linear interpolation between neighbours, as the reports compute percentiles.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let h = (sorted.len() - 1) as f64 * q;
    let (lo, hi) = (h.floor() as usize, h.ceil() as usize);
    sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo])
}

#[test]
fn simulate_seeds_reports_the_distribution_criticality_and_tornado_the_same_on_any_threads() {
    let dirs = [scratch("risk-j1"), scratch("risk-j2")];
    let mut stdout = Vec::new();
    for (dir, jobs) in dirs.iter().zip(["1", "2"]) {
        let run = taskdist(&[
            "simulate",
            "scenarios/failures.toml",
            "--seeds",
            "12",
            "--deadline",
            "4h",
            "-j",
            jobs,
            "--out",
            dir.to_str().unwrap(),
        ]);
        ok(&run, "simulate --seeds");
        stdout.push(run.stdout.replace(dir.to_str().unwrap(), "DIR"));
    }
    assert_eq!(stdout[0], stdout[1]);
    let names = [
        "risk.md",
        "runs.csv",
        "makespan_cdf.csv",
        "criticality.csv",
        "tornado.csv",
        "scurve.png",
        "scurve.svg",
        "tornado.png",
        "tornado.svg",
    ];
    for name in names {
        let a = std::fs::read(dirs[0].join(name)).unwrap();
        let b = std::fs::read(dirs[1].join(name)).unwrap();
        assert!(a == b, "{name} differs between -j 1 and -j 2");
        assert!(a.len() > 50, "{name} is nearly empty");
    }
    // The percentiles and the deadline probability are those of the makespans of the runs
    // that finished the plan. Some runs of failures.toml lose tasks (a task fails for
    // good, its dependents are skipped) and end early: counted, they would pass as on
    // time.
    let runs = csv_rows(&dirs[0].join("runs.csv"));
    assert_eq!(runs.len(), 12);
    assert_eq!(runs[0]["seed"], "7");
    let complete =
        |r: &&BTreeMap<String, String>| num(r, "tasks_failed") + num(r, "tasks_skipped") == 0.0;
    let finished = runs.iter().filter(complete).count();
    assert!(
        (1..12).contains(&finished),
        "{finished} of 12 finished the plan"
    );
    let mut makespans: Vec<f64> = runs
        .iter()
        .filter(complete)
        .map(|r| num(r, "makespan"))
        .collect();
    makespans.sort_by(f64::total_cmp);
    let by_deadline = makespans.iter().filter(|&&m| m <= 4.0 * 3600.0).count();
    let line = stdout[0].lines().nth(1).unwrap();
    assert!(
        line.contains(&format!(
            "P(by 4h 00m) {:.1}%",
            by_deadline as f64 / 12.0 * 100.0
        )),
        "{line}"
    );
    let json = taskdist(&[
        "simulate",
        "scenarios/failures.toml",
        "--seeds",
        "12",
        "--deadline",
        "4h",
        "--json",
    ]);
    ok(&json, "--json");
    let json: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    let m = &json["makespan"];
    for (q, field) in [(0.5, "p50"), (0.8, "p80"), (0.95, "p95")] {
        let expected = quantile(&makespans, q);
        assert!(
            (m[field].as_f64().unwrap() - expected).abs() < 1e-3,
            "{field}: {m} against {expected}"
        );
    }
    assert_eq!(
        m["deadline_probability"].as_f64().unwrap(),
        ((by_deadline as f64 / 12.0) * 1e6).round() / 1e6
    );
    // The S-curve has a point per run that finished the plan, its probabilities rising to
    // that share of the runs.
    let cdf = csv_rows(&dirs[0].join("makespan_cdf.csv"));
    assert_eq!(cdf.len(), finished);
    assert_eq!(
        num(&cdf[finished - 1], "cumulative_probability"),
        ((finished as f64 / 12.0) * 1e6).round() / 1e6
    );
    assert!(
        cdf.windows(2)
            .all(|w| num(&w[0], "makespan") <= num(&w[1], "makespan"))
    );
    // Every run starts with `bootstrap`, which everything waits for: it is on every
    // realized critical path. The ranking is by index.
    let critical = csv_rows(&dirs[0].join("criticality.csv"));
    let bootstrap = critical
        .iter()
        .find(|r| r["task_id"] == "bootstrap")
        .unwrap();
    assert_eq!(num(bootstrap, "criticality"), 1.0);
    assert!(
        critical
            .windows(2)
            .all(|w| num(&w[0], "criticality") >= num(&w[1], "criticality"))
    );
    // The tornado has both parameters of every type of the plan, ranked by swing, and the
    // longer durations never finish sooner at p80 than the shorter ones.
    let tornado = csv_rows(&dirs[0].join("tornado.csv"));
    assert_eq!(tornado.len(), 2 * 7, "seven task types in failures.toml");
    assert!(
        tornado
            .windows(2)
            .all(|w| num(&w[0], "swing") >= num(&w[1], "swing"))
    );
    for row in tornado.iter().filter(|r| r["parameter"] == "duration") {
        assert!(num(row, "p80_low") <= num(row, "p80_high"), "{row:?}");
    }
    let report = std::fs::read_to_string(dirs[0].join("risk.md")).unwrap();
    for section in [
        "## Makespan distribution",
        "## Criticality",
        "## What moves the p80 makespan",
    ] {
        assert!(report.contains(section), "{section}\n{report}");
    }
}

/// Two kinds of agent: a cheap generalist and an expensive one, one of each in the
/// scenario, so `--agents N` alternates them.
const PRICED: &str = "[config]\ntask_timeout = '4h'\n[[agents]]\nid = 'cheap'\ncost_per_hour = 2.0\n\
    [[agents]]\nid = 'dear'\ncost_per_hour = 30.0\n\
    [simulation]\nduration = { model = 'lognormal', spread = 0.3 }\nfailure_probability = 0.1\n\
    [[tasks]]\nid = 'a'\nestimated_duration = '30m'\n\
    [[tasks]]\nid = 'b'\nestimated_duration = '20m'\n\
    [[tasks]]\nid = 'c'\nestimated_duration = '40m'\ndepends_on = ['a']\n\
    [[tasks]]\nid = 'd'\nestimated_duration = '10m'\n\
    [[tasks]]\nid = 'e'\nestimated_duration = '25m'\ndepends_on = ['b', 'd']\n";

#[test]
fn agents_cost_per_hour_prices_runs_by_busy_and_held_time() {
    let dir = scratch("cost");
    let scenario = dir.join("priced.toml");
    std::fs::write(&scenario, PRICED).unwrap();
    let out = dir.join("run");
    let run = taskdist(&[
        "simulate",
        scenario.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    ok(&run, "simulate");
    assert!(
        run.stdout.contains(" busy (agents' time in attempts), "),
        "{}",
        run.stdout
    );
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    let rate = |agent: &str| if agent == "cheap" { 2.0 } else { 30.0 };
    let busy: f64 = csv_rows(&out.join("trace.csv"))
        .iter()
        .map(|r| (num(r, "end") - num(r, "start")) / 3600.0 * rate(&r["agent_id"]))
        .sum();
    let makespan = summary["makespan"].as_f64().unwrap();
    assert!(
        (summary["cost_busy"].as_f64().unwrap() - busy).abs() < 1e-4,
        "{summary}"
    );
    assert!(
        (summary["cost_held"].as_f64().unwrap() - makespan / 3600.0 * 32.0).abs() < 1e-4,
        "{summary}"
    );
    // A sweep gives both per point and names the knee by cost.
    let sweep = dir.join("sweep");
    let run = taskdist(&[
        "sweep",
        scenario.to_str().unwrap(),
        "--agents",
        "1..4",
        "--seeds",
        "4",
        "--out",
        sweep.to_str().unwrap(),
    ]);
    ok(&run, "sweep");
    assert!(run.stdout.contains(": knee by cost "), "{}", run.stdout);
    let points = csv_rows(&sweep.join("sweep_summary.csv"));
    for p in &points {
        assert!(
            num(p, "cost_held_p50") > 0.0 && num(p, "cost_busy_p50") > 0.0,
            "{p:?}"
        );
        assert!(
            num(p, "cost_busy_p50") <= num(p, "cost_held_p50") + 1e-9,
            "{p:?}"
        );
    }
    let report = std::fs::read_to_string(sweep.join("report.md")).unwrap();
    assert!(
        report.contains("## Cost") && report.contains("(cost.png)"),
        "{report}"
    );
    assert!(
        std::fs::read(sweep.join("cost.png"))
            .unwrap()
            .starts_with(b"\x89PNG")
    );
    // Unpriced agents cost nothing and print no cost line.
    let run = taskdist(&["simulate", "scenarios/quickstart.toml"]);
    assert!(!run.stdout.contains("cost "), "{}", run.stdout);
}

#[test]
fn bad_costs_and_deadlines_exit_2_naming_the_problem() {
    let dir = scratch("bad-cost");
    for (value, shown) in [("-1.0", "-1"), ("inf", "inf"), ("nan", "NaN")] {
        let path = dir.join("bad.toml");
        std::fs::write(
            &path,
            format!(
                "[[agents]]\nid = 'x'\ncost_per_hour = {value}\n[[tasks]]\nid = 'a'\nestimated_duration = '1m'\n"
            ),
        )
        .unwrap();
        let run = taskdist(&["validate", path.to_str().unwrap()]);
        assert_eq!(run.code, Some(2), "{value}: {}", run.stderr);
        assert!(
            run.stderr.contains("agent `x`") && run.stderr.contains("cost_per_hour"),
            "{value}: {}",
            run.stderr
        );
        assert!(run.stderr.contains(shown), "{value}: {}", run.stderr);
    }
    for args in [
        &[
            "simulate",
            "scenarios/quickstart.toml",
            "--seeds",
            "2",
            "--deadline",
            "soon",
        ][..],
        &[
            "sweep",
            "scenarios/quickstart.toml",
            "--seeds",
            "1",
            "--deadline",
            "0s",
        ][..],
    ] {
        let run = taskdist(args);
        assert_eq!(run.code, Some(2), "{args:?}: {}", run.stderr);
        assert!(run.stderr.contains("bad --deadline"), "{}", run.stderr);
    }
}

#[test]
fn a_sweep_reports_p80_the_deadline_and_the_risk_sections() {
    let dir = scratch("sweep-risk");
    let run = taskdist(&[
        "sweep",
        "scenarios/quickstart.toml",
        "--agents",
        "1..4",
        "--seeds",
        "5",
        "--deadline",
        "3h",
        "--out",
        dir.to_str().unwrap(),
    ]);
    ok(&run, "sweep");
    let points = csv_rows(&dir.join("sweep_summary.csv"));
    for p in &points {
        assert!(num(p, "makespan_p50") <= num(p, "makespan_p80"));
        assert!(num(p, "makespan_p80") <= num(p, "makespan_p95"));
        let probability = num(p, "deadline_probability");
        assert!((0.0..=1.0).contains(&probability));
    }
    // One agent cannot finish 5h 50m of work by 3h.
    assert_eq!(num(&points[0], "deadline_probability"), 0.0);
    let cdf = csv_rows(&dir.join("makespan_cdf.csv"));
    assert_eq!(cdf.len(), 4 * 5);
    let report = std::fs::read_to_string(dir.join("report.md")).unwrap();
    for section in [
        "## Cost",
        "## Makespan distribution",
        "P(makespan ≤ 3h 00m)",
        "## Criticality",
        "## What moves the p80 makespan",
        "(scurve.png)",
        "(tornado.png)",
    ] {
        assert!(report.contains(section), "{section}");
    }
    assert!(
        run.stdout.contains("most critical at critical-path"),
        "{}",
        run.stdout
    );
}

/// `flaky` fails for good in about a third of the runs (0.6 per attempt, one retry), and
/// `after` is then skipped: those runs end early with a part of the plan.
const LOSSY: &str = "[config]\nmax_retries_per_task = 1\n[[agents]]\ncount = 2\n\
    [simulation]\nduration = { model = 'lognormal', spread = 0.2 }\nfailure_probability = 0.0\n\
    [simulation.types.testing]\nfailure_probability = 0.6\n\
    [[tasks]]\nid = 'build'\nestimated_duration = '20m'\n\
    [[tasks]]\nid = 'flaky'\ntype = 'testing'\nestimated_duration = '10m'\ndepends_on = ['build']\n\
    [[tasks]]\nid = 'after'\nestimated_duration = '25m'\ndepends_on = ['flaky']\n";

/// A run that lost tasks did not finish the plan: `simulate --seeds` and `sweep` leave it
/// out of the percentiles, the S-curve and the criticality, count it as late for any
/// deadline, and say how many there were.
#[test]
fn runs_that_lost_tasks_count_as_late_and_stay_out_of_the_percentiles() {
    let dir = scratch("lossy");
    let plan = dir.join("lossy.toml");
    std::fs::write(&plan, LOSSY).unwrap();
    let plan = plan.to_str().unwrap();
    let out = dir.join("risk");
    let args = ["simulate", plan, "--seeds", "30", "--deadline", "100h"];
    let text = taskdist(&[&args[..], &["--out", out.to_str().unwrap()]].concat());
    ok(&text, "simulate --seeds");
    let runs = csv_rows(&out.join("runs.csv"));
    let lost =
        |r: &BTreeMap<String, String>| num(r, "tasks_failed") + num(r, "tasks_skipped") > 0.0;
    let lossy = runs.iter().filter(|r| lost(r)).count();
    assert!(
        (3..=27).contains(&lossy),
        "{lossy} of 30 runs lost tasks: the scenario no longer tests both kinds"
    );
    let complete = 30 - lossy;
    let mut makespans: Vec<f64> = runs
        .iter()
        .filter(|r| !lost(r))
        .map(|r| num(r, "makespan"))
        .collect();
    makespans.sort_by(f64::total_cmp);
    // The lost runs are the short ones (they skip `after`'s 25m): counting them would pull
    // the median down.
    let shortest_lost = runs
        .iter()
        .filter(|r| lost(r))
        .map(|r| num(r, "makespan"))
        .fold(f64::INFINITY, f64::min);
    assert!(
        shortest_lost < makespans[0],
        "{shortest_lost} {makespans:?}"
    );
    assert!(
        text.stdout.contains(&format!(
            ": {complete} of 30 runs finished the plan ({lossy} lost tasks); "
        )),
        "{}",
        text.stdout
    );
    let json = taskdist(&[&args[..], &["--json"]].concat());
    ok(&json, "--json");
    let json: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(json["runs_that_lost_tasks"], lossy);
    let m = &json["makespan"];
    assert_eq!(m["finished"], complete);
    assert!(
        (m["p50"].as_f64().unwrap() - quantile(&makespans, 0.5)).abs() < 1e-3,
        "{m}"
    );
    // 100 hours is far beyond any run: only the runs that lost tasks miss it.
    let share = ((complete as f64 / 30.0) * 1e6).round() / 1e6;
    assert_eq!(m["deadline_probability"].as_f64().unwrap(), share);
    let cdf = csv_rows(&out.join("makespan_cdf.csv"));
    assert_eq!(cdf.len(), complete);
    assert_eq!(num(&cdf[complete - 1], "cumulative_probability"), share);
    let critical = csv_rows(&out.join("criticality.csv"));
    let after = critical.iter().find(|r| r["task_id"] == "after").unwrap();
    assert_eq!(
        num(after, "criticality"),
        1.0,
        "on every finished run's path"
    );

    // The sweep counts the same runs per point and computes the same figures.
    let swept = dir.join("sweep");
    let run = taskdist(&[
        "sweep",
        plan,
        "--agents",
        "1..2",
        "--seeds",
        "30",
        "--deadline",
        "100h",
        "--out",
        swept.to_str().unwrap(),
    ]);
    ok(&run, "sweep");
    let all = csv_rows(&swept.join("sweep.csv"));
    let points = csv_rows(&swept.join("sweep_summary.csv"));
    assert_eq!(points.len(), 2, "two agent counts, the scenario's policy");
    for p in &points {
        let of_point: Vec<&BTreeMap<String, String>> = all
            .iter()
            .filter(|r| r["agents"] == p["agents"] && r["policy"] == p["policy"])
            .collect();
        let lossy = of_point.iter().filter(|r| lost(r)).count();
        assert!(lossy > 0, "{p:?}");
        assert_eq!(num(p, "incomplete") as usize, lossy, "{p:?}");
        let mut makespans: Vec<f64> = of_point
            .iter()
            .filter(|r| !lost(r))
            .map(|r| num(r, "makespan"))
            .collect();
        makespans.sort_by(f64::total_cmp);
        assert!((num(p, "makespan_p50") - quantile(&makespans, 0.5)).abs() < 1e-3);
        let share = (((30 - lossy) as f64 / 30.0) * 1e6).round() / 1e6;
        assert_eq!(num(p, "deadline_probability"), share, "{p:?}");
        // The means still count every run that ran to the end.
        let failed = of_point.iter().map(|r| num(r, "tasks_failed")).sum::<f64>() / 30.0;
        assert!((num(p, "tasks_failed_mean") - failed).abs() < 1e-6, "{p:?}");
    }
    let lossy: usize = all.iter().filter(|r| lost(r)).count();
    assert!(
        run.stdout.contains(&format!(
            "\n{lossy} of 60 runs lost tasks (failed for good or skipped) and did not finish \
             the plan: the medians and knees are over the others\n"
        )),
        "{}",
        run.stdout
    );
    let report = std::fs::read_to_string(swept.join("report.md")).unwrap();
    assert!(
        report.contains(&format!(
            "**{lossy} of 60 runs lost tasks** (failed for good"
        )),
        "{report}"
    );
    assert!(report.contains("| incomplete | errors |"), "{report}");
}
