//! Plots of a run, drawn with `plotters` on its SVG backend: the logits' trajectories over a
//! search, and the Pareto picture of Delta against fusion MACs.

use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use serde::{Deserialize, Serialize};

use super::task_colour;
use crate::arch::{Architecture, sigmoid_scalar};
use crate::search::IterationLog;
use crate::{Error, Result};

/// The font of every plot (the SVG viewer picks the face).
const FONT: &str = "sans-serif";

/// Colours of the methods in a Pareto picture, in the order their labels first appear
/// (Matplotlib's `tab10`, whose neighbours stay apart for most colour-blind readers).
const METHOD_PALETTE: [RGBColor; 10] = [
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0xff, 0x7f, 0x0e),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0xd6, 0x27, 0x28),
    RGBColor(0x94, 0x67, 0xbd),
    RGBColor(0x8c, 0x56, 0x4b),
    RGBColor(0xe3, 0x77, 0xc2),
    RGBColor(0x7f, 0x7f, 0x7f),
    RGBColor(0xbc, 0xbd, 0x22),
    RGBColor(0x17, 0xbe, 0xcf),
];

/// Whatever a plot's drawing reports, as this crate's error.
type DrawResult<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

/// A chart with two real axes, drawn on the SVG backend.
type SvgChart<'a, 'b> =
    ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

fn plot_error(plot: &str, error: Box<dyn std::error::Error>) -> Error {
    Error::config(plot, format!("drawing failed: {error}"))
}

/// `#rrggbb` as a colour (black if malformed).
fn hex_colour(hex: &str) -> RGBColor {
    let channel = |i: usize| {
        hex.get(1 + 2 * i..3 + 2 * i)
            .and_then(|s| u8::from_str_radix(s, 16).ok())
            .unwrap_or(0)
    };
    RGBColor(channel(0), channel(1), channel(2))
}

/// An SVG plot of every edge's `sigmoid(alpha)` over the search, from the logits recorded in
/// `history`, one line per edge in its source task's colour; the kept edges (of
/// `architecture`) solid, the pruned ones dashed. Iterations without recorded logits, and
/// non-finite logits, are left out; with none recorded the axes are drawn empty.
///
/// # Errors
/// Only if the plotting library fails to lay out the picture.
pub fn logit_trajectories_svg(
    history: &[IterationLog],
    architecture: &Architecture,
) -> Result<String> {
    let mut svg = String::new();
    draw_trajectories(&mut svg, history, architecture)
        .map_err(|e| plot_error("logit trajectories plot", e))?;
    Ok(svg)
}

