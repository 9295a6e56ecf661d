//! The main job: search MTL-NAS (and its cost-aware extension) on built-in synthetic indoor
//! scenes for segmentation, normals and each object's material (a target the geometry tasks
//! do not need), evaluate the discrete architectures without retraining, train the baselines
//! with the same budget, on 3 seeds, and print one table of mean ± std with each method's
//! MACs. No download.
//!
//! ```text
//! cargo run --release --example search                       # seg + normal + material, 3 seeds
//! cargo run --release --example search -- --tasks seg,normal --size 36x48 --steps 800
//! cargo run --release --example search -- --tasks seg,normal,depth
//! cargo run --release --example search -- --fusion-init 0.5,0.5        # a paper ablation's init
//! cargo run --release --example search -- --start-from-single-task   # the paper's protocol
//! cargo run --release --example search -- --budget 0.45 --cost-weight 0.05  # a fusion-MACs budget
//! cargo run --release --example search -- --evaluate runs/search   # re-evaluate a saved run
//! ```
//!
//! The output folder holds `results.txt`, `architecture.svg` (the found architecture),
//! `logits.svg` (how every edge's probability moved), `architecture.json` and the weights.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use mtl_nas::data::SceneTarget;
use mtl_nas::device::device_from_name;
use mtl_nas::experiment::{
    Experiment, ExperimentData, Progress, RunSettings, SEARCHED, evaluate_saved,
};
use mtl_nas::fusion::FusionConfig;
use mtl_nas::search::{CostPenalty, SearchConfig, WeightOptimizerConfig};

