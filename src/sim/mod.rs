//! The discrete-event simulator: runs the scheduling core, unchanged, against a virtual
//! clock, with attempt durations, failures, hangs and agent crashes drawn from seeded models.
//!
//! Time is an integer (milliseconds). Pending happenings wait in a queue ordered by
//! `(time, insertion sequence)`, so equal times are handled in the order they were
//! scheduled; at equal times the simulator's own happenings (results, crashes, heartbeats)
//! come before the core's deadlines.
//!
//! The run's trace is a row per attempt in dispatch order, closed when the attempt ends.
//! [`simulate_sealing`] hands the closed rows out in blocks while the run goes on, so that
//! what is made of them (the trace's hash) need not wait for its end.
//!
//! # Randomness
//!
//! One master seed keys a ChaCha8 generator. Every draw is taken at a fixed position of its
//! own stream: attempt `k` of task `t` draws from block `k` of task `t`'s attempt stream —
//! its failure, hang and share units at fixed words, then its duration — and agent crashes
//! from each agent's crash stream. So a draw does not depend on how many draws came before
//! it: changing the failure model leaves every duration as it was (the failure unit is
//! drawn whether or not it is used), and a run is the same on every machine. The core's
//! backoff jitter seed is drawn from its own stream too.
//!
//! A block is 64 words, exactly what the generator computes at once (four ChaCha blocks),
//! so each attempt costs one keystream computation: positioning the generator throws its
//! buffer away, and an attempt's draws used to come from three streams. A big plan's first
//! attempts are drawn on another core while the run goes on (`src/sim/ahead.rs`): the same
//! values, made earlier.
//!
//! # Shared context
//!
//! The context an assignment carries has a modelled effect ([`ContextEffects`]), drawn
//! when the attempt starts. Context delivered to an attempt already running
//! ([`Decision::Deliver`]) has none: the attempt's outcome and duration are drawn at its
//! start, so nothing an attempt could hear later changes it. The simulator therefore
//! switches live delivery off ([`Scheduler::set_live_context`]): with a thousand agents,
//! every failure would otherwise be handed to hundreds of running attempts only to be
//! dropped (it made simulations about half as slow again). A delivery that still comes is
//! dropped.

mod ahead;
mod audit;
mod models;
mod robust;
mod script;

pub use audit::{Violation, audit};
pub use models::{ContextEffects, Crash, Durations, MAX_SPREAD, Params, SimModels};
pub use robust::{
    DISPATCH_SAMPLES, DISPATCH_Z, DispatchChoice, choose_dispatch, plan_schedule, prepare_schedule,
    sample_seed, set_dispatch,
};
pub use script::{Leave, Script, ScriptedAttempt, ScriptedEnd, TIMER_LAG_MAX_MS};
// What both drivers share lives below both; re-exported for the simulator's users.
pub use crate::drive::{AttemptRecord, Outcome, run_setup, scale_agents};

use crate::core::{
    AgentIdx, CancelReason, ContextItem, Decision, Event, EventKind, Input, Progress, Scheduler,
    Stats,
};
use crate::model::{AgentSpec, Config, Time};
use crate::plan::{Plan, TaskIdx};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Exp1};
use serde::{Deserialize, Serialize};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::fmt;
use std::sync::Arc;

/// The result of a simulation.
#[derive(Debug, Clone)]
pub struct SimRun {
    /// The master seed.
    pub seed: u64,
    /// The agents, in registration order (their [`AgentIdx`] order).
    pub agents: Vec<AgentSpec>,
    /// Every attempt, in dispatch order.
    pub trace: Vec<AttemptRecord>,
    /// When the last task ended.
    pub makespan: Time,
    /// Time tasks spent parked on file locks before their attempts started.
    pub lock_wait_total: Time,
    /// The core's counters.
    pub stats: Stats,
    /// The core's final totals.
    pub progress: Progress,
    /// Simulation steps taken.
    pub steps: u64,
}

/// Why a simulation stopped before every task ended.
#[derive(Debug, Clone, PartialEq, thiserror::Error, Serialize, Deserialize)]
#[non_exhaustive]
pub enum SimError {
    /// Nothing can happen any more: no attempt runs, no backoff is pending and no agent is
    /// coming back.
    #[error("simulation stalled at {time} ms: {reason}")]
    Stalled {
        /// Virtual time.
        time: Time,
        /// The core's explanation, naming a task.
        reason: String,
    },
    /// The step limit was reached.
    #[error(
        "simulation stopped after {steps} steps at {time} ms (raise simulation.max_steps if the plan really needs more)"
    )]
    StepLimit {
        /// Steps taken.
        steps: u64,
        /// Virtual time.
        time: Time,
    },
}

/// Stream numbers: the low byte of a ChaCha stream id; the task or agent index is above it.
#[derive(Clone, Copy)]
enum Stream {
    /// An attempt's failure, hang and share units and its duration, by task and attempt.
    Attempt = 1,
    /// An agent's random crashes, by agent and crash number.
    Crash = 5,
    /// The core's backoff jitter seed.
    Jitter = 6,
}

/// The uniform draws of one attempt, from the first six words of its block.
#[derive(Clone, Copy)]
struct AttemptUnits {
    failure: f64,
    hang: f64,
    share: f64,
}

/// Random access into the master seed's streams.
struct Draws {
    rng: ChaCha8Rng,
}

/// 32-bit words per attempt block: what the generator computes at once, and far more than
/// an attempt draws (six for its units, usually two for its duration; a duration reaches
/// past the block only after some 29 rejections in a row of the normal or exponential
/// sampler).
const WORDS_PER_BLOCK: u128 = 64;

impl Draws {
    fn new(seed: u64) -> Self {
        Draws {
            rng: ChaCha8Rng::seed_from_u64(seed),
        }
    }

    /// The generator positioned at block `block` of `stream` for `index`.
    fn at(&mut self, stream: Stream, index: u32, block: u32) -> &mut ChaCha8Rng {
        // The position first: it empties the buffer, so that changing the stream then
        // does not compute a block of the new stream at the old position, only to be
        // thrown away (rand_chacha refills the buffer on a stream change mid-buffer).
        self.rng.set_word_pos(block as u128 * WORDS_PER_BLOCK);
        self.rng.set_stream(((index as u64) << 8) | stream as u64);
        &mut self.rng
    }

    /// Attempt `attempt` of task `task`: its units, and the generator positioned for its
    /// duration.
    fn attempt(&mut self, task: TaskIdx, attempt: u32) -> (AttemptUnits, &mut ChaCha8Rng) {
        let rng = self.at(Stream::Attempt, task.0, attempt);
        let units = AttemptUnits {
            failure: rng.random(),
            hang: rng.random(),
            share: rng.random(),
        };
        (units, rng)
    }

