//! A small VGG-like CNN branch for tests, examples and quick searches on a CPU.

use burn::module::{Module, ParamId};
use burn::nn::conv::Conv2d;
use burn::nn::{BatchNorm, BatchNormConfig};
use burn::tensor::activation::relu;
use burn::tensor::module::max_pool2d;
use burn::tensor::ops::MaxPoolOptions;
use burn::tensor::{Device, Tensor};
use rand::Rng;
use serde::{Deserialize, Serialize};

use super::{Head, HeadKind, TaskBranch, kaiming_conv};
use crate::cost::{BranchCost, LayerCost, conv_cost, norm_params};
use crate::space::{BranchDescription, NodeDescription, Stage};
use crate::{Error, Result};

/// Configuration of a [`SmallCnn`]: stages of 3x3 conv + BN + ReLU layers, a max pool before
/// every stage whose stride grows (2x2 for a stride that doubles, the usual
/// [`Stage::pyramid`]), and a [`Head`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SmallCnnConfig {
    /// Channels of the shared input image.
    pub input_channels: usize,
    /// The branch reads input channels `input_offset .. input_offset + read_channels` only
    /// (all of them by default). Lets a task see one modality of a multi-modal input.
    pub input_offset: usize,
    /// How many input channels the branch reads (0 = all from `input_offset` on).
    pub read_channels: usize,
    /// The stages; each stage's stride must be a multiple of the one before (of 1 for the
    /// first), and the ratio is the size of the max pool before it.
    pub stages: Vec<Stage>,
    /// Output channels of the head (classes, or values per pixel).
    pub outputs: usize,
    /// Per-pixel or pooled (per-image) head.
    pub head: HeadKind,
    /// Batch-norm epsilon.
    pub batch_norm_epsilon: f64,
    /// Batch-norm momentum (PyTorch convention).
    pub batch_norm_momentum: f64,
}

impl SmallCnnConfig {
    /// A branch over `input_channels`-channel images with the given stages and head outputs.
    pub fn new(input_channels: usize, stages: Vec<Stage>, outputs: usize) -> Self {
        Self {
            input_channels,
            input_offset: 0,
            read_channels: 0,
            stages,
            outputs,
            head: HeadKind::Dense,
            batch_norm_epsilon: 1e-3,
            batch_norm_momentum: 0.05,
        }
    }

    /// With a pooled (per-image) head instead of a per-pixel one.
    pub fn with_pooled_head(mut self) -> Self {
        self.head = HeadKind::Pooled;
        self
    }

    /// Reads only input channels `offset .. offset + count`.
    pub fn with_input_view(mut self, offset: usize, count: usize) -> Self {
        self.input_offset = offset;
        self.read_channels = count;
        self
    }

    fn read(&self) -> usize {
        if self.read_channels == 0 {
            self.input_channels.saturating_sub(self.input_offset)
        } else {
            self.read_channels
        }
    }

    /// The pool before each stage: the ratio of its stride to the one before; `None` if a
    /// stride is not a positive multiple of the one before.
    fn pools(&self) -> Option<Vec<usize>> {
        let mut previous = 1;
        (self.stages.iter())
            .map(|s| {
                let ok = s.stride >= previous && s.stride % previous == 0;
                let pool = s.stride / previous;
                previous = s.stride;
                ok.then_some(pool)
            })
            .collect()
    }

    /// The pool before each stage, once the configuration is checked (see [`Self::init`]).
    fn checked_pools(&self) -> Result<Vec<usize>> {
        let invalid =
            |field: &str, reason: &str| Error::config(format!("small_cnn.{field}"), reason);
        if self.stages.is_empty() {
            return Err(invalid("stages", "at least one stage is needed"));
        }
        if self.stages.iter().any(|s| s.layers == 0 || s.channels == 0) {
            return Err(invalid(
                "stages",
                "every stage needs at least one layer and one channel",
            ));
        }
        let pools = self.pools().ok_or_else(|| {
            invalid(
                "stages",
                &format!(
                    "every stage's stride must be a positive multiple of the one before (1 for the first), got strides {:?}",
                    self.stages.iter().map(|s| s.stride).collect::<Vec<_>>()
                ),
            )
        })?;
        if self.outputs == 0 {
            return Err(invalid("outputs", "must be at least 1"));
        }
        if self.read() == 0 || self.input_offset + self.read() > self.input_channels {
            return Err(invalid(
                "input_offset",
                &format!(
                    "reads channels {}..{} of a {}-channel input",
                    self.input_offset,
                    self.input_offset + self.read(),
                    self.input_channels
                ),
            ));
        }
        Ok(pools)
    }

