//! Results over seeds: every method's metrics, Delta and cost as mean and standard deviation,
//! with the differences to the searched network that exceed two standard errors marked.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::ResultsTable;
use crate::cost::mega;
use crate::metrics::DeltaConvention;
use crate::{Error, Result};

/// Mean and sample standard deviation (`n - 1` in the denominator) of some numbers.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct MeanStd {
    /// The mean.
    pub mean: f64,
    /// The sample standard deviation (0 for one number).
    pub std: f64,
    /// How many numbers.
    pub count: usize,
}

impl MeanStd {
    /// The mean and standard deviation of `values` (NaN mean for none).
    pub fn of(values: &[f64]) -> Self {
        let count = values.len();
        let mean = values.iter().sum::<f64>() / count as f64;
        let std = if count > 1 {
            let squares: f64 = values.iter().map(|v| (v - mean).powi(2)).sum();
            (squares / (count - 1) as f64).sqrt()
        } else {
            0.0
        };
        Self { mean, std, count }
    }

    /// The standard error of the mean, `std / sqrt(n)`.
    pub fn standard_error(&self) -> f64 {
        self.std / (self.count.max(1) as f64).sqrt()
    }

    /// Whether the mean is further from 0 than two standard errors (never for one number).
    pub fn exceeds_two_standard_errors(&self) -> bool {
        self.count > 1 && self.mean.abs() > 2.0 * self.standard_error()
    }
}

/// One method over every seed: each value as mean +- std, and its difference to the searched
/// network paired by seed (this method's value minus the searched one's, seed by seed).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MethodOverSeeds {
    /// The method.
    pub method: String,
    /// Per task, per metric (in the tables' order).
    pub metrics: Vec<Vec<MeanStd>>,
    /// The Delta against the single-task baseline.
    pub delta: MeanStd,
    /// Fusion MACs per image (where counted).
    pub fusion_macs: Option<MeanStd>,
    /// All MACs per image (where counted).
    pub total_macs: Option<MeanStd>,
    /// Training (or search) seconds.
    pub seconds: MeanStd,
    /// Seed-paired differences to the searched network, per task per metric.
    pub metric_differences: Vec<Vec<MeanStd>>,
    /// Seed-paired difference of the Delta to the searched network's.
    pub delta_difference: MeanStd,
}

/// Every method's results over seeds, and the per-seed tables they come from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SeedSummary {
    /// The methods, in the tables' order.
    pub methods: Vec<MethodOverSeeds>,
    /// The method differences are measured against (the searched network).
    pub compared_to: String,
    /// The seeds, in the order of `tables`.
    pub seeds: Vec<u64>,
    /// Every seed's own table.
    pub tables: Vec<ResultsTable>,
}

impl SeedSummary {
    /// Summarises `tables` (one per seed in `seeds`, every one with the same methods, tasks and
    /// metrics) against the method called `compared_to`.
    ///
    /// # Errors
    /// No table, a seed count other than the table count, tables with other methods or
    /// metrics than the first, or no method called `compared_to`.
    pub fn new(tables: Vec<ResultsTable>, seeds: Vec<u64>, compared_to: &str) -> Result<Self> {
        let first = tables
            .first()
            .ok_or_else(|| Error::config("seed summary", "at least one seed's table is needed"))?;
        if seeds.len() != tables.len() {
            return Err(Error::shape(
                "seed summary",
                format!("{} seeds (one per table)", tables.len()),
                seeds.len().to_string(),
            ));
        }
        let layout = |t: &ResultsTable| -> Vec<(String, Vec<String>)> {
            t.rows
                .iter()
                .flat_map(|r| {
                    r.evaluation.metrics.iter().map(|m| {
                        let names = m.metrics.iter().map(|x| x.name.clone()).collect();
                        (format!("{}/{}", r.method, m.task), names)
                    })
                })
                .collect()
        };
        if let Some(bad) = tables.iter().position(|t| layout(t) != layout(first)) {
            return Err(Error::config(
                "seed summary",
                format!(
                    "the table of seed {} has other methods or metrics",
                    seeds[bad]
                ),
            ));
        }
        let compared = first
            .rows
            .iter()
            .position(|r| r.method == compared_to)
            .ok_or_else(|| {
                Error::config("seed summary", format!("no method called `{compared_to}`"))
            })?;
        let methods = (0..first.rows.len())
            .map(|row| summarise(&tables, row, compared))
            .collect();
        Ok(Self {
            methods,
            compared_to: compared_to.to_string(),
            seeds,
            tables,
        })
    }

    /// The summary of `method`.
    pub fn method(&self, method: &str) -> Option<&MethodOverSeeds> {
        self.methods.iter().find(|m| m.method == method)
    }
}

