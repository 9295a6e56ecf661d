//! Tasks: what each branch predicts, the loss that trains it, and the metrics that judge it.
//!
//! Every dense task resizes its prediction to the target's size (bilinear; the reference uses
//! `align_corners=True` for this upsampling) before the loss and the metrics.

mod classification;
mod depth;
mod normals;
mod regression;
mod segmentation;

pub use classification::Classification;
pub use depth::{Depth, DepthLoss};
pub use normals::SurfaceNormals;
pub use regression::{DenseRegression, RegressionLoss};
pub use segmentation::Segmentation;

use std::fmt::Debug;

use burn::tensor::{Int, Tensor};

use crate::data::Target;
use crate::metrics::{Metric, MetricAccumulator};
use crate::{Error, Result};

/// One task of a multi-task problem: its head size, its loss and its metrics.
pub trait Task: Debug + Send + Sync {
    /// The task's name (matches its branch's name in the search space).
    fn name(&self) -> &str;

    /// Channels the branch's head must output.
    fn outputs(&self) -> usize;

    /// The loss of `prediction` (the head's output `[batch, outputs, h, w]`) against `target`,
    /// a scalar `[1]` averaged over the batch.
    ///
    /// # Errors
    /// A target of the wrong kind or shape for this task.
    fn loss(&self, prediction: Tensor<4>, target: &Target) -> Result<Tensor<1>>;

    /// The metrics this task reports, in order, each saying whether higher is better.
    fn metrics(&self) -> Vec<Metric>;

    /// A fresh accumulator of [`Task::metrics`] over a dataset.
    fn accumulator(&self) -> Box<dyn MetricAccumulator>;
}

/// The error for a target of the wrong kind.
pub(crate) fn wrong_target(task: &str, expected: &str, target: &Target) -> Error {
    let actual = match target {
        Target::Dense { values, .. } => format!("dense values {:?}", values.dims()),
        Target::Labels(l) => format!("labels {:?}", l.dims()),
        Target::Class(c) => format!("classes {:?}", c.dims()),
        Target::SoftLabels(s) => format!("soft labels {:?}", s.dims()),
    };
    Error::shape(format!("target of task `{task}`"), expected, actual)
}

/// Checks the prediction's batch and channels.
pub(crate) fn check_prediction(
    task: &str,
    prediction: &Tensor<4>,
    batch: usize,
    channels: usize,
) -> Result<()> {
    let [b, c, _, _] = prediction.dims();
    if b != batch || c != channels {
        return Err(Error::shape(
            format!("prediction of task `{task}`"),
            format!("batch {batch} with {channels} channels"),
            format!("batch {b} with {c} channels"),
        ));
    }
    Ok(())
}

pub(crate) fn host_f32<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    crate::arch::tensor_to_vec(t)
}

pub(crate) fn host_i64<const D: usize>(t: Tensor<D, Int>) -> Vec<i64> {
    t.into_data().try_into_vec_as::<i64>().unwrap_or_default()
}
