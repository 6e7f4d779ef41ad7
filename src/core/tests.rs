//! One test per rule of the core; each fails if its rule is broken.

use super::*;
use crate::model::{Format, MINUTE_MS, SECOND_MS, Scenario};
use crate::plan::Plan;
use std::collections::BTreeSet;

/// A scheduler for a scenario written as TOML tasks (agents are added by the test).
struct Harness {
    s: Scheduler,
    now: Time,
}

fn plan(tasks: &str) -> Arc<Plan> {
    // Estimates up to hours; the scheduler's own timeouts come from `config()`.
    let text = format!("[config]\ntask_timeout = '100h'\n[[agents]]\ncount = 1\n{tasks}");
    let (scenario, issues) = Scenario::parse(&text, Format::Toml, "test.toml").unwrap();
    Arc::new(Plan::from_scenario(scenario, issues).unwrap().1)
}

fn config() -> Config {
    Config {
        heartbeat_timeout_ms: None,
        backoff_base_ms: 0,
        backoff_max_ms: 0,
        ..Config::default()
    }
}

impl Harness {
    fn new(tasks: &str, config: Config) -> Harness {
        Harness {
            s: Scheduler::new(plan(tasks), config),
            now: 0,
        }
    }

    fn t(&self, id: &str) -> TaskIdx {
        self.s.plan().task_index(id).unwrap()
    }

    fn agent(&mut self, spec: AgentSpec) -> AgentIdx {
        let id = spec.id.clone();
        self.s.handle_input(self.now, Input::AgentUp { spec });
        self.s.agent_index(&id).unwrap()
    }

    fn agents(&mut self, n: usize) -> Vec<AgentIdx> {
        (0..n)
            .map(|i| self.agent(AgentSpec::new(&format!("a{i}"))))
            .collect()
    }

    /// Drains decisions: the assignments as (task id, agent index, attempt).
    fn assigned(&mut self) -> Vec<(String, u32, u32)> {
        let mut out = Vec::new();
        while let Some(d) = self.s.poll_decision() {
            if let Decision::Assign(a) = d {
                out.push((
                    self.s.plan().task(a.task).id.to_string(),
                    a.agent.0,
                    a.attempt,
                ));
            }
        }
        out
    }

    fn ids(&mut self) -> Vec<String> {
        self.assigned().into_iter().map(|(t, _, _)| t).collect()
    }

    fn events(&mut self) -> Vec<Event> {
        std::iter::from_fn(|| self.s.poll_event()).collect()
    }

    fn at(&mut self, now: Time) -> &mut Self {
        self.now = now;
        self
    }

    fn succeed(&mut self, id: &str) {
        let t = self.t(id);
        let agent = self.s.running_on(t).expect("task runs");
        let attempt = self.s.attempt(t);
        self.s.handle_input(
            self.now,
            Input::TaskSucceeded {
                task: t,
                agent,
                attempt,
                result: None,
            },
        );
        self.pump();
    }

    fn fail(&mut self, id: &str) {
        let t = self.t(id);
        let agent = self.s.running_on(t).expect("task runs");
        let attempt = self.s.attempt(t);
        self.s.handle_input(
            self.now,
            Input::TaskFailed {
                task: t,
                agent,
                attempt,
                error: "boom".to_string(),
            },
        );
        self.pump();
    }

    /// Fires the deadlines that are due, as a driver does after each input.
    fn pump(&mut self) {
        while self.s.poll_timeout().is_some_and(|at| at <= self.now) {
            self.s.handle_timeout(self.now);
        }
    }

    fn status(&self, id: &str) -> TaskStatus {
        self.s.status(self.t(id))
    }
}

const CHAIN: &str = "
[[tasks]]
id = 'a'
estimated_duration = 10
[[tasks]]
id = 'b'
estimated_duration = 10
depends_on = ['a']
[[tasks]]
id = 'c'
estimated_duration = 10
depends_on = ['b']
";

#[test]
fn a_task_starts_only_after_its_dependencies_succeed() {
    let mut h = Harness::new(CHAIN, config());
    h.agents(3);
    assert_eq!(h.ids(), vec!["a"]);
    assert_eq!(h.status("b"), TaskStatus::Waiting);
    h.at(10).succeed("a");
    assert_eq!(h.ids(), vec!["b"]);
    h.at(20).succeed("b");
    assert_eq!(h.ids(), vec!["c"]);
    h.at(30).succeed("c");
    assert!(h.s.is_finished());
    let last = h.events().pop().unwrap();
    assert!(matches!(
        last.kind,
        EventKind::DistributionComplete {
            completed_tasks: 3,
            ..
        }
    ));
}

