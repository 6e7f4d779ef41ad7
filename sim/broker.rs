//! Remote workers through a real redis-server started on a free loopback port per test
//! (skipped with a message without the binary, unless `CI` is set), with real `taskdist
//! run --broker`, `resume` and `worker` processes killed, paused and lied to. Every run
//! ends audited ([`audit_run`]): the scheduler's guarantees over its database and events,
//! every task completed by exactly one attempt, and no command's work recorded twice
//! except by attempts the run counted as lost.

use std::collections::BTreeMap;
use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};
use taskdist::core::{AgentIdx, Event, EventKind, Stats};
use taskdist::import::{ImportOptions, load_text};
use taskdist::model::AgentSpec;
use taskdist::plan::TaskIdx;
use taskdist::sim::{AttemptRecord, Outcome, SimRun, audit};
use taskdist::store::{AttemptRow, Store};

const BIN: &str = env!("CARGO_BIN_EXE_taskdist");
/// How long any one wait of these tests may take on a loaded machine before it fails.
const PATIENCE: Duration = Duration::from_secs(120);

struct Redis {
    child: Child,
    port: u16,
    /// Arguments after the defaults (later ones win), kept for [`Redis::restart`].
    extra: Vec<String>,
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Redis {
    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills the server (its data goes with it unless its extra arguments turned
    /// persistence on) and starts a new one on the same port with the same arguments.
    fn restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.child = redis_server(self.port, &self.extra);
    }

    /// `redis-cli` against this server; its output.
    fn cli(&self, args: &[&str]) -> String {
        let out = Command::new("redis-cli")
            .args(["-p", &self.port.to_string()])
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "redis-cli {args:?}: {out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

/// A redis-server on `port` of 127.0.0.1 without persistence, then `extra` arguments
/// (which override the defaults: `--appendonly yes --dir D`).
fn redis_server(port: u16, extra: &[String]) -> Child {
    let child = Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .args(extra)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    until("redis-server to listen", || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    child
}

fn redis(test: &str) -> Option<Redis> {
    redis_with(test, &[])
}

/// [`redis`] with extra arguments for the server, e.g. `--appendonly yes`; `$PORT` in
/// them stands for the server's port (`--port 0 --tls-port $PORT`).
fn redis_with(test: &str, extra: &[&str]) -> Option<Redis> {
    let found = std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join("redis-server").is_file()));
    if !found {
        skip_unless_ci(test, "redis-server is not installed (.ci/run installs it)");
        return None;
    }
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let extra: Vec<String> = extra
        .iter()
        .map(|a| a.replace("$PORT", &port.to_string()))
        .collect();
    Some(Redis {
        child: redis_server(port, &extra),
        port,
        extra,
    })
}

/// Polls `done` every 50 ms until it holds; fails the test after [`PATIENCE`].
fn until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

use crate::scratch::scratch;
use crate::support::skip_unless_ci;

/// A `taskdist` process of a test, its stderr in `<dir>/<name>.log` and its stdout in
/// `<dir>/<name>.out`; killed if the test ends first.
struct Proc {
    child: Child,
    name: String,
    dir: PathBuf,
}

impl Proc {
    fn spawn(dir: &Path, name: &str, args: &[&str]) -> Proc {
        let child = Command::new(BIN)
            .current_dir(dir)
            .args(args)
            .stdout(File::create(dir.join(format!("{name}.out"))).unwrap())
            .stderr(File::create(dir.join(format!("{name}.log"))).unwrap())
            .spawn()
            .unwrap();
        Proc {
            child,
            name: name.to_string(),
            dir: dir.to_path_buf(),
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join(format!("{}.log", self.name))).unwrap_or_default()
    }

    fn out(&self) -> String {
        std::fs::read_to_string(self.dir.join(format!("{}.out", self.name))).unwrap_or_default()
    }

    fn signal(&self, signal: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success(), "kill -{signal} {}", self.name);
    }

    /// Waits for the process to exit; fails the test (with `others`' logs) after
    /// [`PATIENCE`].
    fn wait(&mut self, others: &[&Proc]) -> ExitStatus {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let logs: Vec<String> = others
                    .iter()
                    .map(|p| format!("--- {}:\n{}", p.name, p.log()))
                    .collect();
                panic!(
                    "{} did not exit:\n{}\n{}",
                    self.name,
                    self.log(),
                    logs.join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn worker(dir: &Path, url: &str, id: &str, extra: &[&str]) -> Proc {
    let mut args = vec!["worker", "--broker", url, "--id", id];
    args.extend_from_slice(extra);
    Proc::spawn(dir, id, &args)
}

/// `taskdist run plan.toml --agents 0 --broker URL --out r` in `dir`: every task on workers.
fn coordinator(dir: &Path, url: &str, extra: &[&str]) -> Proc {
    let mut args = vec![
        "run",
        "plan.toml",
        "--agents",
        "0",
        "--broker",
        url,
        "--out",
        "r",
    ];
    args.extend_from_slice(extra);
    Proc::spawn(dir, "coordinator", &args)
}

/// The command every task of these tests runs: it writes `start-<task>-<attempt>` (the
/// agent's id) when it starts, then `body`, then appends `<attempt> <agent>` to
/// `ran-<task>` once its work is done.
fn command(body: &str) -> String {
    format!(
        "echo $TASKDIST_AGENT_ID > start-$TASKDIST_TASK_ID-$TASKDIST_ATTEMPT; {body}; echo $TASKDIST_ATTEMPT $TASKDIST_AGENT_ID >> ran-$TASKDIST_TASK_ID"
    )
}

/// A plan: `n` short tasks `t0…` in chains of four (`t4` needs `t0`, …), every third
/// writing `shared.txt`; then `extra`, more `[[tasks]]` tables.
fn write_plan(dir: &Path, heartbeat: &str, n: usize, extra: &str) {
    let mut plan = format!(
        "[config]\nheartbeat_timeout = \"{heartbeat}\"\nmax_agents = 8\n[[agents]]\ncount = 1\n"
    );
    for i in 0..n {
        plan += &format!(
            "[[tasks]]\nid = \"t{i}\"\ntype = \"testing\"\nestimated_duration = \"100ms\"\ncommand = '{}'\n",
            command("sleep 0.1")
        );
        if i >= 4 {
            plan += &format!("depends_on = [\"t{}\"]\n", i - 4);
        }
        if i % 3 == 0 {
            plan += "files_to_modify = [\"shared.txt\"]\n";
        }
    }
    plan += extra;
    std::fs::write(dir.join("plan.toml"), plan).unwrap();
}

/// A task table for [`write_plan`]'s `extra`.
fn task(id: &str, body: &str, more: &str) -> String {
    format!(
        "[[tasks]]\nid = \"{id}\"\nestimated_duration = \"1s\"\ncommand = '{}'\n{more}\n",
        command(body)
    )
}

/// Which agent started `task`'s `attempt`, once it has.
fn started_on(dir: &Path, task: &str, attempt: u32) -> Option<String> {
    std::fs::read_to_string(dir.join(format!("start-{task}-{attempt}")))
        .ok()
        .filter(|s| s.ends_with('\n'))
        .map(|s| s.trim().to_string())
}

/// What [`audit_run`] read.
struct Audited {
    /// Every attempt row of the database.
    attempts: Vec<AttemptRow>,
    /// Task ids by index.
    ids: Vec<String>,
}

impl Audited {
    /// The attempts of one task, in order.
    fn of(&self, task: &str) -> Vec<&AttemptRow> {
        let t = self.ids.iter().position(|id| id == task).unwrap() as u32;
        self.attempts.iter().filter(|a| a.task_index == t).collect()
    }

    fn lost(&self) -> usize {
        self.attempts.iter().filter(|a| a.status == "lost").count()
    }
}

/// Audits the finished run in `<dir>/r`: the scheduler's guarantees ([`audit`] over the
/// database's attempts and the run's events: dependencies first, no conflicting locks at
/// once, capacity, capabilities, every task ended once, retry budget), then: every task
/// completed by exactly one attempt, which its `TaskComplete` event names; nothing failed
/// (lost attempts are counted apart from failures); and each task's work (`ran-<task>`)
/// done by its completed attempt once, and otherwise only by attempts recorded as lost or
/// cancelled.
fn audit_run(dir: &Path) -> Audited {
    let db = dir.join("r").join(taskdist::store::DB_FILE);
    let (store, saved) = Store::open(&db).unwrap();
    let text = store.scenario_text().unwrap();
    let (_, plan) =
        load_text(&saved.scenario_path, &text, None, &ImportOptions::default()).unwrap();
    let attempts = store.attempts().unwrap();
    drop(store);
    let events: Vec<Event> = std::fs::read_to_string(dir.join("r/events.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mut agents: Vec<AgentSpec> = Vec::new();
    for e in &events {
        if let EventKind::AgentRegistered {
            agent,
            capabilities,
            max_concurrent_tasks,
            ..
        } = &e.kind
            && !agents.iter().any(|a| a.id == *agent)
        {
            let mut spec = AgentSpec::new(agent);
            spec.capabilities = capabilities.clone();
            spec.max_concurrent_tasks = *max_concurrent_tasks;
            agents.push(spec);
        }
    }
    let trace: Vec<AttemptRecord> = attempts
        .iter()
        .map(|a| AttemptRecord {
            task: TaskIdx(a.task_index),
            agent: AgentIdx(agents.iter().position(|s| *s.id == *a.agent_id).unwrap() as u32),
            attempt: a.attempt,
            start: a.started_ms.unwrap_or(a.assigned_ms),
            end: a
                .ended_ms
                .unwrap_or_else(|| panic!("attempt still open: {a:?}")),
            outcome: match a.status.as_str() {
                "completed" => Outcome::Succeeded,
                "failed" => Outcome::Failed,
                "timed_out" => Outcome::TimedOut,
                "lost" => Outcome::Lost,
                "cancelled" => Outcome::Cancelled,
                other => panic!("attempt {a:?} ended {other}"),
            },
            wait_reason: None,
        })
        .collect();
    let progress = events
        .iter()
        .rev()
        .find_map(|e| match &e.kind {
            EventKind::Progress(p) => Some(p.clone()),
            _ => None,
        })
        .unwrap();
    let run = SimRun {
        seed: 0,
        agents,
        makespan: trace.iter().map(|r| r.end).max().unwrap_or(0),
        trace,
        lock_wait_total: 0,
        stats: Stats::default(),
        progress,
        steps: 0,
    };
    let violations = audit(&plan, &saved.config, &run, &events);
    assert!(violations.is_empty(), "audit: {violations:?}");
    assert_eq!(
        run.progress.failed_tasks, 0,
        "lost attempts are not failures"
    );
    let ids: Vec<String> = plan
        .task_indices()
        .map(|t| plan.task(t).id.to_string())
        .collect();
    let mut completed: BTreeMap<String, (u32, String)> = BTreeMap::new();
    for e in &events {
        if let EventKind::TaskComplete {
            task,
            agent,
            attempt,
            ..
        } = &e.kind
        {
            let first = completed.insert(task.to_string(), (*attempt, agent.to_string()));
            assert!(first.is_none(), "{task} completed twice");
        }
    }
    for (t, id) in ids.iter().enumerate() {
        let rows: Vec<&AttemptRow> = attempts
            .iter()
            .filter(|a| a.task_index == t as u32)
            .collect();
        let done: Vec<&&AttemptRow> = rows.iter().filter(|a| a.status == "completed").collect();
        assert_eq!(done.len(), 1, "{id}: {rows:?}");
        let (attempt, agent) = &completed[id];
        assert_eq!(
            (done[0].attempt, &done[0].agent_id),
            (*attempt, agent),
            "{id}"
        );
        let ran = std::fs::read_to_string(dir.join(format!("ran-{id}"))).unwrap_or_default();
        let mut own = 0;
        for line in ran.lines() {
            let (n, by) = line.split_once(' ').unwrap();
            let n: u32 = n.parse().unwrap();
            if n == *attempt && by == agent {
                own += 1;
            } else {
                let row = rows
                    .iter()
                    .find(|a| a.attempt == n && a.agent_id == by)
                    .unwrap_or_else(|| panic!("{id}: `{line}` names no attempt"));
                assert!(
                    row.status == "lost" || row.status == "cancelled",
                    "{id}: attempt {n} did its work and ended {}",
                    row.status
                );
            }
        }
        assert_eq!(own, 1, "{id}: the completed attempt's work: {ran:?}");
    }
    Audited { attempts, ids }
}

/// Test 1: no local agent, three workers, 50 tasks with dependencies, shared files and a
/// capability only one worker has: every task completes once.
#[test]
fn three_workers_complete_a_plan_with_dependencies_locks_and_a_rare_capability() {
    let Some(r) = redis("three_workers") else {
        return;
    };
    let url = r.url();
    let dir = scratch("three");
    let mut extra = String::new();
    for i in 0..10 {
        extra += &task(
            &format!("d{i}"),
            "true",
            &format!("type = \"deployment\"\ndepends_on = [\"t{}\"]", i * 4),
        );
    }
    write_plan(&dir, "3s", 40, &extra);
    let workers = [
        worker(&dir, &url, "w1", &["--capabilities", "testing"]),
        worker(&dir, &url, "w2", &["--capabilities", "testing"]),
        worker(&dir, &url, "ops", &["--capabilities", "deployment,testing"]),
    ];
    let mut run = coordinator(&dir, &url, &[]);
    let status = run.wait(&workers.iter().collect::<Vec<_>>());
    assert!(status.success(), "run failed: {}", run.log());
    for i in 0..10 {
        assert_eq!(started_on(&dir, &format!("d{i}"), 1).unwrap(), "ops");
    }
    assert!(
        run.out().contains("tasks: 50 completed, 0 failed"),
        "{}",
        run.out()
    );
    audit_run(&dir);
}

/// A plan of `n` tasks with heartbeat timeout `heartbeat`, among them `slow`, whose first
/// attempt sleeps 60 s; workers `ids` and a coordinator started on it. Returns once `slow`
/// runs, with the worker it runs on: the one a test then kills or restarts.
fn slow_on_a_victim(
    dir: &Path,
    url: &str,
    heartbeat: &str,
    n: usize,
    ids: &[&str],
) -> (BTreeMap<String, Proc>, Proc, String) {
    let slow = task(
        "slow",
        "if [ $TASKDIST_ATTEMPT = 1 ]; then sleep 60; fi",
        "priority = \"critical\"",
    );
    write_plan(dir, heartbeat, n, &slow);
    let workers = ids
        .iter()
        .map(|id| (id.to_string(), worker(dir, url, id, &[])))
        .collect();
    let run = coordinator(dir, url, &[]);
    let mut victim = String::new();
    until("slow to start", || {
        started_on(dir, "slow", 1).is_some_and(|w| {
            victim = w;
            true
        })
    });
    (workers, run, victim)
}

/// Waits for the run of [`slow_on_a_victim`] to succeed, audits it, and checks that
/// `slow`'s first attempt was lost with `victim`.
fn slow_lost_with(
    dir: &Path,
    run: &mut Proc,
    workers: &BTreeMap<String, Proc>,
    victim: &str,
) -> Audited {
    let status = run.wait(&workers.values().collect::<Vec<_>>());
    assert!(status.success(), "run failed: {}", run.log());
    let audited = audit_run(dir);
    let slow = audited.of("slow");
    assert_eq!(
        (
            slow[0].attempt,
            slow[0].agent_id.as_str(),
            slow[0].status.as_str()
        ),
        (1, victim, "lost"),
        "{slow:?}"
    );
    audited
}

/// Test 2: a worker SIGKILLed mid-attempt: after the heartbeat timeout its attempt is lost
/// (not failed) and runs again as a new attempt on another worker; every task completes
/// once and the killed attempt's command did no work.
#[test]
fn a_killed_workers_attempt_is_lost_and_runs_again_elsewhere() {
    let Some(r) = redis("killed_worker") else {
        return;
    };
    let url = r.url();
    let dir = scratch("killed");
    let (mut workers, mut run, victim) =
        slow_on_a_victim(&dir, &url, "3s", 12, &["w1", "w2", "w3"]);
    workers.get_mut(&victim).unwrap().child.kill().unwrap();
    let audited = slow_lost_with(&dir, &mut run, &workers, &victim);
    let slow = audited.of("slow");
    let done = slow.last().unwrap();
    assert_eq!(done.status, "completed");
    assert!(done.attempt >= 2 && done.agent_id != victim, "{slow:?}");
    assert!(run.out().contains("0 failed"), "{}", run.out());
}

/// A worker restarted under the same id (a new process, so a new instance) well within
/// its heartbeat timeout: the old instance's running attempt ends as lost (counted apart
/// from failures, no retry charged) and runs again as a new attempt; nothing failed.
#[test]
fn a_worker_restarted_under_its_id_loses_its_old_attempts() {
    let Some(r) = redis("restarted_worker") else {
        return;
    };
    let url = r.url();
    let dir = scratch("restarted-worker");
    let (mut workers, mut run, victim) = slow_on_a_victim(&dir, &url, "30s", 6, &["w1", "w2"]);
    workers.get_mut(&victim).unwrap().child.kill().unwrap();
    let killed_at = Instant::now();
    workers.insert(victim.clone(), worker(&dir, &url, &victim, &[]));
    until("slow to run again", || {
        started_on(&dir, "slow", 2).is_some()
    });
    assert!(
        killed_at.elapsed() < Duration::from_secs(20),
        "requeued only by the heartbeat timeout (30 s)"
    );
    let audited = slow_lost_with(&dir, &mut run, &workers, &victim);
    assert!(run.log().contains("restarted as instance"), "{}", run.log());
    let slow = audited.of("slow");
    assert_eq!(slow.last().unwrap().status, "completed", "{slow:?}");
    assert!(
        audited.attempts.iter().all(|a| a.status != "failed"),
        "{:?}",
        audited.attempts
    );
    assert!(run.out().contains("0 failed"), "{}", run.out());
}

/// Test 3: a worker SIGSTOPped past its lease and then SIGCONTed: the coordinator loses
/// it and runs its attempt again elsewhere; the worker, waking, self-fences (kills the
/// command, sends no result), says hello again and rejoins; the run completes.
#[test]
fn a_paused_worker_self_fences_and_rejoins() {
    let Some(r) = redis("paused_worker") else {
        return;
    };
    let url = r.url();
    let dir = scratch("paused");
    let extra = task(
        "slow",
        "if [ $TASKDIST_ATTEMPT = 1 ]; then sleep 60; fi",
        "priority = \"critical\"",
    ) + &task(
        "gate",
        "while [ ! -f go ]; do sleep 0.05; done",
        "depends_on = [\"slow\"]",
    );
    write_plan(&dir, "3s", 6, &extra);
    let workers: BTreeMap<String, Proc> = ["w1", "w2"]
        .into_iter()
        .map(|id| (id.to_string(), worker(&dir, &url, id, &[])))
        .collect();
    let mut run = coordinator(&dir, &url, &[]);
    let mut paused = String::new();
    until("slow to start", || {
        started_on(&dir, "slow", 1).is_some_and(|w| {
            paused = w;
            true
        })
    });
    let sleeper = &workers[&paused];
    sleeper.signal("STOP");
    let stopped_at = Instant::now();
    until("slow to run again elsewhere", || {
        started_on(&dir, "slow", 2).is_some()
    });
    // A late result of the lost attempt, as the paused worker's instance would have sent
    // it had it not fenced: acknowledged, ignored and recorded in the run database.
    let after = |log: &str, word: &str| {
        log.split(word)
            .nth(1)
            .unwrap()
            .split([':', '\n'])
            .next()
            .unwrap()
            .trim()
            .to_string()
    };
    let late = {
        use taskdist::remote::protocol::{self, AttemptRef, Message, Outcome, ResultMsg};
        let log = sleeper.log();
        let message = Message::Result(ResultMsg {
            at: AttemptRef {
                worker: paused.clone(),
                instance: after(&log, "instance "),
                coordinator: after(&log, "welcomed by coordinator "),
                task: 6, // slow, after t0..t5
                attempt: 1,
            },
            outcome: Outcome::Succeeded,
            result: None,
            error: None,
        });
        let entry = protocol::seal(None, protocol::UP, &message);
        let mut args = vec!["XADD", protocol::UP, "*"];
        let fields = entry.fields();
        for (f, v) in &fields {
            args.push(f);
            args.push(v);
        }
        r.cli(&args).trim().to_string()
    };
    // Well past the lease (3 s) by the paused worker's clock too.
    while stopped_at.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(50));
    }
    sleeper.signal("CONT");
    until("the paused worker to fence and be welcomed again", || {
        let log = sleeper.log();
        log.contains("self-fencing, 1 running attempts killed")
            && log.matches("welcomed by coordinator").count() >= 2
    });
    std::fs::write(dir.join("go"), "").unwrap();
    let audited = slow_lost_with(&dir, &mut run, &workers, &paused);
    assert!(audited.lost() >= 1);
    let (store, _) = Store::open(&dir.join("r").join(taskdist::store::DB_FILE)).unwrap();
    let stale = store.stale_messages().unwrap();
    let recorded = stale
        .iter()
        .find(|m| m.entry == late)
        .unwrap_or_else(|| panic!("the late result {late} is not recorded: {stale:?}"));
    assert_eq!(
        (
            recorded.kind.as_str(),
            recorded.worker.as_str(),
            recorded.task_index,
            recorded.attempt
        ),
        ("result", paused.as_str(), Some(6), Some(1)),
        "{recorded:?}"
    );
    assert!(
        run.log()
            .contains(&format!("stale result from {paused} entry {late}"))
    );
    // The fenced command died: it never recorded its work (audit_run allows a lost
    // attempt's work; this one was killed before doing any).
    let ran = std::fs::read_to_string(dir.join("ran-slow")).unwrap();
    assert_eq!(ran.lines().count(), 1, "{ran}");
}

/// Test 4: the coordinator SIGKILLed mid-run while the workers go on; `taskdist resume`
/// reconnects to the same broker and the workers rejoin. An attempt that finished while no
/// coordinator listened is applied after the replay (asked for again, its result resent
/// by the worker), not run again; the run completes.
#[test]
fn a_resumed_coordinator_takes_back_work_done_while_it_was_down() {
    let Some(r) = redis("resumed_coordinator") else {
        return;
    };
    let url = r.url();
    let dir = scratch("resumed");
    let extra = task(
        "gap",
        "while [ ! -f killed ]; do sleep 0.05; done",
        "priority = \"critical\"",
    ) + &task("after", "true", "depends_on = [\"gap\"]");
    write_plan(&dir, "3s", 8, &extra);
    let workers = [worker(&dir, &url, "w1", &[]), worker(&dir, &url, "w2", &[])];
    let mut run = coordinator(&dir, &url, &[]);
    until("gap to start", || started_on(&dir, "gap", 1).is_some());
    run.child.kill().unwrap();
    run.wait(&[]);
    // The attempt ends while no coordinator listens: its result waits on the broker.
    std::fs::write(dir.join("killed"), "").unwrap();
    until("gap's work", || dir.join("ran-gap").exists());
    let mut resumed = Proc::spawn(&dir, "resume", &["resume", "r"]);
    let status = resumed.wait(&workers.iter().collect::<Vec<_>>());
    assert!(status.success(), "resume failed: {}", resumed.log());
    let audited = audit_run(&dir);
    let gap = audited.of("gap");
    assert_eq!(
        (gap.len(), gap[0].attempt, gap[0].status.as_str()),
        (1, 1, "completed"),
        "{gap:?}"
    );
}

/// Test 5: redis-server restarted without persistence mid-run, while a result is on its
/// way: coordinator and workers reconnect, the coordinator asks the worker again for
/// what it holds, and the result lost with the broker comes back (the attempt completes
/// as attempt 1, well before its 60 s timeout); the run completes.
#[test]
fn a_broker_restart_loses_nothing_that_matters() {
    let Some(mut r) = redis("broker_restart") else {
        return;
    };
    let url = r.url();
    let dir = scratch("restart");
    let during = task(
        "during",
        "while [ ! -f down ]; do sleep 0.05; done",
        "priority = \"critical\"\ntimeout = \"60s\"",
    );
    write_plan(&dir, "10s", 8, &during);
    let workers = [worker(&dir, &url, "w1", &[]), worker(&dir, &url, "w2", &[])];
    let started = Instant::now();
    let mut run = coordinator(&dir, &url, &[]);
    until("during to start", || {
        started_on(&dir, "during", 1).is_some()
    });
    let _ = Command::new("kill")
        .args(["-KILL", &r.child.id().to_string()])
        .status();
    let _ = r.child.wait();
    // The task ends while the broker is down: its `result` is lost.
    std::fs::write(dir.join("down"), "").unwrap();
    until("during's work", || dir.join("ran-during").exists());
    std::thread::sleep(Duration::from_millis(300));
    r.restart();
    let status = run.wait(&workers.iter().collect::<Vec<_>>());
    assert!(status.success(), "run failed: {}", run.log());
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "recovered only by the timeout"
    );
    let audited = audit_run(&dir);
    let during = audited.of("during");
    assert_eq!(
        (during.len(), during[0].status.as_str()),
        (1, "completed"),
        "{during:?}"
    );
    assert!(run.log().contains("broker"), "{}", run.log());
}

/// Test 5, first half: redis-server with `appendonly yes` (every write synced) killed
/// mid-run and restarted from its append-only file, while a command runs on a worker and
/// short tasks flow: the streams, the consumer group and its pending entries survive, the
/// coordinator and the workers reconnect, and nothing is lost: every task completes
/// exactly once and no attempt is counted lost.
#[test]
fn a_broker_restarted_with_appendonly_loses_nothing() {
    let dir = scratch("appendonly");
    let data = dir.join("redis");
    std::fs::create_dir_all(&data).unwrap();
    let Some(mut r) = redis_with(
        "appendonly",
        &[
            "--appendonly",
            "yes",
            "--appendfsync",
            "always",
            "--dir",
            data.to_str().unwrap(),
        ],
    ) else {
        return;
    };
    let url = r.url();
    let during = task(
        "during",
        "while [ ! -f restarted ]; do sleep 0.05; done",
        "priority = \"critical\"\ntimeout = \"60s\"",
    );
    write_plan(&dir, "10s", 24, &during);
    let workers = [worker(&dir, &url, "w1", &[]), worker(&dir, &url, "w2", &[])];
    let mut run = coordinator(&dir, &url, &[]);
    until("during and t8 to start", || {
        started_on(&dir, "during", 1).is_some() && started_on(&dir, "t8", 1).is_some()
    });
    assert!(r.cli(&["CONFIG", "GET", "appendonly"]).contains("yes"));
    let before = r.cli(&["XLEN", "taskdist:control"]);
    let _ = Command::new("kill")
        .args(["-KILL", &r.child.id().to_string()])
        .status();
    let _ = r.child.wait();
    std::thread::sleep(Duration::from_millis(300));
    r.restart();
    // The server came back with the run's streams: the control stream holds at least
    // what it held before the kill.
    let after: u64 = r.cli(&["XLEN", "taskdist:control"]).trim().parse().unwrap();
    assert!(after >= before.trim().parse().unwrap(), "{before} {after}");
    std::fs::write(dir.join("restarted"), "").unwrap();
    let status = run.wait(&workers.iter().collect::<Vec<_>>());
    assert!(status.success(), "run failed: {}", run.log());
    assert!(run.log().contains("broker"), "{}", run.log());
    let audited = audit_run(&dir);
    assert_eq!(audited.lost(), 0, "{:?}", audited.attempts);
    assert_eq!(
        audited.attempts.len(),
        audited.ids.len(),
        "every task ran once: {:?}",
        audited.attempts
    );
}

/// Live context over the broker: a discovery shared by attempt A on one worker reaches
/// attempt B, already running on another worker, in B's `$TASKDIST_INBOX_FILE` before B
/// ends (the coordinator's `context` message).
#[test]
fn context_shared_by_one_worker_reaches_a_running_attempt_on_another() {
    let Some(r) = redis("live_context") else {
        return;
    };
    let url = r.url();
    let dir = scratch("live");
    let share = r#"{\"kind\":\"discovery\",\"summary\":\"found it\",\"files\":[\"shared.txt\"]}"#;
    let extra = task(
        "a",
        &format!(
            "while [ ! -f start-b-1 ]; do sleep 0.05; done; echo \"{share}\" > $TASKDIST_SHARE_FILE"
        ),
        "type = \"testing\"\nfiles_to_read = [\"shared.txt\"]",
    ) + &task(
        "b",
        "for i in $(seq 1 1200); do grep -q \"found it\" $TASKDIST_INBOX_FILE && break; sleep 0.05; done; grep \"found it\" $TASKDIST_INBOX_FILE > got",
        "type = \"testing\"\nfiles_to_read = [\"shared.txt\"]",
    );
    write_plan(&dir, "3s", 0, &extra);
    let workers = [worker(&dir, &url, "w1", &[]), worker(&dir, &url, "w2", &[])];
    let mut run = coordinator(&dir, &url, &[]);
    let status = run.wait(&workers.iter().collect::<Vec<_>>());
    assert!(status.success(), "run failed: {}", run.log());
    let got = std::fs::read_to_string(dir.join("got")).unwrap_or_default();
    assert!(got.contains("\"agent\":\""), "{got:?}");
    assert!(
        got.contains("found it"),
        "b never heard of a's discovery: {got:?}"
    );
    assert_ne!(started_on(&dir, "a", 1), started_on(&dir, "b", 1));
    audit_run(&dir);
}

/// Keys for a signed run in `dir`: `coordinator`, the workers `ids` (trusted), and
/// `stranger` (trusted by nobody).
fn keys(dir: &Path, ids: &[&str]) {
    for name in ["coordinator", "stranger"].iter().chain(ids) {
        let k = Command::new(BIN)
            .args(["keygen", name, "--dir"])
            .arg(dir)
            .output()
            .unwrap();
        assert!(k.status.success());
    }
    let trust: String = ids
        .iter()
        .map(|id| std::fs::read_to_string(dir.join(format!("{id}.pub"))).unwrap())
        .collect();
    std::fs::write(dir.join("workers.trust"), trust).unwrap();
}

/// Test 6: garbage, forged, stale and replayed entries written straight to the streams
/// of a signed run: each is logged with its entry id and never acted on; nothing panics;
/// the run completes.
#[test]
fn forged_garbled_and_replayed_entries_are_logged_and_ignored() {
    use taskdist::remote::protocol::{self, Assign, AttemptRef, Message, Outcome, ResultMsg, To};
    let Some(r) = redis("forged") else { return };
    let url = r.url();
    let dir = scratch("forged");
    keys(&dir, &["w1"]);
    let gate = task(
        "gate",
        "while [ ! -f go ]; do sleep 0.05; done",
        "depends_on = [\"t0\", \"t1\", \"t2\", \"t3\"]",
    );
    write_plan(&dir, "3s", 4, &gate);
    let signed = ["--key", "w1.key", "--coordinator-key", "coordinator.pub"];
    let w1 = worker(&dir, &url, "w1", &signed);
    let mut run = coordinator(
        &dir,
        &url,
        &["--key", "coordinator.key", "--trust", "workers.trust"],
    );
    until("the gate to start", || {
        started_on(&dir, "gate", 1).is_some()
    });
    until("t3's result", || dir.join("ran-t3").exists());
    let instance = w1
        .log()
        .split("instance ")
        .nth(1)
        .unwrap()
        .split(':')
        .next()
        .unwrap()
        .to_string();
    let w1_key = protocol::read_secret(&dir.join("w1.key")).unwrap();
    let xadd = |stream: &str, fields: &[(&str, &str)]| {
        let mut args = vec!["XADD", stream, "*"];
        for (f, v) in fields {
            args.push(f);
            args.push(v);
        }
        r.cli(&args).trim().to_string()
    };
    let sealed = |stream: &str, message: &Message| {
        let entry = protocol::seal(Some(&w1_key), stream, message);
        xadd(stream, &entry.fields())
    };
    let up = protocol::UP;
    let inbox = protocol::inbox("w1");
    // A real result replayed: the same fields again.
    let replayed = {
        let out = r.cli(&["XRANGE", up, "-", "+"]);
        let lines: Vec<&str> = out.lines().collect();
        let at = lines
            .iter()
            .position(|l| *l == "result")
            .expect("a result on taskdist:up");
        // id, v, 1, kind, result, body, B, sig, S
        let body = lines[at + 2];
        let sig = lines[at + 4];
        xadd(
            up,
            &[("v", "1"), ("kind", "result"), ("body", body), ("sig", sig)],
        )
    };
    let garbage = xadd(
        up,
        &[
            ("v", "1"),
            ("kind", "result"),
            ("body", "{not json"),
            ("sig", ""),
        ],
    );
    let missing = xadd(up, &[("junk", "1")]);
    let stranger = |attempt: u32, instance: &str| {
        Message::Result(ResultMsg {
            at: AttemptRef {
                worker: "w1".into(),
                instance: instance.into(),
                coordinator: "c".into(),
                task: 0,
                attempt,
            },
            outcome: Outcome::Succeeded,
            result: None,
            error: None,
        })
    };
    let unknown_instance = sealed(up, &stranger(1, "0123"));
    let wrong_attempt = sealed(up, &stranger(99, &instance));
    let mut spec = taskdist::model::TaskSpec::new("x", taskdist::model::TaskType::Testing, 10);
    spec.command = Some(taskdist::model::CommandSpec::Shell("touch forged".into()));
    let assign = Message::Assign(Box::new(Assign {
        to: To {
            coordinator: "c".into(),
            worker: "w1".into(),
            instance: instance.clone(),
        },
        task: 0,
        attempt: 7,
        timeout_ms: 10_000,
        spec,
        context: Default::default(),
    }));
    // Signed, but by the worker's key, not the coordinator's.
    let forged_assign = sealed(&inbox, &assign);
    let garbled_control = xadd(
        protocol::CONTROL,
        &[("v", "1"), ("kind", "beat"), ("body", "[]"), ("sig", "")],
    );
    let garbled_beat = xadd(protocol::BEATS, &[("v", "2")]);
    until("every entry to be logged", || {
        let (c, w) = (run.log(), w1.log());
        [
            &replayed,
            &garbage,
            &missing,
            &unknown_instance,
            &wrong_attempt,
            &garbled_beat,
        ]
        .iter()
        .all(|id| c.contains(&format!("entry {id}")))
            && [&forged_assign, &garbled_control]
                .iter()
                .all(|id| w.contains(&format!("entry {id}")))
    });
    std::fs::write(dir.join("go"), "").unwrap();
    let status = run.wait(&[&w1]);
    let (c, w) = (run.log(), w1.log());
    assert!(status.success(), "run failed: {c}\n{w}");
    let line = |log: &str, id: &str| {
        log.lines()
            .find(|l| l.contains(&format!("entry {id}")))
            .unwrap()
            .to_string()
    };
    assert!(line(&c, &replayed).contains("stale result"), "{c}");
    assert!(line(&c, &garbage).contains("malformed"), "{c}");
    assert!(line(&c, &missing).contains("malformed"), "{c}");
    assert!(line(&c, &unknown_instance).contains("stale result"), "{c}");
    assert!(line(&c, &wrong_attempt).contains("stale result"), "{c}");
    assert!(line(&c, &garbled_beat).contains("malformed"), "{c}");
    assert!(line(&w, &forged_assign).contains("forged assign"), "{w}");
    assert!(!line(&w, &garbled_control).is_empty());
    assert!(!c.contains("panicked") && !w.contains("panicked"));
    assert!(!dir.join("forged").exists(), "a forged assignment ran");
    audit_run(&dir);
}

/// Test 7 and the loopback rule: an untrusted worker is refused with a message on both
/// sides and runs nothing; without keys a broker that is not loopback is refused (exit 2).
#[test]
fn an_untrusted_worker_is_refused_and_unsigned_remote_brokers_are_bad_input() {
    let out = Command::new(BIN)
        .args(["worker", "--broker", "redis://10.1.2.3:6379"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not on a loopback address"));
    let Some(r) = redis("untrusted") else { return };
    let url = r.url();
    let dir = scratch("untrusted");
    keys(&dir, &["good"]);
    std::fs::write(
        dir.join("plan.toml"),
        "[config]\nheartbeat_timeout = \"3s\"\n[[agents]]\ncount = 1\n[[tasks]]\nid = \"x\"\nestimated_duration = \"10ms\"\ncommand = \"touch ran\"\n",
    )
    .unwrap();
    let run = coordinator(
        &dir,
        &url,
        &["--key", "coordinator.key", "--trust", "workers.trust"],
    );
    let mut evil = Proc::spawn(
        &dir,
        "evil",
        &[
            "worker",
            "--broker",
            &url,
            "--key",
            "stranger.key",
            "--coordinator-key",
            "coordinator.pub",
        ],
    );
    let status = evil.wait(&[&run]);
    assert_eq!(status.code(), Some(2), "{}", evil.log());
    assert!(
        evil.log().contains("does not trust the worker's key"),
        "{}",
        evil.log()
    );
    until("the coordinator's message", || {
        run.log().contains("not in the trust list")
    });
    assert!(!dir.join("ran").exists());
}

/// Test 7, second half: a trusted worker given the wrong `--coordinator-key` verifies
/// none of the coordinator's messages: it runs nothing and exits 2 saying why; the
/// coordinator says the worker left without ever answering it.
#[test]
fn a_worker_with_the_wrong_coordinator_key_refuses_to_run() {
    let Some(r) = redis("wrong_coordinator_key") else {
        return;
    };
    let url = r.url();
    let dir = scratch("wrong-key");
    keys(&dir, &["w1"]);
    std::fs::write(
        dir.join("plan.toml"),
        "[config]\nheartbeat_timeout = \"3s\"\n[[agents]]\ncount = 1\n[[tasks]]\nid = \"x\"\nestimated_duration = \"10ms\"\ncommand = \"touch ran\"\n",
    )
    .unwrap();
    let run = coordinator(
        &dir,
        &url,
        &["--key", "coordinator.key", "--trust", "workers.trust"],
    );
    let mut w1 = worker(
        &dir,
        &url,
        "w1",
        &["--key", "w1.key", "--coordinator-key", "stranger.pub"],
    );
    let status = w1.wait(&[&run]);
    assert_eq!(status.code(), Some(2), "{}", w1.log());
    assert!(
        w1.log()
            .contains("did not verify against --coordinator-key"),
        "{}",
        w1.log()
    );
    until("the coordinator's message", || {
        run.log().contains("left without ever answering")
    });
    assert!(!dir.join("ran").exists());
}

/// Fails the test if `secret` appears in any file under `dir`: the run directory (its
/// database and WAL, events, summary, trace, attempt logs), the workers' attempt files,
/// and every process's stdout and stderr (`<name>.out`, `<name>.log`).
fn assert_nowhere(dir: &Path, secret: &str) {
    let mut stack = vec![dir.to_path_buf()];
    let mut files = 0;
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files += 1;
                let bytes = std::fs::read(&path).unwrap();
                assert!(
                    !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                    "the password is in {}",
                    path.display()
                );
            }
        }
    }
    assert!(files > 10, "only {files} files under {}", dir.display());
}

/// A broker with `requirepass`: the password in the URL (`redis://:PASS@…`) lets a
/// worker and a coordinator in; the run records the URL without it, so `resume` of a
/// killed coordinator refuses (exit 2) until given the URL again with `--broker`; the
/// password appears in no file of the run, no attempt's files and no process's output.
#[test]
fn a_password_in_the_url_works_and_is_never_written_down() {
    let pass = "pw-5ecret-93c1f";
    let Some(r) = redis_with("password", &["--requirepass", pass]) else {
        return;
    };
    let dir = scratch("password");
    let url = format!("redis://:{pass}@127.0.0.1:{}", r.port);
    let gate = task(
        "gate",
        "while [ ! -f killed ]; do sleep 0.05; done",
        "priority = \"critical\"",
    );
    write_plan(&dir, "3s", 6, &gate);
    let w1 = worker(&dir, &url, "w1", &[]);
    // Without the password the broker refuses the worker.
    let mut shut_out = worker(&dir, &r.url(), "nopass", &[]);
    assert!(!shut_out.wait(&[]).success());
    assert!(shut_out.log().contains("NOAUTH"), "{}", shut_out.log());
    let mut run = coordinator(&dir, &url, &[]);
    until("gate to start", || started_on(&dir, "gate", 1).is_some());
    run.child.kill().unwrap();
    run.wait(&[]);
    let (store, _) = Store::open(&dir.join("r").join(taskdist::store::DB_FILE)).unwrap();
    assert_eq!(
        store.broker().unwrap(),
        format!("redis://:***@127.0.0.1:{}", r.port)
    );
    drop(store);
    let refused = Command::new(BIN)
        .current_dir(&dir)
        .args(["resume", "r"])
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2), "{refused:?}");
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--broker"));
    std::fs::write(dir.join("killed"), "").unwrap();
    let mut resumed = Proc::spawn(&dir, "resume", &["resume", "r", "--broker", &url]);
    let status = resumed.wait(&[&w1]);
    assert!(status.success(), "resume failed: {}", resumed.log());
    audit_run(&dir);
    drop(w1);
    assert_nowhere(&dir, pass);
}

