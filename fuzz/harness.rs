//! What each fuzz target does with its input, shared by the cargo-fuzz targets
//! (fuzz/fuzz_targets/) and by the regression test in the normal suite (sim/fuzz.rs), which
//! replays every kept crasher and corpus seed under fuzz/regressions/ through the same code.
//!
//! Every function takes arbitrary bytes and must return: an input is either accepted or
//! rejected with an error that says something. A panic, a hang (libFuzzer's `-timeout`) or
//! an allocation past libFuzzer's `-rss_limit_mb` / `-malloc_limit_mb` is a finding. What is
//! accepted goes on through the next stages a command would take it (plan analysis, a
//! bounded simulation audited for the scheduler's guarantees), so a parser that lets
//! through something the later stages cannot handle is caught too.
#![allow(dead_code)] // each target uses one function of this file

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use taskdist::import::{self, ImportFormat, ImportOptions};
use taskdist::model::{
    Format, KeyLines, Scenario, ScenarioFile, TimeUnit, format_exact, parse_duration,
};
use taskdist::plan::Plan;
use taskdist::runtime::Runner;
use taskdist::sim::{SimModels, audit, simulate};
use taskdist::store::{NewRun, Store};

/// Plans at most this big are also simulated (bigger ones are only loaded): a simulation
/// costs about a microsecond per task, and the fuzzer wants thousands of inputs a second.
const SIMULATE_MAX_TASKS: usize = 64;
/// Nor more agents than this.
const SIMULATE_MAX_AGENTS: usize = 64;
/// Journal rows a resume input may give (more are ignored).
const RESUME_MAX_ROWS: usize = 512;

/// What happened to an input: accepted, or rejected with this message.
#[derive(Debug)]
pub enum Verdict {
    /// Loaded (and, if small, simulated and audited).
    Accepted,
    /// Refused with an error message.
    Rejected(String),
}

/// Makes the fuzzer's own thread the only thread of rayon's global pool; each target calls
/// it once, before its first input. The loaders and the plan builder split their work across
/// rayon's threads, and which thread took which piece, and whether a worker was asleep when
/// work came, changed the code that ran: in rayon itself, and in sorting what the pieces
/// raised back into file order. The same inputs then covered different edges from one
/// process to the next (9,915 and 9,932 for `pieces`' kept corpus), so coverage kept
/// "growing" by chance and the plateau rule of scripts/fuzz.sh could hardly be met. On one
/// thread, which runs every job it queues itself, an input runs the same code every time
/// (but for a few edges outside taskdist: reports/fuzz.md, round 17).
pub fn one_thread() {
    rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .use_current_thread()
        .build_global()
        .expect("rayon's global pool is built once, before any parallel work");
}

fn rejected(message: String) -> Verdict {
    assert!(!message.trim().is_empty(), "an error with an empty message");
    Verdict::Rejected(message)
}

/// `taskdist simulate FILE.toml` in-process.
pub fn scenario_toml(data: &[u8]) -> Verdict {
    scenario(data, Format::Toml)
}

/// `taskdist simulate FILE.json` in-process.
pub fn scenario_json(data: &[u8]) -> Verdict {
    scenario(data, Format::Json)
}

/// The scenario loader's fast path for large files (the tasks cut into pieces parsed in
/// parallel), which a small input never reaches through [`scenario_toml`] and
/// [`scenario_json`], here on small texts cut finely: the first byte picks the format
/// (even: TOML, odd: JSON) and the piece size (1 to 4 tasks), the rest is the text.
/// Whatever the pieces give, the whole-document parse must give too: a difference, or
/// pieces accepting what the whole refuses, is a finding.
pub fn pieces(data: &[u8]) -> Verdict {
    let Some((&first, rest)) = data.split_first() else {
        return rejected("empty".into());
    };
    let format = if first % 2 == 0 {
        Format::Toml
    } else {
        Format::Json
    };
    let per_piece = 1 + usize::from(first / 2 % 4);
    let Ok(text) = std::str::from_utf8(rest) else {
        return rejected("not UTF-8".into());
    };
    match ScenarioFile::check_pieces(text, format, per_piece) {
        Ok(true) => Verdict::Accepted,
        Ok(false) => rejected("left to the whole-document parse".into()),
        Err(disagreement) => panic!("{disagreement}"),
    }
}

fn scenario(data: &[u8], format: Format) -> Verdict {
    let Ok(text) = std::str::from_utf8(data) else {
        return rejected("not UTF-8".into());
    };
    let (scenario, issues) = match Scenario::parse(text, format, "fuzz") {
        Ok(parsed) => parsed,
        Err(e) => return rejected(e.to_string()),
    };
    match Plan::from_scenario(scenario, issues) {
        Ok((scenario, plan)) => {
            simulation_lines(text, format, &scenario, &plan);
            simulated(&scenario, plan)
        }
        Err(e) => rejected(e.to_string()),
    }
}

