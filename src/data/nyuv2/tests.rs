//! The NYUv2 loader on small generated copies of both layouts.

use super::*;
use crate::data::files::tests::{f32_bytes, write_npy, write_png};
use crate::data::{Augmentation, TargetData, collate};
use crate::rng::SeededRng;
use burn::tensor::Device;
use std::path::Path;

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mtl-nas-nyu-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Writes an NDDR-layout copy with `n` images of 3 x 4 pixels.
fn nddr_copy(root: &Path, n: usize) {
    nddr_copy_sized(root, n, 1);
}

/// Writes an NDDR-layout copy with `n` images of `3 k x 4 k` pixels (the 3 x 4 pattern
/// below repeated in k x k blocks).
fn nddr_copy_sized(root: &Path, n: usize, k: usize) {
    for dir in ["list", "images", "labels", "normals"] {
        std::fs::create_dir_all(root.join(dir)).unwrap();
    }
    let mut seg = String::new();
    let mut normal = String::new();
    let (w, h) = (4 * k as u32, 3 * k as u32);
    // Pixel p of the upscaled image copies pixel `base(p)` of the 3 x 4 pattern.
    let base = |p: usize| (p / (4 * k) / k) * 4 + (p % (4 * k)) / k;
    let pixels = 12 * k * k;
    for i in 0..n {
        // Image: red rises along x, green is 10 + the sample's index.
        let rgb: Vec<u16> = (0..pixels)
            .flat_map(|p| [(base(p) % 4 * 60) as u16, 10 + i as u16, 20])
            .collect();
        let write = |dir: &str, color, samples: &[u16]| {
            let path = root.join(format!("{dir}/{i}.png"));
            write_png(&path, w, h, color, png::BitDepth::Eight, samples);
        };
        write("images", png::ColorType::Rgb, &rgb);
        // Labels: class = column, one ignored pixel.
        let labels: Vec<u16> = (0..pixels)
            .map(|p| {
                if base(p) == 5 {
                    255
                } else {
                    (base(p) % 4) as u16
                }
            })
            .collect();
        write("labels", png::ColorType::Grayscale, &labels);
        // Normals: (255, 128, 128) ~ +x on the left column, white (invalid) at pixel 3.
        let normals: Vec<u16> = (0..pixels)
            .flat_map(|p| match base(p) {
                3 => [255, 255, 255],
                b if b % 4 == 0 => [255, 128, 128],
                _ => [128, 255, 128],
            })
            .collect();
        write("normals", png::ColorType::Rgb, &normals);
        seg.push_str(&format!("/images/{i}.png /labels/{i}.png\n"));
        normal.push_str(&format!("/images/{i}.png /normals/{i}.png\n"));
    }
    std::fs::write(root.join("list/training_seg.txt"), &seg).unwrap();
    std::fs::write(root.join("list/training_normal_mask.txt"), &normal).unwrap();
}

#[test]
fn nddr_layout_reads_the_real_formats() {
    let root = temp("nddr");
    nddr_copy(&root, 3);
    let data = Nyuv2::open(Nyuv2Config::nddr(&root, Nyuv2Split::Train)).unwrap();
    assert_eq!(data.len(), 3);
    let s = data.sample(1).unwrap();
    assert_eq!(s.image.shape(), [3, 3, 4]);
    assert_eq!(&s.image.data[..4], &[0.0, 60.0, 120.0, 180.0]);
    match &s.targets[0] {
        TargetData::Labels { labels, .. } => {
            assert_eq!(&labels[..4], &[0, 1, 2, 3]);
            assert_eq!(labels[5], TargetData::IGNORE);
        }
        other => panic!("{other:?}"),
    }
    match &s.targets[1] {
        TargetData::Normals { values, valid } => {
            // 255 / 127.5 - 1 = 1; 128 / 127.5 - 1 = 0.0039.
            assert!((values.data[0] - 1.0).abs() < 1e-6);
            assert!((values.data[12] - 0.00392).abs() < 1e-4);
            let valid = valid.as_ref().unwrap();
            assert!(!valid[3] && valid[2] && valid.iter().filter(|v| !**v).count() == 1);
        }
        other => panic!("{other:?}"),
    }
    // Batches normalise after augmentation: 0..255 minus the reference mean.
    let batch = data.batch(&[0, 2], None, &Device::flex()).unwrap();
    let first: f32 = batch
        .images
        .clone()
        .slice([0..1, 0..1, 0..1, 0..1])
        .into_scalar();
    assert!((first + 122.68).abs() < 1e-4);
    // The reference decoding keeps the raw 0..255 values.
    let raw = Nyuv2::open(Nyuv2Config {
        normal_decoding: NormalDecoding::ReferenceRaw,
        ..Nyuv2Config::nddr(&root, Nyuv2Split::Train)
    })
    .unwrap();
    match &raw.sample(0).unwrap().targets[1] {
        TargetData::Dense { values, .. } => assert_eq!(values.data[0], 255.0),
        other => panic!("{other:?}"),
    }
    std::fs::remove_dir_all(root).unwrap();
}

