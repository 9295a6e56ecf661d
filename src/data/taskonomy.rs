//! Taskonomy: one folder per domain, grouped by building, with building-level splits.
//!
//! Layout: `root/{domain folder}/{building}/point_{p}_view_{v}_domain_{d}.{png|npy}` (the
//! omnidata downloader's `root/{domain folder}/taskonomy/{building}/` works too). Splits come
//! from `train_val_test_{tiny,medium,full,fullplus}.csv`: a header `id,train,val,test`, then one
//! row per building with 0/1 flags.
//!
//! Encodings, as published: `rgb` 8-bit RGB (512 x 512); `normal` 8-bit RGB centred on 127.5;
//! `depth_zbuffer` / `depth_euclidean` 16-bit in 1/512 m, values >= 64500 invalid;
//! `segment_semantic` (domain `segmentsemantic`) 0 = uncertain (masked), 1 = background,
//! 2..17 = 16 COCO classes; `keypoints2d` and `edge_texture` 16-bit, divided by 2^16;
//! `class_object` (1000-way) and `class_scene` (domain `class_places`, 365-way) soft labels
//! in `.npy` files.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::augment::resize_bilinear;
use super::files::{PngImage, read_npy, read_png};
use super::{Image, MultiTaskDataset, MultiTaskSample, Normalization, TargetData};
use crate::{Error, Result};

/// 16-bit depth values from here on are invalid.
pub const TASKONOMY_INVALID_DEPTH: u16 = 64500;

/// A Taskonomy domain this loader reads as a target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TaskonomyDomain {
    /// `segment_semantic`: 17 classes (background + 16 COCO), uncertain pixels ignored.
    Segmentation,
    /// `normal`: surface normals.
    Normals,
    /// `depth_zbuffer`: depth, log-scaled `ln(1 + raw) / ln(2^16)` (common practice), masked.
    DepthZbuffer,
    /// `depth_euclidean`: distance, log-scaled like depth, masked.
    DepthEuclidean,
    /// `keypoints2d`: 16-bit / 2^16.
    Keypoints2d,
    /// `edge_texture`: 16-bit / 2^16.
    EdgeTexture,
    /// `class_object`: 1000-way soft labels.
    ObjectClass,
    /// `class_scene` (domain name `class_places`): 365-way soft labels.
    SceneClass,
}

impl TaskonomyDomain {
    /// The domain's folder.
    pub fn folder(self) -> &'static str {
        match self {
            TaskonomyDomain::Segmentation => "segment_semantic",
            TaskonomyDomain::Normals => "normal",
            TaskonomyDomain::DepthZbuffer => "depth_zbuffer",
            TaskonomyDomain::DepthEuclidean => "depth_euclidean",
            TaskonomyDomain::Keypoints2d => "keypoints2d",
            TaskonomyDomain::EdgeTexture => "edge_texture",
            TaskonomyDomain::ObjectClass => "class_object",
            TaskonomyDomain::SceneClass => "class_scene",
        }
    }

    /// The domain name inside file names.
    pub fn file_domain(self) -> &'static str {
        match self {
            TaskonomyDomain::Segmentation => "segmentsemantic",
            TaskonomyDomain::SceneClass => "class_places",
            other => other.folder(),
        }
    }

    fn extension(self) -> &'static str {
        match self {
            TaskonomyDomain::ObjectClass | TaskonomyDomain::SceneClass => "npy",
            _ => "png",
        }
    }

    /// Classes of the classification and segmentation domains.
    pub fn classes(self) -> Option<usize> {
        match self {
            TaskonomyDomain::Segmentation => Some(17),
            TaskonomyDomain::ObjectClass => Some(1000),
            TaskonomyDomain::SceneClass => Some(365),
            _ => None,
        }
    }
}

/// Which split of the buildings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TaskonomySplit {
    /// Buildings flagged `train`.
    Train,
    /// Buildings flagged `val`.
    Val,
    /// Buildings flagged `test`.
    Test,
}

