//! The run database: creation, the refusal cases, and a runner recording into it.

use super::*;
use crate::model::{Format, Scenario};
use crate::runtime::{Agent, BoxFuture, Job, Report, Runner};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

const TEXT: &str = "time_unit='ms'\n[config]\nbackoff_base=5\nbackoff_max=5\n\
    [[agents]]\ncount=2\n\
    [[tasks]]\nid='a'\nestimated_duration=20\nfiles_to_modify=['src/a.rs']\nfiles_to_read=['cfg']\n\
    [[tasks]]\nid='b'\nestimated_duration=20\ndepends_on=['a']\n\
    [[tasks]]\nid='c'\nestimated_duration=20\nblocked_by=['a']\n";

use crate::scratch::{Scratch, scratch};

fn setup(name: &str) -> (Scratch, Scenario, Arc<Plan>) {
    let (scenario, issues) = Scenario::parse(TEXT, Format::Toml, "t.toml").unwrap();
    let (scenario, plan) = Plan::from_scenario(scenario, issues).unwrap();
    (scratch(name), scenario, Arc::new(plan))
}

fn create(dir: &Path, scenario: &Scenario, plan: &Plan) -> Result<Store, StoreError> {
    Store::create(
        &dir.join("run.db"),
        plan,
        &NewRun {
            scenario_path: &dir.join("t.toml"),
            scenario_text: TEXT,
            config: &scenario.config,
            agents: &scenario.agents,
            exec: None,
            workdir: dir,
            run_dir: dir,
            events: Some("-"),
        },
    )
}

#[test]
fn the_broker_url_is_kept_for_resume() {
    let (dir, scenario, plan) = setup("broker");
    let store = create(&dir, &scenario, &plan).unwrap();
    assert_eq!(store.broker(), None);
    store.set_broker("redis://127.0.0.1:7000/2").unwrap();
    drop(store);
    let (store, _) = Store::open(&dir.join("run.db")).unwrap();
    assert_eq!(store.broker().as_deref(), Some("redis://127.0.0.1:7000/2"));
}

