//! Three to five Taskonomy-style tasks through the whole pipeline: search space, supernet,
//! search, metrics, Delta against single-task branches and against a constant prediction,
//! pictures.
//!
//! ```text
//! cargo run --release --example taskonomy -- --data /data/taskonomy \
//!     --split-file /data/taskonomy/train_val_test_tiny.csv \
//!     --tasks seg,normal,depth,keypoints,edges
//! cargo run --release --example taskonomy -- --generate /tmp/taskonomy-generated  # files
//! cargo run --release --example taskonomy                       # synthetic renderings instead
//! ```
//!
//! `--data` takes either naming (the original release's `depth/`, `edge2d/`, `keypoint2d/`,
//! `segmentsemantic/`, or omnidata's `depth_zbuffer/`, `edge_texture/`, `keypoints2d/`,
//! `segment_semantic/`) with the building level below the domain folders, above them, or
//! absent (then the root folder's name is the building's id in the split file); what was
//! found is printed per building before the run. `--generate DIR` first writes synthetic
//! scenes as Taskonomy files in the original layout (`DIR/{building}/{domain}/`, three
//! buildings, every tenth segmentation file left out) with a split file, then runs on them.
//!
//! Without `--data` the synthetic scene generator renders the same kinds of targets
//! (segmentation, normals, depth, edges from surface boundaries, corner heatmaps as
//! keypoints) in memory. Taskonomy also offers `distance` (euclidean depth), `object` and
//! `scene` (soft-label classification).
//!
//! The results table gets a `constant` column: every task predicted by one constant fitted on
//! the training set (the most frequent class, the per-channel median of dense targets, the
//! mean distribution of soft labels). A metric that does not separate the trained methods
//! from it says nothing.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use mtl_nas::Error;
use mtl_nas::data::{
    BuildingLevel, MultiTaskDataset, SceneTarget, SyntheticTaskonomy, Taskonomy, TaskonomyConfig,
    TaskonomyDomain, TaskonomyNaming, TaskonomySplit, write_synthetic_taskonomy,
};
use mtl_nas::device::device_from_name;
use mtl_nas::experiment::{Experiment, ExperimentData, Progress, RunSettings};
use mtl_nas::metrics::DeltaConvention;
use mtl_nas::report::ResultsTable;
use mtl_nas::search::{Evaluation, SearchConfig, evaluate_constant};

/// Search MTL-NAS on three to five Taskonomy tasks (or their synthetic counterparts).
#[derive(Parser, Debug)]
struct Args {
    /// Taskonomy root (domain or building folders); synthetic scenes when absent.
    #[arg(long, conflicts_with = "generate")]
    data: Option<PathBuf>,
    /// Write generated Taskonomy files (original layout) into this folder and run on them.
    #[arg(long)]
    generate: Option<PathBuf>,
    /// Views per generated building.
    #[arg(long, default_value_t = 48)]
    generate_views: usize,
    /// Building split file (train_val_test_*.csv); default DATA/train_val_test_tiny.csv.
    #[arg(long)]
    split_file: Option<PathBuf>,
    /// Tasks: seg, normal, depth, keypoints, edges (and on Taskonomy distance, object, scene).
    #[arg(
        long,
        default_value = "seg,normal,depth,keypoints,edges",
        value_delimiter = ','
    )]
    tasks: Vec<String>,
    /// Square image size (Taskonomy is resized to it; synthetic scenes are rendered at it).
    #[arg(long, default_value_t = 40)]
    size: usize,
    /// Search iterations (also every baseline's training steps).
    #[arg(long, default_value_t = 400)]
    steps: usize,
    /// Seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Output folder.
    #[arg(long, default_value = "runs/taskonomy")]
    out: PathBuf,
    /// Compute device.
    #[arg(long, default_value = "flex")]
    device: String,
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Opens both splits once to print what was found, and refuses a training split the search
/// cannot halve.
fn check_taskonomy(train: &TaskonomyConfig, test: &TaskonomyConfig) -> mtl_nas::Result<()> {
    let train = Taskonomy::open(train.clone())?;
    if train.len() < 2 {
        return Err(Error::Dataset(format!(
            "the search needs at least 2 training views (it gives half to the weights, half to \
             the architecture), found {}: {}",
            train.len(),
            train.report()
        )));
    }
    println!("{}", train.report());
    println!("{}", Taskonomy::open(test.clone())?.report());
    Ok(())
}

