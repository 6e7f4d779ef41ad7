//! The runner with in-process agents: no processes, no database, short real times.

use super::*;
use crate::core::{ContextItem, EventKind};
use crate::model::{Format, Scenario};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

fn plan(text: &str) -> (Scenario, Arc<Plan>) {
    let (scenario, issues) = Scenario::parse(text, Format::Toml, "t.toml").unwrap();
    let (scenario, plan) = Plan::from_scenario(scenario, issues).unwrap();
    (scenario, Arc::new(plan))
}

fn block_on<T>(f: impl Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// Sleeps for the task's estimate and succeeds; counts executions per task id.
#[derive(Default)]
struct Sleeper {
    runs: Mutex<BTreeMap<String, u32>>,
    cancelled: AtomicU32,
}

impl Agent for Sleeper {
    fn execute<'a>(&'a self, job: Job, cancel: CancellationToken) -> BoxFuture<'a, Report> {
        Box::pin(async move {
            *self
                .runs
                .lock()
                .unwrap()
                .entry(job.spec().id.to_string())
                .or_default() += 1;
            job.started();
            let ms = job.spec().estimated_duration_ms;
            tokio::select! {
                () = tokio::time::sleep(Duration::from_millis(ms)) => Report::Succeeded { result: None },
                () = cancel.cancelled() => {
                    self.cancelled.fetch_add(1, Ordering::SeqCst);
                    Report::Failed { error: "cancelled".into() }
                }
            }
        })
    }
}

/// Keeps every journal entry in memory.
#[derive(Clone, Default)]
struct Memory(Arc<Mutex<Vec<JournalEntry>>>);

impl Journal for Memory {
    fn commit(&mut self, batch: Batch<'_>) -> Result<(), JournalError> {
        self.0.lock().unwrap().extend_from_slice(batch.entries);
        Ok(())
    }
    fn finish(&mut self, _: &RunStatus, _: &Progress) -> Result<(), JournalError> {
        Ok(())
    }
}

const CHAIN: &str = "time_unit='ms'\n[[agents]]\ncount=2\n\
    [[tasks]]\nid='a'\nestimated_duration=60\n\
    [[tasks]]\nid='b'\nestimated_duration=60\ndepends_on=['a']\n\
    [[tasks]]\nid='c'\nestimated_duration=60\ndepends_on=['a']\n\
    [[tasks]]\nid='d'\nestimated_duration=60\ndepends_on=['b','c']\n";

fn runner(scenario: &Scenario, plan: &Arc<Plan>, agent: Arc<dyn Agent>) -> Runner {
    let mut runner = Runner::new(plan.clone(), scenario.config.clone());
    for spec in &scenario.agents {
        runner = runner.agent(spec.clone(), agent.clone());
    }
    runner
}

#[test]
fn a_diamond_runs_in_dependency_order_in_real_time() {
    let (scenario, plan) = plan(CHAIN);
    let sleeper = Arc::new(Sleeper::default());
    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = events.clone();
    let outcome = block_on(
        runner(&scenario, &plan, sleeper.clone())
            .on_event(move |e| seen.lock().unwrap().push(e.clone()))
            .run(CancellationToken::new()),
    )
    .unwrap();
    assert_eq!(outcome.status, RunStatus::Completed);
    assert_eq!(outcome.trace.len(), 4);
    // a, then b and c at once on the two agents, then d: three estimates, plus overhead.
    assert!(
        (180..900).contains(&outcome.makespan),
        "makespan {}",
        outcome.makespan
    );
    let end = |id: &str| {
        let t = plan.task_index(id).unwrap();
        outcome.trace.iter().find(|r| r.task == t).unwrap().clone()
    };
    assert!(end("a").end <= end("b").start && end("a").end <= end("c").start);
    assert!(end("b").end <= end("d").start && end("c").end <= end("d").start);
    assert_ne!(end("b").agent, end("c").agent);
    let events = events.lock().unwrap();
    let starts = events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::TaskStart { .. }))
        .count();
    assert_eq!(starts, 4, "every attempt reported its start");
    assert!(matches!(
        events.last().unwrap().kind,
        EventKind::DistributionComplete { .. }
    ));
}

