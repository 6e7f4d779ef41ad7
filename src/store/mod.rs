//! SQLite persistence of real runs, and what resume needs to continue one.
//!
//! A run database (rusqlite, SQLite bundled, WAL) holds one distribution: the original
//! TaskDistributor's four tables (`distribution_sessions`, `distributed_tasks`,
//! `task_dependencies`, `task_assignments` with one row per attempt) and the append-only
//! `journal` of every call into the scheduling core (see `schema.sql`). [`Store`]
//! implements the runner's [`Journal`]: each step's journal entries and the table updates
//! they imply go in one transaction, committed before the step's decisions are carried
//! out.
//!
//! Opening is careful: a file that is not SQLite, an SQLite database of something else, a
//! newer schema, a damaged database or one in use by another taskdist process is refused
//! with a clear error before anything is written, and `create` never replaces a file.
//! One process at a time holds a run database (an advisory `flock` on the file).

use crate::core::{EventKind, Input, Progress, TaskStatus};
use crate::model::{AgentSpec, CommandSpec, Config, Time};
use crate::plan::{EdgeKind, LockMode, Plan};
use crate::runtime::{Batch, Call, Journal, JournalEntry, JournalError, RunStatus};
use nix::fcntl::{Flock, FlockArg};
use rusqlite::{Connection, OpenFlags, params};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// `PRAGMA application_id` of taskdist databases: "tdst".
pub const APPLICATION_ID: i32 = 0x7464_7374;
/// The schema version this build writes and reads (`PRAGMA user_version`).
pub const SCHEMA_VERSION: i32 = 1;

const SCHEMA: &str = include_str!("schema.sql");
/// Indexes beyond the keys, made with the schema and ensured on every open.
const INDEXES: &str = include_str!("indexes.sql");
/// Messages of remote workers the coordinator ignored as stale (a late result, a
/// duplicate, another instance's): made with the database and, for databases made before
/// it, when one is opened (it holds no data of the run, so the schema version stays).
const STALE_TABLE: &str = "CREATE TABLE IF NOT EXISTS stale_messages (
    id           INTEGER PRIMARY KEY,
    session_id   INTEGER NOT NULL REFERENCES distribution_sessions(id),
    kind         TEXT NOT NULL,     -- started, share, result, bye
    worker       TEXT NOT NULL,
    instance     TEXT NOT NULL,
    coordinator  TEXT,              -- the coordinator instance the message named
    task_index   INTEGER,
    attempt      INTEGER,
    entry        TEXT NOT NULL,     -- its taskdist:up stream entry id
    reason       TEXT NOT NULL,
    recorded_at  INTEGER NOT NULL   -- unix ms
);";

/// The scenario file's text, apart from the session row: every step of a run updates that
/// row's progress columns, and SQLite rewrites a whole row on update, so a text of
/// megabytes there made each update cost the size of the plan. Made with the database and,
/// for databases made before it, when one is opened; their text stays in
/// `distribution_sessions.scenario_text`, which is empty in databases made since.
const SCENARIO_TABLE: &str = "CREATE TABLE IF NOT EXISTS session_scenario (
    session_id   INTEGER PRIMARY KEY REFERENCES distribution_sessions(id),
    text         TEXT NOT NULL
);";

/// The run database's file name inside a run directory.
pub const DB_FILE: &str = "taskdist.db";

/// The only session of a run database.
const SESSION: i64 = 1;

/// Why a run database cannot be created, opened or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// `create` found a file already there.
    #[error("{}", exists_message(.path, .finished.as_deref()))]
    Exists {
        /// The path.
        path: PathBuf,
        /// The status of the run in it, when it is a taskdist run that has ended for good
        /// (there is then nothing to resume).
        finished: Option<String>,
    },
    /// `open` found no file.
    #[error("{}: no such run database", .path.display())]
    NotFound {
        /// The path.
        path: PathBuf,
    },
    /// The file is not a taskdist run database: not SQLite, or another program's.
    #[error("{} is not a taskdist run database: {reason}; nothing was changed", .path.display())]
    Foreign {
        /// The path.
        path: PathBuf,
        /// What it is instead.
        reason: String,
    },
    /// A later taskdist wrote it.
    #[error("{} has schema version {version}, newer than this taskdist reads ({SCHEMA_VERSION}); nothing was changed", .path.display())]
    NewerSchema {
        /// The path.
        path: PathBuf,
        /// Its version.
        version: i32,
    },
    /// The database is damaged.
    #[error("{} is corrupt: {detail}; nothing was changed", .path.display())]
    Corrupt {
        /// The path.
        path: PathBuf,
        /// What SQLite or the journal check found.
        detail: String,
    },
    /// Another process holds the database.
    #[error("{} is in use by another taskdist process", .path.display())]
    InUse {
        /// The path.
        path: PathBuf,
    },
    /// The scenario file of the run is gone.
    #[error("the run's scenario {} cannot be read: {source}", .path.display())]
    ScenarioMissing {
        /// The scenario path recorded in the database.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The scenario file changed since the run started.
    #[error("the scenario {} changed since the run in {} started (sha256 {recorded} then, {now} now); restore it, or start a new run", .path.display(), .db.display())]
    ScenarioChanged {
        /// The scenario path.
        path: PathBuf,
        /// The run database.
        db: PathBuf,
        /// Hash on record (first 16 hex digits).
        recorded: String,
        /// Hash of the file now (first 16 hex digits).
        now: String,
    },
    /// SQLite failed.
    #[error("{}: {source}", .path.display())]
    Sqlite {
        /// The database.
        path: PathBuf,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },
    /// A file operation failed.
    #[error("{}: {source}", .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

/// What a new run records about itself.
#[derive(Debug, Clone)]
pub struct NewRun<'a> {
    /// The scenario file, absolute.
    pub scenario_path: &'a Path,
    /// Its bytes as read.
    pub scenario_text: &'a str,
    /// The configuration in force.
    pub config: &'a Config,
    /// The agents, in registration order.
    pub agents: &'a [AgentSpec],
    /// The `--exec` command.
    pub exec: Option<&'a CommandSpec>,
    /// Where commands run, absolute.
    pub workdir: &'a Path,
    /// The run directory, absolute.
    pub run_dir: &'a Path,
    /// The `--events` target (`-` for stdout).
    pub events: Option<&'a str>,
}

