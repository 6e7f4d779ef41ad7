//! The fault-injecting driver: runs the core against a virtual clock the way a real driver
//! would, but with every fault under the test's control, and keeps a journal of each call.
//!
//! Unlike the simulator, it lies to the core on purpose: results arrive late (after their
//! attempt timed out), twice, from the wrong agent or naming tasks and agents that do not
//! exist. Each result the core must ignore is checked on the spot (property 7): the core's
//! whole observable state is the same before and after it, nothing is decided and the only
//! event is `input_ignored`. Everything else is checked afterwards from the journal by
//! [`crate::world`], [`crate::reference`] and the determinism replay.
//!
//! The driver decides whether a result is current from the decisions it received (an
//! attempt is live from its `Assign` until its `Cancel` or its accepted result), never by
//! asking the core.

use crate::generators::{Built, Case};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use taskdist::core::{
    AgentIdx, Assignment, ContextItem, Decision, Event, EventKind, Input, Progress, Scheduler,
    Stats, TaskStatus,
};
use taskdist::model::{Policy, Time};
use taskdist::plan::TaskIdx;

/// Most calls one run may make; a run that needs more is reported, not waited for.
const STEP_LIMIT: usize = 1_000_000;

/// One call into the core.
#[derive(Debug, Clone, PartialEq)]
pub enum Call {
    /// `Scheduler::new`: the first step holds what it queued.
    New,
    /// `handle_input(now, input)`.
    Input(Input),
    /// `handle_timeout(now)`.
    Timeout,
}

/// One call and everything the core answered.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// The time passed in.
    pub now: Time,
    /// The call.
    pub call: Call,
    /// Decisions drained after it, in order.
    pub decisions: Vec<Decision>,
    /// Events drained after it, in order.
    pub events: Vec<Event>,
    /// `poll_timeout()` after it.
    pub timeout: Option<Time>,
    /// Whether the core still follows its schedule (`optimized`), which is not
    /// work-conserving by design.
    pub following: bool,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq)]
pub enum End {
    /// Every task ended.
    Finished,
    /// Nothing could happen any more with tasks unfinished.
    Stalled(String),
    /// [`STEP_LIMIT`] calls were made.
    StepLimit,
}

/// The core's observable state: every getter, so "nothing changed" means nothing.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// `status(t)` for every task.
    pub status: Vec<TaskStatus>,
    /// `attempt(t)`.
    pub attempt: Vec<u32>,
    /// `failures(t)`.
    pub failures: Vec<u32>,
    /// `running_on(t)`.
    pub running_on: Vec<Option<AgentIdx>>,
    /// `agent_is_up(a)` for every agent index seen.
    pub agents_up: Vec<bool>,
    /// `progress()`, with `elapsed` zeroed (time may move on).
    pub progress: Progress,
    /// `stats()`.
    pub stats: Stats,
    /// `board_len()`.
    pub board: usize,
    /// `poll_timeout()`, only without heartbeats: any report from a live agent is a
    /// heartbeat, so it may rightly move the agent's deadline.
    pub timeout: Option<Time>,
}

impl Snapshot {
    /// Reads every getter of `s`.
    pub fn of(s: &Scheduler, with_timeout: bool) -> Snapshot {
        let tasks = || s.plan().task_indices();
        let mut progress = s.progress();
        progress.elapsed = 0;
        Snapshot {
            status: tasks().map(|t| s.status(t)).collect(),
            attempt: tasks().map(|t| s.attempt(t)).collect(),
            failures: tasks().map(|t| s.failures(t)).collect(),
            running_on: tasks().map(|t| s.running_on(t)).collect(),
            agents_up: (0..s.agent_count() as u32)
                .map(|a| s.agent_is_up(AgentIdx(a)))
                .collect(),
            progress,
            stats: s.stats(),
            board: s.board_len(),
            timeout: if with_timeout { s.poll_timeout() } else { None },
        }
    }
}

