//! The Gantt chart of one run (`gantt.svg`, `gantt.png` from `taskdist simulate --out`):
//! one lane per agent, one bar per attempt coloured by task type, failed, timed-out and
//! lost attempts marked, critical-path tasks outlined, and the time a task waited for a
//! file lock drawn as a dark strip leading into the attempt it delayed.
//!
//! Past [`DETAIL_MAX`] attempts one bar each would be an unreadable picture (and a
//! file of a hundred megabytes), so the chart aggregates instead: one band per group of
//! consecutive agents, the run cut into time bins, and each cell shaded by the share of
//! the band's slots that were busy in that bin (utilization). Its title says so.
//!
//! Lock waits are not in the trace rows, only their reason. They are rebuilt from the
//! core's events exactly as the simulator measures them ([`lock_waits`]): a task is held
//! from its first `task_blocked` event until it is next dispatched (`task_execute`), and
//! the time counts when the block was a lock.

use super::plot::{Draw, FONT, Figure, PALETTE, PlotError, render};
use crate::core::{Event, EventKind};
use crate::drive::Outcome;
use crate::model::{HOUR_MS, Human, MINUTE_MS, SECOND_MS, TaskType, Time, count};
use crate::plan::{Plan, TaskIdx};
use crate::sim::SimRun;
use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// The time one attempt waited for a file lock before it was dispatched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockWait {
    /// The task.
    pub task: TaskIdx,
    /// The attempt the wait delayed.
    pub attempt: u32,
    /// When the task was first held back by the lock.
    pub since: Time,
    /// When the attempt was dispatched.
    pub until: Time,
}

/// The lock waits of a run, from its events in order (only `task_blocked` and
/// `task_execute` events matter; others are skipped).
pub fn lock_waits(plan: &Plan, events: &[Event]) -> Vec<LockWait> {
    let mut held: Vec<Option<(Time, bool)>> = vec![None; plan.len()];
    let mut waits = Vec::new();
    for event in events {
        match &event.kind {
            EventKind::TaskBlocked { task, reason } => {
                if let Some(t) = plan.task_index(task)
                    && held[t.ix()].is_none()
                {
                    held[t.ix()] = Some((event.time, reason.is_lock()));
                }
            }
            EventKind::TaskExecute { task, attempt, .. } => {
                if let Some(t) = plan.task_index(task)
                    && let Some((since, true)) = held[t.ix()].take()
                    && event.time > since
                {
                    waits.push(LockWait {
                        task: t,
                        attempt: *attempt,
                        since,
                        until: event.time,
                    });
                }
            }
            _ => {}
        }
    }
    waits
}

/// What a Gantt chart shows.
pub struct Gantt<'a> {
    /// The run.
    pub run: &'a SimRun,
    /// Its plan.
    pub plan: &'a Plan,
    /// Its lock waits ([`lock_waits`]).
    pub lock_waits: &'a [LockWait],
    /// The headline, e.g. the scenario and the run's settings.
    pub title: String,
}

/// The most attempts drawn one bar each; past this the chart aggregates (module doc).
pub const DETAIL_MAX: usize = 5_000;
/// Bands of agents in an aggregated chart (fewer when there are fewer agents).
const BANDS_MAX: usize = 40;
/// Time bins of an aggregated chart.
const BINS: usize = 200;
const WIDTH: u32 = 1600;
/// The most lanes drawn: past this an image stops being readable (and its pixel buffer
/// grows without bound), so the chart shows the first agents and says so in its title.
const LANES_MAX: usize = 400;
const HEADER: u32 = 92;
const FAILED: RGBColor = RGBColor(200, 0, 0);
const TIMED_OUT: RGBColor = RGBColor(120, 30, 160);
const LOST: RGBColor = RGBColor(120, 120, 120);
const WAIT: RGBColor = RGBColor(60, 60, 60);