/// What a run database says about its run, for resume.
#[derive(Debug, Clone, PartialEq)]
pub struct SavedRun {
    /// The scenario file.
    pub scenario_path: PathBuf,
    /// SHA-256 of its bytes when the run started.
    pub scenario_sha256: String,
    /// The configuration in force.
    pub config: Config,
    /// The agents, in registration order.
    pub agents: Vec<AgentSpec>,
    /// The `--exec` command.
    pub exec: Option<CommandSpec>,
    /// Where commands run.
    pub workdir: PathBuf,
    /// The run directory.
    pub run_dir: PathBuf,
    /// The `--events` target.
    pub events: Option<String>,
    /// `running` (the last process died), `completed`, `failed`, `interrupted` or `stalled`.
    pub status: String,
    /// Processes that worked on the run so far.
    pub processes: u32,
}

impl SavedRun {
    /// Whether the run has ended for good, so there is nothing to resume.
    pub fn is_finished(&self) -> bool {
        matches!(self.status.as_str(), "completed" | "failed")
    }
}

/// One row of `task_assignments`: an attempt as the run recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptRow {
    /// The task's index in the plan.
    pub task_index: u32,
    /// The agent's id.
    pub agent_id: String,
    /// The attempt number.
    pub attempt: u32,
    /// `assigned`, `running`, `completed`, `failed`, `timed_out`, `lost` or `cancelled`.
    pub status: String,
    /// When it was assigned (core time).
    pub assigned_ms: Time,
    /// When the agent began it, if it said so.
    pub started_ms: Option<Time>,
    /// When it ended, if it did.
    pub ended_ms: Option<Time>,
}

/// SHA-256 of a scenario's bytes, in lowercase hex.
pub fn scenario_sha256(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// An open run database, held by this process.
pub struct Store {
    conn: Connection,
    path: PathBuf,
    process: i64,
    /// Held for as long as the store lives; dropped after `conn` (field order).
    _lock: Flock<File>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.path)
            .field("process", &self.process)
            .finish()
    }
}

