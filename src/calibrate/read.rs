//! A recorded run, read back from its database: the scenario it ran (parsed from the text
//! the database keeps), its configuration and agents, every attempt, and the times agents
//! were lost and came back. Everything `calibrate` and `replay` know comes from here.

use super::CalibrateError;
use crate::core::Input;
use crate::import::{ImportOptions, load_text};
use crate::model::{AgentSpec, Config, Scenario, Time};
use crate::plan::{Plan, TaskIdx};
use crate::runtime::Call;
use crate::store::{AttemptRow, DB_FILE, Store};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// How a recorded attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// It succeeded.
    Succeeded,
    /// It failed (the agent reported a failure).
    Failed,
    /// Its timeout ended it.
    TimedOut,
    /// Its agent was lost, or the run was stopped: not charged to the task.
    Lost,
    /// It was still running when the record ends.
    Open,
}

impl Ended {
    fn of(status: &str) -> Option<Ended> {
        Some(match status {
            "completed" => Ended::Succeeded,
            "failed" => Ended::Failed,
            "timed_out" => Ended::TimedOut,
            "lost" | "cancelled" => Ended::Lost,
            "assigned" | "running" => Ended::Open,
            _ => return None,
        })
    }

    /// Whether the scheduler charged it to its task (a success, a failure or a timeout).
    pub fn is_charged(self) -> bool {
        matches!(self, Ended::Succeeded | Ended::Failed | Ended::TimedOut)
    }
}

/// One recorded attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// The task.
    pub task: TaskIdx,
    /// The agent's id.
    pub agent: String,
    /// The attempt number.
    pub attempt: u32,
    /// How it ended.
    pub ended: Ended,
    /// When it was assigned.
    pub assigned_ms: Time,
    /// When the agent began it (the assignment time if the agent never said).
    pub started_ms: Time,
    /// When it ended (`None` while [`Ended::Open`]).
    pub ended_ms: Option<Time>,
    /// The journal position of its report (success or failure), if it reported: the
    /// order of reports that arrived in the same millisecond.
    pub reported_at: Option<usize>,
}

/// An agent that left the run: the scheduler was told it was down, or found it silent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loss {
    /// The agent's id.
    pub agent: String,
    /// When the scheduler took it down.
    pub at: Time,
    /// Its journal position.
    pub seq: usize,
    /// When it came back, if it did, and that `AgentUp`'s journal position.
    pub back_at: Option<(Time, usize)>,
    /// Whether the agent was taken down by a resume, not lost: the run had been stopped on
    /// purpose (Ctrl-C) just before, or its runner was killed and a later process took
    /// the run over (the agent came up in an earlier process than the one that took it
    /// down). Such a loss says nothing about how often agents fail.
    pub by_resume: bool,
}

/// A run database, read.
#[derive(Debug, Clone)]
pub struct RecordedRun {
    /// The database file.
    pub db: PathBuf,
    /// The scenario file the run was started from.
    pub scenario_path: PathBuf,
    /// The scenario, parsed from the text the database keeps (its tasks are in `plan`).
    pub scenario: Scenario,
    /// Its plan.
    pub plan: Arc<Plan>,
    /// The configuration in force.
    pub config: Config,
    /// The agents, in registration order.
    pub agents: Vec<AgentSpec>,
    /// `completed`, `failed`, `running`, `interrupted` or `stalled`.
    pub status: String,
    /// Every attempt, in assignment order.
    pub attempts: Vec<Attempt>,
    /// Agent losses, in the order the scheduler saw them.
    pub losses: Vec<Loss>,
    /// When the last charged attempt ended: the recorded makespan.
    pub makespan_ms: Time,
    /// When the runner woke for the core's deadlines (its timeout calls), ascending, each
    /// with its journal position: at equal times a wake-up is ordered among reports and
    /// losses as the run ordered it.
    pub timeout_calls: Vec<(Time, usize)>,
}

