//! How edges, parameters, memory and time per search iteration grow from 2 to 5 tasks on the
//! same branches.
//!
//! ```text
//! cargo bench --bench scaling             # both edge rules, 2..5 tasks
//! ```
//!
//! Every task gets the main example's small branch (stages (2,16), (2,32), (2,48)) on 36 x 48
//! synthetic scenes, batch 8. One iteration is one architecture step and one weight step.
//! Peak memory is the largest number of heap bytes alive during the timed iterations, above
//! what was alive before them (counted by a wrapping global allocator, CPU only).

use std::time::Instant;

use burn::module::Module;
use mtl_nas::data::SceneTarget;
use mtl_nas::experiment::{Experiment, ExperimentData};
use mtl_nas::fusion::NodeFusion;
use mtl_nas::prelude::*;

mod support;

#[global_allocator]
static ALLOCATOR: support::Counting = support::Counting;

const TARGETS: [SceneTarget; 5] = [
    SceneTarget::Segmentation,
    SceneTarget::Normals,
    SceneTarget::Depth,
    SceneTarget::Edges,
    SceneTarget::Keypoints,
];

fn main() {
    let device = Device::flex().autodiff();
    let iterations = 8;
    println!(
        "{:<10} {:>5} {:>6} {:>9} {:>12} {:>12} {:>13} {:>13}",
        "rule", "tasks", "pairs", "edges", "fusion wts", "all params", "s / iteration", "peak MB"
    );
    for (rule_name, rule) in [
        ("same-stage", EdgeRule::same_stage()),
        ("shallower", EdgeRule::shallower()),
    ] {
        for tasks in 2..=5 {
            let experiment = Experiment {
                data: ExperimentData::Scenes {
                    train: 64,
                    test: 8,
                    height: 36,
                    width: 48,
                    targets: TARGETS[..tasks].to_vec(),
                },
                settings: RunSettings {
                    rule: rule.clone(),
                    search: SearchConfig::short(iterations + 1),
                    ..Experiment::two_tasks().settings
                },
                ..Experiment::two_tasks()
            };
            let branches = experiment.initial_branches(&device).expect("branches");
            let names = experiment.task_names();
            let described: Vec<_> = branches
                .iter()
                .zip(&names)
                .map(|(b, n)| b.describe(n))
                .collect();
            let space = SearchSpace::from_branches(&described, rule.clone()).expect("space");
            let net = Supernet::new(&space, branches, experiment.settings.fusion, 0, &device)
                .expect("supernet");
            let fusion_weights: usize = net
                .fusions
                .iter()
                .flatten()
                .flatten()
                .map(|f| match f {
                    NodeFusion::Nddr(n) => n.weight.val().shape().num_elements(),
                    NodeFusion::CrossStitch(c) => c.mixing.val().shape().num_elements(),
                })
                .sum();
            let params = net.num_params();
            let (train, _) = experiment.datasets().expect("scenes");
            let task_list = experiment.tasks();
            let before = support::reset_peak();
            let mut started = None;
            Search::new(experiment.settings.search.clone())
                .run_observed(net, &task_list, &*train, |log| {
                    // The first iteration warms caches up; time the rest.
                    if log.iteration == 0 {
                        started = Some(Instant::now());
                    }
                })
                .expect("search");
            let seconds = started.expect("ran").elapsed().as_secs_f64() / iterations as f64;
            let peak = support::peak_mb_above(before);
            println!(
                "{rule_name:<10} {tasks:>5} {:>6} {:>9} {fusion_weights:>12} {params:>12} {seconds:>13.3} {peak:>13.1}",
                space.task_pairs().len(),
                space.num_edges(),
            );
        }
    }
}
