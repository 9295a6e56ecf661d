//! The constant baseline: every task predicted by one value fitted on the training set, the
//! floor a metric must separate a trained model from (a metric on which a constant scores
//! like a trained network says nothing about it).

use burn::tensor::{Device, Tensor, TensorData};

use super::Evaluation;
use super::evaluate::evaluate_with;
use crate::data::{MultiTaskBatch, MultiTaskDataset, Target, TargetData, check_targets};
use crate::task::{Task, task_names};
use crate::{Error, Result};

/// Dense values kept per channel to fit a median (the training set is subsampled evenly
/// beyond that).
const MEDIAN_VALUES: usize = 1 << 20;

/// One task's constant prediction.
#[derive(Clone, Debug, PartialEq)]
pub enum ConstantPrediction {
    /// Class logits `ln(frequency)` of the training set's classes, the same at every pixel
    /// (segmentation) or for every image (classification, soft labels): the constant of
    /// least cross-entropy, whose argmax is the most frequent class.
    Classes(Vec<f32>),
    /// One value per channel at every pixel: the training set's per-channel median over
    /// valid pixels (the constant of least L1 error).
    PerChannel(Vec<f32>),
}

/// What one task's targets add up to while fitting.
enum Tally {
    /// Class counts (per pixel or per image) or summed soft labels.
    Classes(Vec<f64>),
    /// Sampled valid values per channel.
    Values(Vec<Vec<f32>>),
}

/// Fits each task's constant on the targets of `train` (`tasks` in the dataset's order).
///
/// # Errors
/// An empty dataset, a sample that cannot be read, or targets that do not match the tasks.
pub fn fit_constants(
    tasks: &[Box<dyn Task>],
    train: &dyn MultiTaskDataset,
) -> Result<Vec<ConstantPrediction>> {
    if train.is_empty() {
        return Err(Error::Dataset(
            "cannot fit constant predictions on an empty dataset".into(),
        ));
    }
    check_targets(train, &task_names(tasks))?;
    let first = train.sample(0)?;
    let pixels = first.image.height * first.image.width * train.len();
    let stride = pixels.div_ceil(MEDIAN_VALUES).max(1);
    let mut tallies: Vec<Option<Tally>> = (0..tasks.len()).map(|_| None).collect();
    let mut seen = 0usize;
    for index in 0..train.len() {
        let sample = train.sample(index)?;
        if sample.targets.len() != tasks.len() {
            return Err(Error::Dataset(format!(
                "sample {index} has {} targets for {} tasks",
                sample.targets.len(),
                tasks.len()
            )));
        }
        for ((task, target), tally) in tasks.iter().zip(&sample.targets).zip(&mut tallies) {
            add(tally, task.outputs(), target, stride, seen);
        }
        seen += first.image.height * first.image.width;
    }
    Ok(tallies
        .into_iter()
        .map(|tally| match tally {
            Some(Tally::Classes(counts)) => {
                let total = counts.iter().sum::<f64>().max(f64::MIN_POSITIVE);
                let logits = counts.iter().map(|c| (c / total).max(1e-8).ln() as f32);
                ConstantPrediction::Classes(logits.collect())
            }
            Some(Tally::Values(mut channels)) => {
                ConstantPrediction::PerChannel(channels.iter_mut().map(|v| median(v)).collect())
            }
            None => ConstantPrediction::PerChannel(Vec::new()),
        })
        .collect())
}

/// Adds one target to a task's tally; dense pixels are kept when their running index
/// (`offset` + pixel) is a multiple of `stride`.
fn add(
    tally: &mut Option<Tally>,
    outputs: usize,
    target: &TargetData,
    stride: usize,
    offset: usize,
) {
    let classes = || Tally::Classes(vec![0.0; outputs]);
    match target {
        TargetData::Labels { labels, .. } => {
            if let Tally::Classes(counts) = tally.get_or_insert_with(classes) {
                for &label in labels {
                    if let Some(count) = usize::try_from(label).ok().and_then(|l| counts.get_mut(l))
                    {
                        *count += 1.0;
                    }
                }
            }
        }
        TargetData::Class(label) => {
            if let Tally::Classes(counts) = tally.get_or_insert_with(classes)
                && let Some(count) = usize::try_from(*label).ok().and_then(|l| counts.get_mut(l))
            {
                *count += 1.0;
            }
        }
        TargetData::SoftLabels(probabilities) => {
            if let Tally::Classes(counts) = tally.get_or_insert_with(classes) {
                for (count, &p) in counts.iter_mut().zip(probabilities) {
                    *count += f64::from(p);
                }
            }
        }
        TargetData::Dense { values, valid } | TargetData::Normals { values, valid } => {
            let values_tally = || Tally::Values(vec![Vec::new(); values.channels]);
            if let Tally::Values(channels) = tally.get_or_insert_with(values_tally) {
                let plane = values.height * values.width;
                for (channel, kept) in values.data.chunks(plane).zip(channels.iter_mut()) {
                    let pixels = channel.iter().enumerate().filter(|&(p, _)| {
                        (offset + p).is_multiple_of(stride) && valid.as_ref().is_none_or(|m| m[p])
                    });
                    kept.extend(pixels.map(|(_, &v)| v));
                }
            }
        }
    }
}

