//! Depth: masked L1 (on depth or on log depth), absolute and relative error.

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use super::{Task, check_prediction, host_f32, wrong_target};
use crate::Result;
use crate::data::Target;
use crate::metrics::{DepthErrors, Metric, MetricAccumulator};
use crate::resample::resize_bilinear;

/// What the depth head predicts and how it is trained.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DepthLoss {
    /// The head predicts depth; loss `|d - d*|` over valid pixels (MTAN, LibMTL).
    L1,
    /// The head predicts log depth; loss `|log d - log d*|` over valid pixels. Metrics use
    /// `exp` of the prediction.
    LogL1,
}

/// Per-pixel depth (1 channel, metres), valid where the ground truth is positive and marked
/// valid.
#[derive(Clone, Debug)]
pub struct Depth {
    name: String,
    loss: DepthLoss,
}

impl Depth {
    /// A depth task.
    pub fn new(name: impl Into<String>, loss: DepthLoss) -> Self {
        Self {
            name: name.into(),
            loss,
        }
    }

    /// Prediction resized to the target `[batch, 1, h, w]`, truth, and validity (as 0/1).
    fn prepare(
        &self,
        prediction: Tensor<4>,
        target: &Target,
    ) -> Result<(Tensor<4>, Tensor<4>, Tensor<4>)> {
        let Target::Dense { values, valid } = target else {
            return Err(wrong_target(
                &self.name,
                "dense depth [batch, 1, h, w]",
                target,
            ));
        };
        let [batch, channels, height, width] = values.dims();
        if channels != 1 {
            return Err(wrong_target(
                &self.name,
                "dense depth [batch, 1, h, w]",
                target,
            ));
        }
        check_prediction(&self.name, &prediction, batch, 1)?;
        let prediction = resize_bilinear(prediction, [height, width], true);
        let valid = valid.clone() * values.clone().greater_elem(0.0).float();
        Ok((prediction, values.clone(), valid))
    }
}

impl Task for Depth {
    fn name(&self) -> &str {
        &self.name
    }

    fn outputs(&self) -> usize {
        1
    }

    fn loss(&self, prediction: Tensor<4>, target: &Target) -> Result<Tensor<1>> {
        let (prediction, truth, valid) = self.prepare(prediction, target)?;
        let truth = match self.loss {
            DepthLoss::L1 => truth,
            // Invalid pixels read depth 1 (log 0) and are masked out.
            DepthLoss::LogL1 => (truth + (valid.clone().neg().add_scalar(1.0))).log(),
        };
        let count = valid.clone().sum().clamp_min(1.0);
        Ok(((prediction - truth).abs() * valid).sum() / count)
    }

    fn metrics(&self) -> Vec<Metric> {
        vec![Metric::lower("abs err"), Metric::lower("rel err")]
    }

    fn accumulator(&self) -> Box<dyn MetricAccumulator> {
        Box::new(DepthMetrics {
            task: self.clone(),
            errors: DepthErrors::new(),
        })
    }
}

struct DepthMetrics {
    task: Depth,
    errors: DepthErrors,
}

impl MetricAccumulator for DepthMetrics {
    fn update(&mut self, prediction: Tensor<4>, target: &Target) -> Result<()> {
        let (prediction, truth, valid) = self.task.prepare(prediction, target)?;
        let prediction = match self.task.loss {
            DepthLoss::L1 => prediction,
            DepthLoss::LogL1 => prediction.exp(),
        };
        let valid: Vec<bool> = host_f32(valid)?.iter().map(|&v| v > 0.5).collect();
        (self.errors).add(&host_f32(prediction)?, &host_f32(truth)?, &valid);
        Ok(())
    }

    fn values(&self) -> Vec<f64> {
        vec![self.errors.absolute(), self.errors.relative()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::tensor_to_vec;
    use burn::tensor::Device;

    #[test]
    fn masked_l1_and_log_l1() {
        // Truth (2, 4, 0 = invalid), prediction (1, 5, 9). L1 = (1 + 1) / 2 = 1.
        // Log variant with prediction (ln 1, ln 8, 9): (ln 2 + ln 2) / 2 = 0.693147.
        let device = Device::flex();
        let truth = Tensor::<4>::from_floats([[[[2.0, 4.0, 0.0]]]], &device);
        let valid = Tensor::<4>::ones([1, 1, 1, 3], &device);
        let target = Target::Dense {
            values: truth,
            valid,
        };
        let l1 = Depth::new("depth", DepthLoss::L1);
        let prediction = Tensor::<4>::from_floats([[[[1.0, 5.0, 9.0]]]], &device);
        assert!(
            (tensor_to_vec(l1.loss(prediction.clone(), &target).unwrap()).unwrap()[0] - 1.0).abs()
                < 1e-6
        );
        let log = Depth::new("depth", DepthLoss::LogL1);
        let log_prediction = Tensor::<4>::from_floats([[[[0.0, 8f32.ln(), 9.0]]]], &device);
        let loss = tensor_to_vec(log.loss(log_prediction.clone(), &target).unwrap()).unwrap()[0];
        assert!((loss - std::f32::consts::LN_2).abs() < 1e-5, "{loss}");
        let mut acc = log.accumulator();
        acc.update(log_prediction, &target).unwrap();
        // Depths exp: 1 and 8 vs 2 and 4: abs (1 + 4) / 2 = 2.5, rel (0.5 + 1) / 2 = 0.75.
        let v = acc.values();
        assert!(
            (v[0] - 2.5).abs() < 1e-5 && (v[1] - 0.75).abs() < 1e-5,
            "{v:?}"
        );
    }
}
