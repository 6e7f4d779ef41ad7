//! The planner's figures beyond speed-up: the makespan S-curve (cumulative probability of
//! finishing by each time), the tornado chart of what moves the p80 makespan, and the
//! median makespan against cost per agent count. Drawn with the plumbing of [`super::plot`]
//! (embedded font, SVG and PNG).

use super::plot::{Draw, FONT, Figure, PALETTE, PlotError, render};
use super::sweep::{PointSummary, SweepSpec, cost_knee, knee, series, series_label};
use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

/// The unit to show times in: hours, minutes or seconds, whichever keeps `max_secs`
/// readable. Returns seconds per unit and the unit's name.
fn time_unit(max_secs: f64) -> (f64, &'static str) {
    if max_secs >= 2.0 * 3600.0 {
        (3600.0, "hours")
    } else if max_secs >= 120.0 {
        (60.0, "minutes")
    } else {
        (1.0, "seconds")
    }
}

/// Draws the legend of `chart` at `position`, in the style of every figure.
fn legend<'a, DB: DrawingBackend + 'a>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
    position: SeriesLabelPosition,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    chart
        .configure_series_labels()
        .position(position)
        .label_font((FONT, 14))
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(180, 180, 180))
        .draw()
}

/// One S-curve: a label and its makespans (seconds), ascending.
#[derive(Debug, Clone, PartialEq)]
pub struct Curve {
    /// What the curve is (`critical-path, 4 agents`).
    pub label: String,
    /// The makespans of the runs that finished the plan, seconds, ascending.
    pub makespans: Vec<f64>,
    /// Runs in all, those that stopped early or lost tasks included: the curve tops out at
    /// `makespans.len() / runs`.
    pub runs: usize,
}

struct SCurve<'a> {
    title: &'a str,
    curves: &'a [Curve],
    deadline: Option<f64>,
}

impl Draw for SCurve<'_> {
    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
    ) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
        let max = self
            .curves
            .iter()
            .filter_map(|c| c.makespans.last().copied())
            .chain(self.deadline)
            .fold(0.0_f64, f64::max);
        let min = self
            .curves
            .iter()
            .filter_map(|c| c.makespans.first().copied())
            .chain(self.deadline)
            .fold(max, f64::min);
        let (unit, unit_name) = time_unit(max);
        let pad = ((max - min) * 0.05).max(max * 0.01).max(1.0);
        let (x_min, x_max) = (((min - pad).max(0.0)) / unit, (max + pad) / unit);
        let mut chart = ChartBuilder::on(root)
            .caption(self.title, (FONT, 22))
            .margin(18)
            .x_label_area_size(48)
            .y_label_area_size(64)
            .build_cartesian_2d(x_min..x_max, 0.0..1.02)?;
        chart
            .configure_mesh()
            .x_desc(format!("makespan ({unit_name})"))
            .y_desc("probability of finishing by then")
            .y_label_formatter(&|y| format!("{:.0}%", y * 100.0))
            .max_light_lines(1)
            .label_style((FONT, 14))
            .axis_desc_style((FONT, 16))
            .light_line_style(RGBColor(235, 235, 235))
            .draw()?;
        for (i, curve) in self.curves.iter().enumerate() {
            let color = PALETTE[i % PALETTE.len()];
            let n = curve.runs.max(1) as f64;
            // The empirical distribution: a step up of 1/runs at each makespan.
            let mut steps = vec![(x_min, 0.0)];
            for (k, &m) in curve.makespans.iter().enumerate() {
                steps.push((m / unit, k as f64 / n));
                steps.push((m / unit, (k + 1) as f64 / n));
            }
            steps.push((x_max, curve.makespans.len() as f64 / n));
            chart
                .draw_series(LineSeries::new(steps, color.stroke_width(2)))?
                .label(&curve.label)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
                });
            let marks: Vec<(f64, f64)> = [0.5, 0.8, 0.95]
                .into_iter()
                .filter_map(|q| {
                    let v = super::sweep::quantile(&curve.makespans, q)?;
                    Some((v / unit, q * curve.makespans.len() as f64 / n))
                })
                .collect();
            chart.draw_series(
                marks
                    .iter()
                    .map(|&(x, y)| Circle::new((x, y), 4, color.filled())),
            )?;
        }
        for q in [0.5, 0.8, 0.95] {
            chart.draw_series(DashedLineSeries::new(
                [(x_min, q), (x_max, q)],
                3,
                4,
                RGBColor(170, 170, 170).stroke_width(1),
            ))?;
            chart.draw_series(std::iter::once(Text::new(
                format!("p{:.0}", q * 100.0),
                (x_min, q + 0.005),
                (FONT, 12).into_font().color(&RGBColor(110, 110, 110)),
            )))?;
        }
        if let Some(deadline) = self.deadline {
            chart
                .draw_series(DashedLineSeries::new(
                    [(deadline / unit, 0.0), (deadline / unit, 1.02)],
                    7,
                    5,
                    RED.stroke_width(2),
                ))?
                .label("deadline")
                .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], RED.stroke_width(2)));
        }
        legend(&mut chart, SeriesLabelPosition::LowerRight)?;
        Ok(())
    }
}