    /// Builds the branch, drawing weights from `rng`.
    ///
    /// # Errors
    /// No stage, a stage with zero layers or channels, a stride that is not a multiple of the
    /// one before, zero outputs, or an input view outside
    /// the input's channels.
    pub fn init(&self, rng: &mut impl Rng, device: &Device) -> Result<SmallCnn> {
        let pools = self.checked_pools()?;
        let mut convs = Vec::new();
        let mut norms = Vec::new();
        let mut nodes = Vec::new();
        let mut pool_before = Vec::new();
        let mut channels = self.read();
        for (
            stage,
            (
                &Stage {
                    layers,
                    channels: width,
                    stride,
                },
                pool,
            ),
        ) in self.stages.iter().zip(pools).enumerate()
        {
            for layer in 0..layers {
                convs.push(kaiming_conv([channels, width], 3, 1, 1, 1, rng, device)?);
                norms.push(
                    BatchNormConfig::new(width)
                        .with_epsilon(self.batch_norm_epsilon)
                        .with_momentum(self.batch_norm_momentum)
                        .init(device),
                );
                pool_before.push(if layer == 0 { pool } else { 1 });
                nodes.push(NodeDescription {
                    stage,
                    channels: width,
                    stride,
                });
                channels = width;
            }
        }
        let head = Head::new(self.head, channels, self.outputs, rng, device)?;
        Ok(SmallCnn {
            convs,
            norms,
            head,
            nodes,
            pool_before,
            input_channels: self.input_channels,
            input_offset: self.input_offset,
            read_channels: self.read(),
        })
    }
}

/// A small VGG-like branch: see [`SmallCnnConfig`].
#[derive(Module, Debug)]
pub struct SmallCnn {
    /// One 3x3 convolution per node.
    pub convs: Vec<Conv2d>,
    /// One batch norm per node.
    pub norms: Vec<BatchNorm>,
    /// The head.
    pub head: Head,
    #[module(skip)]
    nodes: Vec<NodeDescription>,
    /// The max pool's size and stride before each node's convolution (1: none).
    #[module(skip)]
    pool_before: Vec<usize>,
    input_channels: usize,
    input_offset: usize,
    read_channels: usize,
}

impl TaskBranch for SmallCnn {
    fn describe(&self, task: &str) -> BranchDescription {
        BranchDescription::new(task, self.nodes.clone())
    }

    fn num_nodes(&self) -> usize {
        self.nodes.len()
    }

    fn input_channels(&self) -> usize {
        self.input_channels
    }

    /// Each pool of size `k` needs at least `k` pixels.
    fn min_input_size(&self) -> usize {
        self.nodes.last().map_or(1, |n| n.stride)
    }

    fn layer_forward(&self, layer: usize, input: Tensor<4>) -> Tensor<4> {
        let mut x = input;
        if layer == 0 && self.read_channels != self.input_channels {
            x = x.narrow(1, self.input_offset, self.read_channels);
        }
        let pool = self.pool_before[layer];
        if pool > 1 {
            x = max_pool2d(
                x,
                MaxPoolOptions::new([pool, pool]).with_stride([pool, pool]),
            );
        }
        relu(self.norms[layer].forward(self.convs[layer].forward(x)))
    }

    fn head_forward(&self, features: Tensor<4>) -> Tensor<4> {
        self.head.forward(features)
    }

    fn classifier_parameters(&self) -> (Vec<ParamId>, Vec<ParamId>) {
        self.head.parameters()
    }

