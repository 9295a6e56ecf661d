//! Weight import by name, checked against PyTorch.
//!
//! `tests/fixtures/make_fixtures.py` builds small versions of the reference's single-task
//! VGG-16 LargeFOV and of torchvision's ResNet-18 in PyTorch, saves their weights (`.pth`,
//! `.safetensors`) and records their evaluation-mode outputs on a fixed input. Here the same
//! weights are imported into this crate's branches and the forward passes must agree.

use std::collections::BTreeMap;
use std::path::PathBuf;

use burn::tensor::{Tensor, TensorData};
use mtl_nas::branch::{
    Checkpoint, ClassifierImport, HeadKind, ImportWeights, ResNetConfig, ResNetDepth,
    Vgg16LargeFovConfig, WeightLayout,
};
use mtl_nas::prelude::*;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// `x[i] = sin(0.37 i)` over the flattened input, as the fixture script fills it.
fn sine_input(shape: [usize; 4], device: &Device) -> Tensor<4> {
    let n: usize = shape.iter().product();
    let values: Vec<f32> = (0..n).map(|i| (0.37 * i as f64).sin() as f32).collect();
    Tensor::from_data(TensorData::new(values, shape), device)
}

fn expected(name: &str) -> (Vec<usize>, Vec<usize>, Vec<f32>) {
    let text = std::fs::read_to_string(fixture(name)).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let list = |key: &str| -> Vec<f64> {
        json[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect()
    };
    let input = list("input_shape").iter().map(|&v| v as usize).collect();
    let output = list("output_shape").iter().map(|&v| v as usize).collect();
    let values = list("output").iter().map(|&v| v as f32).collect();
    (input, output, values)
}

fn assert_close(got: &[f32], want: &[f32], tolerance: f32) {
    assert_eq!(got.len(), want.len());
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= tolerance * (1.0 + w.abs()),
            "element {i}: {g} vs PyTorch {w}\n{got:?}\n{want:?}"
        );
    }
}

fn values(t: Tensor<4>) -> Vec<f32> {
    t.into_data().try_into_vec_as::<f32>().unwrap()
}

#[test]
fn reference_vgg_checkpoint_reproduces_pytorch() {
    let device = Device::flex();
    let checkpoint = Checkpoint::open(fixture("vgg_reference.pth")).unwrap();
    let vgg = Vgg16LargeFovConfig::new(3)
        .with_width_divisor(64)
        .init(&mut SeededRng::new(0), &device)
        .unwrap();
    let (vgg, report) = vgg
        .import_weights(
            &checkpoint,
            WeightLayout::Reference,
            ClassifierImport::Require,
        )
        .unwrap();
    assert!(report.classifier_loaded);
    // 13 convs + 13 x 4 BN tensors + fc6, fc7 (+ 2 x 4 BN) + fc8 weight and bias.
    assert_eq!(report.loaded, 13 + 52 + 2 + 8 + 2);
    assert!(report.unused.is_empty(), "{:?}", report.unused);
    let (input, output, want) = expected("vgg_reference.json");
    let mut x = sine_input([input[0], input[1], input[2], input[3]], &device);
    for layer in 0..vgg.num_nodes() {
        x = vgg.layer_forward(layer, x);
    }
    let out = vgg.head_forward(x);
    assert_eq!(out.dims().to_vec(), output);
    assert_close(&values(out), &want, 1e-4);
}

#[test]
fn torchvision_resnet_safetensors_reproduces_pytorch() {
    let device = Device::flex();
    let checkpoint = Checkpoint::open(fixture("resnet18_torchvision.safetensors")).unwrap();
    let config = ResNetConfig {
        head: HeadKind::Pooled,
        output_stride: 32,
        width_divisor: 32,
        ..ResNetConfig::new(ResNetDepth::R18, 5)
    };
    let resnet = config.init(&mut SeededRng::new(0), &device).unwrap();
    let (resnet, report) = resnet
        .import_weights(
            &checkpoint,
            WeightLayout::TorchvisionResNet,
            ClassifierImport::Require,
        )
        .unwrap();
    assert!(report.classifier_loaded && report.unused.is_empty());
    let (input, _, want) = expected("resnet18_torchvision.json");
    let mut x = sine_input([input[0], input[1], input[2], input[3]], &device);
    for layer in 0..resnet.num_nodes() {
        x = resnet.layer_forward(layer, x);
    }
    let out = resnet.head_forward(x);
    assert_eq!(out.dims(), [1, 5, 1, 1]);
    assert_close(&values(out), &want, 1e-4);
}

