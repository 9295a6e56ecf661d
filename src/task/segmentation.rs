//! Semantic segmentation: masked cross-entropy, mIoU and pixel accuracy.

use burn::tensor::Tensor;
use burn::tensor::activation::log_softmax;

use super::{Task, check_prediction, host_i64, wrong_target};
use crate::Result;
use crate::data::Target;
use crate::metrics::{ConfusionMatrix, Metric, MetricAccumulator};
use crate::resample::resize_bilinear;

/// Per-pixel classification into `classes` classes. Labels outside `0..classes` (the ignore
/// value 255) are left out of the loss and the metrics.
#[derive(Clone, Debug)]
pub struct Segmentation {
    name: String,
    classes: usize,
    align_corners: bool,
}

impl Segmentation {
    /// Segmentation into `classes` classes (40 on NYUv2 in the reference, 13 in MTAN's set).
    pub fn new(name: impl Into<String>, classes: usize) -> Self {
        Self {
            name: name.into(),
            classes,
            align_corners: true,
        }
    }

    /// The logits resized to the labels' size.
    fn upsampled(
        &self,
        prediction: Tensor<4>,
        labels: &Tensor<3, burn::tensor::Int>,
    ) -> Result<Tensor<4>> {
        let [batch, height, width] = labels.dims();
        check_prediction(&self.name, &prediction, batch, self.classes)?;
        Ok(resize_bilinear(
            prediction,
            [height, width],
            self.align_corners,
        ))
    }
}

impl Task for Segmentation {
    fn name(&self) -> &str {
        &self.name
    }

    fn outputs(&self) -> usize {
        self.classes
    }

    /// Mean over labelled pixels of `-log softmax(logits)[label]`.
    fn loss(&self, prediction: Tensor<4>, target: &Target) -> Result<Tensor<1>> {
        let Target::Labels(labels) = target else {
            return Err(wrong_target(&self.name, "per-pixel labels", target));
        };
        let logits = self.upsampled(prediction, labels)?;
        let labels = labels.clone();
        let valid = labels
            .clone()
            .greater_equal_elem(0)
            .bool_and(labels.clone().lower_elem(self.classes as i64));
        // Ignored pixels read class 0 and are masked out after the gather.
        let safe = labels.mask_fill(valid.clone().bool_not(), 0);
        let log_probabilities = log_softmax(logits, 1);
        let picked = log_probabilities
            .gather(1, safe.unsqueeze_dim::<4>(1))
            .squeeze_dim::<3>(1);
        let valid = valid.float();
        let count = valid.clone().sum().clamp_min(1.0);
        Ok((picked * valid).sum().neg() / count)
    }

    fn metrics(&self) -> Vec<Metric> {
        vec![Metric::higher("mIoU"), Metric::higher("pixel acc")]
    }

    fn accumulator(&self) -> Box<dyn MetricAccumulator> {
        Box::new(SegmentationMetrics {
            task: self.clone(),
            confusion: ConfusionMatrix::new(self.classes),
        })
    }
}

struct SegmentationMetrics {
    task: Segmentation,
    confusion: ConfusionMatrix,
}

impl MetricAccumulator for SegmentationMetrics {
    fn update(&mut self, prediction: Tensor<4>, target: &Target) -> Result<()> {
        let Target::Labels(labels) = target else {
            return Err(wrong_target(&self.task.name, "per-pixel labels", target));
        };
        let logits = self.task.upsampled(prediction, labels)?;
        let predicted = host_i64(logits.argmax(1))?;
        let truth = host_i64(labels.clone())?;
        self.confusion.add(&predicted, &truth);
        Ok(())
    }

    fn values(&self) -> Vec<f64> {
        vec![self.confusion.mean_iou(), self.confusion.pixel_accuracy()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::tensor_to_vec;
    use burn::tensor::{Device, TensorData};

    #[test]
    fn masked_cross_entropy_by_hand() {
        // One 1x3 image, 2 classes. Logits per pixel: (0, 0), (2, 0), (0, 1); labels 0, 0, 255.
        // -log softmax: pixel 0 -> ln 2 = 0.693147; pixel 1 -> ln(1 + e^-2) = 0.126928;
        // pixel 2 ignored. Mean over 2 labelled pixels: 0.410038.
        let device = Device::flex();
        let logits = Tensor::<4>::from_floats([[[[0.0, 2.0, 0.0]], [[0.0, 0.0, 1.0]]]], &device);
        let labels = Tensor::from_data(TensorData::new(vec![0i32, 0, 255], [1, 1, 3]), &device);
        let task = Segmentation::new("seg", 2);
        let loss = tensor_to_vec(
            task.loss(logits.clone(), &Target::Labels(labels.clone()))
                .unwrap(),
        )
        .unwrap();
        assert!((loss[0] - 0.410038).abs() < 1e-5, "{loss:?}");
        let mut acc = task.accumulator();
        acc.update(logits, &Target::Labels(labels)).unwrap();
        // Predictions 0 (tie -> first), 0, 1 (ignored): both labelled pixels right, class 1
        // absent: mIoU (1 + 0) / 2.
        assert_eq!(acc.values(), vec![0.5, 1.0]);
    }
}
