//! Speed and memory of the paper's network on every backend this build has, in the cases the
//! PyTorch side-by-side script (`benches/pytorch_reference.py`) times too.
//!
//! ```text
//! cargo bench --bench backends                                  # every case on flex
//! cargo bench --bench backends -- --case search-128 --iterations 3
//! cargo bench --bench backends -- --case search-321-batch10-micro5 --iterations 1
//! cargo bench --bench backends --features wgpu -- --device wgpu-cpu --case fusion
//! benches/compare.sh                                            # this and PyTorch, one table
//! ```
//!
//! Cases (`--case`, default the first four):
//! - `fusion`: forward + backward of one NDDR fusion of the VGG supernet's third stage at
//!   batch 4 x 128 x 128 (256 own channels and three 256-channel sources at 32 x 32).
//! - `search-128` / `search-321`: one full search iteration (architecture step + weight step,
//!   optimisers included) of the two-task VGG-16 LargeFOV supernet (48 edges, 26 NDDR
//!   fusions; segmentation 40 classes + surface normals) at batch 4 x 128 x 128 and batch 2 x
//!   321 x 321, on pre-rendered synthetic scenes without augmentation.
//! - `search-321-batch10` / `search-321-batch10-micro5`: the reference's batch, 10 x 321 x
//!   321, in one pass, and accumulated over 5 micro-batches of 2 (`micro_batches`): the peak
//!   memory of each (run one per process).
//! - `inference`: one 480 x 640 image through a derived network (16 of the 48 edges kept:
//!   every third) against the same supernet running every fusion input with weight 0 for
//!   the pruned edges; both times, and the fusion FLOPs of each.
//!
//! Each case prints a line of JSON: seconds per iteration (median of `--iterations` after one
//! warm-up); `heap_peak_mb`, the peak of Rust heap bytes alive during the timed part above
//! what was alive before it (a counting global allocator: complete on flex; GPU and libtorch
//! memory is not Rust heap); and `peak_memory_mb`, the growth of the process's peak resident
//! set (`VmHWM`) over its resident set before the case built its network, the figure
//! `pytorch_reference.py` reports on the CPU (run one case per process, as `compare.sh` does,
//! for it to be per case). On GPU backends every timed iteration ends by reading a value back,
//! so queued work is finished inside the timing.

use std::time::Instant;

use burn::tensor::{Tensor, TensorData};
use mtl_nas::data::SceneTarget;
use mtl_nas::device::{device_from_name, device_names};
use mtl_nas::experiment::{Experiment, ExperimentData};
use mtl_nas::fusion::{FusionInput, NddrFusion};
use mtl_nas::prelude::*;
use serde_json::{Map, Value, json};

mod support;

#[global_allocator]
static ALLOCATOR: support::Counting = support::Counting;

const CASES: [&str; 6] = [
    "fusion",
    "search-128",
    "search-321",
    "inference",
    "search-321-batch10",
    "search-321-batch10-micro5",
];

/// Speed and memory of the paper's network on every backend this build has.
#[derive(clap::Parser, Debug)]
struct Options {
    /// Devices, comma-separated (see the list this prints).
    #[arg(long = "device", value_delimiter = ',', default_value = "flex")]
    devices: Vec<String>,
    /// Cases, comma-separated.
    #[arg(long = "case", value_delimiter = ',', value_parser = CASES, default_values = &CASES[..4])]
    cases: Vec<String>,
    /// Timed iterations per case (after one warm-up).
    #[arg(long, default_value_t = 3)]
    iterations: usize,
    /// Passed by `cargo bench` to harness-less benchmarks.
    #[arg(long, hide = true)]
    bench: bool,
}

fn main() {
    let options: Options = clap::Parser::parse();
    println!("devices in this build: {:?}", device_names());
    for name in &options.devices {
        let device = device_from_name(name).unwrap_or_else(|e| panic!("{e}"));
        for case in &options.cases {
            let resident_before = status_mb("VmRSS:");
            let measured = match case.as_str() {
                "fusion" => fusion(&device, options.iterations),
                "search-128" => search(&device, (4, 1), 128, options.iterations),
                "search-321" => search(&device, (2, 1), 321, options.iterations),
                "search-321-batch10" => search(&device, (10, 1), 321, options.iterations),
                "search-321-batch10-micro5" => search(&device, (10, 5), 321, options.iterations),
                "inference" => inference(&device, options.iterations),
                _ => unreachable!("clap accepts only the cases listed"),
            };
            let mut line = json!({"framework": "mtl-nas", "device": name, "case": case});
            line.as_object_mut().expect("an object").extend(measured);
            line["peak_memory_mb"] = json!(round(status_mb("VmHWM:") - resident_before, 1));
            println!("{line}");
        }
    }
}