#[test]
fn missing_and_misshaped_tensors_are_named() {
    let device = Device::flex();
    let vgg = || {
        Vgg16LargeFovConfig::new(3)
            .with_width_divisor(64)
            .init(&mut SeededRng::new(0), &device)
            .unwrap()
    };
    // Drop one BN statistic.
    let full = Checkpoint::open(fixture("vgg_reference.pth")).unwrap();
    let mut tensors = BTreeMap::new();
    for key in full.keys() {
        if key != "features.31.running_var" {
            let shape = full.shape(&key).unwrap().to_vec();
            tensors.insert(
                key.clone(),
                (shape.clone(), full.values(&key, &shape).unwrap()),
            );
        }
    }
    let partial = Checkpoint::from_tensors("partial.pth", tensors);
    let err = vgg()
        .import_weights(&partial, WeightLayout::Reference, ClassifierImport::Require)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("partial.pth")
            && err.contains("features.31.running_var")
            && err.contains("missing"),
        "{err}"
    );
    // A 40-class classifier into a 3-class branch: an error when required, skipped otherwise.
    let wide = Vgg16LargeFovConfig::new(40)
        .with_width_divisor(64)
        .init(&mut SeededRng::new(0), &device)
        .unwrap();
    let err = wide
        .import_weights(&full, WeightLayout::Reference, ClassifierImport::Require)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("head.8.weight") && err.contains("[3, 16, 1, 1]"),
        "{err}"
    );
    let wide = Vgg16LargeFovConfig::new(40)
        .with_width_divisor(64)
        .init(&mut SeededRng::new(0), &device)
        .unwrap();
    let (_, report) = wide
        .import_weights(
            &full,
            WeightLayout::Reference,
            ClassifierImport::IfShapeMatches,
        )
        .unwrap();
    assert!(!report.classifier_loaded);
    assert_eq!(report.unused, ["head.8.bias", "head.8.weight"]);
    // A VGG-16 at full width cannot take the narrow checkpoint.
    let err = Vgg16LargeFovConfig::new(3)
        .init(&mut SeededRng::new(0), &device)
        .unwrap()
        .import_weights(&full, WeightLayout::Reference, ClassifierImport::Skip)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("features.0.weight") && err.contains("[64, 3, 3, 3]"),
        "{err}"
    );
    // Not a checkpoint at all.
    let err = Checkpoint::open(fixture("vgg_reference.json"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("vgg_reference.json") && err.contains("not a PyTorch checkpoint"),
        "{err}"
    );
}

#[test]
fn remapped_keys_and_the_thirteen_stage_head_are_found_by_name() {
    // The 13-stage reference model keeps two pools in `head`, shifting fc6..fc8 by two; a
    // DataParallel checkpoint prefixes every key with `module.`. Rename the fixture that way,
    // then undo the prefix with a key remapping: the import must find every tensor by name.
    let device = Device::flex();
    let full = Checkpoint::open(fixture("vgg_reference.pth")).unwrap();
    let mut tensors = BTreeMap::new();
    for key in full.keys() {
        let shape = full.shape(&key).unwrap().to_vec();
        let renamed = match key.strip_prefix("head.") {
            Some(rest) => {
                let (index, name) = rest.split_once('.').unwrap();
                format!("head.{}.{name}", index.parse::<usize>().unwrap() + 2)
            }
            None => key.clone(),
        };
        tensors.insert(
            format!("module.{renamed}"),
            (shape.clone(), full.values(&key, &shape).unwrap()),
        );
    }
    let shifted = Checkpoint::from_tensors("dataparallel.pth", tensors)
        .remap_keys(r"^module\.", "")
        .unwrap();
    let import = |checkpoint: &Checkpoint| {
        let vgg = Vgg16LargeFovConfig::new(3)
            .with_width_divisor(64)
            .init(&mut SeededRng::new(0), &device)
            .unwrap();
        let (vgg, _) = vgg
            .import_weights(
                checkpoint,
                WeightLayout::Reference,
                ClassifierImport::Require,
            )
            .unwrap();
        let mut x = sine_input([1, 3, 21, 27], &device);
        for layer in 0..13 {
            x = vgg.layer_forward(layer, x);
        }
        values(vgg.head_forward(x))
    };
    assert_eq!(import(&shifted), import(&full));
    assert!(
        Checkpoint::from_tensors("x", BTreeMap::new())
            .remap_keys("(", "")
            .is_err()
    );
}

