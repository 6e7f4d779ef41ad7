//! The built-in agent: runs each task's `command` (or the run's `--exec` command) as a
//! child process in a process group of its own.
//!
//! Task data reaches the command only through the environment and files, never by
//! splicing it into a command line: a task titled `"; rm -rf ~` stays a string.
//!
//! | variable | value |
//! | --- | --- |
//! | `TASKDIST_TASK_ID`, `TASKDIST_TASK_TITLE`, `TASKDIST_TASK_TYPE`, `TASKDIST_TASK_PRIORITY` | the task's fields |
//! | `TASKDIST_ATTEMPT` | 1 for the first attempt, then 2, … |
//! | `TASKDIST_AGENT_ID` | the agent running it |
//! | `TASKDIST_FILES_TO_MODIFY`, `TASKDIST_FILES_TO_READ` | the task's files, one per line |
//! | `TASKDIST_ESTIMATED_SECONDS` | the estimate, e.g. `0.250` |
//! | `TASKDIST_TIMEOUT_SECONDS` | how long the attempt may run |
//! | `TASKDIST_ATTEMPT_DIR` | this attempt's directory (its `stdout` and `stderr` are there) |
//! | `TASKDIST_CONTEXT_FILE` | JSON: the task, the attempt and the shared context selected for it |
//! | `TASKDIST_SHARE_FILE` | where the command may write context items to share, one JSON object per line, e.g. `{"kind":"discovery","summary":"…","files":["src/a.rs"]}` |
//! | `TASKDIST_RESULT_FILE` | where the command may write a one-line result summary |
//! | `TASKDIST_INBOX_FILE` | context shared by other agents while the attempt runs: the runner appends one JSON object per line (the same form as the items of the context file's lists), e.g. `{"time":1200,"agent":"agent-2","item":{"kind":"discovery",…}}`; empty at the start |
//!
//! The inbox file exists (empty) when the command starts. Each item is appended with one
//! write of a whole line ending in `\n`, so a reader that polls the file (or `tail -f`)
//! takes a line once its newline is there. Which items reach which attempt is the core's
//! rule ([`crate::core::Delivery`]).
//!
//! Exit status 0 is success, anything else a failure whose message carries the last line
//! of stderr. A cancelled attempt (timeout, lost agent, Ctrl-C) gets SIGTERM on its whole
//! process group, then SIGKILL after a grace period. On Linux each command's whole process
//! group also gets SIGKILL when the runner dies, from the [guard](super::guard), so a killed
//! runner leaves no command behind to finish work the journal never heard of. Commands are
//! started with `posix_spawn`, which copies none of the runner's page tables; only if the
//! guard cannot run are they forked with `PR_SET_PDEATHSIG` instead, which kills the
//! command's own process but not what it started in the background. With the guard, an
//! attempt's files are written and its command spawned on tokio's blocking pool, so the
//! runner's loop never waits for a new process to exec; without it, on the loop's thread,
//! because `PR_SET_PDEATHSIG` follows the thread that spawned the command.

use super::agent::{Agent, BoxFuture, Job, Report};
use super::error::RunError;
use super::guard::Guard;
use crate::core::{ContextItem, Shared};
use crate::model::{CommandSpec, SourceInfo, Time};
use crate::plan::Plan;
use nix::sys::signal::{Signal, killpg};
use nix::sys::wait::{Id, WaitPidFlag, WaitStatus, waitid};
use nix::unistd::Pid;
use serde::Serialize;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::process::{Child, Command};
use tokio_util::sync::CancellationToken;

/// How the command agent runs commands.
#[derive(Debug, Clone, PartialEq)]
pub struct CommandSettings {
    /// The command of tasks that have none of their own (`--exec`).
    pub exec: Option<CommandSpec>,
    /// The working directory of every command.
    pub workdir: PathBuf,
    /// How long a cancelled command has between SIGTERM and SIGKILL.
    pub kill_grace_ms: Time,
}

impl CommandSettings {
    /// Commands run in `workdir`, with no `--exec` and a 2 s kill grace.
    pub fn new(workdir: PathBuf) -> CommandSettings {
        CommandSettings {
            exec: None,
            workdir,
            kill_grace_ms: 2_000,
        }
    }

