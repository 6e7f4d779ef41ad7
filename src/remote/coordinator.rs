//! The coordinator side of the protocol as a sans-IO state machine: which workers are in
//! the run and alive (judged by the coordinator's clock only), which attempts wait for
//! acceptance (resent once, then the worker is lost), which messages answer the running
//! attempt and which are stale. Time is an argument; the driver moves the entries and
//! talks to the runner.

use super::protocol::{
    Assign, AttemptOrder, ContextMsg, CoordinatorBeat, Hello, Message, Outcome, Reject, ShareMsg,
    To,
};
use crate::core::{Context, ContextItem};
use crate::model::{AgentSpec, TaskSpec, Time};
use crate::store::StaleMessage;
use std::collections::{BTreeMap, VecDeque};

/// The coordinator's timing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// Workers self-fence after this long without a coordinator beat; the coordinator
    /// beats every third of it.
    pub lease_ms: Time,
    /// A worker instance is alive while its last message is younger than this.
    pub alive_ms: Time,
    /// An assignment neither started nor finished within this is resent once; a second
    /// miss makes the worker lost.
    pub accept_ms: Time,
}

impl Timing {
    /// The timing for a run whose scheduler loses agents after `heartbeat_timeout_ms`.
    pub fn for_heartbeat(heartbeat_timeout_ms: Time) -> Timing {
        let h = heartbeat_timeout_ms.max(3);
        Timing {
            lease_ms: h,
            alive_ms: (h / 2).max(1),
            accept_ms: (h / 3).clamp(1, 10_000),
        }
    }
}

/// What the coordinator hands to its driver.
#[derive(Debug, Clone, PartialEq)]
pub enum Delivery {
    /// A worker joined (or an instance replaced an earlier one, whose running attempts
    /// are then lost): it is an agent of the run.
    Joined {
        /// Its agent spec.
        spec: AgentSpec,
    },
    /// The running attempt's command started.
    Started {
        /// Task index.
        task: u32,
        /// Attempt.
        attempt: u32,
    },
    /// The running attempt shared an item.
    Share {
        /// Task index.
        task: u32,
        /// Attempt.
        attempt: u32,
        /// The item.
        item: ContextItem,
    },
    /// The running attempt ended; acknowledge `entry` once this is committed.
    Finished {
        /// Task index.
        task: u32,
        /// Attempt.
        attempt: u32,
        /// Ok with the result summary, or Err with the error.
        report: Result<Option<String>, String>,
        /// The stream entry id of the result.
        entry: String,
    },
}

#[derive(Debug)]
struct WorkerState {
    instance: String,
    last_seen: Time,
    lost: bool,
    /// Hellos received from this instance.
    hellos: u32,
    /// Whether it has shown it took this coordinator's welcome (a beat naming it).
    confirmed: bool,
}

#[derive(Debug)]
struct Pending {
    worker: String,
    instance: String,
    assign: Box<Assign>,
    sent_at: Time,
    resent: bool,
    accepted: bool,
}

/// One coordinator process's protocol state.
#[derive(Debug)]
pub struct Coordinator {
    instance: String,
    timing: Timing,
    workers: BTreeMap<String, WorkerState>,
    pending: BTreeMap<(u32, u32), Pending>,
    next_beat: Time,
    stale: u64,
    out: VecDeque<(String, Message)>,
    deliveries: VecDeque<Delivery>,
    log: VecDeque<String>,
    stale_records: VecDeque<StaleMessage>,
}

impl Coordinator {
    /// A coordinator that beats from `now`.
    pub fn new(now: Time, instance: String, timing: Timing) -> Coordinator {
        Coordinator {
            instance,
            timing,
            workers: BTreeMap::new(),
            pending: BTreeMap::new(),
            next_beat: now,
            stale: 0,
            out: VecDeque::new(),
            deliveries: VecDeque::new(),
            log: VecDeque::new(),
            stale_records: VecDeque::new(),
        }
    }

    /// This process's instance id.
    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// Messages ignored as stale so far (late, duplicate, replayed, for other instances).
    pub fn stale_count(&self) -> u64 {
        self.stale
    }

