//! NYUv2 in the two layouts the multi-task literature ships it in.
//!
//! **NDDR / MTL-NAS layout** (40 classes + normals, 480 x 640): `root/list/` holds
//! `training_seg.txt`, `training_normal_mask.txt`, `testing_seg.txt`,
//! `testing_normal_mask.txt`, each line `<image path> <label path>` with paths starting with
//! `/` and appended to the root as plain strings. Images are RGB PNGs; segmentation labels are
//! 8-bit grey PNGs (0..39, 255 = ignore); normals are RGB PNGs encoding `(n + 1) * 127.5`, with
//! (255, 255, 255) marking invalid pixels. Depth, where a copy has it (AdaShare's), is listed in
//! `training_depth.txt` / `testing_depth.txt` as float32 `.npy` files of metres (often
//! Fortran-ordered), 0 = invalid.
//!
//! **MTAN / LibMTL layout** (13 classes + depth + normals, 288 x 384):
//! `root/{train,val}/{image,label,depth,normal}/{i}.npy`, HWC arrays: image in [0, 1], label
//! with -1 = ignore, depth in metres with 0 = invalid, normals in [-1, 1] with all-zero =
//! invalid.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::files::{read_npy, read_png};
use super::{Image, MultiTaskDataset, MultiTaskSample, Normalization, TargetData};
use crate::{Error, Result};

/// Which on-disk layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Nyuv2Layout {
    /// List files and PNGs (NDDR-CNN, MTL-NAS).
    Nddr,
    /// `.npy` folders (MTAN, LibMTL).
    Mtan,
}

/// Which part of the data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Nyuv2Split {
    /// 795 training images.
    Train,
    /// 654 test images (`val` in the MTAN layout).
    Test,
}

/// A target the loader can provide.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Nyuv2Target {
    /// Per-pixel class labels.
    Segmentation,
    /// Surface normals.
    Normals,
    /// Depth in metres.
    Depth,
}

/// How the NDDR layout's normal PNGs become vectors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum NormalDecoding {
    /// `x / 127.5 - 1`: the encoding's inverse (default).
    Centred,
    /// The raw 0..255 values, as the reference feeds them to its cosine loss (it L2-normalises
    /// them without re-centring, so every ground-truth normal points into the positive
    /// octant). Use only to reproduce the reference's numbers.
    ReferenceRaw,
}

/// Where and what to load.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Nyuv2Config {
    /// The dataset's root folder.
    pub root: PathBuf,
    /// Its layout.
    pub layout: Nyuv2Layout,
    /// Train or test.
    pub split: Nyuv2Split,
    /// The targets, in task order.
    pub targets: Vec<Nyuv2Target>,
    /// Number of segmentation classes; labels must lie below it (or be ignored).
    pub classes: usize,
    /// Decoding of the NDDR layout's normal PNGs.
    pub normal_decoding: NormalDecoding,
    /// Image normalisation after augmentation.
    pub normalization: Option<Normalization>,
}

impl Nyuv2Config {
    /// The NDDR / MTL-NAS layout: segmentation (40 classes) and normals, images normalised as
    /// the reference does (0..255 minus the RGB mean).
    pub fn nddr(root: impl Into<PathBuf>, split: Nyuv2Split) -> Self {
        Self {
            root: root.into(),
            layout: Nyuv2Layout::Nddr,
            split,
            targets: vec![Nyuv2Target::Segmentation, Nyuv2Target::Normals],
            classes: 40,
            normal_decoding: NormalDecoding::Centred,
            normalization: Some(Normalization::nyuv2_reference()),
        }
    }

    /// The MTAN / LibMTL layout: segmentation (13 classes), depth and normals, images in
    /// [0, 1] as stored.
    pub fn mtan(root: impl Into<PathBuf>, split: Nyuv2Split) -> Self {
        Self {
            root: root.into(),
            layout: Nyuv2Layout::Mtan,
            split,
            targets: vec![
                Nyuv2Target::Segmentation,
                Nyuv2Target::Depth,
                Nyuv2Target::Normals,
            ],
            classes: 13,
            normal_decoding: NormalDecoding::Centred,
            normalization: None,
        }
    }

