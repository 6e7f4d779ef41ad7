//! The worker side of the protocol as a sans-IO state machine: what to send, what to do on
//! each message, when to beat, say hello again or self-fence. Time is an argument; the
//! driver ([`super::driver`]) moves entries and runs the commands.

use super::protocol::{
    Assign, AttemptRef, CoordinatorBeat, Hello, Message, Outcome, ResultMsg, ShareMsg, To,
    WorkerBeat,
};
use crate::core::ContextItem;
use crate::model::{TaskType, Time, count};
use std::collections::{BTreeMap, VecDeque};

/// How often a hello is repeated until it is answered.
pub const HELLO_RETRY_MS: Time = 5_000;
/// The beat interval before any coordinator beat told the lease.
pub const DEFAULT_BEAT_MS: Time = 1_000;
/// Finished attempts remembered to answer a resent assignment.
const REMEMBERED: usize = 1_024;

/// What the worker asks its driver to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Run this attempt's command.
    Run(Box<Assign>),
    /// Kill this attempt's command (cancel or self-fence).
    Kill {
        /// The task's index.
        task: u32,
        /// The attempt.
        attempt: u32,
    },
    /// Append a live context item to the attempt's inbox file.
    Inbox {
        /// The task's index.
        task: u32,
        /// The attempt.
        attempt: u32,
        /// The item, who shared it and when.
        shared: crate::core::Shared,
    },
    /// Stop: the coordinator refused this worker.
    Exit {
        /// Why.
        reason: String,
    },
}

#[derive(Debug, Clone, PartialEq)]
enum Attempt {
    /// Assigned; `started` once its command runs.
    Running { started: bool },
    /// Killed by a cancel or by self-fencing: its result is not sent.
    Killed,
    /// Ended with this result.
    Done(ResultMsg),
}

/// An attempt this instance holds.
#[derive(Debug, Clone, PartialEq)]
struct Held {
    state: Attempt,
    /// The coordinator that assigned it, or last asked for it.
    coordinator: String,
    /// The task's id and command: a later coordinator asking for the same attempt of the
    /// same work is a resumed run asking again, not new work under an old number.
    work: (std::sync::Arc<str>, Option<crate::model::CommandSpec>),
}

/// One worker process's protocol state.
#[derive(Debug)]
pub struct Worker {
    id: String,
    instance: String,
    capabilities: Option<Vec<TaskType>>,
    slots: u32,
    speed: f64,
    coordinator: Option<String>,
    welcomed: bool,
    lease_ms: Option<Time>,
    last_coordinator_beat: Time,
    next_hello: Time,
    next_beat: Time,
    attempts: BTreeMap<(u32, u32), Held>,
    /// After a new coordinator's welcome: when attempts of earlier coordinators it has not
    /// asked for are killed.
    claim_by: Option<Time>,
    finished_order: VecDeque<(u32, u32)>,
    out: VecDeque<Message>,
    actions: VecDeque<Action>,
    log: VecDeque<String>,
}

impl Worker {
    /// A worker that says hello at `now`.
    pub fn new(
        now: Time,
        id: String,
        instance: String,
        capabilities: Option<Vec<TaskType>>,
        slots: u32,
        speed: f64,
    ) -> Worker {
        let mut w = Worker {
            id,
            instance,
            capabilities,
            slots,
            speed,
            coordinator: None,
            welcomed: false,
            lease_ms: None,
            last_coordinator_beat: now,
            next_hello: now,
            next_beat: now,
            attempts: BTreeMap::new(),
            claim_by: None,
            finished_order: VecDeque::new(),
            out: VecDeque::new(),
            actions: VecDeque::new(),
            log: VecDeque::new(),
        };
        w.hello(now);
        w
    }

    /// The worker id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// This process's instance id.
    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// Whether a coordinator has welcomed this instance.
    pub fn is_welcomed(&self) -> bool {
        self.welcomed
    }

    /// Attempts whose commands are running.
    pub fn running(&self) -> usize {
        self.attempts
            .values()
            .filter(|a| matches!(a.state, Attempt::Running { .. }))
            .count()
    }