impl Store {
    /// Creates a run database at `path` for a new run of `plan`; refuses if any file is
    /// there.
    pub fn create(path: &Path, plan: &Plan, run: &NewRun<'_>) -> Result<Store, StoreError> {
        let io = |source| StoreError::Io {
            path: path.to_path_buf(),
            source,
        };
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|source| StoreError::Io {
                path: parent.to_path_buf(),
                source,
            })?;
        }
        let file = match File::create_new(path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(StoreError::Exists {
                    path: path.to_path_buf(),
                    finished: finished_status(path),
                });
            }
            Err(e) => return Err(io(e)),
        };
        let lock = lock(file, path)?;
        let sql = |source| StoreError::Sqlite {
            path: path.to_path_buf(),
            source,
        };
        let mut conn = Connection::open(path).map_err(sql)?;
        conn.execute_batch(&format!(
            "PRAGMA application_id = {APPLICATION_ID};
             PRAGMA user_version = {SCHEMA_VERSION};
             PRAGMA journal_mode = WAL;"
        ))
        .map_err(sql)?;
        configure(&conn).map_err(sql)?;
        let tx = conn.transaction().map_err(sql)?;
        tx.execute_batch(SCHEMA).map_err(sql)?;
        tx.execute_batch(INDEXES).map_err(sql)?;
        tx.execute_batch(STALE_TABLE).map_err(sql)?;
        tx.execute_batch(SCENARIO_TABLE).map_err(sql)?;
        insert_run(&tx, plan, run).map_err(sql)?;
        tx.commit().map_err(sql)?;
        Ok(Store {
            conn,
            path: path.to_path_buf(),
            process: 1,
            _lock: lock,
        })
    }

    /// Opens an existing run database after checking, read-only, that it is a sound
    /// taskdist database; returns it with what it says about its run.
    pub fn open(path: &Path) -> Result<(Store, SavedRun), StoreError> {
        let foreign = |reason: &str| StoreError::Foreign {
            path: path.to_path_buf(),
            reason: reason.to_string(),
        };
        let metadata = match std::fs::metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(StoreError::NotFound {
                    path: path.to_path_buf(),
                });
            }
            Err(source) => {
                return Err(StoreError::Io {
                    path: path.to_path_buf(),
                    source,
                });
            }
        };
        if metadata.is_dir() {
            return Err(foreign("it is a directory"));
        }
        if metadata.len() == 0 {
            return Err(foreign("the file is empty"));
        }
        let mut header = [0u8; 16];
        let read = File::open(path).and_then(|mut f| {
            use std::io::Read;
            f.read(&mut header)
        });
        match read {
            Ok(16) if &header == b"SQLite format 3\0" => {}
            Ok(_) => return Err(foreign("not an SQLite database")),
            Err(source) => {
                return Err(StoreError::Io {
                    path: path.to_path_buf(),
                    source,
                });
            }
        }
        verify(path)?;
        let file = File::open(path).map_err(|source| StoreError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let lock = lock(file, path)?;
        let sql = |source| StoreError::Sqlite {
            path: path.to_path_buf(),
            source,
        };
        let conn =
            Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE).map_err(sql)?;
        configure(&conn).map_err(sql)?;
        conn.execute_batch(INDEXES).map_err(sql)?;
        conn.execute_batch(STALE_TABLE).map_err(sql)?;
        conn.execute_batch(SCENARIO_TABLE).map_err(sql)?;
        let saved = read_run(&conn).map_err(|e| corrupt(path, e))?;
        let store = Store {
            conn,
            path: path.to_path_buf(),
            process: saved.processes as i64,
            _lock: lock,
        };
        Ok((store, saved))
    }

    /// Records the broker URL of a run with remote workers, for `resume` (keys are never
    /// stored).
    pub fn set_broker(&self, url: &str) -> Result<(), StoreError> {
        self.conn
            .execute(
                "UPDATE distribution_sessions SET broker = ?1 WHERE id = ?2",
                params![url, SESSION],
            )
            .map(|_| ())
            .map_err(|source| StoreError::Sqlite {
                path: self.path.clone(),
                source,
            })
    }

    /// The broker URL recorded by [`Store::set_broker`]; `None` for a local run, and for
    /// databases written before the column existed.
    pub fn broker(&self) -> Option<String> {
        self.conn
            .query_row(
                "SELECT broker FROM distribution_sessions WHERE id = ?1",
                [SESSION],
                |row| row.get(0),
            )
            .ok()
            .flatten()
    }

    /// A second connection to the database that records stale messages of remote workers
    /// (the broker's side writes them as they come, apart from the runner's steps).
    pub fn stale_recorder(&self) -> Result<StaleRecorder, StoreError> {
        let sql = |source| StoreError::Sqlite {
            path: self.path.clone(),
            source,
        };
        let conn = Connection::open_with_flags(&self.path, OpenFlags::SQLITE_OPEN_READ_WRITE)
            .map_err(sql)?;
        configure(&conn).map_err(sql)?;
        Ok(StaleRecorder {
            conn,
            path: self.path.clone(),
        })
    }

    /// Every stale message recorded by a [`StaleRecorder`], in order.
    pub fn stale_messages(&self) -> Result<Vec<StaleMessage>, StoreError> {
        let sql = |source| StoreError::Sqlite {
            path: self.path.clone(),
            source,
        };
        let mut stmt = self
            .conn
            .prepare(
                "SELECT kind, worker, instance, coordinator, task_index, attempt, entry, reason
                 FROM stale_messages WHERE session_id = ?1 ORDER BY id",
            )
            .map_err(sql)?;
        let rows = stmt
            .query_map([SESSION], |row| {
                Ok(StaleMessage {
                    kind: row.get(0)?,
                    worker: row.get(1)?,
                    instance: row.get(2)?,
                    coordinator: row.get(3)?,
                    task_index: row.get(4)?,
                    attempt: row.get(5)?,
                    entry: row.get(6)?,
                    reason: row.get(7)?,
                })
            })
            .map_err(sql)?;
        rows.collect::<Result<_, _>>().map_err(sql)
    }

    /// The database's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Checks that `text`, the scenario file read now, is the one the run started with.
    pub fn check_scenario(&self, saved: &SavedRun, text: &str) -> Result<(), StoreError> {
        let now = scenario_sha256(text);
        if now == saved.scenario_sha256 {
            return Ok(());
        }
        Err(StoreError::ScenarioChanged {
            path: saved.scenario_path.clone(),
            db: self.path.clone(),
            recorded: saved.scenario_sha256.chars().take(16).collect(),
            now: now.chars().take(16).collect(),
        })
    }

    /// The scenario text the run started with.
    pub fn scenario_text(&self) -> Result<String, StoreError> {
        self.conn
            .query_row(
                "SELECT COALESCE(
                    (SELECT text FROM session_scenario WHERE session_id = ?1), scenario_text)
                 FROM distribution_sessions WHERE id = ?1",
                [SESSION],
                |row| row.get(0),
            )
            .map_err(|e| corrupt(&self.path, e))
    }

    /// Every journal entry, in order. An entry that does not parse is corruption.
    pub fn journal(&self) -> Result<Vec<JournalEntry>, StoreError> {
        let rows = self.journal_rows("seq, now_ms, call", |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, i64>(1)?,
                row.get::<_, String>(2)?,
            ))
        })?;
        rows.into_iter()
            .map(|(seq, now, call)| {
                let call: Call = serde_json::from_str(&call).map_err(|e| StoreError::Corrupt {
                    path: self.path.clone(),
                    detail: format!("journal entry {seq} does not parse: {e}"),
                })?;
                let now = u64::try_from(now).map_err(|_| StoreError::Corrupt {
                    path: self.path.clone(),
                    detail: format!("journal entry {seq} has a negative time {now}"),
                })?;
                Ok(JournalEntry { now, call })
            })
            .collect()
    }

    /// The process (1 for the first run, one more for each resume) that journaled each
    /// entry, in the journal's order: where a resume took over.
    pub fn journal_processes(&self) -> Result<Vec<u32>, StoreError> {
        let rows = self.journal_rows("process", |row| row.get::<_, i64>(0))?;
        rows.into_iter()
            .map(|process| {
                u32::try_from(process).map_err(|_| StoreError::Corrupt {
                    path: self.path.clone(),
                    detail: format!("a journal entry names process {process}"),
                })
            })
            .collect()
    }

    /// `columns` of this session's journal rows in order, each read by `read`; a row that
    /// cannot be read makes the store corrupt.
    fn journal_rows<T>(
        &self,
        columns: &str,
        read: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(&format!(
                "SELECT {columns} FROM journal WHERE session_id = ?1 ORDER BY seq"
            ))
            .map_err(|e| corrupt(&self.path, e))?;
        let rows = stmt
            .query_map([SESSION], read)
            .map_err(|e| corrupt(&self.path, e))?;
        rows.map(|row| row.map_err(|e| corrupt(&self.path, e)))
            .collect()
    }

    /// The latest attempt number on record for each of `tasks` tasks (0: never run).
    pub fn recorded_attempts(&self, tasks: usize) -> Result<Vec<u32>, StoreError> {
        let mut attempts = vec![0; tasks];
        let mut stmt = self
            .conn
            .prepare(
                "SELECT task_index, MAX(attempt) FROM task_assignments
                 WHERE session_id = ?1 GROUP BY task_index",
            )
            .map_err(|e| corrupt(&self.path, e))?;
        let rows = stmt
            .query_map([SESSION], |row| {
                Ok((row.get::<_, i64>(0)?, row.get::<_, i64>(1)?))
            })
            .map_err(|e| corrupt(&self.path, e))?;
        for row in rows {
            let (task, attempt) = row.map_err(|e| corrupt(&self.path, e))?;
            let slot = usize::try_from(task)
                .ok()
                .and_then(|t| attempts.get_mut(t))
                .ok_or_else(|| StoreError::Corrupt {
                    path: self.path.clone(),
                    detail: format!("an attempt of task index {task}, which the plan lacks"),
                })?;
            *slot = u32::try_from(attempt).unwrap_or(u32::MAX);
        }
        Ok(attempts)
    }

    /// Every attempt on record, in assignment order. A negative time is corruption.
    pub fn attempts(&self) -> Result<Vec<AttemptRow>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT task_index, agent_id, attempt, status, assigned_ms, started_ms, ended_ms
                 FROM task_assignments WHERE session_id = ?1 ORDER BY id",
            )
            .map_err(|e| corrupt(&self.path, e))?;
        let time = |ms: i64| {
            Time::try_from(ms).map_err(|_| StoreError::Corrupt {
                path: self.path.clone(),
                detail: format!("an attempt has a negative time {ms}"),
            })
        };
        let rows = stmt
            .query_map([SESSION], |row| {
                Ok((
                    row.get::<_, u32>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, u32>(2)?,
                    row.get::<_, String>(3)?,
                    row.get::<_, i64>(4)?,
                    row.get::<_, Option<i64>>(5)?,
                    row.get::<_, Option<i64>>(6)?,
                ))
            })
            .map_err(|e| corrupt(&self.path, e))?;
        let mut attempts = Vec::new();
        for row in rows {
            let (task_index, agent_id, attempt, status, assigned, started, ended) =
                row.map_err(|e| corrupt(&self.path, e))?;
            attempts.push(AttemptRow {
                task_index,
                agent_id,
                attempt,
                status,
                assigned_ms: time(assigned)?,
                started_ms: started.map(time).transpose()?,
                ended_ms: ended.map(time).transpose()?,
            });
        }
        Ok(attempts)
    }

    /// Marks the start of another process working on the run (a resume); the runner does
    /// this through [`Journal::resume`] once the journal has replayed cleanly.
    pub fn begin_resume(&mut self) -> Result<(), StoreError> {
        self.process += 1;
        self.conn
            .execute(
                "UPDATE distribution_sessions
                 SET status = 'running', processes = ?2, stall_reason = NULL, updated_at = ?3
                 WHERE id = ?1",
                params![SESSION, self.process, unix_ms()],
            )
            .map_err(|source| StoreError::Sqlite {
                path: self.path.clone(),
                source,
            })?;
        Ok(())
    }

    fn write_batch(&mut self, batch: Batch<'_>) -> rusqlite::Result<()> {
        let process = self.process;
        let tx = self.conn.transaction()?;
        {
            let mut journal = tx.prepare_cached(JOURNAL_INSERT)?;
            for entry in batch.entries {
                let call = serde_json::to_string(&entry.call).expect("calls serialize");
                journal.execute(params![SESSION, process, entry.now as i64, call])?;
            }
        }
        let shutdown = batch.entries.iter().any(|e| {
            matches!(
                e.call,
                Call::Input {
                    input: Input::Shutdown
                }
            )
        });
        for event in batch.events {
            record_event(&tx, process, event.time as i64, &event.kind, shutdown)?;
        }
        {
            let mut status = tx.prepare_cached(TASK_STATUS)?;
            for &(t, s) in batch.statuses {
                status.execute(params![SESSION, t.0, status_name(s)])?;
            }
        }
        update_progress(&tx, batch.progress, "running", None)?;
        tx.commit()
    }
}

