//! The cost-aware extension of the search on the problem whose answer is known
//! ([`CrossModalCopy`]: task `b` needs the edge `a[1] -> b[1]`, nothing else helps): off, it is
//! the reference search bit for bit; strong enough, it prunes every edge; resumed, it is exact.

use mtl_nas::cost::EdgeCostKind;
use mtl_nas::prelude::*;
use mtl_nas::search::checkpoint;
use mtl_nas::search::{ArchitectureOptimizerConfig, CostPenalty, WeightOptimizerConfig};

/// The problem of `tests/search_core.rs`: two 2-layer branches, three candidate edges, of
/// which `b` needs `a[1] -> b[1]`.
fn problem(seed: u64) -> (Supernet<SmallCnn>, Vec<Box<dyn Task>>) {
    let device = Device::flex().autodiff();
    let mut rng = SeededRng::new(seed);
    let branches: Vec<SmallCnn> = (0..2)
        .map(|t| {
            SmallCnnConfig::new(2, Stage::pyramid(&[(2, 8)]), 1)
                .with_input_view(t, 1)
                .init(&mut rng, &device)
                .unwrap()
        })
        .collect();
    let edge = |s: (usize, usize), t: (usize, usize)| {
        FusionEdge::new(NodeId::new(s.0, s.1), NodeId::new(t.0, t.1))
    };
    let rule = EdgeRule::explicit(vec![
        edge((0, 1), (1, 1)), // a[1] -> b[1]: the one b needs
        edge((1, 0), (0, 0)), // b[0] -> a[0]: useless to a
        edge((1, 1), (0, 1)), // b[1] -> a[1]: useless to a
    ]);
    let space = SearchSpace::from_branches(
        &[branches[0].describe("a"), branches[1].describe("b")],
        rule,
    )
    .unwrap();
    let net = Supernet::new(
        &space,
        branches,
        FusionConfig::nddr(1.0, 0.0),
        seed,
        &device,
    )
    .unwrap();
    let tasks = ["a", "b"]
        .iter()
        .map(|n| Box::new(DenseRegression::new(*n, 1, RegressionLoss::L2)) as Box<dyn Task>)
        .collect();
    (net, tasks)
}

fn data() -> InMemoryDataset {
    CrossModalCopy::new(2, 8, 64, 1).generate().unwrap()
}

fn config(steps: usize, penalty: CostPenalty) -> SearchConfig {
    SearchConfig {
        steps,
        batch_size: 8,
        seed: 3,
        cost_penalty: penalty,
        architecture: ArchitectureOptimizerConfig {
            learning_rate: 0.05,
            ..Default::default()
        },
        weights: WeightOptimizerConfig {
            learning_rate: 0.01,
            fusion_multiplier: 10.0,
            ..Default::default()
        },
        ..Default::default()
    }
}

fn logits(config: SearchConfig) -> Vec<f32> {
    let (net, tasks) = problem(1);
    let outcome = Search::new(config).run(net, &tasks, &data()).unwrap();
    outcome.architecture.logits()
}

#[test]
fn a_zero_weight_is_the_reference_search_bit_for_bit() {
    let reference = logits(config(20, CostPenalty::default()));
    // Weight 0 with any pricing or budget changes nothing.
    let off = CostPenalty {
        weight: 0.0,
        edge_cost: EdgeCostKind::TargetChannels,
        budget: Some(0.3),
        budget_of: mtl_nas::search::BudgetOf::CandidateEdges,
        schedule: mtl_nas::search::PenaltySchedule::Warmup(0.5),
    };
    assert_eq!(logits(config(20, off)), reference);
    // ... while any weight does.
    assert_ne!(logits(config(20, CostPenalty::macs(1.0))), reference);
}

/// A search of 400 steps with `penalty`, the first tenth training the weights only.
fn warm_search(penalty: CostPenalty) -> Architecture {
    let (net, tasks) = problem(1);
    let config = SearchConfig {
        architecture_warmup: 0.1,
        ..config(400, penalty)
    };
    let architecture = Search::new(config)
        .run(net, &tasks, &data())
        .unwrap()
        .architecture;
    println!("{architecture}");
    architecture
}

