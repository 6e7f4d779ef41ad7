//! Figures, drawn once and rendered twice: as SVG and as PNG, with plotters.
//!
//! Text is laid out with DejaVu Sans, embedded in the binary (the `dejavu` crate) and
//! registered with plotters' `ab_glyph` renderer under the family name `sans-serif`, so
//! no system font library or installed font is needed, and a figure comes out the same on
//! every machine. PNGs are encoded here from plotters' RGB buffer (the `png` crate).
//!
//! This module owns the plumbing and the sweep charts (speedup and utilization against
//! agents, with p5–p95 bands); the Gantt chart is in [`super::gantt`].

use super::sweep::{PointSummary, SweepSpec, knee, series, series_label};
use plotters::coord::Shift;
use plotters::prelude::*;
use std::sync::Once;

/// The font family every figure uses; [`register_fonts`] maps it to DejaVu Sans.
pub const FONT: &str = "sans-serif";

/// Why a figure could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PlotError {
    /// plotters failed while drawing (a bug, or a font that did not register).
    #[error("drawing the {figure} failed: {message}")]
    Draw {
        /// Which figure.
        figure: &'static str,
        /// plotters' message.
        message: String,
    },
    /// The PNG encoder failed.
    #[error("encoding the {figure} as PNG failed: {message}")]
    Png {
        /// Which figure.
        figure: &'static str,
        /// The encoder's message.
        message: String,
    },
}

/// A figure in both formats.
#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    /// The SVG document.
    pub svg: String,
    /// The PNG file's bytes.
    pub png: Vec<u8>,
}

/// Registers the embedded DejaVu Sans (regular and bold) as [`FONT`]. Idempotent; every
/// drawing function calls it, and the CLI calls it at startup.
pub fn register_fonts() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let fonts = [
            (FontStyle::Normal, dejavu::sans::regular()),
            (FontStyle::Bold, dejavu::sans::bold()),
            (FontStyle::Italic, dejavu::sans::oblique()),
        ];
        for (style, bytes) in fonts {
            if plotters::style::register_font(FONT, style, bytes).is_err() {
                panic!("the embedded DejaVu Sans font does not parse");
            }
        }
    });
}

/// Something drawable on any plotters backend.
pub(crate) trait Draw {
    /// Draws onto `root`, which is blank and has the figure's size.
    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
    ) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>>;
}

/// Renders `figure` at `size` pixels as SVG and PNG; `name` goes into error messages.
pub(crate) fn render(
    name: &'static str,
    size: (u32, u32),
    figure: &impl Draw,
) -> Result<Figure, PlotError> {
    register_fonts();
    let draw_error = |e: String| PlotError::Draw {
        figure: name,
        message: e,
    };
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        root.fill(&WHITE).map_err(|e| draw_error(e.to_string()))?;
        figure.draw(&root).map_err(|e| draw_error(e.to_string()))?;
        root.present().map_err(|e| draw_error(e.to_string()))?;
    }
    let mut rgb = vec![0u8; size.0 as usize * size.1 as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, size).into_drawing_area();
        root.fill(&WHITE).map_err(|e| draw_error(e.to_string()))?;
        figure.draw(&root).map_err(|e| draw_error(e.to_string()))?;
        root.present().map_err(|e| draw_error(e.to_string()))?;
    }
    let png = encode_png(&rgb, size).map_err(|e| PlotError::Png {
        figure: name,
        message: e.to_string(),
    })?;
    Ok(Figure { svg, png })
}

