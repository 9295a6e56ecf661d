//! Metrics accumulated over a whole test set, and the multi-task summary against single-task
//! baselines.

mod angles;
mod confusion;
mod delta;
mod errors;

pub use angles::AngleErrors;
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

    /// The metric values over everything added so far, in the task's metric order.
    fn values(&self) -> Vec<f64>;
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