#[test]
fn dependents_of_a_failed_task_are_skipped_with_the_reason() {
    let tasks = format!("{CHAIN}[[tasks]]\nid='d'\nestimated_duration=1\nblocked_by=['a']\n");
    let mut h = Harness::new(
        &tasks,
        Config {
            max_retries_per_task: 0,
            ..config()
        },
    );
    h.agents(2);
    assert_eq!(h.ids(), vec!["a"]);
    h.events();
    h.fail("a");
    assert_eq!(h.status("a"), TaskStatus::Failed);
    assert_eq!(h.status("b"), TaskStatus::Skipped);
    assert_eq!(h.status("c"), TaskStatus::Skipped);
    // `blocked_by` only waits for the end: d runs although a failed.
    assert_eq!(h.ids(), vec!["d"]);
    let skipped: Vec<(String, String)> = h
        .events()
        .into_iter()
        .filter_map(|e| match e.kind {
            EventKind::TaskSkipped { task, because } => {
                Some((task.to_string(), because.to_string()))
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        skipped,
        vec![("b".into(), "a".into()), ("c".into(), "b".into())]
    );
}

const POLICY: &str = "
[[tasks]]
id = 'short'
estimated_duration = 5
priority = 'critical'
[[tasks]]
id = 'long'
estimated_duration = 5
priority = 'low'
[[tasks]]
id = 'tail'
estimated_duration = 60
depends_on = ['long']
[[tasks]]
id = 'tie_low'
estimated_duration = 5
priority = 'low'
[[tasks]]
id = 'tie_high'
estimated_duration = 5
priority = 'high'
";

fn first_pick(policy: Policy, agents: usize) -> Vec<String> {
    let mut h = Harness::new(POLICY, Config { policy, ..config() });
    h.agents(agents);
    h.ids()
}

#[test]
fn critical_path_runs_the_longest_remaining_path_first_then_priority() {
    // `long` heads a 65-minute path; then the 5-minute tasks by priority.
    assert_eq!(
        first_pick(Policy::CriticalPath, 4),
        vec!["long", "short", "tie_high", "tie_low"]
    );
}

#[test]
fn priority_policy_orders_by_priority_class_first() {
    assert_eq!(
        first_pick(Policy::Priority, 4),
        vec!["short", "tie_high", "long", "tie_low"]
    );
}

#[test]
fn fifo_dispatches_in_the_order_tasks_became_ready() {
    assert_eq!(
        first_pick(Policy::Fifo, 4),
        vec!["short", "long", "tie_low", "tie_high"]
    );
    // A task made ready later goes behind those already waiting, whatever its path.
    let mut h = Harness::new(
        POLICY,
        Config {
            policy: Policy::Fifo,
            ..config()
        },
    );
    h.agents(1);
    assert_eq!(h.ids(), vec!["short"]);
    h.at(1).succeed("short");
    assert_eq!(h.ids(), vec!["long"]);
    h.at(2).succeed("long"); // makes `tail` ready, behind tie_low and tie_high
    assert_eq!(h.ids(), vec!["tie_low"]);
    h.at(3).succeed("tie_low");
    assert_eq!(h.ids(), vec!["tie_high"]);
}

#[test]
fn fifo_breaks_ties_of_the_same_time_in_plan_order() {
    // `early` and `late` become ready at the same millisecond through two inputs, `early`
    // first; both then wait for the file `long` writes. Ready at the same time, they go
    // in plan order, as `Policy::Fifo` documents: `late` comes first in the plan.
    let tasks = "
[[tasks]]
id = 'late'
estimated_duration = 10
depends_on = ['p']
files_to_modify = ['f']
[[tasks]]
id = 'early'
estimated_duration = 10
depends_on = ['q']
files_to_modify = ['f']
[[tasks]]
id = 'long'
estimated_duration = 50
files_to_modify = ['f']
[[tasks]]
id = 'p'
estimated_duration = 10
[[tasks]]
id = 'q'
estimated_duration = 10
";
    let mut h = Harness::new(
        tasks,
        Config {
            policy: Policy::Fifo,
            ..config()
        },
    );
    h.agents(3);
    assert_eq!(h.ids(), vec!["long", "p", "q"]);
    h.at(10).succeed("q");
    h.succeed("p");
    assert_eq!(h.ids(), Vec::<String>::new(), "both wait for `f`");
    h.at(50).succeed("long");
    assert_eq!(h.ids(), vec!["late"]);
}

#[test]
fn layered_holds_the_next_layer_until_the_current_one_has_ended() {
    let tasks = "
[[tasks]]
id = 'slow'
estimated_duration = 50
[[tasks]]
id = 'fast'
estimated_duration = 1
[[tasks]]
id = 'after_fast'
estimated_duration = 1
depends_on = ['fast']
";
    let mut layered = Harness::new(
        tasks,
        Config {
            policy: Policy::Layered,
            ..config()
        },
    );
    layered.agents(3);
    assert_eq!(layered.ids(), vec!["slow", "fast"]);
    layered.at(1).succeed("fast");
    // after_fast is ready by its dependencies but layer 0 (slow) is still running.
    assert_eq!(layered.ids(), Vec::<String>::new());
    assert_eq!(layered.status("after_fast"), TaskStatus::Blocked);
    layered.at(50).succeed("slow");
    assert_eq!(layered.ids(), vec!["after_fast"]);

    // The default policy does not wait for the layer.
    let mut eager = Harness::new(tasks, config());
    eager.agents(3);
    eager.ids();
    eager.at(1).succeed("fast");
    assert_eq!(eager.ids(), vec!["after_fast"]);
}

const LOCKS: &str = "
[[tasks]]
id = 'w1'
estimated_duration = 30
files_to_modify = ['src/app.ts']
[[tasks]]
id = 'w2'
estimated_duration = 20
files_to_modify = ['./src//app.ts']
[[tasks]]
id = 'other'
estimated_duration = 10
files_to_modify = ['src/other.ts']
";

#[test]
fn writers_of_one_file_never_overlap_and_the_agent_takes_other_work() {
    let mut h = Harness::new(LOCKS, config());
    h.agents(2);
    // w2 (same file, spelled differently) is blocked; the second agent takes `other`.
    assert_eq!(h.ids(), vec!["w1", "other"]);
    assert_eq!(h.status("w2"), TaskStatus::Blocked);
    let blocked = h.events().into_iter().find_map(|e| match e.kind {
        EventKind::TaskBlocked {
            task,
            reason: BlockReason::Lock { file, holder, .. },
        } => Some((task.to_string(), file.to_string(), holder.to_string())),
        _ => None,
    });
    assert_eq!(
        blocked,
        Some(("w2".into(), "src/app.ts".into(), "w1".into()))
    );
    h.at(10).succeed("other");
    assert_eq!(h.ids(), Vec::<String>::new());
    // The release wakes the parked writer at once: no polling delay.
    h.at(30).succeed("w1");
    assert_eq!(h.ids(), vec!["w2"]);
}

#[test]
fn locks_are_taken_all_at_once_or_not_at_all() {
    let tasks = "
[[tasks]]
id = 'holder'
estimated_duration = 30
files_to_modify = ['b']
[[tasks]]
id = 'both'
estimated_duration = 20
files_to_modify = ['a', 'b']
[[tasks]]
id = 'only_a'
estimated_duration = 10
files_to_modify = ['a']
";
    let mut h = Harness::new(tasks, config());
    h.agents(3);
    // `both` cannot have b, so it must not sit on a: only_a runs.
    assert_eq!(h.ids(), vec!["holder", "only_a"]);
}

#[test]
fn readers_share_and_a_waiting_writer_is_not_starved() {
    let tasks = "
[[tasks]]
id = 'r1'
estimated_duration = 30
files_to_read = ['cfg']
[[tasks]]
id = 'writer'
estimated_duration = 20
files_to_modify = ['cfg']
[[tasks]]
id = 'r2'
estimated_duration = 10
files_to_read = ['cfg']
[[tasks]]
id = 'r3'
estimated_duration = 5
files_to_read = ['cfg']
";
    let mut h = Harness::new(
        tasks,
        Config {
            policy: Policy::Fifo,
            ..config()
        },
    );
    h.agents(1);
    assert_eq!(h.ids(), vec!["r1"]);
    // A second agent arrives: the writer is next but r1 reads, so it waits; the readers
    // behind it may not overtake it although reading would be allowed.
    h.at(1).agent(AgentSpec::new("b"));
    assert_eq!(h.ids(), Vec::<String>::new());
    assert_eq!(h.status("writer"), TaskStatus::Blocked);
    assert_eq!(h.status("r2"), TaskStatus::Blocked);
    h.at(30).succeed("r1");
    assert_eq!(h.ids(), vec!["writer"]);
    h.at(50).succeed("writer");
    // Then the readers share the file.
    assert_eq!(h.ids(), vec!["r2", "r3"]);
}

#[test]
fn lock_prevention_can_be_switched_off() {
    let mut h = Harness::new(
        LOCKS,
        Config {
            enable_file_conflict_prevention: false,
            ..config()
        },
    );
    h.agents(3);
    assert_eq!(h.ids(), vec!["w1", "w2", "other"]);
}

const TYPED: &str = "
[[tasks]]
id = 'feature'
type = 'feature_implementation'
estimated_duration = 30
[[tasks]]
id = 'test'
type = 'testing'
estimated_duration = 20
";

#[test]
fn capabilities_are_requirements() {
    let mut h = Harness::new(TYPED, config());
    let mut tester = AgentSpec::new("tester");
    tester.capabilities = Some(vec![TaskType::Testing]);
    let tester = h.agent(tester);
    let assigned = h.assigned();
    assert_eq!(assigned, vec![("test".to_string(), tester.0, 1)]);
    assert_eq!(h.status("feature"), TaskStatus::Ready);
    let dev = h.agent(AgentSpec::new("dev"));
    assert_eq!(h.assigned(), vec![("feature".to_string(), dev.0, 1)]);
}

#[test]
fn no_agent_runs_more_than_its_max_concurrent_tasks() {
    let tasks = (0..5)
        .map(|i| format!("[[tasks]]\nid='t{i}'\nestimated_duration=10\n"))
        .collect::<String>();
    let mut h = Harness::new(&tasks, config());
    let mut wide = AgentSpec::new("wide");
    wide.max_concurrent_tasks = 3;
    h.agent(wide);
    assert_eq!(h.ids(), vec!["t0", "t1", "t2"]);
    h.at(5).succeed("t1");
    assert_eq!(h.ids(), vec!["t3"]);
}

#[test]
fn agents_can_join_and_leave_at_any_time() {
    let tasks = (0..3)
        .map(|i| format!("[[tasks]]\nid='t{i}'\nestimated_duration=10\n"))
        .collect::<String>();
    let mut h = Harness::new(&tasks, config());
    assert_eq!(h.ids(), Vec::<String>::new());
    let a = h.agent(AgentSpec::new("a"));
    assert_eq!(h.ids(), vec!["t0"]);
    let b = h.at(1).agent(AgentSpec::new("b"));
    assert_eq!(h.ids(), vec!["t1"]);
    // a leaves: t0 goes back to ready without charge... and nobody is free until b is.
    h.at(2).s.handle_input(2, Input::AgentDown { agent: a });
    assert_eq!(h.s.failures(h.t("t0")), 0);
    assert_eq!(h.status("t0"), TaskStatus::Ready);
    h.at(11).succeed("t1");
    let next = h.assigned();
    assert_eq!(next, vec![("t0".to_string(), b.0, 2)]);
}

#[test]
fn at_most_max_agents_hold_work_at_once() {
    let tasks = (0..3)
        .map(|i| format!("[[tasks]]\nid='t{i}'\nestimated_duration=10\n"))
        .collect::<String>();
    let mut h = Harness::new(
        &tasks,
        Config {
            max_agents: 2,
            ..config()
        },
    );
    let agents = h.agents(3);
    assert_eq!(h.assigned().len(), 2, "only max_agents work at once");
    let p = h.s.progress();
    assert_eq!((p.active_agents, p.idle_agents), (2, 1));
    h.at(5)
        .s
        .handle_input(5, Input::AgentDown { agent: agents[0] });
    // The waiting agent takes over, with the requeued task.
    assert_eq!(h.assigned(), vec![("t0".to_string(), agents[2].0, 2)]);
    h.at(10).succeed("t1");
    // agents[1] frees its place; it takes t2 itself (still under the limit).
    assert_eq!(h.assigned(), vec![("t2".to_string(), agents[1].0, 1)]);
}

#[test]
fn the_agent_limit_does_not_strand_a_type_only_an_idle_agent_can_run() {
    let mut h = Harness::new(
        TYPED,
        Config {
            max_agents: 1,
            ..config()
        },
    );
    let dev = h.agent(AgentSpec::new("dev"));
    let mut tester = AgentSpec::new("tester");
    tester.capabilities = Some(vec![TaskType::Testing]);
    let tester = h.agent(tester);
    // One agent may work at a time: dev takes the longer feature first...
    assert_eq!(h.assigned(), vec![("feature".to_string(), dev.0, 1)]);
    h.at(30).succeed("feature");
    // ...and the test runs on whichever agent may take it once dev is free.
    let next = h.assigned();
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].0, "test");
    let _ = tester;
}

