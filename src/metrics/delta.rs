//! The multi-task summary: relative gain over single-task baselines.

use serde::{Deserialize, Serialize};

use super::TaskMetrics;
use crate::{Error, Result};

/// Which of the two published conventions a Delta follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeltaConvention {
    /// LibMTL (and MTL-NAS's Delta_p): `100 / T * sum_t 1 / M_t * sum_m s_m (N - B) / B`,
    /// `s_m = +1` where higher is better and `-1` where lower is better. **Higher is better**;
    /// 0 means "as good as single-task".
    LibMtl,
    /// Nash-MTL / CAGrad: the mean over all metrics of all tasks of `-s_m (N - B) / B`, in
    /// percent. **Lower is better**.
    NashMtl,
}

impl DeltaConvention {
    /// A short label for printouts, naming the direction.
    pub fn label(self) -> &'static str {
        match self {
            DeltaConvention::LibMtl => "Delta_p % (LibMTL convention, higher is better)",
            DeltaConvention::NashMtl => "Delta_m % (Nash-MTL convention, lower is better)",
        }
    }
}

/// The Delta of `results` against `baselines` (same tasks, same metrics, in order).
///
/// # Errors
/// Tasks or metrics that do not match, or a zero baseline value.
pub fn multi_task_delta(
    results: &[TaskMetrics],
    baselines: &[TaskMetrics],
    convention: DeltaConvention,
) -> Result<f64> {
    if results.len() != baselines.len() || results.is_empty() {
        return Err(Error::shape(
            "multi-task delta",
            format!("{} single-task baselines", results.len()),
            baselines.len().to_string(),
        ));
    }
    let mut per_task = Vec::new();
    let mut all = Vec::new();
    for (r, b) in results.iter().zip(baselines) {
        if r.task != b.task || r.metrics != b.metrics {
            return Err(Error::shape(
                "multi-task delta",
                format!("baseline for task `{}` with the same metrics", r.task),
                format!("task `{}`", b.task),
            ));
        }
        let gains: Vec<f64> = r
            .metrics
            .iter()
            .zip(r.values.iter().zip(&b.values))
            .map(|(m, (&new, &base))| {
                if base == 0.0 {
                    return Err(Error::config(
                        "multi-task delta",
                        format!("baseline `{}` of task `{}` is 0", m.name, r.task),
                    ));
                }
                let sign = if m.higher_is_better { 1.0 } else { -1.0 };
                Ok(sign * (new - base) / base)
            })
            .collect::<Result<_>>()?;
        per_task.push(gains.iter().sum::<f64>() / gains.len().max(1) as f64);
        all.extend(gains);
    }
    Ok(match convention {
        DeltaConvention::LibMtl => 100.0 * per_task.iter().sum::<f64>() / per_task.len() as f64,
        DeltaConvention::NashMtl => -100.0 * all.iter().sum::<f64>() / all.len() as f64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Metric;

    #[test]
    fn hand_computed_delta() {
        // Task seg: mIoU 0.30 -> 0.33 (+10%), pixel acc 0.60 -> 0.60 (0%): task mean +5%.
        // Task normal: mean angle 20 -> 18 (lower is better: +10%), within 11.25 40 -> 38
        // (-5%): task mean +2.5%. LibMTL: (5 + 2.5) / 2 = 3.75. Nash-MTL: -(10 + 0 + 10 - 5)
        // / 4 = -3.75.
        let seg = |iou, acc| TaskMetrics {
            task: "seg".into(),
            metrics: vec![Metric::higher("mIoU"), Metric::higher("pixel acc")],
            values: vec![iou, acc],
        };
        let normal = |mean, within| TaskMetrics {
            task: "normal".into(),
            metrics: vec![Metric::lower("mean"), Metric::higher("11.25")],
            values: vec![mean, within],
        };
        let results = [seg(0.33, 0.60), normal(18.0, 38.0)];
        let baselines = [seg(0.30, 0.60), normal(20.0, 40.0)];
        let lib = multi_task_delta(&results, &baselines, DeltaConvention::LibMtl).unwrap();
        assert!((lib - 3.75).abs() < 1e-9, "{lib}");
        let nash = multi_task_delta(&results, &baselines, DeltaConvention::NashMtl).unwrap();
        assert!((nash + 3.75).abs() < 1e-9, "{nash}");
        assert!(multi_task_delta(&results, &baselines[..1], DeltaConvention::LibMtl).is_err());
        let zero = [seg(0.0, 0.6), normal(20.0, 40.0)];
        assert!(multi_task_delta(&results, &zero, DeltaConvention::LibMtl).is_err());
    }
}