impl Journal for Store {
    fn commit(&mut self, batch: Batch<'_>) -> Result<(), JournalError> {
        let path = self.path.clone();
        self.write_batch(batch)
            .map_err(|source| Box::new(StoreError::Sqlite { path, source }) as JournalError)
    }

    fn resume(&mut self) -> Result<(), JournalError> {
        self.begin_resume().map_err(|e| Box::new(e) as JournalError)
    }

    fn finish(&mut self, status: &RunStatus, progress: &Progress) -> Result<(), JournalError> {
        let reason = match status {
            RunStatus::Stalled { reason } => Some(reason.as_str()),
            _ => None,
        };
        update_progress(&self.conn, progress, status.as_str(), reason).map_err(|source| {
            Box::new(StoreError::Sqlite {
                path: self.path.clone(),
                source,
            }) as JournalError
        })
    }
}

/// Takes the advisory lock that keeps a second taskdist process off the database.
fn lock(file: File, path: &Path) -> Result<Flock<File>, StoreError> {
    Flock::lock(file, FlockArg::LockExclusiveNonblock).map_err(|(_, errno)| {
        if errno == nix::errno::Errno::EWOULDBLOCK {
            StoreError::InUse {
                path: path.to_path_buf(),
            }
        } else {
            StoreError::Io {
                path: path.to_path_buf(),
                source: errno.into(),
            }
        }
    })
}