    /// Attempt `attempt` of `t` under `params` (estimate `estimate_ms`): its units and its
    /// duration, and the generator where the duration left it.
    fn attempt_draws(
        &mut self,
        t: TaskIdx,
        attempt: u32,
        params: &Params,
        estimate_ms: Time,
    ) -> (Drawn, &mut ChaCha8Rng) {
        let (units, rng) = self.attempt(t, attempt);
        let duration = params.durations.sample(estimate_ms, rng);
        (Drawn { units, duration }, rng)
    }
}

/// An attempt's draws: its units, and its duration before the factors of its context and
/// its agent's speed.
#[derive(Clone, Copy)]
struct Drawn {
    units: AttemptUnits,
    duration: f64,
}

/// The first insertion number of a replay's own happenings: above every journal position
/// a recorded run can have, so what the record orders comes first at equal times.
const UNRANKED: u64 = 1 << 48;

/// Something the simulator itself will do at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Happening {
    /// A scenario agent comes up (first time).
    AgentUp(u32),
    /// An attempt reports its result, unless its agent crashed since (`life` changed); a
    /// success then shares a discovery if `share` (drawn when it started).
    AttemptEnd {
        task: TaskIdx,
        agent: u32,
        attempt: u32,
        life: u32,
        ok: bool,
        share: bool,
    },
    /// An agent crashes; `random` crashes schedule the next one.
    Crash { agent: u32, random: bool },
    /// A crashed agent comes back.
    Recover { agent: u32, random: bool },
    /// A scripted agent leaves: the core is told at once (a replayed loss).
    Leave { agent: u32 },
    /// A live agent heartbeats (if still in the same life).
    Heartbeat { agent: u32, life: u32 },
}

/// The simulator's view of an agent.
#[derive(Clone, Copy, Default)]
struct SimAgent {
    alive: bool,
    /// Bumped at each crash and recovery, so results and heartbeats of an earlier life are
    /// dropped.
    life: u32,
    /// Crashes so far (the block index of its crash stream).
    crashes: u32,
}

/// One simulation run in progress.
struct Simulation<'m> {
    sched: Scheduler,
    /// The core's plan, held here too so that reading it does not borrow the core.
    plan: Arc<Plan>,
    models: &'m SimModels,
    /// Recorded attempts and agent losses to replay, if any.
    script: Option<&'m Script>,
    agents: Vec<AgentSpec>,
    sim_agents: Vec<SimAgent>,
    queue: BinaryHeap<Reverse<(Time, u64, Happening)>>,
    seq: u64,
    now: Time,
    draws: Draws,
    heartbeat_interval: Option<Time>,
    /// Pending agent arrivals and recoveries: while any is pending a stall may resolve.
    pending_arrivals: u32,
    trace: Vec<AttemptRecord>,
    /// The open trace row of each task's running attempt.
    open_row: Vec<Option<usize>>,
    /// Rows before this one are closed: no attempt changes them again.
    unchanging: usize,
    /// Rows before this one are handed over already, when the run hands them over (see
    /// [`simulate_sealing`]).
    sealed: usize,
    /// Each ready task held back, until it starts: since when, why, and whether by a lock.
    /// Few are held back at a time, so a small map stays in cache, where a slot per task
    /// (40 MB at a million tasks) made every attempt's start a miss.
    held_since: BTreeMap<TaskIdx, (Time, String, bool)>,
    lock_wait_total: Time,
    makespan: Time,
    /// The core's latest explanation of a stall.
    stall_error: Option<String>,
    /// Assignments of one round of [`Simulation::drain`], kept to reuse its allocation.
    started: Vec<crate::core::Assignment>,
    /// First attempts' draws made on another core, for a big plan.
    ahead: Option<&'m ahead::Ahead>,
}

/// Runs a plan on `agents` under `config` and `models` with the master `seed`, handing
/// every core event to `on_event` as it happens.
pub fn simulate(
    plan: Arc<Plan>,
    config: Config,
    agents: Vec<AgentSpec>,
    models: &SimModels,
    seed: u64,
    on_event: &mut dyn FnMut(&Event),
) -> Result<SimRun, SimError> {
    let source = Source::models(&plan, None);
    run_simulation(plan, config, agents, models, source, seed, on_event)
}

/// Where [`simulate_sealing`] hands the rows it seals, and how many at a time at the least.
struct Sealing<'a> {
    rows: usize,
    to: &'a mut dyn FnMut(&[AttemptRecord]),
}

/// Rows of the trace [`simulate_sealing`] hands over at a time, at the least.
pub const SEAL_ROWS: usize = 65_536;

/// [`simulate`] that also hands `on_sealed` the trace's rows as soon as no attempt will
/// change them again: in dispatch order, [`SEAL_ROWS`] or more at a time, and the rest
/// when the run ends. Joined, the blocks are the run's `trace`; a run that fails hands
/// over only part of it. What the rows feed (the trace's hash, say) can so be made on
/// another core while the run goes on.
pub fn simulate_sealing(
    plan: Arc<Plan>,
    config: Config,
    agents: Vec<AgentSpec>,
    models: &SimModels,
    seed: u64,
    on_event: &mut dyn FnMut(&Event),
    on_sealed: &mut dyn FnMut(&[AttemptRecord]),
) -> Result<SimRun, SimError> {
    let sealing = Sealing {
        rows: SEAL_ROWS,
        to: on_sealed,
    };
    let source = Source::models(&plan, Some(sealing));
    run_simulation(plan, config, agents, models, source, seed, on_event)
}

/// Runs a plan as [`simulate`] does, except that each task's attempts first take the
/// outcomes and durations `script` recorded for it, in order (see [`Script::by_attempt`]
/// for attempts lost with their agent), and the script's agent losses happen at their times;
/// attempts beyond the recorded ones draw from `models` with `seed`. The core keeps
/// `config.jitter_seed`, so retries back off as they did in the recorded run.
pub fn replay(
    plan: Arc<Plan>,
    config: Config,
    agents: Vec<AgentSpec>,
    models: &SimModels,
    script: &Script,
    seed: u64,
    on_event: &mut dyn FnMut(&Event),
) -> Result<SimRun, SimError> {
    assert_eq!(
        script.attempts.len(),
        plan.len(),
        "a script covers every task"
    );
    let source = Source::Script(script);
    run_simulation(plan, config, agents, models, source, seed, on_event)
}