    /// Whether the worker's current instance is alive at `now`.
    pub fn is_alive(&self, now: Time, worker: &str) -> bool {
        self.workers
            .get(worker)
            .is_some_and(|w| !w.lost && now.saturating_sub(w.last_seen) < self.timing.alive_ms)
    }

    /// Every worker id that joined, in order.
    pub fn workers(&self) -> impl Iterator<Item = &str> {
        self.workers.keys().map(String::as_str)
    }

    fn to(&self, worker: &str, instance: &str) -> To {
        To {
            coordinator: self.instance.clone(),
            worker: worker.to_string(),
            instance: instance.to_string(),
        }
    }

    fn stale(&mut self, entry: &str, message: &Message, why: &str) {
        self.stale += 1;
        self.log.push_back(format!(
            "stale {} from {} entry {entry}: {why}",
            message.kind(),
            message.sender_worker().unwrap_or("?")
        ));
        let (instance, at) = match message {
            Message::Started(a) | Message::Share(ShareMsg { at: a, .. }) => (&a.instance, Some(a)),
            Message::Result(r) => (&r.at.instance, Some(&r.at)),
            Message::Bye(b) => (&b.instance, None),
            _ => return,
        };
        self.stale_records.push_back(StaleMessage {
            kind: message.kind().to_string(),
            worker: message.sender_worker().unwrap_or("?").to_string(),
            instance: instance.clone(),
            coordinator: at.map(|a| a.coordinator.clone()),
            task_index: at.map(|a| a.task),
            attempt: at.map(|a| a.attempt),
            entry: entry.to_string(),
            reason: why.to_string(),
        });
    }

    fn seen(&mut self, now: Time, worker: &str, instance: &str) -> bool {
        match self.workers.get_mut(worker) {
            Some(w) if w.instance == instance => {
                w.last_seen = now;
                true
            }
            _ => false,
        }
    }

    /// A hello whose signature the driver could not verify against the trust list: the
    /// worker is told (the reject is signed, and names its instance) and nothing else
    /// happens.
    pub fn refuse(&mut self, entry: &str, hello: &Hello, reason: &str) {
        self.log.push_back(format!(
            "refused hello of worker {} entry {entry}: {reason}",
            hello.worker
        ));
        if !super::protocol::valid_worker_id(&hello.worker) {
            return;
        }
        let reject = Reject {
            to: self.to(&hello.worker, &hello.instance),
            reason: format!("this coordinator does not trust the worker's key ({reason})"),
        };
        self.out.push_back((
            super::protocol::inbox(&hello.worker),
            Message::Reject(reject),
        ));
    }

