//! Taskonomy as it ships, on small generated PNG files: the original release's naming
//! (`depth/…_domain_depth.png`, with and without a building level) and omnidata's
//! (`depth_zbuffer/<building>/…`), the masks of every invalid pixel, the channel, bit-depth
//! and size checks on the files as stored, the report of skipped views, and metrics that
//! tell a prediction that learned from a constant one.

use std::path::{Path, PathBuf};

use burn::tensor::{Device, Tensor, TensorData};
use mtl_nas::data::{
    BuildingLevel, MultiTaskDataset, SyntheticTaskonomy, Target, TargetData, Taskonomy,
    TaskonomyConfig, TaskonomyDomain, TaskonomyNaming, TaskonomySplit, write_synthetic_taskonomy,
};
use mtl_nas::task::{DenseRegression, RegressionLoss, Segmentation, SurfaceNormals, Task};

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "mtl-nas-taskonomy-it-{name}-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Writes a PNG of `channels` (1 grey, 3 RGB) interleaved samples at `bits` (8 or 16).
fn png(path: &Path, width: u32, height: u32, channels: usize, bits: u8, samples: &[u16]) {
    assert_eq!(samples.len(), (width * height) as usize * channels);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let file = std::fs::File::create(path).unwrap();
    let mut encoder = png::Encoder::new(std::io::BufWriter::new(file), width, height);
    encoder.set_color(if channels == 3 {
        png::ColorType::Rgb
    } else {
        png::ColorType::Grayscale
    });
    encoder.set_depth(if bits == 16 {
        png::BitDepth::Sixteen
    } else {
        png::BitDepth::Eight
    });
    let bytes: Vec<u8> = if bits == 16 {
        samples.iter().flat_map(|v| v.to_be_bytes()).collect()
    } else {
        samples.iter().map(|&v| v as u8).collect()
    };
    encoder
        .write_header()
        .unwrap()
        .write_image_data(&bytes)
        .unwrap();
}

/// The 4 x 4 view `point_{point}_view_0` in every per-pixel domain, each file written to
/// `folder(domain folder)` under `naming`'s names. Pixel 0 is a depth hole (65535) with the
/// hole normal (128, 128, 128) and uncertain segmentation (0), pixel 1 depth 64500 (the first
/// invalid value), pixel 2 depth 64499 (the last valid one).
fn write_view(folder: &dyn Fn(&str) -> PathBuf, naming: TaskonomyNaming, point: u32) {
    let file = |d: TaskonomyDomain| {
        folder(d.folder_in(naming)).join(format!(
            "point_{point}_view_0_domain_{}.png",
            d.file_domain_in(naming)
        ))
    };
    let rgb: Vec<u16> = (0..48).map(|i| (i * 5) as u16).collect();
    png(
        &folder("rgb").join(format!("point_{point}_view_0_domain_rgb.png")),
        4,
        4,
        3,
        8,
        &rgb,
    );
    let seg: Vec<u16> = (0..16).map(|i| [0, 1, 2, 17][i % 4]).collect();
    png(&file(TaskonomyDomain::Segmentation), 4, 4, 1, 8, &seg);
    let normal: Vec<u16> = (0..16)
        .flat_map(|i| {
            if i == 0 {
                [128, 128, 128]
            } else {
                [128, 128, 255]
            }
        })
        .collect();
    png(&file(TaskonomyDomain::Normals), 4, 4, 3, 8, &normal);
    let mut depth = vec![1024u16; 16];
    depth[..3].copy_from_slice(&[65535, 64500, 64499]);
    png(&file(TaskonomyDomain::DepthZbuffer), 4, 4, 1, 16, &depth);
    // Keypoints: 0, half the range (0.0025 x 2^16 = 163.84), the full range, past it.
    let keypoints: Vec<u16> = (0..16).map(|i| [0, 164, 328, 1100][i % 4]).collect();
    png(&file(TaskonomyDomain::Keypoints2d), 4, 4, 1, 16, &keypoints);
    // Edges: 0, a quarter of the range (0.02 x 2^16 = 1310.72), the full range, past it.
    let edges: Vec<u16> = (0..16).map(|i| [0, 1311, 5243, 9000][i % 4]).collect();
    png(&file(TaskonomyDomain::EdgeTexture), 4, 4, 1, 16, &edges);
}