/// Where and what to load.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskonomyConfig {
    /// The root holding one folder per domain.
    pub root: PathBuf,
    /// The building split file (`train_val_test_tiny.csv`, ...).
    pub split_file: PathBuf,
    /// Which buildings.
    pub split: TaskonomySplit,
    /// The targets, in task order.
    pub targets: Vec<TaskonomyDomain>,
    /// Resize images and targets to this square size (256 in the common 5-task setup);
    /// `None` keeps 512.
    pub size: Option<usize>,
    /// Image normalisation (ImageNet statistics by default).
    pub normalization: Option<Normalization>,
}

impl TaskonomyConfig {
    /// The common five-task setup (segmentation, normals, z-buffer depth, keypoints, edges) at
    /// 256 x 256 (crop 224 with the augmentation).
    pub fn five_tasks(
        root: impl Into<PathBuf>,
        split_file: impl Into<PathBuf>,
        split: TaskonomySplit,
    ) -> Self {
        Self {
            root: root.into(),
            split_file: split_file.into(),
            split,
            targets: vec![
                TaskonomyDomain::Segmentation,
                TaskonomyDomain::Normals,
                TaskonomyDomain::DepthZbuffer,
                TaskonomyDomain::Keypoints2d,
                TaskonomyDomain::EdgeTexture,
            ],
            size: Some(256),
            normalization: Some(Normalization {
                mean: vec![0.485, 0.456, 0.406],
                std: vec![0.229, 0.224, 0.225],
            }),
        }
    }
}

/// One view: where its files are.
#[derive(Clone, Debug, PartialEq)]
struct View {
    image: PathBuf,
    targets: Vec<PathBuf>,
}

/// Taskonomy, opened: the views of the split's buildings that have every requested domain.
#[derive(Clone, Debug)]
pub struct Taskonomy {
    config: TaskonomyConfig,
    views: Vec<View>,
    skipped: usize,
}

/// A parsed `point_{p}_view_{v}_domain_{d}.{ext}` name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ViewName {
    /// The point id.
    pub point: String,
    /// The view id.
    pub view: String,
    /// The domain.
    pub domain: String,
    /// The extension.
    pub extension: String,
}

impl ViewName {
    /// Parses a file name; `None` if it does not follow the pattern.
    pub fn parse(name: &str) -> Option<Self> {
        let rest = name.strip_prefix("point_")?;
        let (point, rest) = rest.split_once("_view_")?;
        let (view, rest) = rest.split_once("_domain_")?;
        let (domain, extension) = rest.rsplit_once('.')?;
        let ok = |s: &str| !s.is_empty() && !s.contains('/');
        (ok(point) && ok(view) && ok(domain) && ok(extension)).then(|| Self {
            point: point.to_string(),
            view: view.to_string(),
            domain: domain.to_string(),
            extension: extension.to_string(),
        })
    }

    /// The file name of this view in another domain.
    pub fn with_domain(&self, domain: &str, extension: &str) -> String {
        format!(
            "point_{}_view_{}_domain_{domain}.{extension}",
            self.point, self.view
        )
    }
}

/// Reads a building split file: the buildings whose `split` column is 1.
///
/// # Errors
/// An unreadable file, a missing header column, or a malformed row (named by line).
pub fn read_building_split(path: &Path, split: TaskonomySplit) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse_building_split(&text, path, split)
}

