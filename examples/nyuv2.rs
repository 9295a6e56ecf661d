//! The paper's NYUv2 experiment: VGG-16 DeepLab-LargeFOV branches for segmentation (40
//! classes) and surface normals, the reference edge rule, the reference's search settings,
//! then evaluation of the discrete architecture on the test split without retraining.
//!
//! ```text
//! cargo run --release --example nyuv2 -- --data /path/to/nyu_v2 \
//!     --weights-seg weights/nyu_v2/tf_finetune_seg.pth \
//!     --weights-normal weights/nyu_v2/tf_finetune_normal.pth
//! ```
//!
//! `--data` is the NDDR/MTL-NAS layout (`list/*.txt` and PNGs) or, with `--layout mtan`, the
//! MTAN/LibMTL one (`train/` and `val/` folders of `.npy`). The weights are the reference's
//! single-task checkpoints (`features.N.*`, `head.N.*`); without them the branches start from
//! random weights, which the paper never does.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, ValueEnum};
use mtl_nas::branch::{
    Checkpoint, ClassifierImport, ImportWeights, Vgg16LargeFov, Vgg16LargeFovConfig, WeightLayout,
};
use mtl_nas::data::{Nyuv2, Nyuv2Config, Nyuv2Split, Nyuv2Target, check_samples};
use mtl_nas::device::device_from_name;
use mtl_nas::experiment::Progress;
use mtl_nas::prelude::*;
use mtl_nas::task::{Segmentation, SurfaceNormals};

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Layout {
    Nddr,
    Mtan,
}