/// Attempt 1 hangs, ignores its cancellation and reports success long after its timeout;
/// attempt 2 works normally but slowly, so the stale success arrives while it runs.
struct Stubborn;

impl Agent for Stubborn {
    fn execute<'a>(&'a self, job: Job, _cancel: CancellationToken) -> BoxFuture<'a, Report> {
        Box::pin(async move {
            let ms = if job.attempt == 1 { 250 } else { 300 };
            tokio::time::sleep(Duration::from_millis(ms)).await;
            Report::Succeeded {
                result: Some(format!("attempt {}", job.attempt)),
            }
        })
    }
}

#[test]
fn a_late_result_of_a_timed_out_attempt_is_ignored() {
    let text = "time_unit='ms'\n[config]\nbackoff_base=10\nbackoff_max=20\n\
        [[agents]]\ncount=1\n[[tasks]]\nid='slow'\nestimated_duration=100\ntimeout=150\n";
    let (scenario, plan) = plan(text);
    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = events.clone();
    let outcome = block_on(
        runner(&scenario, &plan, Arc::new(Stubborn))
            .on_event(move |e| seen.lock().unwrap().push(e.clone()))
            .run(CancellationToken::new()),
    );
    // Every attempt times out at 150 ms (they need 250 and 300): the task fails for good
    // after its retries, and no late success ever counts.
    let outcome = outcome.unwrap();
    let events = events.lock().unwrap();
    let ignored: Vec<&String> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::InputIgnored { reason } => Some(reason),
            _ => None,
        })
        .collect();
    assert!(
        ignored
            .iter()
            .any(|r| r.contains("stale task_succeeded") && r.contains("attempt 1")),
        "{ignored:?}"
    );
    assert!(
        !events
            .iter()
            .any(|e| matches!(e.kind, EventKind::TaskComplete { .. }))
    );
    assert_eq!(outcome.status, RunStatus::Failed);
    assert!(outcome.trace.iter().all(|r| r.outcome == Outcome::TimedOut));
    assert_eq!(outcome.stats.timeouts as usize, outcome.trace.len());
}

/// Runs nothing to completion and answers no heartbeat: it is lost.
struct Silent;

impl Agent for Silent {
    fn execute<'a>(&'a self, _job: Job, cancel: CancellationToken) -> BoxFuture<'a, Report> {
        Box::pin(async move {
            cancel.cancelled().await;
            Report::Failed {
                error: "cancelled".into(),
            }
        })
    }
    fn heartbeat(&self) -> BoxFuture<'_, bool> {
        Box::pin(async { false })
    }
}

#[test]
fn a_silent_agent_is_lost_and_its_attempt_requeued_without_charge() {
    let text = "time_unit='ms'\n[config]\nheartbeat_timeout=150\n\
        [[agents]]\nid='silent'\n[[agents]]\nid='steady'\n\
        [[tasks]]\nid='x'\nestimated_duration=50\n";
    let (scenario, plan) = plan(text);
    let runner = Runner::new(plan.clone(), scenario.config.clone())
        .agent(scenario.agents[0].clone(), Arc::new(Silent))
        .agent(scenario.agents[1].clone(), Arc::new(Sleeper::default()));
    let outcome = block_on(runner.run(CancellationToken::new())).unwrap();
    assert_eq!(outcome.status, RunStatus::Completed);
    let rows: Vec<(&str, Outcome)> = outcome
        .trace
        .iter()
        .map(|r| (&*outcome.agents[r.agent.ix()].id, r.outcome))
        .collect();
    assert_eq!(
        rows,
        [("silent", Outcome::Lost), ("steady", Outcome::Succeeded)]
    );
    assert_eq!(outcome.stats.reassignments, 1);
    assert_eq!(outcome.stats.retries, 0, "a lost attempt is not charged");
    assert!(outcome.trace[0].end >= 150);
}

