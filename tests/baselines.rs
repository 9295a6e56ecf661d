//! The baselines train and evaluate like the searched network, and behave as their structure
//! says on a problem with a known answer ([`CrossModalCopy`]: task `b` needs task `a`'s
//! channel).

use mtl_nas::net::MultiTaskNetwork;
use mtl_nas::net::baselines::{self, Baseline};
use mtl_nas::prelude::*;
use mtl_nas::search::{WeightOptimizerConfig, evaluate_network};
use mtl_nas::train::train;

fn branches(device: &Device) -> Vec<SmallCnn> {
    let mut rng = SeededRng::new(0);
    (0..2)
        .map(|t| {
            SmallCnnConfig::new(2, Stage::pyramid(&[(2, 8)]), 1)
                .with_input_view(t, 1)
                .init(&mut rng, device)
                .unwrap()
        })
        .collect()
}

fn tasks() -> Vec<Box<dyn Task>> {
    ["a", "b"]
        .iter()
        .map(|n| Box::new(DenseRegression::new(*n, 1, RegressionLoss::L2)) as Box<dyn Task>)
        .collect()
}

fn fit<N: MultiTaskNetwork>(net: N) -> Vec<f64> {
    let train_data = CrossModalCopy::new(2, 8, 64, 1).generate().unwrap();
    let test_data = CrossModalCopy::new(2, 8, 32, 2).generate().unwrap();
    let config = SearchConfig {
        steps: 300,
        batch_size: 8,
        weights: WeightOptimizerConfig {
            learning_rate: 0.01,
            fusion_multiplier: 10.0,
            ..Default::default()
        },
        ..Default::default()
    };
    let outcome = train(net, &tasks(), &train_data, &(&config).into(), |_| {}).unwrap();
    assert_eq!(outcome.history.len(), 300);
    evaluate_network(&outcome.network, &tasks(), &test_data, 16)
        .unwrap()
        .losses
}

#[test]
fn each_baseline_trains_alone_and_behaves_as_its_structure_says() {
    let device = Device::flex().autodiff();
    let names = ["a", "b"];
    let single = fit(baselines::single_task(branches(&device), &names, &device).unwrap());
    let shared = fit(baselines::shared_trunk(branches(&device), &names).unwrap());
    let nddr = fit(baselines::nddr_cnn(
        branches(&device),
        &names,
        FusionConfig::nddr(0.9, 0.1),
        0,
        &device,
    )
    .unwrap());
    let all = fit(baselines::all_edges(
        branches(&device),
        &names,
        EdgeRule::same_stage(),
        FusionConfig::nddr(0.9, 0.1),
        0,
        &device,
    )
    .unwrap());
    let none = fit(baselines::no_edges(
        branches(&device),
        &names,
        EdgeRule::same_stage(),
        FusionConfig::nddr(0.9, 0.1),
        0,
        &device,
    )
    .unwrap());
    let rows = [&single, &shared, &none, &nddr, &all];
    for (baseline, losses) in Baseline::ALL.iter().zip(rows) {
        println!("{}: {losses:?}", baseline.name());
    }
    // Task a sees its channel everywhere. Task b's own branch sees only channel 1: alone it
    // stays near the variance of channel 0 (1.0); the shared trunk is task a's branch, so b
    // gets channel 0 there; fusion carries it across. The fusion layers without edges carry
    // nothing across, so b is as badly off as alone.
    assert!(single[0] < 0.2 && single[1] > 0.8, "{single:?}");
    assert!(none[0] < 0.2 && none[1] > 0.8, "{none:?}");
    assert!(shared[1] < 0.3, "{shared:?}");
    assert!(nddr[1] < 0.3, "{nddr:?}");
    assert!(all[1] < 0.3, "{all:?}");
}

#[test]
fn the_capacity_control_keeps_every_fusion_layer_and_no_edge() {
    let device = Device::flex();
    let names = ["a", "b"];
    let rule = EdgeRule::same_stage();
    let fusion = FusionConfig::nddr(0.9, 0.1);
    let none = baselines::no_edges(branches(&device), &names, rule.clone(), fusion, 0, &device);
    let all = baselines::all_edges(branches(&device), &names, rule, fusion, 0, &device);
    let (none, all) = (none.unwrap(), all.unwrap());
    let single = baselines::single_task(branches(&device), &names, &device).unwrap();
    let [none, all, single] = [&none, &all, &single].map(|n| n.cost([8, 8]).unwrap().summary());
    // Two branches of two 8-channel nodes on 8 x 8 inputs, same-stage edges: every node is a
    // fusion target (in-degrees 1 and 2 per task). Without edges each of the 4 fusions is an
    // 8 -> 8 1x1 convolution over 64 pixels: 4 * 8 * 8 * 64 = 16384 MACs; with all 6 edges,
    // each edge adds 8 * 8 * 64 = 4096 more.
    assert_eq!(none.fusion_macs, 4 * 8 * 8 * 64);
    assert_eq!(all.fusion_macs, none.fusion_macs + 6 * 8 * 8 * 64);
    assert_eq!(single.fusion_macs, 0);
    assert_eq!(none.branch_macs, single.branch_macs);
}

#[test]
fn baselines_reject_mismatched_inputs() {
    let device = Device::flex();
    assert!(baselines::single_task(branches(&device), &["a"], &device).is_err());
    let mut rng = SeededRng::new(0);
    let wide = SmallCnnConfig::new(2, Stage::pyramid(&[(2, 16)]), 1)
        .init(&mut rng, &device)
        .unwrap();
    let narrow = SmallCnnConfig::new(2, Stage::pyramid(&[(2, 8)]), 1)
        .init(&mut rng, &device)
        .unwrap();
    let err = baselines::shared_trunk(vec![narrow, wide], &["a", "b"])
        .unwrap_err()
        .to_string();
    assert!(err.contains("task `b`"), "{err}");
}
