//! The `taskdist` binary end to end: the quickstart scenario validates and plans, and every
//! broken scenario in `scenarios/invalid/` exits with status 2 and a message that names
//! what is wrong, never a panic.

use serde_json::Value;
use std::path::Path;

use crate::support::{Run, taskdist};

/// Asserts the run failed as bad input: exit status exactly 2, no panic, nothing on stdout.
fn assert_bad_input(run: &Run, what: &str) {
    assert_eq!(
        run.code,
        Some(2),
        "{what}: expected exit 2\nstderr: {}",
        run.stderr
    );
    assert!(
        !run.stderr.contains("panicked"),
        "{what}: panicked\n{}",
        run.stderr
    );
    assert!(
        run.stdout.is_empty(),
        "{what}: wrote to stdout: {}",
        run.stdout
    );
}

/// Runs taskdist with `args` and asserts it failed as bad input with `needle` in its message.
fn assert_bad_input_naming(args: &[&str], needle: &str) {
    let run = taskdist(args);
    assert_bad_input(&run, &args.join(" "));
    assert!(
        run.stderr.contains(needle),
        "taskdist {}: expected `{needle}` in\n{}",
        args.join(" "),
        run.stderr
    );
}

const QUICKSTART: &str = "scenarios/quickstart.toml";

fn plan_json(extra: &[&str]) -> Value {
    let mut args = vec!["plan", QUICKSTART, "--json"];
    args.extend_from_slice(extra);
    let run = taskdist(&args);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    serde_json::from_str(&run.stdout).expect("plan --json prints JSON")
}

#[test]
fn quickstart_validates() {
    let run = taskdist(&["validate", QUICKSTART]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(
        run.stdout,
        "OK scenarios/quickstart.toml: 13 tasks, 3 agents, 7 layers\n"
    );
    assert!(run.stderr.is_empty(), "{}", run.stderr);
}

/// Counts of one read as one: "1 agent", "1 seed", "1 policy", never "1 agents" (each
/// message counts through `model::count`).
#[test]
fn a_count_of_one_is_singular() {
    let cases: [(&[&str], &[&str]); 4] = [
        (
            &["plan", QUICKSTART],
            &["    0     1 task     20m 00s  auth_schema\n"],
        ),
        (
            &["simulate", QUICKSTART, "--agents", "1"],
            &["makespan ", " on 1 agent (critical-path policy, seed 0)"],
        ),
        (
            &["simulate", QUICKSTART, "--agents", "1", "--seeds", "1"],
            &[" at 1 agent, critical-path, 1 seed from 0: 1 of 1 runs finished the plan; "],
        ),
        (
            &["sweep", QUICKSTART, "--agents", "1", "--seeds", "1"],
            &[": 1 run (1 agent count x 1 policy x 1 seed from 0)"],
        ),
    ];
    for (args, needles) in cases {
        let run = taskdist(args);
        assert_eq!(run.code, Some(0), "{}", run.stderr);
        for needle in needles {
            assert!(
                run.stdout.contains(needle),
                "taskdist {}: expected `{needle}` in\n{}",
                args.join(" "),
                run.stdout
            );
        }
    }
}

#[test]
fn every_shipped_scenario_validates() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if !matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("toml" | "json")
        ) {
            continue;
        }
        let run = taskdist(&["validate", path.to_str().unwrap()]);
        assert_eq!(run.code, Some(0), "{}: {}", path.display(), run.stderr);
        checked += 1;
    }
    assert!(checked >= 1);
}