    /// A hello, from a worker the driver has verified (or an unsigned run).
    fn hello(&mut self, now: Time, hello: Hello) {
        let inbox = super::protocol::inbox(&hello.worker);
        if !super::protocol::valid_worker_id(&hello.worker)
            || hello.slots == 0
            || !(hello.speed.is_finite() && hello.speed > 0.0)
        {
            let reject = Reject {
                to: self.to(&hello.worker, &hello.instance),
                reason: format!(
                    "worker `{}`: the id must be 1-64 of A-Z a-z 0-9 - _ ., slots at least 1, speed above 0",
                    hello.worker
                ),
            };
            self.out.push_back((inbox, Message::Reject(reject)));
            return;
        }
        let replaced = match self.workers.get(&hello.worker) {
            Some(w) if w.instance == hello.instance => {
                // A repeated hello (a reconnect, or ours was lost): welcome again, and
                // resend every attempt it holds. The worker runs what it never got and
                // answers the others with `started` (and `result` if they ended), so a
                // result lost with a restarted broker comes back now, not at the timeout.
                self.seen(now, &hello.worker, &hello.instance);
                if let Some(w) = self.workers.get_mut(&hello.worker) {
                    w.lost = false;
                    w.hellos += 1;
                    // A worker that beats naming this coordinator took its welcome: its
                    // hellos are reconnections (a broker restart), not a wrong key.
                    if w.hellos == 3 && !w.confirmed {
                        self.log.push_back(format!(
                            "worker {} keeps saying hello though welcomed: it cannot verify this coordinator's messages (is its --coordinator-key this coordinator's public key?)",
                            hello.worker
                        ));
                    }
                }
                let welcome = self.to(&hello.worker, &hello.instance);
                self.out
                    .push_back((inbox.clone(), Message::Welcome(welcome)));
                for p in self.pending.values_mut() {
                    if p.worker == hello.worker && p.instance == hello.instance {
                        p.sent_at = now;
                        self.out
                            .push_back((inbox.clone(), Message::Assign(p.assign.clone())));
                    }
                }
                return;
            }
            Some(_) => true,
            None => false,
        };
        if replaced {
            let orphans: Vec<(u32, u32)> = self
                .pending
                .iter()
                .filter(|(_, p)| p.worker == hello.worker)
                .map(|(&k, _)| k)
                .collect();
            // The runner loses them when the new instance joins (a join of an agent that
            // is up replaces it), and cancels them; messages for them are stale from now.
            for key in orphans {
                self.pending.remove(&key);
            }
            self.log.push_back(format!(
                "worker {} restarted as instance {}: its earlier attempts are lost",
                hello.worker, hello.instance
            ));
        }
        self.workers.insert(
            hello.worker.clone(),
            WorkerState {
                instance: hello.instance.clone(),
                last_seen: now,
                lost: false,
                hellos: 1,
                confirmed: false,
            },
        );
        let welcome = self.to(&hello.worker, &hello.instance);
        self.out.push_back((inbox, Message::Welcome(welcome)));
        let mut spec = AgentSpec::new(&hello.worker);
        spec.agent_type = super::REMOTE_AGENT_TYPE.to_string();
        spec.capabilities = hello.capabilities;
        spec.max_concurrent_tasks = hello.slots;
        spec.speed = hello.speed;
        self.deliveries.push_back(Delivery::Joined { spec });
    }

