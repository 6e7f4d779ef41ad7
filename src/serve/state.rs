//! What the live page shows, folded from the event stream: the state a page receives as a
//! snapshot when it connects, and keeps up to date by applying each later event the same
//! way (`page.html` has the same fold in JavaScript; the browser test checks that the two
//! agree field for field).
//!
//! The fold is deliberately local: each event changes only the task, agent or attempt it
//! names. What follows from several of them together (a waiting task whose dependencies
//! have all ended is ready; a task parked on a lock whose holder has ended is about to
//! run; a backoff that has expired) is worked out by the page when it draws, so the two
//! folds stay short enough to keep identical.

use crate::core::{BlockReason, Event, EventKind, Progress};
use crate::model::{TaskType, Time};
use crate::plan::{Plan, Text};
use serde::Serialize;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

/// How many context-board items a snapshot keeps (the newest).
pub const BOARD_ITEMS: usize = 200;
/// How many block notices a snapshot keeps (the newest).
pub const BLOCK_ITEMS: usize = 200;

/// Where the events come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// A real run (`taskdist run`): event times are real milliseconds.
    Run,
    /// A simulated run replayed (`taskdist simulate --serve`): event times are simulated.
    Simulation,
}

/// Where a task stands, as far as the events have said.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskState {
    /// Not yet dispatched, blocked or ended (the page tells waiting from ready by its
    /// dependencies).
    Waiting,
    /// Parked: see the task's `reason`.
    Blocked,
    /// Waiting out a retry backoff until `not_before`.
    Backoff,
    /// Put back in the queue (its agent left or was lost).
    Requeued,
    /// An attempt is running.
    Running,
    /// Succeeded.
    Completed,
    /// Failed for good.
    Failed,
    /// Will not run: `because` did not succeed.
    Skipped,
}

/// One task of the plan and what happened to it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TaskView {
    /// Task id.
    pub id: Arc<str>,
    /// Title.
    pub title: String,
    /// Type.
    pub task_type: TaskType,
    /// Indices (in `tasks`) of the tasks it waits for: `depends_on`, then `blocked_by`.
    pub deps: Vec<u32>,
    /// Where it stands.
    pub state: TaskState,
    /// Latest attempt number (0: never dispatched).
    pub attempt: u32,
    /// Failed attempts so far.
    pub failures: u32,
    /// Why it is (or last was) parked, until its next attempt starts.
    pub reason: Option<BlockReason>,
    /// The end of its backoff, while it waits one out.
    pub not_before: Option<Time>,
    /// Its latest error.
    pub error: Option<String>,
    /// The task whose failure made it skipped.
    pub because: Option<Text>,
    /// Index (in `bars`) of its running attempt.
    pub bar: Option<u32>,
}

/// How an attempt is going or went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BarOutcome {
    /// Still running.
    Running,
    /// Succeeded.
    Succeeded,
    /// Failed.
    Failed,
    /// Timed out (and counted as failed).
    TimedOut,
    /// Taken back from an agent that left or was lost.
    Requeued,
}

/// One attempt on an agent's lane of the Gantt chart.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Bar {
    /// Index in `agents`.
    pub agent: u32,
    /// Index in `tasks`.
    pub task: u32,
    /// Attempt number.
    pub attempt: u32,
    /// When it was dispatched.
    pub start: Time,
    /// When it ended.
    pub end: Option<Time>,
    /// How it went.
    pub outcome: BarOutcome,
    /// What the task was parked on before this attempt, if anything.
    pub waited: Option<BlockReason>,
}

/// An agent and its lane.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AgentView {
    /// Agent id.
    pub id: Arc<str>,
    /// Display name.
    pub name: String,
    /// Attempts it runs at once (sub-rows of its lane).
    pub max_concurrent_tasks: u32,
    /// `up`, `left` or `lost`.
    pub state: &'static str,
}

/// An item of the shared context board: a `context_shared` event or a `task_failed` error.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BoardItem {
    /// When it was posted.
    pub time: Time,
    /// Who posted it.
    pub agent: Arc<str>,
    /// `discovery`, `solution` or `error`.
    pub kind: String,
    /// The task it is about, for errors.
    pub task: Option<Text>,
    /// One line.
    pub summary: String,
}

/// A task being parked, as it happened.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BlockItem {
    /// When.
    pub time: Time,
    /// Which task.
    pub task: Text,
    /// Why.
    pub reason: BlockReason,
}

/// Event counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Attempts dispatched.
    pub attempts: u64,
    /// Failed attempts (timeouts included).
    pub failures: u64,
    /// Failed attempts that will be retried.
    pub retries: u64,
    /// Attempts that timed out.
    pub timeouts: u64,
    /// Attempts requeued from agents that left or were lost.
    pub requeued: u64,
    /// Times a task was parked.
    pub blocks: u64,
    /// Items ever posted to the board (the snapshot keeps the newest [`BOARD_ITEMS`]).
    pub board: u64,
}

