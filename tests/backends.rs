//! The same numerical checks on every backend, compared against `flex` (the CPU reference).
//!
//! The devices under test come from `MTL_NAS_TEST_DEVICES`, a comma-separated list of the names
//! [`mtl_nas::device::device_from_name`] accepts. Comparing flex with itself proves nothing, so
//! every test here is `#[ignore]`d: a plain `cargo test` lists them as ignored (with the reason)
//! instead of passing them, and `--include-ignored` runs them against the named devices. Run so
//! without `MTL_NAS_TEST_DEVICES`, each test fails saying what to set. A device whose feature
//! this build lacks is an error, not a silent skip.
//!
//! ```text
//! MTL_NAS_TEST_DEVICES=wgpu-cpu cargo test --locked --features wgpu --test backends -- --include-ignored  # lavapipe
//! MTL_NAS_TEST_DEVICES=tch cargo test --locked --features tch --test backends -- --include-ignored        # libtorch
//! MTL_NAS_TEST_DEVICES=flex cargo test --locked --test backends -- --include-ignored   # flex vs flex: determinism only
//! ```
//!
//! Tolerance: every value `x` of a tensor must satisfy
//! `|x - x_flex| <= ABSOLUTE * m + RELATIVE * |x_flex|`, `m` the largest `|x_flex|` of that
//! tensor, with [`ABSOLUTE`] = 1e-4 and [`RELATIVE`] = 1e-3 for one forward/backward pass (f32
//! sums in a different order differ by a few ulps per addition; the batch-norm divisions
//! amplify that), and 20x that after a short search, where the differences pass through
//! several optimiser steps.

use burn::tensor::Tensor;
use mtl_nas::data::SceneTarget;
use mtl_nas::device::device_from_name;
use mtl_nas::experiment::{Experiment, ExperimentData};
use mtl_nas::fusion::{FusionInput, NddrFusion, NodeFusion, resize_bilinear};
use mtl_nas::prelude::*;

const ABSOLUTE: f32 = 1e-4;
const RELATIVE: f32 = 1e-3;

/// Why every test here is ignored by default: the devices to compare with flex must be named.
const NEEDS_DEVICES: &str = "needs a device to compare with flex: MTL_NAS_TEST_DEVICES=wgpu-cpu (or vulkan, tch, ...) and --include-ignored";

/// The devices named by `MTL_NAS_TEST_DEVICES`, each with autodiff. Panics when none is named:
/// the tests are then run by `--include-ignored` without a device to compare.
fn devices_under_test() -> Vec<(String, Device)> {
    let names = std::env::var("MTL_NAS_TEST_DEVICES").unwrap_or_default();
    let devices: Vec<(String, Device)> = names
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(|name| {
            let device = device_from_name(name)
                .unwrap_or_else(|e| panic!("MTL_NAS_TEST_DEVICES: {e}"))
                .autodiff();
            (name.to_string(), device)
        })
        .collect();
    assert!(
        !devices.is_empty(),
        "MTL_NAS_TEST_DEVICES names no device, so there is nothing to compare flex with; {NEEDS_DEVICES}"
    );
    devices
}

fn values<const D: usize>(tensor: Tensor<D>) -> Vec<f32> {
    tensor.into_data().try_into_vec_as::<f32>().unwrap()
}

/// Asserts `got` (from `device`) matches `want` (from flex) within the tolerance times `scale`;
/// returns the largest absolute difference.
fn assert_close(what: &str, device: &str, got: &[f32], want: &[f32], scale: f32) -> f32 {
    assert_eq!(got.len(), want.len(), "{what} on {device}: length");
    // Absolute differences are measured against the tensor's own magnitude, so that a
    // gradient of size 1e-9 is held to the same standard as an activation of size 1.
    let magnitude = want.iter().fold(0.0f32, |m, w| m.max(w.abs()));
    assert!(
        magnitude.is_finite(),
        "{what}: flex gives a non-finite value"
    );
    let mut largest = 0.0f32;
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let difference = (g - w).abs();
        assert!(
            g.is_finite() && difference <= scale * (ABSOLUTE * magnitude + RELATIVE * w.abs()),
            "{what} on {device}: element {i} is {g}, flex gives {w} (largest |value| {magnitude})"
        );
        largest = largest.max(difference);
    }
    println!(
        "{what:<36} {device:<9} largest |difference| {largest:.2e} (largest |value| {magnitude:.2e})"
    );
    largest
}

