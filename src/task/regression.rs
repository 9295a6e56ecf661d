//! Per-pixel regression with a validity mask.

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use super::{Task, check_prediction, host_f32, wrong_target};
use crate::Result;
use crate::data::Target;
use crate::metrics::{Metric, MetricAccumulator, ValueErrors};
use crate::resample::resize_bilinear;

/// The per-element error a [`DenseRegression`] averages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RegressionLoss {
    /// `|prediction - target|`.
    L1,
    /// `(prediction - target)^2`.
    L2,
}

/// Regression of per-pixel values: the prediction is resized (bilinear) to the target's size
/// and the error is averaged over valid pixels and channels.
#[derive(Clone, Debug)]
pub struct DenseRegression {
    name: String,
    channels: usize,
    loss: RegressionLoss,
}

impl DenseRegression {
    /// A task predicting `channels` values per pixel.
    pub fn new(name: impl Into<String>, channels: usize, loss: RegressionLoss) -> Self {
        Self {
            name: name.into(),
            channels,
            loss,
        }
    }
}

impl Task for DenseRegression {
    fn name(&self) -> &str {
        &self.name
    }

    fn outputs(&self) -> usize {
        self.channels
    }

    fn loss(&self, prediction: Tensor<4>, target: &Target) -> Result<Tensor<1>> {
        let (prediction, values, valid) = self.prepare(prediction, target)?;
        let difference = prediction - values;
        let error = match self.loss {
            RegressionLoss::L1 => difference.abs(),
            RegressionLoss::L2 => difference.square(),
        };
        let channels = self.channels as f64;
        let masked = (error * valid.clone()).sum();
        let count = valid.sum().mul_scalar(channels).clamp_min(1.0);
        Ok(masked / count)
    }

    fn metrics(&self) -> Vec<Metric> {
        vec![Metric::lower("mae"), Metric::lower("mse")]
    }

    fn accumulator(&self) -> Box<dyn MetricAccumulator> {
        Box::new(RegressionMetrics {
            task: self.clone(),
            errors: ValueErrors::new(),
        })
    }
}

impl DenseRegression {
    /// Prediction resized to the target, the target values, and validity `[batch, 1, h, w]`.
    fn prepare(
        &self,
        prediction: Tensor<4>,
        target: &Target,
    ) -> Result<(Tensor<4>, Tensor<4>, Tensor<4>)> {
        let Target::Dense { values, valid } = target else {
            return Err(wrong_target(&self.name, "dense values", target));
        };
        let [batch, channels, height, width] = values.dims();
        check_prediction(&self.name, &prediction, batch, channels)?;
        let prediction = resize_bilinear(prediction, [height, width], false);
        Ok((prediction, values.clone(), valid.clone()))
    }
}

struct RegressionMetrics {
    task: DenseRegression,
    errors: ValueErrors,
}

impl MetricAccumulator for RegressionMetrics {
    fn update(&mut self, prediction: Tensor<4>, target: &Target) -> Result<()> {
        let (prediction, values, valid) = self.task.prepare(prediction, target)?;
        let [_, channels, _, _] = values.dims();
        let valid = valid.repeat_dim(1, channels);
        let valid: Vec<bool> = host_f32(valid)?.iter().map(|&v| v > 0.5).collect();
        (self.errors).add(&host_f32(prediction)?, &host_f32(values)?, &valid);
        Ok(())
    }

    fn values(&self) -> Vec<f64> {
        vec![self.errors.mae(), self.errors.mse()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::tensor_to_vec;
    use burn::tensor::Device;

    #[test]
    fn masked_mean_over_valid_pixels() {
        // Prediction 0 everywhere; targets [1, 2, 3, 4], pixel 2 invalid.
        // L2: (1 + 4 + 16) / 3 = 7; L1: (1 + 2 + 4) / 3 = 7/3.
        let device = Device::flex();
        let values = Tensor::<4>::from_floats([[[[1.0, 2.0], [3.0, 4.0]]]], &device);
        let valid = Tensor::<4>::from_floats([[[[1.0, 1.0], [0.0, 1.0]]]], &device);
        let target = Target::Dense { values, valid };
        let prediction = Tensor::<4>::zeros([1, 1, 2, 2], &device);
        let l2 = DenseRegression::new("d", 1, RegressionLoss::L2)
            .loss(prediction.clone(), &target)
            .unwrap();
        assert!((tensor_to_vec(l2).unwrap()[0] - 7.0).abs() < 1e-6);
        let l1 = DenseRegression::new("d", 1, RegressionLoss::L1)
            .loss(prediction, &target)
            .unwrap();
        assert!((tensor_to_vec(l1).unwrap()[0] - 7.0 / 3.0).abs() < 1e-6);
        let wrong = Target::Labels(burn::tensor::Tensor::zeros([1, 2, 2], &device));
        assert!(
            DenseRegression::new("d", 1, RegressionLoss::L1)
                .loss(Tensor::zeros([1, 1, 2, 2], &device), &wrong)
                .is_err()
        );
    }
}