/// Where a run's attempts take their outcomes and durations from.
enum Source<'s> {
    /// The models alone; every task's first attempt drawn on another core when `ahead`
    /// (see [`ahead`]), and the trace's rows handed over as they close to `sealing`, if
    /// any (see [`simulate_sealing`]).
    Models {
        ahead: bool,
        sealing: Option<Sealing<'s>>,
    },
    /// A recorded run first, then the models (see [`replay`]).
    Script(&'s Script),
}

impl<'s> Source<'s> {
    /// The models alone, first attempts drawn ahead for a big plan, except inside a
    /// thread pool's work (a sweep's runs), whose cores are taken already.
    fn models(plan: &Plan, sealing: Option<Sealing<'s>>) -> Source<'s> {
        let ahead = plan.len() >= ahead::AHEAD_MIN && rayon::current_thread_index().is_none();
        Source::Models { ahead, sealing }
    }
}

fn run_simulation(
    plan: Arc<Plan>,
    mut config: Config,
    agents: Vec<AgentSpec>,
    models: &SimModels,
    source: Source<'_>,
    seed: u64,
    on_event: &mut dyn FnMut(&Event),
) -> Result<SimRun, SimError> {
    let (script, ahead, sealing) = match source {
        Source::Models { ahead, sealing } => (None, ahead, sealing),
        Source::Script(script) => (Some(script), false, None),
    };
    let mut draws = Draws::new(seed);
    if script.is_none() {
        config.jitter_seed = draws.at(Stream::Jitter, 0, 0).random::<u64>();
    }
    let mut heartbeat_interval = config
        .heartbeat_timeout_ms
        .map(|timeout| models.heartbeat_interval.unwrap_or((timeout / 3).max(1)));
    // Without a crash model no simulated agent ever goes silent, and one that heartbeats at
    // least once per timeout is never lost: its heartbeats raise no event and only refresh
    // a deadline that never passes (at equal times the heartbeat comes before the core's
    // deadline). So none are sent and the core does not watch for silence: the same
    // trace, events and summary, without the steps that dominated long runs (one per
    // agent per interval).
    let never_lost = models.crash_mtbf.is_none()
        && models.crashes.is_empty()
        && heartbeat_interval
            .zip(config.heartbeat_timeout_ms)
            .is_some_and(|(interval, timeout)| interval <= timeout);
    if never_lost {
        heartbeat_interval = None;
        config.heartbeat_timeout_ms = None;
    }
    robust::plan_schedule(&plan, &mut config, &agents, models);
    let n = plan.len();
    let mut sched = Scheduler::new(plan.clone(), config);
    // Delivered context has no modelled effect (see the module doc): not computed at all.
    sched.set_live_context(false);
    let drawn_ahead = ahead.then(|| (ahead::Ahead::new(n), plan.clone()));
    std::thread::scope(|scope| {
        // Without the thread the simulation makes every draw itself: the same run.
        let helper = drawn_ahead.as_ref().and_then(|(drawn, plan)| {
            std::thread::Builder::new()
                .name("draws ahead".into())
                .spawn_scoped(scope, move || drawn.fill(plan, models, seed))
                .ok()
                .map(|_| drawn)
        });
        let mut sim = Simulation {
            sched,
            plan,
            models,
            script,
            sim_agents: vec![SimAgent::default(); agents.len()],
            agents,
            queue: BinaryHeap::new(),
            // A replay orders what it replays by the recorded run's order (journal positions,
            // see `schedule_ranked`); whatever the record does not order comes after it.
            seq: if script.is_some() { UNRANKED } else { 0 },
            now: 0,
            draws,
            heartbeat_interval,
            pending_arrivals: 0,
            // Retries make more rows than tasks. Growing past the capacity would copy every
            // row into fresh memory (a 56 MB copy at a million tasks); capacity the rows do
            // not reach is address space only, never touched.
            trace: Vec::with_capacity(n + n / 2),
            open_row: vec![None; n],
            unchanging: 0,
            sealed: 0,
            held_since: BTreeMap::new(),
            lock_wait_total: 0,
            makespan: 0,
            stall_error: None,
            started: Vec::new(),
            ahead: helper,
        };
        sim.start();
        let max_steps = models.max_steps.unwrap_or(1_000_000 + 200 * n as u64);
        let steps = sim.run(max_steps, on_event, sealing);
        if let Some(drawn) = helper {
            drawn.stop();
        }
        Ok(SimRun {
            seed,
            progress: sim.sched.progress(),
            stats: sim.sched.stats(),
            agents: sim.agents,
            trace: sim.trace,
            makespan: sim.makespan,
            lock_wait_total: sim.lock_wait_total,
            steps: steps?,
        })
    })
}

impl Simulation<'_> {
    fn schedule(&mut self, at: Time, happening: Happening) {
        self.seq += 1;
        self.queue.push(Reverse((at, self.seq, happening)));
    }

    /// Schedules a replayed happening at its place in the recorded run: at equal times
    /// the recorded order (a real runner takes results that arrive together one after
    /// another, in arrival order), before anything the record does not order.
    fn schedule_ranked(&mut self, at: Time, rank: u64, happening: Happening) {
        debug_assert!(rank < UNRANKED, "journal positions are below UNRANKED");
        self.queue.push(Reverse((at, rank, happening)));
    }

    fn start(&mut self) {
        for i in 0..self.agents.len() as u32 {
            self.pending_arrivals += 1;
            self.schedule(0, Happening::AgentUp(i));
        }
        for crash in self.models.crashes.clone() {
            // The scenario's agents were validated against its crashes, but a run with
            // fewer agents (`--agents 1`) may not have the crashing one: it cannot crash.
            let Some(agent) = self.agents.iter().position(|a| *a.id == *crash.agent) else {
                continue;
            };
            let agent = agent as u32;
            self.schedule(
                crash.at,
                Happening::Crash {
                    agent,
                    random: false,
                },
            );
            if let Some(after) = crash.recover_after {
                self.pending_arrivals += 1;
                self.schedule(
                    crash.at + after,
                    Happening::Recover {
                        agent,
                        random: false,
                    },
                );
            }
        }
        if let Some(script) = self.script {
            let leaves: Vec<(u32, &Leave)> = script
                .leaves
                .iter()
                .filter_map(|leave| {
                    let agent = self.agents.iter().position(|a| *a.id == *leave.agent)?;
                    Some((agent as u32, leave))
                })
                .collect();
            for &(agent, leave) in &leaves {
                self.schedule_ranked(leave.at, leave.rank, Happening::Leave { agent });
                if let Some((back, rank)) = leave.back_at {
                    self.pending_arrivals += 1;
                    self.schedule_ranked(
                        back,
                        rank,
                        Happening::Recover {
                            agent,
                            random: false,
                        },
                    );
                }
            }
        }
        for agent in 0..self.agents.len() as u32 {
            self.schedule_random_crash(agent, 0);
        }
    }

