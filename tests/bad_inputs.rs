//! Every bad input tried against the crate, and the error it gets: no panic, and a message
//! that names the file, field, node or tensor at fault. `tests/BAD_INPUTS.md` is generated from
//! these cases (`MTL_NAS_BLESS=1 cargo test --test bad_inputs`) and checked against them.

use std::path::{Path, PathBuf};

use mtl_nas::arch::Architecture;
use mtl_nas::branch::{
    Checkpoint, ClassifierImport, ImportWeights, Vgg16LargeFovConfig, WeightLayout,
};
use mtl_nas::data::files::read_npy;
use mtl_nas::data::{
    FashionMnist, MultiTaskDataset, Nyuv2, Nyuv2Config, Nyuv2Split, Nyuv2Target, TaskonomySplit,
    parse_idx, read_building_split,
};
use mtl_nas::device::device_from_name;
use mtl_nas::prelude::*;
use mtl_nas::search::WeightOptimizerConfig;
use mtl_nas::space::NodeDescription;

type Case = (
    &'static str,
    &'static str,
    Box<dyn Fn(&Path) -> mtl_nas::Result<()>>,
);

fn png(path: &Path, width: u32, height: u32, color: png::ColorType, samples: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let file = std::fs::File::create(path).unwrap();
    let mut encoder = png::Encoder::new(std::io::BufWriter::new(file), width, height);
    encoder.set_color(color);
    encoder.set_depth(png::BitDepth::Eight);
    encoder
        .write_header()
        .unwrap()
        .write_image_data(samples)
        .unwrap();
}

/// An NDDR-layout NYUv2 copy of one 8 x 8 image with valid labels and normals.
fn nyu(root: &Path) {
    png(
        &root.join("img/0.png"),
        8,
        8,
        png::ColorType::Rgb,
        &[100; 192],
    );
    png(
        &root.join("seg/0.png"),
        8,
        8,
        png::ColorType::Grayscale,
        &[3; 64],
    );
    png(
        &root.join("nrm/0.png"),
        8,
        8,
        png::ColorType::Rgb,
        &[128; 192],
    );
    std::fs::create_dir_all(root.join("list")).unwrap();
    std::fs::write(
        root.join("list/training_seg.txt"),
        "/img/0.png /seg/0.png\n",
    )
    .unwrap();
    std::fs::write(
        root.join("list/training_normal_mask.txt"),
        "/img/0.png /nrm/0.png\n",
    )
    .unwrap();
}

fn open_nyu(root: &Path) -> mtl_nas::Result<()> {
    Nyuv2::open(Nyuv2Config::nddr(root, Nyuv2Split::Train))?
        .sample(0)
        .map(|_| ())
}

fn branches(stages: Vec<(usize, usize)>) -> Vec<SmallCnn> {
    let mut rng = SeededRng::new(0);
    (0..2)
        .map(|_| {
            SmallCnnConfig::new(3, Stage::pyramid(&stages), 2)
                .init(&mut rng, &Device::flex())
                .unwrap()
        })
        .collect()
}

fn space(stages: Vec<(usize, usize)>) -> SearchSpace {
    let b = branches(stages);
    SearchSpace::from_branches(
        &[b[0].describe("a"), b[1].describe("b")],
        EdgeRule::same_stage(),
    )
    .unwrap()
}

/// One search step on `data` of a two-task supernet (tasks `a` and `b`, 2 outputs each) on
/// `device`.
fn one_search_step(device: &Device, data: &dyn MultiTaskDataset) -> mtl_nas::Result<()> {
    let net = Supernet::new(
        &space(vec![(2, 4)]),
        branches(vec![(2, 4)]),
        FusionConfig::nddr(1.0, 0.0),
        0,
        device,
    )?;
    let tasks: Vec<Box<dyn Task>> = ["a", "b"]
        .iter()
        .map(|n| Box::new(DenseRegression::new(*n, 2, RegressionLoss::L2)) as Box<dyn Task>)
        .collect();
    let config = SearchConfig {
        steps: 1,
        batch_size: 2,
        ..Default::default()
    };
    Search::new(config).run(net, &tasks, data).map(|_| ())
}

fn config_error(config: SearchConfig) -> mtl_nas::Result<()> {
    config.validate(2)
}