impl RecordedRun {
    /// Reads a run: `path` is its database or the run directory holding `taskdist.db`.
    /// Refuses a file that is not a taskdist run database, a damaged one (including a
    /// journal or attempts that do not fit the recorded scenario), and one with no
    /// finished attempt.
    pub fn open(path: &Path) -> Result<RecordedRun, CalibrateError> {
        let db = if path.is_dir() {
            path.join(DB_FILE)
        } else {
            path.to_path_buf()
        };
        let (store, saved) = Store::open(&db)?;
        let damaged = |detail: String| CalibrateError::Damaged {
            db: db.clone(),
            detail,
        };
        let text = store.scenario_text()?;
        let (scenario, plan) =
            load_text(&saved.scenario_path, &text, None, &ImportOptions::default())
                .map_err(|e| damaged(format!("the scenario it recorded does not load: {e}")))?;
        let rows = store.attempts()?;
        let journal = store.journal()?;
        let processes = store.journal_processes()?;
        drop(store);
        if processes.len() != journal.len() {
            return Err(damaged(format!(
                "{} journal entries but {} process numbers",
                journal.len(),
                processes.len()
            )));
        }
        if let Some(i) = journal.windows(2).position(|w| w[1].now < w[0].now) {
            return Err(damaged(format!(
                "journal entry {} goes back in time from {} to {} ms",
                i + 2,
                journal[i].now,
                journal[i + 1].now
            )));
        }
        let mut attempts = rows
            .into_iter()
            .map(|row| attempt(row, &plan, &saved.agents))
            .collect::<Result<Vec<_>, String>>()
            .map_err(damaged)?;
        let by_task_attempt: BTreeMap<(u32, u32), usize> = attempts
            .iter()
            .enumerate()
            .map(|(i, a)| ((a.task.0, a.attempt), i))
            .collect();
        for (seq, entry) in journal.iter().enumerate() {
            if let Call::Input {
                input:
                    Input::TaskSucceeded { task, attempt, .. } | Input::TaskFailed { task, attempt, .. },
            } = &entry.call
                && let Some(&i) = by_task_attempt.get(&(task.0, *attempt))
                && attempts[i].reported_at.is_none()
            {
                attempts[i].reported_at = Some(seq);
            }
        }
        let makespan_ms = attempts
            .iter()
            .filter(|a| a.ended.is_charged())
            .filter_map(|a| a.ended_ms)
            .max()
            .ok_or_else(|| CalibrateError::NoFinishedAttempt { db: db.clone() })?;
        let losses = losses(&journal, &processes, &attempts, &saved.agents).map_err(damaged)?;
        let timeout_calls = journal
            .iter()
            .enumerate()
            .filter(|(_, e)| matches!(e.call, Call::Timeout))
            .map(|(seq, e)| (e.now, seq))
            .collect();
        Ok(RecordedRun {
            timeout_calls,
            db,
            scenario_path: saved.scenario_path,
            scenario,
            plan: Arc::new(plan),
            config: saved.config,
            agents: saved.agents,
            status: saved.status,
            attempts,
            losses,
            makespan_ms,
        })
    }

    /// Agent-hours the run's agents were there: agents × makespan.
    pub fn agent_hours(&self) -> f64 {
        self.agents.len() as f64 * self.makespan_ms as f64 / crate::model::HOUR_MS as f64
    }
}

/// A row checked against the plan and the agents.
fn attempt(row: AttemptRow, plan: &Plan, agents: &[AgentSpec]) -> Result<Attempt, String> {
    let task = TaskIdx(row.task_index);
    if row.task_index as usize >= plan.len() {
        return Err(format!(
            "an attempt of task index {}, which the recorded scenario lacks",
            row.task_index
        ));
    }
    if !agents.iter().any(|a| *a.id == *row.agent_id) {
        return Err(format!(
            "attempt {} of `{}` ran on `{}`, an agent the run does not list",
            row.attempt,
            plan.task(task).id,
            row.agent_id
        ));
    }
    let ended = Ended::of(&row.status).ok_or_else(|| {
        format!(
            "attempt {} of `{}` has an unknown status `{}`",
            row.attempt,
            plan.task(task).id,
            row.status
        )
    })?;
    let started_ms = row.started_ms.unwrap_or(row.assigned_ms);
    let in_order = started_ms >= row.assigned_ms
        && row.ended_ms.is_none_or(|end| end >= row.assigned_ms)
        && (row.ended_ms.is_some() || ended == Ended::Open);
    if !in_order {
        return Err(format!(
            "attempt {} of `{}` has times out of order (assigned {}, started {:?}, ended {:?})",
            row.attempt,
            plan.task(task).id,
            row.assigned_ms,
            row.started_ms,
            row.ended_ms
        ));
    }
    Ok(Attempt {
        task,
        agent: row.agent_id,
        attempt: row.attempt,
        ended,
        assigned_ms: row.assigned_ms,
        started_ms,
        ended_ms: row.ended_ms,
        reported_at: None,
    })
}

