//! VGG-16 DeepLab-LargeFOV with batch norm: the reference implementation's branch.

use burn::module::{Module, Param, ParamId};
use burn::nn::conv::Conv2d;
use burn::nn::{BatchNorm, BatchNormConfig, Dropout, DropoutConfig};
use burn::tensor::activation::relu;
use burn::tensor::module::{avg_pool2d, max_pool2d};
use burn::tensor::ops::{AvgPoolOptions, MaxPoolOptions};
use burn::tensor::{Device, Tensor, TensorData};
use rand::Rng;
use serde::{Deserialize, Serialize};

use super::import::{
    Checkpoint, ClassifierImport, ImportReport, ImportWeights, WeightLayout, fold_bias_into_norm,
    load_conv, load_norm, norm_as_shift,
};
use super::{TaskBranch, kaiming_conv, normal_conv};
use crate::cost::{BranchCost, LayerCost, conv_cost, norm_params};
use crate::space::{BranchDescription, NodeDescription};
use crate::{Error, Result};

/// Channels of the 13 conv layers.
pub(crate) const VGG_CHANNELS: [usize; 13] = [
    64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512,
];
/// Block (stage) of each conv layer: blocks of 2, 2, 3, 3, 3.
const VGG_STAGES: [usize; 13] = [0, 0, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4];
/// Output stride of each conv layer (pool 4 has stride 1, block 5 is dilated).
const VGG_STRIDES: [usize; 13] = [1, 1, 2, 2, 4, 4, 4, 8, 8, 8, 8, 8, 8];

/// Configuration of a [`Vgg16LargeFov`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Vgg16LargeFovConfig {
    /// Output channels of fc8 (40 classes for NYUv2 segmentation, 3 for normals).
    pub outputs: usize,
    /// Channels of the input image.
    pub input_channels: usize,
    /// Dropout probability after fc6 and fc7 (reference: 0.5).
    pub dropout: f64,
    /// Batch-norm epsilon (reference: 1e-3).
    pub batch_norm_epsilon: f64,
    /// Batch-norm momentum, PyTorch convention (reference: 0.05).
    pub batch_norm_momentum: f64,
    /// Divides every layer's width (64..512 convs, 1024 in fc6/fc7) for small experiments
    /// and tests; 1 is VGG-16 itself.
    pub width_divisor: usize,
}

impl Vgg16LargeFovConfig {
    /// A branch with `outputs` output channels on RGB images, reference settings.
    pub fn new(outputs: usize) -> Self {
        Self {
            outputs,
            input_channels: 3,
            dropout: 0.5,
            batch_norm_epsilon: 1e-3,
            batch_norm_momentum: 0.05,
            width_divisor: 1,
        }
    }

    /// The same network with every width divided by `divisor` (at least 1 channel each).
    pub fn with_width_divisor(mut self, divisor: usize) -> Self {
        self.width_divisor = divisor;
        self
    }

