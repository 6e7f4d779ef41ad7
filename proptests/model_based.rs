//! The model-based test: the core under `fifo` against [`crate::reference`], a plain
//! rewrite of the documented rules. A run of the fault-injecting driver supplies the
//! inputs (so faults, stale reports and agents coming and going are all in); the reference
//! takes the same inputs at the same times and must make the same decisions (assignments
//! with their attempt numbers and deadlines, cancellations with their reasons), report the
//! same next deadline and put every task in the same state after every call.
//!
//! Assignments are compared without their context: what the board holds is not a
//! scheduling decision, and sharing is switched on and off by the cases to show it changes
//! none. Heartbeats are off, as the reference does not model them.

use crate::driver::{self, Call};
use crate::generators::{self, Case};
use crate::reference::Reference;
use proptest::prelude::*;
use taskdist::core::{Context, Decision, Event, Scheduler};
use taskdist::model::Policy;

fn without_context(decisions: &[Decision]) -> Vec<Decision> {
    decisions
        .iter()
        .map(|d| match d {
            Decision::Assign(a) => {
                let mut a = a.clone();
                a.context = Context::default();
                Decision::Assign(a)
            }
            cancel => cancel.clone(),
        })
        .collect()
}

/// A case the reference can follow: no heartbeats.
fn for_model(mut case: Case) -> Case {
    case.knobs.heartbeat_ms = None;
    case
}

proptest! {
    #![proptest_config(crate::config())]

    /// The core under `fifo` makes the reference's decisions, step for step.
    #[test]
    fn fifo_core_agrees_with_the_reference(case in generators::case().prop_map(for_model)) {
        // The driver's run chooses the inputs; a fresh core and the reference then take
        // them side by side, so the core's state can be read after every call.
        let run = driver::run(&case, Policy::Fifo);
        let plan = run.built.plan.clone();
        let mut core = Scheduler::new(plan.clone(), run.built.config.clone());
        let mut reference = Reference::new(plan.clone(), run.built.config.clone());
        for (i, step) in run.journal.iter().enumerate() {
            match &step.call {
                Call::New => {}
                Call::Input(input) => core.handle_input(step.now, input.clone()),
                Call::Timeout => core.handle_timeout(step.now),
            }
            let decisions: Vec<Decision> = std::iter::from_fn(|| core.poll_decision()).collect();
            let events: Vec<Event> = std::iter::from_fn(|| core.poll_event()).collect();
            let expected = match &step.call {
                Call::New => reference.take_decisions(),
                Call::Input(input) => reference.handle_input(step.now, input, &events),
                Call::Timeout => reference.handle_timeout(step.now, &events),
            };
            prop_assert_eq!(
                without_context(&decisions), expected,
                "decisions differ at step {} ({} ms, {:?})", i, step.now, step.call
            );
            prop_assert_eq!(core.poll_timeout(), reference.poll_timeout(), "next deadline differs after step {}", i);
            for t in plan.task_indices() {
                prop_assert_eq!(
                    core.status(t), reference.status(t),
                    "task {} differs after step {} ({} ms, {:?})", plan.task(t).id, i, step.now, step.call
                );
            }
            prop_assert!(reference.complaints.is_empty(), "after step {}: {:?}", i, reference.complaints);
        }
    }
}
