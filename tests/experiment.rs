//! The main job's whole pipeline at a tiny size: every file it writes parses back, and the
//! saved run re-evaluates to the numbers in its table.

use mtl_nas::arch::Architecture;
use mtl_nas::data::SceneTarget;
use mtl_nas::experiment::{
    AblationVariant, COST_AWARE, Event, Experiment, ExperimentData, RETRAINED, SEARCHED,
    SearchedArchitecture, evaluate_saved,
};
use mtl_nas::net::{Baseline, baselines};
use mtl_nas::prelude::*;
use mtl_nas::report::SeedSummary;
use mtl_nas::search::CostPenalty;
use mtl_nas::search::IterationLog;
use mtl_nas::train::{TrainConfig, train};

fn tiny(targets: Vec<SceneTarget>) -> Experiment {
    Experiment {
        data: ExperimentData::Scenes {
            train: 12,
            test: 6,
            height: 16,
            width: 20,
            targets,
        },
        stages: Stage::pyramid(&[(1, 4), (1, 6), (1, 8)]),
        settings: RunSettings {
            eval_batch: 4,
            ..RunSettings::new(SearchConfig::short(4).with_seed(3))
        },
    }
}

/// Runs `experiment` into `out`, with the names of the stages it went through (the data
/// checks left out).
fn run_listing_stages(
    experiment: &Experiment,
    out: &std::path::Path,
    device: &Device,
) -> (ExperimentReport, Vec<String>) {
    let mut stages = Vec::new();
    let report = experiment
        .run(out, device, |event| {
            if let Event::Stage(name) = event
                && !name.starts_with("checking")
            {
                stages.push(name.to_string())
            }
        })
        .unwrap();
    (report, stages)
}