/// Sample 0's normals after a flip (the first seed whose draw flips the image: its red
/// channel, 0 60 120 180 along x, then starts at 180).
fn flipped_normals(data: &Nyuv2) -> TargetData {
    let flip = Augmentation {
        flip: true,
        ..Default::default()
    };
    (0..50)
        .map(|seed| {
            flip.apply(data.sample(0).unwrap(), &mut SeededRng::new(seed))
                .unwrap()
        })
        .find(|s| s.image.data[0] == 180.0)
        .expect("some seed flips")
        .targets
        .remove(1)
}

#[test]
fn normals_mask_zero_vectors_and_flip_as_their_decoding_needs() {
    let root = temp("nddr-normals");
    nddr_copy(&root, 1);
    // Row 0 of the 3 x 4 map: (127, 127, 127) (a zero vector, |n| = 0.0068), white
    // (invalid), +x (255, 128, 128), +y (128, 255, 128); rows 1-2: +y.
    let pixels: Vec<u16> = (0..12)
        .flat_map(|p| match p {
            0 => [127, 127, 127],
            1 => [255, 255, 255],
            2 => [255, 128, 128],
            _ => [128, 255, 128],
        })
        .collect();
    let path = root.join("normals/0.png");
    write_png(
        &path,
        4,
        3,
        png::ColorType::Rgb,
        png::BitDepth::Eight,
        &pixels,
    );
    let centred = Nyuv2::open(Nyuv2Config::nddr(&root, Nyuv2Split::Train)).unwrap();
    let TargetData::Normals { valid, .. } = &centred.sample(0).unwrap().targets[1] else {
        panic!("centred normals are Normals");
    };
    let valid = valid.as_ref().unwrap();
    assert_eq!(&valid[..4], &[false, false, true, true]);
    assert!(valid[4..].iter().all(|&v| v));
    // Flipped: row 0 reversed, and x negated: the +x pixel (column 2) now at column 1 is -x.
    let TargetData::Normals { values, valid } = flipped_normals(&centred) else {
        panic!("flipped normals are Normals");
    };
    assert!(
        (values.data[1] + 1.0).abs() < 1e-6,
        "{:?}",
        &values.data[..4]
    );
    assert_eq!(&valid.unwrap()[..4], &[true, true, false, false]);
    // The reference's raw values: only white is invalid, and a flip mirrors without
    // negating (its `TF.hflip` on the PNG), so 255 stays 255.
    let raw = Nyuv2::open(Nyuv2Config {
        normal_decoding: NormalDecoding::ReferenceRaw,
        ..Nyuv2Config::nddr(&root, Nyuv2Split::Train)
    })
    .unwrap();
    let TargetData::Dense { valid, .. } = &raw.sample(0).unwrap().targets[1] else {
        panic!("raw normals are Dense");
    };
    assert_eq!(&valid.as_ref().unwrap()[..4], &[true, false, true, true]);
    let TargetData::Dense { values, .. } = flipped_normals(&raw) else {
        panic!("flipped raw normals are Dense");
    };
    // x channel of row 0 after mirroring: 128 (+y), 255 (+x), 255 (white), 127.
    assert_eq!(&values.data[..4], &[128.0, 255.0, 255.0, 127.0]);
    std::fs::remove_dir_all(root).unwrap();
}