/// Search MTL-NAS on NYUv2 with the reference settings.
#[derive(Parser, Debug)]
struct Args {
    /// The NYUv2 root folder.
    #[arg(long)]
    data: PathBuf,
    /// Its layout.
    #[arg(long, value_enum, default_value = "nddr")]
    layout: Layout,
    /// Single-task segmentation checkpoint (reference layout, .pth or .safetensors).
    #[arg(long)]
    weights_seg: Option<PathBuf>,
    /// Single-task normals checkpoint.
    #[arg(long)]
    weights_normal: Option<PathBuf>,
    /// Search iterations (reference: 20001).
    #[arg(long, default_value_t = 20001)]
    steps: usize,
    /// Images per step (reference: 10).
    #[arg(long, default_value_t = 10)]
    batch: usize,
    /// Seed of every random choice.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Compute device (flex, wgpu, vulkan, tch, tch-cuda; as the build's features allow).
    #[arg(long, default_value = "flex")]
    device: String,
    /// Output folder for the architecture, configuration and weights.
    #[arg(long, default_value = "runs/nyuv2")]
    out: PathBuf,
    /// Images per evaluation batch (full 480 x 640 images).
    #[arg(long, default_value_t = 2)]
    eval_batch: usize,
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

/// The search configuration of the flags, checked before anything is read or written (an
/// invalid setting is named by its flag).
fn search_config(args: &Args) -> mtl_nas::Result<SearchConfig> {
    let flag = |field: &str, reason: &str| mtl_nas::Error::InvalidConfig {
        field: field.into(),
        reason: reason.into(),
    };
    if args.eval_batch == 0 {
        return Err(flag(
            "--eval-batch",
            "at least 1 image per evaluation batch",
        ));
    }
    let config = SearchConfig {
        steps: args.steps,
        batch_size: args.batch,
        seed: args.seed,
        ..SearchConfig::nyuv2_reference()
    };
    config.validate(2).map_err(|e| match e {
        mtl_nas::Error::InvalidConfig { field, reason } => match field.as_str() {
            "steps" => flag("--steps", &reason),
            "batch_size" => flag("--batch", &reason),
            _ => mtl_nas::Error::InvalidConfig { field, reason },
        },
        other => other,
    })?;
    Ok(config)
}

fn run(args: Args) -> mtl_nas::Result<()> {
    let config = search_config(&args)?;
    let device = device_from_name(&args.device)?.autodiff();
    let (train_config, test_config) = match args.layout {
        Layout::Nddr => (
            Nyuv2Config::nddr(&args.data, Nyuv2Split::Train),
            Nyuv2Config::nddr(&args.data, Nyuv2Split::Test),
        ),
        Layout::Mtan => {
            let targets = vec![Nyuv2Target::Segmentation, Nyuv2Target::Normals];
            (
                Nyuv2Config::mtan(&args.data, Nyuv2Split::Train).with_targets(targets.clone()),
                Nyuv2Config::mtan(&args.data, Nyuv2Split::Test).with_targets(targets),
            )
        }
    };
    let classes = train_config.classes;
    let train = Nyuv2::open(train_config)?;
    let test = Nyuv2::open(test_config)?;
    println!(
        "NYUv2: {} training and {} test images",
        train.len(),
        test.len()
    );
    // Every file of both splits decoded and checked now, not after the search.
    let mut progress = Progress::new(1);
    for (set, data) in [("training set", &train), ("test set", &test)] {
        progress.stage(&format!("checking the {set}"));
        check_samples(data, set, |done, total| progress.check(done, total))?;
    }
    progress.finish();

    let mut rng = SeededRng::new(args.seed);
    let branch = |outputs: usize, weights: &Option<PathBuf>, rng: &mut SeededRng| {
        let vgg = Vgg16LargeFovConfig::new(outputs).init(rng, &device)?;
        match weights {
            Some(path) => {
                let checkpoint = Checkpoint::open(path)?;
                let (vgg, report) = vgg.import_weights(
                    &checkpoint,
                    WeightLayout::Reference,
                    ClassifierImport::IfShapeMatches,
                )?;
                println!(
                    "{}: {} tensors loaded, classifier {}, {} unused keys",
                    path.display(),
                    report.loaded,
                    if report.classifier_loaded {
                        "loaded"
                    } else {
                        "kept at its initialisation"
                    },
                    report.unused.len()
                );
                Ok(vgg)
            }
            None => {
                println!("no weights given for a {outputs}-output branch: random initialisation");
                Ok::<Vgg16LargeFov, mtl_nas::Error>(vgg)
            }
        }
    };
    let seg = branch(classes, &args.weights_seg, &mut rng)?;
    let normal = branch(3, &args.weights_normal, &mut rng)?;
    let space = SearchSpace::from_branches(
        &[seg.describe("seg"), normal.describe("normal")],
        EdgeRule::same_stage(),
    )?;
    println!("{space}");
    let net = Supernet::new(
        &space,
        vec![seg, normal],
        FusionConfig::nddr(1.0, 0.0),
        args.seed,
        &device,
    )?;
    let tasks: Vec<Box<dyn Task>> = vec![
        Box::new(Segmentation::new("seg", classes)),
        Box::new(SurfaceNormals::new("normal")),
    ];

    config.save(args.out.join("config.json"))?;
    let mut progress = Progress::new(config.steps);
    progress.stage("search");
    let start = Instant::now();
    let outcome =
        Search::new(config).run_observed(net, &tasks, &train, |log| progress.search(log))?;
    progress.finish();
    println!("searched in {:.0} s", start.elapsed().as_secs_f64());
    println!("{}", outcome.architecture);
    outcome
        .architecture
        .save(args.out.join("architecture.json"))?;

    let derived = outcome.network.derive(&outcome.architecture)?;
    derived.save_weights(args.out.join("derived.safetensors"))?;
    let evaluation = evaluate(
        &derived,
        &tasks,
        &test,
        Connectivity::Hard,
        args.eval_batch,
        args.seed,
    )?;
    println!("test split, discrete architecture, no retraining:\n{evaluation}");
    mtl_nas::io::write_json(&args.out.join("evaluation.json"), &evaluation)?;
    println!("wrote {}", args.out.display());
    Ok(())
}
