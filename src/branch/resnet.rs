//! ResNet-18/34 branches with a node at every residual block.

use burn::module::{Module, ParamId};
use burn::nn::conv::Conv2d;
use burn::nn::{BatchNorm, BatchNormConfig};
use burn::tensor::activation::relu;
use burn::tensor::module::max_pool2d;
use burn::tensor::ops::MaxPoolOptions;
use burn::tensor::{Device, Tensor};
use rand::Rng;
use serde::{Deserialize, Serialize};

use super::import::{
    Checkpoint, ClassifierImport, ImportReport, ImportWeights, WeightLayout, load_conv, load_norm,
};
use super::{Head, HeadKind, TaskBranch, kaiming_conv};
use crate::cost::{BranchCost, Cost, LayerCost, conv_cost, norm_params};
use crate::space::{BranchDescription, NodeDescription};
use crate::{Error, Result};

/// Which ResNet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ResNetDepth {
    /// ResNet-18: basic blocks `[2, 2, 2, 2]`.
    R18,
    /// ResNet-34: basic blocks `[3, 4, 6, 3]`.
    R34,
}

impl ResNetDepth {
    fn blocks(self) -> [usize; 4] {
        match self {
            ResNetDepth::R18 => [2, 2, 2, 2],
            ResNetDepth::R34 => [3, 4, 6, 3],
        }
    }
}

/// Configuration of a [`ResNet`] branch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResNetConfig {
    /// ResNet-18 or -34.
    pub depth: ResNetDepth,
    /// Output channels of the head.
    pub outputs: usize,
    /// Per-pixel or pooled head.
    pub head: HeadKind,
    /// Channels of the input image.
    pub input_channels: usize,
    /// Output stride: 32 (torchvision) or 8 (stages 3 and 4 dilated by 2 and 4 instead of
    /// strided, for dense prediction as in DeepLab).
    pub output_stride: usize,
    /// Batch-norm epsilon (torchvision: 1e-5).
    pub batch_norm_epsilon: f64,
    /// Batch-norm momentum, PyTorch convention (torchvision: 0.1).
    pub batch_norm_momentum: f64,
    /// Divides every width (64..512) for small experiments and tests; 1 is the real ResNet.
    pub width_divisor: usize,
}

impl ResNetConfig {
    /// A ResNet of `depth` with `outputs` per-pixel outputs at output stride 8 on RGB images.
    pub fn new(depth: ResNetDepth, outputs: usize) -> Self {
        Self {
            depth,
            outputs,
            head: HeadKind::Dense,
            input_channels: 3,
            output_stride: 8,
            batch_norm_epsilon: 1e-5,
            batch_norm_momentum: 0.1,
            width_divisor: 1,
        }
    }

    /// Outputs, input channels, width divisor and output stride (see [`Self::init`]).
    fn validate(&self) -> Result<()> {
        if self.outputs == 0 || self.input_channels == 0 {
            return Err(Error::config(
                "resnet.outputs",
                "outputs and input channels must be at least 1",
            ));
        }
        if self.width_divisor == 0 {
            return Err(Error::config("resnet.width_divisor", "must be at least 1"));
        }
        if self.output_stride != 8 && self.output_stride != 32 {
            return Err(Error::config(
                "resnet.output_stride",
                format!("must be 8 or 32, got {}", self.output_stride),
            ));
        }
        Ok(())
    }

