//! How the `optimized` policy dispatches when durations are random: a plan-time choice
//! by sample-average approximation.
//!
//! A static schedule is exact only while every attempt takes its estimate. When the
//! scenario's models make runs differ by seed (random durations or faults), each
//! [`Dispatch`] mode is simulated on the same [`DISPATCH_SAMPLES`] samples of those
//! models (common random numbers: sample `k` draws the same durations under every mode).
//! Critical-path order, robust to durations off their estimates, is kept unless another
//! mode beats it significantly: a one-sided paired test on the per-sample differences,
//! mean difference below −[`DISPATCH_Z`] standard errors (computed exactly, in integers);
//! of several such modes the one with the least mean. A one-off lucky sample does not
//! switch modes, so the choice rarely loses to critical-path on other seeds (measured in
//! reports/stg.md). The samples' seeds derive from the scenario's master seed and
//! have the top bit set, so they are never the seeds of the runs being planned (which
//! count up from a small master seed). Same plan, agents, models and seed ⇒ the same
//! choice. With fixed durations and no faults nothing is sampled: the schedule is
//! followed, and reproduced exactly.

use super::{SimModels, simulate};
use crate::model::{AgentSpec, Config, Dispatch, Policy, Time};
use crate::plan::Plan;
use std::sync::Arc;

/// Samples of the scenario's models simulated per dispatch mode.
pub const DISPATCH_SAMPLES: u64 = 32;

/// How many standard errors below critical-path's makespan a mode's mean must be for it
/// to be chosen.
pub const DISPATCH_Z: u64 = 2;

/// The seed of sample `k` for the master seed `master`: a SplitMix64 mix of both, with
/// the top bit set.
pub fn sample_seed(master: u64, k: u64) -> u64 {
    let mut z =
        (master ^ 0x6a09_e667_f3bc_c908).wrapping_add(k.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    (z ^ (z >> 31)) | 1 << 63
}

/// What the choice measured: per mode of [`Dispatch::ALL`], the total makespan over the
/// samples (`None` when a sample run stopped early), and the mode kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DispatchChoice {
    /// The mode kept.
    pub dispatch: Dispatch,
    /// Per mode of [`Dispatch::ALL`]: the summed makespans of the samples (ms).
    pub totals: Vec<Option<Time>>,
    /// Samples per mode (0: nothing was sampled, the models are not random).
    pub samples: u64,
}

/// Chooses how to dispatch with `config`'s schedule under `models` (see the module doc).
/// Without a schedule, or when the policy is not `optimized`, the choice is `follow` and
/// nothing is simulated.
pub fn choose_dispatch(
    plan: &Arc<Plan>,
    config: &Config,
    agents: &[AgentSpec],
    models: &SimModels,
) -> DispatchChoice {
    let follow = DispatchChoice {
        dispatch: Dispatch::Follow,
        totals: Vec::new(),
        samples: 0,
    };
    let Some(schedule) = config.schedule.as_deref() else {
        return follow;
    };
    if config.policy != Policy::Optimized || !models.is_random() {
        return follow;
    }
    let spans: Vec<Option<Vec<Time>>> = Dispatch::ALL
        .iter()
        .map(|&dispatch| {
            let mut sample_config = config.clone();
            sample_config.schedule = Some(Arc::new(crate::model::Schedule {
                dispatch,
                ..schedule.clone()
            }));
            (0..DISPATCH_SAMPLES)
                .map(|k| {
                    simulate(
                        plan.clone(),
                        sample_config.clone(),
                        agents.to_vec(),
                        models,
                        sample_seed(models.seed, k),
                        &mut |_| {},
                    )
                    .ok()
                    .map(|run| run.makespan)
                })
                .collect()
        })
        .collect();
    let totals = spans
        .iter()
        .map(|s| s.as_ref().map(|s| s.iter().sum()))
        .collect();
    let mut best = Dispatch::ALL[0];
    let mut best_sum = 0;
    if let Some(base) = &spans[0] {
        for (i, other) in spans.iter().enumerate().skip(1) {
            let Some(other) = other else { continue };
            let (sum, squares) = other
                .iter()
                .zip(base)
                .fold((0i128, 0i128), |(s, q), (&o, &b)| {
                    let d = o as i128 - b as i128;
                    (s.saturating_add(d), q.saturating_add(d.saturating_mul(d)))
                });
            if significantly_less(sum, squares, DISPATCH_SAMPLES as i128) && sum < best_sum {
                best = Dispatch::ALL[i];
                best_sum = sum;
            }
        }
    }
    DispatchChoice {
        dispatch: best,
        totals,
        samples: DISPATCH_SAMPLES,
    }
}

/// Under `optimized` with a schedule: sets the schedule's dispatch mode to the one
/// [`choose_dispatch`] keeps, and returns the choice.
pub fn set_dispatch(
    plan: &Arc<Plan>,
    config: &mut Config,
    agents: &[AgentSpec],
    models: &SimModels,
) -> DispatchChoice {
    let choice = choose_dispatch(plan, config, agents, models);
    if let Some(schedule) = config.schedule.as_mut()
        && schedule.dispatch != choice.dispatch
    {
        Arc::make_mut(schedule).dispatch = choice.dispatch;
    }
    choice
}