fn encode_png(rgb: &[u8], (width, height): (u32, u32)) -> Result<Vec<u8>, png::EncodingError> {
    let mut bytes = Vec::new();
    let mut encoder = png::Encoder::new(&mut bytes, width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header()?;
    writer.write_image_data(rgb)?;
    writer.finish()?;
    Ok(bytes)
}

/// Ten distinguishable colours (Tableau 10), for series and task types.
pub(crate) const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// One line with its band: `(x, low, middle, high)` points, x ascending.
struct Band {
    label: String,
    color: RGBColor,
    points: Vec<(i32, f64, f64, f64)>,
    /// An x to mark with a ring (the knee).
    mark: Option<(i32, f64)>,
}

/// A chart of lines with shaded bands against agent counts, and an optional dashed
/// reference curve.
struct BandChart {
    title: String,
    y_desc: &'static str,
    bands: Vec<Band>,
    reference: Option<(&'static str, Vec<(i32, f64)>)>,
    y_max: f64,
    mark_label: Option<&'static str>,
    /// Corners to try for the legend, best first; it goes to the one the data leaves
    /// emptiest.
    legend: [SeriesLabelPosition; 4],
    /// Decimals on the y axis labels.
    y_decimals: usize,
}

impl BandChart {
    /// The legend corner covering the fewest data points (lines, band edges, the
    /// reference curve), ties broken by the order of [`BandChart::legend`].
    fn legend_corner(&self, x_min: i32, x_max: i32) -> SeriesLabelPosition {
        let span = (x_max - x_min).max(1) as f64;
        let mut points: Vec<(f64, f64)> = Vec::new();
        for band in &self.bands {
            for &(x, low, mid, high) in &band.points {
                for y in [low, mid, high] {
                    points.push(((x - x_min) as f64 / span, y / self.y_max));
                }
            }
        }
        if let Some((_, curve)) = &self.reference {
            points.extend(
                curve
                    .iter()
                    .map(|&(x, y)| ((x - x_min) as f64 / span, y / self.y_max)),
            );
        }
        // The legend box, as a share of the plot: about half the width, one line per entry.
        let entries = self.bands.len() + 2;
        let height = ((entries as f64 * 20.0 + 16.0) / 540.0).min(0.9);
        let width = 0.5;
        let covered = |corner: &SeriesLabelPosition| {
            let (right, upper) = match corner {
                SeriesLabelPosition::UpperLeft => (false, true),
                SeriesLabelPosition::UpperRight => (true, true),
                SeriesLabelPosition::LowerLeft => (false, false),
                _ => (true, false),
            };
            points
                .iter()
                .filter(|&&(x, y)| {
                    let in_x = if right { x >= 1.0 - width } else { x <= width };
                    let in_y = if upper {
                        y >= 1.0 - height
                    } else {
                        y <= height
                    };
                    in_x && in_y
                })
                .count()
        };
        let mut best = self.legend[0].clone();
        let mut best_count = covered(&best);
        for corner in &self.legend[1..] {
            let count = covered(corner);
            if count < best_count {
                best = corner.clone();
                best_count = count;
            }
        }
        best
    }
}

impl Draw for BandChart {
    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
    ) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
        let xs = self
            .bands
            .iter()
            .flat_map(|b| b.points.iter().map(|p| p.0))
            .chain(self.reference.iter().flat_map(|r| r.1.iter().map(|p| p.0)));
        let (x_min, x_max) = xs.fold((i32::MAX, i32::MIN), |(lo, hi), x| (lo.min(x), hi.max(x)));
        let (x_min, x_max) = if x_min >= x_max {
            (x_min.min(x_max) - 1, x_max.max(x_min) + 1)
        } else {
            (x_min, x_max)
        };
        let mut chart = ChartBuilder::on(root)
            .caption(&self.title, (FONT, 22))
            .margin(18)
            .x_label_area_size(48)
            .y_label_area_size(64)
            .build_cartesian_2d(x_min..x_max, 0.0..self.y_max)?;
        chart
            .configure_mesh()
            .x_desc("agents")
            .y_desc(self.y_desc)
            .x_labels(((x_max - x_min + 1) as usize).min(17))
            .y_label_formatter(&|y| format!("{y:.*}", self.y_decimals))
            .max_light_lines(1)
            .label_style((FONT, 14))
            .axis_desc_style((FONT, 16))
            .light_line_style(RGBColor(235, 235, 235))
            .draw()?;
        for band in &self.bands {
            let mut outline: Vec<(i32, f64)> = band.points.iter().map(|p| (p.0, p.3)).collect();
            outline.extend(band.points.iter().rev().map(|p| (p.0, p.1)));
            chart.draw_series(std::iter::once(Polygon::new(
                outline,
                band.color.mix(0.18).filled(),
            )))?;
        }
        for band in &self.bands {
            let color = band.color;
            chart
                .draw_series(LineSeries::new(
                    band.points.iter().map(|p| (p.0, p.2)),
                    color.stroke_width(2),
                ))?
                .label(&band.label)
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 18, y + 5)], color.mix(0.5).filled())
                });
            chart.draw_series(
                band.points
                    .iter()
                    .map(|p| Circle::new((p.0, p.2), 3, color.filled())),
            )?;
        }
        if let Some((label, curve)) = &self.reference {
            chart
                .draw_series(DashedLineSeries::new(
                    curve.iter().copied(),
                    7,
                    5,
                    BLACK.stroke_width(2),
                ))?
                .label(*label)
                .legend(|(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], BLACK.stroke_width(2))
                });
        }
        if let Some(label) = self.mark_label {
            let marks: Vec<(i32, f64, RGBColor)> = self
                .bands
                .iter()
                .filter_map(|b| b.mark.map(|(x, y)| (x, y, b.color)))
                .collect();
            if !marks.is_empty() {
                chart
                    .draw_series(
                        marks
                            .iter()
                            .map(|&(x, y, _)| Circle::new((x, y), 8, BLACK.stroke_width(2))),
                    )?
                    .label(label)
                    .legend(|(x, y)| Circle::new((x + 9, y), 6, BLACK.stroke_width(2)));
            }
        }
        chart
            .configure_series_labels()
            .position(self.legend_corner(x_min, x_max))
            .label_font((FONT, 14))
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(180, 180, 180))
            .draw()?;
        Ok(())
    }
}