/// Draws the logit trajectories plot into `svg`: the axes, the 0.5 threshold, every edge's
/// line and the legend.
fn draw_trajectories(
    svg: &mut String,
    history: &[IterationLog],
    architecture: &Architecture,
) -> DrawResult {
    let recorded: Vec<(usize, &Vec<f32>)> = history
        .iter()
        .filter_map(|h| h.logits.as_ref().map(|l| (h.iteration, l)))
        .collect();
    let last = recorded.last().map_or(1, |(i, _)| *i).max(1) as f64;
    let root = SVGBackend::with_string(svg, (760, 440)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = trajectory_axes(&root, last)?;
    // The decision threshold: kept iff sigmoid > 0.5.
    chart.draw_series(DashedLineSeries::new(
        [(0.0, 0.5), (last, 0.5)],
        2,
        4,
        RGBColor(150, 150, 150).stroke_width(1),
    ))?;
    draw_edge_trajectories(&mut chart, architecture, &recorded)?;
    draw_trajectory_legend(&mut chart, architecture)?;
    root.present()?;
    Ok(())
}

/// The trajectories plot's caption and axes: iterations up to `last` against sigmoid values
/// from 0 to 1, with their grid.
fn trajectory_axes<'a, 'b>(
    root: &'a DrawingArea<SVGBackend<'b>, Shift>,
    last: f64,
) -> DrawResult<SvgChart<'a, 'b>> {
    let mut chart = ChartBuilder::on(root)
        .caption(
            "sigmoid(logit) of every candidate edge over the search",
            (FONT, 17),
        )
        .margin(14)
        .margin_right(24)
        .x_label_area_size(44)
        .y_label_area_size(56)
        .build_cartesian_2d(0.0..last, 0.0..1.0)?;
    chart
        .configure_mesh()
        .x_desc("iteration")
        .y_desc("sigmoid(logit)")
        .x_labels(6)
        .y_labels(5)
        .x_label_formatter(&|v| format!("{v:.0}"))
        .y_label_formatter(&|v| format!("{v:.2}"))
        .label_style((FONT, 13))
        .axis_desc_style((FONT, 14))
        .light_line_style(RGBColor(240, 240, 240))
        .bold_line_style(RGBColor(215, 215, 215))
        .draw()?;
    Ok(chart)
}

/// One line per edge through its finite sigmoid values at the `recorded` iterations, in its
/// source task's colour: solid if kept, dashed if pruned.
fn draw_edge_trajectories(
    chart: &mut SvgChart<'_, '_>,
    architecture: &Architecture,
    recorded: &[(usize, &Vec<f32>)],
) -> DrawResult {
    for (e, decision) in architecture.edges.iter().enumerate() {
        let line: Vec<(f64, f64)> = recorded
            .iter()
            .filter_map(|(iteration, logits)| {
                let p = sigmoid_scalar(*logits.get(e)? as f64);
                p.is_finite().then_some((*iteration as f64, p))
            })
            .collect();
        let colour = hex_colour(task_colour(decision.edge.source.task));
        if decision.kept {
            chart.draw_series(LineSeries::new(line, colour.mix(0.85).stroke_width(2)))?;
        } else {
            chart.draw_series(DashedLineSeries::new(
                line,
                5,
                4,
                colour.mix(0.85).stroke_width(2),
            ))?;
        }
    }
    Ok(())
}

/// The trajectories plot's legend: one entry per source task, then the two line styles.
fn draw_trajectory_legend<'a, 'b: 'a>(
    chart: &mut SvgChart<'a, 'b>,
    architecture: &Architecture,
) -> DrawResult {
    for (task, name) in architecture.space.tasks().iter().enumerate() {
        let colour = hex_colour(task_colour(task));
        chart
            .draw_series(std::iter::empty::<PathElement<(f64, f64)>>())?
            .label(format!("edges from {name}"))
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 22, y)], colour.stroke_width(3))
            });
    }
    chart
        .draw_series(std::iter::empty::<PathElement<(f64, f64)>>())?
        .label("kept (solid)")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 22, y)], BLACK.stroke_width(2)));
    chart
        .draw_series(std::iter::empty::<PathElement<(f64, f64)>>())?
        .label("pruned (dashed)")
        .legend(|(x, y)| {
            EmptyElement::at((x, y))
                + PathElement::new(vec![(0, 0), (8, 0)], BLACK.stroke_width(2))
                + PathElement::new(vec![(13, 0), (21, 0)], BLACK.stroke_width(2))
        });
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerLeft)
        .label_font((FONT, 13))
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(190, 190, 190))
        .draw()?;
    Ok(())
}

/// One point of a Pareto picture: a method (or a sweep setting) on one seed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ParetoPoint {
    /// The method (or sweep setting); points with the same label share a colour and a name.
    pub label: String,
    /// The seed of this run.
    pub seed: u64,
    /// Multiply-accumulates of the network's fusion (1x1 convolutions and resizes), per image.
    pub fusion_macs: f64,
    /// Its multi-task Delta (higher is better).
    pub delta: f64,
}

/// The unit of a MAC axis whose largest value is `max`: divisor and name.
fn mac_unit(max: f64) -> (f64, &'static str) {
    if max >= 1e9 {
        (1e9, "GMAC")
    } else if max >= 1e6 {
        (1e6, "MMAC")
    } else if max >= 1e3 {
        (1e3, "kMAC")
    } else {
        (1.0, "MAC")
    }
}

/// Decimals that tell ticks `step` apart.
fn decimals(step: f64) -> usize {
    if step >= 1.0 || step <= 0.0 {
        0
    } else {
        (-step.log10()).ceil().clamp(0.0, 6.0) as usize
    }
}