    /// Builds the branch with random weights drawn from `rng`: Kaiming normal (fan-out, ReLU)
    /// for the 13 conv layers, and for the head the reference's `kaiming_normal_(a=1)`
    /// (fan-in, `std = 1 / sqrt(fan_in)`), fc8 bias 0. Import trained weights with
    /// [`import`](crate::branch::import).
    ///
    /// # Errors
    /// Zero outputs or input channels, a dropout outside [0, 1).
    pub fn init(&self, rng: &mut impl Rng, device: &Device) -> Result<Vgg16LargeFov> {
        if self.outputs == 0 || self.input_channels == 0 {
            return Err(Error::config(
                "vgg16.outputs",
                "outputs and input channels must be at least 1",
            ));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(Error::config("vgg16.dropout", "must lie in [0, 1)"));
        }
        if self.width_divisor == 0 {
            return Err(Error::config("vgg16.width_divisor", "must be at least 1"));
        }
        let narrow = |width: usize| (width / self.width_divisor).max(1);
        let widths: Vec<usize> = VGG_CHANNELS.iter().map(|&c| narrow(c)).collect();
        let fc = narrow(1024);
        let norm = |channels: usize| {
            BatchNormConfig::new(channels)
                .with_epsilon(self.batch_norm_epsilon)
                .with_momentum(self.batch_norm_momentum)
                .init(device)
        };
        let mut convs = Vec::with_capacity(13);
        let mut norms = Vec::with_capacity(13);
        let mut channels = self.input_channels;
        for (layer, &width) in widths.iter().enumerate() {
            let dilation = if layer >= 10 { 2 } else { 1 };
            convs.push(kaiming_conv(
                [channels, width],
                3,
                1,
                dilation,
                dilation,
                rng,
                device,
            )?);
            norms.push(norm(width));
            channels = width;
        }
        let fan_in_conv =
            |c: [usize; 2], kernel: usize, padding: usize, dilation: usize, rng: &mut _| {
                let std = 1.0 / ((c[0] * kernel * kernel) as f64).sqrt();
                normal_conv(c, [kernel, 1, padding, dilation], std, rng, device)
            };
        let fc6 = fan_in_conv([widths[12], fc], 3, 12, 12, rng)?;
        let fc7 = fan_in_conv([fc, fc], 1, 0, 1, rng)?;
        let mut fc8 = fan_in_conv([fc, self.outputs], 1, 0, 1, rng)?;
        fc8.bias = Some(Param::from_tensor(Tensor::from_data(
            TensorData::new(vec![0.0f32; self.outputs], [self.outputs]),
            device,
        )));
        Ok(Vgg16LargeFov {
            convs,
            norms,
            fc6,
            fc6_norm: norm(fc),
            fc7,
            fc7_norm: norm(fc),
            fc8,
            dropout: DropoutConfig::new(self.dropout).init(),
            channels: widths,
            input_channels: self.input_channels,
        })
    }
}

/// VGG-16 DeepLab-LargeFOV with batch norm, as the reference's 13-node model.
///
/// Node `l` is the output of conv layer `l` after BN and ReLU, before any pooling. The pools sit
/// at the start of the next node's layer:
/// - before layers 2, 4 and 7 (pools 1-3): pad one zero row and column at the bottom and right
///   (TensorFlow "SAME"), then a 3x3 max pool of stride 2: `321 -> 160 -> 80 -> 40`,
///   `480 x 640 -> 240 x 320 -> 120 x 160 -> 60 x 80`;
/// - before layer 10 (pool 4): 3x3 max pool, stride 1, padding 1; layers 10-12 use dilation 2.
///
/// The head (LargeFOV): 3x3 max pool (stride 1, padding 1), 3x3 average pool (stride 1,
/// padding 1, padding not counted), fc6 3x3 conv 512 -> 1024 dilation 12 (no bias) + BN + ReLU
/// + dropout, fc7 1x1 1024 -> 1024 + BN + ReLU + dropout, fc8 1x1 with bias. Output stride 8.
#[derive(Module, Debug)]
pub struct Vgg16LargeFov {
    /// The 13 conv layers (no bias), `features.{0,3,8,11,16,19,22,27,30,33,37,40,43}` in the
    /// reference's state dict.
    pub convs: Vec<Conv2d>,
    /// Their batch norms (`features.{conv + 1}`).
    pub norms: Vec<BatchNorm>,
    /// fc6: 3x3, dilation 12, 512 -> 1024.
    pub fc6: Conv2d,
    /// fc6's batch norm.
    pub fc6_norm: BatchNorm,
    /// fc7: 1x1, 1024 -> 1024.
    pub fc7: Conv2d,
    /// fc7's batch norm.
    pub fc7_norm: BatchNorm,
    /// fc8: 1x1 classifier with bias.
    pub fc8: Conv2d,
    /// Dropout after fc6 and fc7 (active only in training mode on an autodiff device).
    pub dropout: Dropout,
    #[module(skip)]
    channels: Vec<usize>,
    input_channels: usize,
}

impl Vgg16LargeFov {
    /// The output size for an input of `size` pixels along one axis: each padded pool of
    /// stride 2 gives `(n + 1 - 3) / 2 + 1 = n / 2` (integer division), three times.
    pub fn output_size(size: usize) -> usize {
        size / 8
    }
}