    /// Checks before anything runs that every task has a command whose program can be
    /// found; the error names the first task that has not, with its line.
    pub fn check(&self, plan: &Plan, source: &SourceInfo) -> Result<(), RunError> {
        let mut missing = plan
            .task_indices()
            .filter(|&t| plan.task(t).command.is_none() && self.exec.is_none());
        if let Some(t) = missing.next() {
            return Err(RunError::MissingCommand {
                task: plan.task(t).id.to_string(),
                line: source.task_line(t.ix()),
                others: missing.count(),
            });
        }
        // Each program is looked up once: a run of 100,000 tasks has a handful of programs,
        // and a PATH search is a stat per directory.
        let mut found = std::collections::BTreeSet::new();
        for t in plan.task_indices() {
            let Some(command) = plan.task(t).command.as_ref().or(self.exec.as_ref()) else {
                continue;
            };
            let Some(program) = command.program() else {
                return Err(RunError::CommandNotFound {
                    task: plan.task(t).id.to_string(),
                    line: source.task_line(t.ix()),
                    program: String::new(),
                });
            };
            if found.contains(program) {
                continue;
            }
            if find_program(program, &self.workdir).is_none() {
                return Err(RunError::CommandNotFound {
                    task: plan.task(t).id.to_string(),
                    line: source.task_line(t.ix()),
                    program: program.to_string(),
                });
            }
            found.insert(program);
        }
        Ok(())
    }
}

/// Where `program` would be found: as a path if it has a `/` (relative to `workdir`),
/// else on `PATH`.
fn find_program(program: &str, workdir: &Path) -> Option<PathBuf> {
    let executable = |path: &Path| {
        use std::os::unix::fs::PermissionsExt;
        path.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if program.contains('/') {
        let path = workdir.join(program);
        return executable(&path).then_some(path);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| workdir.join(dir).join(program))
        .find(|p| executable(p))
}

/// The built-in agent that runs commands. One value can serve every agent of a run.
#[derive(Debug, Clone)]
pub struct CommandAgent {
    settings: CommandSettings,
    /// Started with the first command; shared by clones, stopped with the last of them.
    guard: Arc<OnceLock<Option<Guard>>>,
    /// Where each program named without a `/` was found on `PATH`, looked up once: left
    /// to `posix_spawnp`, the search is redone in every child, one failed `execve` per
    /// directory of `PATH` before the right one, while the runner's thread waits.
    programs: Arc<std::sync::Mutex<std::collections::HashMap<String, PathBuf>>>,
}

impl CommandAgent {
    /// An agent running commands as `settings` say.
    pub fn new(settings: CommandSettings) -> CommandAgent {
        CommandAgent {
            settings,
            guard: Arc::default(),
            programs: Arc::default(),
        }
    }

    /// The program to execute for `name`: where it was found on `PATH`, else `name` as
    /// given (a path, or a program not found, whose spawn then says so).
    fn program(&self, name: &str) -> PathBuf {
        if name.contains('/') {
            return PathBuf::from(name);
        }
        let mut programs = self.programs.lock().expect("not poisoned");
        if let Some(path) = programs.get(name) {
            return path.clone();
        }
        // Only an absolute path is kept: a relative one would be taken from the command's
        // working directory as well as found from it.
        match find_program(name, &self.settings.workdir).filter(|path| path.is_absolute()) {
            Some(path) => {
                programs.insert(name.to_string(), path.clone());
                path
            }
            None => PathBuf::from(name),
        }
    }

    /// The guard, if it could be started and is still there.
    fn guard(&self) -> Option<&Guard> {
        self.guard
            .get_or_init(|| Guard::start().ok())
            .as_ref()
            .filter(|guard| guard.alive())
    }
}

impl Agent for CommandAgent {
    fn execute<'a>(&'a self, job: Job, cancel: CancellationToken) -> BoxFuture<'a, Report> {
        Box::pin(self.run(job, cancel))
    }
}

/// What starting one attempt's command needs, owned, so that it can be done on another
/// thread: the attempt's directory and files, then the spawn.
struct Launch {
    plan: Arc<Plan>,
    task: crate::plan::TaskIdx,
    attempt: u32,
    agent_id: Arc<str>,
    timeout_ms: Time,
    context: crate::core::Context,
    dir: PathBuf,
    command: CommandSpec,
    /// The program to execute, found on `PATH` once per run where it could be.
    program: PathBuf,
    workdir: PathBuf,
}

