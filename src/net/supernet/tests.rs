//! The supernet on small branches.

use super::*;
use crate::arch::{Connectivity, EdgeGates, tensor_to_vec};
use crate::branch::{SmallCnn, SmallCnnConfig};
use crate::rng::SeededRng;
use crate::space::EdgeRule;
use crate::space::Stage;

fn branches(device: &Device, stages: Vec<(usize, usize)>, n: usize) -> Vec<SmallCnn> {
    let mut rng = SeededRng::new(1);
    (0..n)
        .map(|_| {
            SmallCnnConfig::new(3, Stage::pyramid(&stages), 2)
                .init(&mut rng, device)
                .unwrap()
        })
        .collect()
}

fn space_of(branches: &[SmallCnn], rule: EdgeRule) -> SearchSpace {
    let d: Vec<_> = branches
        .iter()
        .enumerate()
        .map(|(i, b)| b.describe(&format!("t{i}")))
        .collect();
    SearchSpace::from_branches(&d, rule).unwrap()
}

#[test]
fn cross_scale_edges_resize_and_project_and_train() {
    // Stages of 4 then 8 channels at strides 1 and 2: the shallower rule joins them across
    // scales and channel counts.
    let device = Device::flex().autodiff();
    let b = branches(&device, vec![(1, 4), (1, 8)], 2);
    let space = space_of(&b, EdgeRule::shallower());
    let crossing = space
        .edges()
        .iter()
        .filter(|e| space.bridge(e).resize && !space.bridge(e).is_identity())
        .count();
    assert_eq!(space.num_edges(), 6);
    assert_eq!(crossing, 2, "t0[0] -> t1[1] and t1[0] -> t0[1]");
    let net = Supernet::new(&space, b, FusionConfig::nddr(0.5, 0.5), 0, &device).unwrap();
    let images = Tensor::<4>::ones([2, 3, 8, 8], &device);
    let weights = net
        .architecture
        .connectivity(Connectivity::Sigmoid, &mut SeededRng::new(0))
        .unwrap();
    let outputs = net.forward(images, &weights).unwrap();
    assert_eq!(outputs.len(), 2);
    assert_eq!(outputs[0].dims(), [2, 2, 4, 4]);
    let loss = outputs
        .into_iter()
        .map(|o| o.sum())
        .reduce(|a, b| a + b)
        .unwrap();
    let grads = loss.backward();
    let g = tensor_to_vec(net.architecture.logits.val().grad(&grads).unwrap()).unwrap();
    assert_eq!(g.len(), 6);
    assert!(g.iter().all(|v| v.is_finite()));
    assert!(g.iter().filter(|v| v.abs() > 0.0).count() >= 4, "{g:?}");
}

#[test]
fn the_logits_only_view_gives_the_same_logit_gradient_and_no_weight_gradients() {
    let device = Device::flex().autodiff();
    let b = branches(&device, vec![(1, 4), (1, 8)], 2);
    let space = space_of(&b, EdgeRule::shallower());
    let net = Supernet::new(&space, b, FusionConfig::nddr(0.5, 0.5), 0, &device).unwrap();
    let images = Tensor::<4>::random(
        [2, 3, 8, 8],
        burn::tensor::Distribution::Normal(0.0, 1.0),
        &device,
    );
    let gradients = |network: &Supernet<SmallCnn>| {
        let weights = network
            .architecture
            .connectivity(Connectivity::Sigmoid, &mut SeededRng::new(0))
            .unwrap();
        let loss = network
            .forward(images.clone(), &weights)
            .unwrap()
            .into_iter()
            .map(|o| (o.clone() * o).sum())
            .reduce(|a, b| a + b)
            .unwrap();
        let grads = loss.backward();
        let logits = network.architecture.logits.val().grad(&grads).unwrap();
        let fusion_weight = match network.fusions[1][1].as_ref().unwrap() {
            NodeFusion::Nddr(f) => f.weight.val().grad(&grads),
            NodeFusion::CrossStitch(_) => unreachable!(),
        };
        (tensor_to_vec(logits).unwrap(), fusion_weight.is_some())
    };
    // The view is made first, while the batch norms' parameters are still lazy: the
    // original network must keep training them afterwards.
    let view_net = net.logits_only();
    let (view, view_has_weight_gradient) = gradients(&view_net);
    let (full, full_has_weight_gradient) = gradients(&net);
    assert!(full_has_weight_gradient && !view_has_weight_gradient);
    assert!(full.iter().any(|g| *g != 0.0));
    // Bit for bit: the same operations reach the logits either way.
    assert_eq!(full, view);
    let weights = net
        .architecture
        .connectivity(Connectivity::Sigmoid, &mut SeededRng::new(0))
        .unwrap();
    let loss = net.forward(images, &weights).unwrap()[1].clone().sum();
    let grads = loss.backward();
    let NodeFusion::Nddr(fusion) = net.fusions[1][1].as_ref().unwrap() else {
        unreachable!()
    };
    assert!(
        fusion.norm.gamma.val().grad(&grads).is_some(),
        "the original network's batch-norm scale lost its gradient"
    );
}