fn run(args: Args) -> mtl_nas::Result<()> {
    let device = device_from_name(&args.device)?.autodiff();
    if !(2..=8).contains(&args.tasks.len()) {
        return Err(Error::InvalidConfig {
            field: "--tasks".into(),
            reason: "name between 2 and 8 tasks".into(),
        });
    }
    let mut split_file = args.split_file.clone();
    let root = match &args.generate {
        Some(dir) => {
            let generated = SyntheticTaskonomy {
                views: args.generate_views,
                size: args.size,
                seed: args.seed,
                drop_segmentation_every: 10,
                ..SyntheticTaskonomy::new(
                    dir,
                    TaskonomyNaming::Original,
                    BuildingLevel::AboveDomain,
                )
            };
            let start = Instant::now();
            split_file = Some(write_synthetic_taskonomy(&generated)?);
            println!(
                "wrote {} generated buildings of {} views ({} x {}) in the original layout to {} in {:.1} s",
                generated.buildings.len(),
                generated.views,
                generated.size,
                generated.size,
                dir.display(),
                start.elapsed().as_secs_f64()
            );
            Some(dir.clone())
        }
        None => args.data.clone(),
    };
    let data = match &root {
        Some(root) => {
            let domains = args
                .tasks
                .iter()
                .map(|t| TaskonomyDomain::from_task_name(t))
                .collect::<mtl_nas::Result<Vec<_>>>()?;
            let split_file = split_file.unwrap_or_else(|| root.join("train_val_test_tiny.csv"));
            let config = |split| TaskonomyConfig {
                targets: domains.clone(),
                size: Some(args.size),
                ..TaskonomyConfig::five_tasks(root, &split_file, split)
            };
            let (train, test) = (config(TaskonomySplit::Train), config(TaskonomySplit::Test));
            check_taskonomy(&train, &test)?;
            ExperimentData::Taskonomy {
                train: Box::new(train),
                test: Box::new(test),
            }
        }
        None => {
            let targets = args
                .tasks
                .iter()
                .map(|t| SceneTarget::from_task_name(t))
                .collect::<mtl_nas::Result<Vec<_>>>()?;
            ExperimentData::Scenes {
                train: 600,
                test: 200,
                height: args.size,
                width: args.size,
                targets,
            }
        }
    };
    let experiment = Experiment {
        data,
        settings: RunSettings {
            search: SearchConfig::short(args.steps).with_seed(args.seed),
            seed: args.seed,
            ..Experiment::two_tasks().settings
        },
        ..Experiment::two_tasks()
    };
    let names = experiment.task_names();
    println!("tasks {names:?}; {} steps per method", args.steps);
    let mut progress = Progress::new(args.steps);
    let report = experiment.run(&args.out, &device, |event| progress.observe(event))?;
    progress.finish();
    let space = &report.architecture.space;
    println!(
        "{} tasks, {} ordered task pairs, {} candidate edges, {} kept",
        space.num_tasks(),
        space.task_pairs().len(),
        space.num_edges(),
        report.architecture.num_kept()
    );
    let (train_set, test_set) = experiment.datasets()?;
    let constant = evaluate_constant(
        &experiment.tasks(),
        &*train_set,
        &*test_set,
        experiment.settings.eval_batch,
        &device,
    )?;
    let mut methods: Vec<(String, Evaluation, f64)> = report
        .table
        .rows
        .iter()
        .map(|r| (r.method.clone(), r.evaluation.clone(), r.seconds))
        .collect();
    methods.push(("constant".into(), constant, 0.0));
    let table = ResultsTable::new(methods, &report.table.reference, DeltaConvention::LibMtl)?;
    println!("{table}");
    println!(
        "constant: each task's best single value from the training set (most frequent class, \
         per-channel median, mean distribution)"
    );
    println!("wrote {}", args.out.display());
    Ok(())
}
