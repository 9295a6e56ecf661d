//! Gradient accumulation (`micro_batches`) where it must be exact: a network without batch
//! norm (convolutions and ReLU, cross-stitch fusion) and losses that are plain means over
//! every pixel (no invalid pixels), so a step over 8 images and the sum of four steps over 2
//! images each, at a quarter of the loss, are the same step up to float round-off.
//!
//! Derivation: with `L = (1/8) sum_i l_i` over the 8 images, `dL/dw = sum_k (1/4) dL_k/dw`
//! where `L_k = (1/2) sum_{i in chunk k} l_i`; the regularisers (entropy, L1) do not depend on
//! the images and are added once. The connectivity draw of a weight step is shared by the
//! chunks, and the augmentation draws per image in order, so every chunk sees what the whole
//! batch would have.

use mtl_nas::burn::module::{ModuleVisitor, Param};
use mtl_nas::burn::nn::PaddingConfig2d;
use mtl_nas::burn::nn::conv::{Conv2d, Conv2dConfig};
use mtl_nas::burn::tensor::activation::relu;
use mtl_nas::init::kaiming_normal_conv;
use mtl_nas::net::baselines::all_edges;
use mtl_nas::prelude::*;
use mtl_nas::search::{ArchitectureOptimizerConfig, WeightOptimizerConfig};
use mtl_nas::train::{TrainConfig, train};

/// Two 3x3 convolutions of 4 channels at stride 1 and a 1x1 head: no batch norm.
#[derive(Module, Debug)]
struct Plain {
    convs: Vec<Conv2d>,
    head: Conv2d,
}

impl Plain {
    fn new(rng: &mut SeededRng, device: &Device) -> Self {
        let conv = |channels| {
            Conv2dConfig::new(channels, [3, 3]).with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
        };
        Self {
            convs: vec![
                kaiming_normal_conv(&conv([2, 4]), rng, device).unwrap(),
                kaiming_normal_conv(&conv([4, 4]), rng, device).unwrap(),
            ],
            head: kaiming_normal_conv(&Conv2dConfig::new([4, 1], [1, 1]), rng, device).unwrap(),
        }
    }
}

impl TaskBranch for Plain {
    fn describe(&self, task: &str) -> BranchDescription {
        BranchDescription::from_stages(task, &[Stage::new(1, 4, 1), Stage::new(1, 4, 1)])
    }
    fn input_channels(&self) -> usize {
        2
    }
    fn layer_forward(&self, layer: usize, input: Tensor<4>) -> Tensor<4> {
        relu(self.convs[layer].forward(input))
    }
    fn head_forward(&self, features: Tensor<4>) -> Tensor<4> {
        self.head.forward(features)
    }
}

const TASKS: [&str; 2] = ["a", "b"];

fn tasks() -> Vec<Box<dyn Task>> {
    TASKS
        .iter()
        .map(|n| Box::new(DenseRegression::new(*n, 1, RegressionLoss::L2)) as Box<dyn Task>)
        .collect()
}

fn branches(device: &Device) -> Vec<Plain> {
    let mut rng = SeededRng::new(5);
    (0..2).map(|_| Plain::new(&mut rng, device)).collect()
}

fn supernet(device: &Device) -> Supernet<Plain> {
    let branches = branches(device);
    let described: Vec<_> = branches
        .iter()
        .zip(TASKS)
        .map(|(b, n)| b.describe(n))
        .collect();
    let space = SearchSpace::from_branches(&described, EdgeRule::same_stage()).unwrap();
    Supernet::new(
        &space,
        branches,
        FusionConfig::cross_stitch(0.9, 0.1),
        5,
        device,
    )
    .unwrap()
}

/// Every float parameter of a module, flattened in visiting order.
fn parameters(module: &impl Module) -> Vec<f32> {
    struct Flatten(Vec<f32>);
    impl ModuleVisitor for Flatten {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            self.0
                .extend(param.val().into_data().try_to_vec::<f32>().unwrap());
        }
    }
    let mut flatten = Flatten(Vec::new());
    module.visit(&mut flatten);
    flatten.0
}

