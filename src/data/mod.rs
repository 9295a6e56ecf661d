//! Multi-task samples, batches and datasets, and the per-epoch train/search split.
//!
//! A [`MultiTaskSample`] holds one image and one target per task on the host; a dataset
//! produces samples, and [`collate`] stacks them into a [`MultiTaskBatch`] of tensors on a
//! device.

mod augment;
mod check;
pub mod files;
mod multi_fashion;
mod nyuv2;
mod split;
mod synthetic;
mod taskonomy;
mod toy;

pub use augment::{Augmentation, ColourJitter};
pub use check::{LISTED_BAD_SAMPLES, check_samples, check_targets};
pub use multi_fashion::{
    FASHION_CLASSES, FASHION_MNIST_DIR, FashionMnist, IdxArray, multi_fashion, parse_idx, read_idx,
};
pub use nyuv2::{
    NormalDecoding, Nyuv2, Nyuv2Config, Nyuv2Layout, Nyuv2Split, Nyuv2Target, parse_list,
};
pub use split::{EpochSampler, EpochSplit};
pub use synthetic::{
    Intrinsics, MATERIAL_CLASSES, SCENE_CLASSES, SceneConfig, SceneRender, SceneTarget,
    SyntheticScenes, corner_map, edge_map, normals_from_depth,
};
pub use taskonomy::{
    BuildingLevel, BuildingReport, DomainFolder, SkippedViews, SyntheticTaskonomy,
    TASKONOMY_EDGES_RANGE, TASKONOMY_INVALID_DEPTH, TASKONOMY_KEYPOINTS_RANGE,
    TASKONOMY_MIN_NORMAL_LENGTH, TASKONOMY_NORMAL_HOLE, Taskonomy, TaskonomyConfig,
    TaskonomyDomain, TaskonomyNaming, TaskonomyReport, TaskonomySplit, ViewName,
    parse_building_split, read_building_split, write_synthetic_taskonomy,
};
pub use toy::CrossModalCopy;

use crate::rng::SeededRng;
use burn::tensor::{Device, Int, Tensor, TensorData};

use crate::{Error, Result};

/// A host-side image, channel-major: `data[c * height * width + y * width + x]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Image {
    /// The values, `channels * height * width` of them.
    pub data: Vec<f32>,
    /// Channels.
    pub channels: usize,
    /// Height in pixels.
    pub height: usize,
    /// Width in pixels.
    pub width: usize,
}

impl Image {
    /// An image from channel-major values.
    ///
    /// # Errors
    /// A value count other than `channels * height * width`.
    pub fn new(data: Vec<f32>, channels: usize, height: usize, width: usize) -> Result<Self> {
        if data.len() != channels * height * width {
            return Err(Error::shape(
                "image",
                format!(
                    "{channels} x {height} x {width} = {} values",
                    channels * height * width
                ),
                data.len().to_string(),
            ));
        }
        Ok(Self {
            data,
            channels,
            height,
            width,
        })
    }

    /// `[channels, height, width]`.
    pub fn shape(&self) -> [usize; 3] {
        [self.channels, self.height, self.width]
    }
}

/// One task's target for one sample, on the host.
#[derive(Clone, Debug, PartialEq)]
pub enum TargetData {
    /// Per-pixel values (normals, depth, ...), with a per-pixel validity mask (`true` = valid,
    /// `height * width` entries) or `None` when every pixel is valid.
    Dense {
        /// The values, channel-major.
        values: Image,
        /// Validity per pixel.
        valid: Option<Vec<bool>>,
    },
    /// Surface normals: like `Dense` with 3 channels `(x, y, z)`, x pointing right in the
    /// image, so a horizontal flip negates x.
    Normals {
        /// The normals, channel-major `[3, height, width]`.
        values: Image,
        /// Validity per pixel.
        valid: Option<Vec<bool>>,
    },
    /// Per-pixel class labels, row-major `height * width`; [`TargetData::IGNORE`] marks
    /// pixels without a label.
    Labels {
        /// The labels.
        labels: Vec<i64>,
        /// Height in pixels.
        height: usize,
        /// Width in pixels.
        width: usize,
    },
    /// One class for the whole image.
    Class(i64),
    /// A probability distribution over classes for the whole image.
    SoftLabels(Vec<f32>),
}