/// Agent losses: the journal's `AgentDown` inputs, and agents found silent (an attempt
/// requeued as lost when no `AgentDown` explains it); each comes back at the agent's next
/// `AgentUp`. Agent indices are the core's: registration order, an id keeping its index.
fn losses(
    journal: &[crate::runtime::JournalEntry],
    processes: &[u32],
    attempts: &[Attempt],
    agents: &[AgentSpec],
) -> Result<Vec<Loss>, String> {
    let mut index: Vec<String> = Vec::new();
    // (journal position, time) of each agent's AgentUp inputs.
    let mut ups: BTreeMap<String, Vec<(usize, Time)>> = BTreeMap::new();
    let mut found = Vec::new();
    let mut stopped = false;
    // The process that last brought each agent up.
    let mut up_in: BTreeMap<String, u32> = BTreeMap::new();
    for (seq, entry) in journal.iter().enumerate() {
        match &entry.call {
            Call::Input {
                input: Input::AgentUp { spec },
            } => {
                if !index.iter().any(|id| **id == *spec.id) {
                    index.push(spec.id.to_string());
                }
                ups.entry(spec.id.to_string())
                    .or_default()
                    .push((seq, entry.now));
                up_in.insert(spec.id.to_string(), processes[seq]);
                stopped = false;
            }
            Call::Input {
                input: Input::AgentDown { agent },
            } => {
                let id = index.get(agent.ix()).ok_or_else(|| {
                    format!(
                        "journal entry {seq} takes down agent index {}, which never came up",
                        agent.0
                    )
                })?;
                let taken_over = up_in.get(id).is_some_and(|&p| p < processes[seq]);
                found.push((
                    seq,
                    Loss {
                        agent: id.clone(),
                        at: entry.now,
                        seq,
                        back_at: None,
                        by_resume: stopped || taken_over,
                    },
                ));
            }
            Call::Input {
                input: Input::Shutdown,
            } => stopped = true,
            _ => {}
        }
    }
    if index.iter().any(|id| !agents.iter().any(|a| *a.id == **id)) {
        return Err("the journal brings up an agent the run does not list".to_string());
    }
    // Silent agents: their running attempt was requeued with no AgentDown at that time.
    for a in attempts.iter().filter(|a| a.ended == Ended::Lost) {
        let at = a.ended_ms.expect("a lost attempt has ended");
        let explained = found.iter().any(|(_, l)| l.agent == a.agent && l.at == at)
            || journal.iter().any(|e| {
                e.now == at
                    && matches!(
                        e.call,
                        Call::Input {
                            input: Input::Shutdown
                        }
                    )
            });
        if !explained {
            // Found at the first call made at that time (the timeout that noticed it).
            let seq = journal.partition_point(|e| e.now < at);
            found.push((
                seq,
                Loss {
                    agent: a.agent.clone(),
                    at,
                    seq,
                    back_at: None,
                    by_resume: false,
                },
            ));
        }
    }
    found.sort_by_key(|(seq, _)| *seq); // stable: the journal's order
    Ok(found
        .into_iter()
        .map(|(seq, mut loss)| {
            loss.back_at = ups.get(&loss.agent).and_then(|list| {
                list.iter()
                    .find(|(up_seq, _)| *up_seq > seq)
                    .map(|&(up_seq, t)| (t, up_seq))
            });
            loss
        })
        .collect())
}