    fn hello(&mut self, now: Time) {
        self.out.push_back(Message::Hello(Hello {
            worker: self.id.clone(),
            instance: self.instance.clone(),
            capabilities: self.capabilities.clone(),
            slots: self.slots,
            speed: self.speed,
        }));
        self.next_hello = now + HELLO_RETRY_MS;
    }

    fn beat_every(&self) -> Time {
        self.lease_ms.map_or(DEFAULT_BEAT_MS, |l| (l / 3).max(1))
    }

    /// Kills the running attempts `which` selects; their results will not be sent.
    fn kill(&mut self, which: impl Fn(&Held) -> bool) {
        for (&(task, attempt), held) in &mut self.attempts {
            if matches!(held.state, Attempt::Running { .. }) && which(held) {
                held.state = Attempt::Killed;
                self.actions.push_back(Action::Kill { task, attempt });
            }
        }
    }

    /// Says hello to a (possibly) new coordinator. The attempts it holds live on: a
    /// coordinator resumed from its journal asks for those it knows (and gets their
    /// results, even ones finished while no coordinator listened); the others are killed
    /// once it has had the time to ask.
    fn new_coordinator(&mut self, now: Time, coordinator: Option<String>) {
        self.coordinator = coordinator;
        self.welcomed = false;
        self.hello(now);
    }

    /// A message read from `taskdist:control`, already verified.
    pub fn handle_control(&mut self, now: Time, entry: &str, message: Message) {
        match message {
            Message::CoordinatorBeat(CoordinatorBeat {
                coordinator,
                lease_ms,
            }) => {
                if self.coordinator.as_deref() != Some(&coordinator) {
                    if self.coordinator.is_some() {
                        self.log.push_back(format!(
                            "coordinator {coordinator} took over (entry {entry}): saying hello again"
                        ));
                    }
                    self.new_coordinator(now, Some(coordinator));
                }
                self.lease_ms = Some(lease_ms.max(1));
                self.last_coordinator_beat = now;
            }
            Message::End { coordinator } => {
                if self.coordinator.as_deref() == Some(&coordinator) {
                    self.log
                        .push_back(format!("the run of coordinator {coordinator} ended"));
                    self.kill(|_| true);
                    self.attempts.clear();
                    self.finished_order.clear();
                    self.coordinator = None;
                    self.welcomed = false;
                    self.lease_ms = None;
                }
            }
            other => self.stale(entry, &other, "not a control message"),
        }
    }

    fn stale(&mut self, entry: &str, message: &Message, why: &str) {
        self.log
            .push_back(format!("stale {} entry {entry}: {why}", message.kind()));
    }