    /// The next random crash of `agent` after `from`, exponentially distributed.
    fn schedule_random_crash(&mut self, agent: u32, from: Time) {
        let Some(mtbf) = self.models.crash_mtbf else {
            return;
        };
        let block = self.sim_agents[agent as usize].crashes;
        let x: f64 = Exp1.sample(self.draws.at(Stream::Crash, agent, block));
        let wait = (x * mtbf as f64).round().max(1.0) as Time;
        self.schedule(
            from + wait,
            Happening::Crash {
                agent,
                random: true,
            },
        );
    }

    fn run(
        &mut self,
        max_steps: u64,
        on_event: &mut dyn FnMut(&Event),
        mut sealing: Option<Sealing<'_>>,
    ) -> Result<u64, SimError> {
        let mut steps = 0;
        self.drain(on_event);
        while !self.sched.is_finished() {
            steps += 1;
            if steps > max_steps {
                self.close_open_rows();
                return Err(SimError::StepLimit {
                    steps: max_steps,
                    time: self.now,
                });
            }
            if self.sched.is_stalled() && self.pending_arrivals == 0 {
                self.close_open_rows();
                return Err(SimError::Stalled {
                    time: self.now,
                    reason: self.stall_reason(),
                });
            }
            let next_sim = self.queue.peek().map(|Reverse((at, rank, _))| (*at, *rank));
            // A core deadline comes after the simulator's happenings at its time, unless
            // the replay ranks it among them (at its recorded wake-up's position).
            let next_core = self.sched.poll_timeout().map(|due| match self.script {
                Some(script) => {
                    let (at, rank) = script.wake_up(due);
                    (at, rank.unwrap_or(u64::MAX))
                }
                None => (due, u64::MAX),
            });
            let sim_first = match (next_sim, next_core) {
                (Some(s), Some(c)) => s < c,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (None, None) => {
                    self.close_open_rows();
                    return Err(SimError::Stalled {
                        time: self.now,
                        reason: self.stall_reason(),
                    });
                }
            };
            if sim_first {
                let Reverse((at, _, happening)) = self.queue.pop().expect("peeked");
                self.now = at;
                self.happen(happening);
            } else {
                let (at, _) = next_core.expect("a core deadline");
                self.now = at;
                self.sched.handle_timeout(at);
            }
            self.drain(on_event);
            if let Some(sealing) = sealing.as_mut() {
                self.seal(sealing, false);
            }
        }
        self.makespan = self.now;
        if let Some(sealing) = sealing.as_mut() {
            self.seal(sealing, true);
        }
        Ok(steps)
    }

    /// Hands `sealing` the rows closed since the last time, once there are `sealing.rows`
    /// of them; every row left when `last`.
    fn seal(&mut self, sealing: &mut Sealing<'_>, last: bool) {
        // A row is closed once its task's open row is another (or none): every change to
        // a row goes through its task's `open_row`.
        let trace = &self.trace;
        while self.unchanging < trace.len()
            && self.open_row[trace[self.unchanging].task.ix()] != Some(self.unchanging)
        {
            self.unchanging += 1;
        }
        let upto = if last { trace.len() } else { self.unchanging };
        if upto - self.sealed >= sealing.rows || (last && upto > self.sealed) {
            (sealing.to)(&trace[self.sealed..upto]);
            self.sealed = upto;
        }
    }

    fn stall_reason(&self) -> String {
        if let Some(error) = &self.stall_error {
            return error.clone();
        }
        let p = self.sched.progress();
        format!(
            "{} of {} tasks unfinished, none running, no backoff pending and no agent coming back",
            p.total_tasks - p.completed_tasks - p.failed_tasks - p.skipped_tasks,
            p.total_tasks
        )
    }

    fn happen(&mut self, happening: Happening) {
        match happening {
            Happening::AgentUp(i) => {
                self.pending_arrivals -= 1;
                self.bring_up(i);
            }
            Happening::AttemptEnd {
                task,
                agent,
                attempt,
                life,
                ok,
                share,
            } => {
                if self.sim_agents[agent as usize].life != life {
                    return; // the agent crashed since: the result never arrives
                }
                let Some(row) = self.open_row[task.ix()] else {
                    return; // cancelled (timed out) already
                };
                if self.trace[row].attempt != attempt {
                    return;
                }
                self.finish_row(
                    task,
                    if ok {
                        Outcome::Succeeded
                    } else {
                        Outcome::Failed
                    },
                );
                let a = AgentIdx(agent);
                let input = if ok {
                    Input::TaskSucceeded {
                        task,
                        agent: a,
                        attempt,
                        result: None,
                    }
                } else {
                    Input::TaskFailed {
                        task,
                        agent: a,
                        attempt,
                        error: "simulated failure".to_string(),
                    }
                };
                self.sched.handle_input(self.now, input);
                if ok {
                    self.share_after_success(task, a, share);
                }
            }
            Happening::Crash { agent, random } => {
                let state = &mut self.sim_agents[agent as usize];
                if !state.alive {
                    return;
                }
                state.alive = false;
                state.life += 1;
                state.crashes += 1;
                if random && let Some(recovery) = self.models.crash_recovery {
                    self.pending_arrivals += 1;
                    self.schedule(
                        self.now + recovery,
                        Happening::Recover {
                            agent,
                            random: true,
                        },
                    );
                }
                // Nothing is told to the core: a crashed agent simply goes silent.
            }
            Happening::Leave { agent } => {
                let state = &mut self.sim_agents[agent as usize];
                if !state.alive {
                    return;
                }
                state.alive = false;
                state.life += 1;
                self.sched.handle_input(
                    self.now,
                    Input::AgentDown {
                        agent: AgentIdx(agent),
                    },
                );
            }
            Happening::Recover { agent, random } => {
                self.pending_arrivals -= 1;
                if self.sim_agents[agent as usize].alive {
                    return;
                }
                self.bring_up(agent);
                if random {
                    self.schedule_random_crash(agent, self.now);
                }
            }
            Happening::Heartbeat { agent, life } => {
                let state = self.sim_agents[agent as usize];
                if !state.alive || state.life != life {
                    return;
                }
                let a = AgentIdx(agent);
                if self.sched.agent_is_up(a) {
                    self.sched
                        .handle_input(self.now, Input::Heartbeat { agent: a });
                }
                if let Some(interval) = self.heartbeat_interval {
                    self.schedule(self.now + interval, Happening::Heartbeat { agent, life });
                }
            }
        }
    }