/// The `[simulation]` table's issues found again with the lines of their keys, as
/// `taskdist validate FILE` finds them: the same issues, each on a line of the text.
fn simulation_lines(text: &str, format: Format, scenario: &Scenario, plan: &Plan) {
    let file = scenario.file.simulation.as_ref();
    let Err(issues) = SimModels::resolve(file, scenario.time_unit, plan) else {
        return;
    };
    let lines = KeyLines::read(text, format, &["simulation"])
        .unwrap_or_else(|| panic!("a scenario that parsed has no key lines"));
    let with_lines = SimModels::resolve_with_lines(file, scenario.time_unit, plan, Some(&lines))
        .expect_err("the same table has the same issues");
    assert_eq!(with_lines.len(), issues.len(), "the same issues");
    let last = text.lines().count().max(1);
    for issue in &with_lines {
        let line = issue.line.unwrap_or_else(|| panic!("no line: {issue}"));
        assert!((1..=last).contains(&line), "line {line} of {last}: {issue}");
    }
}

/// `taskdist simulate FILE --format stg` in-process.
pub fn stg(data: &[u8]) -> Verdict {
    imported(data, ImportFormat::Stg)
}

/// `taskdist simulate FILE --format dax` in-process.
pub fn dax(data: &[u8]) -> Verdict {
    imported(data, ImportFormat::Dax)
}

/// `taskdist simulate FILE --format wfcommons` in-process.
pub fn wfcommons(data: &[u8]) -> Verdict {
    imported(data, ImportFormat::Wfcommons)
}

fn imported(data: &[u8], format: ImportFormat) -> Verdict {
    let Ok(text) = std::str::from_utf8(data) else {
        return rejected("not UTF-8".into());
    };
    let options = ImportOptions { agents: 3 };
    let (scenario, issues) = match import::parse(text, format, "fuzz", &options) {
        Ok(parsed) => parsed,
        Err(e) => return rejected(e.to_string()),
    };
    // What `taskdist import` writes must read back as the same plan.
    let written = import::to_toml(&scenario);
    match Plan::from_scenario(scenario, issues) {
        Ok((scenario, plan)) => {
            let (again, issues) = Scenario::parse(&written, Format::Toml, "fuzz.toml")
                .unwrap_or_else(|e| panic!("an imported plan's TOML does not read back: {e}"));
            let (_, replan) = Plan::from_scenario(again, issues)
                .unwrap_or_else(|e| panic!("an imported plan's TOML does not validate: {e}"));
            assert_eq!(plan.len(), replan.len(), "the TOML lost tasks");
            simulated(&scenario, plan)
        }
        Err(e) => rejected(e.to_string()),
    }
}

/// Simulates a small accepted plan once and audits the run.
fn simulated(scenario: &Scenario, plan: Plan) -> Verdict {
    if plan.len() > SIMULATE_MAX_TASKS || scenario.agents.len() > SIMULATE_MAX_AGENTS {
        return Verdict::Accepted;
    }
    let plan = Arc::new(plan);
    let models = match SimModels::for_scenario(scenario, &plan) {
        Ok(models) => models,
        Err(e) => return rejected(e.to_string()),
    };
    let mut events = Vec::new();
    let run = simulate(
        plan.clone(),
        scenario.config.clone(),
        scenario.agents.clone(),
        &models,
        1,
        &mut |e| events.push(e.clone()),
    );
    match run {
        Ok(run) => {
            let violations = audit(&plan, &scenario.config, &run, &events);
            assert!(violations.is_empty(), "audit: {violations:?}");
            Verdict::Accepted
        }
        Err(e) => rejected(e.to_string()),
    }
}

/// The duration parser, under every time unit; what parses formats back exactly.
pub fn duration(data: &[u8]) -> Verdict {
    let Ok(text) = std::str::from_utf8(data) else {
        return rejected("not UTF-8".into());
    };
    let mut last = Verdict::Rejected("no unit".into());
    for unit in [
        TimeUnit::Milliseconds,
        TimeUnit::Seconds,
        TimeUnit::Minutes,
        TimeUnit::Hours,
    ] {
        last = match parse_duration(text, unit) {
            Ok(ms) => {
                let exact = format_exact(ms);
                let back = parse_duration(&exact, unit)
                    .unwrap_or_else(|e| panic!("{exact:?} (from {text:?}) does not parse: {e}"));
                assert_eq!(back, ms, "{text:?} -> {ms} ms -> {exact:?} -> {back} ms");
                Verdict::Accepted
            }
            Err(e) => rejected(e.to_string()),
        };
    }
    last
}

/// `taskdist resume` of a run database whose journal and attempt rows are the input.
///
/// The database is a real one made for `scenarios/sleep.toml`; the input replaces its
/// journal, one row per line: `NOW CALL` (a core time, a space, the JSON of a journaled
/// call), and a line `@TASK ATTEMPT` adds an attempt row (what resume checks the replay
/// against). Then the resume runs as the command does, up to the moment it would start
/// agents: the stop is already requested and no agent of its own is brought up, so nothing
/// is executed.
pub fn resume(data: &[u8]) -> Verdict {
    let text = String::from_utf8_lossy(data);
    let path = fresh_copy();
    let verdict = match damage(&path, &text) {
        Ok(()) => match resumed(&path) {
            Ok(()) => Verdict::Accepted,
            Err(message) => rejected(message),
        },
        // The input could not even be written as rows (SQLite refused a value): that is
        // the fuzzer's problem, not resume's.
        Err(e) => Verdict::Rejected(format!("not written: {e}")),
    };
    let _ = std::fs::remove_dir_all(path.parent().expect("the copy has a folder"));
    verdict
}