#[test]
fn the_pipeline_writes_files_that_parse_back() {
    let out = std::env::temp_dir().join(format!("mtl-nas-experiment-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let device = Device::flex().autodiff();
    let experiment = tiny(vec![SceneTarget::Segmentation, SceneTarget::Normals]);
    let mut stages = Vec::new();
    let mut iterations = 0;
    let mut checks = Vec::new();
    let report = experiment
        .run(&out, &device, |event| match event {
            Event::Stage(name) => stages.push(name.to_string()),
            Event::Search(_) | Event::Train(_) => iterations += 1,
            Event::Check { done, total } => checks.push((done, total)),
        })
        .unwrap();
    // Every sample of both sets is decoded and checked before the search: 12 and 6 scenes.
    assert_eq!(checks, [(12, 12), (6, 6)]);
    assert_eq!(
        stages,
        [
            "checking the training set",
            "checking the test set",
            SEARCHED,
            "single-task",
            "shared trunk",
            "fusion, no edges",
            "NDDR-CNN",
            "all edges on"
        ]
    );
    assert_eq!(iterations, 6 * 4);
    assert_eq!(report.table.rows.len(), 6);
    assert_eq!(report.table.row("single-task").unwrap().delta, 0.0);

    let saved: Experiment = mtl_nas::io::read_json(&out.join("run.json")).unwrap();
    assert_eq!(saved, experiment);
    let architecture = Architecture::load(out.join("architecture.json")).unwrap();
    assert_eq!(architecture, report.architecture);
    let summary: SeedSummary = mtl_nas::io::read_json(&out.join("results.json")).unwrap();
    assert_eq!(summary, report.summary);
    let table = &summary.tables[0];
    assert_eq!(*table, report.table);
    let history: Vec<IterationLog> = mtl_nas::io::read_json(&out.join("history.json")).unwrap();
    assert_eq!(history.len(), 4);
    assert!(history.last().unwrap().logits.is_some());
    for picture in ["architecture.svg", "logits.svg"] {
        let svg = std::fs::read_to_string(out.join(picture)).unwrap();
        assert!(
            svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"),
            "{picture}"
        );
    }
    let text = std::fs::read_to_string(out.join("results.txt")).unwrap();
    assert!(text.contains("Delta vs single-task") && text.contains("LibMTL"));
    assert!(text.contains("fusion MMAC"), "{text}");
    assert!(
        std::fs::read_to_string(out.join("architecture.dot"))
            .unwrap()
            .starts_with("digraph")
    );

    // The saved run rebuilds and re-evaluates to the same numbers.
    let again = evaluate_saved(&out, &device).unwrap();
    assert_eq!(again, table.row(SEARCHED).unwrap().evaluation);
    std::fs::remove_dir_all(&out).unwrap();
}

#[test]
fn three_tasks_and_a_missing_single_task_baseline() {
    let out = std::env::temp_dir().join(format!("mtl-nas-experiment3-{}", std::process::id()));
    let device = Device::flex().autodiff();
    let mut experiment = tiny(vec![
        SceneTarget::Segmentation,
        SceneTarget::Normals,
        SceneTarget::Depth,
    ]);
    experiment.settings.baselines = vec![mtl_nas::net::Baseline::SingleTask];
    let report = experiment.run(&out, &device, |_| {}).unwrap();
    assert_eq!(report.architecture.space.task_pairs().len(), 6);
    assert_eq!(report.table.rows[0].evaluation.metrics.len(), 3);
    experiment.settings.baselines.clear();
    let err = experiment
        .run(&out, &device, |_| {})
        .unwrap_err()
        .to_string();
    assert!(err.contains("single-task baseline"), "{err}");
    std::fs::remove_dir_all(&out).unwrap();
}

#[test]
fn a_five_task_search_has_twenty_edge_sets_and_reloads() {
    let out = std::env::temp_dir().join(format!("mtl-nas-experiment5-{}", std::process::id()));
    let device = Device::flex().autodiff();
    let mut experiment = tiny(vec![
        SceneTarget::Segmentation,
        SceneTarget::Normals,
        SceneTarget::Depth,
        SceneTarget::Edges,
        SceneTarget::Keypoints,
    ]);
    experiment.settings.baselines = vec![mtl_nas::net::Baseline::SingleTask];
    let report = experiment.run(&out, &device, |_| {}).unwrap();
    let space = &report.architecture.space;
    assert_eq!(space.num_tasks(), 5);
    assert_eq!(space.task_pairs().len(), 5 * 4);
    // Three stages of one node: one same-stage edge per stage and ordered pair.
    assert_eq!(space.num_edges(), 20 * 3);
    let searched = &report.table.row(SEARCHED).unwrap().evaluation;
    assert_eq!(
        searched.metrics.len(),
        5,
        "one output (and metric set) per task"
    );
    let names: Vec<&str> = searched.metrics.iter().map(|m| m.task.as_str()).collect();
    assert_eq!(names, ["seg", "normal", "depth", "edges", "keypoints"]);
    let loaded = Architecture::load(out.join("architecture.json")).unwrap();
    loaded.check_space(space).unwrap();
    assert_eq!(loaded, report.architecture);
    assert_eq!(evaluate_saved(&out, &device).unwrap(), *searched);
    std::fs::remove_dir_all(&out).unwrap();
}

#[test]
fn seeds_and_the_cost_aware_row_with_their_costs() {
    let out = std::env::temp_dir().join(format!("mtl-nas-experiment-seeds-{}", std::process::id()));
    let device = Device::flex().autodiff();
    let mut experiment = tiny(vec![SceneTarget::Segmentation, SceneTarget::Normals]);
    experiment.settings = RunSettings {
        cost_aware: CostPenalty::macs(0.1),
        sweep: vec![1.0],
        ..experiment.settings.with_seeds(2)
    };
    let (report, stages) = run_listing_stages(&experiment, &out, &device);
    // Five baselines and two searches on each of two seeds, then one sweep point.
    assert_eq!(stages.len(), 2 * 7 + 1, "{stages:?}");
    assert!(stages[0].ends_with("(seed 0)") && stages[7].ends_with("(seed 1)"));
    assert_eq!(report.summary.seeds, [0, 1]);
    assert_eq!(report.summary.tables.len(), 2);
    assert_eq!(report.summary.methods.len(), 7);
    assert_eq!(report.sweep.len(), 1);
    // Different seeds start from different weights: the searched rows differ.
    let searched = |t: usize| &report.summary.tables[t].row(SEARCHED).unwrap().evaluation;
    assert_ne!(searched(0), searched(1));
    // Costs: no fusion without edges. With one node per stage, NDDR-CNN's block-end edges are
    // exactly the same-stage edges: on 16 x 20 images each task fuses 4 + 4 channels into 4 at
    // 16 x 20, 6 + 6 into 6 at 8 x 10 and 8 + 8 into 8 at 4 x 5:
    // 2 * (4 * 8 * 320 + 6 * 12 * 80 + 8 * 16 * 20) = 2 * (10240 + 5760 + 2560) = 37120 MACs.
    // The fusion layers without edges fuse the own feature only:
    // 2 * (4 * 4 * 320 + 6 * 6 * 80 + 8 * 8 * 20) = 2 * (5120 + 2880 + 1280) = 18560 MACs.
    // The shared trunk runs one branch for two.
    let cost = |m: &str| report.table.row(m).unwrap().cost.unwrap();
    assert_eq!(cost("single-task").fusion_macs, 0);
    assert_eq!(cost("all edges on").fusion_macs, 37_120);
    assert_eq!(cost("NDDR-CNN").fusion_macs, 37_120);
    assert_eq!(cost("fusion, no edges").fusion_macs, 18_560);
    assert!(cost("all edges on").fusion_macs >= cost(SEARCHED).fusion_macs);
    assert!(cost("shared trunk").total_macs < cost("single-task").total_macs);
    assert!(cost("single-task").complete);
    let text = std::fs::read_to_string(out.join("results.txt")).unwrap();
    assert!(
        text.contains("2 seed(s)") && text.contains("MTL-NAS + cost"),
        "{text}"
    );
    for file in ["cost-aware-architecture.json", "sweep.json", "pareto.svg"] {
        assert!(out.join(file).exists(), "{file}");
    }
    // Every searched architecture: both searching methods on both seeds, saved.
    let found: Vec<(&str, u64)> = (report.architectures.iter())
        .map(|a| (a.method.as_str(), a.seed))
        .collect();
    assert_eq!(
        found,
        [
            (SEARCHED, 0),
            (COST_AWARE, 0),
            (SEARCHED, 1),
            (COST_AWARE, 1)
        ]
    );
    let saved = SearchedArchitecture::load_all(out.join("architectures.json")).unwrap();
    assert_eq!(saved, report.architectures);
    // Its line: with two tasks every one of the 6 edges touches both.
    let first = &report.architectures[0];
    let kept = first.architecture.num_kept();
    assert_eq!(
        first.to_string().trim_start(),
        format!("MTL-NAS seed 0: {kept:>2} of 6 kept; touching seg {kept}/6, normal {kept}/6")
    );
    std::fs::remove_dir_all(&out).unwrap();
}

#[test]
fn a_sweep_on_every_seed_is_a_row_of_every_table() {
    let out = std::env::temp_dir().join(format!("mtl-nas-experiment-sweep-{}", std::process::id()));
    let device = Device::flex().autodiff();
    let mut experiment = tiny(vec![SceneTarget::Segmentation, SceneTarget::Normals]);
    experiment.settings = RunSettings {
        baselines: vec![mtl_nas::net::Baseline::SingleTask],
        sweep: vec![1.0, 0.0],
        sweep_every_seed: true,
        ..experiment.settings.with_seeds(2)
    };
    let (report, stages) = run_listing_stages(&experiment, &out, &device);
    let name = format!("{COST_AWARE} mu 1");
    // Per seed: the search, the two sweep points, the baseline; no sweep after the seeds.
    assert_eq!(stages.len(), 2 * 4, "{stages:?}");
    assert_eq!(stages[5], format!("{name} (seed 1)"));
    let points: Vec<(f64, u64)> = (report.sweep.iter())
        .map(|p| (p.penalty.weight, p.seed))
        .collect();
    assert_eq!(points, [(1.0, 0), (0.0, 0), (1.0, 1), (0.0, 1)]);
    for point in &report.sweep {
        // Each point is its seed's row, the Delta against that seed's single-task baseline.
        let table = &report.summary.tables[point.seed as usize];
        let row = table.row(&format!("{COST_AWARE} mu {}", point.penalty.weight));
        assert_eq!(row.unwrap().delta, point.delta);
        assert_eq!(row.unwrap().evaluation, point.evaluation);
    }
    assert_ne!(report.sweep[0].evaluation, report.sweep[2].evaluation);
    let saved: Vec<mtl_nas::experiment::SweepPoint> =
        mtl_nas::io::read_json(&out.join("sweep.json")).unwrap();
    assert_eq!(saved, report.sweep);
    let found = (report.architectures.iter()).filter(|a| a.method == name);
    assert_eq!(found.map(|a| a.seed).collect::<Vec<_>>(), [0, 1]);
    let pareto = std::fs::read_to_string(out.join("pareto.svg")).unwrap();
    assert!(pareto.contains("mean over seeds"), "{pareto}");
    std::fs::remove_dir_all(&out).unwrap();
}

#[test]
fn ablations_share_searches_and_tell_variants_apart() {
    let device = Device::flex().autodiff();
    let mut experiment = tiny(vec![SceneTarget::Segmentation, SceneTarget::Normals]);
    experiment.settings.seeds = 2;
    let ablations = vec![
        (
            "search".to_string(),
            AblationVariant::search_variants(&experiment.settings),
        ),
        (
            "fusion".to_string(),
            AblationVariant::fusion_inits(&experiment.settings),
        ),
    ];
    let mut stages = Vec::new();
    let tables = experiment
        .ablations(&ablations, &device, |event| {
            if let Event::Stage(name) = event
                && !name.starts_with("checking")
            {
                stages.push(name.to_string())
            }
        })
        .unwrap();
    // Per seed: the single-task baseline, then one search per distinct (search, fusion):
    // the reference, sigmoid weight step, entropy 0 (the sampled evaluation and init (1, 0)
    // reuse the reference's search), (0.9, 0.1), (0.5, 0.5), Kaiming. 7 stages per seed.
    assert_eq!(stages.len(), 2 * 7, "{stages:?}");
    assert_eq!(
        stages.iter().filter(|s| s.contains("(reference)")).count(),
        2
    );
    assert_eq!(tables.len(), 2);
    assert_eq!((tables[0].rows.len(), tables[1].rows.len()), (4, 4));
    assert_eq!(tables[0].seeds, [0, 1]);
    let (search, fusion) = (&tables[0].rows, &tables[1].rows);
    // init (1, 0) is the experiment's own fusion: the reference row, number for number.
    assert_eq!(fusion[0].discrete_delta, search[0].discrete_delta);
    assert_eq!(fusion[0].kept_edges, search[0].kept_edges);
    // The sampled evaluation reuses the reference's search: the same relaxed network and
    // edges, but its own evaluation.
    assert_eq!(search[2].relaxed_delta, search[0].relaxed_delta);
    assert_eq!(search[2].kept_edges, search[0].kept_edges);
    for row in search.iter().chain(fusion) {
        assert_eq!(row.discrete_delta.count, 2, "{}", row.variant.name);
        assert!(row.discrete_delta.mean.is_finite() && row.gap_percent.mean >= 0.0);
    }
}

#[test]
fn the_retrained_row_trains_the_searched_architecture_again() {
    let out =
        std::env::temp_dir().join(format!("mtl-nas-experiment-retrain-{}", std::process::id()));
    let device = Device::flex().autodiff();
    let mut experiment = tiny(vec![SceneTarget::Segmentation, SceneTarget::Normals]);
    experiment.settings.retrain = true;
    experiment.settings.baselines = vec![mtl_nas::net::Baseline::SingleTask];
    let mut trained_steps = 0;
    let report = experiment
        .run(&out, &device, |event| {
            if let Event::Train(_) = event {
                trained_steps += 1
            }
        })
        .unwrap();
    let table = &report.table;
    let methods: Vec<_> = table.rows.iter().map(|r| r.method.as_str()).collect();
    assert_eq!(methods, ["single-task", SEARCHED, RETRAINED]);
    // Trained as a baseline is: the same 4 steps, after the single-task baseline's 4.
    assert_eq!(trained_steps, 2 * 4);
    // The same architecture, so the same fusion cost as the searched network.
    let cost = |name: &str| table.row(name).unwrap().cost.unwrap();
    assert_eq!(cost(RETRAINED).fusion_macs, cost(SEARCHED).fusion_macs);
    assert_eq!(cost(RETRAINED).total_macs, cost(SEARCHED).total_macs);
    let retrained = table.row(RETRAINED).unwrap();
    assert!(retrained.evaluation.losses.iter().all(|l| l.is_finite()));
    assert_ne!(
        retrained.evaluation,
        table.row(SEARCHED).unwrap().evaluation
    );
    let _ = std::fs::remove_dir_all(out);
}

#[test]
fn starting_from_single_task_trains_every_method_from_the_same_trained_branches() {
    let out = std::env::temp_dir().join(format!("mtl-nas-experiment-start-{}", std::process::id()));
    let device = Device::flex().autodiff();
    let mut experiment = tiny(vec![SceneTarget::Segmentation, SceneTarget::Normals]);
    experiment.settings.start_from_single_task = true;
    experiment.settings.baselines = vec![Baseline::SingleTask, Baseline::AllEdges];
    let (report, stages) = run_listing_stages(&experiment, &out, &device);
    assert_eq!(
        stages,
        [
            "single-task pre-training (seed 0)",
            SEARCHED,
            "single-task",
            "all edges on"
        ]
    );
    // The protocol by hand: the seed's fresh branches trained as single-task branches for one
    // budget, then every method from copies of them for a second budget.
    let settings = &experiment.settings;
    let tasks = experiment.tasks();
    let names = experiment.task_names();
    let (train_set, test_set) = experiment.datasets().unwrap();
    let config = TrainConfig::from(&settings.search_for_seed(0));
    let budget = |net| train(net, &tasks, &*train_set, &config, |_| {}).unwrap();
    let evaluate = |net: &Supernet<SmallCnn>| {
        evaluate_network(net, &tasks, &*test_set, settings.eval_batch).unwrap()
    };
    // Each use trains its own copy, computed afresh (the same on this CPU every time).
    let single_task = |branches| baselines::single_task(branches, &names, &device).unwrap();
    let pretrained = || {
        let fresh = experiment.initial_branches(&device).unwrap();
        budget(single_task(fresh)).network.branches
    };
    let row = |name: &str| &report.table.row(name).unwrap().evaluation;
    let once = single_task(pretrained());
    assert_eq!(
        *row("single-task"),
        evaluate(&budget(single_task(pretrained())).network)
    );
    assert_ne!(*row("single-task"), evaluate(&once));
    let all_edges = baselines::all_edges(
        pretrained(),
        &names,
        settings.rule.clone(),
        settings.baseline_fusion,
        settings.seed,
        &device,
    )
    .unwrap();
    assert_eq!(*row("all edges on"), evaluate(&budget(all_edges).network));
    let _ = std::fs::remove_dir_all(out);
}