impl TaskBranch for Vgg16LargeFov {
    fn describe(&self, task: &str) -> BranchDescription {
        let nodes = (0..13)
            .map(|l| NodeDescription {
                stage: VGG_STAGES[l],
                channels: self.channels[l],
                stride: VGG_STRIDES[l],
            })
            .collect();
        BranchDescription::new(task, nodes)
    }

    fn num_nodes(&self) -> usize {
        13
    }

    fn input_channels(&self) -> usize {
        self.input_channels
    }

    /// Each of the three stride-2 pools needs at least 2 pixels: 8 at the input.
    fn min_input_size(&self) -> usize {
        8
    }

    fn layer_forward(&self, layer: usize, input: Tensor<4>) -> Tensor<4> {
        let x = match layer {
            // Zero padding of a post-ReLU (non-negative) map gives the same maxima as the
            // pool's own padding, which never fills a whole window here.
            2 | 4 | 7 => max_pool2d(
                input,
                MaxPoolOptions::new([3, 3])
                    .with_stride([2, 2])
                    .with_padding_pairs([(0, 1), (0, 1)]),
            ),
            10 => max_pool2d(
                input,
                MaxPoolOptions::new([3, 3])
                    .with_stride([1, 1])
                    .with_padding([1, 1]),
            ),
            _ => input,
        };
        relu(self.norms[layer].forward(self.convs[layer].forward(x)))
    }

    fn head_forward(&self, features: Tensor<4>) -> Tensor<4> {
        let x = max_pool2d(
            features,
            MaxPoolOptions::new([3, 3])
                .with_stride([1, 1])
                .with_padding([1, 1]),
        );
        let x = avg_pool2d(
            x,
            AvgPoolOptions::new([3, 3])
                .with_stride([1, 1])
                .with_padding([1, 1])
                .with_count_include_pad(false),
        );
        let x = self
            .dropout
            .forward(relu(self.fc6_norm.forward(self.fc6.forward(x))));
        let x = self
            .dropout
            .forward(relu(self.fc7_norm.forward(self.fc7.forward(x))));
        self.fc8.forward(x)
    }

    fn classifier_parameters(&self) -> (Vec<ParamId>, Vec<ParamId>) {
        (
            vec![self.fc8.weight.id],
            self.fc8.bias.iter().map(|b| b.id).collect(),
        )
    }

    /// The 13 convolutions with their batch norms (pools 1-3 halve the size, rounding down:
    /// `(n + 1 - 3) / 2 + 1`; pool 4 keeps it), and fc6, fc7 (with batch norms) and fc8.
    fn cost(&self, input: [usize; 2]) -> Option<BranchCost> {
        let mut size = input;
        let mut layers = Vec::with_capacity(13);
        for (layer, conv) in self.convs.iter().enumerate() {
            if matches!(layer, 2 | 4 | 7) {
                size = [size[0] / 2, size[1] / 2];
            }
            let (cost, out) = conv_cost(conv, size);
            size = out;
            let cost = cost + norm_params(self.channels[layer]);
            layers.push(LayerCost { cost, size });
        }
        let fc = self.fc7.weight.dims()[0];
        let head = conv_cost(&self.fc6, size).0
            + conv_cost(&self.fc7, size).0
            + conv_cost(&self.fc8, size).0
            + norm_params(fc)
            + norm_params(fc);
        Some(BranchCost { layers, head })
    }
}

/// Conv layer positions in the reference's `features` (5- and 13-stage models alike).
const REFERENCE_CONVS: [usize; 13] = [0, 3, 8, 11, 16, 19, 22, 27, 30, 33, 37, 40, 43];
/// Conv positions in torchvision's `vgg16_bn.features`.
const TORCHVISION_BN_CONVS: [usize; 13] = [0, 3, 7, 10, 14, 17, 20, 24, 27, 30, 34, 37, 40];
/// Conv positions in torchvision's `vgg16.features`.
const TORCHVISION_CONVS: [usize; 13] = [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28];

