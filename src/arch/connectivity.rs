//! Architecture logits and the connectivity weights they give each edge.

use burn::module::{Module, Param};
use burn::tensor::activation::sigmoid;
use burn::tensor::{Device, Tensor, TensorData};
use rand::{Rng, RngExt};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// How the logits become the weights `c` that scale each edge's source in the fusion.
///
/// | mode | `c` | gradient to the logits |
/// |---|---|---|
/// | `Sigmoid` | `sigmoid(alpha)` | yes |
/// | `RelaxedBernoulli` | `sigmoid((alpha + ln u - ln(1 - u)) / T)`, `u ~ U(0, 1)` | yes (`T > 0`) |
/// | `Hard` | `1[alpha > 0]`; pruned edges are skipped | no |
/// | `BernoulliSample` | `1[u < sigmoid(alpha)]`; pruned edges are skipped | no |
/// | `AllOn` | `1` for every edge | no |
///
/// The reference uses `Sigmoid` for the architecture step, `RelaxedBernoulli` with the
/// temperature schedule for the weight step, and `Hard` for evaluation.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum Connectivity {
    /// The deterministic relaxation `sigmoid(alpha)`.
    Sigmoid,
    /// A relaxed Bernoulli (binary Concrete / Gumbel-sigmoid) sample at a temperature; at
    /// temperature 0 it is the hard sample `1[alpha + noise > 0]`.
    RelaxedBernoulli {
        /// The temperature `T >= 0`.
        temperature: f64,
    },
    /// The discrete architecture: keep an edge iff its logit is positive.
    Hard,
    /// A Bernoulli sample with probability `sigmoid(alpha)` per edge (SNAS-style evaluation).
    BernoulliSample,
    /// Every edge on with weight 1 (the "supernet" baseline).
    AllOn,
}

/// The gate `c` of every edge for one forward pass: how much of the edge's source feature
/// enters its target's fusion (`sigmoid(alpha)`, a relaxed-Bernoulli sample, or 0/1). Called
/// gates, not weights, to keep them apart from the network's weights and the task-loss weights.
#[derive(Clone, Debug)]
pub struct EdgeGates {
    /// `c` per edge, shape `[num_edges]`, in the search space's edge order.
    pub values: Tensor<1>,
    /// Whether each edge takes part at all; an inactive edge (weight exactly 0 under a discrete
    /// mode) is skipped by the fusion rather than multiplied by zero.
    pub active: Vec<bool>,
}

impl EdgeGates {
    /// Constant gates (no gradient): `1` for kept edges, skipped otherwise.
    pub fn from_mask(mask: &[bool], device: &Device) -> Self {
        let values: Vec<f32> = mask.iter().map(|&k| if k { 1.0 } else { 0.0 }).collect();
        Self {
            values: Tensor::from_data(TensorData::new(values, [mask.len()]), device),
            active: mask.to_vec(),
        }
    }

    /// Number of edges.
    pub fn len(&self) -> usize {
        self.active.len()
    }

    /// Whether there are no edges.
    pub fn is_empty(&self) -> bool {
        self.active.is_empty()
    }
}

/// The architecture parameters: one logit `alpha` per candidate edge, initialised to 0
/// (`sigmoid = 0.5`). Edges are independent (sigmoid, not softmax).
#[derive(Module, Debug)]
pub struct ArchitectureParameters {
    /// The logits, shape `[num_edges]`, in the search space's edge order.
    pub logits: Param<Tensor<1>>,
}

impl ArchitectureParameters {
    /// `num_edges` logits, all zero.
    pub fn new(num_edges: usize, device: &Device) -> Self {
        Self::from_logits(&vec![0.0; num_edges], device)
    }

    /// Parameters holding the given logits.
    pub fn from_logits(logits: &[f32], device: &Device) -> Self {
        let tensor = Tensor::from_data(TensorData::new(logits.to_vec(), [logits.len()]), device);
        Self {
            logits: Param::from_tensor(tensor),
        }
    }

    /// Number of edges.
    pub fn num_edges(&self) -> usize {
        self.logits.dims()[0]
    }

    /// The logits read back to the host.
    ///
    /// # Errors
    /// The device cannot hand them back.
    pub fn logit_values(&self) -> Result<Vec<f32>> {
        tensor_to_vec(self.logits.val())
    }

    /// The connectivity weights under `mode`, drawing any noise from `rng`.
    ///
    /// # Errors
    /// The device cannot hand the logits back (the hard and sampled modes read them).
    pub fn connectivity(&self, mode: Connectivity, rng: &mut impl Rng) -> Result<EdgeGates> {
        let logits = self.logits.val();
        let device = logits.device();
        let n = self.num_edges();
        Ok(match mode {
            Connectivity::Sigmoid => EdgeGates {
                values: sigmoid(logits),
                active: vec![true; n],
            },
            Connectivity::RelaxedBernoulli { temperature } => {
                let noise: Vec<f32> = (0..n).map(|_| logistic_noise(rng) as f32).collect();
                if temperature <= 0.0 {
                    let host = self.logit_values()?;
                    let mask: Vec<bool> =
                        host.iter().zip(&noise).map(|(a, l)| a + l > 0.0).collect();
                    return Ok(EdgeGates::from_mask(&mask, &device));
                }
                let noise = Tensor::from_data(TensorData::new(noise, [n]), &device);
                EdgeGates {
                    values: sigmoid(logits.add(noise).div_scalar(temperature)),
                    active: vec![true; n],
                }
            }
            Connectivity::Hard => {
                let mask: Vec<bool> = self.logit_values()?.iter().map(|&a| a > 0.0).collect();
                EdgeGates::from_mask(&mask, &device)
            }
            Connectivity::BernoulliSample => {
                let mask: Vec<bool> = self
                    .logit_values()?
                    .iter()
                    .map(|&a| rng.random::<f64>() < sigmoid_scalar(a as f64))
                    .collect();
                EdgeGates::from_mask(&mask, &device)
            }
            Connectivity::AllOn => EdgeGates::from_mask(&vec![true; n], &device),
        })
    }
}