impl Launch {
    /// Prepares the attempt's directory and starts its command in a process group of its
    /// own, marked in `guard` if there is one; the error is the attempt's failure message.
    fn start(self, guard: Option<&Guard>) -> Result<(Child, Pid), String> {
        let spec = self.plan.task(self.task);
        let dir = &self.dir;
        let context = ContextFile {
            task: spec,
            attempt: self.attempt,
            agent: &self.agent_id,
            timeout_ms: self.timeout_ms,
            context: &self.context,
        };
        let (stdout, stderr) =
            prepare(&context, dir).map_err(|e| format!("cannot prepare {}: {e}", dir.display()))?;
        let mut cmd = Command::new(&self.program);
        match &self.command {
            CommandSpec::Shell(line) => {
                cmd.arg("-c").arg(line);
            }
            CommandSpec::Argv(argv) => {
                cmd.args(&argv[1..]);
            }
        }
        let list = |files: &[String]| files.join("\n");
        cmd.current_dir(&self.workdir)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .env("TASKDIST_TASK_ID", &*spec.id)
            .env("TASKDIST_TASK_TITLE", &*spec.title)
            .env("TASKDIST_TASK_TYPE", spec.task_type.as_str())
            .env(
                "TASKDIST_TASK_PRIORITY",
                format!("{:?}", spec.priority).to_lowercase(),
            )
            .env("TASKDIST_ATTEMPT", self.attempt.to_string())
            .env("TASKDIST_AGENT_ID", &*self.agent_id)
            .env("TASKDIST_FILES_TO_MODIFY", list(&spec.files_to_modify))
            .env("TASKDIST_FILES_TO_READ", list(&spec.files_to_read))
            .env(
                "TASKDIST_ESTIMATED_SECONDS",
                secs(spec.estimated_duration_ms),
            )
            .env("TASKDIST_TIMEOUT_SECONDS", secs(self.timeout_ms))
            .env("TASKDIST_ATTEMPT_DIR", dir)
            .env("TASKDIST_CONTEXT_FILE", dir.join("context.json"))
            .env("TASKDIST_SHARE_FILE", dir.join("share.jsonl"))
            .env("TASKDIST_RESULT_FILE", dir.join("result"))
            .env("TASKDIST_INBOX_FILE", dir.join("inbox.jsonl"))
            .process_group(0)
            .kill_on_drop(false);
        if guard.is_none() {
            die_with_parent(&mut cmd);
        }
        let child = cmd.spawn().map_err(|e| {
            let program = self.command.program().unwrap_or_default();
            format!("cannot start `{program}`: {e}")
        })?;
        let pid = Pid::from_raw(child.id().expect("a child not yet waited for has a pid") as i32);
        if let Some(guard) = guard
            && !guard.watch(pid)
        {
            note(
                dir,
                "taskdist: the guard process is gone: this command may outlive a killed runner",
            );
        }
        Ok((child, pid))
    }
}

/// `TASKDIST_CONTEXT_FILE`'s contents.
#[derive(Serialize)]
struct ContextFile<'a> {
    task: &'a crate::model::TaskSpec,
    attempt: u32,
    agent: &'a str,
    timeout_ms: Time,
    context: &'a crate::core::Context,
}

/// Longest result or error message kept from a command's files.
const MESSAGE_CHARS: usize = 500;