#[test]
fn retries_back_off_exponentially_with_deterministic_jitter() {
    let cfg = Config {
        backoff_base_ms: 10 * SECOND_MS,
        backoff_max_ms: 35 * SECOND_MS,
        max_retries_per_task: 3,
        jitter_seed: 7,
        ..config()
    };
    let run = |cfg: Config| {
        let mut h = Harness::new("[[tasks]]\nid='x'\nestimated_duration=1\n", cfg);
        h.agents(1);
        let mut waits = Vec::new();
        for _ in 0..4 {
            assert_eq!(h.ids(), vec!["x"]);
            h.fail("x");
            if h.status("x") == TaskStatus::Failed {
                break;
            }
            let until = h.s.poll_timeout().unwrap();
            waits.push(until - h.now);
            // Not ready a moment before the backoff ends.
            h.s.handle_timeout(until - 1);
            assert_eq!(h.status("x"), TaskStatus::Backoff);
            h.now = until;
            h.s.handle_timeout(until);
        }
        (waits, h.status("x"), h.s.attempt(h.t("x")))
    };
    let (waits, status, attempts) = run(cfg.clone());
    assert_eq!(status, TaskStatus::Failed);
    assert_eq!(attempts, 4, "one attempt plus max_retries_per_task retries");
    // Each wait lies in the upper half of base·2^k, capped at backoff_max.
    for (k, wait) in waits.iter().enumerate() {
        let full = ((10 * SECOND_MS) << k).min(35 * SECOND_MS);
        assert!(
            (full / 2..=full).contains(wait),
            "retry {k}: {wait} not in [{}, {full}]",
            full / 2
        );
    }
    assert!(waits[2] > waits[0], "the backoff grows");
    // Same seed, same waits; another seed, other waits.
    assert_eq!(run(cfg.clone()).0, waits);
    assert_ne!(
        run(Config {
            jitter_seed: 8,
            ..cfg
        })
        .0,
        waits
    );
}

