//! The live page (`--serve`) end to end.
//!
//! - The WebSocket stream, from a plain client: a snapshot first, then exactly the events
//!   of `events.jsonl`, then `{"ended": …}`; a client that reads nothing never slows the
//!   publisher; a client that falls behind is resynchronized from a snapshot.
//! - The command line: refused addresses exit 2 and leave no run database behind.
//! - With `--token`, the page asks for the token, says so when it is refused, and the
//!   server answers nothing without it.
//! - A real browser: headless Chromium, driven through chromedriver's WebDriver HTTP API,
//!   watches `taskdist run --serve` until every task has completed, and the page must show
//!   a lane per agent, a lock block with its holder, the retried task and the context
//!   board, and hold the very state the server holds. It writes a screenshot of the end
//!   (and with `TASKDIST_BLESS=1` one mid-run into `reports/live-page.png`, the README's
//!   picture). Without
//!   Chromium it is skipped with a message, unless `CI` is set: in CI it must run.
//! - `live_page_throughput` (ignored; run with `--ignored`): how many events per second a
//!   page keeps up with, from a simulated replay at several speeds.

use crate::support::{root, simulate_file, skip_unless_ci};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use taskdist::plan::Plan;
use taskdist::serve::{Live, LiveState, ServeOptions, Server, Source};

use crate::scratch::{Scratch, scratch};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

// ----- the stream, from a plain WebSocket client ---------------------------------------------

type Socket = tungstenite::WebSocket<tungstenite::stream::MaybeTlsStream<TcpStream>>;

fn quickstart() -> (Plan, Vec<taskdist::core::Event>) {
    let outcome = simulate_file(&root().join("scenarios/quickstart.toml"), None);
    let plan = Arc::try_unwrap(outcome.plan).unwrap_or_else(|p| (*p).clone());
    (plan, outcome.events)
}

fn serve(plan: &Plan, buffer: usize) -> (Live, Server) {
    let live = Live::new(LiveState::new(plan, "quickstart", Source::Run, 1.0), buffer);
    let server = Server::start(
        live.clone(),
        ServeOptions {
            addr: "127.0.0.1:0".parse().unwrap(),
            token: None,
        },
    )
    .unwrap();
    (live, server)
}

fn connect(server: &Server) -> Socket {
    let url = format!("ws://{}/ws", server.local_addr());
    let (socket, _) = tungstenite::connect(url).expect("the WebSocket opens");
    if let tungstenite::stream::MaybeTlsStream::Plain(tcp) = socket.get_ref() {
        tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    }
    socket
}

fn next(socket: &mut Socket) -> Value {
    loop {
        match socket.read().expect("a message") {
            tungstenite::Message::Text(text) => return serde_json::from_str(&text).unwrap(),
            tungstenite::Message::Close(_) => return Value::Null,
            _ => {}
        }
    }
}

#[test]
fn a_late_client_gets_a_snapshot_then_exactly_the_events() {
    let (plan, events) = quickstart();
    let (live, server) = serve(&plan, 1024);
    let half = events.len() / 2;
    for event in &events[..half] {
        live.publish(event);
    }
    let mut socket = connect(&server);
    let first = next(&mut socket);
    let snapshot = &first["snapshot"];
    assert_eq!(snapshot["seq"], half as u64);
    assert_eq!(snapshot["tasks"].as_array().unwrap().len(), plan.len());
    assert_eq!(snapshot["agents"].as_array().unwrap().len(), 3);
    for event in &events[half..] {
        live.publish(event);
    }
    live.finish("completed");
    for event in &events[half..] {
        let got = next(&mut socket);
        assert_eq!(
            got,
            serde_json::to_value(event).unwrap(),
            "as in events.jsonl"
        );
    }
    assert_eq!(next(&mut socket), json!({"ended": "completed"}));
    // The server's state is the fold of every event.
    let state = live.state();
    assert_eq!(state.seq, events.len() as u64);
    assert!(state.complete);
    assert!(
        state
            .tasks
            .iter()
            .all(|t| t.state == taskdist::serve::TaskState::Completed)
    );
    // A client arriving after the end gets the final state and stays open.
    let mut late = connect(&server);
    let last = next(&mut late);
    assert_eq!(last["snapshot"]["ended"], "completed");
    assert_eq!(last["snapshot"]["seq"], events.len() as u64);
    // Stopping closes both.
    server.stop(Duration::from_secs(2));
    assert_eq!(next(&mut socket), Value::Null);
    assert_eq!(next(&mut late), Value::Null);
}