    /// The same with these targets, in this order.
    pub fn with_targets(mut self, targets: Vec<Nyuv2Target>) -> Self {
        self.targets = targets;
        self
    }
}

/// One sample's files: the image and one file per target.
#[derive(Clone, Debug, PartialEq)]
struct Entry {
    image: PathBuf,
    targets: Vec<PathBuf>,
}

/// NYUv2, opened and checked: every listed file exists.
#[derive(Clone, Debug)]
pub struct Nyuv2 {
    config: Nyuv2Config,
    entries: Vec<Entry>,
}

impl Nyuv2 {
    /// Opens the dataset: reads the lists (or folders) and checks every file exists.
    ///
    /// # Errors
    /// A missing root, list or folder, a malformed list line, lists that disagree on the
    /// images, a missing file (named with the list and line that names it), no targets, or
    /// depth asked of an NDDR copy without depth lists.
    pub fn open(config: Nyuv2Config) -> Result<Self> {
        if config.targets.is_empty() {
            return Err(Error::config(
                "nyuv2.targets",
                "ask for at least one target",
            ));
        }
        if !config.root.is_dir() {
            return Err(Error::Dataset(format!(
                "NYUv2 root {} is not a folder (expected the {} layout: {})",
                config.root.display(),
                layout_name(config.layout),
                layout_hint(config.layout)
            )));
        }
        let entries = match config.layout {
            Nyuv2Layout::Nddr => open_nddr(&config)?,
            Nyuv2Layout::Mtan => open_mtan(&config)?,
        };
        if entries.is_empty() {
            return Err(Error::Dataset(format!(
                "NYUv2 at {}: no samples found",
                config.root.display()
            )));
        }
        Ok(Self { config, entries })
    }

    /// The configuration.
    pub fn config(&self) -> &Nyuv2Config {
        &self.config
    }

    fn load_image(&self, path: &Path) -> Result<Image> {
        match self.config.layout {
            Nyuv2Layout::Nddr => {
                let png = read_png(path)?;
                if png.channels < 3 || png.bit_depth != 8 {
                    return Err(Error::Dataset(format!(
                        "{}: expected an 8-bit RGB image, found {} channel(s) of {} bits",
                        path.display(),
                        png.channels,
                        png.bit_depth
                    )));
                }
                Ok(planar(
                    &png.samples,
                    png.channels,
                    3,
                    png.height,
                    png.width,
                    |v| v as f32,
                ))
            }
            Nyuv2Layout::Mtan => {
                let (h, w, c, data) = hwc_npy(path, 3)?;
                Ok(planar(&data, c, 3, h, w, |v| v as f32))
            }
        }
    }