/// The scenario text lives apart from the session row (whose progress every step
/// rewrites); a database made before that keeps it in the row, and still opens with it.
#[test]
fn the_scenario_text_is_apart_from_the_session_row_and_older_databases_still_read() {
    let (dir, scenario, plan) = setup("scenario-text");
    drop(create(&dir, &scenario, &plan).unwrap());
    let db = dir.join("run.db");
    let conn = rusqlite::Connection::open(&db).unwrap();
    let in_row: String = conn
        .query_row("SELECT scenario_text FROM distribution_sessions", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(in_row, "");
    // What an older database looks like: the text in the row, no session_scenario table.
    conn.execute_batch(&format!(
        "DROP TABLE session_scenario;
         UPDATE distribution_sessions SET scenario_text = '{}';",
        TEXT.replace('\'', "''")
    ))
    .unwrap();
    drop(conn);
    let (store, _) = Store::open(&db).unwrap();
    assert_eq!(store.scenario_text().unwrap(), TEXT);
}

#[test]
fn a_created_database_opens_with_what_it_was_given() {
    let (dir, scenario, plan) = setup("roundtrip");
    drop(create(&dir, &scenario, &plan).unwrap());
    let (store, saved) = Store::open(&dir.join("run.db")).unwrap();
    assert_eq!(saved.config, scenario.config);
    assert_eq!(saved.agents, scenario.agents);
    assert_eq!(saved.scenario_path, dir.join("t.toml"));
    assert_eq!(saved.events.as_deref(), Some("-"));
    assert_eq!(saved.status, "running");
    assert_eq!(saved.processes, 1);
    assert_eq!(store.scenario_text().unwrap(), TEXT);
    store.check_scenario(&saved, TEXT).unwrap();
    let err = store
        .check_scenario(&saved, &TEXT.replace("20", "30"))
        .unwrap_err();
    assert!(err.to_string().contains("changed since the run"), "{err}");
    let deps: Vec<(String, String, String)> = store
        .conn
        .prepare("SELECT task_id, depends_on, kind FROM task_dependencies ORDER BY task_id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        deps,
        [
            ("b".into(), "a".into(), "depends_on".into()),
            ("c".into(), "a".into(), "blocked_by".into())
        ]
    );
}

#[test]
fn create_never_replaces_a_file() {
    let (dir, scenario, plan) = setup("exists");
    std::fs::write(dir.join("run.db"), "precious").unwrap();
    let err = create(&dir, &scenario, &plan).unwrap_err();
    assert!(
        matches!(err, StoreError::Exists { finished: None, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("taskdist resume"), "{err}");
    assert_eq!(std::fs::read(dir.join("run.db")).unwrap(), b"precious");
}

/// A second `run` into the database of a finished run is told that there is nothing to
/// resume; into an unfinished one, how to resume it.
#[test]
fn create_over_a_run_says_whether_it_can_be_resumed() {
    let (dir, scenario, plan) = setup("exists-run");
    drop(create(&dir, &scenario, &plan).unwrap());
    let err = create(&dir, &scenario, &plan).unwrap_err();
    assert!(
        matches!(err, StoreError::Exists { finished: None, .. }),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("resume that run with `taskdist resume"),
        "{err}"
    );
    rusqlite::Connection::open(dir.join("run.db"))
        .unwrap()
        .execute("UPDATE distribution_sessions SET status = 'completed'", [])
        .unwrap();
    let before = std::fs::read(dir.join("run.db")).unwrap();
    let err = create(&dir, &scenario, &plan).unwrap_err();
    assert!(
        matches!(&err, StoreError::Exists { finished: Some(status), .. } if status == "completed"),
        "{err}"
    );
    let message = err.to_string();
    assert!(
        message.contains("has already finished (completed)"),
        "{message}"
    );
    assert!(!message.contains("taskdist resume"), "{message}");
    assert_eq!(std::fs::read(dir.join("run.db")).unwrap(), before);
}

#[test]
fn foreign_empty_missing_newer_and_busy_databases_are_refused_untouched() {
    let (dir, scenario, plan) = setup("refusals");
    let refuse = |path: &Path| {
        let before = std::fs::read(path).ok();
        let err = Store::open(path).unwrap_err();
        assert_eq!(
            std::fs::read(path).ok(),
            before,
            "{} changed",
            path.display()
        );
        err
    };
    assert!(matches!(
        refuse(&dir.join("none.db")),
        StoreError::NotFound { .. }
    ));
    std::fs::write(dir.join("text.db"), "hello, this is not a database at all").unwrap();
    let err = refuse(&dir.join("text.db"));
    assert!(err.to_string().contains("not an SQLite database"), "{err}");
    std::fs::write(dir.join("empty.db"), "").unwrap();
    assert!(refuse(&dir.join("empty.db")).to_string().contains("empty"));
    let other = dir.join("other.db");
    Connection::open(&other)
        .unwrap()
        .execute_batch("CREATE TABLE songs (title TEXT)")
        .unwrap();
    let err = refuse(&other);
    assert!(err.to_string().contains("another program"), "{err}");

    drop(create(&dir, &scenario, &plan).unwrap());
    let ours = dir.join("run.db");
    let held = Store::open(&ours).unwrap();
    assert!(matches!(refuse(&ours), StoreError::InUse { .. }));
    drop(held);
    Connection::open(&ours)
        .unwrap()
        .execute_batch("PRAGMA user_version = 9")
        .unwrap();
    assert!(matches!(
        refuse(&ours),
        StoreError::NewerSchema { version: 9, .. }
    ));
}

#[test]
fn a_damaged_database_is_reported_as_corrupt() {
    let (dir, scenario, plan) = setup("corrupt");
    drop(create(&dir, &scenario, &plan).unwrap());
    let path = dir.join("run.db");
    // Fold the WAL into the file, then scribble over every page after the first.
    Connection::open(&path)
        .unwrap()
        .execute_batch("PRAGMA wal_checkpoint(TRUNCATE); PRAGMA journal_mode = DELETE;")
        .unwrap();
    let mut bytes = std::fs::read(&path).unwrap();
    let page = 4096.min(bytes.len() / 2);
    for (i, b) in bytes[page..].iter_mut().enumerate() {
        *b = (i * 7 % 251) as u8;
    }
    std::fs::write(&path, &bytes).unwrap();
    let err = Store::open(&path).unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), bytes);

    // A journal entry that does not parse is corruption too, named by its number.
    let (dir, scenario, plan) = setup("bad-entry");
    let store = create(&dir, &scenario, &plan).unwrap();
    store
        .conn
        .execute(
            "INSERT INTO journal (session_id, process, now_ms, call) VALUES (1, 1, 0, '{\"call\":\"dance\"}')",
            [],
        )
        .unwrap();
    let err = store.journal().unwrap_err();
    assert!(
        err.to_string().contains("journal entry 1 does not parse"),
        "{err}"
    );
}

/// task, attempt, status, last error, retry count, locks held, result.
type Row = (
    String,
    u32,
    String,
    Option<String>,
    u32,
    String,
    Option<String>,
);

/// Fails each task's first attempt, then succeeds.
struct SecondTime;

impl Agent for SecondTime {
    fn execute<'a>(&'a self, job: Job, _: CancellationToken) -> BoxFuture<'a, Report> {
        Box::pin(async move {
            job.started();
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            if job.attempt == 1 {
                Report::Failed {
                    error: format!("{} broke", job.spec().id),
                }
            } else {
                Report::Succeeded {
                    result: Some("fine".into()),
                }
            }
        })
    }
}

