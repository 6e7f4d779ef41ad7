//! `taskdist gen`: writes a synthetic plan — a layered random DAG with about three
//! dependencies per task, a tenth of the tasks on hot files and failures on — as TOML or
//! JSON, the same for the same seed. For what-if runs and the benchmarks.

use anyhow::Context;
use clap::Args;
use std::io::Write;
use std::path::PathBuf;
use taskdist::model::Format;
use taskdist::model::Policy;
use taskdist::model::generate::{GenParams, generate_file};
use taskdist::sim::MAX_SPREAD;

/// Arguments of `taskdist gen`.
#[derive(Debug, Args)]
pub struct GenArgs {
    /// Number of tasks.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=50_000_000))]
    tasks: u64,
    /// Number of identical agents (also config.max_agents).
    #[arg(long, value_name = "M", default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    agents: u32,
    /// Seed of the plan and of its [simulation] table.
    #[arg(long, value_name = "S", default_value_t = 0)]
    seed: u64,
    /// Write to this file, TOML or JSON by its extension [default: TOML on stdout].
    #[arg(long, short = 'o', value_name = "FILE")]
    out: Option<PathBuf>,
    /// Write this format whatever the extension.
    #[arg(long, value_enum)]
    format: Option<OutFormat>,
    /// Tasks per layer on average [default: the square root of --tasks].
    #[arg(long, value_name = "W", value_parser = clap::value_parser!(u64).range(1..))]
    width: Option<u64>,
    /// Mean number of dependencies of a task outside the first layer (1 to 5).
    #[arg(long, value_name = "D", default_value_t = 3.0, value_parser = parse_deps)]
    deps: f64,
    /// Share of tasks that write or read a hot file.
    #[arg(long, value_name = "F", default_value_t = 0.1, value_parser = parse_probability)]
    hot_fraction: f64,
    /// Number of hot files [default: a third of the square root of --tasks].
    #[arg(long, value_name = "K", value_parser = clap::value_parser!(u64).range(1..))]
    hot_files: Option<u64>,
    /// Probability that a simulated attempt fails.
    #[arg(long, value_name = "P", default_value_t = 0.05, value_parser = parse_probability)]
    failure_probability: f64,
    /// Spread (σ) of the log-normal duration model, 0 to 10; 0 for fixed durations.
    #[arg(long, value_name = "S", default_value_t = 0.3, value_parser = parse_spread)]
    spread: f64,
    /// Every attempt lasts exactly its estimate and succeeds: --failure-probability 0
    /// --spread 0 and context sharing off (a shared discovery shortens attempts).
    #[arg(long)]
    deterministic: bool,
    /// Dispatch policy to write in [config] [default: none, so critical-path].
    #[arg(long, value_name = "P", value_parser = parse_policy)]
    policy: Option<Policy>,
}

/// The formats a plan can be written in.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum OutFormat {
    /// TOML.
    Toml,
    /// JSON.
    Json,
}

fn parse_policy(text: &str) -> Result<Policy, String> {
    text.parse()
}

fn parse_number(text: &str, ok: impl Fn(f64) -> bool, expected: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(x) if ok(x) => Ok(x),
        _ => Err(format!("expected {expected}, not `{text}`")),
    }
}

fn parse_deps(text: &str) -> Result<f64, String> {
    parse_number(text, |x| (1.0..=5.0).contains(&x), "a number from 1 to 5")
}

fn parse_probability(text: &str) -> Result<f64, String> {
    parse_number(text, |x| (0.0..=1.0).contains(&x), "a number from 0 to 1")
}

fn parse_spread(text: &str) -> Result<f64, String> {
    parse_number(
        text,
        |x| (0.0..=MAX_SPREAD).contains(&x),
        &format!("a number from 0 to {MAX_SPREAD}"),
    )
}

/// Generates the plan and writes it.
pub fn generate(args: &GenArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let mut params = GenParams::new(args.tasks as usize, args.agents, args.seed);
    params.width = args.width.unwrap_or(0) as usize;
    params.deps_per_task = args.deps;
    params.hot_fraction = args.hot_fraction;
    params.hot_files = args.hot_files.unwrap_or(0) as usize;
    params.failure_probability = args.failure_probability;
    params.duration_spread = args.spread;
    params.policy = args.policy;
    if args.deterministic {
        params = params.deterministic();
    }
    let format = match (args.format, &args.out) {
        (Some(OutFormat::Toml), _) => Format::Toml,
        (Some(OutFormat::Json), _) => Format::Json,
        (None, Some(path)) => Format::from_path(path).with_context(|| {
            format!(
                "{}: cannot tell the format from the extension (use .toml or .json, or --format)",
                path.display()
            )
        })?,
        (None, None) => Format::Toml,
    };
    let file = generate_file(&params);
    let text = match format {
        Format::Toml => toml::to_string(&file).context("writing the plan as TOML")?,
        Format::Json => serde_json::to_string(&file).context("writing the plan as JSON")? + "\n",
    };
    match &args.out {
        Some(path) => {
            std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?
        }
        None => out.write_all(text.as_bytes())?,
    }
    Ok(())
}