impl Gantt<'_> {
    /// Lane height in pixels: roomy for a handful of agents, tighter for many.
    fn lane_px(&self) -> u32 {
        let n = self.lanes() as u32;
        if n <= 32 { 30 } else { (1000 / n).max(4) }
    }

    /// Lanes drawn: one per agent, at most [`LANES_MAX`]; aggregated, one per band.
    fn lanes(&self) -> usize {
        if self.aggregated() {
            self.bands().0
        } else {
            self.run.agents.len().clamp(1, LANES_MAX)
        }
    }

    /// Whether the chart aggregates (more than [`DETAIL_MAX`] attempts).
    pub fn aggregated(&self) -> bool {
        self.run.trace.len() > DETAIL_MAX
    }

    /// Bands of an aggregated chart and agents per band.
    fn bands(&self) -> (usize, usize) {
        let agents = self.run.agents.len().max(1);
        let per_band = agents.div_ceil(BANDS_MAX);
        (agents.div_ceil(per_band), per_band)
    }

    /// Busy share of each (band, time bin) cell, band-major: attempt time overlapping the
    /// bin over the band's slots (the agents' `max_concurrent_tasks`) times the bin.
    pub fn utilization(&self) -> Vec<Vec<f64>> {
        let run = self.run;
        let (bands, per_band) = self.bands();
        let bin_ms = run.makespan.max(1).div_ceil(BINS as Time).max(1);
        let mut busy = vec![vec![0 as Time; BINS]; bands];
        for row in &run.trace {
            let band = &mut busy[row.agent.ix() / per_band];
            let (start, end) = (row.start, row.end.max(row.start));
            let mut bin = (start / bin_ms) as usize;
            while bin < BINS && (bin as Time) * bin_ms < end {
                let (lo, hi) = (bin as Time * bin_ms, (bin as Time + 1) * bin_ms);
                band[bin] += end.min(hi) - start.max(lo);
                bin += 1;
            }
        }
        busy.iter()
            .enumerate()
            .map(|(b, cells)| {
                let slots: u64 = run.agents
                    [b * per_band..((b + 1) * per_band).min(run.agents.len())]
                    .iter()
                    .map(|a| a.max_concurrent_tasks as u64)
                    .sum();
                let capacity = (slots.max(1) * bin_ms) as f64;
                cells
                    .iter()
                    .map(|&ms| (ms as f64 / capacity).min(1.0))
                    .collect()
            })
            .collect()
    }

    /// Renders the chart as SVG and PNG. Its height grows with the number of agents.
    pub fn figure(&self) -> Result<Figure, PlotError> {
        let lanes = self.lanes() as u32;
        let height = HEADER + lanes * self.lane_px() + 80;
        render("Gantt chart", (WIDTH, height), self)
    }

    /// Seconds, minutes or hours, whichever keeps the axis labels short.
    fn unit(&self) -> (f64, &'static str) {
        if self.run.makespan >= 3 * HOUR_MS {
            (HOUR_MS as f64, "hours")
        } else if self.run.makespan >= 3 * MINUTE_MS {
            (MINUTE_MS as f64, "minutes")
        } else {
            (SECOND_MS as f64, "seconds")
        }
    }
}

fn type_color(t: TaskType) -> RGBColor {
    PALETTE[t.index() % PALETTE.len()]
}

/// Black text on light fills, white on dark ones.
fn text_color(c: RGBColor) -> RGBColor {
    let luma = 0.299 * c.0 as f64 + 0.587 * c.1 as f64 + 0.114 * c.2 as f64;
    if luma > 140.0 { BLACK } else { WHITE }
}