/// Everything the page shows: the snapshot a page receives when it connects.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LiveState {
    /// The scenario's name.
    pub title: String,
    /// Real run or simulation replay.
    pub source: Source,
    /// Event-time milliseconds per real millisecond (1 for a real run).
    pub speed: f64,
    /// Events folded so far.
    pub seq: u64,
    /// Time of the latest event.
    pub time: Time,
    /// Set once no more events will come: `completed`, `failed`, `stalled`,
    /// `interrupted`, …
    pub ended: Option<String>,
    /// The plan's tasks, in plan order.
    pub tasks: Vec<TaskView>,
    /// Agents in registration order.
    pub agents: Vec<AgentView>,
    /// Every attempt, in dispatch order.
    pub bars: Vec<Bar>,
    /// The newest items of the context board, oldest first.
    pub board: VecDeque<BoardItem>,
    /// The newest block notices, oldest first.
    pub blocks: VecDeque<BlockItem>,
    /// The latest `progress` event.
    pub progress: Option<Progress>,
    /// The latest `distribution_error`.
    pub error: Option<String>,
    /// Set by `distribution_complete`.
    pub complete: bool,
    /// Counters.
    pub counts: Counts,
    #[serde(skip)]
    task_index: BTreeMap<Arc<str>, u32>,
    #[serde(skip)]
    agent_index: BTreeMap<Arc<str>, u32>,
}

impl LiveState {
    /// The state before any event: every task of `plan` waiting, no agent yet.
    pub fn new(plan: &Plan, title: &str, source: Source, speed: f64) -> LiveState {
        let tasks: Vec<TaskView> = plan
            .task_indices()
            .map(|t| {
                let spec = plan.task(t);
                let deps = spec
                    .depends_on
                    .iter()
                    .chain(&spec.blocked_by)
                    .filter_map(|d| plan.task_index(d))
                    .map(|d| d.0)
                    .collect();
                TaskView {
                    id: spec.id.clone(),
                    title: spec.title.to_string(),
                    task_type: spec.task_type,
                    deps,
                    state: TaskState::Waiting,
                    attempt: 0,
                    failures: 0,
                    reason: None,
                    not_before: None,
                    error: None,
                    because: None,
                    bar: None,
                }
            })
            .collect();
        let task_index = tasks
            .iter()
            .enumerate()
            .map(|(i, t)| (t.id.clone(), i as u32))
            .collect();
        LiveState {
            title: title.to_string(),
            source,
            speed,
            seq: 0,
            time: 0,
            ended: None,
            tasks,
            agents: Vec::new(),
            bars: Vec::new(),
            board: VecDeque::new(),
            blocks: VecDeque::new(),
            progress: None,
            error: None,
            complete: false,
            counts: Counts::default(),
            task_index,
            agent_index: BTreeMap::new(),
        }
    }