    fn bring_up(&mut self, i: u32) {
        let state = &mut self.sim_agents[i as usize];
        state.alive = true;
        state.life += 1;
        let life = state.life;
        let spec = self.agents[i as usize].clone();
        self.sched.handle_input(self.now, Input::AgentUp { spec });
        debug_assert_eq!(
            self.sched.agent_index(&self.agents[i as usize].id),
            Some(AgentIdx(i)),
            "scenario agents register in order"
        );
        if let Some(interval) = self.heartbeat_interval {
            self.schedule(self.now + interval, Happening::Heartbeat { agent: i, life });
        }
    }

    /// A success may share a discovery about the files it wrote (if `discovery`, drawn
    /// when the attempt started) and, after earlier failures, a solution for its task type.
    fn share_after_success(&mut self, task: TaskIdx, agent: AgentIdx, discovery: bool) {
        if !self.sched.config().enable_context_sharing {
            return;
        }
        let plan = &self.plan;
        // Neither test reads the task's spec, which is cold memory: most successes share
        // nothing.
        if discovery && plan.modifies_files(task) {
            let spec = plan.task(task);
            let item = ContextItem::Discovery {
                summary: format!(
                    "{} learned while doing `{}`",
                    self.agents[agent.ix()].id,
                    spec.id
                ),
                details: String::new(),
                files: spec.files_to_modify.clone(),
                confidence: 1.0,
            };
            self.sched
                .handle_input(self.now, Input::Share { agent, item });
        }
        if self.sched.failures(task) > 0 {
            let item = ContextItem::Solution {
                problem_type: plan.task_type(task).to_string(),
                summary: format!("how `{}` was made to pass", plan.id(task)),
                details: String::new(),
            };
            self.sched
                .handle_input(self.now, Input::Share { agent, item });
        }
    }

    /// Hands decisions to the simulated agents and events to the caller, until the core
    /// has nothing more to say.
    fn drain(&mut self, on_event: &mut dyn FnMut(&Event)) {
        loop {
            let mut started = std::mem::take(&mut self.started);
            while let Some(decision) = self.sched.poll_decision() {
                match decision {
                    Decision::Assign(a) => {
                        self.start_attempt(&a);
                        started.push(a);
                    }
                    Decision::Cancel {
                        task,
                        attempt,
                        reason,
                        ..
                    } => {
                        if let Some(row) = self.open_row[task.ix()]
                            && self.trace[row].attempt == attempt
                        {
                            let outcome = match reason {
                                CancelReason::Timeout => Outcome::TimedOut,
                                CancelReason::AgentLost => Outcome::Lost,
                                CancelReason::Shutdown => Outcome::Cancelled,
                            };
                            self.finish_row(task, outcome);
                        }
                    }
                    Decision::Deliver(_) => {} // no modelled effect (see the module doc)
                }
            }
            let Simulation {
                sched,
                plan,
                held_since,
                stall_error,
                ..
            } = self;
            sched.drain_events(|event| {
                observe(plan, held_since, stall_error, event);
                on_event(event);
            });
            if started.is_empty() {
                self.started = started;
                return;
            }
            for a in started.drain(..) {
                if self.sim_agents[a.agent.ix()].alive {
                    self.sched.handle_input(
                        self.now,
                        Input::TaskStarted {
                            task: a.task,
                            agent: a.agent,
                            attempt: a.attempt,
                        },
                    );
                }
            }
            self.started = started;
        }
    }

    fn start_attempt(&mut self, a: &crate::core::Assignment) {
        let t = a.task;
        let wait_reason = match self.held_since.remove(&t) {
            Some((since, label, lock)) => {
                if lock {
                    self.lock_wait_total += self.now - since;
                }
                Some(label)
            }
            None if a.attempt > 1 => Some("retry".to_string()),
            None => None,
        };
        self.open_row[t.ix()] = Some(self.trace.len());
        self.trace.push(AttemptRecord {
            task: t,
            agent: a.agent,
            attempt: a.attempt,
            start: self.now,
            end: self.now,
            outcome: Outcome::Unfinished,
            wait_reason,
        });
        let agent = a.agent.0;
        let state = self.sim_agents[a.agent.ix()];
        if !state.alive {
            return; // dispatched to an agent that crashed unnoticed: it never reports
        }
        if let Some(recorded) = self.scripted(t, a.attempt) {
            if matches!(recorded.end, ScriptedEnd::Hung | ScriptedEnd::Lost) {
                return; // as it did: only its timeout, or its agent's loss, ends it
            }
            self.schedule_ranked(
                self.now + recorded.duration_ms,
                recorded.rank,
                Happening::AttemptEnd {
                    task: t,
                    agent,
                    attempt: a.attempt,
                    life: state.life,
                    ok: recorded.end == ScriptedEnd::Succeeded,
                    share: false,
                },
            );
            return;
        }
        // The plan's compact per-task record, not the spec: see `Plan::task_type`.
        let plan = &self.plan;
        let params = self.models.params(t, plan.task_type(t));
        let effects = &self.models.context;
        let estimate_ms = plan.estimate_ms(t);
        let made = match self.ahead {
            Some(ahead) if a.attempt == 1 => ahead.first(t),
            _ => None,
        };
        // Drawn here, the generator stays where the duration left it, for a failure's own
        // duration below.
        let (Drawn { units, duration }, mut after_duration) = match made {
            Some(drawn) => (drawn, None),
            None => {
                let (drawn, rng) = self.draws.attempt_draws(t, a.attempt, params, estimate_ms);
                (drawn, Some(rng))
            }
        };
        let mut duration = duration;
        let mut p_fail = params.failure_probability;
        if !a.context.discoveries.is_empty() {
            duration *= effects.discovery_speedup;
        }
        if !a.context.solutions.is_empty() {
            p_fail *= effects.solution_failure_factor;
        }
        if !a.context.errors.is_empty() {
            p_fail *= effects.error_failure_factor;
        }
        duration /= self.agents[a.agent.ix()].speed;
        // A unit in [0, 1) is never below a probability of 0.
        let hangs = units.hang < params.hang_probability;
        let fails = units.failure < p_fail.min(1.0);
        let share = units.share < effects.discovery_probability;
        if hangs {
            return; // only the timeout ends it
        }
        let (ok, ms) = match (fails, &params.failure_durations) {
            // Drawn after the duration, from the same block: the other draws stay put. A
            // duration drawn ahead is drawn again here, to put the generator there.
            (true, Some(model)) => {
                let rng = match after_duration.take() {
                    Some(rng) => rng,
                    None => {
                        (self.draws)
                            .attempt_draws(t, a.attempt, params, estimate_ms)
                            .1
                    }
                };
                (
                    false,
                    model.sample(estimate_ms, rng) / self.agents[a.agent.ix()].speed,
                )
            }
            (true, None) => (false, duration * params.failed_fraction),
            (false, _) => (true, duration),
        };
        // Saturating: extreme (valid) models can draw more milliseconds than a `Time` holds;
        // such an attempt ends at its timeout anyway, which every task has.
        let end = self
            .now
            .saturating_add(self.models.dispatch_overhead_ms)
            .saturating_add(ms.round().max(0.0) as Time);
        self.schedule(
            end,
            Happening::AttemptEnd {
                task: t,
                agent,
                attempt: a.attempt,
                life: state.life,
                ok,
                share,
            },
        );
    }