/// Parses the text of a building split file as [`read_building_split`] does; `path` names
/// the file in errors.
pub fn parse_building_split(text: &str, path: &Path, split: TaskonomySplit) -> Result<Vec<String>> {
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let (_, header) = lines
        .next()
        .ok_or_else(|| Error::Dataset(format!("{}: empty split file", path.display())))?;
    let columns: Vec<&str> = header.split(',').map(str::trim).collect();
    let name = match split {
        TaskonomySplit::Train => "train",
        TaskonomySplit::Val => "val",
        TaskonomySplit::Test => "test",
    };
    let column = columns.iter().position(|c| *c == name).ok_or_else(|| {
        Error::Dataset(format!(
            "{}: the header {header:?} has no `{name}` column (expected id,train,val,test)",
            path.display()
        ))
    })?;
    let mut buildings = Vec::new();
    for (number, line) in lines {
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        if fields.len() != columns.len() {
            return Err(Error::Dataset(format!(
                "{} line {}: {} fields, the header has {}",
                path.display(),
                number + 1,
                fields.len(),
                columns.len()
            )));
        }
        match fields[column] {
            "1" => buildings.push(fields[0].to_string()),
            "0" => {}
            other => {
                return Err(Error::Dataset(format!(
                    "{} line {}: `{name}` flag {other:?} (expected 0 or 1)",
                    path.display(),
                    number + 1
                )));
            }
        }
    }
    Ok(buildings)
}

impl Taskonomy {
    /// Opens the split: every view of the split's buildings that has all requested domains
    /// (views missing one are skipped and counted).
    ///
    /// # Errors
    /// A bad split file, a missing `rgb` folder for a building, or no usable view.
    pub fn open(config: TaskonomyConfig) -> Result<Self> {
        if config.targets.is_empty() {
            return Err(Error::config(
                "taskonomy.targets",
                "ask for at least one domain",
            ));
        }
        let buildings = read_building_split(&config.split_file, config.split)?;
        let mut views = Vec::new();
        let mut skipped = 0;
        for building in &buildings {
            let rgb = building_folder(&config.root, "rgb", building).ok_or_else(|| {
                Error::Dataset(format!(
                    "Taskonomy: no folder {} (expected root/{{domain}}/{{building}}/point_{{p}}_view_{{v}}_domain_{{d}}.png)",
                    config.root.join("rgb").join(building).display()
                ))
            })?;
            let names: BTreeSet<ViewName> = std::fs::read_dir(&rgb)
                .map_err(|source| Error::Io {
                    path: rgb.clone(),
                    source,
                })?
                .filter_map(|e| e.ok())
                .filter_map(|e| ViewName::parse(&e.file_name().to_string_lossy()))
                .filter(|n| n.domain == "rgb")
                .collect();
            let folders: Vec<Option<PathBuf>> = config
                .targets
                .iter()
                .map(|d| building_folder(&config.root, d.folder(), building))
                .collect();
            for name in names {
                let targets: Option<Vec<PathBuf>> = config
                    .targets
                    .iter()
                    .zip(&folders)
                    .map(|(d, folder)| {
                        let path = folder
                            .as_ref()?
                            .join(name.with_domain(d.file_domain(), d.extension()));
                        path.is_file().then_some(path)
                    })
                    .collect();
                match targets {
                    Some(targets) => views.push(View {
                        image: rgb.join(name.with_domain("rgb", &name.extension)),
                        targets,
                    }),
                    None => skipped += 1,
                }
            }
        }
        if views.is_empty() {
            return Err(Error::Dataset(format!(
                "Taskonomy at {}: no view of the {} buildings in {} has every domain {:?} ({skipped} skipped)",
                config.root.display(),
                buildings.len(),
                config.split_file.display(),
                config
                    .targets
                    .iter()
                    .map(|d| d.folder())
                    .collect::<Vec<_>>()
            )));
        }
        Ok(Self {
            config,
            views,
            skipped,
        })
    }

    /// Views skipped because a requested domain was missing.
    pub fn skipped(&self) -> usize {
        self.skipped
    }

    fn resize_image(&self, image: Image) -> Image {
        match self.config.size {
            Some(s) if (image.height, image.width) != (s, s) => resize_bilinear(&image, s, s),
            _ => image,
        }
    }