/// What a run does before it starts: under `optimized`, a config without a schedule gets
/// one, computed for `agents`, with its dispatch mode chosen for `models`. A plan no slot
/// can run (a capability missing among the first `max_agents`) runs without a schedule,
/// in planned-start-less `critical-path` order; the CLI reports that error before
/// simulating. Neither step depends on the run's seed, so runs that differ only by seed
/// (a sweep's) can share one call.
pub fn plan_schedule(
    plan: &Arc<Plan>,
    config: &mut Config,
    agents: &[AgentSpec],
    models: &SimModels,
) {
    if config.schedule.is_none() && crate::optimize::ensure_schedule(plan, config, agents).is_ok() {
        set_dispatch(plan, config, agents, models);
    }
}

/// Whether differences summing to `sum`, with squares summing to `squares`, over `k`
/// samples have a mean below −[`DISPATCH_Z`] standard errors: `sum < 0` and
/// `sum² (k − 1) > z² (k · squares − sum²)`, exact in integers.
fn significantly_less(sum: i128, squares: i128, k: i128) -> bool {
    let z = DISPATCH_Z as i128;
    let sum2 = sum.saturating_mul(sum);
    k > 1
        && sum < 0
        && sum2.saturating_mul(k - 1)
            > (z * z).saturating_mul(k.saturating_mul(squares).saturating_sub(sum2))
}

/// Sets the run's schedule as [`crate::optimize::prepare`] does (read from `file`, else
/// computed under `optimized`), and a computed one's dispatch mode for `models`. What
/// `simulate` and `run` call before a run.
pub fn prepare_schedule(
    plan: &Arc<Plan>,
    config: &mut Config,
    agents: &[AgentSpec],
    models: &SimModels,
    file: Option<&std::path::Path>,
) -> Result<DispatchChoice, crate::optimize::OptimizeError> {
    crate::optimize::prepare(plan, config, agents, file)?;
    Ok(if file.is_some() {
        DispatchChoice {
            dispatch: config
                .schedule
                .as_ref()
                .map_or(Dispatch::Follow, |s| s.dispatch),
            totals: Vec::new(),
            samples: 0,
        }
    } else {
        set_dispatch(plan, config, agents, models)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Format, Scenario};
    use crate::optimize::{Budget, optimize};

    /// Seven tasks on two agents under `optimized`, with the schedule set, and `simulation`
    /// as the scenario's `[simulation]` table.
    fn setup(simulation: &str) -> (Arc<Plan>, Config, Vec<AgentSpec>, SimModels) {
        let mut text = format!(
            "[[agents]]\ncount = 2\n[config]\nmax_agents = 2\npolicy = 'optimized'\ntask_timeout = '2h'\n{simulation}\n"
        );
        for (i, (minutes, deps)) in [
            (30, ""),
            (20, ""),
            (20, "'t0'"),
            (10, "'t1'"),
            (40, ""),
            (15, "'t2','t3'"),
            (25, "'t4'"),
        ]
        .into_iter()
        .enumerate()
        {
            text += &format!(
                "[[tasks]]\nid = 't{i}'\nestimated_duration = {minutes}\ndepends_on = [{deps}]\n"
            );
        }
        let (scenario, issues) = Scenario::parse(&text, Format::Toml, "r.toml").unwrap();
        let (scenario, plan) = Plan::from_scenario(scenario, issues).unwrap();
        let models = SimModels::for_scenario(&scenario, &plan).unwrap();
        let mut config = scenario.config.clone();
        let out = optimize(&plan, &scenario.agents, 2, Budget::default()).unwrap();
        config.schedule = Some(Arc::new(out.schedule));
        (Arc::new(plan), config, scenario.agents.clone(), models)
    }

    #[test]
    fn fixed_durations_follow_the_schedule_without_sampling() {
        let (plan, mut config, agents, models) = setup("");
        let choice = set_dispatch(&plan, &mut config, &agents, &models);
        assert_eq!(choice.dispatch, Dispatch::Follow);
        assert_eq!(choice.samples, 0);
        assert_eq!(config.schedule.unwrap().dispatch, Dispatch::Follow);
    }

    #[test]
    fn random_durations_sample_every_mode_the_same_way_twice() {
        let simulation = "[simulation]\nduration = { model = 'lognormal', spread = 0.3 }";
        let (plan, mut config, agents, models) = setup(simulation);
        let first = choose_dispatch(&plan, &config, &agents, &models);
        assert_eq!(first.samples, DISPATCH_SAMPLES);
        assert_eq!(first.totals.len(), Dispatch::ALL.len());
        assert!(first.totals.iter().all(Option::is_some), "{first:?}");
        assert_eq!(choose_dispatch(&plan, &config, &agents, &models), first);
        let set = set_dispatch(&plan, &mut config, &agents, &models);
        assert_eq!(config.schedule.unwrap().dispatch, set.dispatch);
        assert_eq!(set, first);
    }

    #[test]
    fn only_a_significant_difference_switches_modes() {
        // Eight samples, each 10 ms shorter: no spread at all, so significant.
        assert!(significantly_less(-80, 800, 8));
        // The same mean, one sample 80 ms shorter and the rest equal: not significant.
        assert!(!significantly_less(-80, 6400, 8));
        assert!(!significantly_less(0, 0, 8));
        assert!(!significantly_less(-10, 100, 1));
    }

    #[test]
    fn sample_seeds_are_never_small_and_differ() {
        let seeds: Vec<u64> = (0..DISPATCH_SAMPLES).map(|k| sample_seed(0, k)).collect();
        assert!(seeds.iter().all(|&s| s >= 1 << 63));
        let mut unique = seeds.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), seeds.len());
        assert_ne!(sample_seed(1, 0), sample_seed(0, 0));
    }
}