impl TargetData {
    /// The label value of pixels that have no label (as in NYUv2's PNGs).
    pub const IGNORE: i64 = 255;

    fn kind(&self) -> &'static str {
        match self {
            TargetData::Dense { .. } => "dense values",
            TargetData::Normals { .. } => "normals",
            TargetData::Labels { .. } => "per-pixel labels",
            TargetData::Class(_) => "a class",
            TargetData::SoftLabels(_) => "soft labels",
        }
    }
}

/// One image with one target per task.
#[derive(Clone, Debug, PartialEq)]
pub struct MultiTaskSample {
    /// The input image.
    pub image: Image,
    /// One target per task, in the search space's task order.
    pub targets: Vec<TargetData>,
}

/// One task's targets for a batch, on a device.
// A batch holds one target per task; boxing the larger variant would only add allocations.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
pub enum Target {
    /// Per-pixel values `[batch, channels, height, width]` and validity `[batch, 1, height,
    /// width]` (1 = valid, 0 = invalid).
    Dense {
        /// The values.
        values: Tensor<4>,
        /// The validity mask.
        valid: Tensor<4>,
    },
    /// Per-pixel labels `[batch, height, width]`, [`TargetData::IGNORE`] where unlabelled.
    Labels(Tensor<3, Int>),
    /// One class per image, `[batch]`.
    Class(Tensor<1, Int>),
    /// A class distribution per image, `[batch, classes]`.
    SoftLabels(Tensor<2>),
}

/// A batch: images and one target per task, on a device.
#[derive(Clone, Debug)]
pub struct MultiTaskBatch {
    /// Images `[batch, channels, height, width]`.
    pub images: Tensor<4>,
    /// One target per task.
    pub targets: Vec<Target>,
}

impl MultiTaskBatch {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.images.dims()[0]
    }

    /// Whether the batch holds no image.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Per-channel image normalisation `(x - mean) / std`, applied after augmentation.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Normalization {
    /// Mean per channel.
    pub mean: Vec<f32>,
    /// Standard deviation per channel.
    pub std: Vec<f32>,
}

impl Normalization {
    /// The reference's NYUv2 input: 0..255 RGB minus the mean (122.68, 116.67, 104.01), std 1.
    pub fn nyuv2_reference() -> Self {
        Self {
            mean: vec![122.68, 116.67, 104.01],
            std: vec![1.0; 3],
        }
    }

    /// Normalises `image` in place.
    ///
    /// # Errors
    /// An image whose channel count differs from the normalisation's.
    pub fn apply(&self, image: &mut Image) -> Result<()> {
        if image.channels != self.mean.len() || image.channels != self.std.len() {
            return Err(Error::shape(
                "image normalisation",
                format!("{} channels", self.mean.len()),
                image.channels.to_string(),
            ));
        }
        let plane = image.height * image.width;
        for (c, chunk) in image.data.chunks_mut(plane.max(1)).enumerate() {
            let (mean, std) = (self.mean[c], self.std[c]);
            for v in chunk {
                *v = (*v - mean) / std;
            }
        }
        Ok(())
    }
}

/// A source of multi-task samples.
///
/// A dataset only loads raw samples; [`MultiTaskDataset::batch`] runs the pipeline: load,
/// augment (training only), normalise ([`MultiTaskDataset::normalization`]), stack.
pub trait MultiTaskDataset: Send + Sync {
    /// Number of samples.
    fn len(&self) -> usize;

    /// Whether the dataset is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Raw sample `index`: image values as stored (e.g. 0..255), targets decoded.
    ///
    /// # Errors
    /// An index out of range, or a file that cannot be read or does not hold what it should.
    fn sample(&self, index: usize) -> Result<MultiTaskSample>;

