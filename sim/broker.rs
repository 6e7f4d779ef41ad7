//! Remote workers through a real redis-server started on a free loopback port per test
//! (skipped with a message without the binary, unless `CI` is set).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_taskdist");

struct Redis {
    child: Child,
    port: u16,
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn redis(test: &str) -> Option<Redis> {
    let found = std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join("redis-server").is_file()));
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "{test}: CI is set but redis-server is not installed (.ci/run installs it)"
        );
        eprintln!("{test}: skipped, no redis-server on PATH");
        return None;
    }
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
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
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "redis-server did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    Some(Redis { child, port })
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("taskdist-broker-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn worker(dir: &Path, url: &str, extra: &[&str]) -> Child {
    Command::new(BIN)
        .current_dir(dir)
        .args(["worker", "--broker", url])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn stop(mut child: Child) -> String {
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Test 1: no local agent, three workers, 50 tasks with dependencies, shared files and a
/// capability only one worker has: every task completes once.
#[test]
fn three_workers_complete_a_plan_with_dependencies_locks_and_a_rare_capability() {
    let Some(r) = redis("three_workers") else {
        return;
    };
    let url = format!("redis://127.0.0.1:{}", r.port);
    let dir = scratch("three");
    let mut plan = String::from(
        "[config]\nheartbeat_timeout = \"3s\"\nmax_agents = 3\n[[agents]]\ncount = 1\n",
    );
    for i in 0..50 {
        let ty = if i % 10 == 0 { "deployment" } else { "testing" };
        plan += &format!(
            "[[tasks]]\nid = \"t{i}\"\ntype = \"{ty}\"\nestimated_duration = \"10ms\"\ncommand = \"echo $TASKDIST_AGENT_ID >> ran-$TASKDIST_TASK_ID\"\n"
        );
        if i >= 5 {
            plan += &format!("depends_on = [\"t{}\"]\n", i - 5);
        }
        if i % 3 == 0 {
            plan += "files_to_modify = [\"shared.txt\"]\n";
        }
    }
    std::fs::write(dir.join("plan.toml"), plan).unwrap();
    let workers = [
        worker(&dir, &url, &["--id", "w1", "--capabilities", "testing"]),
        worker(&dir, &url, &["--id", "w2", "--capabilities", "testing"]),
        worker(
            &dir,
            &url,
            &["--id", "ops", "--capabilities", "deployment,testing"],
        ),
    ];
    let run = coordinator(&dir, &url).output().unwrap();
    let logs: Vec<String> = workers.into_iter().map(stop).collect();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "run failed: {stderr}\n{logs:?}");
    for i in 0..50 {
        let ran = std::fs::read_to_string(dir.join(format!("ran-t{i}"))).unwrap();
        assert_eq!(ran.lines().count(), 1, "t{i} ran {ran:?}");
        if i % 10 == 0 {
            assert_eq!(ran.trim(), "ops", "t{i} needs the deployment capability");
        }
    }
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(stdout.contains("tasks: 50 completed, 0 failed"), "{stdout}");
}

/// `taskdist run plan.toml --agents 0 --broker URL --out r` in `dir`: every task on workers.
fn coordinator(dir: &Path, url: &str) -> Command {
    let mut command = Command::new(BIN);
    command.current_dir(dir).args([
        "run",
        "plan.toml",
        "--agents",
        "0",
        "--broker",
        url,
        "--out",
        "r",
    ]);
    command
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
    let url = format!("redis://127.0.0.1:{}", r.port);
    let dir = scratch("untrusted");
    for name in ["coordinator", "good", "evil"] {
        let k = Command::new(BIN)
            .args(["keygen", name, "--dir"])
            .arg(&dir)
            .output()
            .unwrap();
        assert!(k.status.success());
    }
    std::fs::copy(dir.join("good.pub"), dir.join("workers.trust")).unwrap();
    std::fs::write(
        dir.join("plan.toml"),
        "[config]\nheartbeat_timeout = \"3s\"\n[[agents]]\ncount = 1\n[[tasks]]\nid = \"x\"\nestimated_duration = \"10ms\"\ncommand = \"touch ran\"\n",
    )
    .unwrap();
    let coordinator = coordinator(&dir, &url)
        .args(["--key", "coordinator.key", "--trust", "workers.trust"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let evil = Command::new(BIN)
        .current_dir(&dir)
        .args([
            "worker",
            "--broker",
            &url,
            "--key",
            "evil.key",
            "--coordinator-key",
            "coordinator.pub",
        ])
        .output()
        .unwrap();
    let coordinator_log = stop(coordinator);
    let evil_log = String::from_utf8_lossy(&evil.stderr);
    assert_eq!(evil.status.code(), Some(2), "{evil_log}");
    assert!(
        evil_log.contains("does not trust the worker's key"),
        "{evil_log}"
    );
    assert!(
        coordinator_log.contains("not in the trust list"),
        "{coordinator_log}"
    );
    assert!(!dir.join("ran").exists());
}
