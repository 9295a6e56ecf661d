//! Cross-stitch fusion (Misra et al., 2016) with scalar weights: the variant the reference ships
//! to compare NDDR against.

use burn::module::{Module, Param};
use burn::tensor::{Device, Tensor, TensorData};

use super::{FusionConfig, FusionInit, FusionInput, edge_weight};

/// `a_0 * own + sum_e c_e * a_e * src_e` with learnable scalars `a`, initialised to
/// `(own, sources / d, ..., sources / d)`. No batch norm, no ReLU; sources have the node's
/// channels.
#[derive(Module, Debug)]
pub struct CrossStitchFusion {
    /// The scalars `a`, `[1 + d]`: own feature first, then each input.
    pub mixing: Param<Tensor<1>>,
    #[module(skip)]
    inputs: Vec<FusionInput>,
}

impl CrossStitchFusion {
    /// A cross-stitch unit over `inputs`, initialised from `config` (identity-like init only).
    pub fn new(inputs: Vec<FusionInput>, config: &FusionConfig, device: &Device) -> Self {
        let (own, sources) = match config.init {
            FusionInit::Identity { own, sources } => (own, sources),
            FusionInit::KaimingNormal => (1.0, 0.0),
        };
        let share = if inputs.is_empty() {
            0.0
        } else {
            sources / inputs.len() as f64
        };
        let mut values = vec![own as f32];
        values.extend(std::iter::repeat_n(share as f32, inputs.len()));
        let n = values.len();
        Self {
            mixing: Param::from_tensor(Tensor::from_data(TensorData::new(values, [n]), device)),
            inputs,
        }
    }

    /// The inputs besides the own feature, in order.
    pub fn inputs(&self) -> &[FusionInput] {
        &self.inputs
    }

    /// Fuses `own` (`[batch, C, height, width]`) with `sources` (same shape each; `None`
    /// skips one) weighted by `weights` (`[num_edges]`). Output `[batch, C, height, width]`.
    pub fn forward(
        &self,
        own: Tensor<4>,
        sources: Vec<Option<Tensor<4>>>,
        weights: &Tensor<1>,
    ) -> Tensor<4> {
        let mixing = self.mixing.val();
        let scalar = |i: usize| mixing.clone().slice(i..i + 1).reshape([1, 1, 1, 1]);
        let mut out = own * scalar(0);
        for (i, (input, source)) in self.inputs.iter().zip(sources).enumerate() {
            if let Some(source) = source {
                out = out + source * (scalar(i + 1) * edge_weight(weights, input.edge));
            }
        }
        out
    }

    /// The unit without the inputs `keep` rejects.
    pub fn prune(self, keep: impl Fn(usize) -> bool) -> Self {
        let mixing = self.mixing.val();
        let mut parts = vec![mixing.clone().slice(0..1)];
        let mut inputs = Vec::new();
        for (i, input) in self.inputs.iter().enumerate() {
            if keep(input.edge) {
                parts.push(mixing.clone().slice(i + 1..i + 2));
                inputs.push(*input);
            }
        }
        Self {
            mixing: crate::init::param_with_id(self.mixing.id, Tensor::cat(parts, 0)),
            inputs,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::tensor_to_vec;

    #[test]
    fn weighted_sum_with_connectivity() {
        // a = (0.9, 0.1 / 2, 0.1 / 2); out = 0.9 * 1 + 0.05 * 0.5 * 10 + 0.05 * 1.0 * 20 = 2.15.
        let device = Device::flex();
        let inputs = vec![
            FusionInput {
                edge: 3,
                channels: 1,
            },
            FusionInput {
                edge: 5,
                channels: 1,
            },
        ];
        let unit = CrossStitchFusion::new(inputs, &FusionConfig::cross_stitch(0.9, 0.1), &device);
        let own = Tensor::<4>::ones([1, 1, 1, 1], &device);
        let a = Tensor::<4>::ones([1, 1, 1, 1], &device) * 10.0;
        let b = Tensor::<4>::ones([1, 1, 1, 1], &device) * 20.0;
        let mut weights = vec![0.0f32; 6];
        weights[3] = 0.5;
        weights[5] = 1.0;
        let weights = Tensor::<1>::from_floats(weights.as_slice(), &device);
        let out = tensor_to_vec(unit.forward(own, vec![Some(a), Some(b)], &weights)).unwrap();
        assert!((out[0] - 2.15).abs() < 1e-6, "{out:?}");
    }
}
