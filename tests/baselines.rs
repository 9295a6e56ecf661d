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
    for (baseline, losses) in Baseline::ALL.iter().zip([&single, &shared, &nddr, &all]) {
        println!("{}: {losses:?}", baseline.name());
    }
    // Task a sees its channel everywhere. Task b's own branch sees only channel 1: alone it
    // stays near the variance of channel 0 (1.0); the shared trunk is task a's branch, so b
    // gets channel 0 there; fusion carries it across.
    assert!(single[0] < 0.2 && single[1] > 0.8, "{single:?}");
    assert!(shared[1] < 0.3, "{shared:?}");
    assert!(nddr[1] < 0.3, "{nddr:?}");
    assert!(all[1] < 0.3, "{all:?}");
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