impl Draw for Gantt<'_> {
    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
    ) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
        if self.aggregated() {
            return self.draw_aggregated(root);
        }
        let run = self.run;
        let plan = self.plan;
        let n = self.lanes();
        let (unit_ms, unit_name) = self.unit();
        let x_max = (run.makespan.max(1) as f64 / unit_ms) * 1.01;
        let to_x = |t: Time| t as f64 / unit_ms;
        let (header, body) = root.split_vertically(HEADER);

        // Title and legend.
        let title = if run.agents.len() > n {
            format!("{} (first {n} of {} agents)", self.title, run.agents.len())
        } else {
            self.title.clone()
        };
        header.draw(&Text::new(
            title,
            (18, 10),
            (FONT, 22).into_font().style(FontStyle::Bold),
        ))?;
        let mut types: Vec<TaskType> = plan
            .task_indices()
            .map(|t| plan.task(t).task_type)
            .collect();
        types.sort();
        types.dedup();
        let legend_font: TextStyle = (FONT, 14).into();
        let mut x = 18;
        let y = 50;
        for ty in types {
            let c = type_color(ty);
            header.draw(&Rectangle::new([(x, y), (x + 16, y + 14)], c.filled()))?;
            header.draw(&Text::new(ty.as_str(), (x + 21, y), legend_font.clone()))?;
            x += 28 + header.estimate_text_size(ty.as_str(), &legend_font)?.0 as i32;
        }
        x += 18;
        let marks: [(&str, RGBColor, u8); 5] = [
            ("critical path", BLACK, 0),
            ("failed", FAILED, 1),
            ("timed out", TIMED_OUT, 1),
            ("lost with its agent", LOST, 2),
            ("lock wait", WAIT, 3),
        ];
        for (label, c, kind) in marks {
            match kind {
                0 => header.draw(&Rectangle::new(
                    [(x, y), (x + 16, y + 14)],
                    c.stroke_width(2),
                ))?,
                1 => {
                    header.draw(&Rectangle::new(
                        [(x, y), (x + 16, y + 14)],
                        c.stroke_width(2),
                    ))?;
                    header.draw(&PathElement::new(
                        vec![(x, y), (x + 16, y + 14)],
                        c.stroke_width(2),
                    ))?;
                    header.draw(&PathElement::new(
                        vec![(x, y + 14), (x + 16, y)],
                        c.stroke_width(2),
                    ))?;
                }
                2 => header.draw(&Rectangle::new(
                    [(x, y), (x + 16, y + 14)],
                    c.mix(0.35).filled(),
                ))?,
                _ => header.draw(&Rectangle::new([(x, y + 10), (x + 16, y + 14)], c.filled()))?,
            }
            header.draw(&Text::new(label, (x + 21, y), legend_font.clone()))?;
            x += 28 + header.estimate_text_size(label, &legend_font)?.0 as i32;
        }

        // The lanes.
        let label_font: TextStyle = (FONT, 13).into();
        let label_px = run
            .agents
            .iter()
            .take(n)
            .map(|a| body.estimate_text_size(&a.id, &label_font).map(|s| s.0))
            .try_fold(0, |m, w| w.map(|w| m.max(w)))?;
        let mut chart = lanes_chart(&body, label_px, x_max, n, unit_name, true)?;
        let lane = |agent: usize| (n - 1 - agent) as f64;
        chart.draw_series((0..n).filter(|i| i % 2 == 1).map(|i| {
            Rectangle::new(
                [(0.0, lane(i)), (x_max, lane(i) + 1.0)],
                RGBColor(246, 246, 246).filled(),
            )
        }))?;
        for (i, agent) in run.agents.iter().take(n).enumerate() {
            let (px, py) = chart.backend_coord(&(0.0, lane(i) + 0.5));
            root.draw(&Text::new(
                agent.id.to_string(),
                (px - 8, py),
                label_font.clone().pos(Pos::new(HPos::Right, VPos::Center)),
            ))?;
        }

        // Lock waits: a strip along the bottom of the lane of the agent that then ran the
        // attempt, ending where the attempt starts.
        let rows: std::collections::HashMap<(TaskIdx, u32), usize> = run
            .trace
            .iter()
            .enumerate()
            .map(|(i, r)| ((r.task, r.attempt), i))
            .collect();
        let row_of =
            |task: TaskIdx, attempt: u32| rows.get(&(task, attempt)).map(|&i| &run.trace[i]);
        chart.draw_series(self.lock_waits.iter().filter_map(|w| {
            let row = row_of(w.task, w.attempt).filter(|r| r.agent.ix() < n)?;
            let y = lane(row.agent.ix());
            Some(Rectangle::new(
                [(to_x(w.since), y + 0.06), (to_x(w.until), y + 0.14)],
                WAIT.filled(),
            ))
        }))?;

        // Attempts.
        let critical: Vec<bool> = {
            let mut on = vec![false; plan.len()];
            for t in plan.critical_path() {
                on[t.ix()] = true;
            }
            on
        };
        let task_font: TextStyle = (FONT, 11).into();
        for row in run.trace.iter().filter(|r| r.agent.ix() < n) {
            let spec = plan.task(row.task);
            let color = type_color(spec.task_type);
            let y0 = lane(row.agent.ix()) + 0.2;
            let y1 = y0 + 0.62;
            let (x0, x1) = (to_x(row.start), to_x(row.end.max(row.start)));
            let corners = [(x0, y0), (x1, y1)];
            let fill = match row.outcome {
                Outcome::Succeeded => color.filled(),
                Outcome::Failed | Outcome::TimedOut => color.mix(0.45).filled(),
                _ => LOST.mix(0.35).filled(),
            };
            chart.draw_series(std::iter::once(Rectangle::new(corners, fill)))?;
            let mark = match row.outcome {
                Outcome::Failed => Some(FAILED),
                Outcome::TimedOut => Some(TIMED_OUT),
                _ => None,
            };
            match mark {
                Some(c) => {
                    chart.draw_series([
                        PathElement::new(vec![(x0, y0), (x1, y1)], c.stroke_width(2)),
                        PathElement::new(vec![(x0, y1), (x1, y0)], c.stroke_width(2)),
                    ])?;
                    chart
                        .draw_series(std::iter::once(Rectangle::new(corners, c.stroke_width(2))))?;
                }
                None if critical[row.task.ix()] && row.outcome == Outcome::Succeeded => {
                    chart.draw_series(std::iter::once(Rectangle::new(
                        corners,
                        BLACK.stroke_width(2),
                    )))?;
                }
                None => {
                    chart.draw_series(std::iter::once(Rectangle::new(
                        corners,
                        WHITE.stroke_width(1),
                    )))?;
                }
            }
            // The task id, where it fits.
            let (left, mid) = chart.backend_coord(&(x0, y0 + 0.31));
            let (right, _) = chart.backend_coord(&(x1, y0));
            let text: &str = &spec.id;
            let width = body.estimate_text_size(text, &task_font)?.0 as i32;
            if right - left >= width + 8 && mark.is_none() {
                let ink = if row.outcome == Outcome::Succeeded {
                    text_color(color)
                } else {
                    BLACK
                };
                root.draw(&Text::new(
                    text,
                    (left + 4, mid),
                    task_font
                        .clone()
                        .color(&ink)
                        .pos(Pos::new(HPos::Left, VPos::Center)),
                ))?;
            }
        }
        Ok(())
    }
}