    fn load_target(&self, target: Nyuv2Target, path: &Path, image: &Image) -> Result<TargetData> {
        let (h, w) = (image.height, image.width);
        let size_error = |th: usize, tw: usize| {
            Error::Dataset(format!(
                "{}: {th} x {tw} pixels, but its image is {h} x {w}",
                path.display()
            ))
        };
        let layout = self.config.layout;
        match target {
            Nyuv2Target::Segmentation => {
                let (th, tw, raw): (usize, usize, Vec<f64>) = match layout {
                    Nyuv2Layout::Nddr => {
                        let png = read_png(path)?;
                        if png.channels != 1 {
                            return Err(Error::Dataset(format!(
                                "{}: expected a single-channel label image, found {} channels",
                                path.display(),
                                png.channels
                            )));
                        }
                        (
                            png.height,
                            png.width,
                            png.samples.iter().map(|&v| v as f64).collect(),
                        )
                    }
                    Nyuv2Layout::Mtan => {
                        let (th, tw, _, data) = hwc_npy(path, 1)?;
                        (th, tw, data)
                    }
                };
                if (th, tw) != (h, w) {
                    return Err(size_error(th, tw));
                }
                let classes = self.config.classes as f64;
                let mut labels = Vec::with_capacity(raw.len());
                for (i, &v) in raw.iter().enumerate() {
                    let label = if v == TargetData::IGNORE as f64 || v == -1.0 {
                        TargetData::IGNORE
                    } else if v.fract() == 0.0 && (0.0..classes).contains(&v) {
                        v as i64
                    } else {
                        return Err(Error::Dataset(format!(
                            "{}: label {v} at row {}, column {} is outside 0..{} (255{} = ignore)",
                            path.display(),
                            i / w,
                            i % w,
                            self.config.classes,
                            if layout == Nyuv2Layout::Mtan {
                                " or -1"
                            } else {
                                ""
                            }
                        )));
                    };
                    labels.push(label);
                }
                Ok(TargetData::Labels {
                    labels,
                    height: h,
                    width: w,
                })
            }
            Nyuv2Target::Normals => {
                let (th, tw, c, data, valid): (usize, usize, usize, Vec<f64>, Vec<bool>) =
                    match layout {
                        Nyuv2Layout::Nddr => {
                            let png = read_png(path)?;
                            if png.channels < 3 || png.bit_depth != 8 {
                                return Err(Error::Dataset(format!(
                                    "{}: expected an 8-bit RGB normal map, found {} channel(s) of {} bits",
                                    path.display(),
                                    png.channels,
                                    png.bit_depth
                                )));
                            }
                            let c = png.channels;
                            let valid = png
                                .samples
                                .chunks(c)
                                .map(|p| !(p[0] == 255 && p[1] == 255 && p[2] == 255))
                                .collect();
                            let decode = |v: u16| match self.config.normal_decoding {
                                NormalDecoding::Centred => v as f64 / 127.5 - 1.0,
                                NormalDecoding::ReferenceRaw => v as f64,
                            };
                            let data = png.samples.iter().map(|&v| decode(v)).collect();
                            (png.height, png.width, c, data, valid)
                        }
                        Nyuv2Layout::Mtan => {
                            let (th, tw, c, data) = hwc_npy(path, 3)?;
                            let valid = data
                                .chunks(c)
                                .map(|p| p.iter().take(3).any(|&v| v != 0.0))
                                .collect();
                            (th, tw, c, data, valid)
                        }
                    };
                if (th, tw) != (h, w) {
                    return Err(size_error(th, tw));
                }
                Ok(TargetData::Normals {
                    values: planar(&data, c, 3, h, w, |v| v as f32),
                    valid: Some(valid),
                })
            }
            Nyuv2Target::Depth => {
                let array = read_npy(path)?;
                let (th, tw) = match array.shape[..] {
                    [th, tw] | [th, tw, 1] => (th, tw),
                    _ => {
                        return Err(Error::Dataset(format!(
                            "{}: expected a depth map of shape (height, width) or (height, \
                             width, 1), found {:?}",
                            path.display(),
                            array.shape
                        )));
                    }
                };
                if (th, tw) != (h, w) {
                    return Err(size_error(th, tw));
                }
                let valid = array
                    .data
                    .iter()
                    .map(|&d| d.is_finite() && d > 0.0)
                    .collect();
                let values = array
                    .data
                    .iter()
                    .map(|&d| {
                        if d.is_finite() && d > 0.0 {
                            d as f32
                        } else {
                            0.0
                        }
                    })
                    .collect();
                Ok(TargetData::Dense {
                    values: Image::new(values, 1, h, w)?,
                    valid: Some(valid),
                })
            }
        }
    }
}

impl MultiTaskDataset for Nyuv2 {
    fn len(&self) -> usize {
        self.entries.len()
    }

    fn sample(&self, index: usize) -> Result<MultiTaskSample> {
        let entry = self.entries.get(index).ok_or_else(|| {
            Error::Dataset(format!(
                "NYUv2 sample {index} requested from {} samples",
                self.entries.len()
            ))
        })?;
        let image = self.load_image(&entry.image)?;
        let targets = self
            .config
            .targets
            .iter()
            .zip(&entry.targets)
            .map(|(&target, path)| self.load_target(target, path, &image))
            .collect::<Result<Vec<_>>>()?;
        Ok(MultiTaskSample { image, targets })
    }

    fn normalization(&self) -> Option<Normalization> {
        self.config.normalization.clone()
    }
}