/// The median of `values` (0 for none); reorders them.
fn median(values: &mut [f32]) -> f32 {
    if values.is_empty() {
        return 0.0;
    }
    let middle = values.len() / 2;
    *values.select_nth_unstable_by(middle, f32::total_cmp).1
}

/// The prediction `[batch, channels, height, width]` of `constant` for a batch whose target
/// is `target`: per pixel at the target's size, or `[batch, classes, 1, 1]` per image.
fn predict(constant: &ConstantPrediction, target: &Target, device: &Device) -> Tensor<4> {
    let (batch, height, width) = match target {
        Target::Dense { values, .. } => {
            let [batch, _, height, width] = values.dims();
            (batch, height, width)
        }
        Target::Labels(labels) => {
            let [batch, height, width] = labels.dims();
            (batch, height, width)
        }
        Target::Class(classes) => (classes.dims()[0], 1, 1),
        Target::SoftLabels(probabilities) => (probabilities.dims()[0], 1, 1),
    };
    let (ConstantPrediction::Classes(values) | ConstantPrediction::PerChannel(values)) = constant;
    let plane = height * width;
    let mut data = Vec::with_capacity(batch * values.len() * plane);
    for _ in 0..batch {
        for &value in values {
            data.extend(std::iter::repeat_n(value, plane));
        }
    }
    Tensor::from_data(
        TensorData::new(data, [batch, values.len(), height, width]),
        device,
    )
}

/// Every task's loss and metrics on `test` when each is predicted by its constant fitted on
/// `train` ([`fit_constants`]), evaluated like a network ([`super::evaluate_network`]).
///
/// # Errors
/// As [`fit_constants`], and an empty test set, zero batch size or a target a task rejects.
pub fn evaluate_constant(
    tasks: &[Box<dyn Task>],
    train: &dyn MultiTaskDataset,
    test: &dyn MultiTaskDataset,
    batch_size: usize,
    device: &Device,
) -> Result<Evaluation> {
    let constants = fit_constants(tasks, train)?;
    evaluate_with(tasks, test, batch_size, device, |batch: &MultiTaskBatch| {
        Ok(constants
            .iter()
            .zip(&batch.targets)
            .map(|(constant, target)| predict(constant, target, device))
            .collect())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{Image, InMemoryDataset, MultiTaskSample};
    use crate::task::{DenseRegression, RegressionLoss, Segmentation};

    /// Two 1x2 images: labels (0, 1) and (1, 1); depth (1, 3) and (5, invalid).
    fn data() -> InMemoryDataset {
        let sample = |labels: Vec<i64>, depth: Vec<f32>, valid: Vec<bool>| MultiTaskSample {
            image: Image::new(vec![0.0; 2], 1, 1, 2).unwrap(),
            targets: vec![
                TargetData::Labels {
                    labels,
                    height: 1,
                    width: 2,
                },
                TargetData::Dense {
                    values: Image::new(depth, 1, 1, 2).unwrap(),
                    valid: Some(valid),
                },
            ],
        };
        InMemoryDataset::new(vec![
            sample(vec![0, 1], vec![1.0, 3.0], vec![true, true]),
            sample(vec![1, 1], vec![5.0, 100.0], vec![true, false]),
        ])
    }

    fn tasks() -> Vec<Box<dyn Task>> {
        vec![
            Box::new(Segmentation::new("seg", 3)),
            Box::new(DenseRegression::new("depth", 1, RegressionLoss::L1)),
        ]
    }

    #[test]
    fn constants_are_class_log_frequencies_and_medians_of_valid_pixels() {
        let constants = fit_constants(&tasks(), &data()).unwrap();
        // Labels 0, 1, 1, 1: frequencies 1/4, 3/4 and 0 (floored at 1e-8).
        let expected = [0.25f32.ln(), 0.75f32.ln(), 1e-8f32.ln()];
        let ConstantPrediction::Classes(logits) = &constants[0] else {
            panic!("{:?}", constants[0]);
        };
        for (got, want) in logits.iter().zip(expected) {
            assert!((got - want).abs() < 1e-6, "{logits:?}");
        }
        // Valid depths 1, 3, 5 (100 is masked): median 3.
        assert_eq!(constants[1], ConstantPrediction::PerChannel(vec![3.0]));
    }

    #[test]
    fn the_constant_scores_what_its_prediction_scores_by_hand() {
        let device = Device::flex();
        let (tasks, data) = (tasks(), data());
        let evaluation = evaluate_constant(&tasks, &data, &data, 2, &device).unwrap();
        // Every pixel predicted class 1: 3 of 4 labels right.
        let seg = &evaluation.metrics[0];
        let pixel_accuracy = seg
            .metrics
            .iter()
            .position(|m| m.name == "pixel acc")
            .unwrap();
        assert!((seg.values[pixel_accuracy] - 0.75).abs() < 1e-6, "{seg}");
        // Depth 3 everywhere against valid 1, 3, 5: absolute errors 2, 0, 2, mean 4/3.
        let depth = &evaluation.metrics[1];
        // Squared errors 4, 0, 4, mean 8/3.
        assert!((depth.values[0] - 4.0 / 3.0).abs() < 1e-5, "{depth}");
        assert!((depth.values[1] - 8.0 / 3.0).abs() < 1e-5, "{depth}");
    }
}
