//! `taskdist calibrate` and `taskdist replay` on real runs of shipped scenarios: the fit of
//! a run whose commands draw from known distributions recovers them within its intervals
//! and predicts a second run; replaying a run with its own agents and policy reproduces
//! it (makespan within 2 %, the same agent for at least 95 % of attempts), also after
//! failures, retries, timeouts and a killed runner; and both commands refuse, untouched,
//! a database that is not a run, is damaged or holds no finished attempt.

use crate::support::{csv_rows, root};
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::Duration;
use taskdist::calibrate::{Calibration, RecordedRun, read_calibration};
use taskdist::model::TaskType;
use taskdist::plan::Plan;
use taskdist::report::sweep::quantile;
use taskdist::sim::{SimModels, simulate};

use crate::scratch::scratch;

/// `taskdist ARGS` from the repository root (the calibration scenario's commands name
/// their script relative to it), with CALIBRATION_SEED set.
fn taskdist(seed: u64, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_taskdist"))
        .args(args)
        .current_dir(root())
        .env("CALIBRATION_SEED", seed.to_string())
        .output()
        .expect("taskdist runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn ok(output: &Output) -> String {
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}{}",
        text(&output.stdout),
        text(&output.stderr)
    );
    text(&output.stdout)
}

fn path(p: &Path) -> &str {
    p.to_str().expect("temporary paths are UTF-8")
}

/// A real run of `scenario` into `out`.
fn real_run(seed: u64, scenario: &str, out: &Path) {
    ok(&taskdist(seed, &["run", scenario, "--out", path(out)]));
}

/// `taskdist replay RUN --json` (with `extra` arguments), parsed.
fn replay(run: &Path, extra: &[&str]) -> Value {
    let mut args = vec!["replay", path(run), "--json"];
    args.extend_from_slice(extra);
    serde_json::from_str(&ok(&taskdist(0, &args))).unwrap()
}

/// The fidelity gate of a replay with the run's own agents and policy.
fn assert_faithful(name: &str, replayed: &Value) {
    let error = replayed["makespan_error"].as_f64().unwrap();
    let share = replayed["same_agent_share"].as_f64().unwrap();
    eprintln!(
        "{name}: recorded makespan {} s, replayed {} s (error {:+.3} %), same agent for {} of {} attempts",
        replayed["recorded_makespan"],
        replayed["replayed_makespan"],
        100.0 * error,
        replayed["same_agent_attempts"],
        replayed["recorded_attempts"]
    );
    assert!(error.abs() <= 0.02, "{name}: {replayed:#}");
    assert!(share >= 0.95, "{name}: {replayed:#}");
}

/// The truth written in scenarios/scripts/calibration.sh.
struct Truth {
    ty: TaskType,
    mu: f64,
    sigma: f64,
    failure: f64,
}

const TRUTH: [Truth; 3] = [
    Truth {
        ty: TaskType::FeatureImplementation,
        mu: 0.1,
        sigma: 0.25,
        failure: 0.15,
    },
    Truth {
        ty: TaskType::Testing,
        mu: -0.1,
        sigma: 0.35,
        failure: 0.30,
    },
    Truth {
        ty: TaskType::Documentation,
        mu: 0.0,
        sigma: 0.2,
        failure: 0.0,
    },
];
const HANG: f64 = 0.04;
const FAILURE_MU: f64 = -1.0;
const FAILURE_SIGMA: f64 = 0.3;