#[test]
fn zero_retries_means_one_attempt() {
    let mut h = Harness::new(
        "[[tasks]]\nid='x'\nestimated_duration=1\n",
        Config {
            max_retries_per_task: 0,
            ..config()
        },
    );
    h.agents(1);
    h.ids();
    h.fail("x");
    assert_eq!(h.status("x"), TaskStatus::Failed);
}

#[test]
fn a_retry_prefers_an_agent_that_has_not_failed_the_task() {
    let mut h = Harness::new("[[tasks]]\nid='x'\nestimated_duration=1\n", config());
    let agents = h.agents(3);
    let first = h.assigned()[0].1;
    assert_eq!(first, agents[0].0, "fastest-then-lowest index first");
    h.fail("x");
    let second = h.assigned()[0].1;
    assert_ne!(second, first);
    h.fail("x");
    let third = h.assigned()[0].1;
    assert!(third != first && third != second);
    h.fail("x");
    // Everybody failed it: the retry still runs, on the first agent.
    assert_eq!(h.assigned()[0].1, agents[0].0);
}

#[test]
fn a_timeout_cancels_the_attempt_and_counts_as_a_failure() {
    let tasks = "[[tasks]]\nid='x'\nestimated_duration=10\ntimeout='15m'\n";
    let mut h = Harness::new(tasks, config());
    h.agents(1);
    assert_eq!(h.ids(), vec!["x"]);
    assert_eq!(h.s.poll_timeout(), Some(15 * MINUTE_MS));
    h.now = 15 * MINUTE_MS;
    h.s.handle_timeout(h.now);
    let decisions: Vec<Decision> = std::iter::from_fn(|| h.s.poll_decision()).collect();
    assert!(matches!(
        decisions[0],
        Decision::Cancel {
            reason: CancelReason::Timeout,
            attempt: 1,
            ..
        }
    ));
    assert!(matches!(
        decisions[1],
        Decision::Assign(Assignment { attempt: 2, .. })
    ));
    assert_eq!(h.s.failures(h.t("x")), 1);
    assert_eq!(h.s.stats().timeouts, 1);
    // The late result of the timed-out attempt is ignored.
    let t = h.t("x");
    h.s.handle_input(
        h.now + 1,
        Input::TaskSucceeded {
            task: t,
            agent: AgentIdx(0),
            attempt: 1,
            result: None,
        },
    );
    assert_eq!(h.status("x"), TaskStatus::Running);
    assert_eq!(h.s.stats().ignored_inputs, 1);
}