/// Row `row` of every table, against row `compared`.
fn summarise(tables: &[ResultsTable], row: usize, compared: usize) -> MethodOverSeeds {
    let over = |value: &dyn Fn(&ResultsTable, usize) -> f64| {
        let values: Vec<f64> = tables.iter().map(|t| value(t, row)).collect();
        let paired: Vec<f64> = tables
            .iter()
            .map(|t| value(t, row) - value(t, compared))
            .collect();
        (MeanStd::of(&values), MeanStd::of(&paired))
    };
    let first = &tables[0].rows[row];
    let mut metrics = Vec::new();
    let mut metric_differences = Vec::new();
    for (task, task_metrics) in first.evaluation.metrics.iter().enumerate() {
        let (values, differences): (Vec<_>, Vec<_>) = (0..task_metrics.values.len())
            .map(|m| over(&|t, r| t.rows[r].evaluation.metrics[task].values[m]))
            .unzip();
        metrics.push(values);
        metric_differences.push(differences);
    }
    let (delta, delta_difference) = over(&|t, r| t.rows[r].delta);
    let macs = |pick: fn(&crate::cost::CostSummary) -> u64| {
        let values: Option<Vec<f64>> = tables
            .iter()
            .map(|t| t.rows[row].cost.as_ref().map(|c| pick(c) as f64))
            .collect();
        values.map(|v| MeanStd::of(&v))
    };
    MethodOverSeeds {
        method: first.method.clone(),
        metrics,
        delta,
        fusion_macs: macs(|c| c.fusion_macs),
        total_macs: macs(|c| c.total_macs),
        seconds: over(&|t, r| t.rows[r].seconds).0,
        metric_differences,
        delta_difference,
    }
}

/// The width of the seed summary's label column.
const LABEL_WIDTH: usize = 26;

/// One cell of the seed summary: `mean±std` with `digits` decimals, then `*` if `marked`,
/// right-aligned in `width`.
fn write_cell(
    f: &mut fmt::Formatter<'_>,
    value: MeanStd,
    marked: bool,
    digits: usize,
    width: usize,
) -> fmt::Result {
    let text = format!(
        "{:.digits$}±{:.digits$}{}",
        value.mean,
        value.std,
        if marked { "*" } else { " " }
    );
    write!(f, "{text:>width$}")
}

impl SeedSummary {
    /// The width of every method's column: its longest name (at least 16) and two spaces.
    fn column_width(&self) -> usize {
        self.methods
            .iter()
            .map(|m| m.method.len())
            .max()
            .unwrap_or(8)
            .max(16)
            + 2
    }

    /// The header line: `metric`, then every method's name.
    fn write_header(&self, f: &mut fmt::Formatter<'_>, width: usize) -> fmt::Result {
        write!(f, "{:<LABEL_WIDTH$}", "metric")?;
        for m in &self.methods {
            write!(f, "{:>width$}", format!("{} ", m.method))?;
        }
        writeln!(f)
    }

    /// One line per task and metric, with its direction, each method's value marked where its
    /// seed-paired difference exceeds two standard errors.
    fn write_metric_rows(&self, f: &mut fmt::Formatter<'_>, width: usize) -> fmt::Result {
        let first = &self.tables[0];
        for (task, metrics) in first.rows[0].evaluation.metrics.iter().enumerate() {
            for (index, metric) in metrics.metrics.iter().enumerate() {
                let arrow = if metric.higher_is_better {
                    "↑"
                } else {
                    "↓"
                };
                write!(
                    f,
                    "{:<LABEL_WIDTH$}",
                    format!("{} {} {arrow}", metrics.task, metric.name)
                )?;
                for m in &self.methods {
                    let mark = m.metric_differences[task][index].exceeds_two_standard_errors();
                    write_cell(f, m.metrics[task][index], mark, 4, width)?;
                }
                writeln!(f)?;
            }
        }
        Ok(())
    }

    /// The Delta line, its direction after the convention, marked like the metrics.
    fn write_delta_row(&self, f: &mut fmt::Formatter<'_>, width: usize) -> fmt::Result {
        let arrow = match self.tables[0].convention {
            DeltaConvention::LibMtl => "↑",
            DeltaConvention::NashMtl => "↓",
        };
        write!(f, "{:<LABEL_WIDTH$}", format!("Delta % {arrow}"))?;
        for m in &self.methods {
            let mark = m.delta_difference.exceeds_two_standard_errors();
            write_cell(f, m.delta, mark, 2, width)?;
        }
        writeln!(f)
    }

    /// The fusion and total MAC lines in MMAC per image, `-` where a method's cost is not
    /// counted.
    fn write_mac_rows(&self, f: &mut fmt::Formatter<'_>, width: usize) -> fmt::Result {
        for (label, pick) in [
            (
                "fusion MMAC / image ↓",
                (|m: &MethodOverSeeds| m.fusion_macs) as fn(&_) -> _,
            ),
            ("total MMAC / image ↓", |m: &MethodOverSeeds| m.total_macs),
        ] {
            write!(f, "{label:<LABEL_WIDTH$}")?;
            for m in &self.methods {
                match pick(m) {
                    Some(v) => {
                        let v = MeanStd {
                            mean: mega(v.mean as u64),
                            std: v.std / 1e6,
                            count: v.count,
                        };
                        write_cell(f, v, false, 2, width)?
                    }
                    None => write!(f, "{:>width$}", "- ")?,
                }
            }
            writeln!(f)?;
        }
        Ok(())
    }

