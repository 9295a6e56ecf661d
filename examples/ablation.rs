//! The paper's ablations on the main job's scenes (segmentation, normals and material at
//! 24 x 32, 200 steps) and on MultiFashion when its files are there, every variant on
//! several seeds:
//! (i) the search: weight step under sigmoid vs relaxed Bernoulli, evaluation hard vs
//! sampled, entropy weight 0 vs the default; (ii) the fusion's initialisation (1, 0),
//! (0.9, 0.1), (0.5, 0.5) and Kaiming. Each row: the evaluated network's Delta against
//! single-task branches, the relaxed network's, and the loss gap between the two.
//!
//! ```text
//! cargo run --release --example ablation
//! cargo run --release --example ablation -- --seeds 5 --steps 800
//! ```

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use mtl_nas::data::{FASHION_MNIST_DIR, SceneTarget};
use mtl_nas::device::device_from_name;
use mtl_nas::experiment::{
    AblationVariant, Event, Experiment, ExperimentData, Progress, RunSettings,
};
use mtl_nas::search::SearchConfig;
use mtl_nas::space::Stage;

/// Run the search and initialisation ablations with seeds.
#[derive(Parser, Debug)]
struct Args {
    /// Search iterations (also the single-task baseline's training steps).
    #[arg(long, default_value_t = 200)]
    steps: usize,
    /// Seeds per variant.
    #[arg(long, default_value_t = 3)]
    seeds: usize,
    /// Training scenes.
    #[arg(long, default_value_t = 400)]
    train: usize,
    /// Test scenes.
    #[arg(long, default_value_t = 200)]
    test: usize,
    /// Folder with the Fashion-MNIST IDX files (MultiFashion runs too when they are there).
    #[arg(long, default_value = FASHION_MNIST_DIR)]
    fashion: PathBuf,
    /// Output folder (one JSON file of tables per data set).
    #[arg(long, default_value = "runs/ablation")]
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
    let scenes = Experiment {
        data: ExperimentData::Scenes {
            train: args.train,
            test: args.test,
            height: 24,
            width: 32,
            targets: vec![
                SceneTarget::Segmentation,
                SceneTarget::Normals,
                SceneTarget::Material,
            ],
        },
        settings: RunSettings {
            search: SearchConfig::short(args.steps),
            seeds: args.seeds,
            ..Experiment::two_tasks().settings
        },
        ..Experiment::two_tasks()
    };
    let mut runs = vec![("scenes", scenes)];
    if args.fashion.join("train-images-idx3-ubyte.gz").exists() {
        runs.push((
            "multi_fashion",
            Experiment {
                data: ExperimentData::MultiFashion {
                    dir: args.fashion.clone(),
                    train: 4000,
                    test: 2000,
                },
                stages: Stage::pyramid(&[(1, 16), (2, 32), (2, 64)]),
                settings: RunSettings {
                    search: SearchConfig {
                        batch_size: 32,
                        ..SearchConfig::short(args.steps)
                    },
                    seeds: args.seeds,
                    eval_batch: 500,
                    ..Experiment::two_tasks().settings
                },
            },
        ));
    } else {
        println!(
            "no Fashion-MNIST files in {} (Debian: apt install dataset-fashion-mnist): scenes only",
            args.fashion.display()
        );
    }
    let mut progress = Progress::new(args.steps);
    for (name, experiment) in runs {
        let ablations = vec![
            (
                format!("{name}: search variants"),
                AblationVariant::search_variants(&experiment.settings),
            ),
            (
                format!("{name}: fusion initialisation"),
                AblationVariant::fusion_inits(&experiment.settings),
            ),
        ];
        let tables = experiment.ablations(&ablations, &device, |event| match event {
            Event::Stage(stage) => progress.stage(&format!("{name}: {stage}")),
            other => progress.observe(other),
        })?;
        progress.finish();
        for table in &tables {
            println!("{table}");
        }
        mtl_nas::io::write_json(&args.out.join(format!("{name}.json")), &tables)?;
    }
    println!("wrote {}", args.out.display());
    Ok(())
}