/// The makespan S-curve: for each curve, the share of runs finished by each time, with
/// p50, p80 and p95 marked and the deadline, if any, as a red line.
pub fn scurve_figure(
    title: &str,
    curves: &[Curve],
    deadline_secs: Option<f64>,
) -> Result<Figure, PlotError> {
    let figure = SCurve {
        title,
        curves,
        deadline: deadline_secs,
    };
    render("makespan S-curve", (1000, 640), &figure)
}

/// One bar of a tornado chart: p80 with a factor at the low and at the high end of its
/// range, the others at the model's values.
#[derive(Debug, Clone, PartialEq)]
pub struct TornadoBar {
    /// What was varied (`testing duration ×0.75–×1.25`).
    pub label: String,
    /// p80 makespan at the low end, seconds.
    pub low: f64,
    /// p80 makespan at the high end, seconds.
    pub high: f64,
}

struct Tornado<'a> {
    title: &'a str,
    base: f64,
    bars: &'a [TornadoBar],
}

impl Draw for Tornado<'_> {
    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
    ) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
        let lo = self
            .bars
            .iter()
            .flat_map(|b| [b.low, b.high])
            .fold(self.base, f64::min);
        let hi = self
            .bars
            .iter()
            .flat_map(|b| [b.low, b.high])
            .fold(self.base, f64::max);
        let (unit, unit_name) = time_unit(hi);
        let pad = ((hi - lo) * 0.08).max(hi * 0.01).max(1.0);
        let (x_min, x_max) = ((lo - pad).max(0.0) / unit, (hi + pad) / unit);
        let rows = self.bars.len().max(1) as f64;
        let mut chart = ChartBuilder::on(root)
            .caption(self.title, (FONT, 22))
            .margin(18)
            .x_label_area_size(48)
            .y_label_area_size(260)
            .build_cartesian_2d(x_min..x_max, 0.0..rows)?;
        let labels: Vec<String> = self.bars.iter().map(|b| b.label.clone()).collect();
        chart
            .configure_mesh()
            .x_desc(format!("p80 makespan ({unit_name})"))
            .disable_y_mesh()
            .y_labels(self.bars.len() * 2 + 1)
            .y_label_formatter(&|y| {
                // Labels sit at the middle of each row, the largest swing on top.
                let row = (rows - y - 0.5).round();
                if (rows - y - 0.5 - row).abs() < 0.01 && row >= 0.0 {
                    labels.get(row as usize).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .label_style((FONT, 13))
            .axis_desc_style((FONT, 16))
            .light_line_style(RGBColor(235, 235, 235))
            .draw()?;
        let low_color = PALETTE[0];
        let high_color = PALETTE[1];
        for (i, bar) in self.bars.iter().enumerate() {
            let top = rows - i as f64 - 0.15;
            let bottom = rows - i as f64 - 0.85;
            let base = self.base / unit;
            for (end, color) in [(bar.low, low_color), (bar.high, high_color)] {
                let x = end / unit;
                let (a, b) = if x < base { (x, base) } else { (base, x) };
                chart.draw_series(std::iter::once(Rectangle::new(
                    [(a, bottom), (b.max(a + (x_max - x_min) * 0.002), top)],
                    color.mix(0.8).filled(),
                )))?;
            }
        }
        chart
            .draw_series(LineSeries::new(
                [(self.base / unit, 0.0), (self.base / unit, rows)],
                BLACK.stroke_width(2),
            ))?
            .label("p80 with the model as it is")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], BLACK.stroke_width(2)));
        chart
            .draw_series(std::iter::empty::<Circle<(f64, f64), i32>>())?
            .label("low end of the range")
            .legend(move |(x, y)| {
                Rectangle::new([(x, y - 5), (x + 18, y + 5)], low_color.mix(0.8).filled())
            });
        chart
            .draw_series(std::iter::empty::<Circle<(f64, f64), i32>>())?
            .label("high end of the range")
            .legend(move |(x, y)| {
                Rectangle::new([(x, y - 5), (x + 18, y + 5)], high_color.mix(0.8).filled())
            });
        legend(&mut chart, SeriesLabelPosition::LowerRight)?;
        Ok(())
    }
}

