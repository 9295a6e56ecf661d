//! Taskonomy as it ships: both folder namings, with or without a building level, building
//! splits, masked invalid pixels, and files checked as they are stored.
//!
//! # Layouts
//!
//! Every file is named `point_{p}_view_{v}_domain_{d}.{png|npy}`; one view is one `rgb`
//! image. Two namings of the domain folders are recognised, per folder, automatically
//! ([`TaskonomyNaming`]):
//!
//! | domain | omnidata / full release | original release (public sample building) |
//! |---|---|---|
//! | images | `rgb/…_domain_rgb.png` | `rgb/…_domain_rgb.png` |
//! | [`Segmentation`](TaskonomyDomain::Segmentation) | `segment_semantic/…_domain_segmentsemantic.png` | `segmentsemantic/…_domain_segmentsemantic.png` |
//! | [`Normals`](TaskonomyDomain::Normals) | `normal/…_domain_normal.png` | `normal/…_domain_normal.png` |
//! | [`DepthZbuffer`](TaskonomyDomain::DepthZbuffer) | `depth_zbuffer/…_domain_depth_zbuffer.png` | `depth/…_domain_depth.png` |
//! | [`DepthEuclidean`](TaskonomyDomain::DepthEuclidean) | `depth_euclidean/…_domain_depth_euclidean.png` | `mist/…_domain_mist.png` |
//! | [`Keypoints2d`](TaskonomyDomain::Keypoints2d) | `keypoints2d/…_domain_keypoints2d.png` | `keypoint2d/…_domain_keypoint2d.png` |
//! | [`EdgeTexture`](TaskonomyDomain::EdgeTexture) | `edge_texture/…_domain_edge_texture.png` | `edge2d/…_domain_edge2d.png` |
//! | [`ObjectClass`](TaskonomyDomain::ObjectClass) | `class_object/…_domain_class_object.npy` | `softmax1000/point_{p}_view_{v}.npy` (or `…_domain_softmax1000.npy`) |
//! | [`SceneClass`](TaskonomyDomain::SceneClass) | `class_scene/…_domain_class_places.npy` | `places/point_{p}_view_{v}.npy` (or `…_domain_places.npy`) |
//!
//! The building level may sit at any of the places [`BuildingLevel`] lists, also detected
//! per building: `root/{domain}/{building}/`, `root/{domain}/taskonomy/{building}/` (the
//! omnidata downloader), `root/{building}/{domain}/` (one folder per building, each like the
//! public sample), or none at all, `root/{domain}/`, where the root is the one building and
//! the split file names it by the root folder's own name (or `.`).
//! [`Taskonomy::report`] says what was found, one line per building, e.g. "read 501 views of
//! building allensville in the original Taskonomy layout (no building level:
//! root/{domain}/); skipped 56: 56 with no file in …/segmentsemantic".
//!
//! A view is used when every requested domain has a file for it; the others are skipped and
//! counted by the first domain they lack ([`SkippedViews`]).
//!
//! # Splits
//!
//! `train_val_test_{tiny,medium,full,fullplus}.csv`: a header `id,train,val,test`, then one
//! row per building with 0/1 flags ([`read_building_split`]). A building the split names must
//! have an `rgb` folder.
//!
//! # Encodings, checks and masks, per domain
//!
//! Channels and bit depths are checked on each file as stored, and every per-pixel target's
//! size against its `rgb` image's, before anything is resized ([`TaskonomyConfig::size`]);
//! all bad files of a view are named in one error.
//!
//! - `rgb`: 8-bit RGB (a 4th, alpha, channel is ignored), scaled to [0, 1].
//! - `segment_semantic`: 8-bit, one channel. 0 = uncertain, **masked**
//!   ([`TargetData::IGNORE`]); 1 = background (class 0); 2..=17 = 16 COCO classes (1..=16).
//!   Any other value is an error naming the pixel.
//! - `normal`: 8-bit RGB centred on 127.5, decoded `v / 127.5 - 1`. Depth holes store
//!   (128, 128, 128) ([`TASKONOMY_NORMAL_HOLE`]), which decodes to length 0.007: every pixel
//!   decoding shorter than [`TASKONOMY_MIN_NORMAL_LENGTH`] (0.5; a stored unit normal decodes
//!   to 1 +- 0.01) is **masked**.
//! - `depth_zbuffer` / `depth_euclidean`: 16-bit, one channel, in 1/512 m; values >=
//!   [`TASKONOMY_INVALID_DEPTH`] (64500; holes are 65535) are **masked**. Decoded
//!   `ln(1 + raw) / ln(2^16)`, the common log scaling.
//! - `keypoints2d` and `edge_texture`: 16-bit, one channel, computed from the image, so every
//!   pixel is valid (no mask). Real values fill only [0, 0.017] (keypoints) and [0, 0.14]
//!   (edges) of `raw / 2^16`; a zero prediction then scores an MAE no trained model beats.
//!   So, as the taskgrouping and AdaShare loaders do, `raw / 2^16` is mapped from (0,
//!   [`TASKONOMY_KEYPOINTS_RANGE`] = 0.005) and (0, [`TASKONOMY_EDGES_RANGE`] = 0.08) to
//!   [0, 1], values above clipped to 1 (those loaders map to [-1, 1]; [0, 1] keeps "no edge"
//!   at 0).
//! - `class_object` (1000-way) and `class_scene` (365-way): `.npy` scores, normalised to a
//!   distribution (non-positive and non-finite scores count as 0); no mask.
//!
//! Resizing is bilinear for the image, nearest-neighbour for targets and masks, so labels and
//! masks stay exact.