    /// Each layer's 3x3 convolution and batch norm (a pool of size `k` divides the size by `k`,
    /// rounding down), and the head.
    fn cost(&self, input: [usize; 2]) -> Option<BranchCost> {
        let mut size = input;
        let mut layers = Vec::with_capacity(self.convs.len());
        for (layer, conv) in self.convs.iter().enumerate() {
            let pool = self.pool_before[layer];
            size = [size[0] / pool, size[1] / pool];
            let (cost, out) = conv_cost(conv, size);
            size = out;
            let cost = cost + norm_params(conv.weight.dims()[0]);
            layers.push(LayerCost { cost, size });
        }
        Some(BranchCost {
            layers,
            head: self.head.cost(size),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SeededRng;

    #[test]
    fn describes_its_nodes_and_runs_them() {
        let device = Device::flex();
        let mut rng = SeededRng::new(0);
        let cnn = SmallCnnConfig::new(3, Stage::pyramid(&[(2, 4), (1, 8)]), 5)
            .init(&mut rng, &device)
            .unwrap();
        let d = cnn.describe("seg");
        assert_eq!(d.nodes.len(), 3);
        assert_eq!(
            d.nodes[2],
            NodeDescription {
                stage: 1,
                channels: 8,
                stride: 2
            }
        );
        let x = Tensor::<4>::ones([2, 3, 8, 8], &device);
        let mut h = x;
        for layer in 0..3 {
            h = cnn.layer_forward(layer, h);
        }
        assert_eq!(h.dims(), [2, 8, 4, 4]);
        assert_eq!(cnn.head_forward(h).dims(), [2, 5, 4, 4]);
    }

    #[test]
    fn same_seed_same_weights_and_bad_configs_are_errors() {
        let device = Device::flex();
        let config = SmallCnnConfig::new(2, Stage::pyramid(&[(1, 4)]), 1).with_input_view(1, 1);
        let a = config.init(&mut SeededRng::new(5), &device).unwrap();
        let b = config.init(&mut SeededRng::new(5), &device).unwrap();
        assert_eq!(
            a.convs[0].weight.val().into_data(),
            b.convs[0].weight.val().into_data()
        );
        assert_eq!(a.convs[0].weight.dims(), [4, 1, 3, 3]);
        let err = SmallCnnConfig::new(2, Stage::pyramid(&[(1, 4)]), 1)
            .with_input_view(2, 1)
            .init(&mut SeededRng::new(5), &device)
            .unwrap_err();
        assert!(err.to_string().contains("reads channels 2..3"), "{err}");
        assert!(
            SmallCnnConfig::new(2, Stage::pyramid(&[]), 1)
                .init(&mut SeededRng::new(5), &device)
                .is_err()
        );
    }

    #[test]
    fn strides_set_the_pools_and_must_divide() {
        let device = Device::flex();
        let rng = &mut SeededRng::new(0);
        // Strides 1, 1, 4: no pool before the second stage, a 4x4 pool before the third, so a
        // 16 x 12 input gives 4 x 3 at the last node; the cost counts the same sizes.
        let stages = vec![
            Stage::new(1, 4, 1),
            Stage::new(1, 4, 1),
            Stage::new(1, 6, 4),
        ];
        let cnn = SmallCnnConfig::new(3, stages, 2)
            .init(rng, &device)
            .unwrap();
        let strides: Vec<_> = cnn.describe("t").nodes.iter().map(|n| n.stride).collect();
        assert_eq!(strides, [1, 1, 4]);
        let mut h = Tensor::<4>::ones([1, 3, 16, 12], &device);
        for layer in 0..3 {
            h = cnn.layer_forward(layer, h);
        }
        assert_eq!(h.dims(), [1, 6, 4, 3]);
        let sizes: Vec<_> = cnn
            .cost([16, 12])
            .unwrap()
            .layers
            .iter()
            .map(|l| l.size)
            .collect();
        assert_eq!(sizes, [[16, 12], [16, 12], [4, 3]]);
        assert_eq!(cnn.min_input_size(), 4);
        for strides in [[2, 3], [2, 1], [0, 1]] {
            let stages = vec![Stage::new(1, 4, strides[0]), Stage::new(1, 4, strides[1])];
            let err = SmallCnnConfig::new(3, stages, 2)
                .init(rng, &device)
                .unwrap_err();
            assert!(
                err.to_string().contains("multiple of the one before"),
                "{err}"
            );
        }
        assert_eq!(
            Stage::pyramid(&[(2, 8), (3, 16), (1, 32)]),
            [
                Stage::new(2, 8, 1),
                Stage::new(3, 16, 2),
                Stage::new(1, 32, 4)
            ]
        );
    }
}
