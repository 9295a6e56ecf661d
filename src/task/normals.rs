//! Surface normals: `1 - cos` over valid pixels, and angle-error metrics.

use burn::tensor::Tensor;

use super::{Task, check_prediction, host_f32, wrong_target};
use crate::Result;
use crate::data::Target;
use crate::metrics::{AngleErrors, Metric, MetricAccumulator};
use crate::resample::resize_bilinear;

/// Norms below this count as this (PyTorch's `cosine_similarity` epsilon).
const EPSILON: f64 = 1e-8;

/// Per-pixel surface normals (3 channels). The prediction need not be unit length: the loss
/// and metrics use the cosine between prediction and ground truth, over valid pixels only.
#[derive(Clone, Debug)]
pub struct SurfaceNormals {
    name: String,
    align_corners: bool,
}

impl SurfaceNormals {
    /// A normals task.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            align_corners: true,
        }
    }

    /// Per-pixel cosine `[batch, h, w]` and validity `[batch, h, w]`.
    fn cosines(&self, prediction: Tensor<4>, target: &Target) -> Result<(Tensor<3>, Tensor<3>)> {
        let Target::Dense { values, valid } = target else {
            return Err(wrong_target(
                &self.name,
                "dense normals [batch, 3, h, w]",
                target,
            ));
        };
        let [batch, channels, height, width] = values.dims();
        if channels != 3 {
            return Err(wrong_target(
                &self.name,
                "dense normals [batch, 3, h, w]",
                target,
            ));
        }
        check_prediction(&self.name, &prediction, batch, 3)?;
        let prediction = resize_bilinear(prediction, [height, width], self.align_corners);
        let dot = (prediction.clone() * values.clone()).sum_dim(1);
        // Clamp the squared norm before the square root: the root's derivative at 0 is
        // infinite, and a prediction that is exactly 0 somewhere (all features ReLU'd away)
        // would otherwise turn the gradient into NaN (0 x inf).
        let norm = |t: Tensor<4>| t.square().sum_dim(1).clamp_min(EPSILON * EPSILON).sqrt();
        let cosine = dot / (norm(prediction) * norm(values.clone()));
        Ok((cosine.squeeze_dim(1), valid.clone().squeeze_dim(1)))
    }
}

impl Task for SurfaceNormals {
    fn name(&self) -> &str {
        &self.name
    }

    fn outputs(&self) -> usize {
        3
    }

    /// `1 - mean cos(prediction, truth)` over valid pixels.
    fn loss(&self, prediction: Tensor<4>, target: &Target) -> Result<Tensor<1>> {
        let (cosine, valid) = self.cosines(prediction, target)?;
        let count = valid.clone().sum().clamp_min(1.0);
        Ok((cosine * valid).sum().div(count).neg().add_scalar(1.0))
    }

    fn metrics(&self) -> Vec<Metric> {
        vec![
            Metric::lower("angle mean"),
            Metric::lower("angle median"),
            Metric::lower("angle rmse"),
            Metric::higher("within 11.25"),
            Metric::higher("within 22.5"),
            Metric::higher("within 30"),
            Metric::higher("within 45"),
        ]
    }

    fn accumulator(&self) -> Box<dyn MetricAccumulator> {
        Box::new(NormalMetrics {
            task: self.clone(),
            angles: AngleErrors::new(),
        })
    }
}

struct NormalMetrics {
    task: SurfaceNormals,
    angles: AngleErrors,
}

impl MetricAccumulator for NormalMetrics {
    fn update(&mut self, prediction: Tensor<4>, target: &Target) -> Result<()> {
        let (cosine, valid) = self.task.cosines(prediction, target)?;
        let cosine = host_f32(cosine)?;
        let valid = host_f32(valid)?;
        let kept: Vec<f32> = cosine
            .iter()
            .zip(&valid)
            .filter(|(_, v)| **v > 0.5)
            .map(|(c, _)| *c)
            .collect();
        self.angles.add_cosines(&kept);
        Ok(())
    }

    fn values(&self) -> Vec<f64> {
        let a = &self.angles;
        let [w1, w2, w3, w4] = a.within();
        vec![a.mean(), a.median(), a.rmse(), w1, w2, w3, w4]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::tensor_to_vec;
    use burn::tensor::Device;

    #[test]
    fn zero_predictions_and_zero_targets_give_finite_gradients() {
        // An all-zero prediction pixel and an all-zero (invalid) target pixel: the loss and
        // its gradient stay finite.
        let device = Device::flex().autodiff();
        let prediction =
            Tensor::<4>::from_floats([[[[0.0, 1.0]], [[0.0, 0.0]], [[0.0, 0.0]]]], &device)
                .require_grad();
        let values =
            Tensor::<4>::from_floats([[[[1.0, 0.0]], [[0.0, 0.0]], [[0.0, 0.0]]]], &device);
        let valid = Tensor::<4>::from_floats([[[[1.0, 0.0]]]], &device);
        let loss = SurfaceNormals::new("n")
            .loss(prediction.clone(), &Target::Dense { values, valid })
            .unwrap();
        let grads = loss.backward();
        let g = tensor_to_vec(prediction.grad(&grads).unwrap()).unwrap();
        assert!(g.iter().all(|v| v.is_finite()), "{g:?}");
    }

    #[test]
    fn one_minus_cosine_over_valid_pixels() {
        // Two pixels: prediction (2, 0, 0) vs truth (1, 0, 0): cos 1; prediction (0, 1, 0) vs
        // truth (1, 1, 0) / sqrt 2: cos 1 / sqrt 2 = 0.707107 (45 degrees). A third pixel is
        // invalid. Loss = 1 - (1 + 0.707107) / 2 = 0.146447.
        let device = Device::flex();
        let s = std::f32::consts::FRAC_1_SQRT_2;
        let prediction = Tensor::<4>::from_floats(
            [[[[2.0, 0.0, 5.0]], [[0.0, 1.0, 5.0]], [[0.0, 0.0, 5.0]]]],
            &device,
        );
        let values = Tensor::<4>::from_floats(
            [[[[1.0, s, 0.0]], [[0.0, s, 0.0]], [[0.0, 0.0, -1.0]]]],
            &device,
        );
        let valid = Tensor::<4>::from_floats([[[[1.0, 1.0, 0.0]]]], &device);
        let target = Target::Dense { values, valid };
        let task = SurfaceNormals::new("normal");
        let loss = tensor_to_vec(task.loss(prediction.clone(), &target).unwrap()).unwrap();
        assert!((loss[0] - 0.146447).abs() < 1e-5, "{loss:?}");
        let mut acc = task.accumulator();
        acc.update(prediction, &target).unwrap();
        let v = acc.values();
        // Angles 0 and 45: mean 22.5, RMSE sqrt(45^2 / 2) = 31.82, within 11.25: 50%, 45: 100%.
        assert!(
            (v[0] - 22.5).abs() < 1e-3 && (v[2] - 31.8198).abs() < 1e-3,
            "{v:?}"
        );
        assert_eq!((v[3], v[6]), (50.0, 100.0));
    }
}