#[test]
fn a_client_that_reads_nothing_never_slows_the_publisher() {
    let (plan, events) = quickstart();
    let (live, server) = serve(&plan, 64);
    let _idle = connect(&server); // never read
    let start = Instant::now();
    let rounds = 200;
    for _ in 0..rounds {
        for event in &events {
            live.publish(event);
        }
    }
    let per_event = start.elapsed() / (rounds * events.len()) as u32;
    // Folding and broadcasting only; a blocked page would make this take seconds.
    assert!(
        per_event < Duration::from_micros(200),
        "{per_event:?} per event"
    );
    server.stop(Duration::ZERO);
}

#[test]
fn a_client_that_falls_behind_is_resynchronized_from_a_snapshot() {
    let (plan, events) = quickstart();
    let (live, server) = serve(&plan, 4);
    let mut socket = connect(&server);
    let mut seq = next(&mut socket)["snapshot"]["seq"].as_u64().unwrap();
    let total = 50 * events.len() as u64;
    for _ in 0..50 {
        for event in &events {
            live.publish(event);
        }
    }
    live.finish("completed");
    let (mut snapshots, mut messages) = (1, 1);
    loop {
        let message = next(&mut socket);
        messages += 1;
        if let Some(snapshot) = message.get("snapshot") {
            snapshots += 1;
            seq = snapshot["seq"].as_u64().unwrap();
            if snapshot["ended"].is_string() {
                break;
            }
        } else if message.get("event").is_some() {
            seq += 1;
        } else {
            assert_eq!(message, json!({"ended": "completed"}));
            break;
        }
    }
    assert_eq!(
        seq, total,
        "every event is accounted for, live or in a snapshot"
    );
    // With a 4-message ring, 50 replays of the run outran the page at least once.
    assert!(
        snapshots > 1 && messages < total,
        "{snapshots} snapshots, {messages} messages"
    );
    server.stop(Duration::ZERO);
}

// ----- the command line ----------------------------------------------------------------------

fn taskdist(dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_taskdist"));
    cmd.current_dir(dir).env_remove("TASKDIST_TOKEN");
    cmd
}

#[test]
fn refused_addresses_exit_2_before_anything_runs() {
    let dir = scratch("refused");
    let sleep = root().join("scenarios/sleep.toml");
    let busy = TcpListener::bind("127.0.0.1:0").unwrap();
    let busy = busy.local_addr().unwrap().to_string();
    for (serve, token, needle) in [
        ("0.0.0.0:0", None, "needs a token"),
        ("127.0.0.1:0", Some("short"), "the token must be"),
        (busy.as_str(), None, "cannot listen on"),
        ("example.com:80", None, "is not an address"),
    ] {
        let mut cmd = taskdist(&dir);
        cmd.arg("run")
            .arg(&sleep)
            .args(["--out", "out", "--serve", serve]);
        if let Some(token) = token {
            cmd.args(["--token", token]);
        }
        let output = cmd.output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{serve}: {stderr}");
        assert!(stderr.contains(needle), "{serve}: {stderr}");
        assert!(
            !dir.join("out/taskdist.db").exists(),
            "{serve}: a database was left"
        );
    }
}