/// Search MTL-NAS on synthetic scenes and compare it with the baselines.
#[derive(Parser, Debug)]
struct Args {
    /// Tasks, comma-separated: seg, normal, depth, edges, keypoints, material. The default
    /// pairs two geometry tasks with one whose target (each object's surface material) they
    /// do not need: whether an edge helps is a real question.
    #[arg(long, default_value = "seg,normal,material", value_delimiter = ',')]
    tasks: Vec<String>,
    /// Image size, HEIGHTxWIDTH.
    #[arg(long, default_value = "24x32")]
    size: String,
    /// Training scenes.
    #[arg(long, default_value_t = 400)]
    train: usize,
    /// Test scenes.
    #[arg(long, default_value_t = 200)]
    test: usize,
    /// Search iterations (also every baseline's training steps).
    #[arg(long, default_value_t = 200)]
    steps: usize,
    /// Seed of the scenes, and of the first run's weights and search.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Seeds per method (seed, seed + 1, ...): the table shows mean ± std over them.
    #[arg(long, default_value_t = 3)]
    seeds: usize,
    /// Weight mu of the cost-aware search's row (0 leaves the row out).
    #[arg(long, default_value_t = 0.1)]
    cost_weight: f64,
    /// A budget for the cost-aware search (its row and the sweep): the fraction of the
    /// all-edges network's fusion MACs its expected fusion MACs may reach before a hinge of
    /// weight mu pushes back; none for the linear penalty.
    #[arg(long)]
    budget: Option<f64>,
    /// Weights mu of a cost-aware sweep on the first seed (for the Pareto picture),
    /// comma-separated; empty for none.
    #[arg(long, value_delimiter = ',')]
    sweep: Vec<f64>,
    /// Run the sweep on every seed: each weight a row of the table, with mean ± std.
    #[arg(long)]
    sweep_every_seed: bool,
    /// Fraction of the training scenes the search's weight steps use (the rest steer the
    /// logits); 0.5 is the reference's.
    #[arg(long, default_value_t = 0.5)]
    train_split: f64,
    /// Also retrain the searched architecture from scratch as the baselines are trained (a
    /// diagnostic row, "MTL-NAS retrained"; the method evaluates the searched weights as
    /// they are).
    #[arg(long)]
    retrain: bool,
    /// Output folder.
    #[arg(long, default_value = "runs/search")]
    out: PathBuf,
    /// Compute device (flex, wgpu, vulkan, tch, tch-cuda; as the build's features allow).
    #[arg(long, default_value = "flex")]
    device: String,
    /// Base learning rate of the weights' SGD (fusions x10). 0.03, not `SearchConfig::short`'s
    /// 0.01: at 0.01 and 200 steps the single-task segmentation branch is far from trained
    /// (mIoU 0.34 against 0.49 at 0.03, 3 seeds), and a network with fusion layers (whose
    /// learning rate is 10x) scores 11 points of Delta over it without sharing anything.
    #[arg(long, default_value_t = 0.03)]
    learning_rate: f64,
    /// Initialisation (w_t, w_s) of the searched supernet's fusions, W_T,W_S: the 1x1
    /// convolution starts as w_t times the identity on the task's own feature and w_s shared
    /// among its sources (the reference's is 1,0; the baselines keep 0.9,0.1).
    #[arg(long, default_value = "1,0", value_delimiter = ',')]
    fusion_init: Vec<f64>,
    /// Learning-rate multiplier of the fusion layers over the base rate (the reference's is
    /// 100 at base 1e-3, i.e. 0.1).
    #[arg(long, default_value_t = 10.0)]
    fusion_multiplier: f64,
    /// Weight of the normals loss (the reference uses 20 on NYUv2). 0.3 gives the normals an
    /// effective learning rate of about 0.01: trained alone, they stall at 0.03 or more (mean
    /// angle 45 to 47 degrees on every seed) and learn at 0.003 to 0.01 (39 to 45).
    #[arg(long, default_value_t = 0.3)]
    normal_weight: f64,
    /// Start every method from single-task branches trained for one budget first (the
    /// paper's protocol); the single-task row is then trained on for a second budget.
    #[arg(long)]
    start_from_single_task: bool,
    /// Only re-evaluate the searched network saved in this folder.
    #[arg(long)]
    evaluate: Option<PathBuf>,
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

fn run(args: Args) -> mtl_nas::Result<()> {
    let device = device_from_name(&args.device)?.autodiff();
    if let Some(dir) = &args.evaluate {
        let evaluation = evaluate_saved(dir, &device)?;
        println!(
            "{SEARCHED} saved in {}, on its test scenes:\n{evaluation}",
            dir.display()
        );
        return Ok(());
    }
    let [fusion_own, fusion_sources] = args.fusion_init[..] else {
        return Err(mtl_nas::Error::config(
            "--fusion-init",
            format!(
                "two numbers W_T,W_S such as 1,0, got {:?}",
                args.fusion_init
            ),
        ));
    };
    let data = ExperimentData::scenes(args.train, args.test, &args.size, &args.tasks)?;
    let input = (data.image_size())
        .ok_or_else(|| mtl_nas::Error::config("--size", "the scenes' size is not known"))?;
    let normals = SceneTarget::Normals.task_name();
    let task_weights: Vec<f64> = (args.tasks.iter())
        .map(|t| match t == normals {
            true => args.normal_weight,
            false => 1.0,
        })
        .collect();
    let short = SearchConfig::short(args.steps).with_seed(args.seed);
    let experiment = Experiment {
        data,
        settings: RunSettings {
            search: SearchConfig {
                task_weights,
                train_split: args.train_split,
                weights: WeightOptimizerConfig {
                    learning_rate: args.learning_rate,
                    fusion_multiplier: args.fusion_multiplier,
                    ..short.weights
                },
                ..short
            },
            seed: args.seed,
            seeds: args.seeds,
            cost_aware: match args.budget {
                Some(fraction) => CostPenalty::fusion_budget(args.cost_weight, fraction),
                None => CostPenalty::macs(args.cost_weight),
            },
            sweep: args.sweep.clone(),
            sweep_every_seed: args.sweep_every_seed,
            retrain: args.retrain,
            start_from_single_task: args.start_from_single_task,
            fusion: FusionConfig::nddr(fusion_own, fusion_sources),
            ..Experiment::two_tasks().settings
        },
        ..Experiment::two_tasks()
    };
    experiment.validate()?;
    println!(
        "{} training and {} test scenes of {} x {}; tasks {:?}; {} steps per method, {} seed(s)",
        args.train,
        args.test,
        input[0],
        input[1],
        experiment.task_names(),
        args.steps,
        args.seeds
    );
    let mut progress = Progress::new(args.steps);
    let report = experiment.run(&args.out, &device, |event| progress.observe(event))?;
    progress.finish();
    let cost = mtl_nas::cost::NetworkCost::of(
        &report.architecture.space,
        input,
        &report.architecture.mask(),
        &vec![None; report.architecture.space.num_tasks()],
    )?;
    println!("\nfirst seed's {}", report.architecture.with_cost(&cost));
    println!("{}", report.summary);
    println!("edges kept, per method and seed, and of those touching each task:");
    for found in &report.architectures {
        println!("  {found}");
    }
    println!(
        "wrote {}: results.txt, architecture.svg, logits.svg, architecture.json, derived.safetensors",
        args.out.display()
    );
    Ok(())
}
