//! `report.md` of a sweep: what was run, the knee of every series, the figures and the
//! per-point table, in Markdown that reads well on GitHub and in a terminal.
//!
//! The text depends only on the sweep's inputs and results, never on the time or the
//! machine, so regenerating a committed report changes it only when the numbers change.

use super::sweep::{KNEE_TOLERANCE, PointSummary, SweepSpec, knee, series, series_label};
use crate::model::{Human, Time, count};
use crate::plan::Plan;
use std::fmt::Write;

/// What the report is about, besides the results.
pub struct SweepReport<'a> {
    /// The scenario file, as given on the command line.
    pub scenario: &'a str,
    /// The command that reproduces the sweep.
    pub command: &'a str,
    /// The plan.
    pub plan: &'a Plan,
    /// The sweep's settings.
    pub spec: &'a SweepSpec,
    /// The per-point results.
    pub points: &'a [PointSummary],
    /// The cost and risk sections, appended at the end ([`RiskSections::markdown`]).
    pub risk: &'a str,
}

fn human(secs: f64) -> String {
    Human((secs * 1000.0).round() as Time).to_string()
}

fn opt(x: Option<f64>, f: impl Fn(f64) -> String) -> String {
    x.map_or_else(|| "–".to_string(), f)
}

impl SweepReport<'_> {
    /// The Markdown text. Figures are referenced as `speedup.png` and `utilization.png`
    /// (with links to the SVGs) next to the report.
    pub fn markdown(&self) -> String {
        let mut md = String::new();
        self.write(&mut md)
            .expect("writing to a String cannot fail");
        md
    }

    fn write(&self, md: &mut String) -> std::fmt::Result {
        let spec = self.spec;
        let plan = self.plan;
        let seeds_last = spec.base_seed.wrapping_add(spec.seeds as u64 - 1);
        writeln!(md, "# Sweep of `{}`\n", self.scenario)?;
        writeln!(md, "```sh\n{}\n```\n", self.command)?;
        writeln!(
            md,
            "{}, {} serial ({} on the critical path). {}: {} ({}–{}) × {} × {} ({}–{}){}. \
             Each run is the run `taskdist simulate FILE --agents N --policy P --seed S` \
             makes{}; every point uses the same seeds.\n",
            count(plan.len(), "task", "tasks"),
            Human(plan.total_work_ms()),
            Human(plan.critical_path_ms()),
            count(spec.run_count(), "run", "runs"),
            count(spec.agents.len(), "agent count", "agent counts"),
            spec.agents.first().copied().unwrap_or(0),
            spec.agents.last().copied().unwrap_or(0),
            count(spec.policies.len(), "policy", "policies"),
            count(spec.seeds, "seed", "seeds"),
            spec.base_seed,
            seeds_last,
            match &spec.vary {
                Some(v) => format!(
                    " × {} of `{}`",
                    count(v.values.len(), "value", "values"),
                    v.axis
                ),
                None => String::new(),
            },
            if spec.vary.is_some() {
                " on the scenario with the varied setting changed"
            } else {
                ""
            },
        )?;

        writeln!(md, "## Knee\n")?;
        writeln!(
            md,
            "The knee is the smallest agent count whose median (p50) makespan is within {:.0}% \
             of the best median makespan of its series: past it, more agents buy little.\n",
            KNEE_TOLERANCE * 100.0
        )?;
        writeln!(
            md,
            "| series | knee | p50 makespan at the knee | best p50 makespan | at agents |"
        )?;
        writeln!(md, "| --- | ---: | ---: | ---: | ---: |")?;
        let mut headline: Option<(String, u32, f64)> = None;
        for s in series(self.points) {
            let label = series_label(spec, &s[0]);
            match knee(s) {
                Some(k) => {
                    writeln!(
                        md,
                        "| {label} | **{}** | {} | {} | {} |",
                        k.agents,
                        human(k.makespan_p50),
                        human(k.best_makespan_p50),
                        k.best_agents
                    )?;
                    let better = headline
                        .as_ref()
                        .is_none_or(|(_, _, best)| k.best_makespan_p50 < *best);
                    if better {
                        headline = Some((label, k.agents, k.best_makespan_p50));
                    }
                }
                None => writeln!(md, "| {label} | – | no run finished the plan | – | – |")?,
            }
        }
        writeln!(md)?;
        if let Some((label, agents, best)) = headline {
            writeln!(
                md,
                "**Knee: {}** ({label}, the series with the shortest median makespan, {}).\n",
                count(agents, "agent", "agents"),
                human(best)
            )?;
        }

        writeln!(md, "## Speedup\n")?;
        writeln!(
            md,
            "![speedup against agents](speedup.png)\n\n\
             Speedup is serial time / makespan. Lines: the median of the seeds; bands: p5 to \
             p95; rings: the knee. Dashed: serial time / the plan's lower bound on the \
             estimates (the best of its bounds, as `taskdist plan` prints it), which no \
             schedule of the estimates can beat; random durations may cross it. [SVG](speedup.svg)\n"
        )?;
        if spec
            .vary
            .as_ref()
            .is_some_and(|v| v.axis == super::sweep::Axis::Locks)
        {
            writeln!(
                md,
                "The bound counts the work that must hold each file's write lock; with locks \
                 off nothing holds them, so the `locks=off` series can pass it.\n"
            )?;
        }
        let incomplete: usize = self.points.iter().map(|p| p.incomplete).sum();
        if incomplete > 0 {
            let runs: usize = self.points.iter().map(|p| p.runs).sum();
            writeln!(
                md,
                "**{incomplete} of {runs} runs lost tasks** (failed for good, or skipped \
                 because something they needed failed: *incomplete* below). Such a run ends \
                 early with a part of the plan, so its makespan is not the plan's: makespans, \
                 speedups, utilization, costs, the knee and the figures are over the runs that \
                 completed every task, and a point where none did has no value. The means of \
                 lock wait, retries and failed tasks count every run that ran to the end.\n"
            )?;
        }
        writeln!(md, "## Utilization\n")?;
        writeln!(
            md,
            "![utilization against agents](utilization.png)\n\n\
             Utilization is agent time spent in attempts (failed ones included) over makespan × \
             agent slots. Lines: median; bands: p5 to p95. [SVG](utilization.svg)\n"
        )?;

        writeln!(md, "## Points\n")?;
        writeln!(
            md,
            "Makespans and lock wait as durations. *p50 / bound* is the median makespan over \
             the plan's bound on the estimates (below 1 where the runs drew shorter durations); \
             *efficiency* is the median of each run's makespan over its own bound, from the \
             durations it drew, which no schedule of them beats (never below 1). Lock wait, \
             retries and failed tasks are means per run; *incomplete* counts the runs that lost tasks and *errors* those \
             that stopped early. Every run is in `sweep.csv`, every point in \
             `sweep_summary.csv`.\n"
        )?;
        for s in series(self.points) {
            writeln!(md, "### {}\n", series_label(spec, &s[0]))?;
            writeln!(
                md,
                "| agents | makespan p5 | p50 | p95 | speedup p50 | p50 / bound | efficiency p50 \
                 | utilization p50 | lock wait | retries | failed tasks | incomplete | errors |"
            )?;
            writeln!(
                md,
                "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
            )?;
            for p in s {
                writeln!(
                    md,
                    "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                    p.agents,
                    opt(p.makespan_p5, human),
                    opt(p.makespan_p50, human),
                    opt(p.makespan_p95, human),
                    opt(p.speedup_p50, |x| format!("{x:.2}×")),
                    opt(p.makespan_over_lower_bound_p50, |x| format!("{x:.2}")),
                    opt(p.efficiency_p50, |x| format!("{x:.2}")),
                    opt(p.utilization_p50, |x| format!("{:.0}%", x * 100.0)),
                    opt(p.lock_wait_mean, human),
                    opt(p.retries_mean, |x| format!("{x:.2}")),
                    opt(p.tasks_failed_mean, |x| format!("{x:.2}")),
                    p.incomplete,
                    p.errors
                )?;
            }
            writeln!(md)?;
        }
        md.push_str(self.risk);
        Ok(())
    }
}