impl ImportWeights for Vgg16LargeFov {
    fn import_weights(
        mut self,
        checkpoint: &Checkpoint,
        layout: WeightLayout,
        classifier: ClassifierImport,
    ) -> Result<(Self, ImportReport)> {
        checkpoint.reset_usage();
        let mut report = ImportReport::default();
        match layout {
            WeightLayout::Reference => {
                report.classifier_loaded = self.import_reference(checkpoint, classifier)?;
            }
            WeightLayout::TorchvisionVgg16Bn | WeightLayout::TorchvisionVgg16 => {
                self.import_torchvision(checkpoint, layout == WeightLayout::TorchvisionVgg16Bn)?;
                if classifier == ClassifierImport::Require {
                    return Err(Error::config(
                        "classifier import",
                        "torchvision's VGG classifier is a 4096-wide ImageNet MLP, not a LargeFOV head",
                    ));
                }
            }
            WeightLayout::TorchvisionResNet => {
                return Err(Error::config(
                    "weight layout",
                    "a ResNet layout cannot be imported into a VGG-16 branch",
                ));
            }
        }
        report.unused = checkpoint.unused_keys();
        report.loaded = checkpoint.keys().len() - report.unused.len();
        Ok((self, report))
    }
}

impl Vgg16LargeFov {
    /// The reference's `features` and `head` (5- and 13-stage models alike); whether the
    /// classifier (fc8) was loaded.
    fn import_reference(
        &mut self,
        checkpoint: &Checkpoint,
        classifier: ClassifierImport,
    ) -> Result<bool> {
        for (layer, &index) in REFERENCE_CONVS.iter().enumerate() {
            let weight = format!("features.{index}.weight");
            load_conv(&mut self.convs[layer], checkpoint, &weight, None)?;
            let norm = format!("features.{}", index + 1);
            load_norm(&mut self.norms[layer], checkpoint, &norm)?;
        }
        // The 13-stage model keeps its two head pools in `head`, shifting fc6 to head.2.
        let offset = if checkpoint.contains("head.10.weight") {
            2
        } else {
            0
        };
        let key = |i: usize, name: &str| format!("head.{}.{name}", i + offset);
        let norm = |i: usize| format!("head.{}", i + offset);
        load_conv(&mut self.fc6, checkpoint, &key(0, "weight"), None)?;
        load_norm(&mut self.fc6_norm, checkpoint, &norm(1))?;
        load_conv(&mut self.fc7, checkpoint, &key(4, "weight"), None)?;
        load_norm(&mut self.fc7_norm, checkpoint, &norm(5))?;
        let (weight, bias) = (key(8, "weight"), key(8, "bias"));
        let fits = checkpoint.shape(&weight) == Some(&self.fc8.weight.dims()[..]);
        let take = match classifier {
            ClassifierImport::Require => true,
            ClassifierImport::IfShapeMatches => fits,
            ClassifierImport::Skip => false,
        };
        if take {
            load_conv(&mut self.fc8, checkpoint, &weight, Some(&bias))?;
        }
        Ok(take)
    }