/// A chart of lanes over time, as [`lanes_chart`] makes it.
type LanesChart<'a, DB> = ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// The chart area of both kinds of chart: `lanes` rows under a time axis, room on the
/// left for labels `label_px` wide; with `grid`, light vertical lines at the time ticks.
fn lanes_chart<'a, DB: DrawingBackend>(
    body: &'a DrawingArea<DB, Shift>,
    label_px: u32,
    x_max: f64,
    lanes: usize,
    unit_name: &str,
    grid: bool,
) -> Result<LanesChart<'a, DB>, DrawingAreaErrorKind<DB::ErrorType>> {
    let mut chart = ChartBuilder::on(body)
        .margin_left(12)
        .margin_right(24)
        .margin_bottom(10)
        .x_label_area_size(46)
        .y_label_area_size(label_px + 16)
        .build_cartesian_2d(0.0..x_max, 0.0..lanes as f64)?;
    let mut mesh = chart.configure_mesh();
    mesh.disable_y_mesh()
        .y_labels(0)
        .x_desc(format!("time ({unit_name})"))
        .label_style((FONT, 13))
        .axis_desc_style((FONT, 15));
    if grid {
        mesh.max_light_lines(1)
            .light_line_style(RGBColor(236, 236, 236));
    } else {
        mesh.disable_x_mesh();
    }
    mesh.draw()?;
    Ok(chart)
}

/// Light to dark blue for utilization 0 to 1.
fn shade(u: f64) -> RGBColor {
    let mix = |a: u8, b: u8| (a as f64 + (b as f64 - a as f64) * u.clamp(0.0, 1.0)).round() as u8;
    RGBColor(mix(247, 8), mix(251, 48), mix(255, 107))
}