#[test]
fn a_run_is_recorded_attempt_by_attempt_and_its_journal_reads_back() {
    let (dir, scenario, plan) = setup("recorded");
    let store = create(&dir, &scenario, &plan).unwrap();
    let mut runner = Runner::new(plan.clone(), scenario.config.clone()).journal(Box::new(store));
    for spec in &scenario.agents {
        runner = runner.agent(spec.clone(), Arc::new(SecondTime));
    }
    let outcome = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(runner.run(CancellationToken::new()))
        .unwrap();
    assert_eq!(outcome.progress.completed_tasks, 3);

    let (store, saved) = Store::open(&dir.join("run.db")).unwrap();
    assert_eq!(saved.status, "completed");
    assert!(saved.is_finished());
    assert_eq!(store.recorded_attempts(3).unwrap(), [2, 2, 2]);
    let rows: Vec<Row> = store
        .conn
        .prepare(
            "SELECT task_id, attempt, status, last_error, retry_count, locks_held, result
             FROM task_assignments ORDER BY id",
        )
        .unwrap()
        .query_map([], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
            ))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(rows.len(), outcome.trace.len());
    assert_eq!(
        rows[0],
        (
            "a".into(),
            1,
            "failed".into(),
            Some("a broke".into()),
            1,
            r#"[{"file":"src/a.rs","mode":"write"},{"file":"cfg","mode":"read"}]"#.into(),
            None
        )
    );
    assert!(
        rows.iter()
            .filter(|r| r.1 == 2)
            .all(|r| r.2 == "completed" && r.6.as_deref() == Some("fine") && r.4 == 1)
    );
    let statuses: Vec<String> = store
        .conn
        .prepare("SELECT status FROM distributed_tasks ORDER BY task_index")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(statuses, ["completed"; 3]);

    // Replaying the journal into a fresh core gives the same trace.
    let history = store.journal().unwrap();
    assert!(history.len() > 10);
    let mut core = crate::core::Scheduler::new(plan.clone(), scenario.config.clone());
    for entry in &history {
        match &entry.call {
            Call::Input { input } => core.handle_input(entry.now, input.clone()),
            Call::Timeout => core.handle_timeout(entry.now),
        }
    }
    assert!(core.is_finished());
    assert_eq!(core.stats(), outcome.stats);
}

/// The steps of `sql`'s query plan that read more than the rows it names: a full scan of
/// a table, or a search on the session alone (a database holds one session, so that reads
/// every row of the table). Parameters are left unbound: the plan does not depend on them.
fn wide_reads(conn: &Connection, sql: &str) -> Vec<String> {
    let mut plan = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
    let mut rows = plan.raw_query();
    let mut wide = Vec::new();
    while let Some(row) = rows.next().unwrap() {
        let detail: String = row.get(3).unwrap();
        if detail.starts_with("SCAN") || detail.ends_with("(session_id=?)") {
            wide.push(detail);
        }
    }
    wide
}

/// Every statement a run executes per step or per event finds its rows through a key or
/// an index on all it names (`EXPLAIN QUERY PLAN`), so the cost of an event does not grow
/// with the number of attempts or tasks on record; the check catches the statement that
/// scanned before its index existed, and a database made before the index gets it on open.
#[test]
fn every_hot_path_statement_uses_an_index() {
    let (dir, scenario, plan) = setup("plans");
    let store = create(&dir, &scenario, &plan).unwrap();
    for sql in HOT_PATH {
        assert_eq!(wide_reads(&store.conn, sql), Vec::<String>::new(), "{sql}");
    }
    store
        .conn
        .execute_batch("DROP INDEX task_assignments_by_task_id")
        .unwrap();
    assert_eq!(
        wide_reads(&store.conn, ATTEMPT_START).len(),
        1,
        "without the index, an attempt's update reads the whole table"
    );
    drop(store);
    let (store, _) = Store::open(&dir.join("run.db")).unwrap();
    assert!(wide_reads(&store.conn, ATTEMPT_START).is_empty());
}
