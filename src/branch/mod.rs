//! Task branches: the single-task networks whose layers are the search space's nodes.
//!
//! A branch is a list of layers (each producing one node) plus a head. Anything that
//! implements [`TaskBranch`] can be put into a [`Supernet`](crate::net::Supernet).

mod head;
pub mod import;
mod resnet;
mod small_cnn;
mod vgg;

pub use head::{Head, HeadKind};
pub use import::{Checkpoint, ClassifierImport, ImportReport, ImportWeights, WeightLayout};
pub use resnet::{BasicBlock, Downsample, ResNet, ResNetConfig, ResNetDepth};
pub use small_cnn::{SmallCnn, SmallCnnConfig};
pub use vgg::{Vgg16LargeFov, Vgg16LargeFovConfig};

use burn::module::{Module, ModuleDisplay, ParamId};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Initializer, PaddingConfig2d};
use burn::tensor::{Device, Tensor};
use rand::Rng;

use crate::cost::BranchCost;
use crate::space::BranchDescription;
use crate::{Error, Result};

/// A single-task network seen as a chain of nodes and a head.
///
/// Node `0` is computed from the input image, node `l` from the (fused) node `l - 1`, and the
/// head from the (fused) last node. Each node's feature must have the channels and (about) the
/// size its description says: the supernet checks it on every forward and names the node.
pub trait TaskBranch: Module + ModuleDisplay {
    /// Describes the branch's nodes for [`SearchSpace::from_branches`](crate::space::SearchSpace::from_branches).
    fn describe(&self, task: &str) -> BranchDescription;

    /// Number of nodes (layers): by default as many as [`TaskBranch::describe`] lists.
    fn num_nodes(&self) -> usize {
        self.describe("").nodes.len()
    }

    /// Channels the branch expects in the input image.
    fn input_channels(&self) -> usize;

    /// The smallest input height and width the branch can process (its pools need at least
    /// this many pixels).
    fn min_input_size(&self) -> usize {
        1
    }

    /// Computes node `layer`'s pre-fusion feature. `input`: the image
    /// `[batch, input_channels, height, width]` for layer 0, else the fused node `layer - 1`
    /// `[batch, channels, h, w]`. Output `[batch, channels of node layer, h', w']`.
    fn layer_forward(&self, layer: usize, input: Tensor<4>) -> Tensor<4>;

    /// The task head on the fused last node: `[batch, channels, h, w]` to the task output
    /// `[batch, outputs, h', w']` (`h' = w' = 1` for classification heads).
    fn head_forward(&self, features: Tensor<4>) -> Tensor<4>;

    /// The last classifier layer's parameters, `(weights, biases)`: the reference trains them
    /// with larger learning-rate multipliers (x10 and x20). None by default (every parameter
    /// then learns at the branch's rate, as under [`SearchConfig::short`](crate::search::SearchConfig::short),
    /// whose multipliers are 1 anyway).
    fn classifier_parameters(&self) -> (Vec<ParamId>, Vec<ParamId>) {
        (Vec::new(), Vec::new())
    }

    /// What the branch costs on one image of `input` = `[height, width]` pixels: each node's
    /// layer with the size of the node it produces, and the head (see [`crate::cost`]; the
    /// helpers [`conv_cost`](crate::cost::conv_cost) and
    /// [`norm_params`](crate::cost::norm_params) count one layer). `None`, the default, leaves
    /// the branch out of cost tables: fusions and resizes are still counted, at node sizes
    /// taken from the strides.
    fn cost(&self, input: [usize; 2]) -> Option<BranchCost> {
        let _ = input;
        None
    }
}

/// A convolution without bias whose weight is Kaiming normal (fan-out, ReLU gain) drawn from
/// `rng`, as torchvision initialises VGG and ResNet.
///
/// # Errors
/// No output channels or an empty kernel (no fan-out to take the std from).
pub(crate) fn kaiming_conv(
    channels: [usize; 2],
    kernel: usize,
    stride: usize,
    padding: usize,
    dilation: usize,
    rng: &mut impl Rng,
    device: &Device,
) -> Result<Conv2d> {
    let fan_out = channels[1] * kernel * kernel;
    if fan_out == 0 {
        return Err(Error::config(
            "convolution",
            format!(
                "a Kaiming initialiser needs output channels and a kernel, got {channels:?} channels and a {kernel} x {kernel} kernel"
            ),
        ));
    }
    let std = (2.0 / fan_out as f64).sqrt();
    normal_conv(
        channels,
        [kernel, stride, padding, dilation],
        std,
        rng,
        device,
    )
}

/// A convolution without bias of `kernel`, `stride`, `padding` and `dilation` (in that order)
/// whose weight is normal with standard deviation `std`, drawn once from `rng`.
///
/// # Errors
/// A standard deviation that is negative or not finite.
pub(crate) fn normal_conv(
    channels: [usize; 2],
    [kernel, stride, padding, dilation]: [usize; 4],
    std: f64,
    rng: &mut impl Rng,
    device: &Device,
) -> Result<Conv2d> {
    let mut conv = Conv2dConfig::new(channels, [kernel, kernel])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(
            padding, padding, padding, padding,
        ))
        .with_dilation([dilation, dilation])
        .with_bias(false)
        .with_initializer(Initializer::Zeros)
        .init(device);
    conv.weight =
        crate::init::normal([channels[1], channels[0], kernel, kernel], std, rng, device)?;
    Ok(conv)
}