#[test]
fn hard_connectivity_skips_pruned_edges_and_matches_zero_weights() {
    let device = Device::flex();
    let b = branches(&device, vec![(2, 4)], 2);
    let space = space_of(&b, EdgeRule::same_stage());
    let net = Supernet::new(&space, b, FusionConfig::nddr(0.6, 0.4), 0, &device).unwrap();
    let images = Tensor::<4>::random([1, 3, 6, 6], burn::tensor::Distribution::Default, &device);
    let mask = [true, false, true, false, true, true];
    let skipped = net
        .forward(images.clone(), &EdgeGates::from_mask(&mask, &device))
        .unwrap();
    let zeros = EdgeGates {
        active: vec![true; 6],
        ..EdgeGates::from_mask(&mask, &device)
    };
    let multiplied = net.forward(images, &zeros).unwrap();
    for (a, b) in skipped.into_iter().zip(multiplied) {
        for (x, y) in tensor_to_vec(a)
            .unwrap()
            .iter()
            .zip(tensor_to_vec(b).unwrap())
        {
            assert!((x - y).abs() < 1e-5);
        }
    }
}

#[test]
fn mismatches_are_errors_not_panics() {
    let device = Device::flex();
    let b = branches(&device, vec![(2, 4)], 2);
    let space = space_of(&b, EdgeRule::same_stage());
    let other = branches(&device, vec![(3, 4)], 2);
    let err = Supernet::new(&space, other, FusionConfig::nddr(1.0, 0.0), 0, &device)
        .unwrap_err()
        .to_string();
    assert!(err.contains("branch of task `t0`"), "{err}");
    let one = branches(&device, vec![(2, 4)], 1);
    assert!(Supernet::new(&space, one, FusionConfig::nddr(1.0, 0.0), 0, &device).is_err());
    let net = Supernet::new(&space, b, FusionConfig::nddr(1.0, 0.0), 0, &device).unwrap();
    let weights = EdgeGates::from_mask(&[true; 6], &device);
    let err = net
        .forward(Tensor::zeros([1, 2, 4, 4], &device), &weights)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("supernet input") && err.contains("3 channels"),
        "{err}"
    );
    let short = EdgeGates::from_mask(&[true; 5], &device);
    assert!(
        net.forward(Tensor::zeros([1, 3, 4, 4], &device), &short)
            .is_err()
    );
}

#[test]
fn networks_built_alike_share_parameter_ids() {
    let device = Device::flex();
    let build = || {
        let b = branches(&device, vec![(2, 4)], 2);
        let space = space_of(&b, EdgeRule::same_stage());
        Supernet::new(&space, b, FusionConfig::nddr(1.0, 0.0), 0, &device).unwrap()
    };
    let (a, b) = (build().parameter_roles(), build().parameter_roles());
    assert_eq!(a.weights(), b.weights());
    assert_eq!(a.architecture, b.architecture);
    let unique: std::collections::HashSet<_> = a.weights().into_iter().collect();
    assert_eq!(unique.len(), a.weights().len());
}

#[test]
fn parameter_roles_cover_every_trainable_tensor_once() {
    let device = Device::flex();
    let b = branches(&device, vec![(2, 4)], 2);
    let space = space_of(&b, EdgeRule::same_stage());
    let net = Supernet::new(&space, b, FusionConfig::nddr(1.0, 0.0), 0, &device).unwrap();
    let roles = net.parameter_roles();
    // Per branch: 2 convs + 2 x (gamma, beta) + head weight + head bias = 8; per fusion
    // (4 nodes): weight + gamma + beta = 3.
    assert_eq!(roles.backbone.len(), 2 * 6);
    assert_eq!(roles.classifier_weights.len(), 2);
    assert_eq!(roles.classifier_biases.len(), 2);
    assert_eq!(roles.fusion.len(), 4 * 3);
    let all = roles.weights();
    let unique: std::collections::HashSet<_> = all.iter().collect();
    assert_eq!(unique.len(), all.len());
    assert!(!all.contains(&roles.architecture));
    // No decay on the 1-D tensors: 2 x (4 gammas/betas + 1 bias) + 4 x 2 fusion BN.
    assert_eq!(roles.no_decay.len(), 2 * 5 + 4 * 2);
}