impl Gantt<'_> {
    /// The aggregated chart: bands of agents by time bins, shaded by utilization.
    fn draw_aggregated<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
    ) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
        let run = self.run;
        let (bands, per_band) = self.bands();
        let (unit_ms, unit_name) = self.unit();
        let bin_ms = run.makespan.max(1).div_ceil(BINS as Time).max(1);
        let x_max = (BINS as Time * bin_ms) as f64 / unit_ms;
        let (header, body) = root.split_vertically(HEADER);
        header.draw(&Text::new(
            format!(
                "{} (aggregated: {}; {} per band)",
                self.title,
                count(run.trace.len(), "attempt", "attempts"),
                count(per_band, "agent", "agents")
            ),
            (18, 10),
            (FONT, 22).into_font().style(FontStyle::Bold),
        ))?;
        let legend_font: TextStyle = (FONT, 14).into();
        let (x, y) = (18, 50);
        header.draw(&Text::new(
            format!(
                "shade: share of the band's slots busy in each {} time bin:",
                Human(bin_ms)
            ),
            (x, y),
            legend_font.clone(),
        ))?;
        let x = x
            + 12
            + header
                .estimate_text_size(
                    "shade: share of the band's slots busy in each 00m 00s time bin:",
                    &legend_font,
                )?
                .0 as i32;
        header.draw(&Text::new("0%", (x, y), legend_font.clone()))?;
        let x = x + 28;
        for step in 0..20 {
            let u = step as f64 / 19.0;
            header.draw(&Rectangle::new(
                [(x + step * 8, y), (x + step * 8 + 8, y + 14)],
                shade(u).filled(),
            ))?;
        }
        header.draw(&Text::new("100%", (x + 168, y), legend_font))?;

        let label = |b: usize| {
            let first = &run.agents[b * per_band].id;
            let last = &run.agents[((b + 1) * per_band).min(run.agents.len()) - 1].id;
            if per_band == 1 {
                first.to_string()
            } else {
                format!("{first}–{last}")
            }
        };
        let label_font: TextStyle = (FONT, 13).into();
        let label_px = (0..bands)
            .map(|b| body.estimate_text_size(&label(b), &label_font).map(|s| s.0))
            .try_fold(0, |m, w| w.map(|w| m.max(w)))?;
        let mut chart = lanes_chart(&body, label_px, x_max, bands, unit_name, false)?;
        let lane = |b: usize| (bands - 1 - b) as f64;
        let to_x = |bin: usize| (bin as Time * bin_ms) as f64 / unit_ms;
        let utilization = self.utilization();
        chart.draw_series(utilization.iter().enumerate().flat_map(|(b, cells)| {
            cells.iter().enumerate().map(move |(bin, &u)| {
                Rectangle::new(
                    [(to_x(bin), lane(b)), (to_x(bin + 1), lane(b) + 1.0)],
                    shade(u).filled(),
                )
            })
        }))?;
        for b in 0..bands {
            let (px, py) = chart.backend_coord(&(0.0, lane(b) + 0.5));
            root.draw(&Text::new(
                label(b),
                (px - 8, py),
                label_font.clone().pos(Pos::new(HPos::Right, VPos::Center)),
            ))?;
        }
        Ok(())
    }
}