const WIDE: &str = "time_unit='ms'\n[[agents]]\ncount=2\n\
    [[tasks]]\nid='t0'\nestimated_duration=40\n\
    [[tasks]]\nid='t1'\nestimated_duration=40\n\
    [[tasks]]\nid='t2'\nestimated_duration=500\n\
    [[tasks]]\nid='t3'\nestimated_duration=40\ndepends_on=['t0']\n\
    [[tasks]]\nid='t4'\nestimated_duration=40\ndepends_on=['t3','t2']\n";

#[test]
fn stop_interrupts_and_a_resume_from_the_journal_runs_only_what_was_left() {
    let (scenario, plan) = plan(WIDE);
    let journal = Memory::default();
    let first = Arc::new(Sleeper::default());
    let stop = CancellationToken::new();
    let stopper = stop.clone();
    let outcome = block_on(async {
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(200)).await;
            stopper.cancel();
        });
        runner(&scenario, &plan, first.clone())
            .journal(Box::new(journal.clone()))
            .run(stop)
            .await
    })
    .unwrap();
    assert_eq!(outcome.status, RunStatus::Interrupted);
    assert_eq!(
        first.cancelled.load(Ordering::SeqCst),
        1,
        "t2 was cancelled"
    );
    let done: Vec<&str> = outcome
        .trace
        .iter()
        .filter(|r| r.outcome == Outcome::Succeeded)
        .map(|r| &*plan.task(r.task).id)
        .collect();
    assert_eq!(
        done.len(),
        3,
        "t0, t1, t3 finished before the stop: {done:?}"
    );
    assert!(
        outcome
            .trace
            .iter()
            .any(|r| r.outcome == Outcome::Cancelled)
    );

    let history = journal.0.lock().unwrap().clone();
    let second = Arc::new(Sleeper::default());
    let resumed = block_on(
        runner(&scenario, &plan, second.clone())
            .resume(history, Some(vec![1, 1, 1, 1, 0]))
            .run(CancellationToken::new()),
    )
    .unwrap();
    assert_eq!(resumed.status, RunStatus::Completed);
    assert!(resumed.resumed_at.unwrap() >= 200);
    let runs = second.runs.lock().unwrap().clone();
    assert_eq!(
        runs,
        BTreeMap::from([("t2".to_string(), 1), ("t4".to_string(), 1)]),
        "only the interrupted task and what it blocked ran again"
    );
    // The trace covers both processes: the cancelled attempt and its rerun.
    let t2 = plan.task_index("t2").unwrap();
    let t2_rows: Vec<(u32, Outcome)> = resumed
        .trace
        .iter()
        .filter(|r| r.task == t2)
        .map(|r| (r.attempt, r.outcome))
        .collect();
    assert_eq!(t2_rows, [(1, Outcome::Cancelled), (2, Outcome::Succeeded)]);
    assert_eq!(resumed.progress.completed_tasks, 5);
}

#[test]
fn a_journal_that_does_not_match_the_record_is_refused() {
    let (scenario, plan) = plan(WIDE);
    let journal = Memory::default();
    let outcome = block_on(
        runner(&scenario, &plan, Arc::new(Sleeper::default()))
            .journal(Box::new(journal.clone()))
            .run(CancellationToken::new()),
    )
    .unwrap();
    assert_eq!(outcome.status, RunStatus::Completed);
    let history = journal.0.lock().unwrap().clone();
    let err = block_on(
        runner(&scenario, &plan, Arc::new(Sleeper::default()))
            .resume(history.clone(), Some(vec![1, 1, 2, 1, 1]))
            .run(CancellationToken::new()),
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("task `t2` replays to attempt 1 but attempt 2 was recorded"),
        "{err}"
    );
    let mut backwards = history;
    backwards[3].now = 0;
    backwards[2].now = 5;
    let err = block_on(
        runner(&scenario, &plan, Arc::new(Sleeper::default()))
            .resume(backwards, None)
            .run(CancellationToken::new()),
    )
    .unwrap_err();
    assert!(
        matches!(err, RunError::CorruptJournal { entry: 4, .. }),
        "{err}"
    );
}

