//! The scale runner behind `benches/perf.sh`: one measurement per process, so that
//! `/usr/bin/time -v` sees the peak memory of that measurement alone. Prints one JSON
//! object on stdout.
//!
//! ```text
//! scale plan --tasks N [--agents M] [--seed S]   validation + layering + critical path + analysis
//! scale core --tasks N [--agents M] [--seed S]   the core alone, results fed back instantly
//! scale sim  --tasks N [--agents M] [--seed S]   a whole simulation, failures on
//! scale sim  --plan FILE [--policy P]             a whole simulation of a scenario file
//! ```
//!
//! Plans come from `taskdist::model::generate` (the plans `taskdist gen` writes). Times are
//! the best of `--repeat` runs (default 1), in milliseconds.

mod common;

use common::{bench_config, generated_plan, run_core};
use std::sync::Arc;
use std::time::Instant;
use taskdist::model::Policy;
use taskdist::model::generate::GenParams;
use taskdist::plan::Plan;
use taskdist::sim::{SimModels, simulate};

struct Args {
    what: String,
    tasks: usize,
    agents: u32,
    seed: u64,
    repeat: u32,
    deterministic: bool,
    plan: Option<std::path::PathBuf>,
    policy: Option<Policy>,
}

fn parse() -> Args {
    let mut args = Args {
        what: String::new(),
        tasks: 10_000,
        agents: 1000,
        seed: 1,
        repeat: 1,
        deterministic: false,
        plan: None,
        policy: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().expect("a value after the flag");
        match arg.as_str() {
            "--tasks" => args.tasks = value().parse().expect("--tasks N"),
            "--agents" => args.agents = value().parse().expect("--agents M"),
            "--seed" => args.seed = value().parse().expect("--seed S"),
            "--repeat" => args.repeat = value().parse().expect("--repeat K"),
            "--deterministic" => args.deterministic = true,
            "--plan" => args.plan = Some(value().into()),
            "--policy" => args.policy = Some(value().parse().expect("--policy P")),
            "--bench" => {} // passed by `cargo bench`
            other if args.what.is_empty() => args.what = other.to_string(),
            other => panic!("unknown argument {other}"),
        }
    }
    args
}

fn best_ms(repeat: u32, mut f: impl FnMut() -> f64) -> f64 {
    (0..repeat.max(1))
        .map(|_| f())
        .fold(f64::INFINITY, f64::min)
}

fn main() {
    let args = parse();
    let mut params = GenParams::new(args.tasks, args.agents, args.seed);
    if args.deterministic {
        params = params.deterministic();
    }
    let started = Instant::now();
    match args.what.as_str() {
        "plan" => {
            // Plan::build copies the tasks (the scenario keeps its own); build_owned moves
            // them. Both validate and analyse the same way.
            let scenario = taskdist::model::generate::generate(&params);
            let generate_ms = started.elapsed().as_secs_f64() * 1e3;
            let mut deps = 0;
            let copy_ms = best_ms(args.repeat, || {
                let t = Instant::now();
                let plan = Plan::build(&scenario).expect("valid");
                let analysis = plan.analyse(args.agents as usize);
                deps = analysis.dependencies;
                std::hint::black_box(&analysis);
                t.elapsed().as_secs_f64() * 1e3
            });
            let mut scenario = Some(scenario);
            let ms = best_ms(args.repeat, || {
                let owned = scenario.take().expect("a scenario");
                let t = Instant::now();
                let (rest, plan) = Plan::build_owned(owned).expect("valid");
                let analysis = plan.analyse(args.agents as usize);
                std::hint::black_box(&analysis);
                let ms = t.elapsed().as_secs_f64() * 1e3;
                // Give the tasks back for the next round (not timed).
                scenario = Some(taskdist::model::Scenario {
                    tasks: plan.tasks,
                    ..rest
                });
                ms
            });
            println!(
                "{{\"what\":\"plan\",\"tasks\":{},\"dependencies\":{deps},\"generate_ms\":{generate_ms:.1},\"plan_ms\":{ms:.1},\"plan_copy_ms\":{copy_ms:.1}}}",
                args.tasks
            );
        }
        "core" => {
            let (scenario, plan) = generated_plan(&params.deterministic());
            let agents = scenario.agents.clone();
            let config = bench_config(&scenario, agents.len());
            let mut completions = 0;
            let ms = best_ms(args.repeat, || {
                let t = Instant::now();
                completions = run_core(plan.clone(), config.clone(), &agents);
                t.elapsed().as_secs_f64() * 1e3
            });
            println!(
                "{{\"what\":\"core\",\"tasks\":{},\"agents\":{},\"completions\":{completions},\"core_ms\":{ms:.1},\"completions_per_s\":{:.0},\"ns_per_task\":{:.1}}}",
                args.tasks,
                args.agents,
                completions as f64 / (ms / 1e3),
                ms * 1e6 / completions as f64
            );
        }
        "sim" => {
            let (scenario, plan) = match &args.plan {
                Some(path) => {
                    let (scenario, plan) = Plan::load(path).unwrap_or_else(|e| panic!("{e}"));
                    (scenario, Arc::new(plan))
                }
                None => generated_plan(&params),
            };
            let tasks = plan.len();
            let models = SimModels::for_scenario(&scenario, &plan).expect("valid models");
            let setup_ms = started.elapsed().as_secs_f64() * 1e3;
            let mut config = bench_config(&scenario, scenario.agents.len());
            if let Some(policy) = args.policy {
                config.policy = policy;
            }
            let mut line = String::new();
            let ms = best_ms(args.repeat, || {
                let mut events = 0u64;
                let t = Instant::now();
                let run = simulate(
                    plan.clone(),
                    config.clone(),
                    scenario.agents.clone(),
                    &models,
                    models.seed,
                    &mut |_| events += 1,
                )
                .expect("the simulation finishes");
                let ms = t.elapsed().as_secs_f64() * 1e3;
                line = format!(
                    "\"makespan_ms\":{},\"attempts\":{},\"retries\":{},\"completed\":{},\"failed\":{},\"skipped\":{},\"events\":{events},\"steps\":{}",
                    run.makespan,
                    run.stats.attempts,
                    run.stats.retries,
                    run.progress.completed_tasks,
                    run.progress.failed_tasks,
                    run.progress.skipped_tasks,
                    run.steps
                );
                ms
            });
            println!(
                "{{\"what\":\"sim\",\"tasks\":{tasks},\"agents\":{},\"policy\":\"{}\",\"setup_ms\":{setup_ms:.1},\"sim_ms\":{ms:.1},\"ns_per_task\":{:.1},{line}}}",
                scenario.agents.len(),
                config.policy,
                ms * 1e6 / tasks as f64
            );
        }
        other => panic!("unknown measurement `{other}` (plan, core or sim)"),
    }
}
