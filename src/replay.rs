//! Trace-driven simulation of a recorded run: every task's attempts take the outcomes and
//! durations the run recorded, in order, agents are lost and come back when they did, and
//! the scheduling core — the same one the runner drove — decides again. With the run's
//! own agents and policy that reproduces the run (the fidelity figures of
//! [`Replay::makespan_error`] and [`Replay::same_agent`] say how closely); with other
//! agents or another policy it answers "what if". Attempts the counterfactual adds beyond
//! those recorded draw from the run's own calibrated models ([`crate::calibrate`]), from
//! the seed.

use crate::calibrate::{Calibration, Ended, RecordedRun};
use crate::core::Event;
use crate::model::{AgentSpec, Config, Policy, Time};
use crate::plan::Plan;
use crate::sim::{
    Leave, Script, ScriptedAttempt, ScriptedEnd, SimError, SimModels, SimRun, replay as simulate,
    run_setup,
};
use std::collections::BTreeMap;
use std::sync::Arc;

/// What to change in the replay.
#[derive(Debug, Clone, Default)]
pub struct ReplayOptions {
    /// Run with this many agents (the recorded list repeated, as `simulate --agents`);
    /// a pool of another size does not replay the recorded agent losses.
    pub agents: Option<u32>,
    /// Dispatch with this policy instead of the recorded one.
    pub policy: Option<Policy>,
    /// Seed of the draws for attempts beyond the recorded ones.
    pub seed: u64,
}

/// A replayed run, with what it is compared against.
#[derive(Debug, Clone)]
pub struct Replay {
    /// The simulated run.
    pub run: SimRun,
    /// The plan it ran.
    pub plan: Arc<Plan>,
    /// The configuration it ran under.
    pub config: Config,
    /// The recorded run's makespan.
    pub recorded_makespan_ms: Time,
    /// Recorded attempts that the replay gave to the same agent (same task and attempt
    /// number), and the number of recorded attempts.
    pub same_agent: (usize, usize),
    /// Whether the recorded agent losses were replayed (the pool was the recorded one).
    pub losses_replayed: bool,
    /// The models drawn from for attempts beyond the recorded ones.
    pub calibration: Calibration,
}

impl Replay {
    /// (replayed − recorded) / recorded makespan.
    pub fn makespan_error(&self) -> f64 {
        (self.run.makespan as f64 - self.recorded_makespan_ms as f64)
            / (self.recorded_makespan_ms as f64).max(1.0)
    }

    /// Share of recorded attempts the replay gave to the same agent.
    pub fn same_agent_share(&self) -> f64 {
        self.same_agent.0 as f64 / self.same_agent.1.max(1) as f64
    }
}

/// The recorded attempts as the simulator replays them, each task's in attempt order,
/// from assignment to report; and, if `with_losses`, the agent losses. With the losses,
/// every attempt is scripted, lost ones too (an attempt lost at a kill is lost again when
/// its agent leaves, rather than taking the record of the attempt that re-ran it, whose
/// end may come before the kill); without them, only the charged ones.
pub fn script(recorded: &RecordedRun, with_losses: bool) -> Script {
    let mut attempts: Vec<Vec<(u32, ScriptedAttempt)>> = vec![Vec::new(); recorded.plan.len()];
    let scripted = recorded
        .attempts
        .iter()
        .filter(|a| a.ended.is_charged() || (with_losses && a.ended == Ended::Lost));
    for a in scripted {
        let end = match a.ended {
            Ended::Succeeded => ScriptedEnd::Succeeded,
            Ended::Failed => ScriptedEnd::Failed,
            Ended::TimedOut => ScriptedEnd::Hung,
            Ended::Lost | Ended::Open => ScriptedEnd::Lost,
        };
        // A lost attempt's duration is never used: its agent's loss ends it.
        let duration_ms = a.ended_ms.map_or(0, |end| end - a.assigned_ms);
        // A timeout or a loss has no report; its rank is never used.
        let rank = a.reported_at.map_or(0, |seq| seq as u64);
        attempts[a.task.ix()].push((
            a.attempt,
            ScriptedAttempt {
                duration_ms,
                end,
                rank,
            },
        ));
    }
    let leaves = if with_losses {
        recorded
            .losses
            .iter()
            .map(|l| Leave {
                agent: l.agent.clone(),
                at: l.at,
                rank: l.seq as u64,
                back_at: l.back_at.map(|(t, seq)| (t, seq as u64)),
            })
            .collect()
    } else {
        Vec::new()
    };
    Script {
        attempts: attempts
            .into_iter()
            .map(|mut list| {
                list.sort_by_key(|(attempt, _)| *attempt);
                list.into_iter().map(|(_, a)| a).collect()
            })
            .collect(),
        leaves,
        timeouts: recorded
            .timeout_calls
            .iter()
            .map(|&(at, seq)| (at, seq as u64))
            .collect(),
        by_attempt: with_losses,
    }
}

/// Replays `recorded` under `options`, handing every core event to `on_event`.
pub fn replay(
    recorded: &RecordedRun,
    options: &ReplayOptions,
    on_event: &mut dyn FnMut(&Event),
) -> Result<Replay, SimError> {
    let mut scenario = recorded.scenario.clone();
    scenario.agents = recorded.agents.clone();
    scenario.config = recorded.config.clone();
    let (config, agents) = run_setup(&scenario, options.agents, options.policy);
    let losses_replayed = options
        .agents
        .is_none_or(|n| n as usize == recorded.agents.len());
    let calibration = Calibration::fit(std::slice::from_ref(recorded), false);
    let mut file = calibration.simulation();
    if losses_replayed {
        // The recorded losses happen as they did; random ones on top would not.
        file.crash_mtbf = None;
        file.crash_recovery = None;
    }
    let models = SimModels::resolve(Some(&file), scenario.time_unit, &recorded.plan)
        .expect("a calibration of the run's own plan resolves against it");
    let script = script(recorded, losses_replayed);
    let run = simulate(
        recorded.plan.clone(),
        config.clone(),
        agents,
        &models,
        &script,
        options.seed,
        on_event,
    )?;
    let same_agent = compare_agents(recorded, &run);
    Ok(Replay {
        plan: recorded.plan.clone(),
        config,
        recorded_makespan_ms: recorded.makespan_ms,
        same_agent,
        losses_replayed,
        calibration,
        run,
    })
}

/// (recorded attempts given to the same agent in `run`, recorded attempts).
fn compare_agents(recorded: &RecordedRun, run: &SimRun) -> (usize, usize) {
    let replayed: BTreeMap<(u32, u32), &AgentSpec> = run
        .trace
        .iter()
        .map(|r| ((r.task.0, r.attempt), &run.agents[r.agent.ix()]))
        .collect();
    let same = recorded
        .attempts
        .iter()
        .filter(|a| {
            replayed
                .get(&(a.task.0, a.attempt))
                .is_some_and(|agent| *agent.id == *a.agent)
        })
        .count();
    (same, recorded.attempts.len())
}