#[test]
fn the_clock_never_goes_back_and_maps_core_time_to_instants() {
    let mut clock = Clock::new(1_000);
    let a = clock.now();
    let b = clock.now();
    assert!(a >= 1_000 && b >= a);
    assert_eq!(
        clock.instant(1_250) - clock.origin,
        Duration::from_millis(250)
    );
    assert_eq!(clock.instant(10), clock.origin);
}

#[test]
fn attempt_directories_are_file_name_safe_and_distinct() {
    let text = "[[agents]]\ncount=1\n[[tasks]]\nid='a/b c'\nestimated_duration=1\n\
        [[tasks]]\nid='a_b_c'\nestimated_duration=1\n";
    let (_, plan) = plan(text);
    let run = Path::new("/r");
    let first = attempt_dir(run, &plan, TaskIdx(0), 2);
    let second = attempt_dir(run, &plan, TaskIdx(1), 2);
    assert_eq!(first, Path::new("/r/attempts/0-a_b_c/2"));
    assert_ne!(first, second);
}

/// Silent for its first `silent_ms`, then alive; runs tasks like [`Sleeper`].
struct Napper {
    since: Instant,
    silent_ms: u64,
    work: Sleeper,
}

impl Agent for Napper {
    fn execute<'a>(&'a self, job: Job, cancel: CancellationToken) -> BoxFuture<'a, Report> {
        self.work.execute(job, cancel)
    }
    fn heartbeat(&self) -> BoxFuture<'_, bool> {
        let awake = self.since.elapsed() >= Duration::from_millis(self.silent_ms);
        Box::pin(async move { awake })
    }
}

#[test]
fn a_lost_agent_that_answers_again_rejoins_and_gets_work() {
    // One agent: it goes silent, is lost (its attempt requeued), answers again and
    // finishes the work itself.
    let text = "time_unit='ms'\n[config]\nheartbeat_timeout=120\n\
        [[agents]]\nid='napper'\n[[tasks]]\nid='x'\nestimated_duration=400\n";
    let (scenario, plan) = plan(text);
    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = events.clone();
    let outcome = block_on(async {
        let napper = Napper {
            since: Instant::now(),
            silent_ms: 250,
            work: Sleeper::default(),
        };
        Runner::new(plan.clone(), scenario.config.clone())
            .agent(scenario.agents[0].clone(), Arc::new(napper))
            .on_event(move |e| seen.lock().unwrap().push(e.kind.clone()))
            .run(CancellationToken::new())
            .await
    })
    .unwrap();
    assert_eq!(outcome.status, RunStatus::Completed);
    let outcomes: Vec<Outcome> = outcome.trace.iter().map(|r| r.outcome).collect();
    assert_eq!(outcomes, [Outcome::Lost, Outcome::Succeeded]);
    let events = events.lock().unwrap();
    let registered = events
        .iter()
        .filter(|e| matches!(e, EventKind::AgentRegistered { .. }))
        .count();
    assert_eq!(
        registered, 2,
        "it registered, was lost, and registered again"
    );
    assert!(
        events
            .iter()
            .any(|e| matches!(e, EventKind::AgentLost { .. }))
    );
}

/// Task `finder` shares a discovery about `src/a.rs` once it has begun; task `listener`,
/// started at the same time on the other agent, waits on its inbox and succeeds with what
/// it heard, or fails if nothing comes within 5 s.
struct Gossip;

impl Agent for Gossip {
    fn execute<'a>(&'a self, mut job: Job, _cancel: CancellationToken) -> BoxFuture<'a, Report> {
        Box::pin(async move {
            job.started();
            if &*job.spec().id == "finder" {
                // Let the listener's attempt start first: the item must reach a running one.
                tokio::time::sleep(Duration::from_millis(50)).await;
                job.share(ContextItem::Discovery {
                    summary: "a.rs is generated".into(),
                    details: String::new(),
                    files: vec!["src/a.rs".into()],
                    confidence: 1.0,
                });
                return Report::Succeeded { result: None };
            }
            match tokio::time::timeout(Duration::from_secs(5), job.inbox.recv()).await {
                Ok(Some(shared)) => Report::Succeeded {
                    result: Some(format!("{} from {}", summary(&shared.item), shared.agent)),
                },
                _ => Report::Failed {
                    error: "heard nothing".into(),
                },
            }
        })
    }
}