    /// The image normalisation applied after augmentation (none by default).
    fn normalization(&self) -> Option<Normalization> {
        None
    }

    /// Each target's name, in sample order, when the dataset knows them (the built-in
    /// loaders do: e.g. `seg`, `normal`, `depth`). A search, a training run and an evaluation
    /// then check that the tasks have the same names in the same order
    /// ([`check_targets`]) instead of pairing the `i`-th target with the `i`-th task
    /// unseen. `None`, the default, pairs them by position.
    fn target_names(&self) -> Option<Vec<String>> {
        None
    }

    /// The samples at `indices`, augmented with `augment` when given, normalised, and stacked
    /// on `device`.
    fn batch(
        &self,
        indices: &[usize],
        mut augment: Option<(&Augmentation, &mut SeededRng)>,
        device: &Device,
    ) -> Result<MultiTaskBatch> {
        let normalization = self.normalization();
        let samples = indices
            .iter()
            .map(|&i| {
                let mut sample = self.sample(i)?;
                if let Some((augmentation, rng)) = augment.as_mut()
                    && !augmentation.is_identity()
                {
                    sample = augmentation.apply(sample, rng)?;
                }
                if let Some(n) = &normalization {
                    n.apply(&mut sample.image)?;
                }
                Ok(sample)
            })
            .collect::<Result<Vec<_>>>()?;
        collate(&samples, device)
    }
}

/// A dataset held in memory.
#[derive(Clone, Debug, Default)]
pub struct InMemoryDataset {
    samples: Vec<MultiTaskSample>,
    target_names: Option<Vec<String>>,
}

impl InMemoryDataset {
    /// A dataset of these samples, its targets unnamed (paired with tasks by position).
    pub fn new(samples: Vec<MultiTaskSample>) -> Self {
        Self {
            samples,
            target_names: None,
        }
    }

    /// With its targets named, in sample order (see [`MultiTaskDataset::target_names`]).
    pub fn with_target_names<S: Into<String>>(
        mut self,
        names: impl IntoIterator<Item = S>,
    ) -> Self {
        self.target_names = Some(names.into_iter().map(Into::into).collect());
        self
    }

    /// The samples.
    pub fn samples(&self) -> &[MultiTaskSample] {
        &self.samples
    }
}

impl MultiTaskDataset for InMemoryDataset {
    fn len(&self) -> usize {
        self.samples.len()
    }

    fn sample(&self, index: usize) -> Result<MultiTaskSample> {
        self.samples.get(index).cloned().ok_or_else(|| {
            Error::Dataset(format!(
                "sample {index} requested from a dataset of {}",
                self.samples.len()
            ))
        })
    }

    fn target_names(&self) -> Option<Vec<String>> {
        self.target_names.clone()
    }
}

/// Stacks samples into a batch on `device`.
///
/// # Errors
/// No samples, or samples whose images, target counts, target kinds or target shapes differ.
pub fn collate(samples: &[MultiTaskSample], device: &Device) -> Result<MultiTaskBatch> {
    let first = samples
        .first()
        .ok_or_else(|| Error::Dataset("cannot make a batch of zero samples".into()))?;
    let [c, h, w] = first.image.shape();
    let mut images = Vec::with_capacity(samples.len() * c * h * w);
    for (i, s) in samples.iter().enumerate() {
        if s.image.shape() != [c, h, w] {
            return Err(Error::shape(
                format!("image of batch sample {i}"),
                format!("{:?} like sample 0", [c, h, w]),
                format!("{:?}", s.image.shape()),
            ));
        }
        if s.targets.len() != first.targets.len() {
            return Err(Error::shape(
                format!("targets of batch sample {i}"),
                first.targets.len().to_string(),
                s.targets.len().to_string(),
            ));
        }
        images.extend_from_slice(&s.image.data);
    }
    let n = samples.len();
    let images = Tensor::from_data(TensorData::new(images, [n, c, h, w]), device);
    let targets = (0..first.targets.len())
        .map(|task| collate_target(samples, task, device))
        .collect::<Result<Vec<_>>>()?;
    Ok(MultiTaskBatch { images, targets })
}

