//! Every sample of a dataset decoded and checked before a run starts, so that a corrupt file
//! of the test split is found in seconds, not after a day's search.

use std::thread;

use super::{MultiTaskDataset, MultiTaskSample, TargetData};
use crate::{Error, Result};

/// How many bad samples an error lists (all are counted).
pub const LISTED_BAD_SAMPLES: usize = 20;

/// Samples decoded between two progress reports.
const CHUNK: usize = 64;

/// Checks that `tasks` (their names, in order) are the targets `data` names, in the same
/// order: each sample's `i`-th target goes to the `i`-th task. A dataset that does not name
/// its targets ([`MultiTaskDataset::target_names`] `None`) passes.
///
/// # Errors
/// An [`Error::Config`](crate::Error) of field `tasks` listing both, when they differ.
pub fn check_targets(data: &dyn MultiTaskDataset, tasks: &[&str]) -> Result<()> {
    match data.target_names() {
        Some(names) if names.iter().map(String::as_str).ne(tasks.iter().copied()) => {
            Err(Error::config(
                "tasks",
                format!(
                    "tasks {tasks:?} do not match the dataset's targets {names:?}: each sample's i-th target goes to the i-th task, so the tasks must be named after the targets, in the same order"
                ),
            ))
        }
        _ => Ok(()),
    }
}

/// The names of a loader's configured `targets` ([`MultiTaskDataset::target_names`]).
pub(crate) fn named_targets<T: Copy>(
    targets: &[T],
    name: impl Fn(T) -> &'static str,
) -> Option<Vec<String>> {
    Some(targets.iter().map(|&t| name(t).to_string()).collect())
}

/// Decodes every sample of `data` on all cores and checks what a run will read: the file
/// decodes (shapes, channels, bit depth, value ranges, as the dataset checks them), and the
/// image and every target value that counts (valid pixels, soft labels) are finite.
/// `progress(done, total)` hears after each chunk of samples.
///
/// # Errors
/// One [`Error::Dataset`] for all bad samples: how many of how many, then the first
/// [`LISTED_BAD_SAMPLES`] with their own errors (each names its file where the dataset's does).
pub fn check_samples(
    data: &dyn MultiTaskDataset,
    set: &str,
    mut progress: impl FnMut(usize, usize),
) -> Result<()> {
    let total = data.len();
    let threads = thread::available_parallelism().map_or(1, |n| n.get());
    let mut bad: Vec<(usize, String)> = Vec::new();
    for start in (0..total).step_by(CHUNK) {
        let indices: Vec<usize> = (start..(start + CHUNK).min(total)).collect();
        let per_thread = indices.len().div_ceil(threads);
        thread::scope(|scope| {
            let workers: Vec<_> = indices
                .chunks(per_thread)
                .map(|part| scope.spawn(move || check_part(data, part)))
                .collect();
            for worker in workers {
                match worker.join() {
                    Ok(found) => bad.extend(found),
                    Err(_) => bad.push((start, "decoding panicked".to_string())),
                }
            }
        });
        progress(indices[indices.len() - 1] + 1, total);
    }
    if bad.is_empty() {
        return Ok(());
    }
    bad.sort_by_key(|(index, _)| *index);
    let listed: Vec<String> = (bad.iter().take(LISTED_BAD_SAMPLES))
        .map(|(index, error)| format!("  sample {index}: {error}"))
        .collect();
    let more = match bad.len() > LISTED_BAD_SAMPLES {
        true => format!("\n  ... and {} more", bad.len() - LISTED_BAD_SAMPLES),
        false => String::new(),
    };
    Err(Error::Dataset(format!(
        "{set}: {} of {total} samples cannot be used:\n{}{more}",
        bad.len(),
        listed.join("\n")
    )))
}

/// The bad samples among `indices`, with what is wrong.
fn check_part(data: &dyn MultiTaskDataset, indices: &[usize]) -> Vec<(usize, String)> {
    (indices.iter())
        .filter_map(|&index| match data.sample(index).and_then(|s| finite(&s)) {
            Ok(()) => None,
            // The listing says it is about the dataset once, not on every line.
            Err(Error::Dataset(message)) => Some((index, message)),
            Err(error) => Some((index, error.to_string())),
        })
        .collect()
}

