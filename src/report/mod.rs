//! What a run reports: the results table of every method against the single-task baseline
//! (one seed, or the mean and standard deviation over seeds), and the plot of the logits'
//! trajectories over a search.

mod seeds;

pub use seeds::{MeanStd, MethodOverSeeds, SeedSummary};

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::cost::{CostSummary, mega};
use crate::metrics::{DeltaConvention, multi_task_delta};
use crate::search::Evaluation;
use crate::{Error, Result};

mod picture;
pub(crate) use picture::task_colour;
mod plots;
pub use plots::{ParetoPoint, logit_trajectories_svg, pareto_svg};

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

/// The widths of a results table's columns: the label column's, then every method's.
type ColumnWidths = (usize, usize);

impl ResultsTable {
    /// The label column's width (the longest `task metric arrow`, at least 24) and every
    /// method column's (the longest method name, at least 10, and two spaces), after the
    /// metrics of `first`.
    fn column_widths(&self, first: &MethodResult) -> ColumnWidths {
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
        (label_width, width)
    }

    /// The header line: `metric`, then every method's name.
    fn write_header(
        &self,
        f: &mut fmt::Formatter<'_>,
        (label_width, width): ColumnWidths,
    ) -> fmt::Result {
        write!(f, "{:<label_width$}", "metric")?;
        for r in &self.rows {
            write!(f, "{:>width$}", r.method)?;
        }
        writeln!(f)
    }

    /// One line per task and metric (those of `first`), with its direction.
    fn write_metric_rows(
        &self,
        f: &mut fmt::Formatter<'_>,
        first: &MethodResult,
        (label_width, width): ColumnWidths,
    ) -> fmt::Result {
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
        Ok(())
    }

    /// The Delta line against the reference, its direction after the convention.
    fn write_delta_row(
        &self,
        f: &mut fmt::Formatter<'_>,
        (label_width, width): ColumnWidths,
    ) -> fmt::Result {
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
        writeln!(f)
    }

    /// The fusion and total MAC lines in MMAC per image, `-` where a method's cost is not
    /// counted; none where no method's is.
    fn write_mac_rows(
        &self,
        f: &mut fmt::Formatter<'_>,
        (label_width, width): ColumnWidths,
    ) -> fmt::Result {
        if !self.rows.iter().any(|r| r.cost.is_some()) {
            return Ok(());
        }
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
        Ok(())
    }

    /// The line of training (or search) seconds.
    fn write_training_time_row(
        &self,
        f: &mut fmt::Formatter<'_>,
        (label_width, width): ColumnWidths,
    ) -> fmt::Result {
        write!(f, "{:<label_width$}", "training time (s)")?;
        for r in &self.rows {
            write!(f, "{:>width$.0}", r.seconds)?;
        }
        writeln!(f)
    }
}

impl fmt::Display for ResultsTable {
    /// Metrics as rows (with their direction), methods as columns, then the Delta and the
    /// training time.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(first) = self.rows.first() else {
            return Ok(());
        };
        let widths = self.column_widths(first);
        self.write_header(f, widths)?;
        self.write_metric_rows(f, first, widths)?;
        self.write_delta_row(f, widths)?;
        self.write_mac_rows(f, widths)?;
        self.write_training_time_row(f, widths)?;
        writeln!(f, "Delta: {}", self.convention.label())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{Metric, TaskMetrics};

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
}