/// A finished run.
pub struct Run {
    /// The policy it ran under.
    pub policy: Policy,
    /// Plan, agents and settings.
    pub built: Built,
    /// Every call, in order.
    pub journal: Vec<Step>,
    /// How it ended.
    pub end: End,
    /// The state at the end.
    pub last: Snapshot,
    /// Property 7 breaches found on the spot.
    pub stale_breaches: Vec<String>,
    /// Reports the core had to ignore (stale, duplicate, misrouted, nonsense).
    pub stale_sent: usize,
}

/// What an agent reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum What {
    Started,
    Succeeded,
    Failed,
}

/// A report on its way to the core.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Report {
    task: TaskIdx,
    agent: AgentIdx,
    attempt: u32,
    /// The driver agent sending it and, for a report that is lost if that agent crashes
    /// first, the life it belongs to.
    from: Option<(usize, u32)>,
    what: What,
}

/// Something the driver will do at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Happening {
    Join(usize),
    Crash(usize),
    Recover(usize),
    Heartbeat { agent: usize, life: u32 },
    Report(Report),
}

#[derive(Clone, Copy, Default)]
struct AgentLife {
    joined: bool,
    alive: bool,
    /// Bumped at each crash and recovery: reports and heartbeats of an old life are lost.
    life: u32,
}

struct Driver<'c> {
    case: &'c Case,
    built: Built,
    sched: Scheduler,
    now: Time,
    queue: BinaryHeap<Reverse<(Time, u64, Happening)>>,
    seq: u64,
    lives: Vec<AgentLife>,
    /// The core's index of each driver agent, once it has joined.
    index: Vec<Option<AgentIdx>>,
    /// The driver agent of each core index.
    driver_agent: Vec<usize>,
    /// The live attempt of each task, as the decisions say.
    live: Vec<Option<(AgentIdx, u32)>>,
    /// Joins, crashes and recoveries still to come: while any is pending a stall may end.
    pending_arrivals: usize,
    pending_reports: usize,
    journal: Vec<Step>,
    stale_breaches: Vec<String>,
    stale_sent: usize,
}

/// Runs `case` under `policy` to the end.
pub fn run(case: &Case, policy: Policy) -> Run {
    let built = case.build(policy);
    let sched = Scheduler::new(built.plan.clone(), built.config.clone());
    let n = built.plan.len();
    let agents = built.agents.len();
    let mut driver = Driver {
        case,
        sched,
        now: 0,
        queue: BinaryHeap::new(),
        seq: 0,
        lives: vec![AgentLife::default(); agents],
        index: vec![None; agents],
        driver_agent: Vec::new(),
        live: vec![None; n],
        pending_arrivals: 0,
        pending_reports: 0,
        journal: Vec::new(),
        stale_breaches: Vec::new(),
        stale_sent: 0,
        built,
    };
    let end = driver.run();
    Run {
        policy,
        last: Snapshot::of(&driver.sched, true),
        built: driver.built,
        journal: driver.journal,
        end,
        stale_breaches: driver.stale_breaches,
        stale_sent: driver.stale_sent,
    }
}

/// SplitMix64's output function: a well-mixed word from any input.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