/// The title of a run's Gantt chart.
pub fn title(scenario: &str, run: &SimRun, policy: &str) -> String {
    format!(
        "{scenario}: {}, {policy}, seed {}, makespan {}",
        count(run.agents.len(), "agent", "agents"),
        run.seed,
        Human(run.makespan)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drive::run_setup;
    use crate::model::{Format, Scenario};
    use crate::sim::{SimModels, simulate};
    use std::sync::Arc;

    const PLAN: &str = "[[agents]]\ncount = 2\n\
        [simulation]\nfailure_probability = 0.3\n\
        [[tasks]]\nid = 'a'\nestimated_duration = '10m'\nfiles_to_modify = ['x']\n\
        [[tasks]]\nid = 'b'\nestimated_duration = '10m'\nfiles_to_modify = ['x']\n\
        [[tasks]]\nid = 'c'\ntype = 'testing'\nestimated_duration = '5m'\ndepends_on = ['a']\n";

    fn run(seed: u64) -> (Arc<Plan>, SimRun, Vec<Event>) {
        let (scenario, issues) = Scenario::parse(PLAN, Format::Toml, "t.toml").unwrap();
        let (scenario, plan) = crate::plan::Plan::from_scenario(scenario, issues).unwrap();
        let models = SimModels::for_scenario(&scenario, &plan).unwrap();
        let plan = Arc::new(plan);
        let (config, agents) = run_setup(&scenario, None, None);
        let mut events = Vec::new();
        let run = simulate(plan.clone(), config, agents, &models, seed, &mut |e| {
            events.push(e.clone())
        })
        .unwrap();
        (plan, run, events)
    }

    #[test]
    fn lock_waits_add_up_to_the_simulators_total() {
        for seed in 0..10 {
            let (plan, run, events) = run(seed);
            let waits = lock_waits(&plan, &events);
            let total: Time = waits.iter().map(|w| w.until - w.since).sum();
            assert_eq!(total, run.lock_wait_total, "seed {seed}");
            // a and b write x: one of them waits for the other.
            assert!(!waits.is_empty(), "seed {seed}");
        }
    }

    #[test]
    fn the_chart_renders_as_svg_and_png_and_names_every_agent() {
        let (plan, run, events) = run(1);
        let waits = lock_waits(&plan, &events);
        let gantt = Gantt {
            run: &run,
            plan: &plan,
            lock_waits: &waits,
            title: title("t.toml", &run, "critical-path"),
        };
        let figure = gantt.figure().unwrap();
        assert!(figure.png.starts_with(b"\x89PNG\r\n\x1a\n"));
        assert!(figure.svg.contains("<svg"));
        for agent in &run.agents {
            assert!(figure.svg.contains(&*agent.id), "{}", agent.id);
        }
        assert!(figure.svg.contains("critical path"));
        // Same run, same bytes.
        assert_eq!(gantt.figure().unwrap(), figure);
    }

    #[test]
    fn past_detail_max_attempts_the_chart_aggregates_and_says_so() {
        let text = "[[agents]]\ncount = 90\n".to_string()
            + &(0..DETAIL_MAX + 500)
                .map(|i| {
                    format!(
                        "[[tasks]]\nid = 't{i}'\nestimated_duration = '{}m'\n",
                        i % 9 + 1
                    )
                })
                .collect::<String>();
        let (scenario, issues) = Scenario::parse(&text, Format::Toml, "big.toml").unwrap();
        let (scenario, plan) = crate::plan::Plan::from_scenario(scenario, issues).unwrap();
        let models = SimModels::for_scenario(&scenario, &plan).unwrap();
        let plan = Arc::new(plan);
        let (config, agents) = run_setup(&scenario, Some(90), None);
        let run = simulate(plan.clone(), config, agents, &models, 0, &mut |_| {}).unwrap();
        let gantt = Gantt {
            run: &run,
            plan: &plan,
            lock_waits: &[],
            title: title("big.toml", &run, "critical-path"),
        };
        assert!(gantt.aggregated());
        // 90 agents in bands of 3; every busy millisecond lands in exactly one cell.
        let cells = gantt.utilization();
        assert_eq!(cells.len(), 30);
        let bin_ms = run.makespan.div_ceil(BINS as Time);
        let busy: f64 = cells
            .iter()
            .flatten()
            .map(|u| u * (3 * bin_ms) as f64)
            .sum();
        let expected: Time = run.trace.iter().map(|r| r.end - r.start).sum();
        assert!((busy - expected as f64).abs() < 1.0, "{busy} vs {expected}");
        assert!(cells.iter().flatten().all(|u| (0.0..=1.0).contains(u)));
        let figure = gantt.figure().unwrap();
        let headline = format!(
            "aggregated: {} attempts; 3 agents per band",
            run.trace.len()
        );
        assert!(figure.svg.contains(&headline));
        assert!(figure.svg.contains("agent_88–agent_90"));
        assert!(figure.svg.len() < 2 << 20, "{} bytes", figure.svg.len());
    }

    #[test]
    fn a_run_with_hundreds_of_agents_draws_the_first_lanes_and_says_so() {
        let text = "[[agents]]\ncount = 450\n".to_string()
            + &(0..500)
                .map(|i| format!("[[tasks]]\nid = 't{i}'\nestimated_duration = '10m'\n"))
                .collect::<String>();
        let (scenario, issues) = Scenario::parse(&text, Format::Toml, "wide.toml").unwrap();
        let (scenario, plan) = crate::plan::Plan::from_scenario(scenario, issues).unwrap();
        let models = SimModels::for_scenario(&scenario, &plan).unwrap();
        let plan = Arc::new(plan);
        let (config, agents) = run_setup(&scenario, Some(450), None);
        let run = simulate(plan.clone(), config, agents, &models, 0, &mut |_| {}).unwrap();
        let gantt = Gantt {
            run: &run,
            plan: &plan,
            lock_waits: &[],
            title: title("wide.toml", &run, "critical-path"),
        };
        let figure = gantt.figure().unwrap();
        assert!(figure.svg.contains("first 400 of 450 agents"));
        assert!(figure.svg.contains(">\nagent_400\n<") && !figure.svg.contains(">\nagent_401\n<"));
    }
}