/// Stacks target `task` of every sample into one batch target, of the first sample's kind.
fn collate_target(samples: &[MultiTaskSample], task: usize, device: &Device) -> Result<Target> {
    match &samples[0].targets[task] {
        first @ (TargetData::Dense { values, .. } | TargetData::Normals { values, .. }) => {
            collate_dense(samples, task, first, values.shape(), device)
        }
        TargetData::Labels { height, width, .. } => {
            collate_labels(samples, task, (*height, *width), device)
        }
        TargetData::Class(_) => collate_classes(samples, task, device),
        TargetData::SoftLabels(first) => collate_soft_labels(samples, task, first.len(), device),
    }
}

/// The error for target `task` of batch sample `i`: expected `what`, found `got`.
fn target_mismatch(task: usize, i: usize, what: String, got: String) -> Error {
    Error::shape(format!("target {task} of batch sample {i}"), what, got)
}

/// Stacks dense (or normal) targets of the kind of `first` and shape `[c, h, w]`, with their
/// validity masks (all valid where a sample has none).
fn collate_dense(
    samples: &[MultiTaskSample],
    task: usize,
    first: &TargetData,
    [c, h, w]: [usize; 3],
    device: &Device,
) -> Result<Target> {
    let n = samples.len();
    let mut all = Vec::with_capacity(n * c * h * w);
    let mut valid = Vec::with_capacity(n * h * w);
    for (i, s) in samples.iter().enumerate() {
        let target = &s.targets[task];
        let same_kind = std::mem::discriminant(target) == std::mem::discriminant(first);
        match target {
            TargetData::Dense { values, valid: v } | TargetData::Normals { values, valid: v }
                if same_kind && values.shape() == [c, h, w] =>
            {
                all.extend_from_slice(&values.data);
                match v {
                    Some(v) if v.len() == h * w => {
                        valid.extend(v.iter().map(|&b| if b { 1.0f32 } else { 0.0 }))
                    }
                    Some(v) => {
                        return Err(target_mismatch(
                            task,
                            i,
                            format!("{} validity flags", h * w),
                            v.len().to_string(),
                        ));
                    }
                    None => valid.extend(std::iter::repeat_n(1.0f32, h * w)),
                }
            }
            other => {
                return Err(target_mismatch(
                    task,
                    i,
                    format!("{} of shape {:?}", first.kind(), [c, h, w]),
                    describe(other),
                ));
            }
        }
    }
    Ok(Target::Dense {
        values: Tensor::from_data(TensorData::new(all, [n, c, h, w]), device),
        valid: Tensor::from_data(TensorData::new(valid, [n, 1, h, w]), device),
    })
}

/// Stacks label maps of `h` x `w` pixels.
fn collate_labels(
    samples: &[MultiTaskSample],
    task: usize,
    (h, w): (usize, usize),
    device: &Device,
) -> Result<Target> {
    let n = samples.len();
    let mut all = Vec::with_capacity(n * h * w);
    for (i, s) in samples.iter().enumerate() {
        match &s.targets[task] {
            TargetData::Labels {
                labels,
                height,
                width,
            } if (*height, *width) == (h, w) && labels.len() == h * w => {
                all.extend(labels.iter().map(|&l| l as i32))
            }
            other => {
                return Err(target_mismatch(
                    task,
                    i,
                    format!("{h} x {w} labels"),
                    describe(other),
                ));
            }
        }
    }
    Ok(Target::Labels(Tensor::from_data(
        TensorData::new(all, [n, h, w]),
        device,
    )))
}

