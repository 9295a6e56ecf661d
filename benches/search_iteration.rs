//! Seconds per search iteration of the main job's supernet (`examples/search.rs` defaults:
//! three three-stage `SmallCnn` branches of 16, 32 and 48 channels, segmentation, normals and
//! material on 24 x 32 synthetic scenes, batch 8, flips), and a fingerprint of the result for
//! bit-identity checks.
//!
//! ```text
//! cargo bench --bench search_iteration -- --steps 60
//! cargo bench --bench search_iteration -- --steps 30 --fingerprint /tmp/after.txt
//! cargo bench --bench search_iteration -- --batch 1    # how much of an iteration is overhead
//! cargo bench --bench search_iteration -- --all-edges  # a training step of "all edges on"
//! cargo bench --bench search_iteration -- --tasks seg,normal --size 36x48 --train 600  # the older job
//! cargo bench --bench search_iteration -- --describe   # the network's counts, for benches/pytorch_small.py
//! ```
//!
//! Prints one line of JSON: the median and mean seconds of an iteration (the first
//! `--warmup` iterations left out) and the total. With `--fingerprint FILE` it also writes
//! every iteration's losses and the final logits as raw bits, and the FNV-1a hash of every
//! saved tensor: two builds that compute the same search bit for bit write the same file.
//! With `--describe` it times nothing and prints one JSON line about the supernet instead:
//! its edges (in the space's order), the nodes with a fusion, the parameters and MACs per
//! image of every branch, head and fusion (`src/cost/`), burn's `num_params`, and the median
//! seconds the data take to draw one iteration's two batches (not part of the PyTorch
//! twin's timing). `benches/pytorch_small.py --check-describe FILE` compares it with the twin.

use std::fmt::Write as _;
use std::time::Instant;

use mtl_nas::experiment::{Experiment, ExperimentData};
use mtl_nas::prelude::*;

/// Seconds per search iteration of the main job's supernet.
#[derive(clap::Parser, Debug)]
struct Options {
    /// Search iterations to time.
    #[arg(long, default_value_t = 60)]
    steps: usize,
    /// Iterations left out of the statistics.
    #[arg(long, default_value_t = 5)]
    warmup: usize,
    /// Images per step.
    #[arg(long, default_value_t = 8)]
    batch: usize,
    /// Tasks, comma-separated (as `examples/search.rs` takes them).
    #[arg(long, default_value = "seg,normal,material", value_delimiter = ',')]
    tasks: Vec<String>,
    /// Image size, HEIGHTxWIDTH.
    #[arg(long, default_value = "24x32")]
    size: String,
    /// Training scenes.
    #[arg(long, default_value_t = 400)]
    train: usize,
    /// Time a training step of the "all edges on" baseline (same data, batch and weight
    /// optimiser) instead of a search iteration.
    #[arg(long)]
    all_edges: bool,
    /// Print the supernet's edges, parameter counts and MACs per image as one JSON line and
    /// exit (nothing is timed but drawing the data).
    #[arg(long)]
    describe: bool,
    /// Write the search's bit-level fingerprint here.
    #[arg(long)]
    fingerprint: Option<std::path::PathBuf>,
    /// Passed by `cargo bench` to harness-less benchmarks.
    #[arg(long, hide = true)]
    bench: bool,
}

fn main() {
    let options = <Options as clap::Parser>::parse();
    let device = Device::flex().autodiff();
    let data = ExperimentData::scenes(options.train, 200, &options.size, &options.tasks);
    let experiment = Experiment {
        data: data.unwrap_or_else(|e| panic!("--size or --tasks: {e}")),
        ..Experiment::two_tasks()
    };
    let config = SearchConfig {
        checkpoint_every: 0,
        batch_size: options.batch,
        ..SearchConfig::short(options.steps).with_seed(experiment.settings.seed)
    };
    let (train, _) = experiment.datasets().unwrap();
    let tasks = experiment.tasks();
    let branches = experiment.initial_branches(&device).unwrap();
    let described: Vec<_> = branches
        .iter()
        .zip(experiment.task_names())
        .map(|(b, n)| b.describe(n))
        .collect();
    let space = SearchSpace::from_branches(&described, experiment.settings.rule.clone()).unwrap();
    let net = Supernet::new(
        &space,
        branches,
        experiment.settings.fusion,
        experiment.settings.seed,
        &device,
    )
    .unwrap();
    if options.describe {
        let image = train.sample(0).unwrap().image;
        let input = [image.height, image.width];
        describe(&options, &net, input, train.as_ref(), &config);
        return;
    }

    let mut times = Vec::new();
    let start = Instant::now();
    let mut last = start;
    if options.all_edges {
        let names = experiment.task_names();
        let branches = experiment.initial_branches(&device).unwrap();
        let net = mtl_nas::net::baselines::all_edges(
            branches,
            &names,
            experiment.settings.rule.clone(),
            experiment.settings.fusion,
            experiment.settings.seed,
            &device,
        )
        .unwrap();
        mtl_nas::train::train(net, &tasks, train.as_ref(), &(&config).into(), |_| {
            let now = Instant::now();
            times.push(now.duration_since(last).as_secs_f64());
            last = now;
        })
        .unwrap();
        report(&options, &times, start.elapsed().as_secs_f64());
        return;
    }
    let outcome = Search::new(config)
        .run_observed(net, &tasks, train.as_ref(), |_| {
            let now = Instant::now();
            times.push(now.duration_since(last).as_secs_f64());
            last = now;
        })
        .unwrap();
    report(&options, &times, start.elapsed().as_secs_f64());

    if let Some(path) = options.fingerprint {
        let mut text = String::new();
        for log in &outcome.history {
            let bits = |v: &[f64]| {
                v.iter()
                    .map(|x| format!("{:016x}", x.to_bits()))
                    .collect::<Vec<_>>()
            };
            writeln!(
                text,
                "{} arch {:?} weight {:?} entropy {:016x}",
                log.iteration,
                bits(&log.architecture_losses),
                bits(&log.weight_losses),
                log.entropy.to_bits()
            )
            .unwrap();
        }
        let logits = outcome.network.architecture.logit_values().expect("logits");
        let logit_bits: Vec<String> = logits
            .iter()
            .map(|x| format!("{:08x}", x.to_bits()))
            .collect();
        writeln!(text, "logits {logits:?}\nlogit bits {logit_bits:?}").unwrap();
        let weights = std::env::temp_dir().join(format!(
            "search_iteration_{}.safetensors",
            std::process::id()
        ));
        outcome.network.save_weights(&weights).unwrap();
        let bytes = std::fs::read(&weights).unwrap();
        std::fs::remove_file(&weights).unwrap();
        // Tensor by tensor, by name: the file's own layout need not be reproducible.
        let tensors = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        let mut names = tensors.names();
        names.sort();
        for name in names {
            let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
            for &byte in tensors.tensor(name).unwrap().data() {
                hash ^= byte as u64;
                hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
            }
            writeln!(text, "{name} fnv1a {hash:016x}").unwrap();
        }
        std::fs::write(&path, text).unwrap();
    }
}