fn cases() -> Vec<Case> {
    vec![
        (
            "PNG that is not a PNG",
            "not a readable PNG",
            Box::new(|d| {
                nyu(d);
                std::fs::write(d.join("img/0.png"), b"GIF89a...").unwrap();
                open_nyu(d)
            }),
        ),
        (
            "truncated PNG",
            "truncated or corrupt PNG data",
            Box::new(|d| {
                nyu(d);
                let bytes = std::fs::read(d.join("seg/0.png")).unwrap();
                std::fs::write(d.join("seg/0.png"), &bytes[..bytes.len() - 20]).unwrap();
                open_nyu(d)
            }),
        ),
        (
            "image with one channel where RGB is expected",
            "expected an 8-bit RGB image, found 1 channel(s)",
            Box::new(|d| {
                nyu(d);
                png(
                    &d.join("img/0.png"),
                    8,
                    8,
                    png::ColorType::Grayscale,
                    &[9; 64],
                );
                open_nyu(d)
            }),
        ),
        (
            "label image of another size than its image",
            "6 x 8 pixels, but its image is 8 x 8",
            Box::new(|d| {
                nyu(d);
                png(
                    &d.join("seg/0.png"),
                    8,
                    6,
                    png::ColorType::Grayscale,
                    &[1; 48],
                );
                open_nyu(d)
            }),
        ),
        (
            "label out of range (not the ignore value)",
            "label 40 at row 0, column 0 is outside 0..40",
            Box::new(|d| {
                nyu(d);
                png(
                    &d.join("seg/0.png"),
                    8,
                    8,
                    png::ColorType::Grayscale,
                    &[40; 64],
                );
                open_nyu(d)
            }),
        ),
        (
            "list file naming a missing file",
            "training_normal_mask.txt line 1",
            Box::new(|d| {
                nyu(d);
                std::fs::remove_file(d.join("nrm/0.png")).unwrap();
                open_nyu(d)
            }),
        ),
        (
            "list line with one path",
            "expected '<image path> <label path>'",
            Box::new(|d| {
                nyu(d);
                std::fs::write(d.join("list/training_seg.txt"), "/img/0.png\n").unwrap();
                open_nyu(d)
            }),
        ),
        (
            "missing dataset folder",
            "is not a folder (expected the NDDR/MTL-NAS layout",
            Box::new(|d| open_nyu(&d.join("absent"))),
        ),
        (
            "depth asked of an NDDR copy without depth lists",
            "training_depth.txt",
            Box::new(|d| {
                nyu(d);
                let config =
                    Nyuv2Config::nddr(d, Nyuv2Split::Train).with_targets(vec![Nyuv2Target::Depth]);
                Nyuv2::open(config).map(|_| ())
            }),
        ),
        (
            "truncated NPY",
            "truncated or corrupt data",
            Box::new(|d| {
                let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
                let header = "{'descr': '<f4', 'fortran_order': False, 'shape': (100,), }";
                let header = format!("{header:<117}\n");
                bytes.extend((header.len() as u16).to_le_bytes());
                bytes.extend(header.as_bytes());
                bytes.extend([0u8; 40]);
                std::fs::write(d.join("short.npy"), bytes).unwrap();
                read_npy(&d.join("short.npy")).map(|_| ())
            }),
        ),
        (
            "NPY that is not an NPY",
            "not a valid .npy file",
            Box::new(|d| {
                std::fs::write(d.join("x.npy"), b"PK\x03\x04 zip").unwrap();
                read_npy(&d.join("x.npy")).map(|_| ())
            }),
        ),
        (
            "architecture JSON for a different search space",
            "architecture does not match the search space",
            Box::new(|d| {
                let arch = Architecture::from_logits(&space(vec![(2, 4)]), &[1.0; 6])?;
                arch.save(d.join("a.json"))?;
                Architecture::load(d.join("a.json"))?.check_space(&space(vec![(3, 4)]))
            }),
        ),
        (
            "architecture JSON edited by hand (kept flag contradicts the logit)",
            "has logit 1 but kept = false",
            Box::new(|d| {
                let arch = Architecture::from_logits(&space(vec![(2, 4)]), &[1.0; 6])?;
                arch.save(d.join("a.json"))?;
                let text = std::fs::read_to_string(d.join("a.json")).unwrap();
                std::fs::write(
                    d.join("a.json"),
                    text.replacen("\"kept\": true", "\"kept\": false", 1),
                )
                .unwrap();
                Architecture::load(d.join("a.json")).map(|_| ())
            }),
        ),
        (
            "architecture file that is not JSON",
            "invalid JSON",
            Box::new(|d| {
                std::fs::write(d.join("a.json"), "{\"space\": [").unwrap();
                Architecture::load(d.join("a.json")).map(|_| ())
            }),
        ),
        (
            "weights with a missing tensor",
            "tensor `head.8.bias`: missing",
            Box::new(|_| {
                let vgg = Vgg16LargeFovConfig::new(3)
                    .with_width_divisor(64)
                    .init(&mut SeededRng::new(0), &Device::flex())?;
                let full = Checkpoint::open(fixture("vgg_reference.pth"))?;
                let mut tensors = std::collections::BTreeMap::new();
                for key in full.keys().into_iter().filter(|k| k != "head.8.bias") {
                    let shape = full.shape(&key).unwrap().to_vec();
                    let values = full.values(&key, &shape)?;
                    tensors.insert(key, (shape, values));
                }
                let partial = Checkpoint::from_tensors("partial.pth", tensors);
                vgg.import_weights(&partial, WeightLayout::Reference, ClassifierImport::Require)
                    .map(|_| ())
            }),
        ),
        (
            "weights with a mis-shaped tensor",
            "tensor `features.0.weight`: has shape [1, 3, 3, 3], the module needs [64, 3, 3, 3]",
            Box::new(|_| {
                let vgg =
                    Vgg16LargeFovConfig::new(3).init(&mut SeededRng::new(0), &Device::flex())?;
                let checkpoint = Checkpoint::open(fixture("vgg_reference.pth"))?;
                vgg.import_weights(&checkpoint, WeightLayout::Reference, ClassifierImport::Skip)
                    .map(|_| ())
            }),
        ),
        (
            "saved weights of another network structure",
            "saved from another structure",
            Box::new(|d| {
                let device = Device::flex();
                let small = Supernet::new(
                    &space(vec![(2, 4)]),
                    branches(vec![(2, 4)]),
                    FusionConfig::nddr(1.0, 0.0),
                    0,
                    &device,
                )?;
                small.save_weights(d.join("w.bpk"))?;
                let other = Supernet::new(
                    &space(vec![(1, 4)]),
                    branches(vec![(1, 4)]),
                    FusionConfig::nddr(1.0, 0.0),
                    0,
                    &device,
                )?;
                other.load_weights(d.join("w.bpk")).map(|_| ())
            }),
        ),
        (
            "checkpoint file that is not a checkpoint",
            "not a PyTorch checkpoint",
            Box::new(|d| {
                std::fs::write(d.join("w.pth"), b"hello").unwrap();
                Checkpoint::open(d.join("w.pth")).map(|_| ())
            }),
        ),
        (
            "checkpoint file that does not exist",
            "does not exist; expected a PyTorch checkpoint",
            Box::new(|d| Checkpoint::open(d.join("missing.pth")).map(|_| ())),
        ),
        (
            "output folder that cannot be created (a file is in the way)",
            "cannot create the folder",
            Box::new(|d| {
                std::fs::write(d.join("runs"), b"a file").unwrap();
                mtl_nas::io::write_json(&d.join("runs/search/run.json"), &1)
            }),
        ),
        (
            "zero batch size",
            "`batch_size`: must be at least 1",
            Box::new(|_| {
                config_error(SearchConfig {
                    batch_size: 0,
                    ..Default::default()
                })
            }),
        ),
        (
            "negative learning rate",
            "`weights.learning_rate`: must be finite and positive",
            Box::new(|_| {
                config_error(SearchConfig {
                    weights: WeightOptimizerConfig {
                        learning_rate: -0.01,
                        ..Default::default()
                    },
                    ..Default::default()
                })
            }),
        ),
        (
            "train/search split outside (0, 1)",
            "`train_split`: must lie strictly between 0 and 1",
            Box::new(|_| {
                config_error(SearchConfig {
                    train_split: 1.5,
                    ..Default::default()
                })
            }),
        ),
        (
            "NaN entropy weight",
            "`entropy_weight`: must be finite and non-negative",
            Box::new(|_| {
                config_error(SearchConfig {
                    entropy_weight: f64::NAN,
                    ..Default::default()
                })
            }),
        ),
        (
            "task weights for the wrong number of tasks",
            "`task_weights`: 3 weights for 2 tasks",
            Box::new(|_| {
                config_error(SearchConfig {
                    task_weights: vec![1.0; 3],
                    ..Default::default()
                })
            }),
        ),
        (
            "configuration file with a missing field",
            "invalid JSON",
            Box::new(|d| {
                std::fs::write(d.join("c.json"), "{\"steps\": 10}").unwrap();
                SearchConfig::load(d.join("c.json")).map(|_| ())
            }),
        ),
        (
            "branches whose nodes no rule can connect",
            "connects no node of one task to a node of another",
            Box::new(|_| {
                let node = |stage| NodeDescription {
                    stage,
                    channels: 8,
                    stride: 1,
                };
                let a = BranchDescription::new("a", vec![node(0), node(0)]);
                let b = BranchDescription::new("b", vec![node(1), node(1)]);
                SearchSpace::from_branches(&[a, b], EdgeRule::same_stage()).map(|_| ())
            }),
        ),
        (
            "one branch only",
            "at least two task branches, got 1",
            Box::new(|_| {
                let a = BranchDescription::from_stages("a", &[Stage::new(2, 8, 1)]);
                SearchSpace::from_branches(&[a], EdgeRule::same_stage()).map(|_| ())
            }),
        ),
        (
            "edge within one task",
            "an edge must join two different tasks",
            Box::new(|_| {
                let b = |t: &str| BranchDescription::from_stages(t, &[Stage::new(2, 8, 1)]);
                let edge = FusionEdge::new(NodeId::new(0, 0), NodeId::new(0, 1));
                SearchSpace::from_branches(&[b("a"), b("b")], EdgeRule::explicit(vec![edge]))
                    .map(|_| ())
            }),
        ),
        (
            "image too small for the branches",
            "at least 8 x 8 pixels",
            Box::new(|_| {
                let device = Device::flex();
                let mut rng = SeededRng::new(0);
                let v = || Vgg16LargeFovConfig::new(2).with_width_divisor(64);
                let (a, b) = (v().init(&mut rng, &device)?, v().init(&mut rng, &device)?);
                let space = SearchSpace::from_branches(
                    &[a.describe("a"), b.describe("b")],
                    EdgeRule::same_stage(),
                )?;
                let net =
                    Supernet::new(&space, vec![a, b], FusionConfig::nddr(1.0, 0.0), 0, &device)?;
                let weights = net
                    .architecture
                    .connectivity(Connectivity::Hard, &mut rng)
                    .unwrap();
                net.forward(burn::tensor::Tensor::zeros([1, 3, 5, 5], &device), &weights)
                    .map(|_| ())
            }),
        ),
        (
            "input with the wrong channel count",
            "supernet input: expected 3 channels, got 1",
            Box::new(|_| {
                let device = Device::flex();
                let net = Supernet::new(
                    &space(vec![(2, 4)]),
                    branches(vec![(2, 4)]),
                    FusionConfig::nddr(1.0, 0.0),
                    0,
                    &device,
                )?;
                let weights = net
                    .architecture
                    .connectivity(Connectivity::Hard, &mut SeededRng::new(0))
                    .unwrap();
                net.forward(burn::tensor::Tensor::zeros([1, 1, 8, 8], &device), &weights)
                    .map(|_| ())
            }),
        ),
        (
            "unknown device name",
            "unknown or disabled device `cuda9`",
            Box::new(|_| device_from_name("cuda9").map(|_| ())),
        ),
        (
            "truncated IDX file",
            "data bytes for dimensions [2, 28, 28]",
            Box::new(|_| {
                let mut bytes = vec![0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 28, 0, 0, 0, 28];
                bytes.extend([0u8; 100]);
                parse_idx(&bytes, "train-images-idx3-ubyte").map(|_| ())
            }),
        ),
        (
            "Fashion-MNIST not installed",
            "apt install dataset-fashion-mnist",
            Box::new(|d| FashionMnist::open(&d.join("none"), "train").map(|_| ())),
        ),
        (
            "building split without the requested column",
            "has no `test` column",
            Box::new(|d| {
                std::fs::write(d.join("split.csv"), "id,train,val\nallensville,1,0\n").unwrap();
                read_building_split(&d.join("split.csv"), TaskonomySplit::Test).map(|_| ())
            }),
        ),
        (
            "dataset targets named otherwise than the tasks",
            "do not match the dataset's targets [\"b\", \"a\", \"c\"]",
            Box::new(|_| {
                let data = CrossModalCopy::new(3, 8, 8, 0)
                    .generate()?
                    .with_target_names(["b", "a", "c"]);
                one_search_step(&Device::flex().autodiff(), &data)
            }),
        ),
        (
            "search on a device without autodiff",
            "put the supernet on an autodiff device",
            Box::new(|_| {
                let data = CrossModalCopy::new(3, 8, 8, 0).generate()?;
                one_search_step(&Device::flex(), &data)
            }),
        ),
    ]
}

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// What one case gave: its name, the part of the message it must contain, and the message
/// (as shown in `tests/BAD_INPUTS.md`) or why there is none.
struct Outcome {
    name: &'static str,
    expected: &'static str,
    message: std::result::Result<String, &'static str>,
}