    /// The recorded attempt that attempt `attempt` of `t` replays (see
    /// [`Script::by_attempt`]): the one with its number, or the one after the task's
    /// charged failures so far (an attempt lost with its agent is not charged, so the
    /// attempt that re-runs it replays the same record).
    fn scripted(&self, t: TaskIdx, attempt: u32) -> Option<ScriptedAttempt> {
        let script = self.script?;
        let recorded = &script.attempts[t.ix()];
        let i = if script.by_attempt {
            attempt.checked_sub(1)?
        } else {
            self.sched.failures(t)
        };
        recorded.get(i as usize).copied()
    }

    fn finish_row(&mut self, task: TaskIdx, outcome: Outcome) {
        let row = self.open_row[task.ix()].take().expect("an open row");
        self.trace[row].end = self.now;
        self.trace[row].outcome = outcome;
    }

    fn close_open_rows(&mut self) {
        for row in self.open_row.iter_mut().filter_map(Option::take) {
            self.trace[row].end = self.now;
        }
    }
}

/// Follows block events to measure lock waits and label each attempt's wait, and keeps the
/// core's latest stall explanation. (A function of the fields it needs, not a method: the
/// core is borrowed while it hands out its events.)
fn observe(
    plan: &Plan,
    held_since: &mut BTreeMap<TaskIdx, (Time, String, bool)>,
    stall_error: &mut Option<String>,
    event: &Event,
) {
    if let EventKind::DistributionError { error } = &event.kind {
        *stall_error = Some(error.clone());
    }
    if let EventKind::TaskBlocked { task, reason } = &event.kind {
        let t = plan.task_index(task).expect("events name plan tasks");
        held_since
            .entry(t)
            .or_insert_with(|| (event.time, reason.label(), reason.is_lock()));
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Format, MINUTE_MS, Scenario};
    use crate::plan::LockMode;

    fn load(text: &str) -> (Scenario, Arc<Plan>, SimModels) {
        let (scenario, issues) = Scenario::parse(text, Format::Toml, "t.toml").unwrap();
        let (scenario, plan) = Plan::from_scenario(scenario, issues).unwrap();
        let models =
            SimModels::resolve(scenario.file.simulation.as_ref(), scenario.time_unit, &plan)
                .unwrap();
        (scenario, Arc::new(plan), models)
    }

    /// `text`'s plan and models, its agents repeated to `agents`, and the config of a run
    /// on that many.
    fn setup(text: &str, agents: usize) -> (Arc<Plan>, SimModels, Vec<AgentSpec>, Config) {
        let (scenario, plan, models) = load(text);
        let agents = scale_agents(&scenario.agents, agents);
        let config = Config {
            max_agents: agents.len() as u32,
            ..scenario.config.clone()
        };
        (plan, models, agents, config)
    }

    fn run(text: &str, agents: usize, seed: u64) -> SimRun {
        let (plan, models, agents, config) = setup(text, agents);
        simulate(plan, config, agents, &models, seed, &mut |_| {}).unwrap()
    }

    /// A recorded attempt of a replay's script.
    fn recorded(end: ScriptedEnd, duration_ms: Time, rank: u64) -> ScriptedAttempt {
        ScriptedAttempt {
            duration_ms,
            end,
            rank,
        }
    }

    const CHAIN: &str = "[[agents]]\ncount=1\n\
        [[tasks]]\nid='a'\nestimated_duration='10m'\n\
        [[tasks]]\nid='b'\nestimated_duration='10m'\ndepends_on=['a']\n\
        [[tasks]]\nid='c'\nestimated_duration='10m'\ndepends_on=['b']\n";

    #[test]
    fn a_chain_of_three_ten_minute_tasks_takes_thirty_minutes_on_any_number_of_agents() {
        for agents in [1, 2, 3, 8] {
            let run = run(CHAIN, agents, 1);
            assert_eq!(run.makespan, 30 * MINUTE_MS, "{agents} agents");
            assert_eq!(run.trace.len(), 3);
        }
    }

    #[test]
    fn independent_tasks_spread_over_agents() {
        let text = "[[agents]]\ncount=1\n".to_string()
            + &(0..8)
                .map(|i| format!("[[tasks]]\nid='t{i}'\nestimated_duration='10m'\n"))
                .collect::<String>();
        assert_eq!(run(&text, 4, 0).makespan, 20 * MINUTE_MS);
        assert_eq!(run(&text, 8, 0).makespan, 10 * MINUTE_MS);
    }

    const FAULTY: &str = "[[agents]]\ncount=3\n\
        [config]\nheartbeat_timeout='2m'\nbackoff_base='30s'\n\
        [simulation]\nduration={model='lognormal', spread=0.4}\nfailure_probability=0.3\n\
        hang_probability=0.05\ncrash_mtbf='2h'\ncrash_recovery='10m'\n";

    fn faulty_plan() -> String {
        let mut text = FAULTY.to_string();
        for i in 0..40 {
            text += &format!(
                "[[tasks]]\nid='t{i}'\nestimated_duration='{}m'\nfiles_to_modify=['f{}']\n{}",
                5 + i % 7,
                i % 5,
                if i >= 4 {
                    format!("depends_on=['t{}']\n", i / 4)
                } else {
                    String::new()
                }
            );
        }
        text
    }

    #[test]
    fn same_seed_same_run_other_seed_other_run() {
        let text = faulty_plan();
        let a = run(&text, 3, 11);
        let b = run(&text, 3, 11);
        assert_eq!(a.trace, b.trace);
        assert_eq!(a.makespan, b.makespan);
        let c = run(&text, 3, 12);
        assert_ne!(a.trace, c.trace);
        assert!(a.stats.retries > 0 && a.stats.timeouts + a.stats.reassignments > 0);
    }

    /// The rows handed over as they close are the trace, in order, each as the run ends
    /// with it: no sealed row changes afterwards. With retries, timeouts of hung attempts
    /// and attempts lost with crashed agents, whose rows close out of dispatch order.
    #[test]
    fn sealed_rows_are_the_final_trace_in_order() {
        let text = faulty_plan();
        let (plan, models, agents, config) = setup(&text, 3);
        for (seed, rows) in [(11, 1), (11, 3), (12, 7), (13, 1000)] {
            let mut sealed: Vec<AttemptRecord> = Vec::new();
            let mut blocks = 0;
            let mut to = |block: &[AttemptRecord]| {
                assert!(!block.is_empty());
                sealed.extend_from_slice(block);
                blocks += 1;
            };
            let sealing = Sealing { rows, to: &mut to };
            let run = run_simulation(
                plan.clone(),
                config.clone(),
                agents.clone(),
                &models,
                Source::models(&plan, Some(sealing)),
                seed,
                &mut |_| {},
            )
            .unwrap();
            assert!(run.stats.retries > 0 && run.stats.timeouts + run.stats.reassignments > 0);
            assert_eq!(sealed, run.trace, "seed {seed}, {rows} rows a block");
            // Blocks of at least `rows`, but for the last; one block when it is all.
            assert!(blocks <= run.trace.len().div_ceil(rows), "seed {seed}");
            assert!(blocks > 1 || rows >= run.trace.len(), "seed {seed}");
            let plain = simulate(
                plan.clone(),
                config.clone(),
                agents.clone(),
                &models,
                seed,
                &mut |_| {},
            );
            assert_eq!(plain.unwrap().trace, run.trace, "sealing changes nothing");
        }
    }

    #[test]
    fn changing_the_failure_model_does_not_reshuffle_durations() {
        // The first attempt of every task draws the same duration with or without failures.
        let with = faulty_plan();
        let without = with.replace("failure_probability=0.3\n", "failure_probability=0.0\n");
        let first_durations = |text: &str| {
            let (_, plan, models) = load(text);
            let mut draws = Draws::new(5);
            plan.task_indices()
                .map(|t| {
                    let p = models.params(t, plan.task(t).task_type);
                    let (_, rng) = draws.attempt(t, 1);
                    p.durations.sample(plan.task(t).estimated_duration_ms, rng)
                })
                .collect::<Vec<f64>>()
        };
        assert_eq!(first_durations(&with), first_durations(&without));
        // And drawing in another order gives the same values.
        let mut draws = Draws::new(5);
        let late = draws.attempt(TaskIdx(3), 2).0.failure;
        let _ = draws.attempt(TaskIdx(1), 1);
        let mut fresh = Draws::new(5);
        assert_eq!(fresh.attempt(TaskIdx(3), 2).0.failure, late);
    }

    #[test]
    fn every_task_ends_and_writers_never_overlap_under_faults() {
        let text = faulty_plan();
        for seed in 0..20 {
            let (_, plan, _) = load(&text);
            let r = run(&text, 3, seed);
            assert_eq!(
                r.progress.completed_tasks + r.progress.failed_tasks + r.progress.skipped_tasks,
                plan.len()
            );
            for (i, x) in r.trace.iter().enumerate() {
                for y in &r.trace[i + 1..] {
                    let overlap = x.start < y.end && y.start < x.end;
                    let shared = plan.locks(x.task).iter().any(|l| {
                        plan.locks(y.task).iter().any(|m| {
                            l.file == m.file && (l.mode, m.mode) != (LockMode::Read, LockMode::Read)
                        })
                    });
                    assert!(
                        !(overlap && shared && x.task != y.task),
                        "seed {seed}: {x:?} and {y:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn calibrated_models_median_factors_time_to_failure_and_dispatch_overhead() {
        let chain = |simulation: &str| format!("{CHAIN}[simulation]\n{simulation}");
        // A log-normal without spread is its median; a single factor is itself.
        let median = run(
            &chain("duration={model='lognormal', spread=0.0, median=1.5}"),
            1,
            0,
        );
        assert_eq!(median.makespan, 45 * MINUTE_MS);
        let factors = run(&chain("duration={model='factors', factors=[2.0]}"), 1, 0);
        assert_eq!(factors.makespan, 60 * MINUTE_MS);
        // Each attempt starts a minute after its assignment.
        let overhead = run(&chain("dispatch_overhead='1m'"), 1, 0);
        assert_eq!(overhead.makespan, 33 * MINUTE_MS);
        // A failed attempt runs its own time-to-failure, not a share of its duration.
        let failing = "[[agents]]\ncount=1\n[config]\nmax_retries_per_task=0\n\
            [simulation]\nfailure_probability=1.0\nfailed_fraction=0.9\n\
            failure_duration={model='factors', factors=[0.1]}\n\
            [[tasks]]\nid='a'\nestimated_duration='10m'\n";
        let failed = run(failing, 1, 0);
        assert_eq!(failed.trace[0].outcome, Outcome::Failed);
        assert_eq!(failed.makespan, MINUTE_MS);
    }

    #[test]
    fn a_scripted_crash_of_an_agent_the_run_does_not_have_does_not_happen() {
        let text = "[[agents]]\nid='w'\ncount=2\n\
            [simulation]\ncrashes=[{agent='w_2', at='5m'}]\n\
            [[tasks]]\nid='a'\nestimated_duration='10m'\n";
        let r = run(text, 1, 0);
        assert_eq!(r.makespan, 10 * MINUTE_MS);
        assert_eq!(r.stats.reassignments, 0);
    }

    #[test]
    fn a_run_without_capable_agents_left_reports_a_stall() {
        let text = "[[agents]]\nid='only'\n[config]\nheartbeat_timeout='1m'\nmax_retries_per_task=0\n\
            [simulation]\ncrashes=[{agent='only', at='5m'}]\n\
            [[tasks]]\nid='a'\nestimated_duration='10m'\n[[tasks]]\nid='b'\nestimated_duration='1m'\ndepends_on=['a']\n";
        let (scenario, plan, models) = load(text);
        let err = simulate(
            plan,
            scenario.config.clone(),
            scenario.agents.clone(),
            &models,
            0,
            &mut |_| {},
        )
        .unwrap_err();
        match err {
            SimError::Stalled { reason, .. } => assert!(reason.contains("`a`"), "{reason}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_replayed_attempt_lost_with_its_agent_is_lost_again() {
        // The record: attempt 1 lost when its agent left at 5 s (and came straight back),
        // attempt 2 succeeded after 3 s.
        let (plan, models, agents, config) = setup(
            "[[agents]]\ncount=1\n[[tasks]]\nid='x'\nestimated_duration='10s'\n",
            1,
        );
        let record = |end, duration_ms| recorded(end, duration_ms, 0);
        let script = |by_attempt: bool| Script {
            attempts: vec![if by_attempt {
                vec![
                    record(ScriptedEnd::Lost, 0),
                    record(ScriptedEnd::Succeeded, 3_000),
                ]
            } else {
                vec![record(ScriptedEnd::Succeeded, 3_000)]
            }],
            leaves: vec![Leave {
                agent: agents[0].id.to_string(),
                at: 5_000,
                rank: 1,
                back_at: Some((5_000, 2)),
            }],
            timeouts: Vec::new(),
            by_attempt,
        };
        let replayed = |by_attempt| {
            let run = replay(
                plan.clone(),
                config.clone(),
                agents.clone(),
                &models,
                &script(by_attempt),
                0,
                &mut |_| {},
            )
            .unwrap();
            let outcomes: Vec<Outcome> = run.trace.iter().map(|r| r.outcome).collect();
            (run.makespan, outcomes)
        };
        // Lost again at 5 s, then the second record: as recorded.
        assert_eq!(
            replayed(true),
            (8_000, vec![Outcome::Lost, Outcome::Succeeded])
        );
        // Charged records alone: the first attempt takes the second's record and ends
        // before the loss.
        assert_eq!(replayed(false), (3_000, vec![Outcome::Succeeded]));
    }

    #[test]
    fn a_replayed_wake_up_takes_its_recorded_place_among_losses_at_the_same_time() {
        // The record: `x` (high priority) fails at 1 s and backs off; the lone agent takes
        // `y`; at the end of the backoff the runner wakes for the retry and is killed, and
        // its resume takes the agent down and brings it back at that same time. Whether
        // the wake-up came before the loss decides which task the returning agent gets.
        let (plan, models, agents, config) = setup(
            "[[agents]]\ncount=1\n\
             [[tasks]]\nid='x'\nestimated_duration='3s'\npriority='high'\n\
             [[tasks]]\nid='y'\nestimated_duration='1s'\npriority='low'\n",
            1,
        );
        let script = |wake_up: (Time, u64)| Script {
            attempts: vec![
                vec![
                    recorded(ScriptedEnd::Failed, 1_000, 0),
                    recorded(ScriptedEnd::Succeeded, 1_000, 5),
                ],
                vec![
                    recorded(ScriptedEnd::Lost, 0, 0),
                    recorded(ScriptedEnd::Succeeded, 2_000, 6),
                ],
            ],
            leaves: vec![Leave {
                agent: agents[0].id.to_string(),
                at: wake_up.0,
                rank: 2,
                back_at: Some((wake_up.0, 3)),
            }],
            timeouts: vec![wake_up],
            by_attempt: true,
        };
        let replayed = |wake_up| {
            let mut not_before = None;
            let run = replay(
                plan.clone(),
                config.clone(),
                agents.clone(),
                &models,
                &script(wake_up),
                0,
                &mut |e| {
                    if let EventKind::TaskRetry { not_before: t, .. } = e.kind {
                        not_before = Some(t);
                    }
                },
            )
            .unwrap();
            let starts: Vec<(String, u32, Time)> = run
                .trace
                .iter()
                .map(|r| (plan.task(r.task).id.to_string(), r.attempt, r.start))
                .collect();
            (not_before.expect("x is retried"), starts)
        };
        // The backoff's end, from a first replay whose loss comes long after (the core's
        // backoff is its own affair).
        let (due, _) = replayed((1_000_000, 1));
        assert!(due > 1_000);
        let row = |id: &str, attempt, start| (id.to_string(), attempt, start);
        // Woken before the loss (rank 1): the retry is ready when the agent returns, and
        // outranks the requeued `y`. Woken after the return (rank 4): the agent has taken
        // `y` again by then.
        let cases = [
            (1, [row("x", 2, due), row("y", 2, due + 1_000)]),
            (4, [row("y", 2, due), row("x", 2, due + 2_000)]),
        ];
        for (rank, after_the_loss) in cases {
            let mut expected = vec![row("x", 1, 0), row("y", 1, 1_000)];
            expected.extend(after_the_loss);
            assert_eq!(replayed((due, rank)).1, expected, "wake-up ranked {rank}");
        }
    }

    /// Drawing first attempts ahead on another core changes nothing: the same trace,
    /// statistics and makespan as drawing each as it comes, with failures whose
    /// time-to-failure is drawn after the duration; and what the helper makes is each
    /// task's first attempt as the simulation draws it.
    #[test]
    fn first_attempts_drawn_ahead_are_the_draws_made_in_turn() {
        let mut text = String::from(
            "[[agents]]\ncount=40\n[config]\nmax_retries_per_task=5\n\
            [simulation]\nfailure_probability=0.3\n\
            duration={model='lognormal', spread=0.5}\n\
            failure_duration={model='exponential'}\n",
        );
        for i in 0..20_000 {
            text += &format!(
                "[[tasks]]\nid='t{i}'\nestimated_duration='{}m'\n",
                1 + i % 17
            );
            if i >= 100 {
                text += &format!("depends_on=['t{}']\n", i - 1 - i % 97);
            }
        }
        let (plan, models, agents, config) = setup(&text, 40);
        for seed in 0..3 {
            let sim = |ahead: bool| {
                let (plan, config, agents) = (plan.clone(), config.clone(), agents.clone());
                run_simulation(
                    plan,
                    config,
                    agents,
                    &models,
                    Source::Models {
                        ahead,
                        sealing: None,
                    },
                    seed,
                    &mut |_| {},
                )
                .unwrap()
            };
            let (in_turn, ahead) = (sim(false), sim(true));
            assert!(in_turn.trace.iter().any(|r| r.outcome == Outcome::Failed));
            let differ = ahead
                .trace
                .iter()
                .zip(&in_turn.trace)
                .position(|(a, b)| a != b);
            assert_eq!(differ, None, "seed {seed}: the first row that differs");
            assert_eq!(ahead.trace.len(), in_turn.trace.len(), "seed {seed}");
            assert_eq!(ahead.makespan, in_turn.makespan, "seed {seed}");
            assert_eq!(ahead.stats, in_turn.stats, "seed {seed}");
        }
        let drawn = ahead::Ahead::new(plan.len());
        drawn.fill(&plan, &models, 7);
        let mut draws = Draws::new(7);
        let bits = |d: Drawn| {
            let u = d.units;
            [u.failure, u.hang, u.share, d.duration].map(f64::to_bits)
        };
        for t in plan.task_indices() {
            let params = models.params(t, plan.task_type(t));
            let (own, _) = draws.attempt_draws(t, 1, params, plan.estimate_ms(t));
            assert_eq!(
                bits(drawn.first(t).expect("every chunk is made")),
                bits(own)
            );
        }
    }
}