    /// Applies one event. Events naming a task or agent this state does not know change
    /// nothing but the counters (a page must never fail on a surprising stream).
    pub fn apply(&mut self, event: &Event) {
        self.seq += 1;
        self.time = self.time.max(event.time);
        let now = event.time;
        match &event.kind {
            EventKind::AgentRegistered {
                agent,
                name,
                max_concurrent_tasks,
                ..
            } => match self.agent_index.get(agent) {
                Some(&a) => self.agents[a as usize].state = "up",
                None => {
                    self.agent_index
                        .insert(agent.clone(), self.agents.len() as u32);
                    self.agents.push(AgentView {
                        id: agent.clone(),
                        name: name.clone(),
                        max_concurrent_tasks: *max_concurrent_tasks,
                        state: "up",
                    });
                }
            },
            EventKind::AgentUnregistered { agent } => self.agent_state(agent, "left"),
            EventKind::AgentLost { agent, .. } => self.agent_state(agent, "lost"),
            EventKind::TaskBlocked { task, reason } => {
                self.counts.blocks += 1;
                if let Some(t) = self.task_mut(task) {
                    t.state = TaskState::Blocked;
                    t.reason = Some(reason.clone());
                }
                push_bounded(
                    &mut self.blocks,
                    BlockItem {
                        time: now,
                        task: task.clone(),
                        reason: reason.clone(),
                    },
                    BLOCK_ITEMS,
                );
            }
            EventKind::TaskExecute {
                task,
                agent,
                attempt,
                ..
            } => {
                self.counts.attempts += 1;
                let (Some(&t), Some(&a)) =
                    (self.task_index.get(&**task), self.agent_index.get(agent))
                else {
                    return;
                };
                let bar = self.bars.len() as u32;
                let view = &mut self.tasks[t as usize];
                self.bars.push(Bar {
                    agent: a,
                    task: t,
                    attempt: *attempt,
                    start: now,
                    end: None,
                    outcome: BarOutcome::Running,
                    waited: view.reason.take(),
                });
                view.state = TaskState::Running;
                view.attempt = *attempt;
                view.not_before = None;
                view.bar = Some(bar);
            }
            EventKind::TaskStart { task, title, .. } => {
                if let Some(t) = self.task_mut(task) {
                    t.title = title.to_string();
                }
            }
            EventKind::TaskComplete { task, .. } => {
                self.end_bar(task, now, BarOutcome::Succeeded);
                if let Some(t) = self.task_mut(task) {
                    t.state = TaskState::Completed;
                }
            }
            EventKind::TaskTimeout { task, .. } => {
                self.counts.timeouts += 1;
                self.end_bar(task, now, BarOutcome::TimedOut);
            }
            EventKind::TaskFailed {
                task,
                agent,
                attempt,
                error,
                retry_count,
                will_retry,
            } => {
                self.counts.failures += 1;
                if *will_retry {
                    self.counts.retries += 1;
                }
                self.end_bar(task, now, BarOutcome::Failed);
                if let Some(t) = self.task_mut(task) {
                    t.failures = *retry_count;
                    t.error = Some(error.clone());
                    t.state = if *will_retry {
                        TaskState::Backoff
                    } else {
                        TaskState::Failed
                    };
                }
                self.post(BoardItem {
                    time: now,
                    agent: agent.clone(),
                    kind: "error".to_string(),
                    task: Some(task.clone()),
                    summary: format!("attempt {attempt}: {error}"),
                });
            }
            EventKind::TaskRetry {
                task, not_before, ..
            } => {
                if let Some(t) = self.task_mut(task) {
                    t.state = TaskState::Backoff;
                    t.not_before = Some(*not_before);
                }
            }
            EventKind::TaskRequeued { task, .. } => {
                self.counts.requeued += 1;
                self.end_bar(task, now, BarOutcome::Requeued);
                if let Some(t) = self.task_mut(task) {
                    t.state = TaskState::Requeued;
                }
            }
            EventKind::TaskSkipped { task, because } => {
                if let Some(t) = self.task_mut(task) {
                    t.state = TaskState::Skipped;
                    t.because = Some(because.clone());
                }
            }
            EventKind::ContextShared {
                agent,
                kind,
                summary,
            } => self.post(BoardItem {
                time: now,
                agent: agent.clone(),
                kind: kind.clone(),
                task: None,
                summary: summary.clone(),
            }),
            EventKind::Progress(progress) => self.progress = Some(progress.clone()),
            EventKind::DistributionComplete { .. } => self.complete = true,
            EventKind::DistributionError { error } => self.error = Some(error.clone()),
            EventKind::TasksAdded { .. }
            | EventKind::LayerStart { .. }
            | EventKind::LayerComplete { .. }
            | EventKind::InputIgnored { .. } => {}
        }
    }

    fn task_mut(&mut self, id: &str) -> Option<&mut TaskView> {
        let t = *self.task_index.get(id)?;
        Some(&mut self.tasks[t as usize])
    }

    fn agent_state(&mut self, id: &str, state: &'static str) {
        if let Some(&a) = self.agent_index.get(id) {
            self.agents[a as usize].state = state;
        }
    }

    /// Closes the task's running bar, if it has one (a timeout closes it before the
    /// failure that follows, which then finds none).
    fn end_bar(&mut self, task: &str, now: Time, outcome: BarOutcome) {
        let Some(t) = self.task_mut(task) else { return };
        let Some(bar) = t.bar.take() else { return };
        let bar = &mut self.bars[bar as usize];
        bar.end = Some(now);
        bar.outcome = outcome;
    }

    fn post(&mut self, item: BoardItem) {
        self.counts.board += 1;
        push_bounded(&mut self.board, item, BOARD_ITEMS);
    }
}