/// Runs `check` on flex and on every device under test and compares each output.
fn compare(what: &str, scale: f32, check: impl Fn(&Device) -> Vec<(&'static str, Vec<f32>)>) {
    let devices = devices_under_test();
    let reference = check(&Device::flex().autodiff());
    for (name, device) in devices {
        let got = check(&device);
        assert_eq!(got.len(), reference.len());
        for ((label, g), (_, w)) in got.iter().zip(&reference) {
            assert_close(&format!("{what}: {label}"), &name, g, w, scale);
        }
    }
}

/// A fixed pseudo-random tensor with values in [-1, 1), the same on every device (made on the
/// host from a hash of the element index, so no generator state is shared between tests).
fn fixed<const D: usize>(shape: [usize; D], seed: u64, device: &Device) -> Tensor<D> {
    let count: usize = shape.iter().product();
    let data: Vec<f32> = (0..count as u64)
        .map(|i| {
            let h = (i ^ seed.wrapping_mul(0x9e37_79b9_7f4a_7c15))
                .wrapping_mul(0xbf58_476d_1ce4_e5b9)
                .rotate_left(31)
                .wrapping_mul(0x94d0_49bb_1331_11eb);
            (h >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        })
        .collect();
    Tensor::from_data(burn::tensor::TensorData::new(data, shape), device)
}

#[test]
#[ignore = "needs MTL_NAS_TEST_DEVICES naming a device to compare with flex, and --include-ignored"]
fn nddr_fusion_forward_and_backward() {
    // Own 4 channels, sources of 4 and 6 channels, Kaiming-initialised 1x1 weights: the output
    // and the gradients of the inputs, of the edge weights and of the convolution weight.
    compare("NDDR fusion", 1.0, |device| {
        let inputs = vec![
            FusionInput {
                edge: 0,
                channels: 4,
            },
            FusionInput {
                edge: 1,
                channels: 6,
            },
        ];
        let fusion = NddrFusion::new(
            4,
            inputs,
            &FusionConfig::nddr_kaiming(),
            &mut SeededRng::new(5),
            device,
        )
        .unwrap();
        let own = fixed([2, 4, 5, 7], 1, device).require_grad();
        let a = fixed([2, 4, 5, 7], 2, device).require_grad();
        let b = fixed([2, 6, 5, 7], 3, device).require_grad();
        let edge_weights = Tensor::<1>::from_floats([0.3, 0.8], device).require_grad();
        let out = fusion.forward(
            own.clone(),
            vec![Some(a.clone()), Some(b.clone())],
            &edge_weights,
        );
        // A loss that weighs every output element differently.
        let loss = (out.clone() * fixed([2, 4, 5, 7], 4, device)).sum();
        let grads = loss.backward();
        vec![
            ("output", values(out)),
            ("d own", values(own.grad(&grads).unwrap())),
            ("d source 0", values(a.grad(&grads).unwrap())),
            ("d source 1", values(b.grad(&grads).unwrap())),
            ("d edge weights", values(edge_weights.grad(&grads).unwrap())),
            (
                "d conv weight",
                values(fusion.weight.val().grad(&grads).unwrap()),
            ),
        ]
    });
}

#[test]
#[ignore = "needs MTL_NAS_TEST_DEVICES naming a device to compare with flex, and --include-ignored"]
fn bilinear_resize_forward_and_backward() {
    compare("bilinear resize", 1.0, |device| {
        let x = fixed([2, 3, 4, 6], 7, device).require_grad();
        let up = resize_bilinear(x.clone(), [7, 11], false);
        let down = resize_bilinear(up.clone(), [3, 2], true);
        let loss = (down.clone() * fixed([2, 3, 3, 2], 8, device)).sum() + up.clone().sum();
        let grads = loss.backward();
        vec![
            ("upsampled", values(up)),
            ("downsampled", values(down)),
            ("d input", values(x.grad(&grads).unwrap())),
        ]
    });
}

/// Three scene tasks (segmentation, normals, depth) on tiny two-stage branches joined by the
/// paper's cross-scale rule, so fusions resize and project.
fn tiny_experiment() -> Experiment {
    Experiment {
        data: ExperimentData::Scenes {
            train: 16,
            test: 8,
            height: 12,
            width: 16,
            targets: vec![
                SceneTarget::Segmentation,
                SceneTarget::Normals,
                SceneTarget::Depth,
            ],
        },
        stages: Stage::pyramid(&[(1, 4), (1, 8)]),
        settings: RunSettings {
            rule: EdgeRule::shallower(),
            fusion: FusionConfig::nddr(0.9, 0.1),
            ..RunSettings::new(SearchConfig::short(4).with_seed(3))
        },
    }
}

fn tiny_supernet(experiment: &Experiment, device: &Device) -> Supernet<SmallCnn> {
    let branches = experiment.initial_branches(device).unwrap();
    let descriptions: Vec<_> = branches
        .iter()
        .zip(experiment.task_names())
        .map(|(b, n)| b.describe(n))
        .collect();
    let space =
        SearchSpace::from_branches(&descriptions, experiment.settings.rule.clone()).unwrap();
    Supernet::new(
        &space,
        branches,
        experiment.settings.fusion,
        experiment.settings.seed,
        device,
    )
    .unwrap()
}

#[test]
#[ignore = "needs MTL_NAS_TEST_DEVICES naming a device to compare with flex, and --include-ignored"]
fn supernet_task_losses_and_gradients() {
    // One forward and backward of the relaxed supernet through all three task losses: each
    // loss, the gradient of every edge logit, and of the first cross-scale fusion's weight.
    let experiment = tiny_experiment();
    let (train, _) = experiment.datasets().unwrap();
    compare("supernet", 1.0, |device| {
        let net = tiny_supernet(&experiment, device);
        let tasks = experiment.tasks();
        let batch = train.batch(&[0, 3, 5, 9], None, device).unwrap();
        let weights = net
            .architecture
            .connectivity(Connectivity::Sigmoid, &mut SeededRng::new(0))
            .unwrap();
        let outputs = net.forward(batch.images.clone(), &weights).unwrap();
        let losses: Vec<Tensor<1>> = tasks
            .iter()
            .zip(outputs)
            .zip(&batch.targets)
            .map(|((task, out), target)| task.loss(out, target).unwrap())
            .collect();
        let total = losses.iter().cloned().reduce(|a, b| a + b).unwrap();
        let grads = total.backward();
        let fusion_weight = net
            .fusions
            .iter()
            .flatten()
            .flatten()
            .find_map(|f| match f {
                NodeFusion::Nddr(f) if f.inputs().len() > 1 => Some(f.weight.val()),
                _ => None,
            })
            .unwrap();
        vec![
            (
                "task losses",
                losses.into_iter().flat_map(values).collect::<Vec<_>>(),
            ),
            (
                "d logits",
                values(net.architecture.logits.val().grad(&grads).unwrap()),
            ),
            (
                "d fusion weight",
                values(fusion_weight.grad(&grads).unwrap()),
            ),
        ]
    });
}

#[test]
#[ignore = "needs MTL_NAS_TEST_DEVICES naming a device to compare with flex, and --include-ignored"]
fn short_search_and_derived_network() {
    // Four search iterations (architecture + weight steps, with augmentation and relaxed
    // Bernoulli noise from the seeded host generator), then the derived network's outputs on
    // test images.
    let experiment = tiny_experiment();
    let (train, test) = experiment.datasets().unwrap();
    compare("short search", 20.0, |device| {
        let net = tiny_supernet(&experiment, device);
        let tasks = experiment.tasks();
        let outcome = Search::new(experiment.settings.search.clone())
            .run(net, &tasks, train.as_ref())
            .unwrap();
        let logits = outcome.network.architecture.logit_values().unwrap();
        // The derived network keeps the edges with positive logits; matching outputs also
        // show every device kept the same edges.
        let derived = outcome
            .network
            .clone()
            .derive(&outcome.architecture)
            .unwrap();
        let batch = test.batch(&[0, 1], None, device).unwrap();
        let keep = outcome.architecture.mask();
        let outputs = derived
            .forward(batch.images, &EdgeGates::from_mask(&keep, device))
            .unwrap();
        let mut checks = vec![("logits", logits)];
        for out in outputs {
            checks.push(("derived outputs", values(out)));
        }
        checks
    });
}
