//! The search configuration: presets, checks, schedules.

use super::*;

#[test]
fn schedules_follow_the_reference_formulas() {
    let config = SearchConfig {
        steps: 100,
        entropy_schedule: EntropySchedule::Constant,
        ..SearchConfig::default()
    };
    assert_eq!(config.temperature_at(0), 1.0);
    // (1 - 50/100)^2 = 0.25; (1 - 50/100)^0.9 = 0.535887.
    assert!((config.temperature_at(50) - 0.25).abs() < 1e-12);
    assert!((config.poly_factor_at(50) - 0.5f64.powf(0.9)).abs() < 1e-12);
    assert_eq!(config.entropy_weight_at(0), 10.0);
    let ramp = SearchConfig {
        entropy_schedule: EntropySchedule::LinearRamp,
        ..config
    };
    assert_eq!(ramp.entropy_weight_at(0), 0.0);
    assert!((ramp.entropy_weight_at(25) - 2.5).abs() < 1e-12);
    // The reference code: 0 at step 0, then the full weight.
    let reference = SearchConfig::nyuv2_reference();
    assert_eq!(reference.entropy_weight_at(0), 0.0);
    assert_eq!(reference.entropy_weight_at(1), 10.0);
    assert_eq!(reference.entropy_weight_at(20000), 10.0);
    // The cost penalty: a quarter of 100 steps off, then on; or ramped in.
    let warm = CostPenalty {
        schedule: PenaltySchedule::Warmup(0.25),
        ..CostPenalty::macs(2.0)
    };
    assert_eq!(
        (warm.weight_at(24, 100), warm.weight_at(25, 100)),
        (0.0, 2.0)
    );
    let ramp = CostPenalty {
        schedule: PenaltySchedule::LinearRamp,
        ..CostPenalty::macs(2.0)
    };
    assert_eq!(
        (ramp.weight_at(0, 100), ramp.weight_at(50, 100)),
        (0.0, 1.0)
    );
}

/// The default configuration with one change.
fn changed(change: impl FnOnce(&mut SearchConfig)) -> SearchConfig {
    let mut config = SearchConfig::default();
    change(&mut config);
    config
}

#[test]
fn impossible_values_are_named() {
    let cases: Vec<(&str, SearchConfig)> = vec![
        ("batch_size", changed(|c| c.batch_size = 0)),
        ("steps", changed(|c| c.steps = 0)),
        ("train_split", changed(|c| c.train_split = 1.0)),
        ("task_weights", changed(|c| c.task_weights = vec![1.0])),
        (
            "weights.learning_rate",
            changed(|c| c.weights.learning_rate = -1e-3),
        ),
        (
            "architecture.beta1",
            changed(|c| c.architecture.beta1 = 1.0),
        ),
        ("entropy_weight", changed(|c| c.entropy_weight = f64::NAN)),
        (
            "cost_penalty.weight",
            changed(|c| c.cost_penalty = CostPenalty::macs(-0.1)),
        ),
        (
            "cost_penalty.budget",
            changed(|c| c.cost_penalty = CostPenalty::budget(1.0, 0.0)),
        ),
        (
            "cost_penalty.budget",
            changed(|c| c.cost_penalty = CostPenalty::budget(1.0, 1.5)),
        ),
        (
            "cost_penalty.budget",
            changed(|c| c.cost_penalty = CostPenalty::fusion_budget(1.0, 1.5)),
        ),
        (
            "cost_penalty.budget_of",
            changed(|c| {
                c.cost_penalty = CostPenalty {
                    edge_cost: EdgeCostKind::Uniform,
                    ..CostPenalty::fusion_budget(1.0, 0.5)
                }
            }),
        ),
    ];
    for (field, config) in cases {
        let err = config.validate(2).unwrap_err().to_string();
        assert!(err.contains(&format!("`{field}`")), "{field}: {err}");
    }
    SearchConfig::default().validate(2).unwrap();
}

#[test]
fn the_nyuv2_preset_holds_the_reference_values() {
    let c = SearchConfig::nyuv2_reference();
    assert_eq!((c.steps, c.batch_size, c.seed), (20001, 10, 1));
    assert_eq!(c.task_weights, [1.0, 20.0]);
    assert_eq!(c.augmentation.crop, Some([321, 321]));
    assert_eq!((c.architecture.beta1, c.architecture.beta2), (0.5, 0.999));
    assert_eq!(c.weights.fusion_multiplier * c.weights.learning_rate, 0.1);
    c.validate(2).unwrap();
    assert!(c.validate(3).is_err(), "two task weights for three tasks");
}

#[test]
fn json_round_trip() {
    let dir = std::env::temp_dir().join(format!("mtl-nas-config-{}", std::process::id()));
    let path = dir.join("config.json");
    let config = SearchConfig {
        seed: 11,
        task_weights: vec![1.0, 20.0],
        cost_penalty: CostPenalty {
            weight: 0.3,
            edge_cost: EdgeCostKind::Macs,
            budget: Some(0.5),
            budget_of: BudgetOf::AllEdgesFusionMacs,
            schedule: PenaltySchedule::Warmup(0.25),
        },
        ..Default::default()
    };
    config.save(&path).unwrap();
    assert_eq!(SearchConfig::load(&path).unwrap(), config);
    // A configuration written before the cost penalty existed reads as "off".
    let mut old: serde_json::Value = serde_json::to_value(SearchConfig::default()).unwrap();
    old.as_object_mut().unwrap().remove("cost_penalty");
    let old = serde_json::to_vec(&old).unwrap();
    let read = SearchConfig::from_json(&old, Path::new("old.json"), 2).unwrap();
    assert!(!read.cost_penalty.is_on());
    std::fs::remove_dir_all(dir).unwrap();
}
