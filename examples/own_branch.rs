//! Your own branch and your own task through the whole pipeline: the search, the searched
//! network evaluated as it is, every baseline, the table with MACs, the pictures and the saved
//! run, from the generic runner ([`RunSettings::run`] on a [`Problem`]).
//!
//! The branch is a small residual CNN with GELU and dilated convolutions, written here against
//! burn as re-exported by the crate (`mtl_nas::burn`); the task is a per-pixel Huber loss on
//! depth, reporting only its loss (the `Task` defaults). Surface normals, a built-in task, are
//! the second task. The data are the built-in synthetic scenes.
//!
//! ```text
//! cargo run --release --example own_branch
//! ```
//!
//! What a user writes: the branch (`ResidualBranch`, `TaskBranch` for it), the task (`Huber`),
//! the problem (`DepthAndNormals`) and the 5 lines of `main` that run it.

use mtl_nas::burn;
use mtl_nas::burn::module::{Module, ParamId};
use mtl_nas::burn::nn::conv::{Conv2d, Conv2dConfig};
use mtl_nas::burn::nn::{BatchNorm, BatchNormConfig, PaddingConfig2d};
use mtl_nas::burn::tensor::activation::gelu;
use mtl_nas::cost::{BranchCost, LayerCost, conv_cost, norm_params};
use mtl_nas::data::{SceneConfig, SceneTarget, SyntheticScenes};
use mtl_nas::init::kaiming_normal_conv;
use mtl_nas::prelude::*;
use mtl_nas::task::resize_to_target;

/// One node: a 3x3 convolution (strided, dilated) + batch norm + GELU, plus a shortcut (a
/// strided 1x1 projection where the shape changes).
#[derive(Module, Debug)]
struct Block {
    conv: Conv2d,
    norm: BatchNorm,
    shortcut: Option<Conv2d>,
}

impl Block {
    fn new(
        channels: [usize; 2],
        stride: usize,
        dilation: usize,
        rng: &mut SeededRng,
        device: &Device,
    ) -> Result<Self> {
        let conv = Conv2dConfig::new(channels, [3, 3])
            .with_stride([stride, stride])
            .with_dilation([dilation, dilation])
            .with_padding(PaddingConfig2d::Explicit(
                dilation, dilation, dilation, dilation,
            ));
        let project = stride != 1 || channels[0] != channels[1];
        let shortcut = Conv2dConfig::new(channels, [1, 1]).with_stride([stride, stride]);
        Ok(Self {
            conv: kaiming_normal_conv(&conv, rng, device)?,
            norm: BatchNormConfig::new(channels[1]).init(device),
            shortcut: match project {
                true => Some(kaiming_normal_conv(&shortcut, rng, device)?),
                false => None,
            },
        })
    }

    /// `[batch, in, h, w]` to `[batch, out, h / stride, w / stride]`.
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let skip = match &self.shortcut {
            Some(project) => project.forward(x.clone()),
            None => x.clone(),
        };
        gelu(self.norm.forward(self.conv.forward(x))) + skip
    }
}

/// Stem at stride 1, two blocks at stride 2, two dilated blocks at stride 4, a 1x1 head.
#[derive(Module, Debug)]
struct ResidualBranch {
    blocks: Vec<Block>,
    head: Conv2d,
}

const STAGES: [Stage; 3] = [
    Stage::new(1, 16, 1),
    Stage::new(2, 24, 2),
    Stage::new(2, 32, 4),
];

impl ResidualBranch {
    fn new(outputs: usize, rng: &mut SeededRng, device: &Device) -> Result<Self> {
        // (in, out, stride, dilation) of each node.
        let layers = [
            (3, 16, 1, 1),
            (16, 24, 2, 1),
            (24, 24, 1, 1),
            (24, 32, 2, 2),
            (32, 32, 1, 2),
        ];
        let blocks = (layers.iter())
            .map(|&(i, o, stride, dilation)| Block::new([i, o], stride, dilation, rng, device))
            .collect::<Result<_>>()?;
        let head = Conv2dConfig::new([32, outputs], [1, 1]);
        let head = kaiming_normal_conv(&head, rng, device)?;
        Ok(Self { blocks, head })
    }
}

