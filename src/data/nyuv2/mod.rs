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
//!
//! Beyond the layouts' markers, non-finite depth and normals, and normals shorter than 0.5,
//! are invalid; an image with a non-finite value is an error naming the file and pixel.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

mod decode;
mod lists;

pub use lists::parse_list;

use lists::{layout_hint, layout_name, open_mtan, open_nddr};

use super::{MultiTaskDataset, MultiTaskSample, Normalization};
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

impl Nyuv2Target {
    /// The name of the task this target goes to: `seg`, `normal` or `depth`.
    pub fn task_name(self) -> &'static str {
        match self {
            Nyuv2Target::Segmentation => "seg",
            Nyuv2Target::Normals => "normal",
            Nyuv2Target::Depth => "depth",
        }
    }
}

/// How the NDDR layout's normal PNGs become vectors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum NormalDecoding {
    /// `x / 127.5 - 1`: the encoding's inverse (default). Besides white, pixels whose vector
    /// is shorter than 0.5 are invalid: (127, 127, 127), a zero vector, sits on 1-2% of the
    /// pixels of real frames, which the reference counts as valid. A flip negates x.
    Centred,
    /// The raw 0..255 values, as the reference feeds them to its cosine loss (it L2-normalises
    /// them without re-centring, so every ground-truth normal points into the positive
    /// octant), with its validity (only white is invalid), as plain dense values: a flip
    /// mirrors them without negating x, as the reference's `hflip` does. Use only to
    /// reproduce the reference's numbers.
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

    fn target_names(&self) -> Option<Vec<String>> {
        super::check::named_targets(&self.config.targets, Nyuv2Target::task_name)
    }
}

#[cfg(test)]
mod tests;
