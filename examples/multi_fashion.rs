//! MTL-NAS on real images: MultiFashion (two Fashion-MNIST items overlaid; one task per item),
//! the searched network against single-task branches, a shared trunk and the fusion
//! baselines, all trained with the same budget.
//!
//! ```text
//! sudo apt install dataset-fashion-mnist          # Debian: the IDX files, 30 MB
//! cargo run --release --example multi_fashion
//! ```

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use mtl_nas::data::FASHION_MNIST_DIR;
use mtl_nas::device::device_from_name;
use mtl_nas::experiment::{Experiment, ExperimentData, Progress, RunSettings};
use mtl_nas::search::{CostPenalty, SearchConfig};
use mtl_nas::space::Stage;

/// Search MTL-NAS on MultiFashion and compare it with the baselines.
#[derive(Parser, Debug)]
struct Args {
    /// Folder with the Fashion-MNIST IDX files.
    #[arg(long, default_value = FASHION_MNIST_DIR)]
    data: PathBuf,
    /// Training pairs (from the 60k training items).
    #[arg(long, default_value_t = 12000)]
    train: usize,
    /// Test pairs (from the 10k test items).
    #[arg(long, default_value_t = 4000)]
    test: usize,
    /// Search iterations (also every baseline's training steps).
    #[arg(long, default_value_t = 600)]
    steps: usize,
    /// Images per step.
    #[arg(long, default_value_t = 32)]
    batch: usize,
    /// Seed of the pairs, and of the first run's weights and search.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Seeds per method (seed, seed + 1, ...): the table shows mean ± std over them.
    #[arg(long, default_value_t = 3)]
    seeds: usize,
    /// Weight mu of the cost-aware search's row (0 leaves the row out).
    #[arg(long, default_value_t = 0.1)]
    cost_weight: f64,
    /// Output folder.
    #[arg(long, default_value = "runs/multi_fashion")]
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

fn run(args: Args) -> mtl_nas::Result<()> {
    let device = device_from_name(&args.device)?.autodiff();
    let experiment = Experiment {
        data: ExperimentData::MultiFashion {
            dir: args.data.clone(),
            train: args.train,
            test: args.test,
        },
        // 28 x 28 inputs: stride 1, 2, 4 stages; a pooled classifier per task.
        stages: Stage::pyramid(&[(1, 16), (2, 32), (2, 64)]),
        settings: RunSettings {
            search: SearchConfig {
                batch_size: args.batch,
                ..SearchConfig::short(args.steps).with_seed(args.seed)
            },
            seed: args.seed,
            eval_batch: 500,
            seeds: args.seeds,
            cost_aware: CostPenalty::macs(args.cost_weight),
            ..Experiment::two_tasks().settings
        },
    };
    experiment.validate()?;
    println!(
        "MultiFashion from {}: {} training and {} test pairs, {} steps of {} per method, {} seed(s)",
        args.data.display(),
        args.train,
        args.test,
        args.steps,
        args.batch,
        args.seeds
    );
    let mut progress = Progress::new(args.steps);
    let report = experiment.run(&args.out, &device, |event| progress.observe(event))?;
    progress.finish();
    println!("first seed's {}", report.architecture);
    println!("{}", report.summary);
    println!("edges kept, per method and seed, and of those touching each task:");
    for found in &report.architectures {
        println!("  {found}");
    }
    println!("wrote {}", args.out.display());
    Ok(())
}
