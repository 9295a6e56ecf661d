//! The generic runner on a user's own branch and a loss-only task of their own: every method
//! runs, the task's default metric (its mean loss) reaches the table, the same seed gives the
//! same numbers (the branch is drawn with the crate's seeded initialisers), and a problem that
//! gives the wrong number of branches is refused with a message.

use mtl_nas::burn::nn::PaddingConfig2d;
use mtl_nas::burn::nn::conv::{Conv2d, Conv2dConfig};
use mtl_nas::burn::tensor::activation::relu;
use mtl_nas::data::{SceneConfig, SceneTarget, SyntheticScenes};
use mtl_nas::experiment::{SEARCHED, SearchedArchitecture};
use mtl_nas::init::kaiming_normal_conv;
use mtl_nas::prelude::*;

/// Two nodes: a 3x3 convolution at stride 1, a strided one at stride 2; a 1x1 head. Only
/// what `TaskBranch` requires: `num_nodes` and `classifier_parameters` take their defaults.
#[derive(Module, Debug)]
struct Tiny {
    convs: Vec<Conv2d>,
    head: Conv2d,
    /// Channels `describe` claims for node 1 (6, what it computes, unless a test lies).
    claimed: usize,
}

impl Tiny {
    fn new(outputs: usize, rng: &mut SeededRng, device: &Device) -> Result<Self> {
        let conv = |channels, stride: usize| {
            Conv2dConfig::new(channels, [3, 3])
                .with_stride([stride, stride])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
        };
        Ok(Self {
            convs: vec![
                kaiming_normal_conv(&conv([3, 4], 1), rng, device)?,
                kaiming_normal_conv(&conv([4, 6], 2), rng, device)?,
            ],
            head: kaiming_normal_conv(&Conv2dConfig::new([6, outputs], [1, 1]), rng, device)?,
            claimed: 6,
        })
    }
}

impl TaskBranch for Tiny {
    fn describe(&self, task: &str) -> BranchDescription {
        BranchDescription::from_stages(task, &[Stage::new(1, 4, 1), Stage::new(1, self.claimed, 2)])
    }
    fn input_channels(&self) -> usize {
        3
    }
    fn layer_forward(&self, layer: usize, input: Tensor<4>) -> Tensor<4> {
        relu(self.convs[layer].forward(input))
    }
    fn head_forward(&self, features: Tensor<4>) -> Tensor<4> {
        self.head.forward(features)
    }
}

/// Mean squared error over valid pixels; nothing but the loss (the `Task` defaults).
#[derive(Debug)]
struct SquaredError;

impl Task for SquaredError {
    fn name(&self) -> &str {
        "depth"
    }
    fn outputs(&self) -> usize {
        1
    }
    fn loss(&self, prediction: Tensor<4>, target: &Target) -> Result<Tensor<1>> {
        let Target::Dense { values, valid } = target else {
            return Err(Error::config("depth", "a dense target"));
        };
        let error = resize_to_target(prediction, target, false) - values.clone();
        Ok((error.powf_scalar(2.0) * valid.clone()).sum() / valid.clone().sum().clamp_min(1.0))
    }
}

struct DepthAndNormals {
    branches: usize,
}

impl Problem for DepthAndNormals {
    type Branch = Tiny;
    fn tasks(&self) -> Vec<Box<dyn Task>> {
        vec![
            Box::new(SquaredError),
            Box::new(SurfaceNormals::new("normal")),
        ]
    }
    fn datasets(&self) -> Result<(Box<dyn MultiTaskDataset>, Box<dyn MultiTaskDataset>)> {
        let targets = vec![SceneTarget::Depth, SceneTarget::Normals];
        let scenes = |count, seed| {
            SyntheticScenes::new(
                SceneConfig::new(count, 16, 20, seed).with_targets(targets.clone()),
            )
        };
        Ok((Box::new(scenes(12, 1)?), Box::new(scenes(6, 2)?)))
    }
    fn branches(&self, rng: &mut SeededRng, device: &Device) -> Result<Vec<Tiny>> {
        let outputs = [1, 3];
        (0..self.branches)
            .map(|t| Tiny::new(outputs[t % 2], rng, device))
            .collect()
    }
}

fn settings() -> RunSettings {
    RunSettings {
        eval_batch: 4,
        ..RunSettings::new(SearchConfig::short(4).with_seed(3))
    }
}

