//! criterion benchmarks of the scheduling core, the simulator and plan analysis, on plans
//! from `taskdist::model::generate` (what `taskdist gen` writes). Run with `cargo bench`;
//! one group with `cargo bench --bench core -- core_throughput`.
//!
//! - `core_throughput`: the core alone at 1k, 10k, 100k and 1M tasks on 1000 agents, every
//!   assignment succeeding at once (throughput in task completions);
//! - `simulate`: a whole simulation with failures and duration noise on;
//! - `plan_build`: validation, layering, bottom levels, critical path and the analysis;
//! - `lock_contention`: independent tasks all on a few files, so that nearly every
//!   dispatch meets a held lock and every release wakes parked tasks.

mod common;

use common::{bench_config, generated_plan, run_core};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group};
use std::sync::Arc;
use std::time::Duration;
use taskdist::model::generate::{GenParams, generate};
use taskdist::model::{AgentSpec, Config, Scenario, TaskSpec, TaskType};
use taskdist::plan::Plan;
use taskdist::sim::{SimModels, simulate};

const AGENTS: u32 = 1000;

fn label(n: usize) -> String {
    match n {
        n if n >= 1_000_000 => format!("{}M", n / 1_000_000),
        n if n >= 1000 => format!("{}k", n / 1000),
        n => n.to_string(),
    }
}

fn core_throughput(c: &mut Criterion) {
    let mut group = c.benchmark_group("core_throughput");
    group.sample_size(10);
    for n in [1_000, 10_000, 100_000, 1_000_000] {
        let (scenario, plan) = generated_plan(&GenParams::new(n, AGENTS, 1).deterministic());
        let config = bench_config(&scenario, scenario.agents.len());
        group.throughput(Throughput::Elements(n as u64));
        if n >= 1_000_000 {
            group.measurement_time(Duration::from_secs(20));
        }
        group.bench_with_input(BenchmarkId::from_parameter(label(n)), &n, |b, _| {
            b.iter(|| run_core(plan.clone(), config.clone(), &scenario.agents))
        });
    }
    group.finish();
}

fn simulation(c: &mut Criterion) {
    let mut group = c.benchmark_group("simulate");
    group.sample_size(10);
    for n in [10_000, 100_000] {
        let (scenario, plan) = generated_plan(&GenParams::new(n, AGENTS, 1));
        let models = SimModels::for_scenario(&scenario, &plan).expect("valid models");
        let config = bench_config(&scenario, scenario.agents.len());
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::from_parameter(label(n)), &n, |b, _| {
            b.iter(|| {
                simulate(
                    plan.clone(),
                    config.clone(),
                    scenario.agents.clone(),
                    &models,
                    1,
                    &mut |_| {},
                )
                .expect("the simulation finishes")
            })
        });
    }
    group.finish();
}

fn plan_build(c: &mut Criterion) {
    let mut group = c.benchmark_group("plan_build");
    group.sample_size(10);
    for n in [10_000, 100_000, 1_000_000] {
        let scenario = generate(&GenParams::new(n, AGENTS, 1));
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::from_parameter(label(n)), &n, |b, _| {
            b.iter(|| {
                let plan = Plan::build(&scenario).expect("valid");
                plan.analyse(AGENTS as usize)
            })
        });
    }
    group.finish();
}

/// `tasks` independent tasks, each writing (two in three) or reading one of `files` files.
fn contended(tasks: usize, files: usize, agents: usize) -> (Scenario, Arc<Plan>) {
    let specs = (0..tasks)
        .map(|i| {
            let mut t = TaskSpec::new(&format!("t{i}"), TaskType::FeatureImplementation, 60_000);
            let file = format!("src/shared_{}.rs", i % files);
            if i % 3 == 2 {
                t.files_to_read.push(file);
            } else {
                t.files_to_modify.push(file);
            }
            t
        })
        .collect();
    let agents = (0..agents)
        .map(|a| AgentSpec::new(&format!("agent_{a}")))
        .collect();
    let scenario = Scenario::from_parts(Config::default(), agents, specs);
    let plan = Plan::build(&scenario).expect("valid");
    (scenario, Arc::new(plan))
}

fn lock_contention(c: &mut Criterion) {
    let mut group = c.benchmark_group("lock_contention");
    group.sample_size(10);
    for (tasks, files) in [(1_000, 4), (1_000, 64), (10_000, 64)] {
        let (scenario, plan) = contended(tasks, files, 64);
        let config = bench_config(&scenario, scenario.agents.len());
        group.throughput(Throughput::Elements(tasks as u64));
        let id = format!("{}_tasks_{files}_files", label(tasks));
        group.bench_function(id, |b| {
            b.iter(|| run_core(plan.clone(), config.clone(), &scenario.agents))
        });
    }
    group.finish();
}

criterion_group!(
    benches,
    core_throughput,
    simulation,
    plan_build,
    lock_contention
);

fn main() {
    // criterion draws its HTML plots with plotters, whose text backend (ab_glyph, as the
    // report plots use it) needs a registered font: the library's embedded DejaVu Sans.
    taskdist::report::plot::register_fonts();
    benches();
    criterion::Criterion::default()
        .configure_from_args()
        .final_summary();
}