#[test]
fn simulate_serve_replays_and_prints_the_address() {
    let dir = scratch("replay");
    let output = taskdist(&dir)
        .arg("simulate")
        .arg(root().join("scenarios/quickstart.toml"))
        .args(["--serve", "--speed", "1e9"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("live page: http://127.0.0.1:"), "{stderr}");
    assert!(stderr.contains("replaying "), "{stderr}");
}

// ----- a real browser --------------------------------------------------------------------------

/// Kills the child when dropped (the browser test must not leave processes behind).
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A WebDriver session on chromedriver, spoken to in plain HTTP/1.1. One at a time: a
/// browser is heavy on a 2-core machine, and other tests here measure time.
struct Browser {
    port: u16,
    session: String,
    _driver: Reaped,
    /// Chromium's profile: removed only after the session is closed and the driver gone.
    _profile: Scratch,
    _turn: std::sync::MutexGuard<'static, ()>,
}

static ONE_BROWSER: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn http(port: u16, method: &str, path: &str, body: Option<Value>) -> Value {
    let stream = TcpStream::connect(("127.0.0.1", port)).expect("chromedriver listens");
    stream
        .set_read_timeout(Some(Duration::from_secs(120)))
        .unwrap();
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    write!(
        &stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    // chromedriver may keep the connection open: read the head, then what it announces.
    let mut reader = BufReader::new(stream);
    let (mut length, mut chunked) = (None, false);
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        let line = line.trim_end().to_ascii_lowercase();
        if line.is_empty() {
            break;
        }
        if let Some(n) = line.strip_prefix("content-length:") {
            length = Some(n.trim().parse::<usize>().unwrap());
        }
        chunked |= line.starts_with("transfer-encoding:") && line.contains("chunked");
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).unwrap();
            let size = usize::from_str_radix(size.trim(), 16).unwrap();
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk).unwrap();
            if size == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..size]);
        }
    } else if let Some(n) = length {
        body.resize(n, 0);
        reader.read_exact(&mut body).unwrap();
    } else {
        reader.read_to_end(&mut body).unwrap();
    }
    serde_json::from_slice(&body)
        .unwrap_or_else(|e| panic!("{method} {path}: {e}: {}", String::from_utf8_lossy(&body)))
}

fn chromium() -> Option<(PathBuf, PathBuf)> {
    let find = |names: &[&str]| {
        names.iter().find_map(|name| {
            std::env::var_os("PATH").and_then(|path| {
                std::env::split_paths(&path)
                    .map(|dir| dir.join(name))
                    .find(|p| p.is_file())
            })
        })
    };
    Some((
        find(&["chromium", "chromium-browser"])?,
        find(&["chromedriver"])?,
    ))
}

/// Chromium and its driver, or `None` (with a message) when they are not installed and
/// this is not CI.
fn browser_or_skip(test: &str) -> Option<Browser> {
    match chromium() {
        Some((chromium, driver)) => Some(Browser::start(&chromium, &driver)),
        None => {
            skip_unless_ci(
                test,
                "chromium or chromedriver is not installed \
                 (apt-get install chromium chromium-driver; .ci/run installs them)",
            );
            None
        }
    }
}