impl Driver<'_> {
    /// The draw number `salt` for attempt `attempt` of `task`: the same whatever happened
    /// before, so shrinking one fault leaves the others as they were.
    fn draw(&self, task: TaskIdx, attempt: u32, salt: u64) -> u64 {
        mix(self.case.faults.seed ^ mix(((task.0 as u64) << 32 | attempt as u64) ^ mix(salt)))
    }

    fn chance(&self, task: TaskIdx, attempt: u32, salt: u64, per_mille: u16) -> bool {
        self.draw(task, attempt, salt) % 1000 < per_mille as u64
    }

    fn schedule(&mut self, at: Time, happening: Happening) {
        match happening {
            Happening::Join(_) | Happening::Crash(_) | Happening::Recover(_) => {
                self.pending_arrivals += 1
            }
            Happening::Report(_) => self.pending_reports += 1,
            Happening::Heartbeat { .. } => {}
        }
        self.seq += 1;
        self.queue.push(Reverse((at, self.seq, happening)));
    }

    fn heartbeat_interval(&self) -> Option<Time> {
        self.built
            .config
            .heartbeat_timeout_ms
            .map(|h| (h / 3).max(1))
    }

    fn run(&mut self) -> End {
        for (i, agent) in self.case.agents.iter().enumerate() {
            self.schedule(agent.join_at_ms as Time, Happening::Join(i));
        }
        for (c, crash) in self.case.faults.crashes.iter().enumerate() {
            self.schedule(crash.at_ms as Time, Happening::Crash(c));
        }
        self.record(Call::New);
        loop {
            if self.journal.len() >= STEP_LIMIT {
                return End::StepLimit;
            }
            let finished = self.sched.is_finished();
            if finished && self.pending_reports == 0 {
                return End::Finished;
            }
            if !finished && self.sched.is_stalled() && self.pending_arrivals == 0 {
                return End::Stalled(format!(
                    "stalled at {} ms: {:?}",
                    self.now,
                    self.sched.progress()
                ));
            }
            let next_happening = self.queue.peek().map(|Reverse((at, _, _))| *at);
            let next_timeout = self.sched.poll_timeout();
            let timeout_first = match (next_happening, next_timeout) {
                (None, None) => {
                    return End::Stalled(format!("nothing left to happen at {} ms", self.now));
                }
                (Some(_), None) => false,
                (None, Some(_)) => true,
                (Some(h), Some(t)) => t < h || (t == h && self.case.faults.timeouts_first),
            };
            if timeout_first {
                self.now = next_timeout.expect("a deadline");
                self.record(Call::Timeout);
            } else {
                let Reverse((at, _, happening)) = self.queue.pop().expect("peeked");
                self.now = at;
                self.happen(happening);
            }
        }
    }

    /// Makes one call, records it with what the core answered, and reacts to the
    /// decisions.
    fn record(&mut self, call: Call) {
        match &call {
            Call::New => {} // made in `run`; drain what it queued
            Call::Input(input) => self.sched.handle_input(self.now, input.clone()),
            Call::Timeout => self.sched.handle_timeout(self.now),
        }
        let decisions: Vec<Decision> = std::iter::from_fn(|| self.sched.poll_decision()).collect();
        let events: Vec<Event> = std::iter::from_fn(|| self.sched.poll_event()).collect();
        for decision in &decisions {
            match decision {
                Decision::Assign(a) => self.dispatched(a),
                Decision::Cancel {
                    task,
                    agent,
                    attempt,
                    ..
                } => {
                    if self.live[task.ix()] == Some((*agent, *attempt)) {
                        self.live[task.ix()] = None;
                    }
                }
                // Context for a running attempt: the simulated agents' outcomes are drawn
                // already; `world` checks it reaches a live attempt.
                Decision::Deliver(_) => {}
            }
        }
        self.journal.push(Step {
            now: self.now,
            call,
            decisions,
            events,
            timeout: self.sched.poll_timeout(),
            following: self.sched.is_following(),
        });
    }

    fn input(&mut self, input: Input) {
        self.record(Call::Input(input));
    }

    /// Sends an input the core must ignore and checks that it did (property 7), and that
    /// the getters report what the decisions so far say.
    fn stale(&mut self, input: Input, why: &str) {
        self.stale_sent += 1;
        let with_timeout = self.built.config.heartbeat_timeout_ms.is_none();
        let before = Snapshot::of(&self.sched, with_timeout);
        let step = self.journal.len();
        self.input(input.clone());
        let mut after = Snapshot::of(&self.sched, with_timeout);
        let recorded = &self.journal[step];
        let mut problems = Vec::new();
        // The getters agree with the decisions: who runs what, which attempt, which agents.
        for (t, live) in self.live.iter().enumerate() {
            if before.running_on[t] != live.map(|(a, _)| a) {
                problems.push(format!(
                    "running_on(#{t}) is {:?}, the decisions say {live:?}",
                    before.running_on[t]
                ));
            }
            if let Some((_, k)) = live
                && before.attempt[t] != *k
            {
                problems.push(format!(
                    "attempt(#{t}) is {}, the decisions say {k}",
                    before.attempt[t]
                ));
            }
        }
        if before.agents_up.len() != self.driver_agent.len() {
            problems.push(format!(
                "{} agents counted, {} registered",
                before.agents_up.len(),
                self.driver_agent.len()
            ));
        }
        if !recorded.decisions.is_empty() {
            problems.push(format!("decided {:?}", recorded.decisions));
        }
        if !matches!(
            recorded.events.as_slice(),
            [Event {
                kind: EventKind::InputIgnored { .. },
                ..
            }]
        ) {
            problems.push(format!(
                "events {:?} instead of one input_ignored",
                recorded.events
            ));
        }
        if after.stats.ignored_inputs != before.stats.ignored_inputs + 1 {
            problems.push("ignored_inputs not counted once".to_string());
        }
        after.stats.ignored_inputs = before.stats.ignored_inputs;
        if after != before {
            problems.push(format!("state changed: before {before:?}, after {after:?}"));
        }
        if !problems.is_empty() {
            self.stale_breaches.push(format!(
                "step {step} at {} ms: {why} {input:?}: {}",
                self.now,
                problems.join("; ")
            ));
        }
    }

    fn happen(&mut self, happening: Happening) {
        match happening {
            Happening::Join(d) => {
                self.pending_arrivals -= 1;
                self.lives[d].joined = true;
                self.bring_up(d);
            }
            Happening::Crash(c) => {
                self.pending_arrivals -= 1;
                let crash = &self.case.faults.crashes[c];
                let d = crash.agent as usize % self.lives.len();
                if !self.lives[d].alive {
                    return;
                }
                let (silent, down_for) = (crash.silent, crash.down_for_ms as Time);
                self.lives[d].alive = false;
                self.lives[d].life += 1;
                let a = self.index[d].expect("a live agent has joined");
                if !silent && self.sched.agent_is_up(a) {
                    self.input(Input::AgentDown { agent: a });
                }
                self.schedule(self.now + down_for, Happening::Recover(d));
            }
            Happening::Recover(d) => {
                self.pending_arrivals -= 1;
                self.bring_up(d);
            }
            Happening::Heartbeat { agent, life } => {
                let state = self.lives[agent];
                if !state.alive || state.life != life {
                    return;
                }
                let a = self.index[agent].expect("joined");
                self.input(Input::Heartbeat { agent: a });
                let interval = self.heartbeat_interval().expect("heartbeats are on");
                self.schedule(self.now + interval, Happening::Heartbeat { agent, life });
            }
            Happening::Report(report) => {
                self.pending_reports -= 1;
                self.report(report);
            }
        }
    }

    fn bring_up(&mut self, d: usize) {
        let state = &mut self.lives[d];
        state.alive = true;
        state.life += 1;
        let life = state.life;
        let spec = self.built.agents[d].clone();
        let id = spec.id.clone();
        // Indices follow first arrival; the mapping must exist before the call, whose
        // dispatches may already name the agent.
        if self.index[d].is_none() {
            self.index[d] = Some(AgentIdx(self.driver_agent.len() as u32));
            self.driver_agent.push(d);
        }
        self.input(Input::AgentUp { spec });
        assert_eq!(
            self.sched.agent_index(&id),
            self.index[d],
            "indices follow first arrival"
        );
        if let Some(interval) = self.heartbeat_interval() {
            self.schedule(self.now + interval, Happening::Heartbeat { agent: d, life });
        }
    }

    /// The agent sends what the case has in store for this attempt.
    fn dispatched(&mut self, a: &Assignment) {
        let (t, k) = (a.task, a.attempt);
        self.live[t.ix()] = Some((a.agent, k));
        let d = self.driver_agent[a.agent.ix()];
        let state = self.lives[d];
        if !state.alive {
            return; // it crashed unnoticed: it never reports
        }
        let faults = &self.case.faults;
        let report = |what, from| Report {
            task: t,
            agent: a.agent,
            attempt: k,
            from,
            what,
        };
        let own = Some((d, state.life));
        if self.chance(t, k, 1, faults.started) {
            self.schedule(self.now, Happening::Report(report(What::Started, own)));
        }
        if self.chance(t, k, 2, faults.hang) {
            if self.chance(t, k, 3, faults.late) {
                let late = a.deadline + 1 + self.draw(t, k, 4) % 50;
                self.schedule(late, Happening::Report(report(What::Succeeded, None)));
            }
            return;
        }
        let estimate = self.built.plan.task(t).estimated_duration_ms as f64;
        let spread = faults.spread_pct as i64;
        let wobble = (self.draw(t, k, 5) % (2 * spread as u64 + 1)) as i64 - spread;
        let speed = self.built.agents[d].speed;
        let mut duration = (estimate * (100 + wobble) as f64 / 100.0 / speed).round() as Time;
        let fails = self.chance(t, k, 6, faults.fail);
        if fails {
            duration /= 2;
        }
        let what = if fails { What::Failed } else { What::Succeeded };
        self.schedule(self.now + duration, Happening::Report(report(what, own)));
        if self.chance(t, k, 7, faults.duplicate) {
            let again = self.now + duration + self.draw(t, k, 8) % 30;
            self.schedule(again, Happening::Report(report(what, None)));
        }
        if self.chance(t, k, 9, faults.misroute) {
            // Another agent, or indices that name nothing at all.
            let (task, agent) = match self.draw(t, k, 10) % 4 {
                0 => (TaskIdx(self.live.len() as u32 + 3), a.agent),
                1 => (t, AgentIdx(1000)),
                _ => {
                    let other = (a.agent.0 + 1) % self.driver_agent.len() as u32;
                    (t, AgentIdx(if other == a.agent.0 { 1000 } else { other }))
                }
            };
            let when = self.now + self.draw(t, k, 11) % (duration + 1);
            let wrong = Report {
                task,
                agent,
                attempt: k,
                from: None,
                what,
            };
            self.schedule(when, Happening::Report(wrong));
        }
    }

    fn report(&mut self, r: Report) {
        if let Some((d, life)) = r.from
            && self.lives[d].life != life
        {
            return; // the agent crashed since: the report is lost with it
        }
        let input = match r.what {
            What::Started => Input::TaskStarted {
                task: r.task,
                agent: r.agent,
                attempt: r.attempt,
            },
            What::Succeeded => Input::TaskSucceeded {
                task: r.task,
                agent: r.agent,
                attempt: r.attempt,
                result: None,
            },
            What::Failed => Input::TaskFailed {
                task: r.task,
                agent: r.agent,
                attempt: r.attempt,
                error: "injected failure".to_string(),
            },
        };
        let current = self.live.get(r.task.ix()).copied().flatten() == Some((r.agent, r.attempt));
        if !current {
            let why = if r.from.is_some() {
                "late report"
            } else {
                "stale, duplicate or misrouted report"
            };
            self.stale(input, why);
            return;
        }
        if r.what == What::Started {
            self.input(input);
            return;
        }
        self.live[r.task.ix()] = None;
        self.input(input);
        if r.what == What::Succeeded && self.chance(r.task, r.attempt, 12, self.case.faults.share) {
            let spec = self.built.plan.task(r.task);
            let item = if spec.files_to_modify.is_empty() {
                ContextItem::Solution {
                    problem_type: spec.task_type.to_string(),
                    summary: format!("how {} went", spec.id),
                    details: String::new(),
                }
            } else {
                ContextItem::Discovery {
                    summary: format!("found while doing {}", spec.id),
                    details: String::new(),
                    files: spec.files_to_modify.clone(),
                    confidence: 1.0,
                }
            };
            self.input(Input::Share {
                agent: r.agent,
                item,
            });
        }
    }
}