#[test]
fn nddr_errors_name_the_file_and_what_was_expected() {
    let root = temp("nddr-bad");
    nddr_copy(&root, 2);
    let open = |config: Nyuv2Config| Nyuv2::open(config).unwrap_err().to_string();
    // Test split lists are missing.
    let err = open(Nyuv2Config::nddr(&root, Nyuv2Split::Test));
    assert!(
        err.contains("testing_seg.txt") && err.contains("'/image.png /label.png'"),
        "{err}"
    );
    // Depth is not in this copy.
    let err =
        open(Nyuv2Config::nddr(&root, Nyuv2Split::Train).with_targets(vec![Nyuv2Target::Depth]));
    assert!(
        err.contains("training_depth.txt") && err.contains("MTAN"),
        "{err}"
    );
    // A list naming a missing file.
    std::fs::remove_file(root.join("labels/1.png")).unwrap();
    let err = open(Nyuv2Config::nddr(&root, Nyuv2Split::Train));
    assert!(
        err.contains("training_seg.txt line 2") && err.contains("labels/1.png"),
        "{err}"
    );
    // A malformed line.
    std::fs::write(root.join("list/training_seg.txt"), "/images/0.png\n").unwrap();
    let err = open(Nyuv2Config::nddr(&root, Nyuv2Split::Train));
    assert!(
        err.contains("line 1") && err.contains("<image path> <label path>"),
        "{err}"
    );
    // Paths without the leading `/` glue onto the root's name: the error says why.
    std::fs::write(
        root.join("list/training_seg.txt"),
        "images/0.png labels/0.png\n",
    )
    .unwrap();
    let err = open(Nyuv2Config::nddr(&root, Nyuv2Split::Train));
    assert!(
        err.contains("\"images/0.png\"") && err.contains("must start with `/`"),
        "{err}"
    );
    // Not a folder.
    let err = open(Nyuv2Config::nddr(root.join("nowhere"), Nyuv2Split::Train));
    assert!(
        err.contains("not a folder") && err.contains("training_seg.txt"),
        "{err}"
    );
    std::fs::remove_dir_all(root).unwrap();
}

#[test]
fn nddr_label_errors_name_the_value_and_the_size() {
    let root = temp("nddr-bad-labels");
    nddr_copy(&root, 1);
    // A label out of range.
    let labels = vec![41u16; 12];
    write_png(
        &root.join("labels/0.png"),
        4,
        3,
        png::ColorType::Grayscale,
        png::BitDepth::Eight,
        &labels,
    );
    let data = Nyuv2::open(Nyuv2Config::nddr(&root, Nyuv2Split::Train)).unwrap();
    let err = data.sample(0).unwrap_err().to_string();
    assert!(
        err.contains("label 41") && err.contains("outside 0..40"),
        "{err}"
    );
    // A label image of the wrong size.
    write_png(
        &root.join("labels/0.png"),
        2,
        3,
        png::ColorType::Grayscale,
        png::BitDepth::Eight,
        &[0; 6],
    );
    let err = data.sample(0).unwrap_err().to_string();
    assert!(
        err.contains("3 x 2 pixels, but its image is 3 x 4"),
        "{err}"
    );
    std::fs::remove_dir_all(root).unwrap();
}

#[test]
fn a_larger_nddr_copy_loads_pixel_for_pixel_and_in_list_order() {
    // 12 x 16 images (the 3 x 4 pattern in 4 x 4 blocks), green = 10 + sample index:
    // pixel (r, c) holds pattern pixel b = (r / 4) * 4 + c / 4, so every sample's red is
    // 60 * (b % 4), its label b % 4 (255 at b = 5), its normal (255, 128, 128) where
    // b % 4 = 0 and (128, 255, 128) elsewhere, white (invalid) at b = 3.
    let root = temp("sized");
    nddr_copy_sized(&root, 3, 4);
    let data = Nyuv2::open(Nyuv2Config::nddr(&root, Nyuv2Split::Train)).unwrap();
    assert_eq!(data.len(), 3);
    let (h, w) = (12, 16);
    let plane = h * w;
    // x / 127.5 - 1 for the three stored values.
    let (one, near_zero) = (1.0f32, 0.003_921_569f32);
    for i in 0..3 {
        let s = data.sample(i).unwrap();
        assert_eq!(s.image.shape(), [3, h, w]);
        let (labels, normals, valid) = match &s.targets[..] {
            [
                TargetData::Labels {
                    labels,
                    height,
                    width,
                },
                TargetData::Normals { values, valid },
            ] => {
                assert_eq!((*height, *width), (h, w));
                assert_eq!(values.shape(), [3, h, w]);
                (labels, &values.data, valid.as_ref().unwrap())
            }
            other => panic!("{other:?}"),
        };
        for r in 0..h {
            for c in 0..w {
                let (p, b) = (r * w + c, (r / 4) * 4 + c / 4);
                let at = format!("sample {i}, row {r}, column {c}");
                assert_eq!(s.image.data[p], (60 * (b % 4)) as f32, "{at}");
                assert_eq!(s.image.data[plane + p], (10 + i) as f32, "{at}");
                assert_eq!(s.image.data[2 * plane + p], 20.0, "{at}");
                let label = if b == 5 { 255 } else { (b % 4) as i64 };
                assert_eq!(labels[p], label, "{at}");
                assert_eq!(valid[p], b != 3, "{at}");
                let normal = match b {
                    3 => [one, one, one],
                    b if b % 4 == 0 => [one, near_zero, near_zero],
                    _ => [near_zero, one, near_zero],
                };
                for (k, want) in normal.into_iter().enumerate() {
                    let got = normals[k * plane + p];
                    assert!((got - want).abs() < 1e-6, "{at}, channel {k}: {got}");
                }
            }
        }
    }
    // A batch stacks the samples in the order asked for, normalised by the reference's
    // mean (122.68, 116.67, 104.01): sample 2's green 12 gives 12 - 116.67.
    let batch = data.batch(&[2, 0], None, &Device::flex()).unwrap();
    assert_eq!(batch.images.dims(), [2, 3, h, w]);
    let green: Vec<f32> = batch
        .images
        .clone()
        .slice([0..2, 1..2, 0..1, 0..1])
        .into_data()
        .try_into_vec_as::<f32>()
        .unwrap();
    assert!((green[0] - (12.0 - 116.67)).abs() < 1e-4, "{green:?}");
    assert!((green[1] - (10.0 - 116.67)).abs() < 1e-4, "{green:?}");
    match &batch.targets[0] {
        crate::data::Target::Labels(labels) => assert_eq!(labels.dims(), [2, h, w]),
        other => panic!("{other:?}"),
    }
    std::fs::remove_dir_all(root).unwrap();
}