#[test]
fn calibrating_a_run_of_known_distributions_recovers_them_and_predicts_a_second_run() {
    let dir = scratch("validity");
    let (first, second, table) = (dir.join("seed-1"), dir.join("seed-2"), dir.join("cal.toml"));
    real_run(1, "scenarios/calibration.toml", &first);
    let report = ok(&taskdist(
        0,
        &["calibrate", path(&first), "-o", path(&table)],
    ));
    eprintln!("{report}");
    assert!(report.contains("documentation") && report.contains("uncalibrated"));
    let header = std::fs::read_to_string(&table).unwrap();
    assert!(header.starts_with("# taskdist calibrate: models fitted from 1 run"));

    // The raw fits against the truth, each within its 95 % interval.
    let fit = Calibration::fit(&[RecordedRun::open(&first).unwrap()], false);
    let mut misses = Vec::new();
    let mut check = |what: String, inside: bool| {
        eprintln!("{} {what}", if inside { "ok  " } else { "MISS" });
        if !inside {
            misses.push(what);
        }
    };
    for t in &TRUTH {
        let ty = &fit.types[&t.ty];
        let d = ty.durations.fit.unwrap();
        check(
            format!("{} mu {} in {:?}", t.ty, t.mu, d.mu_interval),
            d.mu_interval.contains(t.mu),
        );
        check(
            format!("{} sigma {} in {:?}", t.ty, t.sigma, d.sigma_interval),
            d.sigma_interval.contains(t.sigma),
        );
        let f = ty.failures.observed;
        check(
            format!(
                "{} failure {} in {:?} ({} of {})",
                t.ty, t.failure, f.interval, f.k, f.n
            ),
            f.interval.contains(t.failure),
        );
    }
    let ttf = fit.pooled.failure_durations.fit.unwrap();
    check(
        format!("time-to-failure mu {FAILURE_MU} in {:?}", ttf.mu_interval),
        ttf.mu_interval.contains(FAILURE_MU),
    );
    check(
        format!(
            "time-to-failure sigma {FAILURE_SIGMA} in {:?}",
            ttf.sigma_interval
        ),
        ttf.sigma_interval.contains(FAILURE_SIGMA),
    );
    let hangs = fit.pooled.hangs.observed;
    check(
        format!("hang {HANG} in {:?}", hangs.interval),
        hangs.interval.contains(HANG),
    );
    assert!(misses.is_empty(), "outside their intervals: {misses:?}");
    assert!(!fit.types[&TaskType::Documentation].calibrated);

    // The calibrated simulation, through the CLI and over many seeds.
    let simulated = ok(&taskdist(
        0,
        &[
            "simulate",
            "scenarios/calibration.toml",
            "--calibration",
            path(&table),
            "--json",
        ],
    ));
    let simulated: Value = serde_json::from_str(&simulated).unwrap();
    assert!(simulated["makespan"].as_f64().unwrap() > 0.0);

    // Its tornado varies each type between the ends of its fitted intervals (documentation,
    // uncalibrated, takes the pooled ones), and says so.
    let risk = dir.join("risk");
    ok(&taskdist(
        0,
        &[
            "simulate",
            "scenarios/calibration.toml",
            "--calibration",
            path(&table),
            "--seeds",
            "3",
            "--out",
            path(&risk),
        ],
    ));
    let fitted = read_calibration(&table).unwrap();
    let tornado = csv_rows(&risk.join("tornado.csv"));
    assert_eq!(tornado.len(), 2 * TRUTH.len());
    for row in &tornado {
        let ty = *TaskType::ALL
            .iter()
            .find(|t| t.as_str() == row["task_type"])
            .unwrap();
        let own = fitted.types.get(&ty);
        let interval = match row["parameter"].as_str() {
            "duration" => own
                .and_then(|o| o.duration_interval)
                .or(fitted.duration_interval),
            _ => own
                .and_then(|o| o.failure_interval)
                .or(fitted.failure_interval),
        }
        .unwrap_or_else(|| panic!("the calibration gives {row:?} an interval"));
        let ends: [f64; 2] = [
            row["low_value"].parse().unwrap(),
            row["high_value"].parse().unwrap(),
        ];
        assert_eq!(row["range_source"], "interval", "{row:?}");
        assert!(
            (ends[0] - interval[0]).abs() < 1e-9 && (ends[1] - interval[1]).abs() < 1e-9,
            "{row:?} against {interval:?}"
        );
    }
    let report = std::fs::read_to_string(risk.join("risk.md")).unwrap();
    assert!(report.contains("95 % interval (calibration)"), "{report}");
    let (mut scenario, plan) = Plan::load(&root().join("scenarios/calibration.toml")).unwrap();
    scenario.file.simulation = Some(read_calibration(&table).unwrap());
    let models = SimModels::for_scenario(&scenario, &plan).unwrap();
    let plan = Arc::new(plan);
    let mut makespans: Vec<f64> = (0..200)
        .map(|seed| {
            simulate(
                plan.clone(),
                scenario.config.clone(),
                scenario.agents.clone(),
                &models,
                seed,
                &mut |_| {},
            )
            .unwrap()
            .makespan as f64
                / 1000.0
        })
        .collect();
    makespans.sort_by(f64::total_cmp);
    let (p10, p50, p90) = (
        quantile(&makespans, 0.1).unwrap(),
        quantile(&makespans, 0.5).unwrap(),
        quantile(&makespans, 0.9).unwrap(),
    );

    real_run(2, "scenarios/calibration.toml", &second);
    let actual = RecordedRun::open(&second).unwrap().makespan_ms as f64 / 1000.0;
    eprintln!(
        "calibrated simulation (200 seeds): makespan p10 {p10:.3} s, p50 {p50:.3} s, p90 {p90:.3} s; second real run (CALIBRATION_SEED=2): {actual:.3} s"
    );
    assert!(
        (p10..=p90).contains(&actual),
        "the second run's makespan {actual} s is outside the calibrated p10–p90 band [{p10}, {p90}]"
    );

    // Both runs together: enough features for their observed factors.
    let both = dir.join("both.toml");
    let report = ok(&taskdist(
        0,
        &[
            "calibrate",
            path(&first),
            path(&second),
            "--empirical",
            "-o",
            path(&both),
        ],
    ));
    assert!(report.contains("calibrated from 2 runs"), "{report}");
    assert!(report.contains("observed factors (empirical)"), "{report}");
    let table = read_calibration(&both).unwrap();
    assert!(matches!(
        table.types[&TaskType::FeatureImplementation].duration,
        Some(taskdist::model::DurationModel::Factors { .. })
    ));
    let attempts = table
        .calibrated_from
        .expect("calibrate says what it fitted")
        .attempts;
    assert_eq!(table.calibrated_from.unwrap().runs, 2);
    // Every command that simulates with it says the models are calibrated, and from what.
    let from = format!(
        "models: calibrated from 2 runs ({attempts} attempts) in {}",
        path(&both)
    );
    let simulated = ok(&taskdist(
        0,
        &[
            "simulate",
            "scenarios/calibration.toml",
            "--calibration",
            path(&both),
        ],
    ));
    assert!(
        simulated.contains(&format!("simulated; {from}")),
        "{simulated}"
    );
    let seeds = ok(&taskdist(
        0,
        &[
            "simulate",
            "scenarios/calibration.toml",
            "--calibration",
            path(&both),
            "--seeds",
            "2",
        ],
    ));
    assert!(seeds.contains(&from), "{seeds}");
    let baseline = dir.join("baseline.json");
    let recorded = ok(&taskdist(
        0,
        &[
            "baseline",
            "scenarios/calibration.toml",
            "--calibration",
            path(&both),
            "--seeds",
            "2",
            "-o",
            path(&baseline),
        ],
    ));
    assert!(recorded.contains(&from), "{recorded}");
    let checked = ok(&taskdist(
        0,
        &[
            "check",
            "scenarios/calibration.toml",
            "--baseline",
            path(&baseline),
            "--calibration",
            path(&both),
        ],
    ));
    assert!(checked.contains(&from), "{checked}");
    let swept = ok(&taskdist(
        0,
        &[
            "sweep",
            "scenarios/calibration.toml",
            "--calibration",
            path(&both),
            "--agents",
            "2",
            "--seeds",
            "2",
        ],
    ));
    assert!(swept.contains(&from), "{swept}");
    // Without a calibration the figures still say they are simulated, and from what.
    let plain = ok(&taskdist(0, &["simulate", "scenarios/calibration.toml"]));
    assert!(
        plain.contains(
            "simulated; models: the built-in defaults (the scenario has no [simulation] table)"
        ),
        "{plain}"
    );
}

