//! What a run reports: the results table of every method against the single-task baseline
//! (one seed, or the mean and standard deviation over seeds), and the plot of the logits'
//! trajectories over a search.

mod seeds;

pub use seeds::{MeanStd, MethodOverSeeds, SeedSummary};

use std::fmt::{self, Write};

use serde::{Deserialize, Serialize};

use crate::arch::{Architecture, sigmoid_scalar, task_colour, xml};
use crate::cost::{CostSummary, mega};
use crate::metrics::{DeltaConvention, multi_task_delta};
use crate::search::{Evaluation, IterationLog};
use crate::{Error, Result};

/// One method's evaluation in a results table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MethodResult {
    /// The method's name.
    pub method: String,
    /// Its losses and metrics on the test set.
    pub evaluation: Evaluation,
    /// Its multi-task Delta against the reference method.
    pub delta: f64,
    /// Wall-clock seconds it took to train (or search).
    pub seconds: f64,
    /// What the method's network costs on one test image, where counted.
    #[serde(default)]
    pub cost: Option<CostSummary>,
}

/// Every method's metrics side by side, with the Delta of each against one reference method
/// (the single-task baseline), in a named convention.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResultsTable {
    /// The methods, in order.
    pub rows: Vec<MethodResult>,
    /// The method Deltas are measured against.
    pub reference: String,
    /// The Delta convention.
    pub convention: DeltaConvention,
}

impl ResultsTable {
    /// A table of `(method, evaluation, seconds)`; Deltas against the method named `reference`.
    ///
    /// # Errors
    /// No method called `reference`, or evaluations whose tasks and metrics differ.
    pub fn new(
        methods: Vec<(String, Evaluation, f64)>,
        reference: &str,
        convention: DeltaConvention,
    ) -> Result<Self> {
        let base = methods
            .iter()
            .find(|(name, _, _)| name == reference)
            .map(|(_, e, _)| e.metrics.clone())
            .ok_or_else(|| {
                Error::config("results table", format!("no method called `{reference}`"))
            })?;
        let rows = methods
            .into_iter()
            .map(|(method, evaluation, seconds)| {
                let delta = multi_task_delta(&evaluation.metrics, &base, convention)?;
                Ok(MethodResult {
                    method,
                    evaluation,
                    delta,
                    seconds,
                    cost: None,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            rows,
            reference: reference.to_string(),
            convention,
        })
    }

    /// The row of `method`.
    pub fn row(&self, method: &str) -> Option<&MethodResult> {
        self.rows.iter().find(|r| r.method == method)
    }

    /// Sets each method's cost, `costs` in row order.
    ///
    /// # Errors
    /// A number of costs other than the number of rows.
    pub fn with_costs(mut self, costs: Vec<Option<CostSummary>>) -> Result<Self> {
        if costs.len() != self.rows.len() {
            return Err(Error::shape(
                "results table costs",
                format!("{} (one per method)", self.rows.len()),
                costs.len().to_string(),
            ));
        }
        for (row, cost) in self.rows.iter_mut().zip(costs) {
            row.cost = cost;
        }
        Ok(self)
    }
}

impl fmt::Display for ResultsTable {
    /// Metrics as rows (with their direction), methods as columns, then the Delta and the
    /// training time.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(first) = self.rows.first() else {
            return Ok(());
        };
        let label_width = first
            .evaluation
            .metrics
            .iter()
            .flat_map(|t| {
                t.metrics
                    .iter()
                    .map(move |m| t.task.len() + m.name.len() + 3)
            })
            .max()
            .unwrap_or(10)
            .max(24);
        let width = self
            .rows
            .iter()
            .map(|r| r.method.len())
            .max()
            .unwrap_or(8)
            .max(10)
            + 2;
        write!(f, "{:<label_width$}", "metric")?;
        for r in &self.rows {
            write!(f, "{:>width$}", r.method)?;
        }
        writeln!(f)?;
        for (t, task) in first.evaluation.metrics.iter().enumerate() {
            for (m, metric) in task.metrics.iter().enumerate() {
                let arrow = if metric.higher_is_better {
                    "↑"
                } else {
                    "↓"
                };
                let label = format!("{} {} {arrow}", task.task, metric.name);
                write!(f, "{label:<label_width$}")?;
                for r in &self.rows {
                    let v = r.evaluation.metrics[t].values[m];
                    write!(f, "{v:>width$.4}")?;
                }
                writeln!(f)?;
            }
        }
        let arrow = match self.convention {
            DeltaConvention::LibMtl => "↑",
            DeltaConvention::NashMtl => "↓",
        };
        write!(
            f,
            "{:<label_width$}",
            format!("Delta vs {} % {arrow}", self.reference)
        )?;
        for r in &self.rows {
            write!(f, "{:>width$}", format!("{:+.2}", r.delta))?;
        }
        writeln!(f)?;
        if self.rows.iter().any(|r| r.cost.is_some()) {
            let macs = |pick: fn(&CostSummary) -> u64| {
                move |r: &MethodResult| r.cost.as_ref().map(|c| mega(pick(c)))
            };
            for (label, value) in [
                ("fusion MMAC / image ↓", macs(|c| c.fusion_macs)),
                ("total MMAC / image ↓", macs(|c| c.total_macs)),
            ] {
                write!(f, "{label:<label_width$}")?;
                for r in &self.rows {
                    match value(r) {
                        Some(v) => write!(f, "{v:>width$.2}")?,
                        None => write!(f, "{:>width$}", "-")?,
                    }
                }
                writeln!(f)?;
            }
        }
        write!(f, "{:<label_width$}", "training time (s)")?;
        for r in &self.rows {
            write!(f, "{:>width$.0}", r.seconds)?;
        }
        writeln!(f)?;
        writeln!(f, "Delta: {}", self.convention.label())
    }
}