    /// The pending attempt a worker's message answers, if it answers the current one.
    fn current(
        &self,
        worker: &str,
        instance: &str,
        coordinator: &str,
        key: (u32, u32),
    ) -> Result<(), &'static str> {
        if coordinator != self.instance {
            return Err("for another coordinator");
        }
        match self.pending.get(&key) {
            Some(p) if p.worker == worker && p.instance == instance => Ok(()),
            Some(_) => Err("the attempt is assigned to another worker instance"),
            None => Err("not a running attempt"),
        }
    }

    /// A message read from `taskdist:up` (entry `entry`), already verified.
    pub fn handle_up(&mut self, now: Time, entry: &str, message: Message) {
        match message {
            Message::Hello(hello) => self.hello(now, hello),
            Message::Started(ref s) => {
                let key = (s.task, s.attempt);
                match self.current(&s.worker, &s.instance, &s.coordinator, key) {
                    Ok(()) => {
                        self.seen(now, &s.worker, &s.instance);
                        let p = self.pending.get_mut(&key).expect("current");
                        if !p.accepted {
                            p.accepted = true;
                            self.deliveries.push_back(Delivery::Started {
                                task: s.task,
                                attempt: s.attempt,
                            });
                        }
                    }
                    Err(why) => self.stale(entry, &message, why),
                }
            }
            Message::Share(ref s) => {
                let at = &s.at;
                match self.current(
                    &at.worker,
                    &at.instance,
                    &at.coordinator,
                    (at.task, at.attempt),
                ) {
                    Ok(()) => {
                        self.seen(now, &at.worker, &at.instance);
                        self.deliveries.push_back(Delivery::Share {
                            task: at.task,
                            attempt: at.attempt,
                            item: s.item.clone(),
                        });
                    }
                    Err(why) => self.stale(entry, &message, why),
                }
            }
            Message::Result(ref r) => {
                let at = &r.at;
                let key = (at.task, at.attempt);
                match self.current(&at.worker, &at.instance, &at.coordinator, key) {
                    Ok(()) => {
                        self.seen(now, &at.worker, &at.instance);
                        let p = self.pending.remove(&key).expect("current");
                        if !p.accepted {
                            self.deliveries.push_back(Delivery::Started {
                                task: at.task,
                                attempt: at.attempt,
                            });
                        }
                        let report = match r.outcome {
                            Outcome::Succeeded => Ok(r.result.clone()),
                            Outcome::Failed => {
                                Err(r.error.clone().unwrap_or_else(|| "failed".to_string()))
                            }
                        };
                        self.deliveries.push_back(Delivery::Finished {
                            task: at.task,
                            attempt: at.attempt,
                            report,
                            entry: entry.to_string(),
                        });
                    }
                    Err(why) => self.stale(entry, &message, why),
                }
            }
            Message::Bye(ref b) => {
                if self
                    .workers
                    .get(&b.worker)
                    .is_some_and(|w| w.instance == b.instance)
                {
                    let confirmed = self.workers.get_mut(&b.worker).is_some_and(|w| {
                        w.lost = true;
                        w.confirmed
                    });
                    self.log.push_back(if confirmed {
                        format!("worker {} said bye", b.worker)
                    } else {
                        format!(
                            "worker {} left without ever answering this coordinator: it could not verify its messages (is its --coordinator-key this coordinator's public key?)",
                            b.worker
                        )
                    });
                } else {
                    self.stale(entry, &message, "not the current instance");
                }
            }
            other => self.stale(entry, &other, "not a message for taskdist:up"),
        }
    }

    /// A worker's beat (entry `entry` of `taskdist:beats`), already verified.
    pub fn handle_beat(&mut self, now: Time, entry: &str, message: Message) {
        let Message::WorkerBeat(beat) = &message else {
            return self.stale(entry, &message, "not a beat");
        };
        if !self.seen(now, &beat.worker, &beat.instance) {
            // Quietly: beats of instances not (yet) welcomed are expected.
            self.stale += 1;
        } else if beat.coordinator.as_deref() == Some(&self.instance)
            && let Some(w) = self.workers.get_mut(&beat.worker)
        {
            w.confirmed = true;
        }
    }

    /// Sends an attempt to a worker's inbox; `false` if the worker is not in the run.
    #[allow(clippy::too_many_arguments)]
    pub fn assign(
        &mut self,
        now: Time,
        worker: &str,
        task: u32,
        attempt: u32,
        timeout_ms: Time,
        spec: TaskSpec,
        context: Context,
    ) -> bool {
        let Some(w) = self.workers.get(worker) else {
            return false;
        };
        let assign = Box::new(Assign {
            to: self.to(worker, &w.instance.clone()),
            task,
            attempt,
            timeout_ms,
            spec,
            context,
        });
        self.out.push_back((
            super::protocol::inbox(worker),
            Message::Assign(assign.clone()),
        ));
        self.pending.insert(
            (task, attempt),
            Pending {
                worker: worker.to_string(),
                instance: assign.to.instance.clone(),
                assign,
                sent_at: now,
                resent: false,
                accepted: false,
            },
        );
        true
    }

    /// Cancels an attempt (a timeout, Ctrl-C, a lost worker); any later message for it
    /// is stale.
    pub fn cancel(&mut self, task: u32, attempt: u32) {
        if let Some(p) = self.pending.remove(&(task, attempt)) {
            let order = AttemptOrder {
                to: self.to(&p.worker, &p.instance),
                task,
                attempt,
            };
            self.out
                .push_back((super::protocol::inbox(&p.worker), Message::Cancel(order)));
        }
    }

    /// Live context for a running attempt; `false` if it is not running on a worker.
    pub fn context(&mut self, task: u32, attempt: u32, shared: &crate::core::Shared) -> bool {
        let Some(p) = self.pending.get(&(task, attempt)) else {
            return false;
        };
        let message = Message::Context(ContextMsg {
            at: AttemptOrder {
                to: self.to(&p.worker, &p.instance),
                task,
                attempt,
            },
            item: shared.item.clone(),
            time: shared.time,
            agent: shared.agent.to_string(),
        });
        self.out
            .push_back((super::protocol::inbox(&p.worker), message));
        true
    }

    /// The broker came back (possibly empty): beat at once so workers say hello again.
    pub fn reconnected(&mut self, now: Time) {
        self.next_beat = now;
    }

    /// The run ended: tell the workers.
    pub fn finish(&mut self) {
        self.out.push_back((
            super::protocol::CONTROL.to_string(),
            Message::End {
                coordinator: self.instance.clone(),
            },
        ));
    }

    /// Moves time to `now`: beats, acceptance timeouts.
    pub fn handle_timeout(&mut self, now: Time) {
        if now >= self.next_beat {
            self.out.push_back((
                super::protocol::CONTROL.to_string(),
                Message::CoordinatorBeat(CoordinatorBeat {
                    coordinator: self.instance.clone(),
                    lease_ms: self.timing.lease_ms,
                }),
            ));
            self.next_beat = now + (self.timing.lease_ms / 3).max(1);
        }
        let accept = self.timing.accept_ms;
        let mut lost = Vec::new();
        for p in self.pending.values_mut() {
            if p.accepted || now < p.sent_at + accept {
                continue;
            }
            if p.resent {
                lost.push(p.worker.clone());
            } else {
                p.resent = true;
                p.sent_at = now;
                self.out.push_back((
                    super::protocol::inbox(&p.worker),
                    Message::Assign(p.assign.clone()),
                ));
            }
        }
        for worker in lost {
            if let Some(w) = self.workers.get_mut(&worker)
                && !w.lost
            {
                w.lost = true;
                self.log.push_back(format!(
                    "worker {worker} did not accept an assignment sent twice: treated as lost"
                ));
            }
        }
    }

    /// The next entry to write: the stream key and the message.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<(String, Message)> {
        self.out.pop_front()
    }

    /// The next thing for the runner.
    #[must_use]
    pub fn poll_delivery(&mut self) -> Option<Delivery> {
        self.deliveries.pop_front()
    }

    /// The next stale message (started, share, result or bye) to record in the run
    /// database.
    #[must_use]
    pub fn poll_stale(&mut self) -> Option<StaleMessage> {
        self.stale_records.pop_front()
    }

    /// The next line to log.
    #[must_use]
    pub fn poll_log(&mut self) -> Option<String> {
        self.log.pop_front()
    }

    /// When [`Coordinator::handle_timeout`] must next be called.
    #[must_use]
    pub fn poll_timeout(&self) -> Time {
        let accept = self.timing.accept_ms;
        self.pending
            .values()
            .filter(|p| !p.accepted)
            .map(|p| p.sent_at + accept)
            .fold(self.next_beat, Time::min)
    }
}