/// Durability: WAL with `synchronous = NORMAL`. A committed step survives the runner being
/// killed (the WAL is written before the commit returns); only a power cut or an OS crash
/// may lose the last steps, never corrupt the database, and a resume then re-runs the
/// attempts they recorded. A sync per step (`FULL`) would cost several milliseconds per
/// task on ordinary disks.
fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(
        "PRAGMA synchronous = NORMAL;
         PRAGMA foreign_keys = ON;
         PRAGMA busy_timeout = 2000;",
    )
}

/// What [`StoreError::Exists`] says: resume the run in the file, unless it has finished.
fn exists_message(path: &Path, finished: Option<&str>) -> String {
    let path = path.display();
    match finished {
        Some(status) => format!(
            "{path} holds a run that has already finished ({status}); choose another \
             --db/--out, or remove it to run the plan again"
        ),
        None => format!(
            "{path} already exists; resume that run with `taskdist resume {path}`, or choose \
             another --db/--out"
        ),
    }
}

/// The status of the run in the database at `path`, read without writing, if it is a sound
/// taskdist database whose run has ended for good; `None` for anything else.
fn finished_status(path: &Path) -> Option<String> {
    let conn = open_read_only(path).ok()?;
    verify_open(&conn, path).ok()?;
    let saved = read_run(&conn).ok()?;
    saved.is_finished().then_some(saved.status)
}

/// The database at `path`, opened so that nothing can be written to it.
fn open_read_only(path: &Path) -> rusqlite::Result<Connection> {
    Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
}

/// Read-only checks: ours, not newer, intact, with its one session.
fn verify(path: &Path) -> Result<(), StoreError> {
    let conn = open_read_only(path).map_err(|e| corrupt(path, e))?;
    verify_open(&conn, path)
}