#[test]
fn torchvision_vgg_biases_fold_into_batch_norm() {
    // torchvision's vgg16_bn has conv biases; this branch's convs have none. BN(conv(x) + b)
    // with running mean m equals BN'(conv(x)) with running mean m - b. Check layer 0 of an
    // imported branch against conv + bias + BN computed with burn's own ops.
    let device = Device::flex();
    let indices = [0, 3, 7, 10, 14, 17, 20, 24, 27, 30, 34, 37, 40];
    let widths = [1, 1, 2, 2, 4, 4, 4, 8, 8, 8, 8, 8, 8];
    let mut rng = SeededRng::new(5);
    use rand::RngExt;
    let mut random = |n: usize, low: f32, high: f32| -> Vec<f32> {
        (0..n)
            .map(|_| low + (high - low) * rng.random::<f32>())
            .collect()
    };
    let mut tensors = BTreeMap::new();
    let mut cin = 3;
    for (&i, &w) in indices.iter().zip(&widths) {
        tensors.insert(
            format!("features.{i}.weight"),
            (vec![w, cin, 3, 3], random(w * cin * 9, -0.5, 0.5)),
        );
        tensors.insert(
            format!("features.{i}.bias"),
            (vec![w], random(w, -1.0, 1.0)),
        );
        for (name, low, high) in [
            ("weight", 0.5, 1.5),
            ("bias", -0.1, 0.1),
            ("running_mean", -0.2, 0.2),
            ("running_var", 0.5, 1.5),
        ] {
            tensors.insert(
                format!("features.{}.{name}", i + 1),
                (vec![w], random(w, low, high)),
            );
        }
        cin = w;
    }
    let checkpoint = Checkpoint::from_tensors("vgg16_bn.pth", tensors.clone());
    let vgg = Vgg16LargeFovConfig::new(3)
        .with_width_divisor(64)
        .init(&mut SeededRng::new(0), &device)
        .unwrap();
    let (vgg, report) = vgg
        .import_weights(
            &checkpoint,
            WeightLayout::TorchvisionVgg16Bn,
            ClassifierImport::Skip,
        )
        .unwrap();
    assert!(!report.classifier_loaded && report.unused.is_empty());
    let x = sine_input([1, 3, 5, 6], &device);
    let ours = values(vgg.layer_forward(0, x.clone()));
    // By hand: conv with bias, then (v - m) / sqrt(var + 1e-3) * gamma + beta, then ReLU.
    let t = |key: &str| {
        let (shape, v) = &tensors[key];
        (shape.clone(), v.clone())
    };
    let (_, w) = t("features.0.weight");
    let conv = burn::tensor::module::conv2d(
        x,
        Tensor::from_data(TensorData::new(w, [1, 3, 3, 3]), &device),
        Some(Tensor::from_data(
            TensorData::new(t("features.0.bias").1, [1]),
            &device,
        )),
        burn::tensor::ops::ConvOptions::new([1, 1], [1, 1], [1, 1], 1),
    );
    let (gamma, beta, mean, var) = (
        t("features.1.weight").1[0],
        t("features.1.bias").1[0],
        t("features.1.running_mean").1[0],
        t("features.1.running_var").1[0],
    );
    let want: Vec<f32> = values(conv)
        .iter()
        .map(|v| ((v - mean) / (var + 1e-3).sqrt() * gamma + beta).max(0.0))
        .collect();
    assert_close(&ours, &want, 1e-5);
}