#[test]
fn quickstart_plan_prints_layers_critical_path_and_bound() {
    let run = taskdist(&["plan", QUICKSTART]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let out = &run.stdout;
    assert!(
        out.starts_with("13 tasks, 20 dependencies, 7 layers, max parallelism 4\n"),
        "{out}"
    );
    assert!(out.contains("\nlayers:\n"), "{out}");
    assert!(
        out.contains("signup_form, sessions, fix_login_redirect, password_reset"),
        "the widest layer is listed: {out}"
    );
    assert!(
        out.contains(
            "critical path (3h 20m, 7 tasks): auth_schema -> auth_core -> sessions -> oauth \
             -> integration -> e2e_tests -> deploy_staging"
        ),
        "{out}"
    );
    assert!(out.contains("total work:    5h 50m"), "{out}");
    // The scenario declares 3 agents (config.max_agents is 3 too). The writers of
    // src/routes/auth.ts and what must precede and follow them exceed the critical path.
    assert!(
        out.contains("lower bound:   3h 30m on 3 agents, set by lock"),
        "{out}"
    );
    assert!(
        out.contains("src/routes/auth.ts"),
        "the busiest file: {out}"
    );
}

#[test]
fn quickstart_plan_json_has_the_analysis() {
    let json = plan_json(&[]);
    for key in [
        "layers",
        "critical_path",
        "lower_bound",
        "total_work",
        "max_parallelism",
        "hot_files",
    ] {
        assert!(json.get(key).is_some(), "missing `{key}` in {json:#}");
    }
    assert_eq!(json["agents"], 3);
    assert_eq!(json["layers"].as_array().unwrap().len(), 7);
    assert_eq!(json["max_parallelism"], 4);
    assert_eq!(json["critical_path"][0], "auth_schema");
    assert_eq!(json["critical_path"][6], "deploy_staging");
    // Seconds: 3h 20m of critical path, 5h 50m of work, 3h 30m of lock bound.
    assert_eq!(json["critical_path_length"], 12_000.0);
    assert_eq!(json["total_work"], 21_000.0);
    assert_eq!(json["lower_bound"], 12_600.0);
    assert_eq!(json["bounds"]["lock_ms"], 12_600_000);
    assert_eq!(json["hot_files"][0]["path"], "src/routes/auth.ts");
    assert_eq!(json["hot_files"][0]["writers"], 3);
}

/// The summary of a run quotes the plan's bound as `taskdist plan` prints it, and the
/// bound that sets it, for every shipped scenario.
#[test]
fn simulate_quotes_the_bound_plan_prints() {
    for (name, path) in crate::support::shipped_scenarios() {
        let path = path.to_str().unwrap();
        let plan = taskdist(&["plan", path, "--json"]);
        assert_eq!(plan.code, Some(0), "{name}: {}", plan.stderr);
        let plan: Value = serde_json::from_str(&plan.stdout).unwrap();
        let sim = taskdist(&["simulate", path, "--json"]);
        assert_eq!(sim.code, Some(0), "{name}: {}", sim.stderr);
        let sim: Value = serde_json::from_str(&sim.stdout).unwrap();
        assert_eq!(sim["lower_bound"], plan["lower_bound"], "{name}");
        assert_eq!(sim["lower_bound_by"], plan["bound_by"], "{name}");
    }
    let text = taskdist(&["simulate", QUICKSTART]).stdout;
    assert!(
        text.contains("the bound on estimates 3h 30m (set by lock)"),
        "{text}"
    );
}

/// `plan --optimize` proves the quickstart schedule optimal by its bound; its `--json`
/// schedule, given back to `simulate --schedule`, is followed to the same makespan (with
/// context sharing off: shared discoveries shorten attempts).
#[test]
fn an_optimized_schedule_is_proved_and_followed() {
    let run = taskdist(&["plan", QUICKSTART, "--optimize", "--budget", "500"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(
        run.stdout.starts_with(
            "optimized makespan 3h 30m on 3 slots; lower bound 3h 30m (set by lock); optimal (bound)"
        ),
        "{}",
        run.stdout
    );
    let json = taskdist(&["plan", QUICKSTART, "--optimize", "--json"]);
    let schedule: Value = serde_json::from_str(&json.stdout).expect("a schedule");
    assert_eq!(schedule["makespan_ms"], 12_600_000);
    let dir = scratch("optimized");
    let file = dir.join("schedule.json");
    std::fs::write(&file, &json.stdout).unwrap();
    let scenario = std::fs::read_to_string(QUICKSTART)
        .unwrap()
        .replace("[config]\n", "[config]\nenable_context_sharing = false\n");
    let plan = dir.join("quickstart.toml");
    std::fs::write(&plan, scenario).unwrap();
    let sim = taskdist(&[
        "simulate",
        plan.to_str().unwrap(),
        "--schedule",
        file.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(sim.code, Some(0), "{}", sim.stderr);
    let summary: Value = serde_json::from_str(&sim.stdout).expect("a summary");
    assert_eq!(summary["makespan"], 12_600.0, "{summary:#}");
    // A schedule that does not fit the plan is bad input.
    std::fs::write(&file, json.stdout.replace("\"auth_core\"", "\"nope\"")).unwrap();
    let bad = taskdist(&["simulate", QUICKSTART, "--schedule", file.to_str().unwrap()]);
    assert_bad_input(&bad, "a schedule naming an unknown task");
    assert!(
        bad.stderr.contains("task `nope` is not in the plan"),
        "{}",
        bad.stderr
    );
}

/// `simulate --seeds N --schedule FILE` follows the file's schedule in every run: the
/// quickstart's optimized schedule with every task moved onto the generalist's slot (it
/// runs every type) runs serially, in the total work, where the optimized one takes its
/// 3h 30m; risk.md's command names the file.
#[test]
fn simulate_seeds_follows_the_schedule_file() {
    let dir = scratch("seeds-schedule");
    let scenario = std::fs::read_to_string(QUICKSTART)
        .unwrap()
        .replace("[config]\n", "[config]\nenable_context_sharing = false\n");
    let plan = dir.join("quickstart.toml");
    std::fs::write(&plan, scenario).unwrap();
    let json = taskdist(&["plan", QUICKSTART, "--optimize", "--json"]);
    assert_eq!(json.code, Some(0), "{}", json.stderr);
    let mut schedule: Value = serde_json::from_str(&json.stdout).expect("a schedule");
    let mut all: Vec<Value> = Vec::new();
    for slot in schedule["slots"].as_array_mut().unwrap() {
        all.append(slot["tasks"].as_array_mut().unwrap());
    }
    all.sort_by_key(|t| t["start_ms"].as_u64().unwrap());
    let slots = schedule["slots"].as_array_mut().unwrap();
    let generalist = slots
        .iter_mut()
        .find(|s| s["agent"] == "generalist")
        .expect("a slot of the generalist");
    generalist["tasks"] = Value::Array(all);
    let serial = dir.join("serial.json");
    std::fs::write(&serial, schedule.to_string()).unwrap();
    let p50 = |extra: &[&str]| {
        let mut args = vec!["simulate", plan.to_str().unwrap(), "--seeds", "3", "--json"];
        args.extend_from_slice(extra);
        let run = taskdist(&args);
        assert_eq!(run.code, Some(0), "{}", run.stderr);
        let out: Value = serde_json::from_str(&run.stdout).expect("a JSON report");
        assert_eq!(out["policy"], "optimized", "{out:#}");
        out["makespan"]["p50"].as_f64().expect("a p50")
    };
    assert_eq!(p50(&["--schedule", serial.to_str().unwrap()]), 21_000.0);
    assert_eq!(p50(&["--policy", "optimized"]), 12_600.0);
    let out = dir.join("risk");
    let run = taskdist(&[
        "simulate",
        plan.to_str().unwrap(),
        "--seeds",
        "2",
        "--schedule",
        serial.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let risk = std::fs::read_to_string(out.join("risk.md")).unwrap();
    assert!(
        risk.contains(&format!("--schedule {}", serial.display())),
        "{risk}"
    );
}

use crate::scratch::scratch;

#[test]
fn on_one_agent_the_lower_bound_is_the_total_work() {
    let json = plan_json(&["--agents", "1"]);
    assert_eq!(json["agents"], 1);
    assert_eq!(json["lower_bound"], json["total_work"]);
    assert_eq!(json["bound_by"], "work");
}

#[test]
fn quickstart_plan_dot_is_graphviz() {
    let run = taskdist(&["plan", QUICKSTART, "--dot"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(run.stdout.starts_with("digraph"), "{}", run.stdout);
    assert!(run.stdout.contains("deploy_staging"));
    // `docs` is blocked_by, not depends_on, its predecessors: dashed edges.
    assert!(run.stdout.contains("style=dashed"));
}

/// Every file in `scenarios/invalid/` with what its error message must contain.
const INVALID: &[(&str, &[&str])] = &[
    (
        "cycle.toml",
        &[
            "cycle.toml:8: dependency cycle: schema -> migrations -> seed_data -> schema",
            "1 error in the scenario",
        ],
    ),
    (
        "unknown_dependency.toml",
        &["unknown_dependency.toml:11: task `logout`: depends_on names unknown task `sesions`"],
    ),
    (
        "duplicate_id.toml",
        &["duplicate_id.toml:12: duplicate task id `auth` (first defined on line 7)"],
    ),
    (
        "no_capable_agent.toml",
        &["no_capable_agent.toml:23: task `deploy`: no agent can run type `deployment`"],
    ),
    ("no_agents.toml", &["the scenario has no agents"]),
    (
        "negative_duration.toml",
        &["task `password_reset`: `estimated_duration`: duration `-15m` is negative"],
    ),
    (
        "non_finite_duration.toml",
        &[
            "task `oauth`: `estimated_duration`: duration `inf` is not finite",
            "task `sessions`: `estimated_duration`: duration `NaN` is not finite",
        ],
    ),
    (
        "unknown_field.toml",
        &["unknown_field.toml:13:1: tasks[0] (task `auth`): unknown field `priorty`"],
    ),
    ("malformed.toml", &["malformed.toml:12:1: "]),
    (
        "estimate_exceeds_timeout.toml",
        &[
            "2 errors in the scenario",
            "estimate_exceeds_timeout.toml:17: task `migrate`: estimated_duration 50m is longer \
             than its timeout 20m (from config.task_timeout): every attempt would time out; \
             raise config.task_timeout above 50m",
            "estimate_exceeds_timeout.toml:22: task `backfill`: estimated_duration 3h is longer \
             than its timeout 2h (from the task's `timeout`)",
        ],
    ),
    (
        "wrong_type.json",
        &["wrong_type.json:2:28: agents[0].count: invalid type: string \"two\", expected u32"],
    ),
    (
        "wrong_type_depends_on.toml",
        &[
            "wrong_type_depends_on.toml:14:14: tasks[1].depends_on (task `tests`): invalid type: \
             string \"auth\", expected a sequence",
        ],
    ),
    (
        "out_of_range.toml",
        &[
            "out_of_range.toml:5:24: config.max_retries_per_task: invalid value: integer `-1`, \
             expected u32",
        ],
    ),
    (
        "bad_values.toml",
        &[
            "4 errors in the scenario",
            "bad_values.toml:6: config: `max_agents` must be at least 1",
            "bad_values.toml:10: agent `fast`: `speed` must be a number from 0.001 to 1000, \
             not 0.0001",
            "bad_values.toml:13: an agent: `id` is empty",
            "bad_values.toml:15: task `auth`: `timeout` must be longer than zero",
        ],
    ),
    (
        "bad_simulation.json",
        &[
            "3 errors in the scenario",
            "bad_simulation.json:5: simulation: `crash_mtbf` must be longer than zero",
            "bad_simulation.json:8: simulation.types.testing: `hang_probability` must be between \
             0 and 1, not -1",
            "bad_simulation.json:11: simulation.context: `discovery_speedup` must be above 0",
        ],
    ),
    (
        "bad_simulation.toml",
        &[
            "6 errors in the scenario",
            "bad_simulation.toml:15: simulation: `failure_probability` must be between 0 and 1, \
             not 1.5",
            "bad_simulation.toml:16: simulation: `spread` must be a number from 0 to 10, not 11",
            "bad_simulation.toml:19: simulation.crashes (agent `nobody`): `agent` names no agent",
            "bad_simulation.toml:19: simulation.crashes (agent `nobody`): `at`: `soon` is not a \
             duration",
            "bad_simulation.toml:23: simulation.tasks.\"build.core\": `failed_fraction` must be \
             between 0 and 1, not 7",
            "bad_simulation.toml:25: simulation.tasks: `id` names unknown task `deploy`",
        ],
    ),
    (
        "malformed.json",
        &["malformed.json:5:69: tasks[1]: expected `,` or `}`"],
    ),
    (
        "several_errors.toml",
        &[
            "5 errors in the scenario",
            "several_errors.toml:16: duplicate task id `auth_core`",
            "several_errors.toml:20: task `tests`: depends_on names unknown task `auth_cor`",
            "several_errors.toml:26: task `oauth`: `estimated_duration`: duration `-45m` is negative",
            "several_errors.toml:30: dependency cycle: sessions -> logout -> sessions",
            "several_errors.toml:40: task `deploy`: no agent can run type `deployment`",
        ],
    ),
];

#[test]
fn every_invalid_scenario_exits_2_and_names_the_problem() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/invalid");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.ends_with(".toml") || name.ends_with(".json"))
        .collect();
    files.sort();
    let mut listed: Vec<String> = INVALID.iter().map(|(f, _)| f.to_string()).collect();
    listed.sort();
    assert_eq!(
        files, listed,
        "each broken scenario needs its expected message here"
    );

    for (file, expected) in INVALID {
        let path = format!("scenarios/invalid/{file}");
        for command in ["validate", "plan"] {
            let run = taskdist(&[command, &path]);
            assert_bad_input(&run, &format!("{command} {path}"));
            assert!(
                run.stderr.starts_with(&format!("error: {path}")),
                "{command} {path}: the message names the file\n{}",
                run.stderr
            );
            for needle in *expected {
                assert!(
                    run.stderr.contains(needle),
                    "{command} {path}: expected `{needle}` in\n{}",
                    run.stderr
                );
            }
        }
    }
}

#[test]
fn unreadable_paths_exit_2() {
    let cases = [
        ("scenarios/no_such_file.toml", "No such file"),
        ("scenarios/invalid", "is a directory"),
        ("Cargo.lock", "unknown scenario format"),
    ];
    for (path, needle) in cases {
        for command in ["validate", "plan"] {
            assert_bad_input_naming(&[command, path], needle);
        }
    }
    // --format overrides the extension: Cargo.toml is TOML, but not a scenario.
    let run = taskdist(&["validate", "--format", "toml", "Cargo.toml"]);
    assert_bad_input(&run, "validate --format toml Cargo.toml");
    assert!(run.stderr.contains("unknown field"), "{}", run.stderr);
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        &["plan", QUICKSTART, "--agents", "0"][..],
        &["plan", QUICKSTART, "--json", "--dot"],
        &["validate"],
        &["no-such-command"],
    ] {
        let run = taskdist(args);
        assert_bad_input(&run, &args.join(" "));
    }
}

/// Every flag value out of range, reversed or unknown exits 2 before anything runs, with a
/// message that names the flag; none allocates what a typo asks for.
#[test]
fn bad_flag_values_exit_2_naming_the_flag() {
    let q = QUICKSTART;
    let stg = "scenarios/imported/small.stg";
    let cases: &[(&[&str], &str)] = &[
        (&["simulate", q, "--agents", "0"], "--agents"),
        (&["simulate", q, "--agents", "100001"], "--agents"),
        (&["simulate", q, "--agents", "4294967295"], "--agents"),
        (
            &["simulate", q, "--policy", "fastest"],
            "unknown policy `fastest`",
        ),
        (&["simulate", q, "--serve", "--speed", "0"], "--speed"),
        (&["plan", q, "--agents", "0"], "--agents"),
        (&["plan", q, "--agents", "100001"], "--agents"),
        (&["run", q, "--agents", "100001"], "--agents"),
        (
            &["baseline", q, "--agents", "100001", "-o", "B.json"],
            "--agents",
        ),
        (&["baseline", q, "--seeds", "0", "-o", "B.json"], "--seeds"),
        (
            &["sweep", q, "--agents", "5..2"],
            "the range 5..2 is reversed",
        ),
        (&["sweep", q, "--agents", "0"], "--agents"),
        (&["sweep", q, "--seeds", "0"], "--seeds"),
        (
            &["sweep", q, "--policy", "fifo,fastest"],
            "unknown policy `fastest`",
        ),
        (&["sweep", q, "--vary", "failure=1.5"], "--vary"),
        (
            &["sweep", q, "--vary", "colour=red"],
            "unknown vary axis `colour`",
        ),
        (&["sweep", q, "-j", "0"], "--jobs"),
        (
            &["check", q, "--baseline", "B.json", "--tolerance", "lots"],
            "--tolerance",
        ),
        (&["import", "stg", stg, "--agents", "0"], "--agents"),
        (&["gen", "--tasks", "0"], "--tasks"),
        (&["gen", "--tasks", "10", "--agents", "0"], "--agents"),
        (&["gen", "--tasks", "10", "--width", "0"], "--width"),
        (&["gen", "--tasks", "10", "--hot-files", "0"], "--hot-files"),
        (&["gen", "--tasks", "10", "--deps", "6"], "--deps"),
        (
            &["gen", "--tasks", "10", "--hot-fraction", "1.5"],
            "--hot-fraction",
        ),
        (
            &["gen", "--tasks", "10", "--failure-probability", "2"],
            "--failure-probability",
        ),
        (&["gen", "--tasks", "10", "--spread", "11"], "--spread"),
        (&["gen", "--tasks", "10", "--spread", "inf"], "--spread"),
        (&["gen", "--tasks", "10", "--policy", "fastest"], "--policy"),
    ];
    for (args, needle) in cases {
        assert_bad_input_naming(args, needle);
    }
}

/// A calibration's table replaces the scenario's: its issues name the calibration file and
/// their lines in it, not the scenario's.
#[test]
fn a_calibration_tables_issues_name_its_file_and_lines() {
    let dir = scratch("calibration_lines");
    let calibration = dir.join("fitted.toml");
    std::fs::write(
        &calibration,
        "# fitted by hand\n[simulation]\nseed = 1\n\n[simulation.types.testing]\n\
         failure_probability = 1.5\n",
    )
    .unwrap();
    let calibration = calibration.to_str().unwrap();
    let needle = format!(
        "error: {calibration}: 1 error in the calibration's [simulation] table:\n  {calibration}:6: \
         simulation.types.testing: `failure_probability` must be between 0 and 1, not 1.5"
    );
    for command in ["simulate", "sweep"] {
        assert_bad_input_naming(
            &[command, QUICKSTART, "--calibration", calibration],
            &needle,
        );
    }
}

/// `validate` checks the `[simulation]` table as `simulate` does, and the ranges of the
/// simulation models keep every run's clock finite.
#[test]
fn validate_checks_the_simulation_table() {
    let dir = scratch("sim");
    let task = "[[tasks]]\nid = 'a'\nestimated_duration = 1\n";
    let cases = [
        (
            "[simulation]\nfailure_probability = 1.5\n",
            "`failure_probability` must be between 0 and 1",
        ),
        (
            "[simulation]\nduration = { model = 'lognormal', spread = 1e308 }\n",
            "`spread` must be a number from 0 to 10",
        ),
        (
            "[simulation]\nduration = { model = 'uniform', low = 1, high = 1e300 }\n",
            "low <= high <= 1000",
        ),
        (
            "[simulation.context]\ndiscovery_speedup = 0\n",
            "`discovery_speedup` must be above 0 and at most 1",
        ),
        (
            "[simulation]\nduration = { model = 'lognormal', spread = 'wide' }\n",
            "simulation.duration: invalid type",
        ),
        // The path goes through the type's key (a key read as an enum left a gap there).
        (
            "[simulation.types.testing]\nduration = { model = 'lognormal', spread = 'wide' }\n",
            ":7:12: simulation.types.testing.duration: invalid type",
        ),
        (
            "[simulation.types.tests]\nfailure_probability = 0.1\n",
            ":6:19: simulation.types.tests: unknown variant `tests`, expected one of \
             `feature_implementation`, `bug_fix`",
        ),
    ];
    for (n, (table, needle)) in cases.iter().enumerate() {
        let path = dir.join(format!("sim{n}.toml"));
        std::fs::write(&path, format!("[[agents]]\ncount = 1\n{task}{table}")).unwrap();
        let path = path.to_str().unwrap();
        for command in ["validate", "simulate"] {
            assert_bad_input_naming(&[command, path], needle);
        }
    }
}