    /// Builds the branch, drawing weights from `rng` (Kaiming normal, fan-out, ReLU).
    ///
    /// # Errors
    /// Zero outputs or input channels, or an output stride other than 8 or 32.
    pub fn init(&self, rng: &mut impl Rng, device: &Device) -> Result<ResNet> {
        self.validate()?;
        let narrow = |width: usize| (width / self.width_divisor).max(1);
        let norm = |channels: usize| {
            BatchNormConfig::new(channels)
                .with_epsilon(self.batch_norm_epsilon)
                .with_momentum(self.batch_norm_momentum)
                .init(device)
        };
        let stem = kaiming_conv([self.input_channels, narrow(64)], 7, 2, 3, 1, rng, device)?;
        let stem_norm = norm(narrow(64));
        let mut blocks = Vec::new();
        let mut nodes = Vec::new();
        let mut channels = narrow(64);
        let mut stride_so_far = 4;
        for (stage, &count) in self.depth.blocks().iter().enumerate() {
            let width = narrow(64 << stage);
            let dilated = self.output_stride == 8 && stage >= 2;
            let (stride, dilation) = match (stage, dilated) {
                (0, _) => (1, 1),
                (_, false) => (2, 1),
                (2, true) => (1, 2),
                (_, true) => (1, 4),
            };
            stride_so_far *= stride;
            for block in 0..count {
                let first = block == 0;
                let block_stride = if first { stride } else { 1 };
                let downsample = if first && (block_stride != 1 || channels != width) {
                    Some(Downsample {
                        conv: kaiming_conv([channels, width], 1, block_stride, 0, 1, rng, device)?,
                        norm: norm(width),
                    })
                } else {
                    None
                };
                blocks.push(BasicBlock {
                    conv1: kaiming_conv(
                        [channels, width],
                        3,
                        block_stride,
                        dilation,
                        dilation,
                        rng,
                        device,
                    )?,
                    norm1: norm(width),
                    conv2: kaiming_conv([width, width], 3, 1, dilation, dilation, rng, device)?,
                    norm2: norm(width),
                    downsample,
                });
                nodes.push(NodeDescription {
                    stage,
                    channels: width,
                    stride: stride_so_far,
                });
                channels = width;
            }
        }
        Ok(ResNet {
            stem,
            stem_norm,
            blocks,
            head: Head::new(self.head, channels, self.outputs, rng, device)?,
            nodes,
            input_channels: self.input_channels,
        })
    }
}

/// The 1x1 projection of a block's shortcut when its shape changes.
#[derive(Module, Debug)]
pub struct Downsample {
    /// 1x1 convolution (strided when the block is).
    pub conv: Conv2d,
    /// Its batch norm.
    pub norm: BatchNorm,
}

/// A basic residual block: `ReLU(BN(conv(ReLU(BN(conv(x))))) + shortcut(x))`.
#[derive(Module, Debug)]
pub struct BasicBlock {
    /// First 3x3 convolution (strided or dilated as the stage requires).
    pub conv1: Conv2d,
    /// Its batch norm.
    pub norm1: BatchNorm,
    /// Second 3x3 convolution.
    pub conv2: Conv2d,
    /// Its batch norm.
    pub norm2: BatchNorm,
    /// The shortcut projection, where the shape changes.
    pub downsample: Option<Downsample>,
}

impl BasicBlock {
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let out = relu(self.norm1.forward(self.conv1.forward(x.clone())));
        let out = self.norm2.forward(self.conv2.forward(out));
        let shortcut = match &self.downsample {
            Some(d) => d.norm.forward(d.conv.forward(x)),
            None => x,
        };
        relu(out + shortcut)
    }
}

/// A ResNet-18/34 branch: node `l` is the output of residual block `l`; node 0 also runs the
/// stem (7x7 conv of stride 2, BN, ReLU, 3x3 max pool of stride 2). Stages (blocks of equal
/// width) are the nodes' stages, so the same-stage rule joins blocks of one stage and the
/// shallower rule joins across scales.
#[derive(Module, Debug)]
pub struct ResNet {
    /// The stem convolution (`conv1` in torchvision).
    pub stem: Conv2d,
    /// Its batch norm (`bn1`).
    pub stem_norm: BatchNorm,
    /// The residual blocks, stage after stage (`layer1.0`, `layer1.1`, ...).
    pub blocks: Vec<BasicBlock>,
    /// The task head.
    pub head: Head,
    #[module(skip)]
    nodes: Vec<NodeDescription>,
    input_channels: usize,
}