mod decode;
mod layout;
mod names;
mod synthetic;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{MultiTaskDataset, MultiTaskSample, Normalization, TargetData};
use crate::{Error, Result};

pub use decode::{
    TASKONOMY_EDGES_RANGE, TASKONOMY_INVALID_DEPTH, TASKONOMY_KEYPOINTS_RANGE,
    TASKONOMY_MIN_NORMAL_LENGTH, TASKONOMY_NORMAL_HOLE,
};
pub use layout::{
    BuildingLevel, BuildingReport, DomainFolder, SkippedViews, TaskonomyNaming, TaskonomyReport,
};
pub use names::{ViewName, parse_building_split, read_building_split};
pub use synthetic::{SyntheticTaskonomy, write_synthetic_taskonomy};

/// A Taskonomy domain this loader reads as a target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TaskonomyDomain {
    /// `segment_semantic`: 17 classes (background + 16 COCO), uncertain pixels ignored.
    Segmentation,
    /// `normal`: surface normals, holes masked.
    Normals,
    /// `depth_zbuffer`: depth, log-scaled `ln(1 + raw) / ln(2^16)` (common practice), masked.
    DepthZbuffer,
    /// `depth_euclidean`: distance, log-scaled like depth, masked.
    DepthEuclidean,
    /// `keypoints2d`: `raw / 2^16` over (0, 0.005) mapped to [0, 1], clipped.
    Keypoints2d,
    /// `edge_texture`: `raw / 2^16` over (0, 0.08) mapped to [0, 1], clipped.
    EdgeTexture,
    /// `class_object`: 1000-way soft labels.
    ObjectClass,
    /// `class_scene` (domain name `class_places`): 365-way soft labels.
    SceneClass,
}

impl TaskonomyDomain {
    /// Every domain.
    pub const ALL: [TaskonomyDomain; 8] = [
        TaskonomyDomain::Segmentation,
        TaskonomyDomain::Normals,
        TaskonomyDomain::DepthZbuffer,
        TaskonomyDomain::DepthEuclidean,
        TaskonomyDomain::Keypoints2d,
        TaskonomyDomain::EdgeTexture,
        TaskonomyDomain::ObjectClass,
        TaskonomyDomain::SceneClass,
    ];