/// [`verify`] of a database already open (read-only) as `conn`.
fn verify_open(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    let pragma = |name: &str| -> Result<i32, StoreError> {
        conn.query_row(&format!("PRAGMA {name}"), [], |row| row.get(0))
            .map_err(|e| corrupt(path, e))
    };
    let application_id = pragma("application_id")?;
    if application_id != APPLICATION_ID {
        return Err(StoreError::Foreign {
            path: path.to_path_buf(),
            reason: if application_id == 0 {
                "an SQLite database of another program".to_string()
            } else {
                format!("an SQLite database with application id {application_id:#x}")
            },
        });
    }
    let version = pragma("user_version")?;
    if version > SCHEMA_VERSION {
        return Err(StoreError::NewerSchema {
            path: path.to_path_buf(),
            version,
        });
    }
    let check: String = conn
        .query_row("PRAGMA quick_check", [], |row| row.get(0))
        .map_err(|e| corrupt(path, e))?;
    if check != "ok" {
        return Err(StoreError::Corrupt {
            path: path.to_path_buf(),
            detail: check,
        });
    }
    let sessions: i64 = conn
        .query_row("SELECT COUNT(*) FROM distribution_sessions", [], |row| {
            row.get(0)
        })
        .map_err(|e| corrupt(path, e))?;
    if sessions != 1 {
        return Err(StoreError::Corrupt {
            path: path.to_path_buf(),
            detail: format!("{sessions} distribution sessions, expected 1"),
        });
    }
    Ok(())
}

fn corrupt(path: &Path, e: rusqlite::Error) -> StoreError {
    StoreError::Corrupt {
        path: path.to_path_buf(),
        detail: e.to_string(),
    }
}

fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn json<T: Serialize + ?Sized>(value: &T) -> String {
    serde_json::to_string(value).expect("plain data serializes")
}

fn text(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

/// The session, its tasks and their dependencies.
fn insert_run(conn: &Connection, plan: &Plan, run: &NewRun<'_>) -> rusqlite::Result<()> {
    let now = unix_ms();
    let c = run.config;
    conn.execute(
        "INSERT INTO distribution_sessions (
            id, scenario_path, scenario_sha256, scenario_text, config, agents, exec, workdir,
            run_dir, events, status, max_agents, max_retries, file_conflict_prevention,
            context_sharing, auto_reassignment, total_tasks, parallel_layers, created_at,
            updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 'running', ?11, ?12, ?13, ?14, ?15,
            ?16, ?17, ?18, ?18)",
        params![
            SESSION,
            text(run.scenario_path),
            scenario_sha256(run.scenario_text),
            "",
            json(c),
            json(run.agents),
            run.exec.map(json),
            text(run.workdir),
            text(run.run_dir),
            run.events,
            c.max_agents,
            c.max_retries_per_task,
            c.enable_file_conflict_prevention,
            c.enable_context_sharing,
            c.enable_auto_reassignment,
            plan.len() as i64,
            plan.layer_sizes().len() as i64,
            now,
        ],
    )?;
    conn.execute(
        "INSERT INTO session_scenario (session_id, text) VALUES (?1, ?2)",
        params![SESSION, run.scenario_text],
    )?;
    let mut task = conn.prepare(
        "INSERT INTO distributed_tasks (
            session_id, task_index, task_id, title, description, task_type, priority,
            estimated_duration_ms, files_to_modify, files_to_read, locks, command, layer, status)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
    )?;
    let mut dep = conn.prepare(
        "INSERT OR IGNORE INTO task_dependencies (session_id, task_id, depends_on, kind)
         VALUES (?1, ?2, ?3, ?4)",
    )?;
    #[derive(Serialize)]
    struct Lock<'a> {
        file: &'a str,
        mode: LockMode,
    }
    for t in plan.task_indices() {
        let spec = plan.task(t);
        let locks: Vec<Lock<'_>> = if c.enable_file_conflict_prevention {
            plan.locks(t)
                .iter()
                .map(|l| Lock {
                    file: &plan.files[l.file.ix()],
                    mode: l.mode,
                })
                .collect()
        } else {
            Vec::new()
        };
        let status = if plan.preds(t).is_empty() {
            "queued"
        } else {
            "pending"
        };
        task.execute(params![
            SESSION,
            t.0,
            &*spec.id,
            &*spec.title,
            spec.description,
            spec.task_type.as_str(),
            json(&spec.priority).trim_matches('"'),
            spec.estimated_duration_ms as i64,
            json(&spec.files_to_modify),
            json(&spec.files_to_read),
            json(&locks),
            spec.command.as_ref().map(json),
            plan.layer(t),
            status,
        ])?;
        for edge in plan.succs(t) {
            let kind = match edge.kind {
                EdgeKind::Needs => "depends_on",
                EdgeKind::After => "blocked_by",
            };
            dep.execute(params![SESSION, &*plan.task(edge.to).id, &*spec.id, kind])?;
        }
    }
    Ok(())
}

