//! The paper's network: two VGG-16 DeepLab-LargeFOV branches joined by the reference rule.

use burn::tensor::{Distribution, Tensor};
use mtl_nas::fusion::NodeFusion;
use mtl_nas::prelude::*;

fn supernet(device: &Device, divisor: usize) -> Supernet<Vgg16LargeFov> {
    let mut rng = SeededRng::new(0);
    let seg = Vgg16LargeFovConfig::new(40)
        .with_width_divisor(divisor)
        .init(&mut rng, device)
        .unwrap();
    let normal = Vgg16LargeFovConfig::new(3)
        .with_width_divisor(divisor)
        .init(&mut rng, device)
        .unwrap();
    let space = SearchSpace::from_branches(
        &[seg.describe("seg"), normal.describe("normal")],
        EdgeRule::same_stage(),
    )
    .unwrap();
    Supernet::new(
        &space,
        vec![seg, normal],
        FusionConfig::nddr(1.0, 0.0),
        0,
        device,
    )
    .unwrap()
}

#[test]
fn edge_and_fusion_parameter_counts_match_the_paper() {
    // Per branch, node i's 1x1 conv has C_i x (d_i + 1) C_i weights with in-degrees
    // d = [1,2,1,2,1,2,3,1,2,3,1,2,3]: 64^2 (2+3) + 128^2 (2+3) + 256^2 (2+3+4)
    // + 2 x 512^2 (2+3+4) = 20480 + 81920 + 589824 + 4718592 = 5,410,816.
    let device = Device::flex();
    let net = supernet(&device, 1);
    assert_eq!(net.space().num_edges(), 48);
    let mut modules = 0;
    let mut weights = [0usize; 2];
    for (task, row) in net.fusions.iter().enumerate() {
        for fusion in row.iter().flatten() {
            modules += 1;
            match fusion {
                NodeFusion::Nddr(f) => weights[task] += f.weight.val().shape().num_elements(),
                NodeFusion::CrossStitch(_) => panic!("NDDR expected"),
            }
        }
    }
    assert_eq!(modules, 26);
    assert_eq!(weights, [5_410_816, 5_410_816]);
    assert_eq!(weights[0] + weights[1], 10_821_632);
}

#[test]
fn a_321_by_321_forward_gives_the_heads_40_by_40_maps() {
    let device = Device::flex();
    let net = supernet(&device, 1);
    let images = Tensor::<4>::random([1, 3, 321, 321], Distribution::Normal(0.0, 50.0), &device);
    let weights = net
        .architecture
        .connectivity(Connectivity::Hard, &mut SeededRng::new(0))
        .unwrap();
    let outputs = net.forward(images, &weights).unwrap();
    assert_eq!(outputs[0].dims(), [1, 40, 40, 40]);
    assert_eq!(outputs[1].dims(), [1, 3, 40, 40]);
}

#[test]
fn forward_and_backward_on_a_small_input() {
    // Full-width branches, a 33 x 33 input: every layer, fusion, head and logit gets a finite
    // gradient through the sigmoid relaxation.
    let device = Device::flex().autodiff();
    let net = supernet(&device, 1);
    let images = Tensor::<4>::random([2, 3, 33, 33], Distribution::Normal(0.0, 50.0), &device);
    let weights = net
        .architecture
        .connectivity(Connectivity::Sigmoid, &mut SeededRng::new(0))
        .unwrap();
    let outputs = net.forward(images, &weights).unwrap();
    assert_eq!(outputs[0].dims(), [2, 40, 4, 4]);
    let loss = outputs
        .into_iter()
        .map(|o| o.powi_scalar(2).mean())
        .reduce(|a, b| a + b)
        .unwrap();
    let grads = loss.backward();
    let logits = net.architecture.logits.val().grad(&grads).unwrap();
    assert_eq!(logits.dims(), [48]);
    let g = logits.into_data().try_into_vec_as::<f32>().unwrap();
    assert!(g.iter().all(|v| v.is_finite()));
    let conv = net.branches[1].convs[0].weight.val().grad(&grads).unwrap();
    let conv_norm: f32 = conv.abs().sum().into_scalar();
    assert!(conv_norm.is_finite() && conv_norm > 0.0);
}