/// Whether this redis-server was built with TLS (`--tls-port`): a build without it
/// exits at once on the unknown option (`--tls-port 0` parses it and listens on none).
/// False where there is no redis-server to start.
fn redis_has_tls() -> bool {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .to_string();
    let Ok(mut probe) = Command::new("redis-server")
        .args(["--port", &port, "--bind", "127.0.0.1", "--tls-port", "0"])
        .args(["--save", "", "--appendonly", "no"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
    else {
        return false;
    };
    std::thread::sleep(Duration::from_millis(500));
    let exited = probe.try_wait().unwrap().is_some();
    let _ = probe.kill();
    let _ = probe.wait();
    !exited
}

/// `openssl` in `dir`: a CA and a server certificate for 127.0.0.1 and localhost signed
/// by it (`ca.crt`, `server.crt`, `server.key`).
fn certificates(dir: &Path) {
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl")
            .current_dir(dir)
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "openssl {args:?}: {out:?}");
    };
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "2",
        "-subj",
        "/CN=taskdist test CA",
    ]);
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=localhost",
    ]);
    std::fs::write(
        dir.join("san.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\n",
    )
    .unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.crt",
        "-days",
        "2",
        "-extfile",
        "san.ext",
    ]);
}

/// TLS (`rediss://`) with a password, the broker's certificate signed by a CA of the
/// test's own: with `--broker-ca` a worker and a coordinator complete a plan; a worker
/// without it cannot verify the broker and stops; the password is written nowhere.
#[test]
fn a_tls_broker_with_a_password_and_a_private_ca() {
    let openssl = Command::new("openssl").arg("version").output().is_ok();
    if !openssl || !redis_has_tls() {
        skip_unless_ci(
            "tls",
            if openssl {
                "redis-server is not installed or has no TLS (--tls-port)"
            } else {
                "openssl is not installed"
            },
        );
        return;
    }
    let dir = scratch("tls");
    certificates(&dir);
    let pass = "tls-pw-71d0c2";
    let Some(r) = redis_with(
        "tls",
        &[
            "--port",
            "0",
            "--tls-port",
            "$PORT",
            "--tls-cert-file",
            dir.join("server.crt").to_str().unwrap(),
            "--tls-key-file",
            dir.join("server.key").to_str().unwrap(),
            "--tls-ca-cert-file",
            dir.join("ca.crt").to_str().unwrap(),
            "--tls-auth-clients",
            "no",
            "--requirepass",
            pass,
        ],
    ) else {
        return;
    };
    let url = format!("rediss://:{pass}@127.0.0.1:{}", r.port);
    write_plan(&dir, "3s", 8, "");
    let ca = ["--broker-ca", "ca.crt"];
    let mut untrusting = worker(&dir, &url, "untrusting", &[]);
    assert!(!untrusting.wait(&[]).success());
    assert!(
        untrusting.log().to_lowercase().contains("certificate"),
        "{}",
        untrusting.log()
    );
    let workers = [worker(&dir, &url, "w1", &ca), worker(&dir, &url, "w2", &ca)];
    let mut run = coordinator(&dir, &url, &ca);
    let status = run.wait(&workers.iter().collect::<Vec<_>>());
    assert!(status.success(), "run failed: {}", run.log());
    assert!(
        run.out().contains("tasks: 8 completed, 0 failed"),
        "{}",
        run.out()
    );
    audit_run(&dir);
    drop(workers);
    for key in ["ca.key", "server.key"] {
        std::fs::remove_file(dir.join(key)).unwrap();
    }
    assert_nowhere(&dir, pass);
}