fn out_dir(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("mtl-nas-own-branch-{name}-{}", std::process::id()))
}

#[test]
fn a_users_branch_and_loss_only_task_run_through_every_method() {
    let device = Device::flex().autodiff();
    let problem = DepthAndNormals { branches: 2 };
    let out = out_dir("run");
    let report = settings().run(&problem, &out, &device, |_| {}).unwrap();
    let table = &report.summary.tables[0];
    let methods: Vec<_> = table.rows.iter().map(|r| r.method.as_str()).collect();
    assert_eq!(
        methods,
        [
            "single-task",
            "shared trunk",
            "fusion, no edges",
            "NDDR-CNN",
            "all edges on",
            SEARCHED
        ]
    );
    for row in &table.rows {
        // The loss-only task reports one metric, its mean test loss, lower is better.
        let depth = &row.evaluation.metrics[0];
        assert_eq!(depth.metrics, [Metric::lower("loss")]);
        assert_eq!(depth.values[0], row.evaluation.losses[0], "{}", row.method);
        assert!(row.evaluation.losses[0].is_finite() && row.evaluation.losses[0] > 0.0);
        assert!(row.cost.is_some(), "{} has no cost", row.method);
    }
    // 2 nodes per branch, same-stage rule: one edge per node and direction.
    assert_eq!(report.architecture.edges.len(), 4);
    let saved: RunSettings =
        serde_json::from_slice(&std::fs::read(out.join("settings.json")).unwrap()).unwrap();
    assert_eq!(saved, settings());
    let found = SearchedArchitecture::load_all(out.join("architectures.json")).unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].architecture.space.tasks(), ["depth", "normal"]);
    for file in [
        "results.txt",
        "results.json",
        "pareto.svg",
        "architecture.svg",
        "logits.svg",
    ] {
        assert!(out.join(file).is_file(), "{file} missing");
    }
    // The same seed gives the same numbers: every weight came from the seeded generator.
    let again = settings()
        .run(&problem, &out_dir("again"), &device, |_| {})
        .unwrap();
    let evaluations = |r: &ExperimentReport| -> Vec<Vec<f64>> {
        let rows = &r.summary.tables[0].rows;
        rows.iter()
            .map(|row| row.evaluation.losses.clone())
            .collect()
    };
    assert_eq!(evaluations(&report), evaluations(&again));
    let _ = std::fs::remove_dir_all(out);
    let _ = std::fs::remove_dir_all(out_dir("again"));
}

#[test]
fn a_problem_with_too_few_branches_is_refused() {
    let device = Device::flex().autodiff();
    let problem = DepthAndNormals { branches: 1 };
    let error = settings()
        .run(&problem, &out_dir("refused"), &device, |_| {})
        .unwrap_err()
        .to_string();
    assert!(error.contains("1 branches for 2 tasks"), "{error}");
    let _ = std::fs::remove_dir_all(out_dir("refused"));
}

#[test]
fn a_branch_that_computes_other_channels_than_it_describes_is_named() {
    let device = Device::flex();
    let rng = &mut SeededRng::new(0);
    let mut liar = Tiny::new(1, rng, &device).unwrap();
    liar.claimed = 5;
    let honest = Tiny::new(3, rng, &device).unwrap();
    // The defaults: nodes counted from the description, no classifier multipliers.
    assert_eq!(honest.num_nodes(), 2);
    assert_eq!(honest.classifier_parameters(), (vec![], vec![]));
    let space = SearchSpace::from_branches(
        &[liar.describe("depth"), honest.describe("normal")],
        EdgeRule::same_stage(),
    )
    .unwrap();
    let net = Supernet::new(
        &space,
        vec![liar, honest],
        FusionConfig::nddr(1.0, 0.0),
        0,
        &device,
    )
    .unwrap();
    let images = Tensor::<4>::zeros([1, 3, 16, 20], &device);
    let gates = net
        .architecture
        .connectivity(Connectivity::Sigmoid, &mut SeededRng::new(0))
        .unwrap();
    let err = net.forward(images, &gates).unwrap_err().to_string();
    assert!(
        err.contains("node depth[1]")
            && err.contains("5 channels at stride 2")
            && err.contains("6 channels of 8 x 10"),
        "{err}"
    );
}