/// The largest difference between `a` and `b` relative to the largest magnitude in `a`.
fn relative_difference(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    let scale = a.iter().fold(1e-12f32, |m, x| m.max(x.abs()));
    let largest = a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs()));
    largest / scale
}

fn search_config(batch_size: usize, micro_batches: usize) -> SearchConfig {
    SearchConfig {
        batch_size,
        micro_batches,
        l1_weight: 0.5,
        architecture: ArchitectureOptimizerConfig {
            learning_rate: 0.05,
            ..Default::default()
        },
        // Small enough for a network without batch norm to stay finite.
        weights: WeightOptimizerConfig {
            learning_rate: 0.002,
            fusion_multiplier: 1.0,
            ..Default::default()
        },
        ..SearchConfig::short(3).with_seed(2)
    }
}

fn searched(batch_size: usize, micro_batches: usize) -> (Vec<f32>, Vec<f32>, Vec<f64>) {
    let device = Device::flex().autodiff();
    let data = CrossModalCopy::new(2, 8, 32, 1).generate().unwrap();
    let outcome = Search::new(search_config(batch_size, micro_batches))
        .run(supernet(&device), &tasks(), &data)
        .unwrap();
    let losses = (outcome.history.iter())
        .flat_map(|log| log.architecture_losses.iter().chain(&log.weight_losses))
        .copied()
        .collect();
    (
        outcome.network.architecture.logit_values().unwrap(),
        parameters(&outcome.network),
        losses,
    )
}

#[test]
fn four_micro_batches_of_two_are_one_search_step_of_eight() {
    let (logits, weights, losses) = searched(8, 1);
    let (accumulated_logits, accumulated_weights, accumulated_losses) = searched(8, 4);
    assert!(logits.iter().any(|&a| a != 0.0), "the logits moved");
    assert!(relative_difference(&logits, &accumulated_logits) < 1e-6);
    assert!(relative_difference(&weights, &accumulated_weights) < 1e-6);
    for (full, accumulated) in losses.iter().zip(&accumulated_losses) {
        assert!((full - accumulated).abs() < 1e-5 * full.abs().max(1.0));
    }
    // The comparison can fail: a plain batch of 2 (the first chunk alone) is another step.
    let (_, small_batch_weights, _) = searched(2, 1);
    assert!(relative_difference(&weights, &small_batch_weights) > 1e-3);
}

fn trained(micro_batches: usize) -> Vec<f32> {
    let device = Device::flex().autodiff();
    let data = CrossModalCopy::new(2, 8, 32, 1).generate().unwrap();
    let net = all_edges(
        branches(&device),
        &TASKS,
        EdgeRule::same_stage(),
        FusionConfig::cross_stitch(0.9, 0.1),
        5,
        &device,
    )
    .unwrap();
    let config = TrainConfig {
        micro_batches,
        ..TrainConfig::from(&search_config(8, 1))
    };
    parameters(
        &train(net, &tasks(), &data, &config, |_| {})
            .unwrap()
            .network,
    )
}

#[test]
fn four_micro_batches_of_two_are_one_training_step_of_eight() {
    let full = trained(1);
    let accumulated = trained(4);
    assert!(relative_difference(&full, &accumulated) < 1e-6);
    let untrained = parameters(&supernet(&Device::flex().autodiff()));
    assert!(
        relative_difference(&full, &untrained) > 1e-3,
        "the weights moved"
    );
}

#[test]
fn micro_batches_must_divide_the_batch() {
    let config = search_config(8, 3);
    let message = config.validate(2).unwrap_err().to_string();
    assert!(message.contains("micro_batches"), "{message}");
    assert!(message.contains("divide batch_size (8)"), "{message}");
}