const SLEEP_SCENARIO: &str = include_str!("../scenarios/sleep.toml");

/// A fresh folder holding a copy of the base run database.
fn fresh_copy() -> PathBuf {
    // The base is kept in memory, not in a folder of its own: a static's folder would
    // outlive the process, one per fuzzing or test process.
    static BASE: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let base = BASE.get_or_init(make_base);
    let dir = std::env::temp_dir().join(format!(
        "taskdist-fuzz-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).expect("a temporary folder");
    let path = dir.join("taskdist.db");
    // `write` retries what libFuzzer's timer for `-timeout` (SIGALRM, once a second)
    // interrupts (EINTR): not a finding.
    std::fs::write(&path, base).expect("a copy of the base database");
    path
}

/// The bytes of a run database of `sleep.toml` that never ran (its folder removed).
fn make_base() -> Vec<u8> {
    let dir = std::env::temp_dir().join(format!("taskdist-fuzz-base-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a temporary folder");
    let path = dir.join("taskdist.db");
    let (scenario, issues) =
        Scenario::parse(SLEEP_SCENARIO, Format::Toml, "sleep.toml").expect("sleep.toml parses");
    let (scenario, plan) = Plan::from_scenario(scenario, issues).expect("sleep.toml is valid");
    let store = Store::create(
        &path,
        &plan,
        &NewRun {
            scenario_path: &dir.join("sleep.toml"),
            scenario_text: SLEEP_SCENARIO,
            config: &scenario.config,
            agents: &scenario.agents,
            exec: None,
            workdir: &dir,
            run_dir: &dir,
            events: None,
        },
    )
    .expect("the base database");
    drop(store);
    // One connection, no WAL left beside the file, so a plain copy is the whole database.
    let conn = rusqlite::Connection::open(&path).expect("the base database opens");
    conn.execute_batch("PRAGMA journal_mode = DELETE;")
        .expect("the base database leaves WAL");
    drop(conn);
    let bytes = std::fs::read(&path).expect("the base database reads back");
    let _ = std::fs::remove_dir_all(&dir);
    bytes
}

/// Replaces the journal and attempt rows with the input's.
fn damage(path: &Path, text: &str) -> rusqlite::Result<()> {
    let mut conn = rusqlite::Connection::open(path)?;
    let tx = conn.transaction()?;
    tx.execute("DELETE FROM journal", [])?;
    tx.execute("DELETE FROM task_assignments", [])?;
    for (seq, line) in text.lines().take(RESUME_MAX_ROWS).enumerate() {
        if let Some(rest) = line.strip_prefix('@') {
            let mut words = rest
                .split_whitespace()
                .map(|w| w.parse::<i64>().unwrap_or(0));
            let task = words.next().unwrap_or(0);
            let attempt = words.next().unwrap_or(0);
            tx.execute(
                "INSERT OR IGNORE INTO task_assignments (session_id, task_index, task_id,
                   agent_id, attempt, status, assigned_ms, deadline_ms, retry_count,
                   max_retries, locks_held, context_items, process)
                 VALUES (1, ?1, 'fuzz', 'fuzz', ?2, 'assigned', 0, 0, 0, 0, '[]', 0, 1)",
                rusqlite::params![task, attempt],
            )?;
        } else {
            let (now, call) = line.split_once(' ').unwrap_or((line, ""));
            let now = now.parse::<i64>().unwrap_or(0);
            tx.execute(
                "INSERT INTO journal (seq, session_id, process, now_ms, call)
                 VALUES (?1, 1, 1, ?2, ?3)",
                rusqlite::params![seq as i64 + 1, now, call],
            )?;
        }
    }
    tx.commit()
}

/// What `taskdist resume` does with a database, short of running anything.
fn resumed(path: &Path) -> Result<(), String> {
    let (store, saved) = Store::open(path).map_err(|e| e.to_string())?;
    let text = store.scenario_text().map_err(|e| e.to_string())?;
    store
        .check_scenario(&saved, &text)
        .map_err(|e| e.to_string())?;
    let (scenario, issues) =
        Scenario::parse(&text, Format::Toml, "sleep.toml").map_err(|e| e.to_string())?;
    let (_, plan) = Plan::from_scenario(scenario, issues).map_err(|e| e.to_string())?;
    let history = store.journal().map_err(|e| e.to_string())?;
    let recorded = store
        .recorded_attempts(plan.len())
        .map_err(|e| e.to_string())?;
    let stop = tokio_util::sync::CancellationToken::new();
    stop.cancel();
    let runner = Runner::new(Arc::new(plan), saved.config)
        .journal(Box::new(store))
        .stop_grace_ms(0)
        .resume(history, Some(recorded));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime
        .block_on(runner.run(stop))
        .map(|_| ())
        .map_err(|e| e.to_string())
}