    /// Nearest-neighbour resize of a row-major plane to the configured size.
    fn resize_plane<T: Copy>(&self, plane: Vec<T>, h: usize, w: usize) -> (Vec<T>, usize, usize) {
        match self.config.size {
            Some(s) if (h, w) != (s, s) => {
                let out = (0..s * s)
                    .map(|i| plane[((i / s) * h / s) * w + (i % s) * w / s])
                    .collect();
                (out, s, s)
            }
            _ => (plane, h, w),
        }
    }

    fn load_target(&self, domain: TaskonomyDomain, path: &Path) -> Result<TargetData> {
        let grey = |png: &PngImage, bits: Option<u8>| -> Result<()> {
            if png.channels != 1 || bits.is_some_and(|b| png.bit_depth != b) {
                return Err(Error::Dataset(format!(
                    "{}: expected a single-channel{} image, found {} channel(s) of {} bits",
                    path.display(),
                    bits.map(|b| format!(" {b}-bit")).unwrap_or_default(),
                    png.channels,
                    png.bit_depth
                )));
            }
            Ok(())
        };
        match domain {
            TaskonomyDomain::Segmentation => {
                let png = read_png(path)?;
                grey(&png, None)?;
                let mut labels = Vec::with_capacity(png.samples.len());
                for (i, &v) in png.samples.iter().enumerate() {
                    labels.push(match v {
                        0 => TargetData::IGNORE,
                        1..=17 => v as i64 - 1,
                        _ => {
                            return Err(Error::Dataset(format!(
                                "{}: value {v} at row {}, column {} is not 0 (uncertain), 1 (background) or 2..17 (COCO classes)",
                                path.display(),
                                i / png.width,
                                i % png.width
                            )));
                        }
                    });
                }
                let (labels, height, width) = self.resize_plane(labels, png.height, png.width);
                Ok(TargetData::Labels {
                    labels,
                    height,
                    width,
                })
            }
            TaskonomyDomain::Normals => {
                let png = read_png(path)?;
                if png.channels < 3 {
                    return Err(Error::Dataset(format!(
                        "{}: expected an RGB normal map, found {} channel(s)",
                        path.display(),
                        png.channels
                    )));
                }
                let plane = png.height * png.width;
                let mut channels = Vec::with_capacity(3);
                for c in 0..3 {
                    let values: Vec<f32> = (0..plane)
                        .map(|i| png.samples[i * png.channels + c] as f32 / 127.5 - 1.0)
                        .collect();
                    channels.push(self.resize_plane(values, png.height, png.width));
                }
                let (h, w) = (channels[0].1, channels[0].2);
                let data = channels.into_iter().flat_map(|(v, _, _)| v).collect();
                Ok(TargetData::Normals {
                    values: Image::new(data, 3, h, w)?,
                    valid: None,
                })
            }
            TaskonomyDomain::DepthZbuffer | TaskonomyDomain::DepthEuclidean => {
                let png = read_png(path)?;
                grey(&png, Some(16))?;
                let scale = (65536.0f64).ln();
                let values: Vec<f32> = png
                    .samples
                    .iter()
                    .map(|&v| ((1.0 + v as f64).ln() / scale) as f32)
                    .collect();
                let valid: Vec<bool> = png
                    .samples
                    .iter()
                    .map(|&v| v < TASKONOMY_INVALID_DEPTH)
                    .collect();
                let (values, h, w) = self.resize_plane(values, png.height, png.width);
                let (valid, _, _) = self.resize_plane(valid, png.height, png.width);
                Ok(TargetData::Dense {
                    values: Image::new(values, 1, h, w)?,
                    valid: Some(valid),
                })
            }
            TaskonomyDomain::Keypoints2d | TaskonomyDomain::EdgeTexture => {
                let png = read_png(path)?;
                grey(&png, Some(16))?;
                let values: Vec<f32> = png.samples.iter().map(|&v| v as f32 / 65536.0).collect();
                let (values, h, w) = self.resize_plane(values, png.height, png.width);
                Ok(TargetData::Dense {
                    values: Image::new(values, 1, h, w)?,
                    valid: None,
                })
            }
            TaskonomyDomain::ObjectClass | TaskonomyDomain::SceneClass => {
                let array = read_npy(path)?;
                let classes = domain.classes().unwrap_or(0);
                if array.data.len() != classes {
                    return Err(Error::Dataset(format!(
                        "{}: {} values of shape {:?}, expected {classes} class scores",
                        path.display(),
                        array.data.len(),
                        array.shape
                    )));
                }
                let total: f64 = array
                    .data
                    .iter()
                    .filter(|v| v.is_finite() && **v > 0.0)
                    .sum();
                if total <= 0.0 {
                    return Err(Error::Dataset(format!(
                        "{}: the soft labels have no positive mass",
                        path.display()
                    )));
                }
                Ok(TargetData::SoftLabels(
                    array
                        .data
                        .iter()
                        .map(|&v| {
                            if v.is_finite() && v > 0.0 {
                                (v / total) as f32
                            } else {
                                0.0
                            }
                        })
                        .collect(),
                ))
            }
        }
    }
}