/// An SVG picture of Delta (y, higher is better) against fusion MACs (x, in GMAC, MMAC, kMAC
/// or MAC after the largest value): one filled circle per point, coloured by its label, each
/// label written once beside the mean of its points (moved apart where two would overlap);
/// `front`, `(fusion MACs, Delta)` pairs of the cost-aware sweep, as a line through its points
/// sorted by MACs (left out when empty).
///
/// # Errors
/// No points; a non-finite Delta or MAC count, or a negative MAC count, in `points` or
/// `front`.
pub fn pareto_svg(points: &[ParetoPoint], front: &[(f64, f64)], title: &str) -> Result<String> {
    if points.is_empty() {
        return Err(Error::config(
            "pareto plot",
            "no points to draw: give at least one method's (fusion MACs, Delta)",
        ));
    }
    let check = |what: &str, macs: f64, delta: f64| {
        if !(macs.is_finite() && macs >= 0.0 && delta.is_finite()) {
            return Err(Error::config(
                "pareto plot",
                format!(
                    "{what}: fusion MACs must be finite and non-negative and Delta finite, got MACs {macs} and Delta {delta}"
                ),
            ));
        }
        Ok(())
    };
    for p in points {
        check(
            &format!("point `{}` (seed {})", p.label, p.seed),
            p.fusion_macs,
            p.delta,
        )?;
    }
    for (i, &(macs, delta)) in front.iter().enumerate() {
        check(&format!("front point {i}"), macs, delta)?;
    }
    let mut svg = String::new();
    draw_pareto(&mut svg, points, front, title).map_err(|e| plot_error("pareto plot", e))?;
    Ok(svg)
}

/// A label to write beside a cluster of points: its text, colour and anchor in pixels.
struct Tag {
    text: String,
    colour: RGBColor,
    /// The height to write it at, and the pixel columns its points span (it goes beside
    /// them, not over them).
    y: i32,
    span: (i32, i32),
}