/// `value` rounded to `digits` decimals, for readable JSON.
fn round(value: f64, digits: i32) -> f64 {
    let scale = 10f64.powi(digits);
    (value * scale).round() / scale
}

/// A memory figure of `/proc/self/status` in MB (`VmRSS:` now, `VmHWM:` the peak so far; 0
/// where there is no such file).
fn status_mb(field: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kib| kib * 1024.0 / 1e6)
}

/// Times `iteration` once to warm up and then `iterations` times; returns the median seconds,
/// every timing, and the Rust heap peak (MB) above the level before the timed part.
fn time(iterations: usize, mut iteration: impl FnMut()) -> (f64, Vec<f64>, f64) {
    iteration();
    let before = support::reset_peak();
    let mut all: Vec<f64> = (0..iterations)
        .map(|_| {
            let start = Instant::now();
            iteration();
            start.elapsed().as_secs_f64()
        })
        .collect();
    let peak = support::peak_mb_above(before);
    let timings = all.clone();
    all.sort_by(f64::total_cmp);
    (all[all.len() / 2], timings, peak)
}

/// The timing fields of a case's JSON line.
fn json_timing((median, all, peak): (f64, Vec<f64>, f64)) -> Map<String, Value> {
    let fields = json!({
        "seconds_per_iteration": round(median, 4),
        "all": all,
        "heap_peak_mb": round(peak, 1),
    });
    fields.as_object().cloned().unwrap_or_default()
}

