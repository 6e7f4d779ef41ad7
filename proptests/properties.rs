//! The ten properties of the scheduler, each a proptest over generated cases and each
//! checked under every policy. Properties 1–5 are checked on two drivers: the
//! fault-injecting driver (through [`crate::world`]) and the simulator (through
//! [`crate::simulated`]); 6, 7, 8 and 9 need the exact control of the first; 10 is about
//! fault-free simulated makespans.
//!
//! A failure names the policy, the step of the journal and what went wrong; proptest then
//! prints the shrunk case and records its seed in `proptest-regressions/properties.txt`, so
//! the next `cargo test --release --test proptests` replays it first.

use crate::driver::{self, Call, Run};
use crate::generators::{self, Case};
use crate::simulated;
use crate::world::{self, Prop};
use proptest::prelude::*;
use taskdist::core::{Decision, Event, Input, Scheduler};
use taskdist::model::{Dispatch, Policy, Time};

/// Fails with the first breach of `prop` in the case's runs under every policy.
fn holds(case: &Case, prop: Prop, simulate_too: bool) -> Result<(), TestCaseError> {
    for policy in Policy::ALL {
        let run = driver::run(case, policy);
        let breaches = world::check(&run);
        let mine: Vec<_> = breaches.iter().filter(|b| b.prop == prop).collect();
        if let Some(first) = mine.first() {
            return Err(TestCaseError::fail(format!(
                "{policy}, fault-injecting driver: {first} ({} breaches of this property)",
                mine.len()
            )));
        }
        if simulate_too {
            let models = simulated::models(case, &run.built);
            let result = simulated::simulate(case, &run.built, &models);
            let breaches = simulated::trace_breaches(&run.built, &result);
            if let Some(first) = breaches.iter().find(|b| b.prop == prop) {
                return Err(TestCaseError::fail(format!(
                    "{policy}, simulator (seed {}): {first}",
                    case.faults.seed
                )));
            }
        }
    }
    Ok(())
}

/// A case with every kind of stale report likely: the property 7 runs.
fn noisy(mut case: Case) -> Case {
    let f = &mut case.faults;
    f.late = f.late.max(500);
    f.duplicate = f.duplicate.max(300);
    f.misroute = f.misroute.max(200);
    f.hang = f.hang.max(50);
    case
}

