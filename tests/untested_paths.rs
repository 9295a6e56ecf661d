//! Paths no other test reached, each checked against values worked out by hand (the derivation
//! is in the comments) or from PyTorch's documented algorithm: Adam's coupled weight decay on
//! the logits, the L1 penalty, `BernoulliSample` connectivity, the sigmoid weight step,
//! torchvision's VGG-16 layout, cross-stitch fusion inside a supernet, and `train()` skipping
//! non-finite batches.
//!
//! Most tests use [`Scale`], a branch whose every layer multiplies its one-channel input by a
//! learnable scalar and whose head is the identity: a supernet of two such branches computes
//! sums of products of scalars, which can be followed by hand.

use std::collections::BTreeMap;

use burn::module::{Module, Param, ParamId};
use burn::tensor::{Tensor, TensorData};
use mtl_nas::arch::{PairAverage, l1};
use mtl_nas::branch::{
    Checkpoint, ClassifierImport, ImportWeights, Vgg16LargeFovConfig, WeightLayout,
};
use mtl_nas::fusion::NodeFusion;
use mtl_nas::prelude::*;
use mtl_nas::search::{
    ArchitectureOptimizerConfig, NonFinitePolicy, WeightOptimizerConfig, WeightStepConnectivity,
};
use mtl_nas::space::NodeDescription;
use mtl_nas::train::{TrainConfig, train};

/// A branch of one-channel layers `x -> factor_l * x` and the identity as head.
#[derive(Module, Debug)]
struct Scale {
    factors: Vec<Param<Tensor<1>>>,
}

impl Scale {
    fn new(factors: &[f32], device: &Device) -> Self {
        Self {
            factors: factors
                .iter()
                .map(|&f| Param::from_tensor(Tensor::from_floats([f], device)))
                .collect(),
        }
    }

    fn factor_values(&self) -> Vec<f32> {
        self.factors
            .iter()
            .map(|f| f.val().into_scalar::<f32>())
            .collect()
    }
}

impl TaskBranch for Scale {
    fn describe(&self, task: &str) -> BranchDescription {
        let node = NodeDescription {
            stage: 0,
            channels: 1,
            stride: 1,
        };
        BranchDescription::new(task, vec![node; self.factors.len()])
    }

    fn num_nodes(&self) -> usize {
        self.factors.len()
    }

    fn input_channels(&self) -> usize {
        1
    }

    fn layer_forward(&self, layer: usize, input: Tensor<4>) -> Tensor<4> {
        input * self.factors[layer].val().reshape([1, 1, 1, 1])
    }

    fn head_forward(&self, features: Tensor<4>) -> Tensor<4> {
        features
    }

    fn classifier_parameters(&self) -> (Vec<ParamId>, Vec<ParamId>) {
        (Vec::new(), Vec::new())
    }
}

/// Edge `b[0] -> a[1]` (written `c0` below) and edge `a[0] -> b[0]` (`c1`).
const B0_TO_A1: &str = "b[0] -> a[1]";
const A0_TO_B0: &str = "a[0] -> b[0]";

/// Tasks `a` and `b` with two nodes each and the two edges above.
fn two_edge_space() -> SearchSpace {
    let describe = |t: &str| Scale::new(&[1.0, 1.0], &Device::flex()).describe(t);
    let edges = vec![
        FusionEdge::new(NodeId::new(1, 0), NodeId::new(0, 1)),
        FusionEdge::new(NodeId::new(0, 0), NodeId::new(1, 0)),
    ];
    SearchSpace::from_branches(&[describe("a"), describe("b")], EdgeRule::explicit(edges)).unwrap()
}

/// The index of the edge called `name` in `space`.
fn edge(space: &SearchSpace, name: &str) -> usize {
    space
        .edges()
        .iter()
        .position(|e| space.edge_name(e) == name)
        .unwrap_or_else(|| panic!("no edge {name}"))
}

/// Branch `a` scales by 2 then 5, branch `b` by 3 then 7; the logits of `c0` and `c1` are
/// given.
fn scale_net(fusion: FusionConfig, c0: f32, c1: f32, device: &Device) -> Supernet<Scale> {
    let space = two_edge_space();
    let branches = vec![
        Scale::new(&[2.0, 5.0], device),
        Scale::new(&[3.0, 7.0], device),
    ];
    let mut net = Supernet::new(&space, branches, fusion, 0, device).unwrap();
    let mut logits = vec![0.0; 2];
    logits[edge(&space, B0_TO_A1)] = c0;
    logits[edge(&space, A0_TO_B0)] = c1;
    let mut parameters = ArchitectureParameters::from_logits(&logits, device);
    parameters.logits.id = net.architecture.logits.id;
    net.architecture = parameters;
    net
}