impl Outcome {
    /// The case's line of the table.
    fn row(&self) -> String {
        let error = match &self.message {
            Ok(message) => message.replace('|', "\\|"),
            Err(why) => format!("**{why}**"),
        };
        format!("| {} | {error} |", self.name)
    }
}

/// Every case run once (the two tests share the results): each error message with the
/// temporary folder written `$TMP` and the crate's root `$REPO`.
fn outcomes() -> &'static [Outcome] {
    static OUTCOMES: std::sync::OnceLock<Vec<Outcome>> = std::sync::OnceLock::new();
    OUTCOMES.get_or_init(|| {
        let base = std::env::temp_dir().join(format!("mtl-nas-bad-{}", std::process::id()));
        let outcomes = cases()
            .into_iter()
            .enumerate()
            .map(|(i, (name, expected, case))| {
                let dir = base.join(i.to_string());
                std::fs::create_dir_all(&dir).unwrap();
                let message =
                    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| case(&dir))) {
                        Ok(Err(e)) => Ok(e
                            .to_string()
                            .replace(&base.display().to_string(), "$TMP")
                            .replace(env!("CARGO_MANIFEST_DIR"), "$REPO")),
                        Ok(Ok(())) => Err("no error"),
                        Err(_) => Err("panicked"),
                    };
                Outcome {
                    name,
                    expected,
                    message,
                }
            })
            .collect();
        let _ = std::fs::remove_dir_all(&base);
        outcomes
    })
}

