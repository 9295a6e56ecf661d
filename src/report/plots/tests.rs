//! The plots on small logs and points.

use super::*;
use crate::space::Stage;
use crate::space::{BranchDescription, EdgeRule, SearchSpace};

#[test]
fn trajectories_plot_every_edge() {
    let b = |t: &str| BranchDescription::from_stages(t, &[Stage::new(2, 8, 1)]);
    let space = SearchSpace::from_branches(&[b("a"), b("b")], EdgeRule::same_stage()).unwrap();
    let arch = Architecture::from_logits(&space, &[3.0, -2.0, 0.5, -0.1, 4.0, -5.0]).unwrap();
    let history: Vec<IterationLog> = (0..3)
        .map(|i| IterationLog {
            iteration: i * 10,
            architecture_losses: vec![],
            weight_losses: vec![],
            architecture_step: Default::default(),
            weight_step: Default::default(),
            entropy: 0.0,
            entropy_weight: 0.0,
            temperature: 0.0,
            learning_rate: 0.0,
            kept_edges: 0,
            logits: Some(vec![i as f32; 6]),
            host_reads: 1,
        })
        .collect();
    let svg = logit_trajectories_svg(&history, &arch).unwrap();
    assert!(svg.contains("<svg") && svg.trim_end().ends_with("</svg>"));
    assert!(svg.contains("edges from a") && svg.contains("edges from b"));
    assert!(svg.contains("kept (solid)") && svg.contains("pruned (dashed)"));
    // Each kept edge is one polyline through the three recorded iterations; pruned edges
    // (and the 0.5 threshold) are dashes of two points each.
    let lines = polylines(&svg);
    let through_all = lines.iter().filter(|(_, n)| *n == 3).count();
    let kept = arch.edges.iter().filter(|d| d.kept).count();
    assert_eq!((kept, through_all), (3, 3), "{lines:?}");
    for decision in arch.edges.iter().filter(|d| !d.kept) {
        let colour = task_colour(decision.edge.source.task);
        let dashes = lines.iter().filter(|(c, n)| c == colour && *n == 2).count();
        // More than the legend's one line in that colour.
        assert!(dashes > 1, "{colour}: {dashes} dashes");
    }
    // No logits recorded: empty axes, no error.
    let empty = logit_trajectories_svg(&[], &arch).unwrap();
    assert_eq!(polylines(&empty).iter().filter(|(_, n)| *n == 3).count(), 0);
}

/// Every polyline of an SVG: its stroke colour and its number of points.
fn polylines(svg: &str) -> Vec<(String, usize)> {
    svg.split("<polyline")
        .skip(1)
        .map(|rest| {
            let tag = &rest[..rest.find('>').unwrap_or(rest.len())];
            let attr = |name: &str| {
                let start = tag.find(&format!("{name}=\"")).map(|i| i + name.len() + 2);
                start.map_or(String::new(), |s| {
                    tag[s..s + tag[s..].find('"').unwrap()].to_string()
                })
            };
            (
                attr("stroke").to_lowercase(),
                attr("points").split_whitespace().count(),
            )
        })
        .collect()
}

fn point(label: &str, seed: u64, fusion_macs: f64, delta: f64) -> ParetoPoint {
    ParetoPoint {
        label: label.into(),
        seed,
        fusion_macs,
        delta,
    }
}

fn methods() -> Vec<ParetoPoint> {
    let mut points = Vec::new();
    for seed in 0..3 {
        let s = seed as f64 * 0.3;
        points.push(point("single-task", seed, 0.0, 0.0));
        points.push(point("shared trunk", seed, 0.0, 2.5 - s));
        points.push(point("NDDR-CNN", seed, 31.0e9, 12.9 + s));
        points.push(point("all edges", seed, 93.1e9, 18.8 - s));
        points.push(point("MTL-NAS", seed, 93.1e9 - 3e9 * s, 17.6 + s));
        points.push(point(
            "MTL-NAS cost-aware",
            seed,
            40.0e9 + 5e9 * s,
            17.0 + s,
        ));
    }
    points
}