/// An SVG plot of every edge's `sigmoid(alpha)` over the search, from the logits recorded in
/// `history`, one line per edge in its source task's colour; the kept edges (of
/// `architecture`) solid, the pruned ones dashed.
pub fn logit_trajectories_svg(history: &[IterationLog], architecture: &Architecture) -> String {
    let points: Vec<(usize, &Vec<f32>)> = history
        .iter()
        .filter_map(|h| h.logits.as_ref().map(|l| (h.iteration, l)))
        .collect();
    let (width, height, left, top, right, bottom) = (720.0, 420.0, 60.0, 40.0, 20.0, 50.0);
    let plot_w = width - left - right;
    let plot_h = height - top - bottom;
    let last = points.last().map_or(1, |(i, _)| *i).max(1) as f64;
    let x = |i: usize| left + plot_w * i as f64 / last;
    let y = |p: f64| top + plot_h * (1.0 - p);
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        svg,
        r#"<text x="{:.0}" y="22" text-anchor="middle" font-size="15">sigmoid(logit) of every candidate edge over the search</text>"#,
        width / 2.0
    );
    // Axes and grid.
    for p in [0.0, 0.25, 0.5, 0.75, 1.0] {
        let _ = writeln!(
            svg,
            r##"<line x1="{left}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#e0e0e0"/><text x="{:.1}" y="{:.1}" text-anchor="end" fill="#555">{p:.2}</text>"##,
            y(p),
            left + plot_w,
            y(p),
            left - 6.0,
            y(p) + 4.0
        );
    }
    let _ = writeln!(
        svg,
        r##"<line x1="{left}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#333"/><text x="{:.1}" y="{:.1}" text-anchor="middle" fill="#333">iteration</text>"##,
        y(0.0),
        left + plot_w,
        y(0.0),
        left + plot_w / 2.0,
        height - 15.0
    );
    for k in 0..=4 {
        let iteration = (last * k as f64 / 4.0).round() as usize;
        let _ = writeln!(
            svg,
            r##"<line x1="{0:.1}" y1="{1:.1}" x2="{0:.1}" y2="{2:.1}" stroke="#333"/><text x="{0:.1}" y="{3:.1}" text-anchor="middle" fill="#555">{iteration}</text>"##,
            x(iteration),
            y(0.0),
            y(0.0) + 5.0,
            y(0.0) + 18.0
        );
    }
    for (e, decision) in architecture.edges.iter().enumerate() {
        let mut path = String::new();
        for (k, (iteration, logits)) in points.iter().enumerate() {
            let Some(&logit) = logits.get(e) else {
                continue;
            };
            let p = sigmoid_scalar(logit as f64);
            let _ = write!(
                path,
                "{}{:.1},{:.1} ",
                if k == 0 { "M" } else { "L" },
                x(*iteration),
                y(p)
            );
        }
        let dash = if decision.kept {
            ""
        } else {
            r#" stroke-dasharray="4,3""#
        };
        let _ = writeln!(
            svg,
            r#"<path d="{path}" fill="none" stroke="{}" stroke-width="1.3" opacity="0.8"{dash}><title>{} (final sigmoid {:.3}{})</title></path>"#,
            task_colour(decision.edge.source.task),
            xml(&decision.name),
            decision.probability,
            if decision.kept { ", kept" } else { ", pruned" }
        );
    }
    // Legend: one entry per source task.
    for (task, name) in architecture.space.tasks().iter().enumerate() {
        let ly = top + 16.0 * task as f64 + 10.0;
        let _ = writeln!(
            svg,
            r#"<line x1="{:.1}" y1="{ly:.1}" x2="{:.1}" y2="{ly:.1}" stroke="{c}" stroke-width="2"/><text x="{:.1}" y="{:.1}" fill="{c}">edges from {}</text>"#,
            left + plot_w - 150.0,
            left + plot_w - 130.0,
            left + plot_w - 125.0,
            ly + 4.0,
            xml(name),
            c = task_colour(task)
        );
    }
    svg.push_str("</svg>\n");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{Metric, TaskMetrics};
    use crate::space::{BranchDescription, EdgeRule, SearchSpace};

    fn evaluation(miou: f64, angle: f64) -> Evaluation {
        Evaluation {
            losses: vec![1.0, 1.0],
            metrics: vec![
                TaskMetrics {
                    task: "seg".into(),
                    metrics: vec![Metric::higher("mIoU")],
                    values: vec![miou],
                },
                TaskMetrics {
                    task: "normal".into(),
                    metrics: vec![Metric::lower("angle mean")],
                    values: vec![angle],
                },
            ],
        }
    }

    #[test]
    fn table_computes_deltas_against_the_reference() {
        // Searched: mIoU 0.5 -> 0.55 (+10%), angle 20 -> 19 (+5%): Delta (10 + 5) / 2 = +7.5.
        let table = ResultsTable::new(
            vec![
                ("single-task".into(), evaluation(0.5, 20.0), 10.0),
                ("searched".into(), evaluation(0.55, 19.0), 30.0),
            ],
            "single-task",
            DeltaConvention::LibMtl,
        )
        .unwrap();
        assert!((table.row("searched").unwrap().delta - 7.5).abs() < 1e-9);
        assert_eq!(table.row("single-task").unwrap().delta, 0.0);
        let text = table.to_string();
        assert!(
            text.contains("seg mIoU ↑") && text.contains("+7.50"),
            "{text}"
        );
        assert!(
            text.contains("LibMTL convention, higher is better"),
            "{text}"
        );
        assert!(ResultsTable::new(vec![], "x", DeltaConvention::LibMtl).is_err());
    }

    #[test]
    fn trajectories_plot_every_edge() {
        let b = |t: &str| BranchDescription::from_stages(t, &[(2, 8, 1)]);
        let space = SearchSpace::from_branches(&[b("a"), b("b")], EdgeRule::same_stage()).unwrap();
        let arch = Architecture::from_logits(&space, &[3.0, -2.0, 0.5, -0.1, 4.0, -5.0]).unwrap();
        let history: Vec<IterationLog> = (0..3)
            .map(|i| IterationLog {
                iteration: i * 10,
                architecture_losses: vec![],
                weight_losses: vec![],
                entropy: 0.0,
                entropy_weight: 0.0,
                temperature: 0.0,
                learning_rate: 0.0,
                kept_edges: 0,
                logits: Some(vec![i as f32; 6]),
            })
            .collect();
        let svg = logit_trajectories_svg(&history, &arch);
        assert_eq!(svg.matches("<path").count(), 6);
        assert_eq!(svg.matches("stroke-dasharray").count(), 3);
        assert!(svg.contains("edges from a") && svg.contains("edges from b"));
    }
}