#[cfg(test)]
mod tests {
    use super::super::protocol::{AttemptRef, ResultMsg, WorkerBeat};
    use super::*;
    use crate::model::TaskType;

    fn timing() -> Timing {
        Timing::for_heartbeat(3_000)
    }

    fn hello(worker: &str, instance: &str) -> Message {
        Message::Hello(Hello {
            worker: worker.into(),
            instance: instance.into(),
            capabilities: Some(vec![TaskType::Testing]),
            slots: 2,
            speed: 1.5,
        })
    }

    fn at(worker: &str, instance: &str, task: u32, attempt: u32) -> AttemptRef {
        AttemptRef {
            worker: worker.into(),
            instance: instance.into(),
            coordinator: "c".into(),
            task,
            attempt,
        }
    }

    fn result(worker: &str, instance: &str, task: u32, attempt: u32) -> Message {
        Message::Result(ResultMsg {
            at: at(worker, instance, task, attempt),
            outcome: Outcome::Succeeded,
            result: Some("done".into()),
            error: None,
        })
    }

    fn joined() -> Coordinator {
        let mut c = Coordinator::new(0, "c".into(), timing());
        c.handle_up(0, "1-0", hello("w1", "i1"));
        let Some(Delivery::Joined { spec }) = c.poll_delivery() else {
            panic!("no join")
        };
        assert_eq!(&*spec.id, "w1");
        assert_eq!(spec.max_concurrent_tasks, 2);
        assert_eq!(spec.capabilities, Some(vec![TaskType::Testing]));
        while c.poll_transmit().is_some() {}
        c
    }