fn read_run(conn: &Connection) -> rusqlite::Result<SavedRun> {
    fn parse<T: serde::de::DeserializeOwned>(column: usize, text: String) -> rusqlite::Result<T> {
        serde_json::from_str(&text).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(column, rusqlite::types::Type::Text, e.into())
        })
    }
    conn.query_row(
        "SELECT scenario_path, scenario_sha256, config, agents, exec, workdir, run_dir, events,
                status, processes
         FROM distribution_sessions WHERE id = ?1",
        [SESSION],
        |row| {
            Ok(SavedRun {
                scenario_path: PathBuf::from(row.get::<_, String>(0)?),
                scenario_sha256: row.get(1)?,
                config: parse(2, row.get(2)?)?,
                agents: parse(3, row.get(3)?)?,
                exec: match row.get::<_, Option<String>>(4)? {
                    Some(text) => Some(parse(4, text)?),
                    None => None,
                },
                workdir: PathBuf::from(row.get::<_, String>(5)?),
                run_dir: PathBuf::from(row.get::<_, String>(6)?),
                events: row.get(7)?,
                status: row.get(8)?,
                processes: row.get(9)?,
            })
        },
    )
}

/// The store's words for the core's task statuses (the original's, plus `backoff` and
/// `skipped`).
fn status_name(status: TaskStatus) -> &'static str {
    match status {
        TaskStatus::Waiting => "pending",
        TaskStatus::Ready => "queued",
        TaskStatus::Blocked => "blocked",
        TaskStatus::Backoff => "backoff",
        TaskStatus::Running => "in_progress",
        TaskStatus::Completed => "completed",
        TaskStatus::Failed => "failed",
        TaskStatus::Skipped => "skipped",
    }
}

/// Keeps `task_assignments` (and the task counters) up to date with one event.
fn record_event(
    conn: &Connection,
    process: i64,
    time: i64,
    kind: &EventKind,
    shutdown: bool,
) -> rusqlite::Result<()> {
    match kind {
        EventKind::TaskExecute {
            task,
            agent,
            attempt,
            deadline,
            context_items,
        } => {
            conn.prepare_cached(ATTEMPT_INSERT)?.execute(params![
                SESSION,
                &**task,
                &**agent,
                attempt,
                time,
                *deadline as i64,
                *context_items as i64,
                process
            ])?;
            conn.prepare_cached(TASK_ATTEMPTS)?
                .execute(params![SESSION, &**task, attempt])?;
        }
        EventKind::TaskStart { task, attempt, .. } => {
            conn.prepare_cached(ATTEMPT_START)?
                .execute(params![SESSION, &**task, attempt, time])?;
        }
        EventKind::TaskComplete {
            task,
            attempt,
            result,
            ..
        } => {
            conn.prepare_cached(ATTEMPT_COMPLETE)?
                .execute(params![SESSION, &**task, attempt, time, result])?;
        }
        EventKind::TaskTimeout { task, attempt, .. } => {
            conn.prepare_cached(ATTEMPT_TIMEOUT)?
                .execute(params![SESSION, &**task, attempt, time])?;
        }
        EventKind::TaskFailed {
            task,
            attempt,
            error,
            retry_count,
            ..
        } => {
            conn.prepare_cached(ATTEMPT_FAIL)?.execute(params![
                SESSION,
                &**task,
                attempt,
                time,
                error,
                retry_count
            ])?;
            conn.prepare_cached(TASK_FAILURES)?
                .execute(params![SESSION, &**task, retry_count])?;
        }
        EventKind::TaskRequeued { task, attempt, .. } => {
            let status = if shutdown { "cancelled" } else { "lost" };
            conn.prepare_cached(ATTEMPT_REQUEUE)?
                .execute(params![SESSION, &**task, attempt, time, status])?;
        }
        _ => {}
    }
    Ok(())
}

fn update_progress(
    conn: &Connection,
    p: &Progress,
    status: &str,
    stall_reason: Option<&str>,
) -> rusqlite::Result<()> {
    conn.prepare_cached(SESSION_PROGRESS)?.execute(params![
        SESSION,
        status,
        p.completed_tasks as i64,
        p.failed_tasks as i64,
        p.skipped_tasks as i64,
        p.running_tasks as i64,
        p.active_agents as i64,
        p.attempts as i64,
        p.elapsed as i64,
        stall_reason,
        unix_ms(),
    ])?;
    Ok(())
}

// The statements of the hot path: each runs once per step or per event of a run, so each
// must find its rows through an index (checked with `EXPLAIN QUERY PLAN` in the tests).

/// One journal entry.
const JOURNAL_INSERT: &str =
    "INSERT INTO journal (session_id, process, now_ms, call) VALUES (?1, ?2, ?3, ?4)";
/// A task's status, by index.
const TASK_STATUS: &str =
    "UPDATE distributed_tasks SET status = ?3 WHERE session_id = ?1 AND task_index = ?2";