/// The MTAN copy's pixels: 2 x 3.
const MTAN_SIZE: (usize, usize) = (2, 3);

/// Writes an MTAN-layout copy under `root/train/` with 2 samples of 2 x 3 pixels: the image
/// is pixel index / 10, the labels Fortran-ordered with one -1, a zero (invalid) depth at
/// pixel 2 and an all-zero (invalid) normal at pixel 4.
fn mtan_copy(root: &Path) {
    for dir in ["image", "label", "depth", "normal"] {
        std::fs::create_dir_all(root.join("train").join(dir)).unwrap();
    }
    let (h, w) = MTAN_SIZE;
    for i in 0..2 {
        let file = |d: &str| root.join("train").join(d).join(format!("{i}.npy"));
        // Image (2, 3, 3) in C order: value = pixel index / 10 in every channel.
        let image: Vec<f32> = (0..h * w).flat_map(|p| [p as f32 / 10.0; 3]).collect();
        write_npy(&file("image"), "<f4", false, &[h, w, 3], &f32_bytes(&image));
        // Labels (2, 3) with -1 ignored, stored Fortran-ordered: C values [0 1 2; 3 -1 5]
        // column by column are 0 3 1 -1 2 5.
        write_npy(
            &file("label"),
            "<f4",
            true,
            &[h, w],
            &f32_bytes(&[0.0, 3.0, 1.0, -1.0, 2.0, 5.0]),
        );
        // Depth (2, 3, 1), zero = invalid.
        write_npy(
            &file("depth"),
            "<f4",
            false,
            &[h, w, 1],
            &f32_bytes(&[1.0, 2.0, 0.0, 4.0, 5.0, 6.0]),
        );
        // Normals (2, 3, 3) in [-1, 1], all-zero = invalid at pixel 4.
        let mut n: Vec<f32> = (0..h * w).flat_map(|_| [0.0, 0.0, 1.0]).collect();
        n[12..15].copy_from_slice(&[0.0, 0.0, 0.0]);
        write_npy(&file("normal"), "<f4", false, &[h, w, 3], &f32_bytes(&n));
    }
}

/// File `0.npy` of domain folder `folder` of the MTAN copy's train split.
fn mtan_first_file(root: &Path, folder: &str) -> PathBuf {
    root.join("train").join(folder).join("0.npy")
}

/// Overwrites sample 0's normals of the MTAN copy with a NaN at pixel 1.
fn write_nan_normal(root: &Path) {
    let (h, w) = MTAN_SIZE;
    let mut normals: Vec<f32> = (0..h * w).flat_map(|_| [0.0, 0.0, 1.0]).collect();
    normals[3] = f32::NAN;
    let path = mtan_first_file(root, "normal");
    write_npy(&path, "<f4", false, &[h, w, 3], &f32_bytes(&normals));
}