    fn send(c: &mut Coordinator, now: Time, task: u32, attempt: u32) {
        assert!(c.assign(
            now,
            "w1",
            task,
            attempt,
            1_000,
            TaskSpec::new("t", TaskType::Testing, 1),
            Context::default()
        ));
    }

    #[test]
    fn welcomes_and_delivers_the_current_attempts_messages() {
        let mut c = joined();
        send(&mut c, 10, 0, 1);
        let (stream, m) = c.poll_transmit().unwrap();
        assert_eq!(stream, "taskdist:inbox:w1");
        assert!(
            matches!(m, Message::Assign(ref a) if a.to.instance == "i1" && a.to.coordinator == "c")
        );
        c.handle_up(20, "2-0", Message::Started(at("w1", "i1", 0, 1)));
        assert_eq!(
            c.poll_delivery(),
            Some(Delivery::Started {
                task: 0,
                attempt: 1
            })
        );
        c.handle_up(30, "3-0", result("w1", "i1", 0, 1));
        assert_eq!(
            c.poll_delivery(),
            Some(Delivery::Finished {
                task: 0,
                attempt: 1,
                report: Ok(Some("done".into())),
                entry: "3-0".into()
            })
        );
        // The same result again (a duplicate or a replay) is stale.
        c.handle_up(40, "4-0", result("w1", "i1", 0, 1));
        assert_eq!(c.poll_delivery(), None);
        assert_eq!(c.stale_count(), 1);
        assert!(c.poll_log().unwrap().contains("entry 4-0"));
    }

    #[test]
    fn results_of_other_attempts_instances_or_coordinators_are_stale() {
        let mut c = joined();
        send(&mut c, 10, 0, 2);
        c.handle_up(20, "2-0", result("w1", "i1", 0, 1)); // an older attempt
        c.handle_up(20, "3-0", result("w1", "old", 0, 2)); // another instance
        let mut other = result("w1", "i1", 0, 2);
        if let Message::Result(r) = &mut other {
            r.at.coordinator = "previous".into();
        }
        c.handle_up(20, "4-0", other);
        c.handle_up(20, "5-0", result("w2", "i9", 0, 2)); // another worker
        assert_eq!(c.poll_delivery(), None);
        assert_eq!(c.stale_count(), 4);
        let recorded: Vec<StaleMessage> = std::iter::from_fn(|| c.poll_stale()).collect();
        assert_eq!(recorded.len(), 4);
        assert_eq!(
            (
                recorded[0].kind.as_str(),
                recorded[0].task_index,
                recorded[0].attempt,
                recorded[0].entry.as_str()
            ),
            ("result", Some(0), Some(1), "2-0")
        );
        assert_eq!(recorded[1].instance, "old");
        assert_eq!(recorded[2].coordinator.as_deref(), Some("previous"));
        c.cancel(0, 2);
        assert!(matches!(c.poll_transmit(), Some((_, Message::Assign(_)))));
        assert!(matches!(c.poll_transmit(), Some((_, Message::Cancel(ref o))) if o.attempt == 2));
        c.handle_up(30, "6-0", result("w1", "i1", 0, 2)); // after the cancel
        assert_eq!(c.poll_delivery(), None);
        assert_eq!(c.stale_count(), 5);
    }