/// The tornado chart: one bar per factor, largest swing on top, from the p80 makespan at
/// the low end of its range to the p80 at the high end, around the p80 of the model as it
/// is (`base`, seconds).
pub fn tornado_figure(title: &str, base: f64, bars: &[TornadoBar]) -> Result<Figure, PlotError> {
    let height = (160 + 42 * bars.len() as u32).clamp(360, 1600);
    render(
        "tornado chart",
        (1000, height),
        &Tornado { title, base, bars },
    )
}

struct CostChart<'a> {
    title: &'a str,
    spec: &'a SweepSpec,
    points: &'a [PointSummary],
}

impl Draw for CostChart<'_> {
    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
    ) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
        let xy = |p: &PointSummary| Some((p.cost_held_p50?, p.makespan_p50?));
        let all: Vec<(f64, f64)> = self.points.iter().filter_map(xy).collect();
        let x_top = all.iter().map(|p| p.0).fold(0.0_f64, f64::max);
        let y_top = all.iter().map(|p| p.1).fold(0.0_f64, f64::max);
        let (unit, unit_name) = time_unit(y_top);
        let x_max = if x_top > 0.0 { x_top * 1.1 } else { 1.0 };
        let y_max = (y_top / unit * 1.1).max(1e-9);
        let mut chart = ChartBuilder::on(root)
            .caption(self.title, (FONT, 22))
            .margin(18)
            .x_label_area_size(48)
            .y_label_area_size(64)
            .build_cartesian_2d(0.0..x_max, 0.0..y_max)?;
        chart
            .configure_mesh()
            .x_desc("median held cost of a run (agents' cost_per_hour × makespan)")
            .y_desc(format!("median makespan ({unit_name})"))
            .max_light_lines(1)
            .label_style((FONT, 14))
            .axis_desc_style((FONT, 16))
            .light_line_style(RGBColor(235, 235, 235))
            .draw()?;
        for (i, s) in series(self.points).into_iter().enumerate() {
            let color = PALETTE[i % PALETTE.len()];
            let line: Vec<(f64, f64, u32)> = s
                .iter()
                .filter_map(|p| xy(p).map(|(x, y)| (x, y / unit, p.agents)))
                .collect();
            chart
                .draw_series(LineSeries::new(
                    line.iter().map(|&(x, y, _)| (x, y)),
                    color.stroke_width(2),
                ))?
                .label(series_label(self.spec, &s[0]))
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 18, y + 5)], color.mix(0.5).filled())
                });
            chart.draw_series(line.iter().map(|&(x, y, agents)| {
                EmptyElement::at((x, y))
                    + Circle::new((0, 0), 3, color.filled())
                    + Text::new(agents.to_string(), (5, -14), (FONT, 12))
            }))?;
            let time = knee(s).and_then(|k| line.iter().find(|p| p.2 == k.agents).copied());
            let cost = cost_knee(s).and_then(|k| line.iter().find(|p| p.2 == k.agents).copied());
            if let Some((x, y, _)) = time {
                chart.draw_series(std::iter::once(Circle::new(
                    (x, y),
                    8,
                    BLACK.stroke_width(2),
                )))?;
            }
            if let Some((x, y, _)) = cost {
                chart.draw_series(std::iter::once(Rectangle::new(
                    [
                        (x - x_max * 0.008, y - y_max * 0.012),
                        (x + x_max * 0.008, y + y_max * 0.012),
                    ],
                    RED.stroke_width(2),
                )))?;
            }
        }
        chart
            .draw_series(std::iter::empty::<Circle<(f64, f64), i32>>())?
            .label("knee by time (fewest agents near the best p50)")
            .legend(|(x, y)| Circle::new((x + 9, y), 6, BLACK.stroke_width(2)));
        chart
            .draw_series(std::iter::empty::<Circle<(f64, f64), i32>>())?
            .label("knee by cost (cheapest near the best p50)")
            .legend(|(x, y)| {
                Rectangle::new([(x + 3, y - 6), (x + 15, y + 6)], RED.stroke_width(2))
            });
        legend(&mut chart, SeriesLabelPosition::UpperRight)?;
        Ok(())
    }
}

/// Median makespan against median held cost, one point per agent count (labelled with
/// it) and one line per series; the knee by time ringed, the knee by cost boxed in red.
pub fn cost_figure(
    title: &str,
    spec: &SweepSpec,
    points: &[PointSummary],
) -> Result<Figure, PlotError> {
    render(
        "cost chart",
        (1000, 640),
        &CostChart {
            title,
            spec,
            points,
        },
    )
}
