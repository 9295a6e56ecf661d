//! Metrics accumulated over a whole test set, and the multi-task summary against single-task
//! baselines.

mod angles;
mod confusion;
mod delta;
mod errors;

pub use angles::{ANGLE_THRESHOLDS, AngleErrors};
pub use confusion::ConfusionMatrix;
pub use delta::{DeltaConvention, multi_task_delta};
pub use errors::{DepthErrors, ValueErrors};

use std::fmt;

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use crate::Result;
use crate::data::Target;

/// One metric a task reports.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metric {
    /// Its name, e.g. `mIoU` or `angle mean (deg)`.
    pub name: String,
    /// Whether a larger value is better.
    pub higher_is_better: bool,
}

impl Metric {
    /// A metric where larger is better.
    pub fn higher(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            higher_is_better: true,
        }
    }

    /// A metric where smaller is better.
    pub fn lower(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            higher_is_better: false,
        }
    }
}

/// Accumulates a task's metrics batch by batch, then reports them for the whole set.
pub trait MetricAccumulator: Send {
    /// Adds one batch: `prediction` is the head output `[batch, outputs, h, w]`.
    ///
    /// # Errors
    /// A target of the wrong kind or shape.
    fn update(&mut self, prediction: Tensor<4>, target: &Target) -> Result<()>;

    /// Adds one batch's task loss (its mean over the batch's `samples` samples), for
    /// accumulators that report the loss; the evaluation calls it beside
    /// [`MetricAccumulator::update`]. Ignored by default.
    fn add_loss(&mut self, loss: f64, samples: usize) {
        let _ = (loss, samples);
    }

    /// The metric values over everything added so far, in the task's metric order.
    fn values(&self) -> Vec<f64>;
}

/// The task's mean loss over the set as its one metric (`loss`, lower is better): what a
/// [`Task`](crate::task::Task) reports unless it names metrics of its own.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MeanLoss {
    sum: f64,
    samples: usize,
}

impl MetricAccumulator for MeanLoss {
    fn update(&mut self, _prediction: Tensor<4>, _target: &Target) -> Result<()> {
        Ok(())
    }

    fn add_loss(&mut self, loss: f64, samples: usize) {
        self.sum += loss * samples as f64;
        self.samples += samples;
    }

    /// `[sum of batch loss x batch size / samples]`, NaN before any batch.
    fn values(&self) -> Vec<f64> {
        vec![self.sum / self.samples as f64]
    }
}

/// A task's metric values over a dataset.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskMetrics {
    /// The task.
    pub task: String,
    /// The metrics, in order.
    pub metrics: Vec<Metric>,
    /// Their values.
    pub values: Vec<f64>,
}

impl TaskMetrics {
    /// The value of the metric called `name`.
    pub fn get(&self, name: &str) -> Option<f64> {
        self.metrics
            .iter()
            .position(|m| m.name == name)
            .map(|i| self.values[i])
    }
}

impl fmt::Display for TaskMetrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:", self.task)?;
        for (m, v) in self.metrics.iter().zip(&self.values) {
            let arrow = if m.higher_is_better { "↑" } else { "↓" };
            write!(f, " {} {arrow} {v:.4}", m.name)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_loss_weights_each_batch_by_its_samples() {
        let mut mean = MeanLoss::default();
        assert!(mean.values()[0].is_nan());
        // Batches of 3 samples at mean loss 2 and 1 sample at 5: (3 * 2 + 5) / 4 = 2.75.
        mean.add_loss(2.0, 3);
        mean.add_loss(5.0, 1);
        assert_eq!(mean.values(), [2.75]);
    }
}