impl TaskBranch for ResidualBranch {
    fn describe(&self, task: &str) -> BranchDescription {
        BranchDescription::from_stages(task, &STAGES)
    }
    fn input_channels(&self) -> usize {
        3
    }
    fn min_input_size(&self) -> usize {
        4
    }
    fn layer_forward(&self, layer: usize, input: Tensor<4>) -> Tensor<4> {
        self.blocks[layer].forward(input)
    }
    fn head_forward(&self, features: Tensor<4>) -> Tensor<4> {
        self.head.forward(features)
    }
    /// Optional: the head's parameters, for the reference's x10 / x20 learning rates.
    fn classifier_parameters(&self) -> (Vec<ParamId>, Vec<ParamId>) {
        let bias = self.head.bias.iter().map(|b| b.id).collect();
        (vec![self.head.weight.id], bias)
    }
    /// Optional: the MACs of every node's convolutions and of the head, for the cost columns.
    fn cost(&self, input: [usize; 2]) -> Option<BranchCost> {
        let mut size = input;
        let mut layers = Vec::new();
        for block in &self.blocks {
            let (conv, out) = conv_cost(&block.conv, size);
            let shortcut = block.shortcut.as_ref().map(|s| conv_cost(s, size).0);
            let channels = block.conv.weight.dims()[0];
            let cost = conv + shortcut.unwrap_or_default() + norm_params(channels);
            size = out;
            layers.push(LayerCost { cost, size });
        }
        let head = conv_cost(&self.head, size).0;
        Some(BranchCost { layers, head })
    }
}

/// A per-pixel Huber loss on one channel, over valid pixels; its one metric is its loss.
#[derive(Debug)]
struct Huber {
    name: String,
    delta: f32,
}

impl Task for Huber {
    fn name(&self) -> &str {
        &self.name
    }
    fn outputs(&self) -> usize {
        1
    }
    fn loss(&self, prediction: Tensor<4>, target: &Target) -> Result<Tensor<1>> {
        let Target::Dense { values, valid } = target else {
            return Err(Error::config(
                &self.name,
                "a Huber loss needs a dense target",
            ));
        };
        let error = (resize_to_target(prediction, target, false) - values.clone()).abs();
        let inside = error.clone().clamp_max(self.delta);
        let huber = inside.clone().powf_scalar(2.0) * 0.5 + (error - inside) * self.delta;
        Ok((huber * valid.clone()).sum() / valid.clone().sum().clamp_min(1.0))
    }
}

/// Depth (Huber) and normals on synthetic scenes, each on a `ResidualBranch`.
struct DepthAndNormals;

impl Problem for DepthAndNormals {
    type Branch = ResidualBranch;
    fn tasks(&self) -> Vec<Box<dyn Task>> {
        let depth = Huber {
            name: "depth".into(),
            delta: 0.5,
        };
        vec![Box::new(depth), Box::new(SurfaceNormals::new("normal"))]
    }
    fn datasets(&self) -> Result<(Box<dyn MultiTaskDataset>, Box<dyn MultiTaskDataset>)> {
        let targets = vec![SceneTarget::Depth, SceneTarget::Normals];
        let scenes = |count, seed| {
            SyntheticScenes::new(
                SceneConfig::new(count, 24, 32, seed).with_targets(targets.clone()),
            )
        };
        Ok((Box::new(scenes(200, 1)?), Box::new(scenes(100, 2)?)))
    }
    fn branches(&self, rng: &mut SeededRng, device: &Device) -> Result<Vec<ResidualBranch>> {
        Ok(vec![
            ResidualBranch::new(1, rng, device)?,
            ResidualBranch::new(3, rng, device)?,
        ])
    }
}

fn main() -> Result<()> {
    let device = Device::flex().autodiff();
    let settings = RunSettings::new(SearchConfig::short(120));
    let out = std::path::Path::new("runs/own_branch");
    let report = settings.run(&DepthAndNormals, out, &device, |_| {})?;
    println!("{}", report.summary);
    for searched in &report.architectures {
        println!("{searched}");
    }
    println!("wrote {}", out.display());
    Ok(())
}