#[test]
fn config_task_timeout_applies_without_a_task_timeout() {
    let mut h = Harness::new(
        "[[tasks]]\nid='x'\nestimated_duration=10\n",
        Config {
            task_timeout_ms: 3 * MINUTE_MS,
            ..config()
        },
    );
    h.agents(1);
    h.ids();
    assert_eq!(h.s.poll_timeout(), Some(3 * MINUTE_MS));
}

#[test]
fn a_silent_agent_is_lost_and_its_work_requeued_without_charge() {
    let mut h = Harness::new(
        "[[tasks]]\nid='x'\nestimated_duration=10\n",
        Config {
            heartbeat_timeout_ms: Some(MINUTE_MS),
            ..config()
        },
    );
    let a = h.agent(AgentSpec::new("a"));
    let b = h.agent(AgentSpec::new("b"));
    assert_eq!(h.assigned(), vec![("x".to_string(), a.0, 1)]);
    // b heartbeats, a does not.
    h.s.handle_input(50 * SECOND_MS, Input::Heartbeat { agent: b });
    h.s.handle_timeout(MINUTE_MS);
    assert!(!h.s.agent_is_up(a));
    assert_eq!(h.assigned(), vec![("x".to_string(), b.0, 2)]);
    assert_eq!(h.s.failures(h.t("x")), 0);
    assert_eq!(h.s.stats().reassignments, 1);
    // a's late success for attempt 1 changes nothing.
    let t = h.t("x");
    h.s.handle_input(
        MINUTE_MS + 1,
        Input::TaskSucceeded {
            task: t,
            agent: a,
            attempt: 1,
            result: None,
        },
    );
    assert_eq!(h.status("x"), TaskStatus::Running);
    assert_eq!(h.s.running_on(t), Some(b));
}

#[test]
fn a_task_lost_with_its_agent_more_than_max_lost_per_task_fails_for_good() {
    let mut h = Harness::new(
        "[[tasks]]\nid='x'\nestimated_duration=10\n\
         [[tasks]]\nid='y'\nestimated_duration=10\ndepends_on=['x']\n",
        Config {
            heartbeat_timeout_ms: Some(MINUTE_MS),
            max_lost_per_task: 1,
            ..config()
        },
    );
    let x = h.t("x");
    let a = h.agent(AgentSpec::new("a"));
    assert_eq!(h.assigned(), vec![("x".to_string(), a.0, 1)]);
    // a goes silent: x is lost once and requeued on b, uncharged.
    h.s.handle_timeout(MINUTE_MS);
    let b = h.at(MINUTE_MS).agent(AgentSpec::new("b"));
    assert_eq!(h.assigned(), vec![("x".to_string(), b.0, 2)]);
    assert_eq!(h.status("x"), TaskStatus::Running);
    // b goes silent too: the second loss is one more than allowed.
    h.s.handle_timeout(2 * MINUTE_MS + 1);
    assert_eq!(h.status("x"), TaskStatus::Failed);
    assert_eq!(h.status("y"), TaskStatus::Skipped);
    assert_eq!(h.s.failures(x), 0);
    let failed = h.events().into_iter().any(|e| {
        matches!(e.kind, EventKind::TaskFailed { ref error, will_retry: false, .. }
            if error == "lost with its agent 2 times")
    });
    assert!(failed);
    assert!(h.s.is_finished());
}

#[test]
fn duplicate_results_count_once() {
    let mut h = Harness::new(CHAIN, config());
    h.agents(1);
    h.ids();
    let t = h.t("a");
    let done = Input::TaskSucceeded {
        task: t,
        agent: AgentIdx(0),
        attempt: 1,
        result: None,
    };
    h.s.handle_input(1, done.clone());
    h.s.handle_input(2, done);
    h.s.handle_input(
        3,
        Input::TaskFailed {
            task: t,
            agent: AgentIdx(0),
            attempt: 1,
            error: "late".into(),
        },
    );
    assert_eq!(h.status("a"), TaskStatus::Completed);
    assert_eq!(h.s.progress().completed_tasks, 1);
    assert_eq!(h.s.stats().ignored_inputs, 2);
}