impl TaskBranch for ResNet {
    fn describe(&self, task: &str) -> BranchDescription {
        BranchDescription::new(task, self.nodes.clone())
    }

    fn num_nodes(&self) -> usize {
        self.blocks.len()
    }

    fn input_channels(&self) -> usize {
        self.input_channels
    }

    fn layer_forward(&self, layer: usize, input: Tensor<4>) -> Tensor<4> {
        let x = if layer == 0 {
            let x = relu(self.stem_norm.forward(self.stem.forward(input)));
            max_pool2d(
                x,
                MaxPoolOptions::new([3, 3])
                    .with_stride([2, 2])
                    .with_padding([1, 1]),
            )
        } else {
            input
        };
        self.blocks[layer].forward(x)
    }

    fn head_forward(&self, features: Tensor<4>) -> Tensor<4> {
        self.head.forward(features)
    }

    fn classifier_parameters(&self) -> (Vec<ParamId>, Vec<ParamId>) {
        self.head.parameters()
    }

    /// The stem (7x7 convolution, then a 3x3 max pool of stride 2 and padding 1) with node 0,
    /// each block's two convolutions and shortcut projection with their batch norms, and the
    /// head.
    fn cost(&self, input: [usize; 2]) -> Option<BranchCost> {
        let channels = |conv: &Conv2d| conv.weight.dims()[0];
        let (stem, out) = conv_cost(&self.stem, input);
        let mut before = stem + norm_params(channels(&self.stem));
        // 3x3 max pool, stride 2, padding 1: (n + 2 - 3) / 2 + 1.
        let mut size = [(out[0] - 1) / 2 + 1, (out[1] - 1) / 2 + 1];
        let mut layers = Vec::with_capacity(self.blocks.len());
        for block in &self.blocks {
            let (first, mid) = conv_cost(&block.conv1, size);
            let (second, out) = conv_cost(&block.conv2, mid);
            let mut cost = before
                + first
                + second
                + norm_params(channels(&block.conv1))
                + norm_params(channels(&block.conv2));
            if let Some(d) = &block.downsample {
                cost += conv_cost(&d.conv, size).0 + norm_params(channels(&d.conv));
            }
            before = Cost::default();
            size = out;
            layers.push(LayerCost { cost, size });
        }
        Some(BranchCost {
            layers,
            head: self.head.cost(size),
        })
    }
}