    /// The task's short name on command lines: `seg`, `normal`, `depth`, `distance`,
    /// `keypoints`, `edges`, `object`, `scene`.
    pub fn task_name(self) -> &'static str {
        match self {
            TaskonomyDomain::Segmentation => "seg",
            TaskonomyDomain::Normals => "normal",
            TaskonomyDomain::DepthZbuffer => "depth",
            TaskonomyDomain::DepthEuclidean => "distance",
            TaskonomyDomain::Keypoints2d => "keypoints",
            TaskonomyDomain::EdgeTexture => "edges",
            TaskonomyDomain::ObjectClass => "object",
            TaskonomyDomain::SceneClass => "scene",
        }
    }

    /// The domain whose [`TaskonomyDomain::task_name`] is `name`.
    ///
    /// # Errors
    /// An unknown name (the error lists the known ones).
    pub fn from_task_name(name: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|d| d.task_name() == name)
            .ok_or_else(|| {
                let known: Vec<&str> = Self::ALL.iter().map(|d| d.task_name()).collect();
                Error::config(
                    "tasks",
                    format!(
                        "unknown task `{name}`: Taskonomy offers {}",
                        known.join(", ")
                    ),
                )
            })
    }

    /// The domain's folder in the omnidata naming.
    pub fn folder(self) -> &'static str {
        self.folder_in(TaskonomyNaming::Omnidata)
    }

    /// The domain's folder in `naming`.
    pub fn folder_in(self, naming: TaskonomyNaming) -> &'static str {
        use TaskonomyNaming::{Omnidata, Original};
        match (self, naming) {
            (TaskonomyDomain::Segmentation, Omnidata) => "segment_semantic",
            (TaskonomyDomain::Segmentation, Original) => "segmentsemantic",
            (TaskonomyDomain::Normals, _) => "normal",
            (TaskonomyDomain::DepthZbuffer, Omnidata) => "depth_zbuffer",
            (TaskonomyDomain::DepthZbuffer, Original) => "depth",
            (TaskonomyDomain::DepthEuclidean, Omnidata) => "depth_euclidean",
            (TaskonomyDomain::DepthEuclidean, Original) => "mist",
            (TaskonomyDomain::Keypoints2d, Omnidata) => "keypoints2d",
            (TaskonomyDomain::Keypoints2d, Original) => "keypoint2d",
            (TaskonomyDomain::EdgeTexture, Omnidata) => "edge_texture",
            (TaskonomyDomain::EdgeTexture, Original) => "edge2d",
            (TaskonomyDomain::ObjectClass, Omnidata) => "class_object",
            (TaskonomyDomain::ObjectClass, Original) => "softmax1000",
            (TaskonomyDomain::SceneClass, Omnidata) => "class_scene",
            (TaskonomyDomain::SceneClass, Original) => "places",
        }
    }

    /// The folder names tried, omnidata first (one name where both namings agree).
    pub fn folder_names(self) -> Vec<&'static str> {
        let mut names: Vec<&'static str> = TaskonomyNaming::ALL
            .iter()
            .map(|&n| self.folder_in(n))
            .collect();
        names.dedup();
        names
    }

    /// Whether the two namings spell this domain's folder differently.
    pub fn names_differ(self) -> bool {
        self.folder_names().len() > 1
    }

    /// The domain name inside omnidata file names.
    pub fn file_domain(self) -> &'static str {
        self.file_domain_in(TaskonomyNaming::Omnidata)
    }

    /// The domain name inside file names in `naming`.
    pub fn file_domain_in(self, naming: TaskonomyNaming) -> &'static str {
        match (self, naming) {
            (TaskonomyDomain::Segmentation, _) => "segmentsemantic",
            (TaskonomyDomain::SceneClass, TaskonomyNaming::Omnidata) => "class_places",
            (other, naming) => other.folder_in(naming),
        }
    }

    /// The file names `view` may have in this domain under `naming`, in the order tried.
    pub fn file_names(self, naming: TaskonomyNaming, view: &ViewName) -> Vec<String> {
        let extension = self.extension();
        let named = view.with_domain(self.file_domain_in(naming), extension);
        let soft_labels = matches!(
            self,
            TaskonomyDomain::ObjectClass | TaskonomyDomain::SceneClass
        );
        if naming == TaskonomyNaming::Original && soft_labels {
            // The original release's `places/` files carry no domain part.
            vec![view.without_domain(extension), named]
        } else {
            vec![named]
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

impl TaskonomySplit {
    /// The split's column in a split file: `train`, `val` or `test`.
    pub fn column(self) -> &'static str {
        match self {
            TaskonomySplit::Train => "train",
            TaskonomySplit::Val => "val",
            TaskonomySplit::Test => "test",
        }
    }
}

/// Where and what to load.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskonomyConfig {
    /// The root holding the domain folders (or the building folders, see the module docs).
    pub root: PathBuf,
    /// The building split file (`train_val_test_tiny.csv`, ...).
    pub split_file: PathBuf,
    /// Which buildings.
    pub split: TaskonomySplit,
    /// The targets, in task order.
    pub targets: Vec<TaskonomyDomain>,
    /// Resize images and targets to this square size (256 in the common 5-task setup);
    /// `None` keeps the stored size (512). Sizes are checked before the resize.
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

/// Taskonomy, opened: the views of the split's buildings that have every requested domain.
#[derive(Clone, Debug)]
pub struct Taskonomy {
    config: TaskonomyConfig,
    views: Vec<layout::View>,
    report: TaskonomyReport,
}

impl Taskonomy {
    /// Opens the split: every view of the split's buildings that has all requested domains
    /// (views missing one are skipped and counted in [`Taskonomy::report`]). No image is read
    /// yet.
    ///
    /// # Errors
    /// No targets, a bad split file, a building without an `rgb` folder, or no usable view
    /// (the error then carries the report: what was found and why views were skipped).
    pub fn open(config: TaskonomyConfig) -> Result<Self> {
        if config.targets.is_empty() {
            return Err(Error::config(
                "taskonomy.targets",
                "ask for at least one domain",
            ));
        }
        if config.size == Some(0) {
            return Err(Error::config("taskonomy.size", "must be at least 1"));
        }
        let (views, report) = layout::scan(&config)?;
        if views.is_empty() {
            return Err(Error::Dataset(format!(
                "no usable view (an rgb image with a file of every domain {:?}) in {report}",
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
            report,
        })
    }

    /// What was read: every building's layout, usable views and skipped views with the
    /// reason. Its `Display` prints one line per building.
    pub fn report(&self) -> &TaskonomyReport {
        &self.report
    }

    /// Views skipped because a requested domain was missing.
    pub fn skipped(&self) -> usize {
        self.report.skipped()
    }

    /// The configuration.
    pub fn config(&self) -> &TaskonomyConfig {
        &self.config
    }
}

impl MultiTaskDataset for Taskonomy {
    fn len(&self) -> usize {
        self.views.len()
    }

    fn target_names(&self) -> Option<Vec<String>> {
        super::check::named_targets(&self.config.targets, TaskonomyDomain::task_name)
    }

    /// The view's image and targets, each file checked as stored (channels, bit depth, size
    /// against the image), then resized to [`TaskonomyConfig::size`].
    fn sample(&self, index: usize) -> Result<MultiTaskSample> {
        let view = self.views.get(index).ok_or_else(|| {
            Error::Dataset(format!(
                "Taskonomy view {index} requested from {}",
                self.views.len()
            ))
        })?;
        let mut problems = Vec::new();
        let image = decode::read_rgb(&view.image)
            .map_err(|e| problems.push(decode::message(&e)))
            .ok();
        let targets: Vec<Option<TargetData>> = self
            .config
            .targets
            .iter()
            .zip(&view.targets)
            .map(|(&domain, path)| {
                decode::read_target(domain, path)
                    .map_err(|e| problems.push(decode::message(&e)))
                    .ok()
            })
            .collect();
        if let Some(image) = &image {
            for (target, path) in targets.iter().zip(&view.targets) {
                if let Some((h, w)) = target.as_ref().and_then(decode::pixel_size)
                    && (h, w) != (image.height, image.width)
                {
                    problems.push(format!(
                        "{}: {h} x {w} pixels as stored, but its image {} is {} x {}",
                        path.display(),
                        view.image.display(),
                        image.height,
                        image.width
                    ));
                }
            }
        }
        match problems.len() {
            0 => {}
            1 => return Err(Error::Dataset(problems.remove(0))),
            n => {
                return Err(Error::Dataset(format!(
                    "{n} bad files in the view of {}:\n  {}",
                    view.image.display(),
                    problems.join("\n  ")
                )));
            }
        }
        let (Some(mut image), Some(mut targets)) =
            (image, targets.into_iter().collect::<Option<Vec<_>>>())
        else {
            return Err(Error::Dataset(format!(
                "the view of {} was not decoded, but no problem was reported",
                view.image.display()
            )));
        };
        if let Some(s) = self.config.size {
            image = decode::resize_image(image, s);
            targets = targets
                .into_iter()
                .map(|t| decode::resize_target(t, s))
                .collect();
        }
        Ok(MultiTaskSample { image, targets })
    }

    fn normalization(&self) -> Option<Normalization> {
        self.config.normalization.clone()
    }
}

#[cfg(test)]
mod tests;