#[test]
fn replaying_real_runs_with_their_own_agents_reproduces_them() {
    let dir = scratch("fidelity");
    // A clean run.
    let sleep = dir.join("sleep");
    real_run(0, "scenarios/sleep.toml", &sleep);
    assert_faithful("sleep", &replay(&sleep, &[]));
}

/// When the killed-run test kills its runner, in ms after starting it: `4000`, or the
/// list in `TASKDIST_KILL_AFTER_MS` (`2900`, `1000,2900`, or `300..7000/150` for every
/// 150 ms from 300 to 7000). Where the kill lands decides what the resume finds (a retry
/// due, a report in flight), so a sweep of kill times covers what one kill may miss.
fn kill_times() -> Vec<u64> {
    let Ok(list) = std::env::var("TASKDIST_KILL_AFTER_MS") else {
        return vec![4_000];
    };
    let number = |text: &str| -> u64 {
        text.trim()
            .parse()
            .unwrap_or_else(|_| panic!("TASKDIST_KILL_AFTER_MS: `{text}` is not a number of ms"))
    };
    let mut times = Vec::new();
    for item in list.split(',') {
        match item.split_once("..") {
            Some((from, rest)) => {
                let (to, step) = rest.split_once('/').unwrap_or((rest, "100"));
                let (from, to, step) = (number(from), number(to), number(step).max(1));
                times.extend((from..=to).step_by(step as usize));
            }
            None => times.push(number(item)),
        }
    }
    times
}

