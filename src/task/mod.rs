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
use crate::metrics::{MeanLoss, Metric, MetricAccumulator};
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

    /// The metrics this task reports, in order, each saying whether higher is better. By
    /// default one: the task's mean `loss` over the test set (lower is better).
    fn metrics(&self) -> Vec<Metric> {
        vec![Metric::lower("loss")]
    }

    /// A fresh accumulator of [`Task::metrics`] over a dataset; by default [`MeanLoss`], which
    /// goes with the default metrics. A task that names its own metrics returns its own.
    fn accumulator(&self) -> Box<dyn MetricAccumulator> {
        Box::new(MeanLoss::default())
    }
}

/// The names of `tasks`, in order.
pub(crate) fn task_names(tasks: &[Box<dyn Task>]) -> Vec<&str> {
    tasks.iter().map(|t| t.name()).collect()
}

/// Resizes a dense prediction `[batch, channels, h, w]` to the size of its per-pixel `target`
/// ([`Target::Dense`] `[batch, c, height, width]` or [`Target::Labels`] `[batch, height,
/// width]`) by bilinear interpolation, as the crate's dense tasks do before their loss:
/// branches may predict at a stride, targets are at full resolution. `align_corners` as in
/// PyTorch's `F.interpolate` (the reference upsamples normals with `true`). A prediction of
/// the target's size, or a per-image target, is returned as it is.
pub fn resize_to_target(prediction: Tensor<4>, target: &Target, align_corners: bool) -> Tensor<4> {
    let size = match target {
        Target::Dense { values, .. } => {
            let [_, _, height, width] = values.dims();
            [height, width]
        }
        Target::Labels(labels) => {
            let [_, height, width] = labels.dims();
            [height, width]
        }
        Target::Class(_) | Target::SoftLabels(_) => return prediction,
    };
    crate::resample::resize_bilinear(prediction, size, align_corners)
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

pub(crate) fn host_f32<const D: usize>(t: Tensor<D>) -> Result<Vec<f32>> {
    crate::arch::tensor_to_vec(t)
}

pub(crate) fn host_i64<const D: usize>(t: Tensor<D, Int>) -> Result<Vec<i64>> {
    (t.into_data().try_into_vec_as::<i64>())
        .map_err(|e| Error::Device(format!("reading labels back to the host failed: {e:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Device;

    #[test]
    fn predictions_are_resized_to_per_pixel_targets_only() {
        let device = Device::flex();
        // A constant 2 x 2 prediction stays constant under bilinear resizing.
        let prediction = Tensor::<4>::full([1, 2, 2, 2], 0.5, &device);
        let labels = Target::Labels(Tensor::zeros([1, 4, 6], &device));
        let resized = resize_to_target(prediction.clone(), &labels, false);
        assert_eq!(resized.dims(), [1, 2, 4, 6]);
        let values = host_f32(resized).unwrap();
        assert!(values.iter().all(|&v| (v - 0.5).abs() < 1e-6));
        let dense = Target::Dense {
            values: Tensor::zeros([1, 1, 3, 5], &device),
            valid: Tensor::ones([1, 1, 3, 5], &device),
        };
        assert_eq!(
            resize_to_target(prediction.clone(), &dense, true).dims(),
            [1, 2, 3, 5]
        );
        let class = Target::Class(Tensor::zeros([1], &device));
        assert_eq!(
            resize_to_target(prediction, &class, false).dims(),
            [1, 2, 2, 2]
        );
    }
}
