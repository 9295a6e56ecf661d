//! Task heads shared by the branches: a 1x1 convolution per pixel, or after global pooling.

use burn::module::{Module, Param, ParamId};
use burn::nn::conv::Conv2d;
use burn::tensor::module::adaptive_avg_pool2d;
use burn::tensor::{Device, Tensor, TensorData};
use rand::Rng;
use serde::{Deserialize, Serialize};

use super::normal_conv;
use crate::cost::{Cost, conv_cost};
use crate::{Error, Result};

/// What a branch's head predicts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum HeadKind {
    /// Per-pixel outputs at the last node's resolution (segmentation, normals, depth).
    Dense,
    /// One output vector per image: global average pooling, then a linear layer
    /// (classification). Output shape `[batch, outputs, 1, 1]`.
    Pooled,
}

/// A 1x1 convolution with bias (weights N(0, 0.01), bias 0), applied per pixel or after
/// global average pooling.
#[derive(Module, Debug)]
pub struct Head {
    /// The classifier.
    pub classifier: Conv2d,
    pooled: bool,
}

impl Head {
    /// A head from `channels` to `outputs`, its weights drawn once from `rng`.
    ///
    /// # Errors
    /// No input channels or no outputs.
    pub fn new(
        kind: HeadKind,
        channels: usize,
        outputs: usize,
        rng: &mut impl Rng,
        device: &Device,
    ) -> Result<Self> {
        if channels == 0 || outputs == 0 {
            return Err(Error::config(
                "head",
                format!("a head needs input channels and outputs, got {channels} -> {outputs}"),
            ));
        }
        let mut classifier = normal_conv([channels, outputs], [1, 1, 0, 1], 0.01, rng, device)?;
        classifier.bias = Some(Param::from_tensor(Tensor::from_data(
            TensorData::new(vec![0.0f32; outputs], [outputs]),
            device,
        )));
        Ok(Self {
            classifier,
            pooled: kind == HeadKind::Pooled,
        })
    }

    /// `[batch, channels, h, w]` to `[batch, outputs, h, w]` (dense) or `[batch, outputs, 1,
    /// 1]` (pooled).
    pub fn forward(&self, features: Tensor<4>) -> Tensor<4> {
        let features = if self.pooled {
            adaptive_avg_pool2d(features, [1, 1])
        } else {
            features
        };
        self.classifier.forward(features)
    }

    /// The classifier's cost on the last node's `[height, width]` map (one pixel when pooled).
    pub fn cost(&self, size: [usize; 2]) -> Cost {
        let size = if self.pooled { [1, 1] } else { size };
        conv_cost(&self.classifier, size).0
    }

    /// `(weights, biases)` of the classifier.
    pub fn parameters(&self) -> (Vec<ParamId>, Vec<ParamId>) {
        (
            vec![self.classifier.weight.id],
            self.classifier.bias.iter().map(|b| b.id).collect(),
        )
    }
}