/// The risk (and, for a sweep, cost) sections of a report: `report.md` of a sweep ends
/// with them and `simulate --seeds N --out DIR` writes them as `risk.md`.
pub struct RiskSections<'a> {
    /// Cost per series: its label, its knee by time and its knee by cost (sweeps only).
    pub cost: &'a [(
        String,
        Option<super::sweep::Knee>,
        Option<super::sweep::CostKnee>,
    )],
    /// The S-curves: a label and its distribution.
    pub curves: &'a [(String, super::risk::Distribution)],
    /// Which runs the criticality ranking is over, and the ranking.
    pub criticality: (&'a str, &'a [super::risk::Criticality]),
    /// The configuration the tornado ran, and its bars.
    pub tornado: (&'a str, &'a [super::risk::TornadoRow]),
}

/// Tasks shown in a report's criticality table.
const CRITICAL_SHOWN: usize = 15;

impl RiskSections<'_> {
    /// The Markdown text.
    pub fn markdown(&self) -> String {
        let mut md = String::new();
        self.write(&mut md)
            .expect("writing to a String cannot fail");
        md
    }

    fn write(&self, md: &mut String) -> std::fmt::Result {
        if !self.cost.is_empty() {
            writeln!(md, "## Cost\n")?;
            writeln!(
                md,
                "![median makespan against cost](cost.png)\n\n\
                 Cost of a run: **held** — every agent that may hold work paid its \
                 `cost_per_hour` from start to makespan, idle or not (a reserved pool) — and \
                 **busy** — each agent paid only for its time in attempts, failed ones \
                 included (agents billed by work, like an LLM's tokens). Both are medians over \
                 the seeds, in the unit of `cost_per_hour`; the figure plots held cost. The knee \
                 by cost is the point with the lowest median held cost among those within {:.0}% \
                 of the series' best median makespan. [SVG](cost.svg)\n",
                KNEE_TOLERANCE * 100.0
            )?;
            writeln!(
                md,
                "| series | knee by time | its held cost | knee by cost | its p50 makespan | held cost | busy cost |"
            )?;
            writeln!(md, "| --- | ---: | ---: | ---: | ---: | ---: | ---: |")?;
            for (label, time, cost) in self.cost {
                let time_cell = time
                    .as_ref()
                    .map_or("–".to_string(), |k| k.agents.to_string());
                match cost {
                    Some(c) => writeln!(
                        md,
                        "| {label} | {time_cell} | {} | **{}** | {} | {:.2} | {:.2} |",
                        time.as_ref()
                            .and_then(|k| k.cost_held_p50)
                            .map_or("–".to_string(), |x| format!("{x:.2}")),
                        c.agents,
                        human(c.makespan_p50),
                        c.cost_held_p50,
                        c.cost_busy_p50
                    )?,
                    None => writeln!(md, "| {label} | {time_cell} | – | – | – | – | – |")?,
                }
            }
            writeln!(md)?;
        }

        writeln!(md, "## Makespan distribution\n")?;
        writeln!(
            md,
            "![makespan S-curve](scurve.png)\n\n\
             The S-curve is the share of runs that finished the plan by each makespan (a run \
             that stopped early or lost tasks, failed for good or skipped, never finishes it, \
             so a curve with some ends below 100%); the percentiles are over the runs that \
             finished it. Every run's point is \
             in `makespan_cdf.csv`. [SVG](scurve.svg)\n"
        )?;
        let deadline = self.curves.iter().find_map(|(_, d)| d.deadline);
        write!(md, "| runs | finished | p50 | p80 | p95 |")?;
        if let Some(d) = deadline {
            write!(md, " P(makespan ≤ {}) |", human(d))?;
        }
        writeln!(md)?;
        write!(md, "| --- | ---: | ---: | ---: | ---: |")?;
        if deadline.is_some() {
            write!(md, " ---: |")?;
        }
        writeln!(md)?;
        for (label, d) in self.curves {
            write!(
                md,
                "| {label} | {} of {} | {} | {} | {} |",
                d.finished,
                d.runs,
                opt(d.p50, human),
                opt(d.p80, human),
                opt(d.p95, human)
            )?;
            if let Some(p) = d.deadline_probability {
                write!(md, " {:.1}% |", p * 100.0)?;
            }
            writeln!(md)?;
        }
        writeln!(md)?;

        let (over, ranked) = self.criticality;
        writeln!(md, "## Criticality\n")?;
        writeln!(
            md,
            "The criticality index of a task is the share of runs that finished the plan in \
             which it lies \
             on the realized critical path: the chain of attempts and waits, read back from \
             the run's trace, that set the makespan (each attempt's predecessor is whichever \
             ended last before it started: the task's previous attempt, a dependency, the \
             holder of a file it locks, or the agent's previous attempt). Over {over}; every \
             task with a non-zero index is in `criticality.csv`.\n"
        )?;
        writeln!(md, "| task | type | criticality | on the path in |")?;
        writeln!(md, "| --- | --- | ---: | ---: |")?;
        for c in ranked
            .iter()
            .filter(|c| c.runs_on_path > 0)
            .take(CRITICAL_SHOWN)
        {
            writeln!(
                md,
                "| `{}` | {} | {:.0}% | {} of {} runs |",
                c.task_id,
                c.task_type,
                c.criticality * 100.0,
                c.runs_on_path,
                c.runs
            )?;
        }
        writeln!(md)?;

        let (config, rows) = self.tornado;
        writeln!(md, "## What moves the p80 makespan\n")?;
        writeln!(
            md,
            "![tornado chart](tornado.png)\n\n\
             Each task type's duration and failure probability is moved alone to each end of \
             its range, every other model as it is, over the same seeds ({config}). A range \
             is the parameter's 95% interval where the simulation table gives one (a \
             `--calibration` file's fit: the interval of the median duration, the Wilson \
             interval of the failure probability); elsewhere it is ±25% on durations (×0.75 \
             to ×1.25) and ±0.1 on the failure probability (kept within 0 to 1) around the \
             model, and the range column says so. Ranked by swing; all rows are in \
             `tornado.csv`. [SVG](tornado.svg)\n"
        )?;
        writeln!(
            md,
            "| factor | range | p80 at low end | p80 at high end | swing |"
        )?;
        writeln!(md, "| --- | --- | ---: | ---: | ---: |")?;
        for row in rows {
            writeln!(
                md,
                "| {} | {} | {} | {} | {} |",
                row.label(),
                row.range_source.describe(row.parameter),
                opt(row.p80_low, human),
                opt(row.p80_high, human),
                opt(row.swing, human)
            )?;
        }
        if let Some(base) = rows.first().and_then(|r| r.p80_base) {
            writeln!(md, "\np80 with the models as they are: {}.", human(base))?;
        }
        writeln!(md)?;
        Ok(())
    }
}