/// Interleaved `[h, w, c]` samples to a planar image of the first `keep` channels.
fn planar<T: Copy>(
    samples: &[T],
    channels: usize,
    keep: usize,
    height: usize,
    width: usize,
    convert: impl Fn(T) -> f32,
) -> Image {
    let mut data = Vec::with_capacity(keep * height * width);
    for c in 0..keep {
        data.extend(
            samples
                .iter()
                .skip(c)
                .step_by(channels)
                .map(|&v| convert(v)),
        );
    }
    Image {
        data,
        channels: keep,
        height,
        width,
    }
}

/// A `(height, width[, channels])` array with `channels` channels (1 allows 2-D arrays).
fn hwc_npy(path: &Path, channels: usize) -> Result<(usize, usize, usize, Vec<f64>)> {
    let array = read_npy(path)?;
    match array.shape[..] {
        [h, w] if channels == 1 => Ok((h, w, 1, array.data)),
        [h, w, c] if c == channels => Ok((h, w, c, array.data)),
        _ => Err(Error::Dataset(format!(
            "{}: expected shape (height, width{}), found {:?}",
            path.display(),
            if channels == 1 {
                String::new()
            } else {
                format!(", {channels}")
            },
            array.shape
        ))),
    }
}

fn layout_name(layout: Nyuv2Layout) -> &'static str {
    match layout {
        Nyuv2Layout::Nddr => "NDDR/MTL-NAS",
        Nyuv2Layout::Mtan => "MTAN/LibMTL",
    }
}

fn layout_hint(layout: Nyuv2Layout) -> &'static str {
    match layout {
        Nyuv2Layout::Nddr => {
            "list/training_seg.txt, list/training_normal_mask.txt, list/testing_seg.txt, \
             list/testing_normal_mask.txt with lines '/image.png /label.png'"
        }
        Nyuv2Layout::Mtan => {
            "train/ and val/ folders with image/, label/, depth/, normal/ of {i}.npy"
        }
    }
}

fn open_nddr(config: &Nyuv2Config) -> Result<Vec<Entry>> {
    let prefix = match config.split {
        Nyuv2Split::Train => "training",
        Nyuv2Split::Test => "testing",
    };
    let mut images: Option<(PathBuf, Vec<PathBuf>)> = None;
    let mut per_target = Vec::new();
    for &target in &config.targets {
        let list = match target {
            Nyuv2Target::Segmentation => format!("{prefix}_seg.txt"),
            Nyuv2Target::Normals => format!("{prefix}_normal_mask.txt"),
            Nyuv2Target::Depth => format!("{prefix}_depth.txt"),
        };
        let list_path = config.root.join("list").join(&list);
        if !list_path.is_file() {
            let extra = if target == Nyuv2Target::Depth {
                " (depth is not part of the NDDR layout; AdaShare's copy lists it there, or use the MTAN layout)"
            } else {
                ""
            };
            return Err(Error::Dataset(format!(
                "NYUv2 (NDDR/MTL-NAS layout): expected the list file {}{extra}; the layout is {}",
                list_path.display(),
                layout_hint(Nyuv2Layout::Nddr)
            )));
        }
        let (list_images, files) = read_list(&config.root, &list_path)?;
        match &images {
            None => images = Some((list_path.clone(), list_images)),
            Some((first, expected)) if *expected != list_images => {
                return Err(Error::Dataset(format!(
                    "{} and {} do not list the same images in the same order",
                    first.display(),
                    list_path.display()
                )));
            }
            Some(_) => {}
        }
        per_target.push(files);
    }
    let (_, images) = images.unwrap_or_default();
    Ok(images
        .into_iter()
        .enumerate()
        .map(|(i, image)| Entry {
            image,
            targets: per_target.iter().map(|files| files[i].clone()).collect(),
        })
        .collect())
}

/// Parses the text of a list file: one `<image path> <label path>` pair per non-blank line.
/// `origin` names the file in errors.
///
/// # Errors
/// A line without exactly two paths (named by its number).
pub fn parse_list(text: &str, origin: &str) -> Result<Vec<(String, String)>> {
    let mut pairs = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let parts: Vec<&str> = line.split_whitespace().collect();
        let [image, label] = parts[..] else {
            return Err(Error::Dataset(format!(
                "{origin} line {}: expected '<image path> <label path>', found {line:?}",
                number + 1
            )));
        };
        pairs.push((image.to_string(), label.to_string()));
    }
    Ok(pairs)
}