/// Draws the Pareto picture into `svg`: the axes, the sweep's line, one circle per point and
/// the labels beside them.
fn draw_pareto(
    svg: &mut String,
    points: &[ParetoPoint],
    front: &[(f64, f64)],
    title: &str,
) -> DrawResult {
    let (divisor, unit, x_max, y_range) = pareto_axes(points, front);
    let (width, height) = (800u32, 500u32);
    let root = SVGBackend::with_string(svg, (width, height)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = pareto_chart(&root, title, unit, x_max, y_range)?;
    let sweep_colour = RGBColor(60, 60, 60);
    let sweep = draw_sweep(&mut chart, front, divisor, sweep_colour)?;

    // One circle per point, coloured by its label in order of first appearance.
    let mut labels: Vec<&str> = Vec::new();
    for p in points {
        if !labels.contains(&p.label.as_str()) {
            labels.push(&p.label);
        }
    }
    let colour_of = |label: &str| {
        let i = labels.iter().position(|l| *l == label).unwrap_or(0);
        METHOD_PALETTE[i % METHOD_PALETTE.len()]
    };
    chart.draw_series(points.iter().map(|p| {
        let c = colour_of(&p.label);
        Circle::new(
            (p.fusion_macs / divisor, p.delta),
            5,
            ShapeStyle {
                color: c.mix(0.8),
                filled: true,
                stroke_width: 1,
            },
        )
    }))?;

    let mut tags = method_tags(&chart, points, &labels, divisor, &colour_of);
    tags.extend(sweep_tag(&chart, &sweep, sweep_colour));
    let plot = chart.plotting_area().get_pixel_range();
    place_tags(
        &root,
        &tags,
        (plot.0.start, plot.0.end),
        (plot.1.start, plot.1.end),
    )?;

    root.present()?;
    Ok(())
}

/// The Pareto picture's caption and axes: fusion MACs in `unit` up to `x_max` against the
/// Delta in `y_min..y_max`, with their grid and ticks of as many decimals as they need.
fn pareto_chart<'a, 'b>(
    root: &'a DrawingArea<SVGBackend<'b>, Shift>,
    title: &str,
    unit: &str,
    x_max: f64,
    (y_min, y_max): (f64, f64),
) -> DrawResult<SvgChart<'a, 'b>> {
    let x_step = x_max / 6.0;
    let y_step = (y_max - y_min) / 6.0;
    let mut chart = ChartBuilder::on(root)
        .caption(title, (FONT, 18))
        .margin(14)
        .margin_right(30)
        .x_label_area_size(48)
        .y_label_area_size(64)
        .build_cartesian_2d(0.0..x_max, y_min..y_max)?;
    chart
        .configure_mesh()
        .x_desc(format!("fusion MACs per image ({unit})"))
        .y_desc("Delta (%, higher is better)")
        .x_labels(7)
        .y_labels(7)
        .x_label_formatter(&|v| format!("{v:.*}", decimals(x_step)))
        .y_label_formatter(&|v| format!("{v:.*}", decimals(y_step)))
        .label_style((FONT, 13))
        .axis_desc_style((FONT, 14))
        .light_line_style(RGBColor(242, 242, 242))
        .bold_line_style(RGBColor(215, 215, 215))
        .draw()?;
    Ok(chart)
}

/// The cost-aware sweep: a line through the `front`'s points in order of cost, each marked
/// with a square (nothing without a front); returns the points drawn, in the axis's unit.
fn draw_sweep(
    chart: &mut SvgChart<'_, '_>,
    front: &[(f64, f64)],
    divisor: f64,
    colour: RGBColor,
) -> DrawResult<Vec<(f64, f64)>> {
    let mut sweep: Vec<(f64, f64)> = front.iter().map(|&(m, d)| (m / divisor, d)).collect();
    sweep.sort_by(|a, b| a.0.total_cmp(&b.0));
    if !sweep.is_empty() {
        chart.draw_series(LineSeries::new(sweep.clone(), colour.stroke_width(2)))?;
        chart.draw_series(sweep.iter().map(|&(x, y)| {
            EmptyElement::at((x, y)) + Rectangle::new([(-3, -3), (3, 3)], colour.filled())
        }))?;
    }
    Ok(sweep)
}

/// The axes of the Pareto picture: the MAC unit's divisor and name, the x range's end, and
/// the Delta range (padded).
fn pareto_axes(
    points: &[ParetoPoint],
    front: &[(f64, f64)],
) -> (f64, &'static str, f64, (f64, f64)) {
    let all = || {
        points
            .iter()
            .map(|p| (p.fusion_macs, p.delta))
            .chain(front.iter().copied())
    };
    let max_macs = all().map(|(m, _)| m).fold(0.0, f64::max);
    let (divisor, unit) = mac_unit(max_macs);
    let x_max = if max_macs > 0.0 {
        max_macs / divisor * 1.1
    } else {
        1.0
    };
    let (lo, hi) = all().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), (_, d)| {
        (lo.min(d), hi.max(d))
    });
    let pad = ((hi - lo) * 0.12).max(0.5);
    (divisor, unit, x_max, (lo - pad, hi + pad))
}

/// Each label once, beside the mean of its points.
fn method_tags(
    chart: &SvgChart<'_, '_>,
    points: &[ParetoPoint],
    labels: &[&str],
    divisor: f64,
    colour_of: &dyn Fn(&str) -> RGBColor,
) -> Vec<Tag> {
    labels
        .iter()
        .map(|&label| {
            let mine: Vec<&ParetoPoint> = points.iter().filter(|p| p.label == label).collect();
            let n = mine.len() as f64;
            let y = mine.iter().map(|p| p.delta).sum::<f64>() / n;
            let column = |p: &ParetoPoint| chart.backend_coord(&(p.fusion_macs / divisor, y));
            let (x0, x1) = mine.iter().fold((i32::MAX, i32::MIN), |(a, b), p| {
                let (x, _) = column(p);
                (a.min(x - 5), b.max(x + 5))
            });
            Tag {
                text: label.to_string(),
                colour: colour_of(label),
                y: column(mine[0]).1,
                span: (x0, x1),
            }
        })
        .collect()
}