/// `ln u - ln(1 - u)` for `u ~ U(0, 1)`: a standard logistic sample.
fn logistic_noise(rng: &mut impl Rng) -> f64 {
    // `random::<f64>()` lies in [0, 1); keep u strictly inside (0, 1).
    let u: f64 = rng
        .random::<f64>()
        .clamp(f64::MIN_POSITIVE, 1.0 - f64::EPSILON);
    u.ln() - (1.0 - u).ln()
}

pub(crate) fn sigmoid_scalar(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// The values of `tensor` on the host, as `f32`.
///
/// # Errors
/// The device cannot hand the values back ([`Error::Device`]): never an empty or made-up
/// vector in their place.
pub(crate) fn tensor_to_vec<const D: usize>(tensor: Tensor<D>) -> Result<Vec<f32>> {
    (tensor.into_data().try_into_vec_as::<f32>())
        .map_err(|e| Error::Device(format!("reading a tensor back to the host failed: {e:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SeededRng;

    #[test]
    fn logits_start_at_zero_and_sigmoid_is_one_half() {
        let device = Device::flex();
        let params = ArchitectureParameters::new(5, &device);
        let mut rng = SeededRng::new(0);
        let c = params
            .connectivity(Connectivity::Sigmoid, &mut rng)
            .unwrap();
        assert_eq!(tensor_to_vec(c.values).unwrap(), vec![0.5; 5]);
    }

    #[test]
    fn hard_keeps_positive_logits_and_skips_the_rest() {
        let device = Device::flex();
        let params = ArchitectureParameters::from_logits(&[-1.0, 0.0, 2.0], &device);
        let mut rng = SeededRng::new(0);
        let c = params.connectivity(Connectivity::Hard, &mut rng).unwrap();
        assert_eq!(c.active, [false, false, true]);
        assert_eq!(tensor_to_vec(c.values).unwrap(), [0.0, 0.0, 1.0]);
    }

    #[test]
    fn relaxed_bernoulli_becomes_binary_as_temperature_falls_and_keeps_its_mean() {
        // With logistic noise L, P(alpha + L > 0) = P(L > -alpha) = sigmoid(alpha): as T -> 0
        // the relaxed sample sigmoid((alpha + L) / T) tends to that Bernoulli variable, so each
        // sample is 0 or 1 and the mean over many samples is sigmoid(alpha).
        let device = Device::flex();
        let logits = [-2.0f32, -0.5, 0.0, 0.7, 1.5];
        let params = ArchitectureParameters::from_logits(&logits, &device);
        let mut rng = SeededRng::new(7);
        let draws = 4000;
        let mut sums = [0.0f64; 5];
        let mut not_binary = 0;
        for _ in 0..draws {
            let c = params
                .connectivity(
                    Connectivity::RelaxedBernoulli { temperature: 1e-4 },
                    &mut rng,
                )
                .unwrap();
            for (s, v) in sums.iter_mut().zip(tensor_to_vec(c.values).unwrap()) {
                *s += v as f64;
                // A sample is within 1e-3 of 0 or 1 unless |alpha + L| < 7e-4 (sigmoid(7) >
                // 0.999); the logistic density is at most 1/4, so that has probability < 4e-4.
                if (1e-3..=1.0 - 1e-3).contains(&v) {
                    not_binary += 1;
                }
            }
        }
        assert!(not_binary <= 20, "{not_binary} of 20000 samples not binary");
        for (&a, s) in logits.iter().zip(sums) {
            let mean = s / draws as f64;
            let expected = sigmoid_scalar(a as f64);
            // Binomial standard error at n = 4000 is at most 0.0079; allow 4 of them.
            assert!(
                (mean - expected).abs() < 0.032,
                "alpha {a}: mean {mean} vs sigmoid {expected}"
            );
        }
        // At exactly T = 0 the sample is hard and skipped edges are inactive.
        let c = params
            .connectivity(
                Connectivity::RelaxedBernoulli { temperature: 0.0 },
                &mut rng,
            )
            .unwrap();
        for (active, v) in c.active.iter().zip(tensor_to_vec(c.values).unwrap()) {
            assert_eq!(*active, v == 1.0);
            assert!(v == 0.0 || v == 1.0);
        }
    }

    #[test]
    fn relaxed_samples_are_binary_at_low_temperature() {
        let device = Device::flex();
        let params = ArchitectureParameters::from_logits(&[0.3; 64], &device);
        let mut rng = SeededRng::new(3);
        let c = params
            .connectivity(
                Connectivity::RelaxedBernoulli { temperature: 1e-6 },
                &mut rng,
            )
            .unwrap();
        let values = tensor_to_vec(c.values).unwrap();
        let binary = values
            .iter()
            .filter(|&&v| !(1e-3..=1.0 - 1e-3).contains(&v))
            .count();
        assert!(binary >= 63, "{values:?}");
    }
}