    #[test]
    fn an_unaccepted_assignment_is_resent_once_then_the_worker_is_lost() {
        let mut c = joined();
        let accept = timing().accept_ms;
        send(&mut c, 0, 0, 1);
        let _ = c.poll_transmit();
        assert_eq!(c.poll_timeout(), accept.min(c.next_beat));
        c.handle_timeout(accept);
        let resent: Vec<_> = std::iter::from_fn(|| c.poll_transmit()).collect();
        assert_eq!(
            resent
                .iter()
                .filter(|(_, m)| matches!(m, Message::Assign(_)))
                .count(),
            1
        );
        c.handle_up(
            accept,
            "b",
            Message::Hello(Hello {
                worker: "zz".into(),
                instance: "q".into(),
                capabilities: None,
                slots: 1,
                speed: 1.0,
            }),
        );
        // Keep w1 beating: acceptance, not silence, loses it.
        c.handle_beat(
            2 * accept,
            "b-1",
            Message::WorkerBeat(WorkerBeat {
                worker: "w1".into(),
                instance: "i1".into(),
                coordinator: Some("c".into()),
            }),
        );
        assert!(c.is_alive(2 * accept, "w1"));
        c.handle_timeout(2 * accept);
        assert!(!c.is_alive(2 * accept, "w1"));
        assert!(std::iter::from_fn(|| c.poll_log()).any(|l| l.contains("sent twice")));
    }

    #[test]
    fn silence_makes_a_worker_not_alive_and_a_beat_revives_it() {
        let mut c = joined();
        let t = timing();
        assert!(c.is_alive(t.alive_ms - 1, "w1"));
        assert!(!c.is_alive(t.alive_ms, "w1"));
        c.handle_beat(
            t.alive_ms + 5,
            "1-1",
            Message::WorkerBeat(WorkerBeat {
                worker: "w1".into(),
                instance: "i1".into(),
                coordinator: None,
            }),
        );
        assert!(c.is_alive(t.alive_ms + 5, "w1"));
        // A beat from another instance does not count.
        c.handle_beat(
            3 * t.alive_ms,
            "1-2",
            Message::WorkerBeat(WorkerBeat {
                worker: "w1".into(),
                instance: "i0".into(),
                coordinator: None,
            }),
        );
        assert!(!c.is_alive(3 * t.alive_ms, "w1"));
    }

    #[test]
    fn a_new_instance_orphans_the_old_ones_attempts() {
        let mut c = joined();
        send(&mut c, 0, 3, 1);
        c.handle_up(5, "2-0", hello("w1", "i2"));
        assert!(matches!(c.poll_delivery(), Some(Delivery::Joined { .. })));
        assert_eq!(c.poll_delivery(), None);
        c.handle_up(6, "3-0", result("w1", "i1", 3, 1));
        assert_eq!(c.poll_delivery(), None);
        assert_eq!(c.stale_count(), 1);
    }

    #[test]
    fn a_repeated_hello_is_welcomed_again_and_asked_for_all_its_work() {
        let mut c = joined();
        send(&mut c, 0, 1, 1);
        send(&mut c, 0, 2, 1);
        c.handle_up(1, "1-1", Message::Started(at("w1", "i1", 2, 1)));
        assert!(matches!(c.poll_delivery(), Some(Delivery::Started { .. })));
        while c.poll_transmit().is_some() {}
        // After a broker restart: the accepted attempt is asked again too, so a result
        // lost with the broker is sent again.
        c.handle_up(5, "2-0", hello("w1", "i1"));
        let sent: Vec<_> = std::iter::from_fn(|| c.poll_transmit())
            .map(|(_, m)| match m {
                Message::Assign(a) => format!("assign {}", a.task),
                m => m.kind().to_string(),
            })
            .collect();
        assert_eq!(sent, ["welcome", "assign 1", "assign 2"]);
        assert_eq!(c.poll_delivery(), None);
    }

    #[test]
    fn bad_hellos_are_rejected() {
        let mut c = Coordinator::new(0, "c".into(), timing());
        c.handle_up(0, "1-0", hello("a:b", "i"));
        assert!(matches!(c.poll_transmit(), Some((_, Message::Reject(_)))));
        assert_eq!(c.poll_delivery(), None);
    }

    #[test]
    fn beats_on_schedule() {
        let mut c = Coordinator::new(0, "c".into(), timing());
        c.handle_timeout(0);
        assert!(
            matches!(c.poll_transmit(), Some((_, Message::CoordinatorBeat(ref b))) if b.lease_ms == 3_000)
        );
        assert_eq!(c.poll_timeout(), 1_000);
        c.handle_timeout(999);
        assert_eq!(c.poll_transmit(), None);
    }
}