fn bands(
    spec: &SweepSpec,
    points: &[PointSummary],
    get: impl Fn(&PointSummary) -> Option<(f64, f64, f64)>,
    mark_knee: bool,
) -> Vec<Band> {
    series(points)
        .into_iter()
        .enumerate()
        .map(|(i, s)| {
            let values: Vec<(i32, f64, f64, f64)> = s
                .iter()
                .filter_map(|p| get(p).map(|(lo, mid, hi)| (p.agents as i32, lo, mid, hi)))
                .collect();
            let mark = if mark_knee {
                knee(s).and_then(|k| {
                    values
                        .iter()
                        .find(|v| v.0 == k.agents as i32)
                        .map(|v| (v.0, v.2))
                })
            } else {
                None
            };
            Band {
                label: series_label(spec, &s[0]),
                color: PALETTE[i % PALETTE.len()],
                points: values,
                mark,
            }
        })
        .collect()
}

/// Speedup (serial time / makespan) against agents: the median per series with its p5–p95
/// band, the knee ringed, and the dashed curve `serial time / lower bound` that no
/// schedule of the estimates can beat.
pub fn speedup_figure(
    title: &str,
    spec: &SweepSpec,
    points: &[PointSummary],
) -> Result<Figure, PlotError> {
    let bands = bands(
        spec,
        points,
        |p| Some((p.speedup_p5?, p.speedup_p50?, p.speedup_p95?)),
        true,
    );
    let mut reference: Vec<(i32, f64)> = points
        .iter()
        .map(|p| (p.agents as i32, p.bound_speedup))
        .collect();
    reference.sort_by_key(|p| p.0);
    reference.dedup_by_key(|p| p.0);
    let y_top = bands
        .iter()
        .flat_map(|b| b.points.iter().map(|p| p.3))
        .chain(reference.iter().map(|p| p.1))
        .fold(1.0_f64, f64::max);
    let chart = BandChart {
        title: title.to_string(),
        y_desc: "speedup (serial time / makespan)",
        bands,
        reference: Some(("bound on estimates: serial time / plan bound", reference)),
        y_max: y_top * 1.08,
        mark_label: Some("knee: fewest agents within 5% of the best p50 makespan"),
        legend: [
            SeriesLabelPosition::LowerRight,
            SeriesLabelPosition::UpperLeft,
            SeriesLabelPosition::UpperRight,
            SeriesLabelPosition::LowerLeft,
        ],
        y_decimals: 1,
    };
    render("speedup chart", (1000, 640), &chart)
}

/// Utilization (agent time in attempts / makespan · slots) against agents, in percent:
/// the median per series with its p5–p95 band.
pub fn utilization_figure(
    title: &str,
    spec: &SweepSpec,
    points: &[PointSummary],
) -> Result<Figure, PlotError> {
    let percent = |x: f64| x * 100.0;
    let bands = bands(
        spec,
        points,
        |p| {
            Some((
                percent(p.utilization_p5?),
                percent(p.utilization_p50?),
                percent(p.utilization_p95?),
            ))
        },
        false,
    );
    let y_top = bands
        .iter()
        .flat_map(|b| b.points.iter().map(|p| p.3))
        .fold(100.0_f64, f64::max);
    let chart = BandChart {
        title: title.to_string(),
        y_desc: "utilization (%)",
        bands,
        reference: None,
        y_max: y_top * 1.05,
        mark_label: None,
        legend: [
            SeriesLabelPosition::UpperRight,
            SeriesLabelPosition::LowerLeft,
            SeriesLabelPosition::LowerRight,
            SeriesLabelPosition::UpperLeft,
        ],
        y_decimals: 0,
    };
    render("utilization chart", (1000, 640), &chart)
}