#[test]
fn mtan_layout_reads_fortran_arrays_and_invalid_markers() {
    let root = temp("mtan");
    mtan_copy(&root);
    let data = Nyuv2::open(Nyuv2Config::mtan(&root, Nyuv2Split::Train)).unwrap();
    assert_eq!(data.len(), 2);
    let s = data.sample(1).unwrap();
    assert_eq!(&s.image.data[..3], &[0.0, 0.1, 0.2]);
    match &s.targets[0] {
        TargetData::Labels { labels, .. } => assert_eq!(labels, &[0, 1, 2, 3, 255, 5]),
        other => panic!("{other:?}"),
    }
    match &s.targets[1] {
        TargetData::Dense { valid, .. } => {
            assert_eq!(
                valid.as_ref().unwrap(),
                &[true, true, false, true, true, true]
            );
        }
        other => panic!("{other:?}"),
    }
    match &s.targets[2] {
        TargetData::Normals { valid, .. } => {
            assert_eq!(
                valid.as_ref().unwrap(),
                &[true, true, true, true, false, true]
            );
        }
        other => panic!("{other:?}"),
    }
    std::fs::remove_dir_all(root).unwrap();
}

#[test]
fn mtan_nan_normal_is_invalid_and_stored_as_zero() {
    let root = temp("mtan-nan-normal");
    mtan_copy(&root);
    let data = Nyuv2::open(Nyuv2Config::mtan(&root, Nyuv2Split::Train)).unwrap();
    // A NaN normal is invalid and stored as 0 (a NaN times a 0 mask is still NaN).
    write_nan_normal(&root);
    match &data.sample(0).unwrap().targets[2] {
        TargetData::Normals { values, valid } => {
            assert_eq!(valid.as_ref().unwrap()[..2], [true, false]);
            assert_eq!(values.data[1], 0.0);
        }
        other => panic!("{other:?}"),
    }
    std::fs::remove_dir_all(root).unwrap();
}

#[test]
fn mtan_non_finite_image_is_refused_with_the_file_and_the_pixel() {
    let root = temp("mtan-bad-image");
    mtan_copy(&root);
    let data = Nyuv2::open(Nyuv2Config::mtan(&root, Nyuv2Split::Train)).unwrap();
    write_nan_normal(&root);
    // A NaN in an image is refused, with the file and the pixel.
    let (h, w) = MTAN_SIZE;
    let mut image: Vec<f32> = vec![0.5; h * w * 3];
    image[3 * 4 + 2] = f32::INFINITY;
    let path = mtan_first_file(&root, "image");
    write_npy(&path, "<f4", false, &[h, w, 3], &f32_bytes(&image));
    let err = data.sample(0).unwrap_err().to_string();
    assert!(
        err.contains("image/0.npy") && err.contains("row 1, column 1 (channel 2)"),
        "{err}"
    );
    std::fs::remove_dir_all(root).unwrap();
}

#[test]
fn mtan_augmented_batches_keep_every_target_the_image_size() {
    let root = temp("mtan-augmented");
    mtan_copy(&root);
    let data = Nyuv2::open(Nyuv2Config::mtan(&root, Nyuv2Split::Train)).unwrap();
    write_nan_normal(&root);
    let (h, w) = MTAN_SIZE;
    write_npy(
        &mtan_first_file(&root, "image"),
        "<f4",
        false,
        &[h, w, 3],
        &f32_bytes(&[0.5; 18]),
    );
    // Augmented batches keep every target the image's size.
    let aug = Augmentation {
        scale: Some((1.5, 1.5)),
        flip: true,
        crop: Some([2, 2]),
        ..Default::default()
    };
    let samples: Vec<_> = (0..2)
        .map(|i| {
            aug.apply(data.sample(i).unwrap(), &mut SeededRng::new(i as u64))
                .unwrap()
        })
        .collect();
    let batch = collate(&samples, &Device::flex()).unwrap();
    assert_eq!(batch.images.dims(), [2, 3, 2, 2]);
    std::fs::remove_dir_all(root).unwrap();
}

#[test]
fn mtan_missing_split_names_the_folder_and_the_layout() {
    let root = temp("mtan-missing-split");
    mtan_copy(&root);
    // The test split is missing: the error names the folder and the layout.
    let err = Nyuv2::open(Nyuv2Config::mtan(&root, Nyuv2Split::Test))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("val") && err.contains("image/, label/"),
        "{err}"
    );
    std::fs::remove_dir_all(root).unwrap();
}