fn building_folder(root: &Path, domain: &str, building: &str) -> Option<PathBuf> {
    [
        root.join(domain).join(building),
        root.join(domain).join("taskonomy").join(building),
    ]
    .into_iter()
    .find(|p| p.is_dir())
}

impl MultiTaskDataset for Taskonomy {
    fn len(&self) -> usize {
        self.views.len()
    }

    fn sample(&self, index: usize) -> Result<MultiTaskSample> {
        let view = self.views.get(index).ok_or_else(|| {
            Error::Dataset(format!(
                "Taskonomy view {index} requested from {}",
                self.views.len()
            ))
        })?;
        let png = read_png(&view.image)?;
        if png.channels < 3 || png.bit_depth != 8 {
            return Err(Error::Dataset(format!(
                "{}: expected an 8-bit RGB image, found {} channel(s) of {} bits",
                view.image.display(),
                png.channels,
                png.bit_depth
            )));
        }
        let plane = png.height * png.width;
        let data = (0..3)
            .flat_map(|c| (0..plane).map(move |i| (c, i)))
            .map(|(c, i)| png.samples[i * png.channels + c] as f32 / 255.0)
            .collect();
        let image = self.resize_image(Image::new(data, 3, png.height, png.width)?);
        let targets = self
            .config
            .targets
            .iter()
            .zip(&view.targets)
            .map(|(&d, p)| self.load_target(d, p))
            .collect::<Result<Vec<_>>>()?;
        for (t, target) in targets.iter().enumerate() {
            let size = match target {
                TargetData::Dense { values, .. } | TargetData::Normals { values, .. } => {
                    Some((values.height, values.width))
                }
                TargetData::Labels { height, width, .. } => Some((*height, *width)),
                _ => None,
            };
            if let Some((h, w)) = size
                && (h, w) != (image.height, image.width)
            {
                return Err(Error::Dataset(format!(
                    "{}: {h} x {w} pixels, but its image {} is {} x {}",
                    view.targets[t].display(),
                    view.image.display(),
                    image.height,
                    image.width
                )));
            }
        }
        Ok(MultiTaskSample { image, targets })
    }