#[test]
fn without_auto_reassignment_a_task_stays_with_its_agent() {
    let tasks = "[[tasks]]\nid='x'\nestimated_duration=10\n\
                 [[tasks]]\nid='y'\nestimated_duration=20\n\
                 [[tasks]]\nid='z'\nestimated_duration=30\n";
    let run = |reassign: bool| {
        let mut h = Harness::new(
            tasks,
            Config {
                policy: Policy::Fifo,
                enable_auto_reassignment: reassign,
                backoff_base_ms: SECOND_MS,
                backoff_max_ms: SECOND_MS,
                ..config()
            },
        );
        let agents = h.agents(2);
        assert_eq!(h.assigned(), vec![("x".into(), 0, 1), ("y".into(), 1, 1)]);
        h.at(1).fail("x");
        assert_eq!(h.assigned(), vec![("z".into(), 0, 1)]);
        h.at(2 * SECOND_MS).pump();
        h.at(3 * SECOND_MS).succeed("y");
        // Agent 1 is free now; does x go to it?
        (h, agents)
    };
    let (mut moving, _) = run(true);
    assert_eq!(moving.assigned(), vec![("x".into(), 1, 2)]);

    let (mut h, agents) = run(false);
    assert_eq!(h.assigned(), vec![]);
    assert_eq!(h.status("x"), TaskStatus::Blocked);
    h.at(4 * SECOND_MS).succeed("z");
    assert_eq!(h.assigned(), vec![("x".into(), 0, 2)]);
    // The work of a lost agent waits for that agent too; the run says it is stuck.
    h.events();
    h.s.handle_input(5 * SECOND_MS, Input::AgentDown { agent: agents[0] });
    assert_eq!(h.status("x"), TaskStatus::Blocked);
    let error = h.events().into_iter().find_map(|e| match e.kind {
        EventKind::DistributionError { error } => Some(error),
        _ => None,
    });
    assert!(error.unwrap().contains("waits for agent `a0`"));
    h.s.handle_input(
        6 * SECOND_MS,
        Input::AgentUp {
            spec: AgentSpec::new("a0"),
        },
    );
    assert_eq!(h.assigned(), vec![("x".into(), 0, 3)]);
}

const SHARED_FILES: &str = "
[[tasks]]
id = 'reader'
type = 'bug_fix'
estimated_duration = 30
files_to_read = ['src/api.ts']
[[tasks]]
id = 'fix'
type = 'bug_fix'
estimated_duration = 10
files_to_read = ['src/api.ts']
files_to_modify = ['src/fix.ts']
depends_on = ['first']
[[tasks]]
id = 'first'
type = 'bug_fix'
estimated_duration = 10
";

fn share(h: &mut Harness, agent: AgentIdx, item: ContextItem) {
    let now = h.now;
    h.s.handle_input(now, Input::Share { agent, item });
}

#[test]
fn assignments_carry_the_relevant_context() {
    let mut h = Harness::new(SHARED_FILES, config());
    let agents = h.agents(2);
    h.assigned();
    share(
        &mut h,
        agents[0],
        ContextItem::Discovery {
            summary: "api.ts uses a custom fetch wrapper".into(),
            details: String::new(),
            files: vec!["./src/api.ts".into()],
            confidence: 0.9,
        },
    );
    share(
        &mut h,
        agents[0],
        ContextItem::Discovery {
            summary: "unrelated".into(),
            details: String::new(),
            files: vec!["docs/x.md".into()],
            confidence: 0.9,
        },
    );
    share(
        &mut h,
        agents[1],
        ContextItem::Solution {
            problem_type: "bug_fix".into(),
            summary: "rebuild the cache first".into(),
            details: String::new(),
        },
    );
    h.fail("first");
    let assignment = std::iter::from_fn(|| h.s.poll_decision())
        .find_map(|d| match d {
            Decision::Assign(a) => Some(a),
            _ => None,
        })
        .unwrap();
    assert_eq!(h.s.plan().task(assignment.task).id.as_ref(), "first");
    assert_eq!(assignment.context.errors.len(), 1, "its own earlier error");
    assert_eq!(assignment.context.solutions.len(), 1);
    h.succeed("first");
    let assignment = std::iter::from_fn(|| h.s.poll_decision())
        .find_map(|d| match d {
            Decision::Assign(a) => Some(a),
            _ => None,
        })
        .unwrap();
    let c = &assignment.context;
    assert_eq!(
        c.discoveries.len(),
        1,
        "only the discovery touching its files"
    );
    assert_eq!(c.related_work.len(), 1, "`reader` reads the same file");
    assert_eq!(c.related_work[0].task.as_ref(), "reader");
    assert_eq!(c.solutions.len(), 1);
}

#[test]
fn related_work_is_other_agents_work() {
    let tasks = "
[[tasks]]
id = 'r1'
estimated_duration = 10
files_to_read = ['src/api.ts']
[[tasks]]
id = 'r2'
estimated_duration = 10
files_to_read = ['src/api.ts']
[[tasks]]
id = 'r3'
estimated_duration = 10
files_to_read = ['src/api.ts']
";
    let mut h = Harness::new(tasks, config());
    let related = |h: &mut Harness| -> Vec<(String, Vec<String>)> {
        let decisions: Vec<Decision> = std::iter::from_fn(|| h.s.poll_decision()).collect();
        decisions
            .into_iter()
            .filter_map(|d| match d {
                Decision::Assign(a) => Some((
                    h.s.plan().task(a.task).id.to_string(),
                    a.context
                        .related_work
                        .iter()
                        .map(|w| format!("{} on {}", w.task, w.agent))
                        .collect(),
                )),
                _ => None,
            })
            .collect()
    };
    let mut two_slots = AgentSpec::new("a0");
    two_slots.max_concurrent_tasks = 2;
    h.agent(two_slots);
    // r2 shares the file with r1, but on the same agent: nothing another agent does.
    assert_eq!(
        related(&mut h),
        vec![("r1".into(), vec![]), ("r2".into(), vec![])]
    );
    h.agent(AgentSpec::new("a1"));
    assert_eq!(
        related(&mut h),
        vec![("r3".into(), vec!["r1 on a0".into(), "r2 on a0".into()])]
    );
}

