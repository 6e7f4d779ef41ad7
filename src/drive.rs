//! What both drivers share: the simulator ([`crate::sim`]) and the real runner
//! ([`crate::runtime`]) set up a run from a scenario the same way ([`run_setup`]) and
//! record each attempt the same way ([`AttemptRecord`], [`Outcome`]), so the trace and
//! the summary of a simulated run and of a real one are made by the same code.
//!
//! It sits between the core and the drivers: `model → plan → core → drive → sim | runtime`.

use crate::core::AgentIdx;
use crate::model::{AgentSpec, Config, Policy, Scenario, Time};
use crate::plan::TaskIdx;
use serde::Serialize;
use std::sync::Arc;

/// How an attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// It succeeded.
    Succeeded,
    /// It failed.
    Failed,
    /// The core timed it out (it hung, or its agent crashed unnoticed).
    TimedOut,
    /// Its agent was lost or left; requeued without charge.
    Lost,
    /// The run was shut down.
    Cancelled,
    /// Still running when the run ended (only after an error).
    Unfinished,
}

impl Outcome {
    /// The name used in trace files.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Succeeded => "succeeded",
            Outcome::Failed => "failed",
            Outcome::TimedOut => "timed_out",
            Outcome::Lost => "lost",
            Outcome::Cancelled => "cancelled",
            Outcome::Unfinished => "unfinished",
        }
    }
}

/// One attempt, as it happened.
#[derive(Debug, Clone, PartialEq)]
pub struct AttemptRecord {
    /// The task.
    pub task: TaskIdx,
    /// The agent (index into the run's agents).
    pub agent: AgentIdx,
    /// Attempt number.
    pub attempt: u32,
    /// Dispatch time.
    pub start: Time,
    /// When it ended, as the scheduler saw it.
    pub end: Time,
    /// How it ended.
    pub outcome: Outcome,
    /// What the task waited for before this attempt, if anything held it back: `lock:<file>`,
    /// `writer_waiting:<file>`, `no_capable_agent`, `layer_barrier`, `agent:<id>`, or
    /// `retry` for a retry that waited only for its backoff.
    pub wait_reason: Option<String>,
}

/// The config and agents of one run of `scenario`, as `taskdist simulate`, `run`, `sweep`
/// and `baseline` make them: with `agents`, the scenario's agent list repeated to that many
/// ([`scale_agents`]) and `max_agents` set to it; with `policy`, that dispatch policy.
/// Without either, the scenario's own agents and config. Every command builds its runs
/// here, so the same flags give the same run whichever command asks.
pub fn run_setup(
    scenario: &Scenario,
    agents: Option<u32>,
    policy: Option<Policy>,
) -> (Config, Vec<AgentSpec>) {
    let mut config = scenario.config.clone();
    if let Some(policy) = policy {
        config.policy = policy;
    }
    let agents = match agents {
        Some(n) => {
            config.max_agents = n;
            scale_agents(&scenario.agents, n as usize)
        }
        None => scenario.agents.clone(),
    };
    (config, agents)
}

/// `n` agents built by repeating the scenario's agents in order (so a mix of capabilities
/// keeps its proportions), numbered `{id}` for the first round and `{id}~{k}` after.
pub fn scale_agents(agents: &[AgentSpec], n: usize) -> Vec<AgentSpec> {
    assert!(!agents.is_empty(), "a validated scenario has agents");
    (0..n)
        .map(|i| {
            let base = &agents[i % agents.len()];
            let round = i / agents.len();
            let mut agent = base.clone();
            if round > 0 {
                agent.id = Arc::from(format!("{}~{}", base.id, round + 1).as_str());
                agent.name = format!("{} ~{}", base.name, round + 1);
            }
            agent
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agents_repeat_in_order_and_flags_override_the_config() {
        let mut fast = AgentSpec::new("fast");
        fast.speed = 2.0;
        let scenario = Scenario::from_parts(
            Config::default(),
            vec![fast, AgentSpec::new("slow")],
            Vec::new(),
        );
        let (config, agents) = run_setup(&scenario, Some(5), Some(Policy::Fifo));
        assert_eq!(config.max_agents, 5);
        assert_eq!(config.policy, Policy::Fifo);
        let ids: Vec<&str> = agents.iter().map(|a| &*a.id).collect();
        assert_eq!(ids, ["fast", "slow", "fast~2", "slow~2", "fast~3"]);
        assert_eq!(agents[4].speed, 2.0);
        let (config, agents) = run_setup(&scenario, None, None);
        assert_eq!(config, scenario.config);
        assert_eq!(agents, scenario.agents);
    }
}