fn summary(item: &ContextItem) -> &str {
    match item {
        ContextItem::Discovery { summary, .. } | ContextItem::Solution { summary, .. } => summary,
        ContextItem::Error { message, .. } => message,
    }
}

#[test]
fn a_discovery_reaches_an_attempt_already_running_on_another_agent() {
    let (scenario, plan) = plan(
        "time_unit='ms'\n[[agents]]\ncount=2\n\
         [[tasks]]\nid='listener'\nestimated_duration=100\nfiles_to_read=['src/a.rs']\n\
         [[tasks]]\nid='finder'\nestimated_duration=100\nfiles_to_read=['src/a.rs']\n",
    );
    let results = Arc::new(Mutex::new(Vec::new()));
    let seen = results.clone();
    let outcome = block_on(
        runner(&scenario, &plan, Arc::new(Gossip))
            .on_event(move |e| {
                if let EventKind::TaskComplete { task, result, .. } = &e.kind {
                    seen.lock()
                        .unwrap()
                        .push((task.to_string(), result.clone()));
                }
            })
            .run(CancellationToken::new()),
    )
    .unwrap();
    assert_eq!(outcome.status, RunStatus::Completed);
    let end = |id: &str| {
        let t = plan.task_index(id).unwrap();
        outcome.trace.iter().find(|r| r.task == t).unwrap().clone()
    };
    assert_ne!(end("listener").agent, end("finder").agent);
    let finder = &outcome.agents[end("finder").agent.ix()].id;
    let results = results.lock().unwrap();
    let heard = results.iter().find(|(t, _)| t == "listener").unwrap();
    assert_eq!(
        heard.1.as_deref(),
        Some(format!("a.rs is generated from {finder}").as_str())
    );
}

/// Without a run directory, each command attempt's files go to a temporary directory of its
/// own: two runners of one process running the same task at once do not share it, and
/// nothing is left in the temp directory afterwards.
#[test]
fn attempts_without_a_run_directory_leave_nothing_behind() {
    let text = "time_unit='ms'\n[[agents]]\nid='w'\n\
        [[tasks]]\nid='a'\nestimated_duration=10\n\
        command='dirname \"$TASKDIST_RESULT_FILE\" > \"$TASKDIST_RESULT_FILE\"; sleep 0.2'\n";
    let (scenario, plan) = plan(text);
    let run = |plan: Arc<Plan>| {
        let results = Arc::new(Mutex::new(Vec::new()));
        let seen = results.clone();
        let config = scenario.config.clone();
        let agent = scenario.agents[0].clone();
        async move {
            let workdir = std::env::current_dir().unwrap();
            let outcome = Runner::new(plan, config)
                .agent(
                    agent,
                    Arc::new(CommandAgent::new(CommandSettings::new(workdir))),
                )
                .on_event(move |e| {
                    if let EventKind::TaskComplete { result, .. } = &e.kind {
                        seen.lock()
                            .unwrap()
                            .push(result.clone().unwrap_or_default());
                    }
                })
                .run(CancellationToken::new())
                .await
                .unwrap();
            assert_eq!(outcome.status, RunStatus::Completed);
            results.lock().unwrap().clone()
        }
    };
    let (first, second) = block_on(async { tokio::join!(run(plan.clone()), run(plan.clone())) });
    assert_eq!((first.len(), second.len()), (1, 1));
    assert_ne!(first[0], second[0], "the two runners shared a directory");
    for dir in [&first[0], &second[0]] {
        let dir = Path::new(dir);
        assert!(dir.starts_with(std::env::temp_dir()), "{}", dir.display());
        assert!(!dir.exists(), "{} was left behind", dir.display());
    }
}