/// `n` copies of the 1 x 2 image x = (1, -2) with target 0 for both tasks (the second task's
/// target NaN in the samples `poisoned` lists). With target 0, an output `k x` has the L2
/// loss mean((k x)^2) = k^2 (1 + 4) / 2 = 2.5 k^2.
fn samples(n: usize, poisoned: &[usize]) -> InMemoryDataset {
    let dense = |v: f32| TargetData::Dense {
        values: Image::new(vec![v, v], 1, 1, 2).unwrap(),
        valid: None,
    };
    InMemoryDataset::new(
        (0..n)
            .map(|i| MultiTaskSample {
                image: Image::new(vec![1.0, -2.0], 1, 1, 2).unwrap(),
                targets: vec![
                    dense(0.0),
                    dense(if poisoned.contains(&i) { f32::NAN } else { 0.0 }),
                ],
            })
            .collect(),
    )
}

fn l2_tasks() -> Vec<Box<dyn Task>> {
    ["a", "b"]
        .iter()
        .map(|n| Box::new(DenseRegression::new(*n, 1, RegressionLoss::L2)) as Box<dyn Task>)
        .collect()
}

fn host<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().try_into_vec_as::<f32>().unwrap()
}

fn assert_close(what: &str, got: &[f32], want: &[f64], tolerance: f64) {
    assert_eq!(got.len(), want.len(), "{what}: {got:?} vs {want:?}");
    for (g, w) in got.iter().zip(want) {
        assert!(
            (*g as f64 - w).abs() <= tolerance * (1.0 + w.abs()),
            "{what}: {got:?}, by hand {want:?}"
        );
    }
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

#[test]
fn cross_stitch_inside_a_supernet_by_hand() {
    // Cross-stitch with (own, sources) = (0.9, 0.1): every fused node with one edge is
    // 0.9 * own + 0.1 * c * source, the source being the pre-fusion feature of the edge's
    // source node. c0 = sigmoid(ln 3) = 0.75, c1 = sigmoid(-ln 3) = 0.25. For an input x:
    //   a[0] = 2x (no edge: passed through);   b[0] = 3x, fused 0.9 * 3x + 0.1 * c1 * 2x = 2.75x
    //   a[1] = 5 * 2x = 10x, fused 0.9 * 10x + 0.1 * c0 * 3x = 9.225x  -> output a
    //   b[1] = 7 * 2.75x = 19.25x (no edge)                             -> output b
    // Hard connectivity keeps c0 (logit > 0) with weight 1 and skips c1:
    //   a = 9x + 0.1 * 3x = 9.3x, b = 7 * 0.9 * 3x = 18.9x.
    let device = Device::flex();
    let ln3 = 3.0f32.ln();
    let net = scale_net(FusionConfig::cross_stitch(0.9, 0.1), ln3, -ln3, &device);
    let fusions: Vec<&NodeFusion> = net.fusions.iter().flatten().flatten().collect();
    assert_eq!(fusions.len(), 2, "a[1] and b[0] have an edge each");
    assert!(
        fusions
            .iter()
            .all(|f| matches!(f, NodeFusion::CrossStitch(_)))
    );
    let x = Tensor::<4>::from_data(TensorData::new(vec![1.0f32, -2.0], [1, 1, 1, 2]), &device);
    let mut rng = SeededRng::new(0);
    let run = |mode: Connectivity, rng: &mut SeededRng| {
        let weights = net.architecture.connectivity(mode, rng).unwrap();
        let out = net.forward(x.clone(), &weights).unwrap();
        (host(out[0].clone()), host(out[1].clone()))
    };
    let (a, b) = run(Connectivity::Sigmoid, &mut rng);
    assert_close("a, sigmoid", &a, &[9.225, -18.45], 1e-6);
    assert_close("b, sigmoid", &b, &[19.25, -38.5], 1e-6);
    let (a, b) = run(Connectivity::Hard, &mut rng);
    assert_close("a, hard", &a, &[9.3, -18.6], 1e-6);
    assert_close("b, hard", &b, &[18.9, -37.8], 1e-6);
}

/// A search of `steps` iterations on the Scale network whose sources are mixed with weight 0
/// (cross-stitch (1, 0)), so the task losses give the logits no gradient at all (d out / d c =
/// 0 * source), and whose fusions never learn (multiplier 0), so that stays so; no entropy
/// regulariser. What moves the logits is then only what `architecture` and `l1_weight` add.
fn search_without_task_gradient(
    logits: (f32, f32),
    steps: usize,
    architecture: ArchitectureOptimizerConfig,
    l1_weight: f64,
) -> (SearchSpace, SearchOutcome<Scale>) {
    let device = Device::flex().autodiff();
    let net = scale_net(
        FusionConfig::cross_stitch(1.0, 0.0),
        logits.0,
        logits.1,
        &device,
    );
    let config = SearchConfig {
        steps,
        batch_size: 2,
        entropy_weight: 0.0,
        l1_weight,
        architecture,
        weights: WeightOptimizerConfig {
            learning_rate: 0.01,
            fusion_multiplier: 0.0,
            ..Default::default()
        },
        record_logits_every: 1,
        ..Default::default()
    };
    let outcome = Search::new(config)
        .run(net, &l2_tasks(), &samples(8, &[]))
        .unwrap();
    (two_edge_space(), outcome)
}

#[test]
fn adam_with_coupled_weight_decay_on_the_logits_by_hand() {
    // PyTorch's Adam (torch.optim.Adam, weight_decay > 0): g <- g + wd * theta (coupled, not
    // AdamW's theta <- theta - lr * wd * theta); m <- b1 m + (1 - b1) g; v <- b2 v + (1 - b2)
    // g^2; theta <- theta - lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps).
    // With no task gradient, g = wd * theta. lr = 0.03, b1 = 0.5, b2 = 0.999, eps = 0.1,
    // wd = 0.1, theta = (c0, c1) = (2, -1):
    //   step 1: g = (0.2, -0.1); m / (1 - b1) = g, sqrt(v / (1 - b2)) = |g|, so
    //     theta = (2 - 0.03 * 0.2 / 0.3, -1 + 0.03 * 0.1 / 0.2) = (1.98, -0.985).
    //   (AdamW would give 2 - 0.03 * 0.1 * 2 = 1.994; no decay leaves 2.)
    //   step 2: the same formulas from step 1's m and v (computed below in f64).
    let (lr, b1, b2, eps, wd) = (0.03, 0.5, 0.999, 0.1, 0.1);
    let config = ArchitectureOptimizerConfig {
        learning_rate: lr,
        beta1: b1,
        beta2: b2,
        epsilon: eps,
        weight_decay: wd,
    };
    let (space, outcome) = search_without_task_gradient((2.0, -1.0), 2, config, 0.0);
    let order = [edge(&space, B0_TO_A1), edge(&space, A0_TO_B0)];
    let logged = |i: usize| -> Vec<f32> {
        let logits = outcome.history[i].logits.clone().unwrap();
        order.iter().map(|&e| logits[e]).collect()
    };
    assert_close("step 1", &logged(0), &[1.98, -0.985], 1e-6);
    let mut theta = [2.0f64, -1.0];
    let (mut m, mut v) = ([0.0f64; 2], [0.0f64; 2]);
    for t in 1..=2 {
        for k in 0..2 {
            let g = wd * theta[k];
            m[k] = b1 * m[k] + (1.0 - b1) * g;
            v[k] = b2 * v[k] + (1.0 - b2) * g * g;
            let m_hat = m[k] / (1.0 - b1.powi(t));
            let v_hat = v[k] / (1.0 - b2.powi(t));
            theta[k] -= lr * m_hat / (v_hat.sqrt() + eps);
        }
    }
    assert_close("step 2", &logged(1), &theta, 1e-6);
}

#[test]
fn l1_penalty_value_and_gradient_by_hand() {
    // Pair (b <- a) has the one edge a[0] -> b[0]; pair (a <- b) has three: the pair average
    // weighs them 1/2 and 1/6 each. Logits ln 3, 0, -ln 3, ln 9 give sigmoid 3/4, 1/2, 1/4,
    // 9/10 and sigmoid' = s (1 - s) = 3/16, 1/4, 3/16, 9/100.
    //   L1 = 1/2 * 3/4 + (1/2 + 1/4 + 9/10) / 6 = 0.375 + 0.275 = 0.65
    //   dL1/dalpha = w s (1 - s) = 3/32, 1/24, 1/32, 3/200
    // With per-edge costs 2, 1, 4, 3:
    //   L1 = 1/2 * 2 * 3/4 + (1/2 + 4/4 + 3 * 9/10) / 6 = 0.75 + 0.7 = 1.45
    //   dL1/dalpha = w c s (1 - s) = 3/16, 1/24, 1/8, 9/200
    let a = BranchDescription::from_stages("a", &[Stage::new(1, 4, 1), Stage::new(3, 4, 2)]);
    let b = BranchDescription::from_stages("b", &[Stage::new(1, 4, 1), Stage::new(1, 4, 2)]);
    let edges = [
        ((0, 0), (1, 0), 3.0f32.ln(), 2.0f32),
        ((1, 0), (0, 1), 0.0, 1.0),
        ((1, 0), (0, 2), -(3.0f32.ln()), 4.0),
        ((1, 1), (0, 3), 9.0f32.ln(), 3.0),
    ];
    let rule = EdgeRule::explicit(
        edges
            .iter()
            .map(|&((st, sl), (tt, tl), _, _)| {
                FusionEdge::new(NodeId::new(st, sl), NodeId::new(tt, tl))
            })
            .collect(),
    );
    let space = SearchSpace::from_branches(&[a, b], rule).unwrap();
    // The space orders edges its own way: place each edge's logit and cost at its index.
    let mut logits = vec![0.0f32; 4];
    let mut costs = vec![0.0f32; 4];
    let mut index = [0usize; 4];
    for (k, &((st, sl), (tt, tl), logit, cost)) in edges.iter().enumerate() {
        let e = FusionEdge::new(NodeId::new(st, sl), NodeId::new(tt, tl));
        index[k] = space.edges().iter().position(|x| *x == e).unwrap();
        logits[index[k]] = logit;
        costs[index[k]] = cost;
    }
    let in_our_order =
        |values: Vec<f32>| -> Vec<f32> { index.iter().map(|&i| values[i]).collect() };
    let device = Device::flex().autodiff();
    let average = PairAverage::new(&space);
    for (cost, value, gradient) in [
        (
            None,
            0.65,
            [3.0 / 32.0, 1.0 / 24.0, 1.0 / 32.0, 3.0 / 200.0],
        ),
        (
            Some(costs.clone()),
            1.45,
            [3.0 / 16.0, 1.0 / 24.0, 1.0 / 8.0, 9.0 / 200.0],
        ),
    ] {
        let alpha = Tensor::<1>::from_floats(logits.as_slice(), &device).require_grad();
        let cost = cost.map(|c| Tensor::<1>::from_floats(c.as_slice(), &device));
        let penalty = l1(alpha.clone(), &average, cost);
        assert_close("L1", &host(penalty.clone()), &[value], 1e-6);
        let grads = penalty.backward();
        let g = in_our_order(host(alpha.grad(&grads).unwrap()));
        assert_close("dL1/dalpha", &g, &gradient, 1e-6);
    }
}

#[test]
fn l1_weight_enters_the_architecture_step() {
    // No task gradient, no weight decay, logits 0: the only gradient is l1_weight * dL1/dalpha
    // = 0.4 * (1/2) * sigmoid'(0) = 0.4 * 0.5 * 0.25 = 0.05 per edge (two pairs of one edge
    // each: weights 1/2). Adam's first step moves each logit by -lr * g / (|g| + eps) =
    // -0.03 * 0.05 / 0.15 = -0.01. (Without the pair average, g = 0.1 and the step -0.015;
    // without the penalty, no step.)
    let config = ArchitectureOptimizerConfig {
        learning_rate: 0.03,
        epsilon: 0.1,
        weight_decay: 0.0,
        ..Default::default()
    };
    let (_, outcome) = search_without_task_gradient((0.0, 0.0), 1, config, 0.4);
    assert_close(
        "logits",
        outcome.history[0].logits.as_ref().unwrap(),
        &[-0.01, -0.01],
        1e-6,
    );
}

#[test]
fn bernoulli_sample_connectivity_draws_each_edge_with_probability_sigmoid() {
    // Each edge is on (weight 1, active) with probability sigmoid(alpha), else skipped (weight
    // 0, inactive). Over 4000 seeded draws the frequency lies within 4 binomial standard
    // errors (sqrt(p (1 - p) / 4000) <= 0.0079) of sigmoid(alpha); sigmoid(+-40) is 1 or 0 to
    // within 5e-18, so those edges are always on or always off.
    let device = Device::flex();
    let logits = [-2.0f32, -0.5, 0.0, 0.7, 1.5, 40.0, -40.0];
    let params = ArchitectureParameters::from_logits(&logits, &device);
    let draws = 4000;
    let mut on = [0usize; 7];
    let mut rng = SeededRng::new(17);
    for _ in 0..draws {
        let c = params
            .connectivity(Connectivity::BernoulliSample, &mut rng)
            .unwrap();
        let values = host(c.values);
        for (k, (&active, &value)) in c.active.iter().zip(&values).enumerate() {
            assert!(value == 0.0 || value == 1.0, "{values:?}");
            assert_eq!(active, value == 1.0);
            on[k] += active as usize;
        }
    }
    for (k, &alpha) in logits.iter().enumerate() {
        let p = sigmoid(alpha as f64);
        let frequency = on[k] as f64 / draws as f64;
        let bound = 4.0 * (p * (1.0 - p) / draws as f64).sqrt();
        assert!(
            (frequency - p).abs() <= bound,
            "alpha {alpha}: on in {frequency} of the draws, sigmoid {p}"
        );
    }
    assert_eq!((on[5], on[6]), (draws, 0));
    // Seeded: the same seed draws the same edges, another seed others (64 edges at p = 1/2).
    let params = ArchitectureParameters::from_logits(&[0.0; 64], &device);
    let draw = |seed| {
        params
            .connectivity(Connectivity::BernoulliSample, &mut SeededRng::new(seed))
            .unwrap()
            .active
    };
    assert_eq!(draw(3), draw(3));
    assert_ne!(draw(3), draw(4));
}

#[test]
fn evaluation_with_bernoulli_sampled_connectivity() {
    // Evaluation draws one connectivity per batch. With batch size 1, c0's logit ln 3 (on with
    // p = 3/4) and c1's -40 (never on), cross-stitch (0.9, 0.1): by the derivation in
    // `cross_stitch_inside_a_supernet_by_hand`, output a is 9.3x when c0 is on and 9x when
    // off, output b always 0.9 * 3x * 7 = 18.9x. With loss 2.5 k^2 per sample:
    //   task a: 2.5 * 81 = 202.5 off, 2.5 * 86.49 = 216.225 on: mean 202.5 + 13.725 q, where
    //     q is the fraction of samples drawn with c0 on (4 standard errors at n = 1000:
    //     4 sqrt(3/16 / 1000) = 0.055 around 3/4);
    //   task b: 2.5 * 357.21 = 893.025 for every sample.
    // Hard connectivity keeps c0 (logit > 0): task a 216.225.
    let device = Device::flex().autodiff();
    let net = scale_net(
        FusionConfig::cross_stitch(0.9, 0.1),
        3.0f32.ln(),
        -40.0,
        &device,
    );
    let data = samples(1000, &[]);
    let tasks = l2_tasks();
    let sampled =
        evaluate_losses(&net, &tasks, &data, Connectivity::BernoulliSample, 1, 5).unwrap();
    let q = (sampled[0] - 202.5) / 13.725;
    assert!((q - 0.75).abs() <= 0.055, "c0 on in {q} of the samples");
    assert!((sampled[1] - 893.025).abs() < 1e-3, "{sampled:?}");
    let again = evaluate_losses(&net, &tasks, &data, Connectivity::BernoulliSample, 1, 5).unwrap();
    assert_eq!(sampled, again, "the seed fixes the draws");
    let hard = evaluate_losses(&net, &tasks, &data, Connectivity::Hard, 10, 0).unwrap();
    assert!((hard[0] - 216.225).abs() < 1e-3, "{hard:?}");
}

#[test]
fn sigmoid_weight_step_uses_sigmoid_of_the_logits() {
    // Cross-stitch (0.9, 0.1), logits 0. By the derivation in
    // `cross_stitch_inside_a_supernet_by_hand` with weights c0, c1:
    //   output a = (9 + 0.3 c0) x, loss a = 2.5 (9 + 0.3 c0)^2
    //   output b = 7 (2.7 + 0.2 c1) x, loss b = 2.5 * 49 (2.7 + 0.2 c1)^2
    // The architecture step of iteration 0 sees c = sigmoid(0) = 1/2: losses 2.5 * 9.15^2 =
    // 209.30625 and 122.5 * 2.8^2 = 960.4. The weight step then runs on the network as it
    // was (the architecture step changes only the logits) with c = sigmoid(alpha), alpha the
    // logits after the architecture step (the log's logits: the weight step leaves them).
    let device = Device::flex().autodiff();
    let search = |mode: WeightStepConnectivity| {
        let net = scale_net(FusionConfig::cross_stitch(0.9, 0.1), 0.0, 0.0, &device);
        let config = SearchConfig {
            steps: 1,
            batch_size: 2,
            weight_step_connectivity: mode,
            architecture: ArchitectureOptimizerConfig {
                learning_rate: 0.5,
                ..Default::default()
            },
            record_logits_every: 1,
            ..Default::default()
        };
        Search::new(config)
            .run(net, &l2_tasks(), &samples(8, &[]))
            .unwrap()
    };
    let space = two_edge_space();
    let by_hand = |outcome: &SearchOutcome<Scale>| -> Vec<f64> {
        let logits = outcome.history[0].logits.as_ref().unwrap();
        let c0 = sigmoid(logits[edge(&space, B0_TO_A1)] as f64);
        let c1 = sigmoid(logits[edge(&space, A0_TO_B0)] as f64);
        vec![
            2.5 * (9.0 + 0.3 * c0).powi(2),
            122.5 * (2.7 + 0.2 * c1).powi(2),
        ]
    };
    let close = |got: &[f64], want: &[f64]| {
        got.iter()
            .zip(want)
            .all(|(g, w)| (g - w).abs() <= 1e-5 * w.abs())
    };
    let outcome = search(WeightStepConnectivity::Sigmoid);
    let log = &outcome.history[0];
    assert!(
        close(&log.architecture_losses, &[209.30625, 960.4]),
        "{:?}",
        log.architecture_losses
    );
    // The architecture step moved the logits (by about 0.5 each), so sigmoid(alpha) is not
    // the 1/2 of the architecture step.
    assert!(log.logits.as_ref().unwrap().iter().all(|a| a.abs() > 0.1));
    assert!(
        close(&log.weight_losses, &by_hand(&outcome)),
        "weight-step losses {:?}, by hand with sigmoid(alpha) {:?}",
        log.weight_losses,
        by_hand(&outcome)
    );
    // The relaxed Bernoulli (the default) draws noise: its losses are not sigmoid(alpha)'s.
    let relaxed = search(WeightStepConnectivity::RelaxedBernoulli);
    assert!(!close(
        &relaxed.history[0].weight_losses,
        &by_hand(&relaxed)
    ));
}

/// torchvision's `vgg16.features` positions of the 13 convolutions, worked out from its
/// configuration "D" (`make_layers`): each convolution is followed by a ReLU (2 entries), each
/// "M" is one max pool (1 entry).
fn torchvision_vgg16_conv_positions() -> Vec<usize> {
    let config = [
        "64", "64", "M", "128", "128", "M", "256", "256", "256", "M", "512", "512", "512", "M",
        "512", "512", "512", "M",
    ];
    let mut positions = Vec::new();
    let mut index = 0;
    for entry in config {
        if entry == "M" {
            index += 1;
        } else {
            positions.push(index);
            index += 2;
        }
    }
    positions
}

/// A 3 x 3 convolution with bias, dilation `d` and padding `d` ("same" size), then ReLU,
/// written out as loops: `x` is `[channels_in, h, w]`, `weight` `[out, in, 3, 3]`.
fn conv_relu_by_loops(
    x: &[f32],
    channels_in: usize,
    h: usize,
    w: usize,
    weight: &[f32],
    bias: &[f32],
    d: usize,
) -> Vec<f32> {
    let out = bias.len();
    let mut y = vec![0.0f32; out * h * w];
    for o in 0..out {
        for r in 0..h {
            for c in 0..w {
                let mut sum = bias[o] as f64;
                for i in 0..channels_in {
                    for kr in 0..3 {
                        for kc in 0..3 {
                            let rr = r as isize + (kr as isize - 1) * d as isize;
                            let cc = c as isize + (kc as isize - 1) * d as isize;
                            if rr < 0 || cc < 0 || rr >= h as isize || cc >= w as isize {
                                continue;
                            }
                            let value = x[(i * h + rr as usize) * w + cc as usize] as f64;
                            sum += weight[((o * channels_in + i) * 3 + kr) * 3 + kc] as f64 * value;
                        }
                    }
                }
                y[(o * h + r) * w + c] = sum.max(0.0) as f32;
            }
        }
    }
    y
}

#[test]
fn torchvision_vgg16_layout_imports_from_a_safetensors_file() {
    // A VGG-16 (no batch norm) state dict as torchvision names it, every width divided by 64
    // (convolutions 1, 1, 2, 2, 4, 4, 4, 8 x 6), with a small stand-in for its ImageNet
    // classifier, written as a .safetensors file.
    let positions = torchvision_vgg16_conv_positions();
    assert_eq!(positions, [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28]);
    let widths = [1, 1, 2, 2, 4, 4, 4, 8, 8, 8, 8, 8, 8];
    let pattern = |n: usize, seed: f64| -> Vec<f32> {
        (0..n)
            .map(|i| (0.5 * (seed + 0.73 * i as f64).sin()) as f32)
            .collect()
    };
    let mut tensors: BTreeMap<String, (Vec<usize>, Vec<f32>)> = BTreeMap::new();
    let mut channels_in = 3;
    for (layer, (&position, &width)) in positions.iter().zip(&widths).enumerate() {
        let seed = layer as f64;
        tensors.insert(
            format!("features.{position}.weight"),
            (
                vec![width, channels_in, 3, 3],
                pattern(width * channels_in * 9, seed),
            ),
        );
        tensors.insert(
            format!("features.{position}.bias"),
            (vec![width], pattern(width, seed + 0.5)),
        );
        channels_in = width;
    }
    for (name, shape) in [
        ("classifier.0.weight", vec![16, 8 * 7 * 7]),
        ("classifier.0.bias", vec![16]),
        ("classifier.3.weight", vec![16, 16]),
        ("classifier.3.bias", vec![16]),
        ("classifier.6.weight", vec![10, 16]),
        ("classifier.6.bias", vec![10]),
    ] {
        let n = shape.iter().product();
        tensors.insert(name.to_string(), (shape, pattern(n, 9.0)));
    }
    let bytes: BTreeMap<String, Vec<u8>> = tensors
        .iter()
        .map(|(k, (_, v))| (k.clone(), v.iter().flat_map(|x| x.to_le_bytes()).collect()))
        .collect();
    let views: Vec<(String, safetensors::tensor::TensorView)> = tensors
        .iter()
        .map(|(k, (shape, _))| {
            let view = safetensors::tensor::TensorView::new(
                safetensors::Dtype::F32,
                shape.clone(),
                &bytes[k],
            )
            .unwrap();
            (k.clone(), view)
        })
        .collect();
    let dir = std::env::temp_dir().join(format!("mtl-nas-vgg16-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("vgg16.safetensors");
    std::fs::write(&path, safetensors::serialize(views, None).unwrap()).unwrap();

    let device = Device::flex();
    let branch = || {
        Vgg16LargeFovConfig::new(3)
            .with_width_divisor(64)
            .init(&mut SeededRng::new(0), &device)
            .unwrap()
    };
    let checkpoint = Checkpoint::open(&path).unwrap();
    let (vgg, report) = branch()
        .import_weights(
            &checkpoint,
            WeightLayout::TorchvisionVgg16,
            ClassifierImport::Skip,
        )
        .unwrap();
    assert!(!report.classifier_loaded);
    assert_eq!(report.loaded, 26, "13 conv weights and 13 biases");
    assert_eq!(
        report.unused,
        [
            "classifier.0.bias",
            "classifier.0.weight",
            "classifier.3.bias",
            "classifier.3.weight",
            "classifier.6.bias",
            "classifier.6.weight",
        ]
    );
    // The ImageNet classifier is no LargeFOV head: asking for it is an error.
    let err = branch()
        .import_weights(
            &checkpoint,
            WeightLayout::TorchvisionVgg16,
            ClassifierImport::Require,
        )
        .unwrap_err()
        .to_string();
    assert!(err.contains("4096-wide ImageNet MLP"), "{err}");

    // Layers without a pool in front (0, 1: 3x3 convolutions; 11: dilation 2) compute
    // ReLU(conv(x) + bias) with torchvision's weights, here in evaluation mode (flex without
    // autodiff: batch norm applies its running statistics, set to pass the bias through).
    let (h, w) = (5, 6);
    let key = |layer: usize, what: &str| {
        tensors[&format!("features.{}.{what}", positions[layer])]
            .1
            .clone()
    };
    let x = pattern(3 * h * w, 0.25);
    let input = Tensor::<4>::from_data(TensorData::new(x.clone(), [1, 3, h, w]), &device);
    let y0 = vgg.layer_forward(0, input);
    let want0 = conv_relu_by_loops(&x, 3, h, w, &key(0, "weight"), &key(0, "bias"), 1);
    assert_close("layer 0", &host(y0.clone()), &to_f64(&want0), 1e-5);
    let y1 = vgg.layer_forward(1, y0);
    let want1 = conv_relu_by_loops(&want0, 1, h, w, &key(1, "weight"), &key(1, "bias"), 1);
    assert_close("layer 1", &host(y1), &to_f64(&want1), 1e-5);
    let x = pattern(8 * h * w, 0.75);
    let input = Tensor::<4>::from_data(TensorData::new(x.clone(), [1, 8, h, w]), &device);
    let y11 = vgg.layer_forward(11, input);
    let want11 = conv_relu_by_loops(&x, 8, h, w, &key(11, "weight"), &key(11, "bias"), 2);
    assert_close("layer 11", &host(y11), &to_f64(&want11), 1e-5);
    std::fs::remove_dir_all(dir).unwrap();
}

fn to_f64(values: &[f32]) -> Vec<f64> {
    values.iter().map(|&v| v as f64).collect()
}

#[test]
fn train_skips_and_counts_non_finite_batches() {
    // Five samples, sample 3's target for task `b` NaN, batch size 1, ten steps: two epochs,
    // each sample drawn once per epoch, so exactly two steps see the NaN sample. SkipBatch
    // skips those two (no update, an empty loss list) and counts them; Stop ends at the first.
    let device = Device::flex().autodiff();
    let tasks = l2_tasks();
    let data = samples(5, &[3]);
    // A small learning rate (and no x100 on the fusions) keeps the finite steps finite: the
    // losses are in the hundreds, and the reference's rates make them overflow in 3 steps.
    let config = |policy| SearchConfig {
        steps: 10,
        batch_size: 1,
        on_non_finite: policy,
        weights: WeightOptimizerConfig {
            learning_rate: 1e-4,
            fusion_multiplier: 1.0,
            ..Default::default()
        },
        ..Default::default()
    };
    let net = || scale_net(FusionConfig::cross_stitch(0.9, 0.1), 1.0, 1.0, &device);
    let outcome = train(
        net(),
        &tasks,
        &data,
        &TrainConfig::from(&config(NonFinitePolicy::SkipBatch)),
        |_| {},
    )
    .unwrap();
    assert_eq!(outcome.skipped_batches, 2);
    let skipped: Vec<usize> = outcome
        .history
        .iter()
        .filter(|log| log.step == StepStatus::Skipped)
        .map(|log| log.iteration)
        .collect();
    assert_eq!(skipped.len(), 2, "{:?}", outcome.history);
    // A skipped step logs no losses; every applied one logs one per task.
    for log in &outcome.history {
        assert_eq!(
            log.losses.is_empty(),
            log.step == StepStatus::Skipped,
            "{log:?}"
        );
    }
    assert!(
        skipped[0] < 5 && skipped[1] >= 5,
        "one per epoch: {skipped:?}"
    );
    assert!(
        outcome
            .history
            .iter()
            .filter(|log| !log.losses.is_empty())
            .all(|log| log.losses.len() == 2 && log.losses.iter().all(|l| l.is_finite()))
    );
    let err = train(
        net(),
        &tasks,
        &data,
        &TrainConfig::from(&config(NonFinitePolicy::Stop)),
        |_| {},
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains(&format!(
            "non-finite loss at iteration {} during the weight step (task `b`)",
            skipped[0]
        )),
        "{err}"
    );
    // Every sample poisoned: every step is skipped, and nothing changes.
    let before = net();
    let factors = |n: &Supernet<Scale>| -> Vec<Vec<f32>> {
        n.branches.iter().map(Scale::factor_values).collect()
    };
    let expected = factors(&before);
    let all = samples(5, &[0, 1, 2, 3, 4]);
    let outcome = train(
        before,
        &tasks,
        &all,
        &TrainConfig::from(&config(NonFinitePolicy::SkipBatch)),
        |_| {},
    )
    .unwrap();
    assert_eq!(outcome.skipped_batches, 10);
    assert_eq!(factors(&outcome.network), expected);
}