    fn mine(&self, to: &To) -> Result<(), &'static str> {
        if to.worker != self.id || to.instance != self.instance {
            Err("for another worker instance")
        } else if self.welcomed && self.coordinator.as_deref() != Some(&to.coordinator) {
            // Before the welcome any coordinator may answer the hello.
            Err("from another coordinator")
        } else {
            Ok(())
        }
    }

    /// A message read from this worker's inbox, already verified.
    pub fn handle_inbox(&mut self, now: Time, entry: &str, message: Message) {
        let to = match &message {
            Message::Welcome(to) => to,
            Message::Reject(r) => &r.to,
            Message::Assign(a) => &a.to,
            Message::Cancel(c) => &c.to,
            Message::Context(c) => &c.at.to,
            other => return self.stale(entry, other, "not an inbox message"),
        };
        if let Err(why) = self.mine(to) {
            return self.stale(entry, &message, why);
        }
        let coordinator = to.coordinator.clone();
        if !self.welcomed && !matches!(message, Message::Welcome(_) | Message::Reject(_)) {
            return self.stale(entry, &message, "not welcomed yet");
        }
        match message {
            Message::Welcome(_) => {
                if self.welcomed {
                    return self.stale(entry, &message, "already welcomed");
                }
                let earlier = self.attempts.values().any(|h| {
                    matches!(h.state, Attempt::Running { .. }) && h.coordinator != coordinator
                });
                if earlier {
                    // Three beats' time to ask for them.
                    self.claim_by = Some(now + 3 * self.beat_every());
                }
                self.coordinator = Some(coordinator);
                self.welcomed = true;
                self.last_coordinator_beat = now;
                self.log.push_back(format!(
                    "welcomed by coordinator {}",
                    self.coordinator.as_deref().unwrap_or_default()
                ));
            }
            Message::Reject(r) => self.actions.push_back(Action::Exit { reason: r.reason }),
            Message::Assign(a) => {
                let key = (a.task, a.attempt);
                let work = (a.spec.id.clone(), a.spec.command.clone());
                let held = self.attempts.get_mut(&key);
                match held {
                    Some(held) if held.work != work => {
                        self.stale(
                            entry,
                            &Message::Assign(a),
                            "this instance holds other work under that task index and attempt",
                        );
                    }
                    // Killed (fenced, or by a coordinator that has given way to this one)
                    // and asked for again: run it again.
                    None
                    | Some(Held {
                        state: Attempt::Killed,
                        ..
                    }) => {
                        self.attempts.insert(
                            key,
                            Held {
                                state: Attempt::Running { started: false },
                                coordinator,
                                work,
                            },
                        );
                        self.actions.push_back(Action::Run(a));
                    }
                    // The coordinator missed what this instance sent: say it again (to
                    // this coordinator, which may have resumed an earlier one's run).
                    Some(held) => {
                        held.coordinator = coordinator.clone();
                        match &mut held.state {
                            Attempt::Running { started: true } => {
                                let started = self.attempt_ref(key);
                                self.out.push_back(Message::Started(started));
                            }
                            Attempt::Done(result) => {
                                result.at.coordinator = coordinator;
                                let result = result.clone();
                                self.out.push_back(Message::Started(result.at.clone()));
                                self.out.push_back(Message::Result(result));
                            }
                            _ => self.stale(entry, &Message::Assign(a), "not started yet"),
                        }
                    }
                }
            }
            Message::Cancel(c) => {
                let key = (c.task, c.attempt);
                if let Some(Held {
                    state: state @ Attempt::Running { .. },
                    ..
                }) = self.attempts.get_mut(&key)
                {
                    *state = Attempt::Killed;
                    self.actions.push_back(Action::Kill {
                        task: c.task,
                        attempt: c.attempt,
                    });
                } else {
                    self.stale(entry, &Message::Cancel(c), "not running");
                }
            }
            Message::Context(c) => {
                let key = (c.at.task, c.at.attempt);
                if self
                    .attempts
                    .get(&key)
                    .is_some_and(|h| matches!(h.state, Attempt::Running { .. }))
                {
                    self.actions.push_back(Action::Inbox {
                        task: c.at.task,
                        attempt: c.at.attempt,
                        shared: crate::core::Shared {
                            time: c.time,
                            agent: c.agent.into(),
                            item: c.item,
                        },
                    });
                } else {
                    self.stale(entry, &Message::Context(c), "not running");
                }
            }
            _ => unreachable!("filtered above"),
        }
    }

    fn attempt_ref(&self, (task, attempt): (u32, u32)) -> AttemptRef {
        AttemptRef {
            worker: self.id.clone(),
            instance: self.instance.clone(),
            coordinator: self.coordinator.clone().unwrap_or_default(),
            task,
            attempt,
        }
    }

    /// The attempt's command runs.
    pub fn attempt_started(&mut self, task: u32, attempt: u32) {
        if let Some(Held {
            state: Attempt::Running { started },
            ..
        }) = self.attempts.get_mut(&(task, attempt))
        {
            *started = true;
            let at = self.attempt_ref((task, attempt));
            self.out.push_back(Message::Started(at));
        }
    }

    /// The attempt's command shared an item.
    pub fn attempt_shared(&mut self, task: u32, attempt: u32, item: ContextItem) {
        if let Some(Held {
            state: Attempt::Running { .. },
            ..
        }) = self.attempts.get(&(task, attempt))
        {
            let at = self.attempt_ref((task, attempt));
            self.out.push_back(Message::Share(ShareMsg { at, item }));
        }
    }

    /// The attempt's command ended; `Ok` with the result summary, or `Err` with the error.
    pub fn attempt_finished(
        &mut self,
        task: u32,
        attempt: u32,
        report: Result<Option<String>, String>,
    ) {
        let key = (task, attempt);
        let Some(held) = self.attempts.get(&key) else {
            return; // forgotten with its coordinator: nobody wants the result
        };
        if !matches!(held.state, Attempt::Running { .. }) {
            return; // killed: nobody wants the result
        }
        let at = self.attempt_ref(key);
        let result = match report {
            Ok(result) => ResultMsg {
                at,
                outcome: Outcome::Succeeded,
                result,
                error: None,
            },
            Err(error) => ResultMsg {
                at,
                outcome: Outcome::Failed,
                result: None,
                error: Some(error),
            },
        };
        self.out.push_back(Message::Result(result.clone()));
        if let Some(held) = self.attempts.get_mut(&key) {
            held.state = Attempt::Done(result);
        }
        self.finished_order.push_back(key);
        if self.finished_order.len() > REMEMBERED
            && let Some(old) = self.finished_order.pop_front()
        {
            self.attempts.remove(&old);
        }
    }

    /// The broker connection came back: say hello again (the coordinator resends what it
    /// needs).
    pub fn reconnected(&mut self, now: Time) {
        self.welcomed = false;
        self.hello(now);
    }

    /// Moves time to `now`: beats, hello retries, self-fencing.
    pub fn handle_timeout(&mut self, now: Time) {
        if now >= self.next_beat {
            self.out.push_back(Message::WorkerBeat(WorkerBeat {
                worker: self.id.clone(),
                instance: self.instance.clone(),
                coordinator: self.coordinator.clone().filter(|_| self.welcomed),
            }));
            self.next_beat = now + self.beat_every();
        }
        if !self.welcomed && now >= self.next_hello {
            self.hello(now);
        }
        if let Some(lease) = self.lease_ms
            && now > self.last_coordinator_beat + lease
            && self.welcomed
        {
            self.log.push_back(format!(
                "no coordinator beat for {} ms (lease {lease} ms): self-fencing, {} running attempts killed",
                now - self.last_coordinator_beat,
                self.running()
            ));
            self.kill(|_| true);
            let coordinator = self.coordinator.clone();
            self.new_coordinator(now, coordinator);
        }
        if let Some(at) = self.claim_by
            && now >= at
        {
            self.claim_by = None;
            let current = self.coordinator.clone().unwrap_or_default();
            let before = self.running();
            self.kill(|h| h.coordinator != current);
            if self.running() < before {
                self.log.push_back(format!(
                    "{} of an earlier coordinator not asked for by {current}: killed",
                    count(before - self.running(), "attempt", "attempts")
                ));
            }
        }
    }

    /// The next message to send.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Message> {
        self.out.pop_front()
    }

    /// The next thing for the driver to do.
    #[must_use]
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// The next line to log (stale messages, fencing, takeovers).
    #[must_use]
    pub fn poll_log(&mut self) -> Option<String> {
        self.log.pop_front()
    }

    /// When [`Worker::handle_timeout`] must next be called.
    #[must_use]
    pub fn poll_timeout(&self) -> Time {
        let mut at = self.next_beat;
        if !self.welcomed {
            at = at.min(self.next_hello);
        }
        if let (Some(lease), true) = (self.lease_ms, self.welcomed) {
            at = at.min(self.last_coordinator_beat + lease + 1);
        }
        if let Some(claim) = self.claim_by {
            at = at.min(claim);
        }
        at
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::Context;
    use crate::model::TaskSpec;

    fn to(coordinator: &str) -> To {
        To {
            coordinator: coordinator.into(),
            worker: "w1".into(),
            instance: "i1".into(),
        }
    }

    fn assign(coordinator: &str, task: u32, attempt: u32) -> Message {
        Message::Assign(Box::new(Assign {
            to: to(coordinator),
            task,
            attempt,
            timeout_ms: 1_000,
            spec: TaskSpec::new("t", TaskType::Testing, 10),
            context: Context::default(),
        }))
    }

    fn beat(coordinator: &str) -> Message {
        Message::CoordinatorBeat(CoordinatorBeat {
            coordinator: coordinator.into(),
            lease_ms: 900,
        })
    }

    fn drain(w: &mut Worker) -> Vec<Message> {
        std::iter::from_fn(|| w.poll_transmit()).collect()
    }

    fn welcomed() -> Worker {
        let mut w = Worker::new(0, "w1".into(), "i1".into(), None, 2, 1.0);
        w.handle_control(0, "1-0", beat("c"));
        w.handle_inbox(1, "2-0", Message::Welcome(to("c")));
        assert!(w.is_welcomed());
        drain(&mut w);
        w
    }

    #[test]
    fn says_hello_until_welcomed() {
        let mut w = Worker::new(0, "w1".into(), "i1".into(), None, 2, 1.0);
        assert!(matches!(drain(&mut w)[..], [Message::Hello(_)]));
        w.handle_timeout(HELLO_RETRY_MS);
        let sent = drain(&mut w);
        assert!(sent.iter().any(|m| matches!(m, Message::Hello(_))));
        assert!(sent.iter().any(|m| matches!(m, Message::WorkerBeat(_))));
        w.handle_control(HELLO_RETRY_MS, "1-0", beat("c"));
        w.handle_inbox(HELLO_RETRY_MS, "2-0", Message::Welcome(to("c")));
        drain(&mut w);
        w.handle_control(3 * HELLO_RETRY_MS, "3-0", beat("c"));
        w.handle_timeout(3 * HELLO_RETRY_MS);
        assert!(!drain(&mut w).iter().any(|m| matches!(m, Message::Hello(_))));
    }

    #[test]
    fn runs_an_assignment_once_and_answers_a_resend() {
        let mut w = welcomed();
        w.handle_inbox(10, "3-0", assign("c", 4, 1));
        assert!(matches!(w.poll_action(), Some(Action::Run(a)) if a.task == 4));
        w.attempt_started(4, 1);
        assert!(
            matches!(drain(&mut w)[..], [Message::Started(ref s)] if s.task == 4 && s.coordinator == "c")
        );
        // A resend while it runs: `started` again, no second run.
        w.handle_inbox(20, "4-0", assign("c", 4, 1));
        assert_eq!(w.poll_action(), None);
        assert!(matches!(drain(&mut w)[..], [Message::Started(_)]));
        w.attempt_finished(4, 1, Ok(Some("ok".into())));
        assert!(
            matches!(drain(&mut w)[..], [Message::Result(ref r)] if r.outcome == Outcome::Succeeded)
        );
        // A resend after it ended: the result again.
        w.handle_inbox(30, "5-0", assign("c", 4, 1));
        assert_eq!(w.poll_action(), None);
        assert!(matches!(
            drain(&mut w)[..],
            [Message::Started(_), Message::Result(_)]
        ));
    }

    #[test]
    fn ignores_and_logs_what_is_not_its_own() {
        let mut w = welcomed();
        w.handle_inbox(10, "3-0", assign("other", 1, 1));
        let mut stranger = assign("c", 1, 1);
        if let Message::Assign(a) = &mut stranger {
            a.to.instance = "old".into();
        }
        w.handle_inbox(10, "4-0", stranger);
        assert_eq!(w.poll_action(), None);
        let log: Vec<String> = std::iter::from_fn(|| w.poll_log()).collect();
        assert!(
            log.iter()
                .any(|l| l.contains("entry 3-0") && l.contains("another coordinator"))
        );
        assert!(
            log.iter()
                .any(|l| l.contains("entry 4-0") && l.contains("another worker instance"))
        );
        // Nothing is run before a welcome.
        let mut fresh = Worker::new(0, "w1".into(), "i1".into(), None, 1, 1.0);
        fresh.handle_inbox(1, "1-0", assign("c", 1, 1));
        assert_eq!(fresh.poll_action(), None);
    }

    #[test]
    fn cancel_kills_and_drops_the_result() {
        let mut w = welcomed();
        w.handle_inbox(10, "3-0", assign("c", 2, 1));
        let _ = w.poll_action();
        w.handle_inbox(
            11,
            "4-0",
            Message::Cancel(super::super::protocol::AttemptOrder {
                to: to("c"),
                task: 2,
                attempt: 1,
            }),
        );
        assert_eq!(
            w.poll_action(),
            Some(Action::Kill {
                task: 2,
                attempt: 1
            })
        );
        w.attempt_finished(2, 1, Err("cancelled".into()));
        assert!(drain(&mut w).is_empty());
    }

    #[test]
    fn self_fences_when_the_coordinator_is_silent_past_the_lease() {
        let mut w = welcomed();
        w.handle_inbox(10, "3-0", assign("c", 2, 1));
        let _ = w.poll_action();
        w.handle_timeout(500);
        assert_eq!(w.poll_action(), None);
        assert!(w.poll_timeout() <= 902); // welcomed at 1, lease 900
        w.handle_timeout(901);
        assert_eq!(w.poll_action(), None);
        w.handle_timeout(902);
        assert_eq!(
            w.poll_action(),
            Some(Action::Kill {
                task: 2,
                attempt: 1
            })
        );
        assert!(!w.is_welcomed());
        assert!(drain(&mut w).iter().any(|m| matches!(m, Message::Hello(_))));
        // The late result of the fenced attempt is never sent.
        w.attempt_finished(2, 1, Ok(None));
        assert!(
            !drain(&mut w)
                .iter()
                .any(|m| matches!(m, Message::Result(_)))
        );
    }

    #[test]
    fn a_new_coordinator_gets_what_it_asks_for_and_the_rest_is_killed() {
        let mut w = welcomed();
        w.handle_inbox(10, "3-0", assign("c", 2, 1));
        w.handle_inbox(10, "3-1", assign("c", 3, 1));
        while w.poll_action().is_some() {}
        w.attempt_started(2, 1);
        w.attempt_started(3, 1);
        // Ends while coordinator c is gone.
        w.attempt_finished(2, 1, Ok(Some("ok".into())));
        drain(&mut w);
        // c2 resumed c's run: nothing is killed yet.
        w.handle_control(20, "5-0", beat("c2"));
        assert_eq!(w.poll_action(), None);
        assert!(drain(&mut w).iter().any(|m| matches!(m, Message::Hello(_))));
        w.handle_inbox(21, "6-0", Message::Welcome(to("c2")));
        assert!(w.is_welcomed());
        // It asks for the attempt that ended: the result again, addressed to c2.
        w.handle_inbox(22, "6-1", assign("c2", 2, 1));
        assert_eq!(w.poll_action(), None);
        let sent = drain(&mut w);
        assert!(
            matches!(&sent[..], [Message::Started(s), Message::Result(r)] if s.coordinator == "c2" && r.at.coordinator == "c2" && r.result.as_deref() == Some("ok")),
            "{sent:?}"
        );
        // The attempt it does not ask for is killed after three beats (lease 900 ms).
        w.handle_timeout(21 + 3 * 300 - 1);
        assert_eq!(w.poll_action(), None);
        w.handle_timeout(21 + 3 * 300);
        assert_eq!(
            w.poll_action(),
            Some(Action::Kill {
                task: 3,
                attempt: 1
            })
        );
        // A killed attempt asked for again runs again.
        w.handle_inbox(930, "6-2", assign("c2", 3, 1));
        assert!(matches!(w.poll_action(), Some(Action::Run(a)) if a.task == 3));
    }

    #[test]
    fn reject_exits() {
        let mut w = Worker::new(0, "w1".into(), "i1".into(), None, 1, 1.0);
        w.handle_inbox(
            1,
            "1-0",
            Message::Reject(super::super::protocol::Reject {
                to: to("c"),
                reason: "no".into(),
            }),
        );
        assert_eq!(
            w.poll_action(),
            Some(Action::Exit {
                reason: "no".into()
            })
        );
    }
}