#[test]
fn every_bad_input_gets_a_clear_error() {
    let mut failures = Vec::new();
    for outcome in outcomes() {
        match &outcome.message {
            Ok(message) if message.contains(outcome.expected) => {}
            Ok(message) => failures.push(format!(
                "{}: expected an error containing {:?}, got {message:?}",
                outcome.name, outcome.expected
            )),
            Err(why) => failures.push(format!("{}: {why}", outcome.name)),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Set to write `tests/BAD_INPUTS.md` from the cases instead of checking it.
const BLESS: &str = "MTL_NAS_BLESS";

/// `tests/BAD_INPUTS.md` as the cases give it.
fn bad_inputs_md() -> String {
    let mut text = String::from(
        "# Bad inputs and the errors they get\n\n\
         Generated from the cases in `tests/bad_inputs.rs` by \
         `MTL_NAS_BLESS=1 cargo test --test bad_inputs` (`$TMP` is the test's temporary \
         folder, `$REPO` the crate's root); a plain `cargo test` fails when this file and the \
         cases differ. Every case is asserted there: an `Error` (no panic) whose message names \
         the file, field, node or tensor at fault.\n\n\
         | bad input | error |\n|---|---|\n",
    );
    for outcome in outcomes() {
        text.push_str(&outcome.row());
        text.push('\n');
    }
    text
}

#[test]
fn bad_inputs_md_is_generated_from_the_cases() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/BAD_INPUTS.md");
    let generated = bad_inputs_md();
    // The table is of the default build: other backend features change the list of device
    // names in one message.
    if cfg!(any(feature = "wgpu", feature = "vulkan", feature = "tch")) {
        println!("skipped: tests/BAD_INPUTS.md lists the default build's messages");
        return;
    }
    if std::env::var_os(BLESS).is_some_and(|v| !v.is_empty()) {
        assert!(
            outcomes().iter().all(|o| o.message.is_ok()),
            "not writing {}: a case gets no error",
            path.display()
        );
        std::fs::write(&path, &generated).unwrap();
        println!("wrote {}", path.display());
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    if committed != generated {
        let (line, (want, got)) = committed
            .lines()
            .chain(std::iter::repeat(""))
            .zip(generated.lines().chain(std::iter::repeat("")))
            .enumerate()
            .find(|(_, (a, b))| a != b)
            .unwrap_or((0, ("", "")));
        panic!(
            "{} does not match the cases in tests/bad_inputs.rs (first difference at line \
             {}):\n  file:  {want}\n  cases: {got}\nRegenerate it with `{BLESS}=1 cargo test \
             --test bad_inputs` and commit it.",
            path.display(),
            line + 1
        );
    }
}