#[test]
fn the_board_is_bounded_and_sharing_can_be_switched_off() {
    let mut h = Harness::new(SHARED_FILES, config());
    let agents = h.agents(1);
    for i in 0..200 {
        share(
            &mut h,
            agents[0],
            ContextItem::Error {
                task: None,
                message: format!("e{i}"),
            },
        );
    }
    assert_eq!(h.s.board_len(), BOARD_CAPACITY);

    let mut off = Harness::new(
        SHARED_FILES,
        Config {
            enable_context_sharing: false,
            ..config()
        },
    );
    let agents = off.agents(2);
    share(
        &mut off,
        agents[0],
        ContextItem::Solution {
            problem_type: "bug_fix".into(),
            summary: "x".into(),
            details: String::new(),
        },
    );
    assert_eq!(off.s.board_len(), 0);
    let contexts: Vec<usize> = std::iter::from_fn(|| off.s.poll_decision())
        .filter_map(|d| match d {
            Decision::Assign(a) => Some(a.context.len()),
            _ => None,
        })
        .collect();
    assert!(contexts.iter().all(|&n| n == 0));
    assert!(!contexts.is_empty());
}

#[test]
fn events_name_everything_and_serialize_with_their_time() {
    let tasks = format!("{CHAIN}[[tasks]]\nid='d'\nestimated_duration=1\ntimeout='1m'\n");
    let mut h = Harness::new(
        &tasks,
        Config {
            max_retries_per_task: 1,
            heartbeat_timeout_ms: Some(10 * MINUTE_MS),
            ..config()
        },
    );
    let agents = h.agents(2);
    let t = h.t("a");
    h.s.handle_input(
        0,
        Input::TaskStarted {
            task: t,
            agent: agents[0],
            attempt: 1,
        },
    );
    h.now = MINUTE_MS;
    h.s.handle_timeout(MINUTE_MS); // d times out, retried
    h.s.handle_timeout(MINUTE_MS);
    h.at(2 * MINUTE_MS).fail("d");
    h.at(3 * MINUTE_MS).fail("a");
    h.at(4 * MINUTE_MS).fail("a");
    h.s.handle_input(h.now, Input::AgentDown { agent: agents[1] });
    let events = h.events();
    let names: BTreeSet<String> = events
        .iter()
        .map(|e| {
            let json = serde_json::to_value(e).unwrap();
            assert!(json["time"].is_u64(), "{json}");
            json["event"].as_str().unwrap().to_string()
        })
        .collect();
    for name in [
        "agent_registered",
        "agent_unregistered",
        "tasks_added",
        "layer_start",
        "layer_complete",
        "task_execute",
        "task_start",
        "task_failed",
        "task_retry",
        "task_timeout",
        "task_skipped",
        "progress",
        "distribution_complete",
    ] {
        assert!(names.contains(name), "no {name} in {names:?}");
    }
    // Round trip.
    let line = serde_json::to_string(&events[0]).unwrap();
    let back: Event = serde_json::from_str(&line).unwrap();
    assert_eq!(back, events[0]);
}

#[test]
fn progress_counts_states_and_estimates_what_is_left() {
    let mut h = Harness::new(CHAIN, config());
    h.agents(2);
    h.ids();
    let p = h.s.progress();
    assert_eq!((p.total_tasks, p.running_tasks, p.waiting_tasks), (3, 1, 2));
    assert_eq!((p.active_agents, p.idle_agents), (1, 1));
    assert_eq!(p.current_layer, Some(0));
    assert_eq!(p.estimated_remaining, Some(30 * MINUTE_MS));
    h.at(10 * MINUTE_MS).succeed("a");
    let p = h.s.progress();
    assert_eq!(
        (p.completed_tasks, p.running_tasks, p.current_layer),
        (1, 1, Some(1))
    );
    assert_eq!(p.elapsed, 10 * MINUTE_MS);
    assert_eq!(p.estimated_remaining, Some(20 * MINUTE_MS));
}

#[test]
fn a_run_that_cannot_progress_says_so() {
    let mut h = Harness::new(TYPED, config());
    let mut tester = AgentSpec::new("tester");
    tester.capabilities = Some(vec![TaskType::Testing]);
    h.agent(tester);
    h.succeed("test");
    assert!(h.s.is_stalled());
    let error = h.events().into_iter().find_map(|e| match e.kind {
        EventKind::DistributionError { error } => Some(error),
        _ => None,
    });
    assert!(error.unwrap().contains("`feature`"));
}