/// An attempt's row, copied from its task's.
const ATTEMPT_INSERT: &str = "INSERT INTO task_assignments (
                    session_id, task_index, task_id, agent_id, attempt, status, assigned_ms,
                    deadline_ms, retry_count, max_retries, locks_held, context_items, process)
                 SELECT ?1, task_index, task_id, ?3, ?4, 'assigned', ?5, ?6, failures,
                    (SELECT max_retries FROM distribution_sessions WHERE id = ?1), locks, ?7, ?8
                 FROM distributed_tasks WHERE session_id = ?1 AND task_id = ?2";
/// A task's attempt count.
const TASK_ATTEMPTS: &str =
    "UPDATE distributed_tasks SET attempts = ?3 WHERE session_id = ?1 AND task_id = ?2";
/// An attempt began.
const ATTEMPT_START: &str = "UPDATE task_assignments SET status = 'running', started_ms = ?4
                 WHERE session_id = ?1 AND task_id = ?2 AND attempt = ?3 AND ended_ms IS NULL";
/// An attempt succeeded.
const ATTEMPT_COMPLETE: &str =
    "UPDATE task_assignments SET status = 'completed', ended_ms = ?4, result = ?5
                 WHERE session_id = ?1 AND task_id = ?2 AND attempt = ?3 AND ended_ms IS NULL";
/// An attempt timed out.
const ATTEMPT_TIMEOUT: &str = "UPDATE task_assignments SET status = 'timed_out', ended_ms = ?4
                 WHERE session_id = ?1 AND task_id = ?2 AND attempt = ?3 AND ended_ms IS NULL";
/// An attempt failed (after its timeout, keeping that status).
const ATTEMPT_FAIL: &str = "UPDATE task_assignments
                 SET status = CASE WHEN status = 'timed_out' THEN status ELSE 'failed' END,
                     ended_ms = COALESCE(ended_ms, ?4), last_error = ?5, retry_count = ?6
                 WHERE session_id = ?1 AND task_id = ?2 AND attempt = ?3";
/// A task's failure count.
const TASK_FAILURES: &str =
    "UPDATE distributed_tasks SET failures = ?3 WHERE session_id = ?1 AND task_id = ?2";
/// An attempt taken back (lost agent, or shutdown).
const ATTEMPT_REQUEUE: &str = "UPDATE task_assignments SET status = ?5, ended_ms = ?4
                 WHERE session_id = ?1 AND task_id = ?2 AND attempt = ?3 AND ended_ms IS NULL";
/// The session's totals.
const SESSION_PROGRESS: &str = "UPDATE distribution_sessions
         SET status = ?2, completed_tasks = ?3, failed_tasks = ?4, skipped_tasks = ?5,
             running_tasks = ?6, active_agents = ?7, attempts = ?8, elapsed_ms = ?9,
             stall_reason = ?10, updated_at = ?11
         WHERE id = ?1";

/// Every statement of the hot path.
#[cfg(test)]
const HOT_PATH: [&str; 11] = [
    JOURNAL_INSERT,
    TASK_STATUS,
    ATTEMPT_INSERT,
    TASK_ATTEMPTS,
    ATTEMPT_START,
    ATTEMPT_COMPLETE,
    ATTEMPT_TIMEOUT,
    ATTEMPT_FAIL,
    TASK_FAILURES,
    ATTEMPT_REQUEUE,
    SESSION_PROGRESS,
];

#[cfg(test)]
mod tests;

/// A message of a remote worker that the coordinator acknowledged and ignored because it
/// does not answer the running attempt of that worker's current instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaleMessage {
    /// Its kind: `started`, `share`, `result` or `bye`.
    pub kind: String,
    /// The worker id it names.
    pub worker: String,
    /// The worker instance it names.
    pub instance: String,
    /// The coordinator instance it names, if its kind names one.
    pub coordinator: Option<String>,
    /// The task (by index) it names, if its kind names one.
    pub task_index: Option<u32>,
    /// The attempt it names, if its kind names one.
    pub attempt: Option<u32>,
    /// Its entry id on `taskdist:up`.
    pub entry: String,
    /// Why it was ignored.
    pub reason: String,
}

/// Records stale messages in a run database (see [`Store::stale_recorder`]).
pub struct StaleRecorder {
    conn: Connection,
    path: PathBuf,
}

impl StaleRecorder {
    /// Records one.
    pub fn record(&self, m: &StaleMessage) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT INTO stale_messages (session_id, kind, worker, instance, coordinator,
                    task_index, attempt, entry, reason, recorded_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                params![
                    SESSION,
                    m.kind,
                    m.worker,
                    m.instance,
                    m.coordinator,
                    m.task_index,
                    m.attempt,
                    m.entry,
                    m.reason,
                    unix_ms()
                ],
            )
            .map(|_| ())
            .map_err(|source| StoreError::Sqlite {
                path: self.path.clone(),
                source,
            })
    }
}