    fn normalization(&self) -> Option<Normalization> {
        self.config.normalization.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::files::tests::{write_npy, write_png};

    fn temp(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("mtl-nas-taskonomy-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// Writes one building's view `point_7_view_2` in every domain at 4 x 4 pixels.
    fn write_view(root: &Path, building: &str, point: u32) {
        let name = |domain: &str, ext: &str| format!("point_{point}_view_2_domain_{domain}.{ext}");
        let dir = |folder: &str| {
            let d = root.join(folder).join(building);
            std::fs::create_dir_all(&d).unwrap();
            d
        };
        let rgb: Vec<u16> = (0..16).flat_map(|i| [i as u16 * 16, 0, 255]).collect();
        write_png(
            &dir("rgb").join(name("rgb", "png")),
            4,
            4,
            png::ColorType::Rgb,
            png::BitDepth::Eight,
            &rgb,
        );
        // Segmentation: 0 (uncertain), 1 (background), 2 and 17 (COCO classes).
        let seg: Vec<u16> = (0..16).map(|i| [0, 1, 2, 17][i % 4]).collect();
        write_png(
            &dir("segment_semantic").join(name("segmentsemantic", "png")),
            4,
            4,
            png::ColorType::Grayscale,
            png::BitDepth::Eight,
            &seg,
        );
        // Normals 127-centred: (255, 127.5, 0) ~ (+1, 0, -1).
        let normal: Vec<u16> = (0..16).flat_map(|_| [255, 128, 0]).collect();
        write_png(
            &dir("normal").join(name("normal", "png")),
            4,
            4,
            png::ColorType::Rgb,
            png::BitDepth::Eight,
            &normal,
        );
        // Depth: 512 (1 m), 64499 (valid), 64500 and 65535 (invalid).
        let depth: Vec<u16> = (0..16).map(|i| [512, 64499, 64500, 65535][i % 4]).collect();
        write_png(
            &dir("depth_zbuffer").join(name("depth_zbuffer", "png")),
            4,
            4,
            png::ColorType::Grayscale,
            png::BitDepth::Sixteen,
            &depth,
        );
        let keypoints: Vec<u16> = (0..16).map(|i| (i * 4096) as u16).collect();
        write_png(
            &dir("keypoints2d").join(name("keypoints2d", "png")),
            4,
            4,
            png::ColorType::Grayscale,
            png::BitDepth::Sixteen,
            &keypoints,
        );
        let mut scene = vec![0.0f32; 365];
        scene[3] = 3.0;
        scene[9] = 1.0;
        let bytes: Vec<u8> = scene.iter().flat_map(|v| v.to_le_bytes()).collect();
        write_npy(
            &dir("class_scene").join(name("class_places", "npy")),
            "<f4",
            false,
            &[365],
            &bytes,
        );
    }

    #[test]
    fn reads_every_encoding_and_the_building_split() {
        let root = temp("read");
        write_view(&root, "allensville", 7);
        write_view(&root, "allensville", 8);
        write_view(&root, "beechwood", 1);
        std::fs::write(
            root.join("train_val_test_tiny.csv"),
            "id,train,val,test\nallensville,1,0,0\nbeechwood,0,1,0\n",
        )
        .unwrap();
        // point 8 lacks keypoints: it is skipped, not fatal.
        std::fs::remove_file(
            root.join("keypoints2d/allensville/point_8_view_2_domain_keypoints2d.png"),
        )
        .unwrap();
        let config = TaskonomyConfig {
            targets: vec![
                TaskonomyDomain::Segmentation,
                TaskonomyDomain::Normals,
                TaskonomyDomain::DepthZbuffer,
                TaskonomyDomain::Keypoints2d,
                TaskonomyDomain::SceneClass,
            ],
            size: None,
            ..TaskonomyConfig::five_tasks(
                &root,
                root.join("train_val_test_tiny.csv"),
                TaskonomySplit::Train,
            )
        };
        let data = Taskonomy::open(config.clone()).unwrap();
        assert_eq!((data.len(), data.skipped()), (1, 1));
        let s = data.sample(0).unwrap();
        assert_eq!(s.image.shape(), [3, 4, 4]);
        assert!((s.image.data[1] - 16.0 / 255.0).abs() < 1e-6);
        match &s.targets[0] {
            TargetData::Labels { labels, .. } => assert_eq!(&labels[..4], &[255, 0, 1, 16]),
            other => panic!("{other:?}"),
        }
        match &s.targets[1] {
            TargetData::Normals { values, .. } => {
                assert_eq!(values.data[0], 1.0);
                assert!((values.data[16] - 0.0039).abs() < 1e-3);
                assert_eq!(values.data[32], -1.0);
            }
            other => panic!("{other:?}"),
        }
        match &s.targets[2] {
            TargetData::Dense { values, valid } => {
                // ln(1 + 512) / ln(65536) = 6.240276 / 11.090355 = 0.562676.
                assert!((values.data[0] - 0.562676).abs() < 1e-5);
                assert_eq!(&valid.as_ref().unwrap()[..4], &[true, true, false, false]);
            }
            other => panic!("{other:?}"),
        }
        match &s.targets[3] {
            TargetData::Dense { values, .. } => assert_eq!(values.data[2], 2.0 * 4096.0 / 65536.0),
            other => panic!("{other:?}"),
        }
        match &s.targets[4] {
            TargetData::SoftLabels(p) => assert_eq!((p[3], p[9]), (0.75, 0.25)),
            other => panic!("{other:?}"),
        }
        // The val split holds beechwood; resizing to 8 x 8 keeps targets aligned.
        let val = Taskonomy::open(TaskonomyConfig {
            split: TaskonomySplit::Val,
            size: Some(8),
            ..config.clone()
        })
        .unwrap();
        let s = val.sample(0).unwrap();
        assert_eq!(s.image.shape(), [3, 8, 8]);
        match &s.targets[0] {
            TargetData::Labels { labels, height, .. } => {
                assert_eq!(*height, 8);
                assert_eq!(&labels[..8], &[255, 255, 0, 0, 1, 1, 16, 16]);
            }
            other => panic!("{other:?}"),
        }
        std::fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn names_splits_and_bad_values_are_checked() {
        let n = ViewName::parse("point_12_view_3_domain_depth_zbuffer.png").unwrap();
        assert_eq!(
            (n.point.as_str(), n.view.as_str(), n.domain.as_str()),
            ("12", "3", "depth_zbuffer")
        );
        assert_eq!(
            n.with_domain("rgb", "png"),
            "point_12_view_3_domain_rgb.png"
        );
        assert!(ViewName::parse("point_12_domain_rgb.png").is_none());
        assert!(ViewName::parse("README.md").is_none());

        let root = temp("bad");
        let csv = root.join("split.csv");
        std::fs::write(&csv, "id,train,test\na,1,0\n").unwrap();
        let err = read_building_split(&csv, TaskonomySplit::Val)
            .unwrap_err()
            .to_string();
        assert!(err.contains("no `val` column"), "{err}");
        std::fs::write(&csv, "id,train,val,test\na,yes,0,0\n").unwrap();
        let err = read_building_split(&csv, TaskonomySplit::Train)
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 2"), "{err}");
        std::fs::write(&csv, "id,train,val,test\nghost,1,0,0\n").unwrap();
        let config = TaskonomyConfig::five_tasks(&root, &csv, TaskonomySplit::Train);
        let err = Taskonomy::open(config).unwrap_err().to_string();
        assert!(err.contains("rgb") && err.contains("ghost"), "{err}");

        write_view(&root, "ghost", 1);
        let seg = root.join("segment_semantic/ghost/point_1_view_2_domain_segmentsemantic.png");
        write_png(
            &seg,
            4,
            4,
            png::ColorType::Grayscale,
            png::BitDepth::Eight,
            &[18; 16],
        );
        let config = TaskonomyConfig {
            targets: vec![TaskonomyDomain::Segmentation],
            ..TaskonomyConfig::five_tasks(&root, &csv, TaskonomySplit::Train)
        };
        let err = Taskonomy::open(config)
            .unwrap()
            .sample(0)
            .unwrap_err()
            .to_string();
        assert!(err.contains("value 18"), "{err}");
        std::fs::remove_dir_all(root).unwrap();
    }
}