    /// torchvision's `vgg16_bn.features` (`with_norm`) or `vgg16.features`: the convolutions'
    /// biases folded into the batch norms (or taken as their shift).
    fn import_torchvision(&mut self, checkpoint: &Checkpoint, with_norm: bool) -> Result<()> {
        let indices = if with_norm {
            TORCHVISION_BN_CONVS
        } else {
            TORCHVISION_CONVS
        };
        for (layer, &index) in indices.iter().enumerate() {
            let conv = &mut self.convs[layer];
            load_conv(conv, checkpoint, &format!("features.{index}.weight"), None)?;
            let out = conv.weight.dims()[0];
            let bias = checkpoint.values(&format!("features.{index}.bias"), &[out])?;
            let norm = &mut self.norms[layer];
            if with_norm {
                load_norm(norm, checkpoint, &format!("features.{}", index + 1))?;
                fold_bias_into_norm(norm, &bias)?;
            } else {
                norm_as_shift(norm, &bias);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SeededRng;
    use crate::space::{EdgeRule, SearchSpace};

    #[test]
    fn output_sizes_worked_out_by_hand() {
        // Each of pools 1-3 pads one zero row/column at the bottom/right, then takes a 3 x 3
        // window with stride 2: n -> floor((n + 1 - 3) / 2) + 1. By hand:
        //   321: 322 -> 160; 161 -> 80; 81 -> 40       (the reference's 321 crops)
        //   480: 481 -> 240; 241 -> 120; 121 -> 60     (NYUv2 frames, 480 x 640)
        //   640: 641 -> 320; 321 -> 160; 161 -> 80
        //    17:  18 -> 8;    9 -> 4;    5 -> 2
        //     9:  10 -> 4;    5 -> 2;    3 -> 1
        //     8:   9 -> 4;    5 -> 2;    3 -> 1        (the smallest input)
        // Pool 4 (3 x 3, stride 1, padding 1), the dilated block 5 (3 x 3, dilation 2,
        // padding 2) and the head (stride-1 pools, fc6 dilation 12 with padding 12, 1 x 1 fc7
        // and fc8) keep the size.
        let by_hand: [(usize, [usize; 3]); 6] = [
            (321, [160, 80, 40]),
            (480, [240, 120, 60]),
            (640, [320, 160, 80]),
            (17, [8, 4, 2]),
            (9, [4, 2, 1]),
            (8, [4, 2, 1]),
        ];
        for (input, [_, _, output]) in by_hand {
            assert_eq!(Vgg16LargeFov::output_size(input), output, "input {input}");
        }
        // The network itself, narrowed to 1-8 channels, on non-square inputs: the size of
        // every node and of the head's output.
        let device = Device::flex();
        let net = Vgg16LargeFovConfig::new(2)
            .with_width_divisor(64)
            .init(&mut SeededRng::new(0), &device)
            .unwrap();
        for (rows, columns) in [(0, 2), (3, 4), (5, 1)] {
            let (height, h) = by_hand[rows];
            let (width, w) = by_hand[columns];
            let mut x = Tensor::<4>::ones([1, 3, height, width], &device);
            for layer in 0..13 {
                x = net.layer_forward(layer, x);
                // Layers 2, 4 and 7 begin with pools 1, 2 and 3.
                let pools = [2, 4, 7].iter().filter(|&&p| layer >= p).count();
                let size = |n: usize, by: [usize; 3]| if pools == 0 { n } else { by[pools - 1] };
                assert_eq!(
                    x.dims(),
                    [1, net.channels[layer], size(height, h), size(width, w)],
                    "layer {layer} of a {height} x {width} input"
                );
            }
            assert_eq!(net.head_forward(x).dims(), [1, 2, h[2], w[2]]);
        }
    }

    #[test]
    fn describes_13_nodes_and_48_reference_edges() {
        let device = Device::flex();
        let mut rng = SeededRng::new(0);
        let seg = Vgg16LargeFovConfig::new(40)
            .init(&mut rng, &device)
            .unwrap();
        let d = seg.describe("seg");
        assert_eq!(d.nodes.len(), 13);
        let space =
            SearchSpace::from_branches(&[d, seg.describe("normal")], EdgeRule::same_stage())
                .unwrap();
        assert_eq!(space.num_edges(), 48);
        assert!(Vgg16LargeFovConfig::new(0).init(&mut rng, &device).is_err());
    }

    #[test]
    fn small_input_forward_shapes() {
        // 17 -> 8 -> 4 -> 2 through the three stride-2 pools ((n + 1 - 3) / 2 + 1).
        let device = Device::flex();
        let mut rng = SeededRng::new(0);
        let net = Vgg16LargeFovConfig::new(5).init(&mut rng, &device).unwrap();
        let mut x = Tensor::<4>::ones([1, 3, 17, 17], &device);
        let expected = [17, 17, 8, 8, 4, 4, 4, 2, 2, 2, 2, 2, 2];
        for (layer, &size) in expected.iter().enumerate() {
            x = net.layer_forward(layer, x);
            assert_eq!(
                x.dims(),
                [1, VGG_CHANNELS[layer], size, size],
                "layer {layer}"
            );
        }
        assert_eq!(net.head_forward(x).dims(), [1, 5, 2, 2]);
    }
}
