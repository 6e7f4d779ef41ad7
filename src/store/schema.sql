-- taskdist's run database, schema version 1.
--
-- One database holds one distribution (one `taskdist run`, and its resumes). The four
-- tables of the original TaskDistributor describe it for people and tools; `journal` is
-- what resume replays. Times ending in `_ms` are core time: milliseconds since the run
-- started, counting only the time a process was working on it. `*_at` are wall-clock
-- Unix milliseconds.

CREATE TABLE distribution_sessions (
    id               INTEGER PRIMARY KEY,
    scenario_path    TEXT NOT NULL,    -- absolute path of the scenario file
    scenario_sha256  TEXT NOT NULL,    -- of the file's bytes; resume refuses another
    scenario_text    TEXT NOT NULL,    -- '' since the text moved to session_scenario (store/mod.rs)
    config           TEXT NOT NULL,    -- JSON: the scheduler configuration in force
    agents           TEXT NOT NULL,    -- JSON: the agents, in registration order
    exec             TEXT,             -- JSON: the --exec command, if any
    workdir          TEXT NOT NULL,    -- where commands run
    run_dir          TEXT NOT NULL,    -- attempt logs, summary, trace
    events           TEXT,             -- the --events target ('-' for stdout), if any
    broker           TEXT,             -- the --broker URL of a run with remote workers
    status           TEXT NOT NULL,    -- running, completed, failed, interrupted, stalled
    max_agents       INTEGER NOT NULL,
    max_retries      INTEGER NOT NULL,
    file_conflict_prevention INTEGER NOT NULL,
    context_sharing  INTEGER NOT NULL,
    auto_reassignment INTEGER NOT NULL,
    total_tasks      INTEGER NOT NULL,
    completed_tasks  INTEGER NOT NULL DEFAULT 0,
    failed_tasks     INTEGER NOT NULL DEFAULT 0,
    skipped_tasks    INTEGER NOT NULL DEFAULT 0,
    running_tasks    INTEGER NOT NULL DEFAULT 0,
    active_agents    INTEGER NOT NULL DEFAULT 0,
    parallel_layers  INTEGER NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    elapsed_ms       INTEGER NOT NULL DEFAULT 0,
    processes        INTEGER NOT NULL DEFAULT 1,  -- the run, then one per resume
    stall_reason     TEXT,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
);

CREATE TABLE distributed_tasks (
    session_id       INTEGER NOT NULL REFERENCES distribution_sessions(id),
    task_index       INTEGER NOT NULL,  -- position in the scenario file
    task_id          TEXT NOT NULL,
    title            TEXT NOT NULL,
    description      TEXT NOT NULL,
    task_type        TEXT NOT NULL,
    priority         TEXT NOT NULL,
    estimated_duration_ms INTEGER NOT NULL,
    files_to_modify  TEXT NOT NULL,     -- JSON array
    files_to_read    TEXT NOT NULL,     -- JSON array
    locks            TEXT NOT NULL,     -- JSON: the locks an attempt holds
    command          TEXT,              -- JSON: the task's own command, if any
    layer            INTEGER NOT NULL,
    -- pending, queued, blocked, backoff, in_progress, completed, failed, skipped
    status           TEXT NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    failures         INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (session_id, task_index),
    UNIQUE (session_id, task_id)
);

CREATE TABLE task_dependencies (
    session_id       INTEGER NOT NULL REFERENCES distribution_sessions(id),
    task_id          TEXT NOT NULL,
    depends_on       TEXT NOT NULL,
    kind             TEXT NOT NULL,     -- depends_on (needs success) or blocked_by (needs an end)
    PRIMARY KEY (session_id, task_id, depends_on, kind)
);

-- One row per attempt.
CREATE TABLE task_assignments (
    id               INTEGER PRIMARY KEY,
    session_id       INTEGER NOT NULL REFERENCES distribution_sessions(id),
    task_index       INTEGER NOT NULL,
    task_id          TEXT NOT NULL,
    agent_id         TEXT NOT NULL,
    attempt          INTEGER NOT NULL,
    -- assigned, running, completed, failed, timed_out, lost, cancelled
    status           TEXT NOT NULL,
    assigned_ms      INTEGER NOT NULL,
    started_ms       INTEGER,
    ended_ms         INTEGER,
    deadline_ms      INTEGER NOT NULL,
    retry_count      INTEGER NOT NULL,  -- the task's failed attempts so far, this one included
    max_retries      INTEGER NOT NULL,
    last_error       TEXT,
    locks_held       TEXT NOT NULL,     -- JSON
    result           TEXT,
    context_items    INTEGER NOT NULL,
    process          INTEGER NOT NULL,  -- which process ran it (1: the run, 2..: resumes)
    UNIQUE (session_id, task_index, attempt)
);

-- Indexes beyond the keys are in indexes.sql (also applied to databases made before them).

-- Append-only: every call into the scheduling core, in order.
CREATE TABLE journal (
    seq              INTEGER PRIMARY KEY,
    session_id       INTEGER NOT NULL REFERENCES distribution_sessions(id),
    process          INTEGER NOT NULL,
    now_ms           INTEGER NOT NULL,
    call             TEXT NOT NULL      -- JSON of taskdist::runtime::Call
);