/// Replays `run`'s inputs, journalled as JSON, into a fresh core and requires the same
/// decisions, events and deadlines after every call.
fn replays_identically(run: &Run) -> Result<(), TestCaseError> {
    let calls: Vec<(Time, Option<Input>)> = run
        .journal
        .iter()
        .filter_map(|step| match &step.call {
            Call::New => None,
            Call::Input(input) => Some((step.now, Some(input.clone()))),
            Call::Timeout => Some((step.now, None)),
        })
        .collect();
    let text = serde_json::to_string(&calls).expect("inputs serialize");
    let calls: Vec<(Time, Option<Input>)> =
        serde_json::from_str(&text).expect("inputs deserialize");
    let mut core = Scheduler::new(run.built.plan.clone(), run.built.config.clone());
    prop_assert_eq!(core.config(), &run.built.config);
    let drain = |core: &mut Scheduler| {
        let decisions: Vec<Decision> = std::iter::from_fn(|| core.poll_decision()).collect();
        let events: Vec<Event> = std::iter::from_fn(|| core.poll_event()).collect();
        (decisions, events, core.poll_timeout())
    };
    let first = &run.journal[0];
    prop_assert_eq!(
        drain(&mut core),
        (first.decisions.clone(), first.events.clone(), first.timeout)
    );
    for (i, ((now, input), step)) in calls.into_iter().zip(&run.journal[1..]).enumerate() {
        match input {
            Some(input) => core.handle_input(now, input),
            None => core.handle_timeout(now),
        }
        let (decisions, events, timeout) = drain(&mut core);
        prop_assert_eq!(
            core.now(),
            now,
            "{}: the core's clock differs at step {}",
            run.policy,
            i + 1
        );
        prop_assert_eq!(
            &decisions,
            &step.decisions,
            "{}: decisions differ at step {}",
            run.policy,
            i + 1
        );
        prop_assert_eq!(
            &events,
            &step.events,
            "{}: events differ at step {}",
            run.policy,
            i + 1
        );
        prop_assert_eq!(
            timeout,
            step.timeout,
            "{}: deadline differs at step {}",
            run.policy,
            i + 1
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(crate::config())]

    /// 1. Dispatch order is a topological order of the succeeded dependencies: a task
    /// starts only after every `depends_on` task succeeded and every `blocked_by` task
    /// ended, and never again once it ended.
    #[test]
    fn p1_a_task_starts_only_after_its_dependencies(case in generators::case()) {
        holds(&case, Prop::Dependencies, true)?;
    }

    /// 2. No two attempts that overlap in time hold conflicting locks (write/write or
    /// read/write on the same file, whatever the spelling of its path).
    #[test]
    fn p2_overlapping_attempts_never_hold_conflicting_locks(case in generators::case()) {
        holds(&case, Prop::Locks, true)?;
    }

    /// 3. No agent runs more than `max_concurrent_tasks` or a task whose type it lacks; no
    /// agent that is down or on standby gets work; at most `max_agents` agents work.
    #[test]
    fn p3_agents_get_only_what_they_can_run_and_hold(case in generators::case()) {
        holds(&case, Prop::Capacity, true)?;
    }

    /// 4. Every task ends completed, failed with its retries spent, or skipped because
    /// something it needs failed — as the inputs say it should — and none is lost or left
    /// running.
    #[test]
    fn p4_every_task_ends_and_none_is_lost(case in generators::case()) {
        holds(&case, Prop::Termination, true)?;
    }

    /// 5. Attempts per task never exceed the budget; a lost agent's attempts are not
    /// charged; attempts are numbered 1, 2, 3….
    #[test]
    fn p5_attempts_stay_within_the_budget(case in generators::case()) {
        holds(&case, Prop::Budget, true)?;
    }

    /// 6. A retry goes to an agent that has not failed the task whenever such an agent is
    /// free; with auto-reassignment off, it stays with its agent.
    #[test]
    fn p6_a_retry_avoids_the_agents_that_failed_it(case in generators::case()) {
        holds(&case, Prop::RetryAgent, false)?;
    }

    /// 7. Stale results — of a timed-out or cancelled attempt, duplicates, misrouted or
    /// naming nothing — never change the core's state.
    #[test]
    fn p7_stale_results_change_nothing(case in generators::case().prop_map(noisy)) {
        for policy in Policy::ALL {
            let run = driver::run(&case, policy);
            if let Some(first) = run.stale_breaches.first() {
                return Err(TestCaseError::fail(format!(
                    "{policy}: {first} ({} of {} stale reports changed something)",
                    run.stale_breaches.len(),
                    run.stale_sent
                )));
            }
        }
    }

    /// 8. Determinism: the same inputs in the same order give the same decisions and
    /// events, after a round trip of the inputs through JSON (the journal a driver keeps);
    /// and the same case runs the same twice.
    #[test]
    fn p8_same_inputs_same_decisions(case in generators::case()) {
        for policy in Policy::ALL {
            let run = driver::run(&case, policy);
            replays_identically(&run)?;
            let again = driver::run(&case, policy);
            prop_assert!(again.journal == run.journal, "{}: a second run of the case differs", policy);
        }
    }

    /// 9. `layered` never starts a layer before every lower layer has ended; and every
    /// policy is work-conserving: once the core has settled, no agent with a free slot is
    /// idle while a task it could run is ready with its locks free — except `optimized`
    /// while it follows its schedule, which may plan an agent to wait.
    #[test]
    fn p9_layers_hold_and_no_agent_idles_beside_runnable_work(case in generators::case()) {
        holds(&case, Prop::LayersAndWork, false)?;
    }

    /// 10. Without faults, on identical speed-1 agents: the makespan is never below the
    /// plan's lower bound; it is within Graham's bound for list schedules when only
    /// dependencies constrain the schedule; and with one agent it is the serial time.
    #[test]
    fn p10_makespan_respects_its_bounds(case in generators::case().prop_map(generators::calm)) {
        let mut case = case;
        for agent in &mut case.agents {
            agent.speed = 0;
            agent.join_at_ms = 0;
        }
        case.knobs.max_agents = None;
        // The simulator shortens attempts that receive a relevant discovery: a real effect,
        // but then durations are not the estimates the bounds are made of.
        case.knobs.sharing = false;
        for policy in Policy::ALL {
            let built = case.build(policy);
            let models = simulated::models(&case, &built);
            let run = simulated::simulate(&case, &built, &models)
                .map_err(|e| TestCaseError::fail(format!("{policy}: {e}")))?;
            let slots: u64 = built.agents.iter().map(|a| a.max_concurrent_tasks as u64).sum();
            let bound = simulated::lower_bound_ms(&built, slots);
            prop_assert!(run.makespan >= bound, "{}: makespan {} below the lower bound {}", policy, run.makespan, bound);
            if built.config.enable_file_conflict_prevention {
                // The classic terms equal the reference's; the best of all the plan's
                // bounds (stronger ones included) is still never above the makespan.
                let bounds = built.plan.bounds(slots as usize);
                let classic = bounds.critical_path_ms.max(bounds.work_ms).max(bounds.file_ms);
                prop_assert_eq!(classic, bound, "{}: the plan's bound differs", policy);
                prop_assert!(run.makespan >= bounds.best_ms, "{}: makespan {} below the plan's best bound {} (set by {})", policy, run.makespan, bounds.best_ms, bounds.set_by);
            }
            // Exact durations, no faults, every agent up at 0: a followed schedule is
            // reproduced to the millisecond.
            let follows = built.config.schedule.as_ref().is_some_and(|s| s.dispatch == Dispatch::Follow);
            if let Some(schedule) = built.config.schedule.as_ref().filter(|_| follows) {
                prop_assert_eq!(run.makespan, schedule.makespan_ms, "{}: the run did not reproduce its schedule", policy);
            }
            // `optimized` following its schedule is not a list schedule (it may plan an
            // agent to wait); its other dispatch modes are.
            let unconstrained = built.agents.iter().all(|a| a.capabilities.is_none())
                && (!built.config.enable_file_conflict_prevention || built.canon.iter().all(Vec::is_empty))
                && policy != Policy::Layered
                && !(policy == Policy::Optimized && (follows || built.config.schedule.is_none()));
            if unconstrained {
                // Graham: a work-conserving list schedule ends by W/m + (1 - 1/m)·CP.
                let (path, work) = (simulated::critical_path_ms(&built), simulated::work_ms(&built));
                prop_assert!(
                    slots * run.makespan <= work + (slots - 1) * path,
                    "{}: makespan {} beyond Graham's bound for {} slots, work {}, path {}",
                    policy, run.makespan, slots, work, path
                );
            }

            let mut alone = case.clone();
            alone.agents.truncate(1);
            alone.agents[0].slots = 1;
            let built = alone.build(policy);
            let models = simulated::models(&alone, &built);
            let run = simulated::simulate(&alone, &built, &models)
                .map_err(|e| TestCaseError::fail(format!("{policy}, one agent: {e}")))?;
            prop_assert_eq!(run.makespan, simulated::work_ms(&built), "{}: one agent, makespan is not the serial time", policy);
        }
    }
}

/// The properties mean little if the cases never reach the rules they check: over a fixed
/// sample of cases, every kind of fault and every way of being held back must occur.
#[test]
fn the_cases_reach_every_fault_and_every_wait() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    use std::collections::BTreeMap;
    use taskdist::core::{ContextItem, Decision, EventKind};
    let mut runner = TestRunner::deterministic();
    let mut seen: BTreeMap<String, u64> = BTreeMap::new();
    for _ in 0..crate::DEFAULT_CASES {
        let case = generators::case()
            .new_tree(&mut runner)
            .expect("a case")
            .current();
        for policy in Policy::ALL {
            let run = driver::run(&case, policy);
            let stats = run.last.stats;
            let mut add = |k: &str, v: u64| *seen.entry(k.to_string()).or_default() += v;
            add("stale reports", run.stale_sent as u64);
            add("retries", stats.retries);
            add("timeouts", stats.timeouts);
            add("reassignments", stats.reassignments);
            add("failed tasks", run.last.progress.failed_tasks as u64);
            add("skipped tasks", run.last.progress.skipped_tasks as u64);
            for decision in run.journal.iter().flat_map(|s| &s.decisions) {
                if let Decision::Deliver(d) = decision {
                    let kind = match d.shared.item {
                        ContextItem::Discovery { .. } => "delivered discoveries",
                        ContextItem::Solution { .. } => "delivered solutions",
                        ContextItem::Error { .. } => "delivered errors",
                    };
                    add(kind, 1);
                }
            }
            for event in run.journal.iter().flat_map(|s| &s.events) {
                if let EventKind::TaskBlocked { reason, .. } = &event.kind {
                    let name = format!("{reason:?}");
                    add(name.split([' ', '{']).next().unwrap_or_default(), 1);
                }
            }
        }
    }
    let wanted = [
        "stale reports",
        "retries",
        "timeouts",
        "reassignments",
        "failed tasks",
        "skipped tasks",
        "Lock",
        "WriterWaiting",
        "LayerBarrier",
        "WaitingForAgent",
        "AgentLimit",
        "NoCapableAgent",
        "delivered discoveries",
        "delivered solutions",
        "delivered errors",
    ];
    for what in wanted {
        assert!(
            seen.get(what).is_some_and(|&n| n > 0),
            "no {what} in the sample: {seen:#?}"
        );
    }
}