    /// The line of training (or search) seconds.
    fn write_seconds_row(&self, f: &mut fmt::Formatter<'_>, width: usize) -> fmt::Result {
        write!(f, "{:<LABEL_WIDTH$}", "seconds")?;
        for m in &self.methods {
            write_cell(f, m.seconds, false, 0, width)?;
        }
        writeln!(f)
    }

    /// The two lines of notes: the seeds and what a mark means, then the Delta convention.
    fn write_notes(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} seed(s) {:?}; mean ± sample standard deviation; * = differs from {} by more than two \
             standard errors of the seed-paired difference",
            self.seeds.len(),
            self.seeds,
            self.compared_to
        )?;
        let first = &self.tables[0];
        writeln!(
            f,
            "Delta vs {}: {}",
            first.reference,
            first.convention.label()
        )
    }
}

impl fmt::Display for SeedSummary {
    /// Metrics as rows, methods as columns, each cell `mean ± std` over the seeds; a `*` marks
    /// a seed-paired difference to the searched network beyond two standard errors.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let width = self.column_width();
        self.write_header(f, width)?;
        self.write_metric_rows(f, width)?;
        self.write_delta_row(f, width)?;
        self.write_mac_rows(f, width)?;
        self.write_seconds_row(f, width)?;
        self.write_notes(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{Metric, TaskMetrics};
    use crate::search::Evaluation;

    fn table(searched: f64, other: f64) -> ResultsTable {
        let evaluation = |miou: f64| Evaluation {
            losses: vec![0.0],
            metrics: vec![TaskMetrics {
                task: "seg".into(),
                metrics: vec![Metric::higher("mIoU")],
                values: vec![miou],
            }],
        };
        ResultsTable::new(
            vec![
                ("single-task".into(), evaluation(0.5), 1.0),
                ("searched".into(), evaluation(searched), 2.0),
                ("other".into(), evaluation(other), 3.0),
            ],
            "single-task",
            DeltaConvention::LibMtl,
        )
        .unwrap()
    }

    #[test]
    fn mean_and_sample_standard_deviation_by_hand() {
        // [1, 2, 3, 6]: mean 3; squares 4 + 1 + 0 + 9 = 14; std sqrt(14 / 3) = 2.160247;
        // standard error 2.160247 / 2 = 1.080123.
        let m = MeanStd::of(&[1.0, 2.0, 3.0, 6.0]);
        assert_eq!(m.mean, 3.0);
        assert!((m.std - 2.160247).abs() < 1e-6);
        assert!((m.standard_error() - 1.080123).abs() < 1e-6);
        assert!(m.exceeds_two_standard_errors(), "3 > 2.16");
        assert_eq!(MeanStd::of(&[4.0]).std, 0.0);
        assert!(!MeanStd::of(&[4.0]).exceeds_two_standard_errors());
    }

    #[test]
    fn differences_are_paired_by_seed_and_marked_beyond_two_standard_errors() {
        // Seeds differ a lot (0.6, 0.7, 0.8) but `other` is 0.01 below `searched` in each:
        // the paired difference -0.01 has std 0, so it is marked; unpaired it would not be.
        // Deltas: searched 100 (0.6 - 0.5) / 0.5 = 20, 40, 60 -> 40 ± 20.
        let tables = vec![table(0.6, 0.59), table(0.7, 0.69), table(0.8, 0.79)];
        let summary = SeedSummary::new(tables, vec![0, 1, 2], "searched").unwrap();
        let searched = summary.method("searched").unwrap();
        assert!((searched.delta.mean - 40.0).abs() < 1e-9);
        assert!((searched.delta.std - 20.0).abs() < 1e-9);
        assert!(!searched.delta_difference.exceeds_two_standard_errors());
        let other = summary.method("other").unwrap();
        assert!((other.metric_differences[0][0].mean + 0.01).abs() < 1e-9);
        assert!(other.delta_difference.exceeds_two_standard_errors());
        let text = summary.to_string();
        assert!(text.contains("40.00±20.00"), "{text}");
        assert!(text.contains('*'), "{text}");
        // Noisy differences around 0 are not marked: +0.02, -0.03, +0.01.
        let noisy = vec![table(0.6, 0.62), table(0.7, 0.67), table(0.8, 0.81)];
        let summary = SeedSummary::new(noisy, vec![0, 1, 2], "searched").unwrap();
        assert!(
            !summary
                .method("other")
                .unwrap()
                .delta_difference
                .exceeds_two_standard_errors()
        );
    }

    #[test]
    fn mismatched_tables_are_errors() {
        assert!(SeedSummary::new(vec![], vec![], "searched").is_err());
        assert!(SeedSummary::new(vec![table(0.6, 0.6)], vec![0, 1], "searched").is_err());
        assert!(SeedSummary::new(vec![table(0.6, 0.6)], vec![0], "nobody").is_err());
    }
}