/// The sweep's name beside the middle of its longest segment, away from the points (at its
/// only point if it has one; none without a sweep).
fn sweep_tag(chart: &SvgChart<'_, '_>, sweep: &[(f64, f64)], colour: RGBColor) -> Option<Tag> {
    let longest = sweep
        .windows(2)
        .map(|w| (chart.backend_coord(&w[0]), chart.backend_coord(&w[1])))
        .max_by_key(|((x0, y0), (x1, y1))| (x1 - x0).pow(2) + (y1 - y0).pow(2));
    let ((x0, y0), (x1, y1)) = longest.or_else(|| {
        sweep
            .first()
            .map(|p| (chart.backend_coord(p), chart.backend_coord(p)))
    })?;
    let (x, y) = ((x0 + x1) / 2, (y0 + y1) / 2);
    Some(Tag {
        text: "cost-aware sweep".into(),
        colour,
        y,
        span: (x, x),
    })
}

/// Writes each tag to the right of its anchor (to the left near the right edge), moving it
/// down (or up) in steps of a line until it overlaps no tag written before it, with a thin
/// leader line to its anchor when it moved.
fn place_tags(
    root: &DrawingArea<SVGBackend, Shift>,
    tags: &[Tag],
    (left, right): (i32, i32),
    (top, bottom): (i32, i32),
) -> DrawResult {
    const SIZE: i32 = 13;
    const LINE: i32 = SIZE + 4;
    const GAP: i32 = 9;
    // A generous width estimate for a sans-serif face (the SVG viewer picks the real one).
    let width = |text: &str| (text.chars().count() as f64 * SIZE as f64 * 0.6).ceil() as i32;
    let mut order: Vec<usize> = (0..tags.len()).collect();
    order.sort_by_key(|&i| (tags[i].y, tags[i].span.0));
    // Boxes already taken: (x0, y0, x1, y1), text centred vertically on y.
    let mut taken: Vec<(i32, i32, i32, i32)> = Vec::new();
    for i in order {
        let tag = &tags[i];
        let w = width(&tag.text);
        let ay = tag.y;
        let on_right = tag.span.1 + GAP + w <= right;
        let (ax, x0) = if on_right {
            (tag.span.1, tag.span.1 + GAP)
        } else {
            (tag.span.0, (tag.span.0 - GAP - w).max(left))
        };
        let overlaps = |y: i32| {
            taken.iter().any(|&(bx0, by0, bx1, by1)| {
                x0 < bx1 && bx0 < x0 + w && y - LINE / 2 < by1 && by0 < y + LINE / 2
            })
        };
        // Try the anchor's height, then one line further each way, alternating, within the plot.
        let mut y = ay;
        for step in 0..40 {
            let offset = (step + 1) / 2 * LINE * if step % 2 == 1 { 1 } else { -1 };
            let candidate = (ay + offset).clamp(top + LINE / 2, bottom - LINE / 2);
            if !overlaps(candidate) {
                y = candidate;
                break;
            }
        }
        taken.push((x0, y - LINE / 2, x0 + w, y + LINE / 2));
        if (y - ay).abs() > LINE / 2 {
            let end = if on_right { x0 - 2 } else { x0 + w + 2 };
            root.draw(&PathElement::new(
                vec![(ax, ay), (end, y)],
                tag.colour.mix(0.6).stroke_width(1),
            ))?;
        }
        // A light backing so that lines under the text do not cross it.
        root.draw(&Rectangle::new(
            [(x0 - 2, y - LINE / 2 + 2), (x0 + w + 2, y + LINE / 2 - 2)],
            WHITE.mix(0.85).filled(),
        ))?;
        let (hpos, x) = if on_right {
            (HPos::Left, x0)
        } else {
            (HPos::Right, x0 + w)
        };
        let style = TextStyle::from((FONT, SIZE).into_font())
            .color(&tag.colour)
            .pos(Pos::new(hpos, VPos::Center));
        root.draw(&Text::new(tag.text.clone(), (x, y), style))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
