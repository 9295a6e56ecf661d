//! The confusion matrix behind segmentation's mIoU and pixel accuracy.

use serde::{Deserialize, Serialize};

/// Counts of (prediction, ground truth) pairs over labelled pixels.
///
/// As the reference defines them: `IoU_c = n_cc / (row_c + col_c - n_cc + 1e-16)`, mIoU is the
/// mean over **all** classes (a class absent from both prediction and ground truth counts as
/// 0), pixel accuracy is correct / labelled pixels.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfusionMatrix {
    classes: usize,
    /// `counts[prediction * classes + truth]`.
    counts: Vec<u64>,
}

impl ConfusionMatrix {
    /// An empty matrix over `classes` classes.
    pub fn new(classes: usize) -> Self {
        Self {
            classes,
            counts: vec![0; classes * classes],
        }
    }

    /// Number of classes.
    pub fn classes(&self) -> usize {
        self.classes
    }

    /// Adds pixels: `predictions[i]` against `truths[i]`; a truth outside `0..classes` (the
    /// ignore label) is skipped, as is a prediction outside it.
    pub fn add(&mut self, predictions: &[i64], truths: &[i64]) {
        let k = self.classes as i64;
        for (&p, &t) in predictions.iter().zip(truths) {
            if (0..k).contains(&t) && (0..k).contains(&p) {
                self.counts[(p * k + t) as usize] += 1;
            }
        }
    }

    /// The count of pixels predicted `prediction` whose truth is `truth`.
    pub fn count(&self, prediction: usize, truth: usize) -> u64 {
        self.counts[prediction * self.classes + truth]
    }

    /// IoU of every class.
    pub fn intersection_over_union(&self) -> Vec<f64> {
        (0..self.classes)
            .map(|c| {
                let diag = self.count(c, c) as f64;
                let predicted: u64 = (0..self.classes).map(|t| self.count(c, t)).sum();
                let actual: u64 = (0..self.classes).map(|p| self.count(p, c)).sum();
                diag / (predicted as f64 + actual as f64 - diag + 1e-16)
            })
            .collect()
    }

    /// Mean IoU over all classes.
    pub fn mean_iou(&self) -> f64 {
        let iou = self.intersection_over_union();
        iou.iter().sum::<f64>() / iou.len().max(1) as f64
    }

    /// Correct pixels over labelled pixels (0 when nothing is labelled).
    pub fn pixel_accuracy(&self) -> f64 {
        let total: u64 = self.counts.iter().sum();
        let correct: u64 = (0..self.classes).map(|c| self.count(c, c)).sum();
        if total == 0 {
            0.0
        } else {
            correct as f64 / total as f64
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed_confusion_matrix() {
        // 3 classes, truths with one ignored pixel (255):
        //   truth:      0 0 1 1 2 2 255
        //   prediction: 0 1 1 1 0 2 2
        // Matrix [prediction][truth]: (0,0)=1 (1,0)=1 (1,1)=2 (0,2)=1 (2,2)=1.
        // IoU_0 = 1 / (2 + 2 - 1) = 1/3; IoU_1 = 2 / (3 + 2 - 2) = 2/3; IoU_2 = 1 / (1 + 2 - 1)
        // = 1/2. mIoU = (1/3 + 2/3 + 1/2) / 3 = 0.5. Pixel accuracy = 4 / 6.
        let mut m = ConfusionMatrix::new(3);
        m.add(&[0, 1, 1, 1, 0, 2, 2], &[0, 0, 1, 1, 2, 2, 255]);
        assert_eq!(m.count(1, 0), 1);
        let iou = m.intersection_over_union();
        for (got, want) in iou.iter().zip([1.0 / 3.0, 2.0 / 3.0, 0.5]) {
            assert!((got - want).abs() < 1e-12);
        }
        assert!((m.mean_iou() - 0.5).abs() < 1e-12);
        assert!((m.pixel_accuracy() - 4.0 / 6.0).abs() < 1e-12);
    }

    #[test]
    fn absent_classes_count_as_zero_in_the_mean() {
        // The reference averages over all classes: class 2 never appears, so mIoU = (1 + 1 +
        // 0) / 3 although every labelled pixel is right.
        let mut m = ConfusionMatrix::new(3);
        m.add(&[0, 1], &[0, 1]);
        assert!((m.mean_iou() - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(m.pixel_accuracy(), 1.0);
        assert_eq!(ConfusionMatrix::new(2).pixel_accuracy(), 0.0);
    }
}