/// Failures, retries, timeouts, and a runner killed mid-run (its agents lost with it) then
/// resumed. The attempts lost at the kill are replayed as lost (not as the attempts that
/// re-ran them after the resume, which could end before the kill in the replay).
#[test]
fn replaying_a_killed_and_resumed_run_with_its_own_agents_reproduces_it() {
    for kill_after_ms in kill_times() {
        replay_a_killed_run(kill_after_ms);
    }
}

/// One run of the test above, killed `kill_after_ms` after it started.
fn replay_a_killed_run(kill_after_ms: u64) {
    let name = format!("calibration killed at {kill_after_ms} ms and resumed");
    // Printed first, so that whichever check below fails, its output names the kill time.
    eprintln!(
        "{name}; reproduce: TASKDIST_KILL_AFTER_MS={kill_after_ms} \
         cargo test --release --test sim killed_and_resumed"
    );
    let dir = scratch("fidelity-killed");
    let killed = dir.join("killed");
    let mut runner = Command::new(env!("CARGO_BIN_EXE_taskdist"))
        .args(["run", "scenarios/calibration.toml", "--out", path(&killed)])
        .current_dir(root())
        .env("CALIBRATION_SEED", "3")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(kill_after_ms));
    runner.kill().unwrap(); // SIGKILL
    runner.wait().unwrap();
    let resumed = taskdist(3, &["resume", path(&killed)]);
    assert!(
        matches!(resumed.status.code(), Some(0 | 1)),
        "{}",
        text(&resumed.stderr)
    );
    let recorded = RecordedRun::open(&killed).unwrap();
    let failed = recorded
        .attempts
        .iter()
        .filter(|a| a.ended == taskdist::calibrate::Ended::Failed)
        .count();
    let retries = recorded.attempts.iter().filter(|a| a.attempt > 1).count();
    assert!(failed > 0 && retries > 0, "{:?}", recorded.attempts);
    // The resume took the killed runner's agents down: recorded, replayed, but not agent
    // failures, so calibrating the run finds no agent losses to model.
    assert!(
        !recorded.losses.is_empty() && recorded.losses.iter().all(|l| l.by_resume),
        "the resume takes the killed runner's agents down: {:?}",
        recorded.losses
    );
    let calibration = taskdist::calibrate::Calibration::fit(std::slice::from_ref(&recorded), false);
    let table = calibration.simulation();
    assert_eq!(table.crash_mtbf, None, "{}", calibration.to_toml());
    assert_eq!(table.crash_recovery, None, "{}", calibration.to_toml());
    let out = dir.join("replay-killed");
    let replayed = replay(&killed, &["--out", path(&out)]);
    assert_faithful(&name, &replayed);
    assert_eq!(replayed["agent_losses_replayed"], true);
    for file in [
        "summary.json",
        "trace.csv",
        "events.jsonl",
        "gantt.svg",
        "gantt.png",
        "replay.json",
    ] {
        assert!(out.join(file).exists(), "{file} missing");
    }

    // What if: twice the agents and another policy. The recorded losses are not replayed,
    // and every task still ends.
    let what_if = replay(&killed, &["--agents", "16", "--policy", "fifo"]);
    assert_eq!(what_if["agent_losses_replayed"], false);
    assert_eq!(what_if["agents"], 16);
    assert_eq!(what_if["summary"]["tasks_completed"], 39, "{what_if:#}");
    // Same seed, same what-if.
    assert_eq!(
        what_if,
        replay(&killed, &["--agents", "16", "--policy", "fifo"])
    );
}