#[test]
fn the_weight_trades_the_needed_edge_against_its_cost() {
    // After the warm-up the needed edge's task gradient is informative, the useless edges'
    // is about 0. Without a penalty the search keeps the needed edge and, on this seed, the
    // useless b[1] -> a[1] too; a small weight prunes the useless ones and keeps the needed
    // one; a weight of 100 per mean-cost edge outweighs every task gradient: every edge goes.
    let needed = FusionEdge::new(NodeId::new(0, 1), NodeId::new(1, 1));
    assert!(
        warm_search(CostPenalty::default())
            .decision(&needed)
            .unwrap()
            .kept
    );
    for e in &warm_search(CostPenalty::macs(0.1)).edges {
        assert_eq!(e.kept, e.edge == needed, "{}", e.name);
    }
    assert_eq!(warm_search(CostPenalty::macs(100.0)).num_kept(), 0);
}

#[test]
fn without_a_warm_up_even_a_tiny_weight_prunes_the_needed_edge() {
    // With the identity initialisation the task gradients of the logits are exactly 0 at the
    // first step, so any penalty decides the sign of every logit there, and Adam plus the
    // entropy term carry it through: why the cost-aware search needs the warm-up.
    let (net, tasks) = problem(1);
    let cold = Search::new(config(400, CostPenalty::macs(0.003)))
        .run(net, &tasks, &data())
        .unwrap();
    assert_eq!(cold.architecture.num_kept(), 0, "{}", cold.architecture);
}

#[test]
fn the_warm_up_leaves_the_logits_alone() {
    // 10 steps, warm-up 0.5: iterations 0-4 take no architecture step.
    let (net, tasks) = problem(1);
    let config = SearchConfig {
        architecture_warmup: 0.5,
        record_logits_every: 1,
        ..config(10, CostPenalty::macs(1.0))
    };
    let outcome = Search::new(config).run(net, &tasks, &data()).unwrap();
    for log in &outcome.history {
        let moved = log.logits.as_ref().unwrap().iter().any(|&a| a != 0.0);
        assert_eq!(moved, log.iteration >= 5, "iteration {}", log.iteration);
        assert_eq!(log.architecture_losses.is_empty(), log.iteration < 5);
        let status = match log.iteration < 5 {
            true => StepStatus::NotRun,
            false => StepStatus::Applied,
        };
        assert_eq!(
            (log.architecture_step, log.weight_step),
            (status, StepStatus::Applied)
        );
    }
}

#[test]
fn a_cost_aware_search_resumes_exactly() {
    let dir = std::env::temp_dir().join(format!("mtl-nas-cost-resume-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let budget = CostPenalty::budget(0.5, 0.25);
    let straight = logits(config(8, budget.clone()));
    let with_checkpoints = SearchConfig {
        checkpoint_every: 4,
        ..config(8, budget)
    };
    let search = Search::new(with_checkpoints).with_checkpoints(&dir);
    let (net, tasks) = problem(1);
    search.run(net, &tasks, &data()).unwrap();
    // Forget iteration 8, resume from 4.
    let (newest, folder) = checkpoint::list(&dir).unwrap().pop().unwrap();
    assert_eq!(newest, 8);
    std::fs::remove_dir_all(folder).unwrap();
    let (net, tasks) = problem(1);
    let resumed = search.resume(net, &tasks, &data(), |_| {}).unwrap();
    assert_eq!(resumed.architecture.logits(), straight);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_budget_on_fusion_macs_is_the_budget_on_edge_costs_it_converts_to() {
    // Every node of `problem` has 8 channels at 8 x 8 (one stage, no pool): each of the three
    // fusions (into a[0], a[1], b[1]) costs u = 8 * 8 * 64 MACs for its own feature and u per
    // kept edge, so N = 3u with no edge and A = 6u with all three. 62.5% of A is 3.75u, N
    // plus a quarter of the edges' 3u: the budget of 0.25 of the edges' cost, bit for bit.
    let on_fusion_macs = logits(config(8, CostPenalty::fusion_budget(0.5, 0.625)));
    assert_eq!(
        on_fusion_macs,
        logits(config(8, CostPenalty::budget(0.5, 0.25)))
    );
    // The hinge binds from the first step (expected cost 0.5 > 0.25), so the budget matters.
    assert_ne!(on_fusion_macs, logits(config(8, CostPenalty::default())));
    // Half of A is N: no architecture's fusions cost less, and the search says so.
    let (net, tasks) = problem(1);
    let error = Search::new(config(8, CostPenalty::fusion_budget(0.5, 0.5)))
        .run(net, &tasks, &data())
        .unwrap_err()
        .to_string();
    assert!(error.contains("cost_penalty.budget"), "{error}");
    // A fusion-MACs budget on edges priced otherwise is refused before the search starts.
    let channels = CostPenalty {
        edge_cost: EdgeCostKind::TargetChannels,
        ..CostPenalty::fusion_budget(0.5, 0.75)
    };
    assert!(config(8, channels).validate(2).is_err());
}
