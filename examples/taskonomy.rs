//! Three to five Taskonomy-style tasks through the whole pipeline: search space, supernet,
//! search, metrics, Delta against single-task branches, pictures.
//!
//! ```text
//! cargo run --release --example taskonomy -- --data /data/taskonomy \
//!     --split-file /data/taskonomy/train_val_test_tiny.csv \
//!     --tasks seg,normal,depth,keypoints,edges
//! cargo run --release --example taskonomy                       # synthetic renderings instead
//! ```
//!
//! Without `--data` the synthetic scene generator renders the same kinds of targets
//! (segmentation, normals, depth, edges from surface boundaries, corner heatmaps as
//! keypoints). Taskonomy also offers `distance` (euclidean depth), `object` and `scene`
//! (soft-label classification).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};
use mtl_nas::Error;
use mtl_nas::data::{SceneTarget, TaskonomyConfig, TaskonomyDomain, TaskonomySplit};
use mtl_nas::device::device_from_name;
use mtl_nas::experiment::{Event, Experiment, ExperimentData};

/// Search MTL-NAS on three to five Taskonomy tasks (or their synthetic counterparts).
#[derive(Parser, Debug)]
struct Args {
    /// Taskonomy root (one folder per domain); synthetic scenes when absent.
    #[arg(long)]
    data: Option<PathBuf>,
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

fn unknown(task: &str, known: &str) -> Error {
    Error::InvalidConfig {
        field: "--tasks".into(),
        reason: format!("unknown task `{task}` ({known})"),
    }
}

fn run(args: Args) -> mtl_nas::Result<()> {
    let device = device_from_name(&args.device)?.autodiff();
    if !(2..=8).contains(&args.tasks.len()) {
        return Err(Error::InvalidConfig {
            field: "--tasks".into(),
            reason: "name between 2 and 8 tasks".into(),
        });
    }
    let data = match &args.data {
        Some(root) => {
            let domains = args
                .tasks
                .iter()
                .map(|t| match t.as_str() {
                    "seg" => Ok(TaskonomyDomain::Segmentation),
                    "normal" => Ok(TaskonomyDomain::Normals),
                    "depth" => Ok(TaskonomyDomain::DepthZbuffer),
                    "distance" => Ok(TaskonomyDomain::DepthEuclidean),
                    "keypoints" => Ok(TaskonomyDomain::Keypoints2d),
                    "edges" => Ok(TaskonomyDomain::EdgeTexture),
                    "object" => Ok(TaskonomyDomain::ObjectClass),
                    "scene" => Ok(TaskonomyDomain::SceneClass),
                    other => Err(unknown(
                        other,
                        "seg, normal, depth, distance, keypoints, edges, object, scene",
                    )),
                })
                .collect::<mtl_nas::Result<Vec<_>>>()?;
            let split_file = args
                .split_file
                .clone()
                .unwrap_or_else(|| root.join("train_val_test_tiny.csv"));
            let config = |split| TaskonomyConfig {
                targets: domains.clone(),
                size: Some(args.size),
                ..TaskonomyConfig::five_tasks(root, &split_file, split)
            };
            ExperimentData::Taskonomy {
                train: Box::new(config(TaskonomySplit::Train)),
                test: Box::new(config(TaskonomySplit::Test)),
            }
        }
        None => {
            let targets = args
                .tasks
                .iter()
                .map(|t| match t.as_str() {
                    "seg" => Ok(SceneTarget::Segmentation),
                    "normal" => Ok(SceneTarget::Normals),
                    "depth" => Ok(SceneTarget::Depth),
                    "keypoints" => Ok(SceneTarget::Keypoints),
                    "edges" => Ok(SceneTarget::Edges),
                    other => Err(unknown(
                        other,
                        "synthetic scenes offer seg, normal, depth, keypoints, edges",
                    )),
                })
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
        search: Experiment::short_search(args.steps, args.seed),
        seed: args.seed,
        ..Experiment::two_tasks()
    };
    let names = experiment.task_names();
    println!("tasks {names:?}; {} steps per method", args.steps);
    let bar = ProgressBar::new(args.steps as u64);
    bar.set_style(
        ProgressStyle::with_template("{prefix:>13} {bar:30} {pos}/{len} [{elapsed} < {eta}] {msg}")
            .expect("valid template"),
    );
    let report = experiment.run(&args.out, &device, |event| match event {
        Event::Stage(name) => {
            bar.reset();
            bar.set_prefix(name.to_string());
        }
        Event::Search(log) => {
            bar.set_position(log.iteration as u64 + 1);
            bar.set_message(format!(
                "entropy {:.3} edges kept {}",
                log.entropy, log.kept_edges
            ));
        }
        Event::Train(log) => bar.set_position(log.iteration as u64 + 1),
    })?;
    bar.finish_and_clear();
    let space = &report.architecture.space;
    println!(
        "{} tasks, {} ordered task pairs, {} candidate edges, {} kept",
        space.num_tasks(),
        space.task_pairs().len(),
        space.num_edges(),
        report.architecture.num_kept()
    );
    println!("{}", report.table);
    println!("wrote {}", args.out.display());
    Ok(())
}