#[test]
fn calibrate_and_replay_refuse_what_is_not_a_finished_run_and_write_nothing() {
    let dir = scratch("refuse");
    std::fs::write(
        dir.join("tiny.toml"),
        "[[agents]]\ncount = 1\n[[tasks]]\nid = 'a'\nestimated_duration = '10ms'\ncommand = 'true'\n",
    )
    .unwrap();
    let run = Command::new(env!("CARGO_BIN_EXE_taskdist"))
        .args(["run", "tiny.toml", "--out", "run"])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(0), "{}", text(&run.stderr));
    let good = dir.join("run/taskdist.db");

    let not_a_db = dir.join("notes.txt");
    std::fs::write(&not_a_db, "hello\n").unwrap();

    let damaged = dir.join("damaged.db");
    let mut bytes = std::fs::read(&good).unwrap();
    assert!(bytes.len() > 8192);
    for b in &mut bytes[4096..8192] {
        *b = 0xA5;
    }
    std::fs::write(&damaged, bytes).unwrap();

    let garbled = dir.join("garbled.db");
    std::fs::copy(&good, &garbled).unwrap();
    rusqlite::Connection::open(&garbled)
        .unwrap()
        .execute("UPDATE session_scenario SET text = 'tasks = 3 ['", [])
        .unwrap();

    let unfinished = dir.join("unfinished.db");
    std::fs::copy(&good, &unfinished).unwrap();
    rusqlite::Connection::open(&unfinished)
        .unwrap()
        .execute("DELETE FROM task_assignments", [])
        .unwrap();

    let cases = [
        (&not_a_db, "is not a taskdist run database"),
        (&damaged, "corrupt"),
        (
            &garbled,
            "is damaged: the scenario it recorded does not load",
        ),
        (&unfinished, "holds no finished attempt"),
        (&dir.join("missing.db"), "no such run database"),
    ];
    for (db, message) in cases {
        let table = dir.join("cal.toml");
        let calibrated = taskdist(0, &["calibrate", path(db), "-o", path(&table)]);
        assert_eq!(
            calibrated.status.code(),
            Some(2),
            "{}",
            text(&calibrated.stderr)
        );
        assert!(
            text(&calibrated.stderr).contains(message),
            "{}: {}",
            db.display(),
            text(&calibrated.stderr)
        );
        assert!(!table.exists(), "calibrate wrote {}", table.display());
        let out = dir.join("replay-out");
        let replayed = taskdist(0, &["replay", path(db), "--out", path(&out)]);
        assert_eq!(
            replayed.status.code(),
            Some(2),
            "{}",
            text(&replayed.stderr)
        );
        assert!(
            text(&replayed.stderr).contains(message),
            "{}: {}",
            db.display(),
            text(&replayed.stderr)
        );
        assert!(!out.exists(), "replay wrote {}", out.display());
    }
    // With a good run next to a bad one, calibrate still writes nothing.
    let table = dir.join("cal.toml");
    let mixed = taskdist(
        0,
        &[
            "calibrate",
            path(&good),
            path(&unfinished),
            "-o",
            path(&table),
        ],
    );
    assert_eq!(mixed.status.code(), Some(2));
    assert!(!table.exists());

    // A file that is not a calibration is bad input for every --calibration.
    let bad = dir.join("bad.toml");
    std::fs::write(&bad, "[simulation]\nfailure_probability = 'often'\n").unwrap();
    let baseline = dir.join("b.json");
    let commands: [&[&str]; 4] = [
        &["simulate", "scenarios/sleep.toml"],
        &[
            "sweep",
            "scenarios/sleep.toml",
            "--agents",
            "1..2",
            "--seeds",
            "2",
        ],
        &["baseline", "scenarios/sleep.toml", "-o", path(&baseline)],
        &[
            "check",
            "scenarios/sleep.toml",
            "--baseline",
            "reports/baselines/sleep.json",
        ],
    ];
    for command in commands {
        let mut args = command.to_vec();
        args.extend(["--calibration", path(&bad)]);
        let refused = taskdist(0, &args);
        assert_eq!(
            refused.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&refused.stderr)
        );
        // Its line, column and field, as a scenario's wrong type is named.
        assert!(
            text(&refused.stderr).contains(&format!(
                "{}:2:23: not a calibration file: simulation.failure_probability: invalid \
                 type: string \"often\", expected f64",
                path(&bad)
            )),
            "{args:?}: {}",
            text(&refused.stderr)
        );
    }
    assert!(!baseline.exists());
}