/// Reads a list file of `<image> <label>` lines; every named file must exist.
fn read_list(root: &Path, list: &Path) -> Result<(Vec<PathBuf>, Vec<PathBuf>)> {
    let text = std::fs::read_to_string(list).map_err(|source| Error::Io {
        path: list.to_path_buf(),
        source,
    })?;
    let root = root.to_string_lossy();
    let mut images = Vec::new();
    let mut labels = Vec::new();
    let numbered = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(n, _)| n + 1);
    let pairs = parse_list(&text, &list.display().to_string())?;
    for ((image, label), number) in pairs.into_iter().zip(numbered) {
        // The reference appends list paths to the root as plain strings.
        let image = PathBuf::from(format!("{root}{image}"));
        let label = PathBuf::from(format!("{root}{label}"));
        for path in [&image, &label] {
            if !path.is_file() {
                return Err(Error::Dataset(format!(
                    "{} line {number}: {} does not exist",
                    list.display(),
                    path.display()
                )));
            }
        }
        images.push(image);
        labels.push(label);
    }
    Ok((images, labels))
}

fn open_mtan(config: &Nyuv2Config) -> Result<Vec<Entry>> {
    let split = match config.split {
        Nyuv2Split::Train => "train",
        Nyuv2Split::Test => "val",
    };
    let base = config.root.join(split);
    let folder = |name: &str| -> Result<PathBuf> {
        let path = base.join(name);
        if path.is_dir() {
            Ok(path)
        } else {
            Err(Error::Dataset(format!(
                "NYUv2 (MTAN/LibMTL layout): expected the folder {}; the layout is {}",
                path.display(),
                layout_hint(Nyuv2Layout::Mtan)
            )))
        }
    };
    let image_dir = folder("image")?;
    let target_dirs = config
        .targets
        .iter()
        .map(|t| {
            folder(match t {
                Nyuv2Target::Segmentation => "label",
                Nyuv2Target::Depth => "depth",
                Nyuv2Target::Normals => "normal",
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let count = std::fs::read_dir(&image_dir)
        .map_err(|source| Error::Io {
            path: image_dir.clone(),
            source,
        })?
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "npy"))
        .count();
    (0..count)
        .map(|i| {
            let name = format!("{i}.npy");
            let image = image_dir.join(&name);
            let targets: Vec<PathBuf> = target_dirs.iter().map(|d| d.join(&name)).collect();
            for path in std::iter::once(&image).chain(&targets) {
                if !path.is_file() {
                    return Err(Error::Dataset(format!(
                        "NYUv2 (MTAN/LibMTL layout): {} does not exist ({count} images found, \
                         named 0.npy .. {}.npy)",
                        path.display(),
                        count.saturating_sub(1)
                    )));
                }
            }
            Ok(Entry { image, targets })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::files::tests::{f32_bytes, write_npy, write_png};
    use crate::data::{Augmentation, collate};
    use crate::rng::SeededRng;
    use burn::tensor::Device;

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
            TargetData::Normals { values, .. } => assert_eq!(values.data[0], 255.0),
            other => panic!("{other:?}"),
        }
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
        let err = open(
            Nyuv2Config::nddr(&root, Nyuv2Split::Train).with_targets(vec![Nyuv2Target::Depth]),
        );
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
        // A label out of range.
        nddr_copy(&root, 1);
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
        // Not a folder.
        let err = open(Nyuv2Config::nddr(root.join("nowhere"), Nyuv2Split::Train));
        assert!(
            err.contains("not a folder") && err.contains("training_seg.txt"),
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

    #[test]
    fn mtan_layout_reads_fortran_arrays_and_invalid_markers() {
        let root = temp("mtan");
        for dir in ["image", "label", "depth", "normal"] {
            std::fs::create_dir_all(root.join("train").join(dir)).unwrap();
        }
        let (h, w) = (2, 3);
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
}