impl CommandAgent {
    async fn run(&self, mut job: Job, cancel: CancellationToken) -> Report {
        let spec = job.spec();
        let Some(command) = spec.command.as_ref().or(self.settings.exec.as_ref()) else {
            return failed("the task has no command and the run has no --exec".to_string());
        };
        let command = command.clone();
        // Without a run directory the attempt's files live in a directory of their own
        // under the system's temp directory, unique even when two runners of one process
        // run the same task, and removed when the attempt is over (as this future ends or
        // is dropped): nobody asked to keep them, and the report carries what they said.
        let (dir, _temporary) = match &job.dir {
            Some(dir) => (dir.clone(), None),
            None => match tempfile::Builder::new()
                .prefix(&format!("taskdist-{}-{}-", job.task.0, job.attempt))
                .tempdir()
            {
                Ok(temporary) => (temporary.path().to_path_buf(), Some(temporary)),
                Err(e) => return failed(format!("cannot create the attempt's directory: {e}")),
            },
        };
        let Some(program) = command.program().map(|name| self.program(name)) else {
            return failed("the task's command is empty".to_string());
        };
        let launch = Launch {
            plan: job.plan.clone(),
            task: job.task,
            attempt: job.attempt,
            agent_id: job.agent_id.clone(),
            timeout_ms: job.timeout_ms,
            context: std::mem::take(&mut job.context),
            dir: dir.clone(),
            command,
            program,
            workdir: self.settings.workdir.clone(),
        };
        let launched = if self.guard().is_some() {
            // On a thread of the blocking pool: `posix_spawn` holds the calling thread until
            // the new process has exec'd, which on a busy machine means until it got a
            // CPU, and the runner's loop, on this thread, would handle nothing meanwhile.
            let guard = self.guard.clone();
            tokio::task::spawn_blocking(move || {
                let guard = guard.get().and_then(Option::as_ref);
                launch.start(guard)
            })
            .await
            .unwrap_or_else(|e| Err(format!("cannot start the command: {e}")))
        } else {
            // Without the guard, `PR_SET_PDEATHSIG` ties the command's life to the thread
            // that spawned it: that must be this one, which lives as long as the runner.
            launch.start(None)
        };
        let (mut child, pid) = match launched {
            Ok(started) => started,
            Err(error) => return failed(error),
        };
        let guard = self.guard();
        job.started();
        let grace = Duration::from_millis(self.settings.kill_grace_ms);
        let inbox = dir.join("inbox.jsonl");
        let status = loop {
            tokio::select! {
                status = child.wait() => break Some(status),
                () = cancel.cancelled() => {
                    stop_group(pid, &mut child, grace).await;
                    break None;
                }
                Some(shared) = job.inbox.recv() => deliver(&inbox, &shared),
            }
        };
        // The leader is reaped: the group is released only now, so the guard never holds a
        // group whose leader could still be running.
        if let Some(guard) = guard {
            guard.release(pid);
        }
        let Some(status) = status else {
            return failed("cancelled".to_string());
        };
        let status = match status {
            Ok(status) => status,
            Err(e) => return failed(format!("cannot wait for the command: {e}")),
        };
        if status.success() {
            share_items(&job, &dir);
            let result = std::fs::read_to_string(dir.join("result"))
                .ok()
                .map(|text| clip(text.trim()))
                .filter(|text| !text.is_empty());
            Report::Succeeded { result }
        } else {
            let mut error = describe(status);
            if let Some(line) = last_line(&dir.join("stderr")) {
                error = format!("{error}: {line}");
            }
            share_items(&job, &dir);
            failed(error)
        }
    }
}

fn failed(error: String) -> Report {
    Report::Failed { error }
}

/// Creates the attempt directory and its context file; opens the output files.
fn prepare(context: &ContextFile<'_>, dir: &Path) -> std::io::Result<(File, File)> {
    std::fs::create_dir_all(dir)?;
    let json = serde_json::to_vec_pretty(context).map_err(std::io::Error::other)?;
    std::fs::write(dir.join("context.json"), json)?;
    File::create(dir.join("inbox.jsonl"))?;
    Ok((
        File::create(dir.join("stdout"))?,
        File::create(dir.join("stderr"))?,
    ))
}

/// Seconds with three decimals, as `sleep` and most tools read them.
fn secs(ms: Time) -> String {
    format!("{}.{:03}", ms / 1000, ms % 1000)
}

fn clip(text: &str) -> String {
    match text.char_indices().nth(MESSAGE_CHARS) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}

fn describe(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(signal)) => match Signal::try_from(signal) {
            Ok(name) => format!("killed by signal {signal} ({name})"),
            Err(_) => format!("killed by signal {signal}"),
        },
        (None, None) => status.to_string(),
    }
}

/// The last non-empty line of a file, read from its last 4 KiB.
fn last_line(path: &Path) -> Option<String> {
    let mut file = File::open(path).ok()?;
    let len = file.metadata().ok()?.len();
    file.seek(SeekFrom::Start(len.saturating_sub(4096))).ok()?;
    let mut tail = Vec::new();
    file.read_to_end(&mut tail).ok()?;
    let text = String::from_utf8_lossy(&tail);
    text.lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(clip)
}

/// Posts what the command wrote to its share file; a line that is not a context item is
/// noted in the attempt's stderr file rather than lost silently.
fn share_items(job: &Job, dir: &Path) {
    let Ok(text) = std::fs::read_to_string(dir.join("share.jsonl")) else {
        return;
    };
    let mut complaints = String::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<ContextItem>(line) {
            Ok(item) => job.share(item),
            Err(e) => complaints += &format!("taskdist: share.jsonl line {}: {e}\n", n + 1),
        }
    }
    if !complaints.is_empty() {
        note(dir, complaints.trim_end());
    }
}