impl Browser {
    fn start(chromium: &Path, driver: &Path) -> Browser {
        let turn = ONE_BROWSER.lock().unwrap_or_else(|e| e.into_inner());
        let port = free_port();
        let driver = Reaped(
            Command::new(driver)
                .arg(format!("--port={port}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("chromedriver starts"),
        );
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "chromedriver never listened"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let profile = scratch("chromium-profile");
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--window-size=1280,1000",
            &format!("--user-data-dir={}", profile.display()),
        ];
        let created = http(
            port,
            "POST",
            "/session",
            Some(json!({"capabilities": {"alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": {"binary": chromium, "args": args},
            }}})),
        );
        let session = created["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no WebDriver session: {created}"))
            .to_string();
        Browser {
            port,
            session,
            _driver: driver,
            _profile: profile,
            _turn: turn,
        }
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let path = format!("/session/{}{path}", self.session);
        let answer = http(self.port, method, &path, body);
        if answer["value"]["error"].is_string() {
            panic!("WebDriver {method} {path}: {}", answer["value"]);
        }
        answer["value"].clone()
    }

    fn open(&self, url: &str) {
        self.call("POST", "/url", Some(json!({ "url": url })));
    }

    /// Runs `body` as a function in the page and returns its value (promises are awaited).
    fn eval(&self, body: &str) -> Value {
        self.call(
            "POST",
            "/execute/sync",
            Some(json!({"script": body, "args": []})),
        )
    }

    fn wait_for(&self, what: &str, body: &str, limit: Duration) {
        let start = Instant::now();
        loop {
            if self.eval(body) == json!(true) {
                return;
            }
            if start.elapsed() > limit {
                let text = self.eval("return document.body.innerText");
                panic!(
                    "the page never showed {what}; it shows:\n{}",
                    text.as_str().unwrap_or("")
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn screenshot(&self, path: &Path) {
        use base64::Engine;
        let data = self.call("GET", "/screenshot", None);
        let png = base64::engine::general_purpose::STANDARD
            .decode(data.as_str().unwrap())
            .unwrap();
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(path, png).unwrap();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = http(
            self.port,
            "DELETE",
            &format!("/session/{}", self.session),
            None,
        );
    }
}

/// Seven tasks on three agents in about three seconds: three writers of one file after a
/// setup task (lock blocks), a task that fails once (a retry), a task that shares a
/// discovery (the board).
const WATCHED: &str = r#"
time_unit = "seconds"
[config]
max_retries_per_task = 2
backoff_base = 0.3
backoff_max = 0.3
task_timeout = 30

[[agents]]
count = 3

[[tasks]]
id = "setup"
estimated_duration = 0.8
command = '''sleep 0.8; printf '{"kind":"discovery","summary":"the schema lives in db/schema.sql","files":["db/schema.sql"]}\n' > "$TASKDIST_SHARE_FILE"'''

[[tasks]]
id = "routes"
estimated_duration = 0.5
depends_on = ["setup"]
files_to_modify = ["src/app.ts"]
command = "sleep 0.5"

[[tasks]]
id = "pages"
estimated_duration = 0.4
depends_on = ["setup"]
files_to_modify = ["src/app.ts"]
command = "sleep 0.4"

[[tasks]]
id = "styles"
estimated_duration = 0.3
depends_on = ["setup"]
files_to_modify = ["src/app.ts"]
command = "sleep 0.3"

[[tasks]]
id = "flaky"
estimated_duration = 0.4
depends_on = ["setup"]
command = '''sleep 0.4; if [ "$TASKDIST_ATTEMPT" = 1 ]; then echo "connection reset by peer" >&2; exit 1; fi'''

[[tasks]]
id = "docs"
type = "documentation"
estimated_duration = 1.0
command = "sleep 1"

[[tasks]]
id = "release"
type = "deployment"
estimated_duration = 0.3
depends_on = ["routes", "pages", "styles", "flaky", "docs"]
command = "sleep 0.3"
"#;

/// Canonical JSON (keys sorted) of a value, in the page.
const CANON: &str = "const canon = (v) => Array.isArray(v) ? v.map(canon) : (v && typeof v === 'object') ? \
    Object.fromEntries(Object.keys(v).sort().map((k) => [k, canon(v[k])])) : v;";

#[test]
fn live_page_in_chromium() {
    let Some(browser) = browser_or_skip("live_page_in_chromium") else {
        return;
    };
    let dir = scratch("browser");
    std::fs::write(dir.join("watched.toml"), WATCHED).unwrap();
    let port = free_port();
    let mut run = Reaped(
        taskdist(&dir)
            .args(["run", "watched.toml", "--out", "out", "--linger", "120"])
            .args(["--serve", &format!("127.0.0.1:{port}")])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let stderr = BufReader::new(run.0.stderr.take().unwrap());
    let mut lines = stderr.lines();
    let url = loop {
        let line = lines
            .next()
            .expect("taskdist prints the page's address")
            .unwrap();
        if let Some(url) = line.strip_prefix("live page: ") {
            break url.to_string();
        }
    };
    assert_eq!(url, format!("http://127.0.0.1:{port}/"));
    browser.open(&url);
    if std::env::var_os("TASKDIST_BLESS").is_some() {
        // The README's picture: mid-run, while writers of one file wait for its lock and
        // the flaky task waits to be retried.
        browser.wait_for(
            "a task parked on a lock, and a failure",
            "return !!document.querySelector('#waiting tr[data-state=blocked]') && \
             !!document.querySelector('#failures tr[data-task=flaky]')",
            Duration::from_secs(30),
        );
        std::thread::sleep(Duration::from_millis(150));
        browser.screenshot(&root().join("reports/live-page.png"));
    }

    browser.wait_for(
        "all seven tasks completed",
        "return document.body.dataset.complete === 'yes' && \
         document.getElementById('progress-text').textContent.startsWith('7 of 7 tasks completed')",
        Duration::from_secs(90),
    );
    let check = |what: &str, body: &str| {
        let answer = browser.eval(body);
        assert_eq!(answer, json!(true), "{what}: {answer}");
    };
    check(
        "events arrived live, not only in a snapshot",
        "return window.taskdistPage.counters.events > 0",
    );
    check(
        "one lane per agent, each with attempts on it",
        "const lanes = [...document.querySelectorAll('#lanes .lane')]; \
         return lanes.length === 3 && lanes.every((l) => Number(l.dataset.bars) > 0) && \
         lanes.reduce((n, l) => n + Number(l.dataset.bars), 0) === 8",
    );
    check(
        "a lock block naming the file and its holder",
        "return /lock on src\\/app\\.ts \\(write\\) held by (routes|pages|styles)/.test(document.getElementById('blocks').textContent)",
    );
    check(
        "the retried task with its error",
        "const row = document.querySelector('#failures tr[data-task=flaky]'); \
         return !!row && row.textContent.includes('connection reset by peer')",
    );
    check(
        "the context board: the discovery and the error",
        "const b = document.getElementById('board').textContent; \
         return b.includes('the schema lives in db/schema.sql') && b.includes('connection reset by peer')",
    );
    let shot = option_env!("CARGO_TARGET_TMPDIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir)
        .join("live-page.png");
    browser.screenshot(&shot);
    eprintln!("screenshot: {}", shot.display());

    // The page's fold of the events is the server's, field for field.
    let live = browser.eval(&format!(
        "{CANON} return fetch('/snapshot').then((r) => r.json()).then((s) => \
         JSON.stringify(canon(s)) === JSON.stringify(canon(window.taskdistPage.state())) || \
         [JSON.stringify(canon(s)), JSON.stringify(canon(window.taskdistPage.state()))])"
    ));
    assert_eq!(live, json!(true), "page state differs from the server's");
    let seen_live = browser.eval(&format!(
        "{CANON} return JSON.stringify(canon(window.taskdistPage.state()))"
    ));

    // A page opened after the run shows the same, from the snapshot alone.
    browser.open(&url);
    browser.wait_for(
        "the final state to a late page",
        "return document.body.dataset.complete === 'yes'",
        Duration::from_secs(30),
    );
    let late = browser.eval(&format!(
        "{CANON} return [window.taskdistPage.counters.events, JSON.stringify(canon(window.taskdistPage.state()))]"
    ));
    assert_eq!(
        late[0],
        json!(0),
        "a late page gets no events, only the snapshot"
    );
    assert_eq!(late[1], seen_live);

    // Ctrl-C ends the linger; the run itself succeeded.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(run.0.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let status = run.0.wait().unwrap();
    assert_eq!(status.code(), Some(0));
}

#[test]
fn with_a_token_the_page_asks_for_it_and_the_server_refuses_requests_without_it() {
    let Some(browser) = browser_or_skip("with_a_token_the_page_asks_for_it") else {
        return;
    };
    let dir = scratch("token");
    let port = free_port();
    let _sim = Reaped(
        taskdist(&dir)
            .arg("simulate")
            .arg(root().join("scenarios/quickstart.toml"))
            .args([
                "--speed",
                "1e9",
                "--linger",
                "120",
                "--token",
                "s3cret-token",
            ])
            .args(["--serve", &format!("127.0.0.1:{port}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the server never listened"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    browser.open(&format!("http://127.0.0.1:{port}/"));
    browser.wait_for(
        "the token form",
        "return !document.getElementById('token-box').hidden",
        Duration::from_secs(20),
    );
    let statuses = browser.eval(
        "return Promise.all(['/snapshot', '/snapshot?token=wrong-token', '/snapshot?token=s3cret-token'] \
         .map((u) => fetch(u).then((r) => r.status)))",
    );
    assert_eq!(statuses, json!([401, 401, 200]));
    let submit = |token: &str| {
        browser.eval(&format!(
            "document.getElementById('token').value = '{token}'; \
             document.getElementById('token-form').requestSubmit(); return true"
        ));
    };
    submit("wrong-token");
    browser.wait_for(
        "the refusal",
        "return document.getElementById('token-error').textContent === 'that token was refused'",
        Duration::from_secs(20),
    );
    submit("s3cret-token");
    browser.wait_for(
        "the run, once given the token",
        "return document.body.dataset.complete === 'yes' && document.getElementById('token-box').hidden",
        Duration::from_secs(30),
    );
}

/// How many events per second a page keeps up with: a big simulated run replayed at
/// rising speeds; for each, the events the page received live, their rate, and whether it
/// needed a resync. Prints a table; run with
/// `cargo test --release --test sim serve::live_page_throughput -- --ignored --nocapture`.
#[test]
#[ignore]
fn live_page_throughput() {
    let Some(browser) = browser_or_skip("live_page_throughput") else {
        return;
    };
    let dir = scratch("throughput");
    let mut text = "[config]\nmax_retries_per_task = 3\n[[agents]]\ncount = 32\n\
        [simulation]\nduration = { model = 'lognormal', spread = 0.5 }\nfailure_probability = 0.1\n"
        .to_string();
    for i in 0..3000 {
        text += &format!(
            "[[tasks]]\nid = 't{i}'\nestimated_duration = '{}m'\nfiles_to_modify = ['f{}']\n{}",
            5 + i % 17,
            i % 40,
            if i >= 32 {
                format!("depends_on = ['t{}']\n", i / 2)
            } else {
                String::new()
            }
        );
    }
    std::fs::write(dir.join("big.toml"), text).unwrap();
    let makespan_ms = {
        let out = taskdist(&dir)
            .args(["simulate", "big.toml", "--json"])
            .output()
            .unwrap();
        assert!(out.status.success());
        let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
        (summary["makespan"].as_f64().unwrap() * 1000.0) as u64
    };
    println!(
        "replay seconds | events | offered events/s | received live | page events/s | snapshots"
    );
    for replay_s in [20.0, 10.0, 5.0, 2.0, 1.0, 0.5] {
        let speed = makespan_ms as f64 / 1000.0 / replay_s;
        let port = free_port();
        let mut sim = Reaped(
            taskdist(&dir)
                .args([
                    "simulate",
                    "big.toml",
                    "--linger",
                    "600",
                    "--speed",
                    &speed.to_string(),
                ])
                .args(["--serve", &format!("127.0.0.1:{port}")])
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap(),
        );
        let mut lines = BufReader::new(sim.0.stderr.take().unwrap()).lines();
        let url = loop {
            let line = lines.next().unwrap().unwrap();
            if let Some(url) = line.strip_prefix("live page: ") {
                break url.to_string();
            }
        };
        let events: u64 = loop {
            let line = lines.next().unwrap().unwrap();
            if let Some(rest) = line.strip_prefix("replaying ") {
                break rest.split(' ').next().unwrap().parse().unwrap();
            }
        };
        browser.open(&url);
        browser.wait_for(
            "the end of the replay",
            &format!("const s = window.taskdistPage.state(); return !!s && s.seq === {events}"),
            Duration::from_secs(300),
        );
        let c = browser.eval("return window.taskdistPage.counters");
        let received = c["events"].as_f64().unwrap();
        let span_s = (c["lastEventAt"].as_f64().unwrap_or(0.0)
            - c["firstEventAt"].as_f64().unwrap_or(0.0))
            / 1000.0;
        println!(
            "{replay_s:>14} | {events:>6} | {:>16.0} | {received:>13} | {:>13.0} | {}",
            if replay_s > 0.0 {
                events as f64 / replay_s
            } else {
                f64::INFINITY
            },
            if span_s > 0.0 { received / span_s } else { 0.0 },
            c["snapshots"]
        );
        drop(sim);
    }
}