impl ImportWeights for ResNet {
    fn import_weights(
        mut self,
        checkpoint: &Checkpoint,
        layout: WeightLayout,
        classifier: ClassifierImport,
    ) -> Result<(Self, ImportReport)> {
        if layout != WeightLayout::TorchvisionResNet {
            return Err(Error::config(
                "weight layout",
                format!("a ResNet branch imports torchvision's ResNet layout, not {layout:?}"),
            ));
        }
        checkpoint.reset_usage();
        let mut report = ImportReport::default();
        load_conv(&mut self.stem, checkpoint, "conv1.weight", None)?;
        load_norm(&mut self.stem_norm, checkpoint, "bn1")?;
        let mut stage = 0;
        let mut index = 0;
        for (i, block) in self.blocks.iter_mut().enumerate() {
            if i > 0 && self.nodes[i].stage != stage {
                stage = self.nodes[i].stage;
                index = 0;
            }
            let prefix = format!("layer{}.{index}", stage + 1);
            load_conv(
                &mut block.conv1,
                checkpoint,
                &format!("{prefix}.conv1.weight"),
                None,
            )?;
            load_norm(&mut block.norm1, checkpoint, &format!("{prefix}.bn1"))?;
            load_conv(
                &mut block.conv2,
                checkpoint,
                &format!("{prefix}.conv2.weight"),
                None,
            )?;
            load_norm(&mut block.norm2, checkpoint, &format!("{prefix}.bn2"))?;
            if let Some(d) = block.downsample.as_mut() {
                load_conv(
                    &mut d.conv,
                    checkpoint,
                    &format!("{prefix}.downsample.0.weight"),
                    None,
                )?;
                load_norm(&mut d.norm, checkpoint, &format!("{prefix}.downsample.1"))?;
            }
            index += 1;
        }
        // torchvision's `fc` is a linear layer [outputs, 512]: a 1x1 convolution's weight.
        let [outputs, channels, _, _] = self.head.classifier.weight.dims();
        let fits = checkpoint.shape("fc.weight") == Some(&[outputs, channels][..]);
        let take = match classifier {
            ClassifierImport::Require => true,
            ClassifierImport::IfShapeMatches => fits,
            ClassifierImport::Skip => false,
        };
        if take {
            let weight = checkpoint.values("fc.weight", &[outputs, channels])?;
            let bias = checkpoint.values("fc.bias", &[outputs])?;
            let checkpoint = Checkpoint::from_tensors(
                checkpoint.path(),
                [
                    ("w".to_string(), (vec![outputs, channels, 1, 1], weight)),
                    ("b".to_string(), (vec![outputs], bias)),
                ]
                .into(),
            );
            load_conv(&mut self.head.classifier, &checkpoint, "w", Some("b"))?;
            report.classifier_loaded = true;
        }
        report.unused = checkpoint.unused_keys();
        report.loaded = checkpoint.keys().len() - report.unused.len();
        Ok((self, report))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SeededRng;
    use crate::space::{EdgeRule, SearchSpace};

    #[test]
    fn nodes_at_every_block_and_cross_scale_edges() {
        let device = Device::flex();
        let mut rng = SeededRng::new(0);
        let r18 = ResNetConfig {
            output_stride: 32,
            ..ResNetConfig::new(ResNetDepth::R18, 4)
        }
        .init(&mut rng, &device)
        .unwrap();
        let d = r18.describe("a");
        assert_eq!(d.nodes.len(), 8);
        let strides: Vec<usize> = d.nodes.iter().map(|n| n.stride).collect();
        assert_eq!(strides, [4, 4, 8, 8, 16, 16, 32, 32]);
        let x = Tensor::<4>::ones([1, 3, 64, 64], &device);
        let mut h = x;
        for layer in 0..8 {
            h = r18.layer_forward(layer, h);
            let n = &d.nodes[layer];
            assert_eq!(h.dims(), [1, n.channels, 64 / n.stride, 64 / n.stride]);
        }
        assert_eq!(r18.head_forward(h).dims(), [1, 4, 2, 2]);
        // Same-stage: per stage of 2 blocks, 1 + 2 edges; shallower: 1 + 2 + ... + 8 = 36.
        let same =
            SearchSpace::from_branches(&[d.clone(), r18.describe("b")], EdgeRule::same_stage())
                .unwrap();
        assert_eq!(same.num_edges(), 2 * 4 * 3);
        let cross =
            SearchSpace::from_branches(&[d, r18.describe("b")], EdgeRule::shallower()).unwrap();
        assert_eq!(cross.num_edges(), 2 * 36);
    }

    #[test]
    fn resnet34_at_output_stride_8_with_a_pooled_head() {
        let device = Device::flex();
        let mut rng = SeededRng::new(0);
        let config = ResNetConfig {
            head: HeadKind::Pooled,
            ..ResNetConfig::new(ResNetDepth::R34, 10)
        };
        let r34 = config.init(&mut rng, &device).unwrap();
        let d = r34.describe("cls");
        assert_eq!(d.nodes.len(), 16);
        assert_eq!(d.nodes.last().unwrap().stride, 8);
        let mut h = Tensor::<4>::ones([2, 3, 32, 32], &device);
        for layer in 0..16 {
            h = r34.layer_forward(layer, h);
        }
        assert_eq!(h.dims(), [2, 512, 4, 4]);
        assert_eq!(r34.head_forward(h).dims(), [2, 10, 1, 1]);
        let bad = ResNetConfig {
            output_stride: 16,
            ..config
        };
        assert!(bad.init(&mut rng, &device).is_err());
    }
}