fn split_file(dir: &Path, rows: &[(&str, TaskonomySplit)]) -> PathBuf {
    let mut text = String::from("id,train,val,test\n");
    for (building, split) in rows {
        let flag = |s| u8::from(*split == s);
        text.push_str(&format!(
            "{building},{},{},{}\n",
            flag(TaskonomySplit::Train),
            flag(TaskonomySplit::Val),
            flag(TaskonomySplit::Test)
        ));
    }
    let path = dir.join("train_val_test_test.csv");
    std::fs::write(&path, text).unwrap();
    path
}

fn five_tasks(root: &Path, split_file: &Path, split: TaskonomySplit) -> TaskonomyConfig {
    TaskonomyConfig {
        size: None,
        ..TaskonomyConfig::five_tasks(root, split_file, split)
    }
}

/// The masks and values every view of `write_view` decodes to.
fn assert_decoded(data: &Taskonomy) {
    let s = data.sample(0).unwrap();
    assert_eq!(s.image.shape(), [3, 4, 4]);
    match &s.targets[0] {
        TargetData::Labels { labels, .. } => assert_eq!(&labels[..4], &[255, 0, 1, 16]),
        other => panic!("{other:?}"),
    }
    match &s.targets[1] {
        TargetData::Normals { values, valid } => {
            let valid = valid.as_ref().unwrap();
            assert!(!valid[0] && valid[1..].iter().all(|v| *v), "{valid:?}");
            assert_eq!(values.data[32 + 1], 1.0);
        }
        other => panic!("{other:?}"),
    }
    match &s.targets[2] {
        TargetData::Dense { valid, .. } => {
            assert_eq!(&valid.as_ref().unwrap()[..4], &[false, false, true, true])
        }
        other => panic!("{other:?}"),
    }
    match &s.targets[3] {
        TargetData::Dense { values, valid } => {
            assert!(valid.is_none());
            assert_eq!(values.data[0], 0.0);
            assert!((values.data[1] - 0.5).abs() < 2e-3, "{}", values.data[1]);
            assert_eq!(&values.data[2..4], &[1.0, 1.0]);
        }
        other => panic!("{other:?}"),
    }
    match &s.targets[4] {
        TargetData::Dense { values, .. } => {
            assert!((values.data[1] - 0.25).abs() < 1e-3, "{}", values.data[1]);
            assert_eq!(&values.data[2..4], &[1.0, 1.0]);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn original_layout_without_a_building_level() {
    let dir = temp("flat");
    // As the public sample building unpacks: the root is the building.
    let root = dir.join("taskonomy-sample-model-1");
    let folder = |name: &str| root.join(name);
    for point in 0..3 {
        write_view(&folder, TaskonomyNaming::Original, point);
    }
    std::fs::remove_file(root.join("segmentsemantic/point_2_view_0_domain_segmentsemantic.png"))
        .unwrap();
    let split = split_file(&dir, &[("taskonomy-sample-model-1", TaskonomySplit::Train)]);
    let data = Taskonomy::open(five_tasks(&root, &split, TaskonomySplit::Train)).unwrap();
    assert_eq!((data.len(), data.skipped()), (2, 1));
    let b = &data.report().buildings[0];
    assert_eq!(
        (b.naming(), b.rgb.level),
        (Some(TaskonomyNaming::Original), BuildingLevel::None)
    );
    let text = data.report().to_string();
    let expected = format!(
        "read 2 views of building taskonomy-sample-model-1 in the original Taskonomy layout \
         (no building level: root/{{domain}}/); skipped 1: 1 with no file in {}",
        root.join("segmentsemantic").display()
    );
    assert!(text.contains(&expected), "{text}");
    assert_decoded(&data);
    // `.` still names the root as the building.
    let dot = split_file(&dir, &[(".", TaskonomySplit::Train)]);
    assert_eq!(
        Taskonomy::open(five_tasks(&root, &dot, TaskonomySplit::Train))
            .unwrap()
            .len(),
        2
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn original_layout_with_a_building_level_above_or_below_the_domains() {
    let root = temp("original");
    // allensville: one folder per building (root/allensville/depth/...); beechwood: the
    // building below each domain (root/depth/beechwood/...).
    let above = |name: &str| root.join("allensville").join(name);
    let below = |name: &str| root.join(name).join("beechwood");
    for point in 0..3 {
        write_view(&above, TaskonomyNaming::Original, point);
    }
    for point in 0..2 {
        write_view(&below, TaskonomyNaming::Original, point);
    }
    let split = split_file(
        &root,
        &[
            ("allensville", TaskonomySplit::Train),
            ("beechwood", TaskonomySplit::Test),
        ],
    );
    let train = Taskonomy::open(five_tasks(&root, &split, TaskonomySplit::Train)).unwrap();
    let test = Taskonomy::open(five_tasks(&root, &split, TaskonomySplit::Test)).unwrap();
    assert_eq!((train.len(), test.len(), train.skipped()), (3, 2, 0));
    let text = format!("{}\n{}", train.report(), test.report());
    for line in [
        "read 3 views of building allensville in the original Taskonomy layout (root/{building}/{domain}/)",
        "read 2 views of building beechwood in the original Taskonomy layout (root/{domain}/{building}/)",
    ] {
        assert!(text.contains(line), "{text}");
    }
    assert_decoded(&train);
    assert_decoded(&test);
    std::fs::remove_dir_all(root).unwrap();
}

#[test]
fn omnidata_layout_with_and_without_the_taskonomy_folder() {
    let root = temp("omnidata");
    let plain = |name: &str| root.join(name).join("allensville");
    let downloader = |name: &str| root.join(name).join("taskonomy").join("beechwood");
    write_view(&plain, TaskonomyNaming::Omnidata, 0);
    write_view(&downloader, TaskonomyNaming::Omnidata, 0);
    write_view(&downloader, TaskonomyNaming::Omnidata, 1);
    let split = split_file(
        &root,
        &[
            ("allensville", TaskonomySplit::Train),
            ("beechwood", TaskonomySplit::Train),
        ],
    );
    let data = Taskonomy::open(five_tasks(&root, &split, TaskonomySplit::Train)).unwrap();
    assert_eq!(data.len(), 3);
    assert!(root.join("depth_zbuffer/allensville").is_dir());
    let text = data.report().to_string();
    assert!(
        text.contains("read 1 view of building allensville in the omnidata layout (root/{domain}/{building}/)")
            && text.contains("read 2 views of building beechwood in the omnidata layout (root/{domain}/taskonomy/{building}/)")
            && text.contains("3 usable views, 0 skipped"),
        "{text}"
    );
    assert_decoded(&data);
    std::fs::remove_dir_all(root).unwrap();
}

/// One building of one view in the original layout without a building level, with `bad`
/// overwriting files afterwards; the error of its first sample at `size`.
fn bad_view(name: &str, size: Option<usize>, bad: impl Fn(&Path)) -> (PathBuf, String) {
    let dir = temp(name);
    let root = dir.join("b");
    write_view(&|n: &str| root.join(n), TaskonomyNaming::Original, 0);
    bad(&root);
    let split = split_file(&dir, &[("b", TaskonomySplit::Train)]);
    let config = TaskonomyConfig {
        size,
        ..five_tasks(&root, &split, TaskonomySplit::Train)
    };
    let err = Taskonomy::open(config)
        .unwrap()
        .sample(0)
        .unwrap_err()
        .to_string();
    (dir, err)
}

#[test]
fn channels_bit_depths_and_sizes_are_checked_as_stored() {
    let normal = "normal/point_0_view_0_domain_normal.png";
    let seg = "segmentsemantic/point_0_view_0_domain_segmentsemantic.png";
    let depth = "depth/point_0_view_0_domain_depth.png";
    let edges = "edge2d/point_0_view_0_domain_edge2d.png";
    // A 16-bit RGB normal map (it would decode to values up to 513).
    let (dir, err) = bad_view("normal16", None, |r| {
        png(&r.join(normal), 4, 4, 3, 16, &[40000; 48])
    });
    assert!(
        err.contains(normal)
            && err.contains("8-bit RGB normal map")
            && err.contains("found 3 channel(s) of 16 bits"),
        "{err}"
    );
    std::fs::remove_dir_all(dir).unwrap();
    // A 16-bit segmentation map.
    let (dir, err) = bad_view("seg16", None, |r| png(&r.join(seg), 4, 4, 1, 16, &[1; 16]));
    assert!(
        err.contains(seg) && err.contains("found 1 channel(s) of 16 bits"),
        "{err}"
    );
    std::fs::remove_dir_all(dir).unwrap();
    // An 8-bit depth map.
    let (dir, err) = bad_view("depth8", None, |r| {
        png(&r.join(depth), 4, 4, 1, 8, &[9; 16])
    });
    assert!(
        err.contains(depth) && err.contains("1 channel of 16 bits, found 1 channel(s) of 8 bits"),
        "{err}"
    );
    std::fs::remove_dir_all(dir).unwrap();
    // A 4 x 3 edge map beside a 4 x 4 image: caught although the resize to 8 would hide it.
    let (dir, err) = bad_view("size", Some(8), |r| {
        png(&r.join(edges), 4, 3, 1, 16, &[0; 12])
    });
    assert!(
        err.contains(edges)
            && err.contains("3 x 4 pixels as stored, but its image")
            && err.contains("is 4 x 4"),
        "{err}"
    );
    std::fs::remove_dir_all(dir).unwrap();
    // Two bad files in one view: both named in one error.
    let (dir, err) = bad_view("two", Some(8), |r| {
        png(&r.join(normal), 4, 4, 3, 16, &[40000; 48]);
        png(&r.join(edges), 8, 8, 1, 16, &[0; 64]);
    });
    assert!(
        err.contains("2 bad files in the view of") && err.contains(normal) && err.contains(edges),
        "{err}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn skipped_views_are_counted_with_their_reason() {
    let dir = temp("skipped");
    let root = dir.join("b");
    for point in 0..4 {
        write_view(&|n: &str| root.join(n), TaskonomyNaming::Original, point);
    }
    for point in 0..3 {
        let file = format!("keypoint2d/point_{point}_view_0_domain_keypoint2d.png");
        std::fs::remove_file(root.join(file)).unwrap();
    }
    let split = split_file(&dir, &[("b", TaskonomySplit::Train)]);
    let data = Taskonomy::open(five_tasks(&root, &split, TaskonomySplit::Train)).unwrap();
    assert_eq!((data.len(), data.skipped()), (1, 3));
    let skipped = &data.report().buildings[0].skipped;
    assert_eq!(skipped.len(), 1);
    assert_eq!(
        (skipped[0].domain, skipped[0].views),
        (TaskonomyDomain::Keypoints2d, 3)
    );
    assert!(
        data.report()
            .to_string()
            .contains("read 1 view of building b in the original Taskonomy layout"),
        "{}",
        data.report()
    );
    // No keypoints at all: the error says how many views there were and why none is usable.
    std::fs::remove_dir_all(root.join("keypoint2d")).unwrap();
    let err = Taskonomy::open(five_tasks(&root, &split, TaskonomySplit::Train))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("no usable view")
            && err.contains("read 0 views of building b")
            && err.contains("skipped 4: 4 because the building has no keypoints2d folder (tried keypoints2d/, keypoint2d/)"),
        "{err}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

/// Every task's metrics on `data` for the predictions `predict(task index, target)` makes.
fn metrics(
    tasks: &[Box<dyn Task>],
    data: &Taskonomy,
    device: &Device,
    mut predict: impl FnMut(usize, &Target) -> Tensor<4>,
) -> Vec<Vec<f64>> {
    let mut accumulators: Vec<_> = tasks.iter().map(|t| t.accumulator()).collect();
    let indices: Vec<usize> = (0..data.len()).collect();
    for chunk in indices.chunks(8) {
        let batch = data.batch(chunk, None, device).unwrap();
        for (t, a) in accumulators.iter_mut().enumerate() {
            let prediction = predict(t, &batch.targets[t]);
            a.update(prediction, &batch.targets[t]).unwrap();
        }
    }
    accumulators.iter().map(|a| a.values()).collect()
}

fn host(t: &Tensor<4>) -> (Vec<f32>, [usize; 4]) {
    let dims = t.dims();
    (
        t.clone().into_data().try_into_vec_as::<f32>().unwrap(),
        dims,
    )
}

/// A tiny deterministic noise in [-1, 1].
fn noise(i: usize) -> f32 {
    let x = (i as u64)
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    ((x >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
}

#[test]
fn a_constant_prediction_scores_clearly_worse_than_one_that_learned() {
    let root = temp("constant");
    let generated = SyntheticTaskonomy {
        views: 12,
        size: 24,
        ..SyntheticTaskonomy::new(&root, TaskonomyNaming::Original, BuildingLevel::AboveDomain)
    };
    let split = write_synthetic_taskonomy(&generated).unwrap();
    let data = Taskonomy::open(five_tasks(&root, &split, TaskonomySplit::Train)).unwrap();
    let device = Device::flex();
    let tasks: Vec<Box<dyn Task>> = vec![
        Box::new(Segmentation::new("seg", 17)),
        Box::new(SurfaceNormals::new("normal")),
        Box::new(DenseRegression::new("depth", 1, RegressionLoss::L1)),
        Box::new(DenseRegression::new("keypoints", 1, RegressionLoss::L1)),
        Box::new(DenseRegression::new("edges", 1, RegressionLoss::L1)),
    ];
    // "Learned": the target plus noise of +-0.05 (keypoints and edges, in [0, 1]), +-0.01 (log
    // depth), +-0.2 per normal component, and
    // the right class with a margin of 1 over noise of +-0.5 (segmentation).
    let learned = metrics(&tasks, &data, &device, |t, target| match target {
        Target::Dense { values, .. } => {
            let (v, dims) = host(values);
            // Log depth: 0.01 is a depth error of 11 % (d ln(1 + 512 z) / ln 2^16 ~ dz / z / 11.1).
            let amplitude = [0.0, 0.2, 0.01, 0.05, 0.05][t];
            let noisy: Vec<f32> = v
                .iter()
                .enumerate()
                .map(|(i, x)| x + amplitude * noise(i + 7919 * t))
                .collect();
            Tensor::from_data(TensorData::new(noisy, dims), &device)
        }
        Target::Labels(labels) => {
            let [n, h, w] = labels.dims();
            let l: Vec<i64> = labels.clone().into_data().try_into_vec_as::<i64>().unwrap();
            let mut logits = vec![0.0f32; n * 17 * h * w];
            for b in 0..n {
                for c in 0..17 {
                    for p in 0..h * w {
                        let i = (b * 17 + c) * h * w + p;
                        let hit = l[b * h * w + p] == c as i64;
                        logits[i] = if hit { 1.0 } else { 0.0 } + 0.5 * noise(i);
                    }
                }
            }
            Tensor::from_data(TensorData::new(logits, [n, 17, h, w]), &device)
        }
        other => panic!("{other:?}"),
    });
    // Constant: zero keypoints and edges (the best constant for their sparse maps), the mean
    // depth, normals facing the camera, every pixel the background class.
    let constant = metrics(&tasks, &data, &device, |t, target| match target {
        Target::Dense { values, valid } => {
            let [n, c, h, w] = values.dims();
            let value = match t {
                2 => {
                    let sum: f32 = (values.clone() * valid.clone()).sum().into_scalar();
                    let count: f32 = valid.clone().sum().into_scalar();
                    sum / count
                }
                _ => 0.0,
            };
            let mut v = vec![value; n * c * h * w];
            if t == 1 {
                // (0, 0, -1): facing the camera.
                for b in 0..n {
                    v[(b * 3 + 2) * h * w..(b * 3 + 3) * h * w].fill(-1.0);
                }
            }
            Tensor::from_data(TensorData::new(v, [n, c, h, w]), &device)
        }
        Target::Labels(labels) => {
            let [n, h, w] = labels.dims();
            let mut logits = vec![0.0f32; n * 17 * h * w];
            for b in 0..n {
                logits[b * 17 * h * w..(b * 17 + 1) * h * w].fill(1.0);
            }
            Tensor::from_data(TensorData::new(logits, [n, 17, h, w]), &device)
        }
        other => panic!("{other:?}"),
    });
    let names = ["seg", "normal", "depth", "keypoints", "edges"];
    for (t, name) in names.iter().enumerate() {
        for (m, metric) in tasks[t].metrics().iter().enumerate() {
            let (good, bad) = (learned[t][m], constant[t][m]);
            println!(
                "{name} {}: learned {good:.4}, constant {bad:.4}",
                metric.name
            );
            let clearly = if metric.higher_is_better {
                good > 1.5 * bad
            } else {
                bad > 1.5 * good
            };
            assert!(
                clearly,
                "{name} {}: learned {good:.4}, constant {bad:.4}",
                metric.name
            );
        }
    }
    std::fs::remove_dir_all(root).unwrap();
}
