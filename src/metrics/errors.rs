//! Per-pixel value errors: depth's absolute and relative error, a regression's MAE and MSE.

use serde::{Deserialize, Serialize};

/// Depth errors over valid pixels (ground truth > 0): mean absolute error `|d - d*|` and mean
/// relative error `|d - d*| / d*`, the pair MTAN and LibMTL report for NYUv2.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DepthErrors {
    count: u64,
    absolute: f64,
    relative: f64,
}

impl DepthErrors {
    /// No pixels yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds predictions against truths where `valid`.
    pub fn add(&mut self, predictions: &[f32], truths: &[f32], valid: &[bool]) {
        for ((&p, &t), &v) in predictions.iter().zip(truths).zip(valid) {
            if v && t > 0.0 {
                let error = (p as f64 - t as f64).abs();
                self.count += 1;
                self.absolute += error;
                self.relative += error / t as f64;
            }
        }
    }

    /// Mean absolute error.
    pub fn absolute(&self) -> f64 {
        self.absolute / self.count.max(1) as f64
    }

    /// Mean relative error.
    pub fn relative(&self) -> f64 {
        self.relative / self.count.max(1) as f64
    }
}

/// Mean absolute and mean squared error over valid elements.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ValueErrors {
    count: u64,
    absolute: f64,
    squared: f64,
}

impl ValueErrors {
    /// No elements yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds elements where `valid`.
    pub fn add(&mut self, predictions: &[f32], truths: &[f32], valid: &[bool]) {
        for ((&p, &t), &v) in predictions.iter().zip(truths).zip(valid) {
            if v {
                let e = p as f64 - t as f64;
                self.count += 1;
                self.absolute += e.abs();
                self.squared += e * e;
            }
        }
    }

    /// Mean absolute error.
    pub fn mae(&self) -> f64 {
        self.absolute / self.count.max(1) as f64
    }

    /// Mean squared error.
    pub fn mse(&self) -> f64 {
        self.squared / self.count.max(1) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed_depth_errors() {
        // Pixels (pred, truth): (1, 2), (3, 2), (5, 4), (9, 0 = invalid), (7, 8 masked out).
        // Absolute: (1 + 1 + 1) / 3 = 1; relative: (0.5 + 0.5 + 0.25) / 3 = 0.416667.
        let mut d = DepthErrors::new();
        d.add(
            &[1.0, 3.0, 5.0, 9.0, 7.0],
            &[2.0, 2.0, 4.0, 0.0, 8.0],
            &[true, true, true, true, false],
        );
        assert!((d.absolute() - 1.0).abs() < 1e-12);
        assert!((d.relative() - 1.25 / 3.0).abs() < 1e-12);
        let mut v = ValueErrors::new();
        v.add(&[1.0, -1.0, 4.0], &[0.0, 1.0, 0.0], &[true, true, false]);
        assert!((v.mae() - 1.5).abs() < 1e-12);
        assert!((v.mse() - 2.5).abs() < 1e-12);
    }
}
