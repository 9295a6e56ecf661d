//! A toy multi-task problem whose answer is known: for checking a search in seconds.

use std::f32::consts::PI;

use rand::RngExt;

use super::{Image, InMemoryDataset, MultiTaskSample, TargetData};
use crate::rng::SeededRng;
use crate::{Error, Result};

/// Cross-modal copying: images with one channel per task (one "modality" each), where task `t`'s
/// branch should read only channel `t` ([`SmallCnnConfig::with_input_view`]). Every task must
/// reproduce channel 0, so task 0 solves its problem alone and every other task can only solve
/// it with task 0's features: a search should keep edges from task 0 into the others and has no
/// use for the rest.
///
/// [`SmallCnnConfig::with_input_view`]: crate::branch::SmallCnnConfig::with_input_view
#[derive(Clone, Debug, PartialEq)]
pub struct CrossModalCopy {
    /// Number of tasks (and channels), at least 2.
    pub tasks: usize,
    /// Image height and width.
    pub size: usize,
    /// Number of samples.
    pub samples: usize,
    /// Smooth channels (sums of four random low-frequency cosines) instead of independent
    /// pixels; smooth targets survive a strided branch and an upsampled prediction.
    pub smooth: bool,
    /// Seed of the draws.
    pub seed: u64,
}

impl CrossModalCopy {
    /// `samples` images of `size` x `size` pixels for `tasks` tasks, independent N(0, 1)-like
    /// pixels, seeded by `seed`.
    pub fn new(tasks: usize, size: usize, samples: usize, seed: u64) -> Self {
        Self {
            tasks,
            size,
            samples,
            smooth: false,
            seed,
        }
    }

    /// The same with smooth channels.
    pub fn smooth(mut self) -> Self {
        self.smooth = true;
        self
    }

    /// Draws the dataset. Every channel has zero mean and unit variance.
    ///
    /// # Errors
    /// Fewer than two tasks, or zero size or samples.
    pub fn generate(&self) -> Result<InMemoryDataset> {
        if self.tasks < 2 || self.size == 0 || self.samples == 0 {
            return Err(Error::config(
                "cross_modal_copy",
                format!(
                    "needs at least 2 tasks and a positive size and sample count, got {} tasks, \
                     size {}, {} samples",
                    self.tasks, self.size, self.samples
                ),
            ));
        }
        let mut rng = SeededRng::new(self.seed);
        let pixels = self.size * self.size;
        let samples = (0..self.samples)
            .map(|_| {
                let mut image = Vec::with_capacity(self.tasks * pixels);
                for _ in 0..self.tasks {
                    if self.smooth {
                        image.extend(smooth_field(self.size, &mut rng));
                    } else {
                        image.extend((0..pixels).map(|_| {
                            // Sum of 4 uniforms, centred and scaled to unit variance.
                            let s: f32 = (0..4).map(|_| rng.random::<f32>()).sum();
                            (s - 2.0) * 3.0f32.sqrt()
                        }));
                    }
                }
                let channel0 = Image::new(image[..pixels].to_vec(), 1, self.size, self.size)?;
                let targets = (0..self.tasks)
                    .map(|_| TargetData::Dense {
                        values: channel0.clone(),
                        valid: None,
                    })
                    .collect();
                Ok(MultiTaskSample {
                    image: Image::new(image, self.tasks, self.size, self.size)?,
                    targets,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(InMemoryDataset::new(samples))
    }
}

/// A sum of four cosines with random phases and frequencies of at most 2 cycles per image,
/// scaled to unit variance (each cosine has variance 1/2).
fn smooth_field(size: usize, rng: &mut SeededRng) -> Vec<f32> {
    let waves: Vec<(f32, f32, f32)> = (0..4)
        .map(|_| {
            let fx = rng.random_range(0..=2) as f32;
            let fy = rng.random_range(if fx == 0.0 { 1..=2 } else { 0..=2 }) as f32;
            (fx, fy, rng.random::<f32>() * 2.0 * PI)
        })
        .collect();
    let scale = (2.0f32 / waves.len() as f32).sqrt();
    let mut field = Vec::with_capacity(size * size);
    for y in 0..size {
        for x in 0..size {
            let v: f32 = waves
                .iter()
                .map(|(fx, fy, phase)| {
                    (2.0 * PI * (fx * x as f32 + fy * y as f32) / size as f32 + phase).cos()
                })
                .sum();
            field.push(v * scale);
        }
    }
    field
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::MultiTaskDataset;

    #[test]
    fn every_target_is_channel_zero_with_unit_variance() {
        for smooth in [false, true] {
            let mut problem = CrossModalCopy::new(3, 16, 40, 1);
            problem.smooth = smooth;
            let data = problem.generate().unwrap();
            assert_eq!(data.len(), 40);
            let mut sum = 0.0f64;
            let mut squares = 0.0f64;
            for sample in data.samples() {
                assert_eq!(sample.image.shape(), [3, 16, 16]);
                for target in &sample.targets {
                    match target {
                        TargetData::Dense { values, .. } => {
                            assert_eq!(values.data, sample.image.data[..256])
                        }
                        other => panic!("{other:?}"),
                    }
                }
                for &v in &sample.image.data {
                    sum += v as f64;
                    squares += (v * v) as f64;
                }
            }
            let n = (40 * 3 * 256) as f64;
            let (mean, var) = (sum / n, squares / n - (sum / n).powi(2));
            assert!(mean.abs() < 0.1 && (var - 1.0).abs() < 0.15, "{mean} {var}");
        }
        assert!(CrossModalCopy::new(1, 8, 4, 0).generate().is_err());
        assert_eq!(
            CrossModalCopy::new(2, 8, 4, 9)
                .generate()
                .unwrap()
                .samples(),
            CrossModalCopy::new(2, 8, 4, 9)
                .generate()
                .unwrap()
                .samples()
        );
    }
}
