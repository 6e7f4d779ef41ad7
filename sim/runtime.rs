//! `taskdist run` and `taskdist resume` end to end, with real processes: a runner killed
//! with SIGKILL resumes without re-running finished work, Ctrl-C stops and resumes, a
//! timeout kills a task's whole process group, bad databases and changed scenarios are
//! refused untouched, and the shipped `sleep` scenario takes as long for real as simulated.

use crate::support::root;
use rusqlite::Connection;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::scratch::scratch;

fn taskdist(dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_taskdist"));
    cmd.current_dir(dir);
    cmd
}

fn run(dir: &Path, args: &[&str]) -> Output {
    taskdist(dir).args(args).output().expect("taskdist runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn spawn(dir: &Path, args: &[&str]) -> Child {
    taskdist(dir)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("taskdist starts")
}

/// Waits until `path` has at least `n` lines.
fn wait_for_lines(path: &Path, n: usize) {
    let start = Instant::now();
    while lines(path).len() < n {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{} never reached {n} lines",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

/// Twelve tasks in four waves of three (each needs the task three before it); each sleeps,
/// then appends its id to `lines.txt`.
fn waves(sleep: &str) -> String {
    let mut text = "time_unit = 'seconds'\n[config]\nmax_retries_per_task = 0\n\
        [[agents]]\ncount = 3\n"
        .to_string();
    for i in 0..12 {
        text += &format!(
            "[[tasks]]\nid = 't{i}'\nestimated_duration = {sleep}\n\
             command = 'sleep {sleep}; echo \"$TASKDIST_TASK_ID\" >> lines.txt'\n"
        );
        if i >= 3 {
            text += &format!("depends_on = ['t{}']\n", i - 3);
        }
    }
    text
}

/// (task id, status) of every assignment row, in order.
fn assignments(db: &Path) -> Vec<(String, String)> {
    Connection::open(db)
        .unwrap()
        .prepare("SELECT task_id, status FROM task_assignments ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

fn session(db: &Path) -> (String, i64, i64) {
    Connection::open(db)
        .unwrap()
        .query_row(
            "SELECT status, completed_tasks, processes FROM distribution_sessions",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap()
}

/// The guard kills the whole process group of every command still running when the runner
/// is killed: a process a command started in the background dies with it.
#[test]
fn a_killed_runner_takes_its_commands_background_processes_with_it() {
    let dir = scratch("guard");
    std::fs::write(
        dir.join("bg.toml"),
        "time_unit = 'seconds'\n[[agents]]\ncount = 2\n\
         [[tasks]]\nid = 'a'\nestimated_duration = 5\n\
         command = '(sleep 0.6; echo late >> late.txt) & echo a >> started.txt; wait'\n\
         [[tasks]]\nid = 'b'\nestimated_duration = 5\n\
         command = 'echo b >> started.txt; sleep 30'\n",
    )
    .unwrap();
    let mut runner = spawn(&dir, &["run", "bg.toml", "--out", "run"]);
    wait_for_lines(&dir.join("started.txt"), 2);
    runner.kill().unwrap(); // SIGKILL
    runner.wait().unwrap();
    std::thread::sleep(Duration::from_millis(1200));
    assert!(
        !dir.join("late.txt").exists(),
        "a command's background process outlived the killed runner"
    );
}

#[test]
fn a_runner_killed_mid_run_resumes_and_no_completed_task_runs_again() {
    let dir = scratch("sigkill");
    std::fs::write(dir.join("waves.toml"), waves("0.2")).unwrap();
    let mut runner = spawn(&dir, &["run", "waves.toml", "--out", "run"]);
    // Kill it in the second wave, while three commands are sleeping.
    wait_for_lines(&dir.join("lines.txt"), 4);
    std::thread::sleep(Duration::from_millis(50));
    runner.kill().unwrap(); // SIGKILL
    runner.wait().unwrap();
    let at_kill = lines(&dir.join("lines.txt"));
    let db = dir.join("run/taskdist.db");
    let recorded: Vec<String> = assignments(&db)
        .into_iter()
        .filter(|(_, status)| status == "completed")
        .map(|(task, _)| task)
        .collect();
    assert!(recorded.len() >= 3 && recorded.len() < 12, "{recorded:?}");
    assert_eq!(
        session(&db).0,
        "running",
        "the dead runner could not say more"
    );
    // Its commands died with it: nothing more is appended once they would have finished.
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(
        lines(&dir.join("lines.txt")),
        at_kill,
        "a command outlived the runner"
    );

    let resumed = run(&dir, &["resume", "run"]);
    assert_eq!(resumed.status.code(), Some(0), "{}", text(&resumed.stderr));
    let (status, completed, processes) = session(&db);
    assert_eq!(
        (status.as_str(), completed, processes),
        ("completed", 12, 2)
    );
    let mut runs: BTreeMap<String, usize> = BTreeMap::new();
    for line in lines(&dir.join("lines.txt")) {
        *runs.entry(line).or_default() += 1;
    }
    assert_eq!(runs.len(), 12, "every task ran: {runs:?}");
    for task in &recorded {
        assert_eq!(runs[task], 1, "`{task}` was recorded done yet ran again");
    }
    // Only attempts in flight at the kill (at most one per agent) could run twice, and
    // only if they finished in the instant between their command's exit and the commit.
    assert!(runs.values().filter(|&&n| n > 1).count() <= 3, "{runs:?}");
    let summary: Value =
        serde_json::from_slice(&std::fs::read(dir.join("run/summary.json")).unwrap()).unwrap();
    assert_eq!(summary["tasks_completed"], 12);
    assert!(summary["reassignments"].as_u64().unwrap() >= 1);
}

#[test]
fn ctrl_c_stops_the_run_and_resume_refuses_a_changed_scenario_then_finishes_it() {
    let dir = scratch("interrupt");
    let scenario = dir.join("waves.toml");
    std::fs::write(&scenario, waves("0.2")).unwrap();
    let runner = spawn(&dir, &["run", "waves.toml", "--out", "run"]);
    wait_for_lines(&dir.join("lines.txt"), 4);
    std::thread::sleep(Duration::from_millis(50));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(runner.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let stopped = runner.wait_with_output().unwrap();
    assert_eq!(
        stopped.status.code(),
        Some(130),
        "{}",
        text(&stopped.stderr)
    );
    let stderr = text(&stopped.stderr);
    assert!(stderr.contains("taskdist resume"), "{stderr}");
    let db = dir.join("run/taskdist.db");
    assert_eq!(session(&db).0, "interrupted");
    assert!(
        assignments(&db).iter().any(|(_, s)| s == "cancelled"),
        "{:?}",
        assignments(&db)
    );
    let recorded: Vec<String> = assignments(&db)
        .into_iter()
        .filter(|(_, status)| status == "completed")
        .map(|(task, _)| task)
        .collect();

    // A changed scenario is refused, and the database is left as it was.
    std::fs::write(&scenario, waves("0.3")).unwrap();
    let before = std::fs::read(&db).unwrap();
    let refused = run(&dir, &["resume", "run/taskdist.db"]);
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused.stderr));
    assert!(
        text(&refused.stderr).contains("changed since the run"),
        "{}",
        text(&refused.stderr)
    );
    assert_eq!(std::fs::read(&db).unwrap(), before);
    assert_eq!(
        session(&db),
        ("interrupted".to_string(), recorded.len() as i64, 1)
    );

    std::fs::write(&scenario, waves("0.2")).unwrap();
    let resumed = run(&dir, &["resume", "run"]);
    assert_eq!(resumed.status.code(), Some(0), "{}", text(&resumed.stderr));
    let mut runs: BTreeMap<String, usize> = BTreeMap::new();
    for line in lines(&dir.join("lines.txt")) {
        *runs.entry(line).or_default() += 1;
    }
    assert_eq!(runs.len(), 12, "every task ran: {runs:?}");
    for task in &recorded {
        assert_eq!(runs[task], 1, "`{task}` was recorded done yet ran again");
    }
    let again = run(&dir, &["resume", "run"]);
    assert_eq!(again.status.code(), Some(0));
    assert!(text(&again.stdout).contains("already finished"));
}

#[test]
fn a_timeout_kills_the_whole_process_group() {
    let dir = scratch("timeout");
    let scenario = "time_unit = 'seconds'\n[config]\nmax_retries_per_task = 0\n\
        [[agents]]\ncount = 1\n\
        [[tasks]]\nid = 'hang'\nestimated_duration = 0.2\ntimeout = 0.5\n\
        command = 'sleep 30 & echo $! > child.pid; sleep 30'\n\
        [[tasks]]\nid = 'after'\nestimated_duration = 0.1\ndepends_on = ['hang']\n\
        command = 'true'\n";
    std::fs::write(dir.join("hang.toml"), scenario).unwrap();
    let start = Instant::now();
    let out = run(&dir, &["run", "hang.toml", "--out", "run"]);
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "the timeout did not stop it"
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("1 of 2 tasks failed and 1 was skipped"),
        "{}",
        text(&out.stderr)
    );
    let pid: i32 = std::fs::read_to_string(dir.join("child.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // The background `sleep 30` got the signal with its shell; it may linger as a zombie
    // until its new parent reaps it, but it no longer runs.
    let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let running = state
        .rsplit(')')
        .next()
        .and_then(|rest| rest.split_whitespace().next())
        .is_some_and(|s| s != "Z" && s != "X");
    assert!(!running, "the background child {pid} still runs: {state}");
    let trace = std::fs::read_to_string(dir.join("run/trace.csv")).unwrap();
    assert!(trace.contains("hang,agent_1,1,0.000,0.5"), "{trace}");
    assert!(trace.contains(",timed_out,"), "{trace}");
    assert_eq!(assignments(&dir.join("run/taskdist.db"))[0].1, "timed_out");
}

#[test]
fn bad_databases_missing_commands_and_events_on_stdout() {
    let dir = scratch("bad-input");
    std::fs::write(dir.join("notes.db"), "not a database").unwrap();
    let out = run(&dir, &["resume", "notes.db"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("is not a taskdist run database"));
    assert_eq!(
        std::fs::read(dir.join("notes.db")).unwrap(),
        b"not a database"
    );

    let out = run(&dir, &["resume", "nowhere"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("no such run database"));

    let scenario = "[config]\nmax_retries_per_task = 0\n\
        [[agents]]\ncount = 1\n[[tasks]]\nid = 'a'\nestimated_duration = '1s'\n\
        command = ['true']\n[[tasks]]\nid = 'b'\nestimated_duration = '1s'\n";
    std::fs::write(dir.join("partial.toml"), scenario).unwrap();
    let out = run(&dir, &["run", "partial.toml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("task `b` (line 9) has no command"),
        "{}",
        text(&out.stderr)
    );
    assert!(
        !dir.join("runs").exists(),
        "nothing is created for a run that cannot start"
    );
    // `--exec` is a shell line, so its program is looked for only when it runs.
    let out = run(
        &dir,
        &["run", "partial.toml", "--exec", "no-such-program-x"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let trace = std::fs::read_to_string(dir.join("runs/partial/trace.csv")).unwrap();
    assert!(
        trace.contains("b,agent_1,1,") && trace.contains(",failed,"),
        "{trace}"
    );
    let out = run(
        &dir,
        &[
            "run",
            "partial.toml",
            "--exec",
            "true",
            "--db",
            "notes.db",
            "--out",
            "x",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("already exists"));
    assert_eq!(
        std::fs::read(dir.join("notes.db")).unwrap(),
        b"not a database"
    );

    let echo = "[[agents]]\ncount = 2\n\
        [[tasks]]\nid = 'hello'\ntitle = 'say \"hi\"; rm -rf /'\nestimated_duration = '1s'\n\
        command = ['sh', '-c', 'printf \"%s\" \"$TASKDIST_TASK_TITLE\" > \"$TASKDIST_RESULT_FILE\"']\n";
    std::fs::write(dir.join("echo.toml"), echo).unwrap();
    let out = run(&dir, &["run", "echo.toml", "--events", "-", "--out", "e"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let events: Vec<Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON event per line"))
        .collect();
    let complete = events
        .iter()
        .find(|e| e["event"] == "task_complete")
        .unwrap();
    assert_eq!(complete["result"], "say \"hi\"; rm -rf /");
    assert_eq!(events.last().unwrap()["event"], "distribution_complete");
    assert!(
        text(&out.stderr).contains("makespan"),
        "the summary goes to stderr"
    );
}

#[test]
fn the_sleep_scenario_takes_as_long_for_real_as_simulated() {
    let dir = scratch("sleep");
    let scenario = root().join("scenarios/sleep.toml");
    let scenario = scenario.to_str().unwrap();
    let simulated = run(&dir, &["simulate", scenario, "--out", "sim"]);
    assert_eq!(
        simulated.status.code(),
        Some(0),
        "{}",
        text(&simulated.stderr)
    );
    let makespan = |sub: &str| -> f64 {
        let summary: Value =
            serde_json::from_slice(&std::fs::read(dir.join(sub).join("summary.json")).unwrap())
                .unwrap();
        summary["makespan"].as_f64().unwrap()
    };
    let sim = makespan("sim");
    // The same sleeps run by hand, one after another along the critical path, each in its
    // own shell as the runner starts them: what the machine itself takes to start five
    // processes that sleep 2.4 s, just before the real run. A busy machine (other work
    // holding both cores) slows both alike; the runner's own overhead shows only in the run.
    let plan = run(&dir, &["plan", scenario, "--json"]);
    let plan: Value = serde_json::from_slice(&plan.stdout).unwrap();
    let durations: BTreeMap<String, String> = std::fs::read_to_string(dir.join("sim/trace.csv"))
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            let seconds = f[4].parse::<f64>().unwrap() - f[3].parse::<f64>().unwrap();
            (f[0].to_string(), format!("{seconds:.3}"))
        })
        .collect();
    let by_hand = Instant::now();
    for task in plan["critical_path"].as_array().unwrap() {
        let status = Command::new("sh")
            .args(["-c", "sleep \"$TASKDIST_ESTIMATED_SECONDS\""])
            .env(
                "TASKDIST_ESTIMATED_SECONDS",
                &durations[task.as_str().unwrap()],
            )
            .status()
            .unwrap();
        assert!(status.success());
    }
    let by_hand = by_hand.elapsed().as_secs_f64();
    assert!(by_hand >= sim, "by hand {by_hand} s, simulated {sim} s");
    let real = run(&dir, &["run", scenario, "--out", "real"]);
    assert_eq!(real.status.code(), Some(0), "{}", text(&real.stderr));
    let real = makespan("real");
    // A real run cannot be shorter than the sleeps; the runner may add a few
    // milliseconds per task to what the machine takes.
    assert!(
        real >= sim && real <= by_hand * 1.05 + 0.2,
        "simulated {sim} s, real {real} s, the critical path's commands by hand {by_hand:.3} s"
    );
    // Same schedule: every task on the same agent, in the same order.
    let order = |sub: &str| -> Vec<String> {
        std::fs::read_to_string(dir.join(sub).join("trace.csv"))
            .unwrap()
            .lines()
            .map(|l| l.split(',').take(2).collect::<Vec<_>>().join(","))
            .collect()
    };
    let (mut sim_order, mut real_order) = (order("sim"), order("real"));
    // Tasks dispatched at the same instant may be listed in either order.
    sim_order.sort();
    real_order.sort();
    assert_eq!(sim_order, real_order);
}

/// Two commands start at once on two agents, both reading `src/a.rs`: `finder` shares a
/// discovery about it and exits; `listener` polls its inbox file and succeeds only if the
/// discovery arrives while it still runs (it gives up after 10 s).
#[test]
fn a_command_hears_a_discovery_shared_while_it_runs_through_its_inbox_file() {
    let dir = scratch("inbox");
    let scenario = r#"time_unit = 'seconds'
[config]
max_retries_per_task = 0
[[agents]]
count = 2
[[tasks]]
id = 'listener'
estimated_duration = 1
files_to_read = ['src/a.rs']
command = '''
test -f "$TASKDIST_INBOX_FILE" || exit 3
for i in $(seq 100); do
  if grep -q discovery "$TASKDIST_INBOX_FILE"; then cp "$TASKDIST_INBOX_FILE" heard.jsonl; exit 0; fi
  sleep 0.1
done
exit 1
'''
[[tasks]]
id = 'finder'
estimated_duration = 1
files_to_read = ['src/a.rs']
command = '''
sleep 0.2
echo '{"kind":"discovery","summary":"a.rs is generated","files":["src/a.rs"]}' > "$TASKDIST_SHARE_FILE"
'''
"#;
    std::fs::write(dir.join("inbox.toml"), scenario).unwrap();
    let out = run(&dir, &["run", "inbox.toml", "--out", "run"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let heard = lines(&dir.join("heard.jsonl"));
    assert_eq!(heard.len(), 1, "{heard:?}");
    let item: Value = serde_json::from_str(&heard[0]).unwrap();
    assert_eq!(item["item"]["kind"], "discovery");
    assert_eq!(item["item"]["summary"], "a.rs is generated");
    assert_eq!(item["item"]["files"][0], "src/a.rs");
    // trace.csv rows start `task,agent,…`: the item names finder's agent, and listener ran
    // on the other one.
    let trace = std::fs::read_to_string(dir.join("run/trace.csv")).unwrap();
    let agent_of = |task: &str| {
        trace
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{task},")))
            .and_then(|rest| rest.split(',').next())
            .unwrap_or_else(|| panic!("{task} in {trace}"))
            .to_string()
    };
    assert_eq!(item["agent"], agent_of("finder").as_str(), "{trace}");
    assert_ne!(agent_of("listener"), agent_of("finder"), "{trace}");
}
