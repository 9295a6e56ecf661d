//! Surface-normal angle errors over a whole test set.

use serde::{Deserialize, Serialize};

/// Bins per degree of the median's histogram.
const BINS_PER_DEGREE: f64 = 100.0;

/// Angle errors (degrees) between predicted and true normals over all valid pixels of a set:
/// mean, median, RMSE, and the percentage within 11.25, 22.5, 30 and 45 degrees.
///
/// Mean, RMSE and the percentages are exact. The median comes from a histogram of 0.01-degree
/// bins (the midpoint of the bin holding the middle pixel), so it is within 0.005 degrees of
/// the exact median without keeping every angle (NYUv2's test set has 200 million pixels).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AngleErrors {
    count: u64,
    sum: f64,
    sum_of_squares: f64,
    within: [u64; 4],
    histogram: Vec<u64>,
}

/// The thresholds of the "% within" metrics, in degrees.
pub const ANGLE_THRESHOLDS: [f64; 4] = [11.25, 22.5, 30.0, 45.0];

impl Default for AngleErrors {
    fn default() -> Self {
        Self {
            count: 0,
            sum: 0.0,
            sum_of_squares: 0.0,
            within: [0; 4],
            histogram: vec![0; (180.0 * BINS_PER_DEGREE) as usize + 1],
        }
    }
}

impl AngleErrors {
    /// No angles yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds angles from cosines: `acos(clamp(cos, -1, 1))` in degrees, as the reference
    /// computes them.
    pub fn add_cosines(&mut self, cosines: &[f32]) {
        for &c in cosines {
            let angle = (c as f64).clamp(-1.0, 1.0).acos().to_degrees();
            self.add_angle(angle);
        }
    }

    /// Adds one angle in degrees (0..=180).
    pub fn add_angle(&mut self, angle: f64) {
        let angle = angle.clamp(0.0, 180.0);
        self.count += 1;
        self.sum += angle;
        self.sum_of_squares += angle * angle;
        for (count, threshold) in self.within.iter_mut().zip(ANGLE_THRESHOLDS) {
            if angle <= threshold {
                *count += 1;
            }
        }
        self.histogram[(angle * BINS_PER_DEGREE).floor() as usize] += 1;
    }

    /// Number of angles.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Mean angle.
    pub fn mean(&self) -> f64 {
        self.sum / self.count.max(1) as f64
    }

    /// Root mean square angle.
    pub fn rmse(&self) -> f64 {
        (self.sum_of_squares / self.count.max(1) as f64).sqrt()
    }

    /// Median angle (see the type's documentation for its resolution).
    pub fn median(&self) -> f64 {
        if self.count == 0 {
            return 0.0;
        }
        let middle = self.count.div_ceil(2);
        let mut seen = 0;
        for (bin, &n) in self.histogram.iter().enumerate() {
            seen += n;
            if seen >= middle {
                return (bin as f64 + 0.5) / BINS_PER_DEGREE;
            }
        }
        180.0
    }

    /// Percentage of angles at or below each of [`ANGLE_THRESHOLDS`].
    pub fn within(&self) -> [f64; 4] {
        self.within
            .map(|n| 100.0 * n as f64 / self.count.max(1) as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed_angles() {
        // Cosines 1, cos 10 deg, cos 20 deg, cos 40 deg, 0, -1 and 1.5 (clamped to 1): angles
        // 0, 10, 20, 40, 90, 180, 0. Sum 340, squares 0 + 100 + 400 + 1600 + 8100 + 32400 =
        // 42600; mean 340 / 7, RMSE sqrt(42600 / 7); median the 4th smallest, 20; within
        // 11.25: 3 of 7, 22.5: 4, 30: 4, 45: 5.
        let mut a = AngleErrors::new();
        let cos = |d: f64| d.to_radians().cos() as f32;
        a.add_cosines(&[1.0, cos(10.0), cos(20.0), cos(40.0), 0.0, -1.0, 1.5]);
        assert_eq!(a.count(), 7);
        assert!((a.mean() - 340.0 / 7.0).abs() < 1e-3);
        assert!((a.rmse() - (42600.0f64 / 7.0).sqrt()).abs() < 1e-3);
        assert!((a.median() - 20.0).abs() <= 0.01, "{}", a.median());
        let within = a.within();
        let want = [3.0, 4.0, 4.0, 5.0].map(|n: f64| 100.0 * n / 7.0);
        for (g, w) in within.iter().zip(want) {
            assert!((g - w).abs() < 1e-9, "{within:?}");
        }
    }
}