fn push_bounded<T>(list: &mut VecDeque<T>, item: T, capacity: usize) {
    if list.len() == capacity {
        list.pop_front();
    }
    list.push_back(item);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Format, Scenario};
    use crate::plan::LockMode;

    fn plan() -> Plan {
        let text = "[[agents]]\ncount=2\n\
            [[tasks]]\nid='a'\nestimated_duration='1m'\nfiles_to_modify=['f']\n\
            [[tasks]]\nid='b'\nestimated_duration='1m'\nfiles_to_modify=['f']\n\
            [[tasks]]\nid='c'\nestimated_duration='1m'\ndepends_on=['a']\nblocked_by=['b']\n";
        let (scenario, issues) = Scenario::parse(text, Format::Toml, "t.toml").unwrap();
        Plan::from_scenario(scenario, issues).unwrap().1
    }

    fn ev(time: Time, kind: EventKind) -> Event {
        Event { time, kind }
    }

    fn agent(id: &str) -> EventKind {
        EventKind::AgentRegistered {
            agent: id.into(),
            name: id.to_string(),
            agent_type: "agent".to_string(),
            capabilities: None,
            max_concurrent_tasks: 1,
        }
    }

    fn execute(task: &str, agent: &str, attempt: u32) -> EventKind {
        EventKind::TaskExecute {
            task: task.into(),
            agent: agent.into(),
            attempt,
            deadline: 1_000_000,
            context_items: 0,
        }
    }

    #[test]
    fn dependencies_are_indices_of_both_kinds() {
        let s = LiveState::new(&plan(), "t", Source::Run, 1.0);
        assert_eq!(s.tasks[2].deps, vec![0, 1]);
        assert!(s.tasks.iter().all(|t| t.state == TaskState::Waiting));
    }

    #[test]
    fn a_lock_wait_a_failure_and_a_retry_end_up_on_the_bars_and_the_board() {
        let mut s = LiveState::new(&plan(), "t", Source::Run, 1.0);
        let reason = BlockReason::Lock {
            file: "f".into(),
            mode: LockMode::Write,
            holder: "a".into(),
        };
        for event in [
            ev(0, agent("x")),
            ev(0, agent("y")),
            ev(0, execute("a", "x", 1)),
            ev(
                0,
                EventKind::TaskBlocked {
                    task: "b".into(),
                    reason: reason.clone(),
                },
            ),
            ev(
                10,
                EventKind::TaskFailed {
                    task: "a".into(),
                    agent: "x".into(),
                    attempt: 1,
                    error: "boom".to_string(),
                    retry_count: 1,
                    will_retry: true,
                },
            ),
            ev(
                10,
                EventKind::TaskRetry {
                    task: "a".into(),
                    retry_count: 1,
                    not_before: 30,
                    error: "boom".to_string(),
                },
            ),
            ev(10, execute("b", "y", 1)),
        ] {
            s.apply(&event);
        }
        assert_eq!(s.seq, 7);
        assert_eq!(s.tasks[0].state, TaskState::Backoff);
        assert_eq!(s.tasks[0].not_before, Some(30));
        assert_eq!(s.tasks[0].failures, 1);
        assert_eq!(s.bars[0].outcome, BarOutcome::Failed);
        assert_eq!(s.bars[0].end, Some(10));
        assert_eq!(s.bars[1].waited, Some(reason.clone()));
        assert_eq!(s.bars[1].agent, 1);
        assert_eq!(s.tasks[1].reason, None, "the reason moves to the bar");
        assert_eq!(s.blocks[0].reason, reason);
        assert_eq!(s.board[0].kind, "error");
        assert_eq!(s.board[0].task.as_deref(), Some("a"));
        assert_eq!(s.counts.retries, 1);
    }

    #[test]
    fn a_timeout_closes_the_bar_as_timed_out_and_unknown_names_are_ignored() {
        let mut s = LiveState::new(&plan(), "t", Source::Simulation, 60.0);
        s.apply(&ev(0, agent("x")));
        s.apply(&ev(0, execute("a", "x", 1)));
        s.apply(&ev(0, execute("nope", "x", 1)));
        s.apply(&ev(
            5,
            EventKind::TaskTimeout {
                task: "a".into(),
                agent: "x".into(),
                attempt: 1,
                timeout: 5,
            },
        ));
        s.apply(&ev(
            5,
            EventKind::TaskFailed {
                task: "a".into(),
                agent: "x".into(),
                attempt: 1,
                error: "timed out".to_string(),
                retry_count: 1,
                will_retry: false,
            },
        ));
        assert_eq!(s.bars.len(), 1);
        assert_eq!(s.bars[0].outcome, BarOutcome::TimedOut);
        assert_eq!(s.tasks[0].state, TaskState::Failed);
        assert_eq!(s.seq, 5);
    }

    #[test]
    fn the_board_keeps_the_newest_items() {
        let mut s = LiveState::new(&plan(), "t", Source::Run, 1.0);
        for i in 0..BOARD_ITEMS as u64 + 5 {
            s.apply(&ev(
                i,
                EventKind::ContextShared {
                    agent: "x".into(),
                    kind: "discovery".to_string(),
                    summary: format!("{i}"),
                },
            ));
        }
        assert_eq!(s.board.len(), BOARD_ITEMS);
        assert_eq!(s.board[0].summary, "5");
        assert_eq!(s.counts.board, BOARD_ITEMS as u64 + 5);
    }
}
