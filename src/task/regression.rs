//! Per-pixel regression with a validity mask.

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use super::Task;
use crate::data::Target;
use crate::fusion::resize_bilinear;
use crate::{Error, Result};

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
        let Target::Dense { values, valid } = target else {
            return Err(Error::shape(
                format!("target of task `{}`", self.name),
                "dense values",
                format!("{target:?}").chars().take(40).collect::<String>(),
            ));
        };
        let [batch, channels, height, width] = values.dims();
        let [pb, pc, _, _] = prediction.dims();
        if pb != batch || pc != channels {
            return Err(Error::shape(
                format!("prediction of task `{}`", self.name),
                format!("batch {batch} with {channels} channels"),
                format!("batch {pb} with {pc} channels"),
            ));
        }
        let prediction = resize_bilinear(prediction, [height, width], false);
        let difference = prediction - values.clone();
        let error = match self.loss {
            RegressionLoss::L1 => difference.abs(),
            RegressionLoss::L2 => difference.square(),
        };
        let masked = (error * valid.clone()).sum();
        let count = valid
            .clone()
            .sum()
            .mul_scalar(channels as f64)
            .clamp_min(1.0);
        Ok(masked / count)
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
        assert!((tensor_to_vec(l2)[0] - 7.0).abs() < 1e-6);
        let l1 = DenseRegression::new("d", 1, RegressionLoss::L1)
            .loss(prediction, &target)
            .unwrap();
        assert!((tensor_to_vec(l1)[0] - 7.0 / 3.0).abs() < 1e-6);
        let wrong = Target::Labels(burn::tensor::Tensor::zeros([1, 2, 2], &device));
        assert!(
            DenseRegression::new("d", 1, RegressionLoss::L1)
                .loss(Tensor::zeros([1, 1, 2, 2], &device), &wrong)
                .is_err()
        );
    }
}