#[test]
fn pareto_draws_one_marker_per_point_and_names_every_method() {
    let points = methods();
    let front = [
        (60e9, 17.8),
        (0.0, 2.0),
        (20e9, 14.0),
        (40e9, 17.0),
        (93e9, 18.5),
    ];
    let svg = pareto_svg(&points, &front, "Delta against fusion cost").unwrap();
    assert!(svg.contains("<svg") && svg.trim_end().ends_with("</svg>"));
    assert_eq!(svg.matches("<circle").count(), points.len());
    for label in [
        "single-task",
        "shared trunk",
        "NDDR-CNN",
        "all edges",
        "MTL-NAS",
        "cost-aware sweep",
    ] {
        // Each name written once, as the text of one element.
        let text = format!(">\n{label}\n</text>");
        assert_eq!(svg.matches(&text).count(), 1, "{label}");
    }
    assert!(svg.contains("Delta against fusion cost"));
    assert!(svg.contains("fusion MACs per image (GMAC)"));
    // The sweep: one line through the front's five points, in order of cost.
    let sweep: Vec<_> = polylines(&svg)
        .into_iter()
        .filter(|(_, n)| *n == 5)
        .collect();
    assert_eq!(sweep.len(), 1, "{sweep:?}");
    // Small networks get a smaller unit; no front, no sweep line.
    let small = [point("a", 0, 2.0e6, 1.0), point("b", 0, 0.0, 0.0)];
    let svg = pareto_svg(&small, &[], "small").unwrap();
    assert!(svg.contains("(MMAC)") && !svg.contains("cost-aware sweep"));
    assert_eq!(svg.matches("<circle").count(), 2);
    // Labels are escaped.
    let svg = pareto_svg(&[point("a<b & c", 0, 1.0, 1.0)], &[], "t").unwrap();
    assert!(svg.contains("a&lt;b &amp; c"));
}

#[test]
fn pareto_rejects_empty_and_non_finite_input() {
    let message = |r: Result<String>| r.unwrap_err().to_string();
    assert!(message(pareto_svg(&[], &[(1.0, 1.0)], "t")).contains("no points"));
    let good = [point("a", 0, 1e9, 1.0)];
    for bad in [
        point("nan delta", 1, 1e9, f64::NAN),
        point("infinite macs", 1, f64::INFINITY, 1.0),
        point("negative macs", 1, -1.0, 1.0),
    ] {
        let e = message(pareto_svg(&[good[0].clone(), bad.clone()], &[], "t"));
        assert!(e.contains(&bad.label), "{e}");
    }
    let e = message(pareto_svg(&good, &[(1e9, f64::NEG_INFINITY)], "t"));
    assert!(e.contains("front point 0"), "{e}");
}

/// Writes both plots of a three-task search to the temporary folder, to look at them
/// (`cargo test --lib plots::tests::dump -- --ignored`, then e.g. `rsvg-convert`).
#[test]
#[ignore = "writes both plots to the temporary folder to look at; run by hand"]
fn dump() {
    let b = |t: &str| {
        BranchDescription::from_stages(
            t,
            &[
                Stage::new(2, 8, 1),
                Stage::new(2, 8, 2),
                Stage::new(2, 8, 2),
            ],
        )
    };
    let space = SearchSpace::from_branches(
        &[b("seg"), b("normal"), b("material")],
        EdgeRule::same_stage(),
    )
    .unwrap();
    let n = space.edges().len();
    let logits: Vec<f32> = (0..n)
        .map(|e| {
            if e % 3 == 0 {
                -2.0
            } else {
                3.0 + e as f32 * 0.1
            }
        })
        .collect();
    let arch = Architecture::from_logits(&space, &logits).unwrap();
    let history: Vec<IterationLog> = (0..=20)
        .map(|i| IterationLog {
            iteration: i * 40,
            architecture_losses: vec![],
            weight_losses: vec![],
            architecture_step: Default::default(),
            weight_step: Default::default(),
            entropy: 0.0,
            entropy_weight: 0.0,
            temperature: 0.0,
            learning_rate: 0.0,
            kept_edges: 0,
            logits: Some(logits.iter().map(|l| l * i as f32 / 20.0).collect()),
            host_reads: 1,
        })
        .collect();
    std::fs::write(
        std::env::temp_dir().join("logits.svg"),
        logit_trajectories_svg(&history, &arch).unwrap(),
    )
    .unwrap();
    let front = [
        (0.0, 2.0),
        (20e9, 14.0),
        (40e9, 17.0),
        (60e9, 17.8),
        (93e9, 18.5),
    ];
    std::fs::write(
        std::env::temp_dir().join("pareto.svg"),
        pareto_svg(&methods(), &front, "Delta against fusion MACs (3 seeds)").unwrap(),
    )
    .unwrap();
}