/// Stacks classes, one per sample.
fn collate_classes(samples: &[MultiTaskSample], task: usize, device: &Device) -> Result<Target> {
    let n = samples.len();
    let mut all = Vec::with_capacity(n);
    for (i, s) in samples.iter().enumerate() {
        match &s.targets[task] {
            TargetData::Class(c) => all.push(*c as i32),
            other => return Err(target_mismatch(task, i, "a class".into(), describe(other))),
        }
    }
    Ok(Target::Class(Tensor::from_data(
        TensorData::new(all, [n]),
        device,
    )))
}

/// Stacks soft labels over `k` classes.
fn collate_soft_labels(
    samples: &[MultiTaskSample],
    task: usize,
    k: usize,
    device: &Device,
) -> Result<Target> {
    let n = samples.len();
    let mut all = Vec::with_capacity(n * k);
    for (i, s) in samples.iter().enumerate() {
        match &s.targets[task] {
            TargetData::SoftLabels(p) if p.len() == k => all.extend_from_slice(p),
            other => {
                return Err(target_mismatch(
                    task,
                    i,
                    format!("{k} soft labels"),
                    describe(other),
                ));
            }
        }
    }
    Ok(Target::SoftLabels(Tensor::from_data(
        TensorData::new(all, [n, k]),
        device,
    )))
}

fn describe(target: &TargetData) -> String {
    match target {
        TargetData::Dense { values, .. } => format!("dense values of shape {:?}", values.shape()),
        TargetData::Normals { values, .. } => format!("normals of shape {:?}", values.shape()),
        TargetData::Labels { height, width, .. } => format!("{height} x {width} labels"),
        TargetData::SoftLabels(p) => format!("{} soft labels", p.len()),
        other => other.kind().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(v: f32) -> MultiTaskSample {
        MultiTaskSample {
            image: Image::new(vec![v; 2 * 2 * 3], 2, 2, 3).unwrap(),
            targets: vec![
                TargetData::Dense {
                    values: Image::new(vec![v; 6], 1, 2, 3).unwrap(),
                    valid: Some(vec![true, false, true, true, true, true]),
                },
                TargetData::Labels {
                    labels: vec![0, 1, 255, 1, 0, 0],
                    height: 2,
                    width: 3,
                },
                TargetData::Class(3),
            ],
        }
    }

    #[test]
    fn collates_samples_into_tensors() {
        let device = Device::flex();
        let batch = collate(&[sample(1.0), sample(2.0)], &device).unwrap();
        assert_eq!(batch.images.dims(), [2, 2, 2, 3]);
        match &batch.targets[0] {
            Target::Dense { values, valid } => {
                assert_eq!(values.dims(), [2, 1, 2, 3]);
                assert_eq!(valid.dims(), [2, 1, 2, 3]);
                let sum: f32 = valid.clone().sum().into_scalar();
                assert_eq!(sum, 10.0);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(&batch.targets[1], Target::Labels(t) if t.dims() == [2, 2, 3]));
        assert!(matches!(&batch.targets[2], Target::Class(t) if t.dims() == [2]));
    }

    #[test]
    fn mismatched_samples_are_errors() {
        let device = Device::flex();
        let mut odd = sample(1.0);
        odd.image = Image::new(vec![0.0; 2 * 3 * 3], 2, 3, 3).unwrap();
        let err = collate(&[sample(1.0), odd], &device)
            .unwrap_err()
            .to_string();
        assert!(err.contains("image of batch sample 1"), "{err}");
        let mut odd = sample(1.0);
        odd.targets[2] = TargetData::SoftLabels(vec![0.5, 0.5]);
        let err = collate(&[sample(1.0), odd], &device)
            .unwrap_err()
            .to_string();
        assert!(err.contains("target 2 of batch sample 1"), "{err}");
        assert!(collate(&[], &device).is_err());
        assert!(Image::new(vec![0.0; 5], 1, 2, 3).is_err());
        let data = InMemoryDataset::new(vec![sample(0.0)]);
        assert!(data.sample(3).is_err());
    }
}