/// The image and every target value a loss or metric reads are finite.
fn finite(sample: &MultiTaskSample) -> Result<()> {
    let first_bad = |values: &[f32], valid: Option<&Vec<bool>>, pixels: usize| {
        (values.iter().enumerate())
            .find(|&(i, v)| !v.is_finite() && valid.is_none_or(|m| m[i % pixels]))
            .map(|(i, &v)| (i, v))
    };
    let image = &sample.image;
    let pixels = image.height * image.width;
    if let Some((i, v)) = first_bad(&image.data, None, pixels.max(1)) {
        return Err(Error::Dataset(format!(
            "image value {v} at channel {}, pixel {}",
            i / pixels.max(1),
            i % pixels.max(1)
        )));
    }
    for (task, target) in sample.targets.iter().enumerate() {
        let bad = match target {
            TargetData::Dense { values, valid } | TargetData::Normals { values, valid } => {
                let pixels = (values.height * values.width).max(1);
                first_bad(&values.data, valid.as_ref(), pixels)
            }
            TargetData::SoftLabels(p) => first_bad(p, None, 1),
            TargetData::Labels { .. } | TargetData::Class(_) => None,
        };
        if let Some((i, v)) = bad {
            return Err(Error::Dataset(format!(
                "target {task} ({}) value {v} at index {i}, where it counts",
                target.kind()
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{Image, InMemoryDataset};

    /// A 1 x 2 x 2 image and a dense 1 x 2 x 2 target whose pixel 3 is invalid.
    fn sample(image: [f32; 4], target: [f32; 4]) -> MultiTaskSample {
        MultiTaskSample {
            image: Image::new(image.to_vec(), 1, 2, 2).unwrap(),
            targets: vec![TargetData::Dense {
                values: Image::new(target.to_vec(), 1, 2, 2).unwrap(),
                valid: Some(vec![true, true, true, false]),
            }],
        }
    }

    #[test]
    fn targets_are_checked_against_the_tasks_by_name_and_order() {
        let samples = vec![sample([0.0; 4], [0.0; 4])];
        let unnamed = InMemoryDataset::new(samples.clone());
        assert!(
            check_targets(&unnamed, &["anything"]).is_ok(),
            "unnamed: by position"
        );
        let named = InMemoryDataset::new(samples).with_target_names(["seg", "normal"]);
        assert!(check_targets(&named, &["seg", "normal"]).is_ok());
        for tasks in [
            &["normal", "seg"][..],
            &["seg"],
            &["seg", "normal", "depth"],
            &["seg", "depth"],
        ] {
            let err = check_targets(&named, tasks).unwrap_err().to_string();
            assert!(
                err.contains(&format!(
                    "tasks {tasks:?} do not match the dataset's targets [\"seg\", \"normal\"]"
                )),
                "{err}"
            );
        }
    }

    #[test]
    fn every_bad_sample_is_counted_and_the_first_twenty_listed() {
        let good = sample([0.0; 4], [1.0, 2.0, 3.0, f32::NAN]); // NaN where it does not count
        let nan_image = sample([0.0, f32::NAN, 0.0, 0.0], [0.0; 4]);
        let inf_target = sample([0.0; 4], [0.0, f32::INFINITY, 0.0, 0.0]);
        // 100 samples (two chunks): every fourth a NaN image, sample 50 an infinite target.
        let samples: Vec<_> = (0..100)
            .map(|i| match i {
                50 => inf_target.clone(),
                i if i % 4 == 1 => nan_image.clone(),
                _ => good.clone(),
            })
            .collect();
        let mut reports = Vec::new();
        let err = check_samples(&InMemoryDataset::new(samples), "test set", |d, t| {
            reports.push((d, t))
        })
        .unwrap_err()
        .to_string();
        assert_eq!(reports, [(64, 100), (100, 100)]);
        // 25 NaN images (1, 5, ..., 97) and sample 50.
        assert!(
            err.contains("test set: 26 of 100 samples cannot be used"),
            "{err}"
        );
        assert!(err.contains("sample 1: image value NaN at channel 0, pixel 1"));
        assert!(err.contains("sample 50: target 0 (dense values) value inf at index 1"));
        assert_eq!(err.matches("\n  sample ").count(), LISTED_BAD_SAMPLES);
        assert!(err.ends_with("... and 6 more"), "{err}");
        assert!(
            !err.contains("sample 81:"),
            "only the first 20 are listed: {err}"
        );
        let fine = InMemoryDataset::new(vec![good; 3]);
        assert!(check_samples(&fine, "training set", |_, _| {}).is_ok());
    }
}