/// Prints the JSON line: median and mean seconds per step after the warm-up, and the total.
fn report(options: &Options, times: &[f64], total: f64) {
    let timed = &times[options.warmup.min(times.len().saturating_sub(1))..];
    let mut sorted = timed.to_vec();
    sorted.sort_by(f64::total_cmp);
    let median = sorted[sorted.len() / 2];
    let mean = timed.iter().sum::<f64>() / timed.len() as f64;
    let round = |value: f64, digits: i32| (value * 10f64.powi(digits)).round() / 10f64.powi(digits);
    let line = serde_json::json!({
        "run": if options.all_edges { "all-edges training" } else { "search" },
        "tasks": options.tasks,
        "size": options.size,
        "steps": options.steps,
        "batch": options.batch,
        "median_s": round(median, 5),
        "mean_s": round(mean, 5),
        "total_s": round(total, 3),
    });
    println!("{line}");
}

/// Prints the `--describe` JSON line: what the supernet is made of, as the cost module and
/// burn count it, and how long drawing one iteration's data (a search and a train batch,
/// augmented as configured) takes.
fn describe(
    options: &Options,
    net: &Supernet<SmallCnn>,
    input: [usize; 2],
    data: &dyn MultiTaskDataset,
    config: &SearchConfig,
) {
    let space = net.space();
    let cost = net.cost(input).unwrap();
    let edges: Vec<[usize; 4]> = (space.edges().iter())
        .map(|e| [e.target.task, e.target.layer, e.source.task, e.source.layer])
        .collect();
    let fusion_nodes: Vec<[usize; 2]> = (cost.fusions.iter())
        .map(|f| [f.node.task, f.node.layer])
        .collect();
    let branch_costs: Vec<_> = net
        .branches
        .iter()
        .map(|b| b.cost(input).unwrap())
        .collect();
    let node_sizes: Vec<Vec<[usize; 2]>> = (branch_costs.iter())
        .map(|b| b.layers.iter().map(|l| l.size).collect())
        .collect();
    let pick = |costs: &[Option<mtl_nas::cost::Cost>], macs: bool| -> Vec<u64> {
        (costs.iter())
            .map(|c| c.map_or(0, |c| if macs { c.macs } else { c.params }))
            .collect()
    };
    let device = net.architecture.logits.device();
    let mut rng = SeededRng::new(config.seed);
    let mut draws = Vec::new();
    for round in 0..12 {
        let start = Instant::now();
        for half in 0..2 {
            let first = (round * 2 + half) * options.batch % data.len();
            let indices: Vec<usize> = (0..options.batch)
                .map(|i| (first + i) % data.len())
                .collect();
            data.batch(&indices, Some((&config.augmentation, &mut rng)), &device)
                .unwrap();
        }
        draws.push(start.elapsed().as_secs_f64());
    }
    let warm = &mut draws[2..];
    warm.sort_by(f64::total_cmp);
    let total = cost.total();
    let line = serde_json::json!({
        "run": "describe",
        "framework": "mtl-nas",
        "tasks": space.tasks(),
        "size": options.size,
        "batch": options.batch,
        "edges": space.num_edges(),
        "fusions": cost.fusions.len(),
        "edge_list": edges,
        "fusion_nodes": fusion_nodes,
        "node_sizes": node_sizes,
        "branch_params": pick(&cost.branches, false),
        "branch_macs": pick(&cost.branches, true),
        "head_params": pick(&cost.heads, false),
        "head_macs": pick(&cost.heads, true),
        "fusion_params": cost.fusions.iter().map(|f| f.cost.params).collect::<Vec<_>>(),
        "fusion_macs": cost.fusions.iter().map(|f| f.cost.macs).collect::<Vec<_>>(),
        "resize_macs": cost.resize_macs(),
        "total_params": total.params,
        "total_macs": total.macs,
        "logits": net.architecture.num_edges(),
        "burn_num_params": net.num_params(),
        "data_s": warm[warm.len() / 2],
    });
    println!("{line}");
}