#[test]
fn shutdown_cancels_running_work_without_charge_and_stops_dispatching() {
    let mut h = Harness::new(LOCKS, config());
    h.agents(2);
    assert_eq!(h.ids().len(), 2);
    h.s.handle_input(1, Input::Shutdown);
    let cancels = std::iter::from_fn(|| h.s.poll_decision())
        .filter(|d| {
            matches!(
                d,
                Decision::Cancel {
                    reason: CancelReason::Shutdown,
                    ..
                }
            )
        })
        .count();
    assert_eq!(cancels, 2);
    assert_eq!(h.s.progress().running_tasks, 0);
    assert_eq!(h.s.failures(h.t("w1")), 0);
}

#[test]
#[should_panic(expected = "time went backwards")]
fn time_going_backwards_is_a_driver_bug() {
    let mut h = Harness::new(CHAIN, config());
    h.s.handle_input(10, Input::Shutdown);
    h.s.handle_timeout(5);
}

/// `drain_events` hands out the same events in the same order as `poll_event`, and leaves
/// none behind.
#[test]
fn drain_events_reads_what_poll_event_would_return() {
    let run = |drain: bool| {
        let mut h = Harness::new(CHAIN, config());
        h.agents(2);
        let mut events = Vec::new();
        for id in ["a", "b", "c"] {
            h.ids();
            h.at(h.now + MINUTE_MS).succeed(id);
            if drain {
                h.s.drain_events(|e| events.push(e.clone()));
                assert!(h.s.poll_event().is_none(), "drained");
            } else {
                events.extend(h.events());
            }
        }
        events
    };
    let drained = run(true);
    assert!(drained.len() > 4);
    assert_eq!(drained, run(false));
}

/// Four tasks running at once on four agents: two read `src/api.ts` (of two types), one
/// is a `bug_fix` on another file, one shares.
const LIVE: &str = "
[[tasks]]
id = 'r1'
type = 'bug_fix'
estimated_duration = 30
files_to_read = ['src/api.ts']
[[tasks]]
id = 'r2'
type = 'feature_implementation'
estimated_duration = 30
files_to_read = ['src/api.ts']
[[tasks]]
id = 'other'
type = 'bug_fix'
estimated_duration = 30
files_to_modify = ['src/other.ts']
[[tasks]]
id = 'x'
type = 'testing'
estimated_duration = 30
";

/// Drains decisions: the deliveries as (task id, agent index, attempt, who shared, kind).
fn deliveries(h: &mut Harness) -> Vec<(String, u32, u32, String, &'static str)> {
    let plan = h.s.plan().clone();
    std::iter::from_fn(|| h.s.poll_decision())
        .filter_map(|d| match d {
            Decision::Deliver(d) => Some((
                plan.task(d.task).id.to_string(),
                d.agent.0,
                d.attempt,
                d.shared.agent.to_string(),
                match d.shared.item {
                    ContextItem::Discovery { .. } => "discovery",
                    ContextItem::Solution { .. } => "solution",
                    ContextItem::Error { .. } => "error",
                },
            )),
            _ => None,
        })
        .collect()
}

#[test]
fn context_shared_while_attempts_run_reaches_those_it_is_relevant_to() {
    let mut h = Harness::new(LIVE, config());
    h.agents(4);
    assert_eq!(h.assigned().len(), 4);
    let on = |h: &Harness, id: &str| h.s.running_on(h.t(id)).unwrap();
    let (r1, r2, other, x) = (on(&h, "r1"), on(&h, "r2"), on(&h, "other"), on(&h, "x"));
    let id = |a: AgentIdx| format!("a{}", a.0);

    // A discovery reaches the attempts locking its file (path normalized), in plan order.
    h.at(5);
    share(
        &mut h,
        x,
        ContextItem::Discovery {
            summary: "api.ts retries on 503".into(),
            details: String::new(),
            files: vec!["./src/api.ts".into()],
            confidence: 1.0,
        },
    );
    assert_eq!(
        deliveries(&mut h),
        [
            ("r1".to_string(), r1.0, 1, id(x), "discovery"),
            ("r2".to_string(), r2.0, 1, id(x), "discovery"),
        ]
    );

    // A solution reaches the attempts of its type, but not the sharer's own.
    share(
        &mut h,
        r1,
        ContextItem::Solution {
            problem_type: "bug_fix".into(),
            summary: "pin the version".into(),
            details: String::new(),
        },
    );
    assert_eq!(
        deliveries(&mut h),
        [("other".to_string(), other.0, 1, id(r1), "solution")]
    );

    // The core's record of a failure reaches running attempts of the failed task's type.
    h.at(10).fail("other");
    assert_eq!(
        deliveries(&mut h),
        [("r1".to_string(), r1.0, 1, id(other), "error")]
    );

    // An error naming no task, or a discovery of files no running task locks, reaches none.
    share(
        &mut h,
        x,
        ContextItem::Error {
            task: None,
            message: "flaky network".into(),
        },
    );
    share(
        &mut h,
        x,
        ContextItem::Discovery {
            summary: "unrelated".into(),
            details: String::new(),
            files: vec!["src/nobody.ts".into()],
            confidence: 1.0,
        },
    );
    assert_eq!(deliveries(&mut h), []);

    // Switched off, items still go on the board and reach later assignments, but no
    // running attempt.
    let board = h.s.board_len();
    h.s.set_live_context(false);
    share(
        &mut h,
        x,
        ContextItem::Solution {
            problem_type: "bug_fix".into(),
            summary: "again".into(),
            details: String::new(),
        },
    );
    assert_eq!(deliveries(&mut h), []);
    assert_eq!(h.s.board_len(), board + 1);
}