/// Appends a line of taskdist's own to the attempt's stderr file, where the user reads
/// what happened to the attempt.
fn note(dir: &Path, text: &str) {
    if let Ok(mut stderr) = std::fs::OpenOptions::new()
        .append(true)
        .open(dir.join("stderr"))
    {
        let _ = writeln!(stderr, "{text}");
    }
}

/// Appends one delivered item to the attempt's inbox file, as one line in one write, so
/// a command reading the file never sees half an item followed by another. A failed write
/// is noted in the attempt's stderr file: the item is lost to the command, the run goes on.
fn deliver(inbox: &Path, shared: &Shared) {
    let mut line = serde_json::to_vec(shared).expect("a shared item serializes");
    line.push(b'\n');
    let appended = std::fs::OpenOptions::new()
        .append(true)
        .open(inbox)
        .and_then(|mut file| file.write_all(&line));
    if let Err(e) = appended
        && let Some(dir) = inbox.parent()
    {
        note(
            dir,
            &format!("taskdist: cannot append to {}: {e}", inbox.display()),
        );
    }
}

/// SIGTERM to the group, up to `grace` for the leader to exit, then SIGKILL to whatever
/// is left of the group. The leader is reaped only at the end, so its pid, which is the
/// group's id, cannot be reused by an unrelated process in between.
async fn stop_group(pid: Pid, child: &mut Child, grace: Duration) {
    let _ = killpg(pid, Signal::SIGTERM);
    let deadline = tokio::time::Instant::now() + grace;
    while tokio::time::Instant::now() < deadline && !has_exited(pid) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let _ = killpg(pid, Signal::SIGKILL);
    let _ = child.wait().await;
}

/// Whether the child has exited, without reaping it.
fn has_exited(pid: Pid) -> bool {
    let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOWAIT | WaitPidFlag::WNOHANG;
    !matches!(waitid(Id::Pid(pid), flags), Ok(WaitStatus::StillAlive))
}

/// On Linux the child gets SIGKILL when the thread that spawned it dies, which for the
/// runner's single-threaded loop is when the runner dies.
#[cfg(target_os = "linux")]
fn die_with_parent(cmd: &mut Command) {
    let parent = nix::unistd::getpid();
    // SAFETY: the closure runs between fork and exec and calls only prctl and getppid,
    // both async-signal-safe system calls; it allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            nix::sys::prctl::set_pdeathsig(Signal::SIGKILL)?;
            // The runner may have died before prctl took effect.
            if nix::unistd::getppid() != parent {
                return Err(std::io::Error::other("the runner exited"));
            }
            Ok(())
        });
    }
}

#[cfg(not(target_os = "linux"))]
fn die_with_parent(_cmd: &mut Command) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clip_and_secs() {
        assert_eq!(secs(1_250), "1.250");
        assert_eq!(secs(7), "0.007");
        assert_eq!(clip("short"), "short");
        let long = "é".repeat(MESSAGE_CHARS + 3);
        assert_eq!(clip(&long).chars().count(), MESSAGE_CHARS + 1);
    }

    #[test]
    fn programs_are_found_on_path_or_by_path() {
        let here = std::env::current_dir().unwrap();
        assert!(find_program("sh", &here).is_some());
        assert!(find_program("no-such-program-taskdist", &here).is_none());
        assert!(find_program("/bin/sh", &here).is_some());
        assert!(find_program("./no/such", &here).is_none());
    }

    #[test]
    fn programs_are_looked_up_once_and_kept_only_when_absolute() {
        let agent = CommandAgent::new(CommandSettings::new(std::env::current_dir().unwrap()));
        let sh = agent.program("sh");
        assert!(sh.is_absolute() && sh.ends_with("sh"), "{}", sh.display());
        assert_eq!(agent.programs.lock().unwrap().get("sh"), Some(&sh));
        assert_eq!(agent.program("sh"), sh);
        // A path is the caller's; a program not found is left for the spawn to report.
        assert_eq!(agent.program("./x/y"), PathBuf::from("./x/y"));
        assert_eq!(
            agent.program("no-such-program-taskdist"),
            PathBuf::from("no-such-program-taskdist")
        );
        assert!(
            !agent
                .programs
                .lock()
                .unwrap()
                .contains_key("no-such-program-taskdist")
        );
    }
}