/// Deterministic inputs in [-1, 1) without any generator state.
fn fixed<const D: usize>(shape: [usize; D], seed: u64, device: &Device) -> Tensor<D> {
    let count: usize = shape.iter().product();
    let data: Vec<f32> = (0..count as u64)
        .map(|i| {
            let h = (i ^ seed.wrapping_mul(0x9e37_79b9_7f4a_7c15))
                .wrapping_mul(0xbf58_476d_1ce4_e5b9)
                .rotate_left(31);
            (h >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        })
        .collect();
    Tensor::from_data(TensorData::new(data, shape), device)
}

fn fusion(device: &Device, iterations: usize) -> Map<String, Value> {
    let device = device.clone().autodiff();
    let inputs = (0..3)
        .map(|edge| FusionInput {
            edge,
            channels: 256,
        })
        .collect();
    let fusion = NddrFusion::new(
        256,
        inputs,
        &FusionConfig::nddr(0.9, 0.1),
        &mut SeededRng::new(0),
        &device,
    )
    .unwrap();
    let own = fixed([4, 256, 32, 32], 1, &device).require_grad();
    let sources: Vec<Tensor<4>> = (0..3)
        .map(|s| fixed([4, 256, 32, 32], 2 + s, &device).require_grad())
        .collect();
    let weights = Tensor::<1>::from_floats([0.5, 0.5, 0.5], &device).require_grad();
    json_timing(time(iterations, || {
        let out = fusion.forward(
            own.clone(),
            sources.iter().cloned().map(Some).collect(),
            &weights,
        );
        let grads = out.sum().backward();
        let g = fusion.weight.val().grad(&grads).expect("weight gradient");
        // Reading one value back finishes the queued work on asynchronous backends.
        let _: f32 = g.slice([0..1, 0..1, 0..1, 0..1]).into_scalar();
    }))
}

/// The two-task VGG-16 LargeFOV supernet of the paper (reference rule, NDDR (1, 0) init).
fn vgg_supernet(device: &Device) -> Supernet<Vgg16LargeFov> {
    let mut rng = SeededRng::new(0);
    let seg = Vgg16LargeFovConfig::new(40).init(&mut rng, device).unwrap();
    let normal = Vgg16LargeFovConfig::new(3).init(&mut rng, device).unwrap();
    let space = SearchSpace::from_branches(
        &[seg.describe("seg"), normal.describe("normal")],
        EdgeRule::same_stage(),
    )
    .unwrap();
    Supernet::new(
        &space,
        vec![seg, normal],
        FusionConfig::nddr(1.0, 0.0),
        0,
        device,
    )
    .unwrap()
}

/// A search iteration at `batch` images in `micro_batches` chunks (gradient accumulation).
fn search(
    device: &Device,
    (batch, micro_batches): (usize, usize),
    size: usize,
    iterations: usize,
) -> Map<String, Value> {
    let device = device.clone().autodiff();
    let experiment = Experiment {
        data: ExperimentData::Scenes {
            train: 4 * batch,
            test: 1,
            height: size,
            width: size,
            targets: vec![SceneTarget::Segmentation, SceneTarget::Normals],
        },
        ..Experiment::two_tasks()
    };
    let (train, _) = experiment.datasets().unwrap();
    let tasks: Vec<Box<dyn Task>> = vec![
        Box::new(Segmentation::new("seg", 40)),
        Box::new(SurfaceNormals::new("normal")),
    ];
    let config = SearchConfig {
        steps: iterations + 1,
        batch_size: batch,
        micro_batches,
        augmentation: Augmentation::default(),
        checkpoint_every: 0,
        ..SearchConfig::nyuv2_reference()
    };
    let net = vgg_supernet(&device);
    let mut times = Vec::new();
    let mut last = Instant::now();
    let mut peak_before = 0;
    Search::new(config)
        .run_observed(net, &tasks, train.as_ref(), |log| {
            // The observer runs after each iteration, whose losses were read back already.
            let now = Instant::now();
            times.push(now.duration_since(last).as_secs_f64());
            last = now;
            if log.iteration == 0 {
                // The first iteration is the warm-up: measure memory from here.
                peak_before = support::reset_peak();
            }
        })
        .unwrap();
    let peak = support::peak_mb_above(peak_before);
    let timed = times[1..].to_vec();
    let mut sorted = timed.clone();
    sorted.sort_by(f64::total_cmp);
    json_timing((sorted[sorted.len() / 2], timed, peak))
}

fn inference(device: &Device, iterations: usize) -> Map<String, Value> {
    // Inference: no autodiff, batch norm on running statistics.
    let net = vgg_supernet(device);
    let space = net.space().clone();
    let mask: Vec<bool> = (0..space.num_edges()).map(|e| e % 3 == 0).collect();
    let logits: Vec<f32> = mask.iter().map(|&k| if k { 5.0 } else { -5.0 }).collect();
    let architecture = Architecture::from_logits(&space, &logits).unwrap();
    let derived = net.clone().derive(&architecture).unwrap();
    let image = fixed([1, 3, 480, 640], 9, device);
    let run = |network: &Supernet<Vgg16LargeFov>, weights: &EdgeGates| {
        let outputs = network.forward(image.clone(), weights).unwrap();
        for out in outputs {
            let _: f32 = out.slice([0..1, 0..1, 0..1, 0..1]).into_scalar();
        }
    };
    let kept = EdgeGates::from_mask(&mask, device);
    // The supernet with every input active, pruned ones multiplied by 0.
    let zeros = EdgeGates {
        active: vec![true; mask.len()],
        ..EdgeGates::from_mask(&mask, device)
    };
    let derived_time = time(iterations, || run(&derived, &kept));
    let zeros_time = time(iterations, || run(&net, &zeros));
    let flops = |active: &[bool]| fusion_flops(&space, active, 480, 640);
    let mut fields = json_timing(derived_time);
    fields.extend(
        json!({
            "kept_edges": mask.iter().filter(|&&k| k).count(),
            "edges": mask.len(),
            "fusion_gflops_derived": round(flops(&mask) / 1e9, 3),
            "fusion_gflops_zeros": round(flops(&vec![true; mask.len()]) / 1e9, 3),
            "seconds_zeros": round(zeros_time.0, 4),
            "heap_peak_mb_zeros": round(zeros_time.2, 1),
        })
        .as_object()
        .cloned()
        .unwrap_or_default(),
    );
    fields
}

/// Multiply-adds x 2 of every fusion's 1x1 convolution for one `height x width` image, with
/// the inputs `active` (own feature always): `2 C (C + sum of active source channels) H W` at
/// the node's resolution. (Bilinear resizes, absent in the same-stage rule, are not counted.)
fn fusion_flops(space: &SearchSpace, active: &[bool], height: usize, width: usize) -> f64 {
    let mut flops = 0.0;
    for task in 0..space.num_tasks() {
        for layer in 0..space.nodes(task).len() {
            let node = NodeId::new(task, layer);
            let incoming: Vec<usize> = space.incoming(node).collect();
            if incoming.is_empty() {
                continue;
            }
            let target = space.node(node);
            let sources: usize = incoming
                .iter()
                .filter(|&&e| active[e])
                .map(|&e| space.node(space.edges()[e].source).channels)
                .sum();
            let pixels = height.div_ceil(target.stride) * width.div_ceil(target.stride);
            flops += 2.0 * (target.channels * (target.channels + sources) * pixels) as f64;
        }
    }
    flops
}
