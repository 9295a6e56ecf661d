//! Image classification with hard or soft labels: cross-entropy, top-1 and top-5 accuracy.

use burn::tensor::activation::log_softmax;
use burn::tensor::{Int, Tensor};

use super::{Task, host_f32, host_i64, wrong_target};
use crate::data::Target;
use crate::metrics::{Metric, MetricAccumulator};
use crate::{Error, Result};

/// One label per image. The head's output `[batch, classes, h, w]` is averaged over space
/// (a pooled head gives `h = w = 1`). With hard labels ([`Target::Class`]) the loss is
/// cross-entropy; with soft labels ([`Target::SoftLabels`], a distribution per image, as
/// Taskonomy's object and scene targets) it is the cross-entropy against that distribution.
/// Top-k accuracy counts the argmax of a soft label as the true class.
#[derive(Clone, Debug)]
pub struct Classification {
    name: String,
    classes: usize,
}

impl Classification {
    /// Classification into `classes` classes.
    pub fn new(name: impl Into<String>, classes: usize) -> Self {
        Self {
            name: name.into(),
            classes,
        }
    }

    /// Logits `[batch, classes]`.
    fn logits(&self, prediction: Tensor<4>, batch: usize) -> Result<Tensor<2>> {
        let [b, c, _, _] = prediction.dims();
        if b != batch || c != self.classes {
            return Err(Error::shape(
                format!("prediction of task `{}`", self.name),
                format!("batch {batch} with {} classes", self.classes),
                format!("batch {b} with {c} channels"),
            ));
        }
        Ok(prediction
            .mean_dim(3)
            .mean_dim(2)
            .reshape([batch, self.classes]))
    }

    /// The true class per image, from hard or soft labels.
    fn truth(&self, target: &Target) -> Result<Tensor<1, Int>> {
        match target {
            Target::Class(c) => Ok(c.clone()),
            Target::SoftLabels(p) => Ok(p.clone().argmax(1).squeeze_dim(1)),
            other => Err(wrong_target(&self.name, "classes or soft labels", other)),
        }
    }
}

impl Task for Classification {
    fn name(&self) -> &str {
        &self.name
    }

    fn outputs(&self) -> usize {
        self.classes
    }

    fn loss(&self, prediction: Tensor<4>, target: &Target) -> Result<Tensor<1>> {
        match target {
            Target::Class(labels) => {
                let [batch] = labels.dims();
                let log_p = log_softmax(self.logits(prediction, batch)?, 1);
                let classes = self.classes as i64;
                if let Some(bad) = (host_i64(labels.clone())?.into_iter())
                    .find(|label| !(0..classes).contains(label))
                {
                    return Err(Error::Dataset(format!(
                        "task `{}`: class label {bad} outside 0..{classes}",
                        self.name
                    )));
                }
                let labels = labels.clone();
                let picked = log_p.gather(1, labels.unsqueeze_dim::<2>(1));
                Ok(picked.mean().neg())
            }
            Target::SoftLabels(p) => {
                let [batch, classes] = p.dims();
                if classes != self.classes {
                    return Err(wrong_target(
                        &self.name,
                        &format!("soft labels over {} classes", self.classes),
                        target,
                    ));
                }
                let log_q = log_softmax(self.logits(prediction, batch)?, 1);
                Ok((p.clone() * log_q).sum_dim(1).mean().neg())
            }
            other => Err(wrong_target(&self.name, "classes or soft labels", other)),
        }
    }

    fn metrics(&self) -> Vec<Metric> {
        vec![Metric::higher("top-1"), Metric::higher("top-5")]
    }

    fn accumulator(&self) -> Box<dyn MetricAccumulator> {
        Box::new(TopK {
            task: self.clone(),
            count: 0,
            top1: 0,
            top5: 0,
        })
    }
}

struct TopK {
    task: Classification,
    count: u64,
    top1: u64,
    top5: u64,
}

impl MetricAccumulator for TopK {
    fn update(&mut self, prediction: Tensor<4>, target: &Target) -> Result<()> {
        let truth = host_i64(self.task.truth(target)?)?;
        let logits = host_f32(self.task.logits(prediction, truth.len())?)?;
        let k = self.task.classes;
        for (row, &t) in logits.chunks(k).zip(&truth) {
            let score = row.get(t as usize).copied().unwrap_or(f32::NEG_INFINITY);
            // Rank of the true class, ties broken towards the lower index (as argmax does).
            let above = row
                .iter()
                .enumerate()
                .filter(|&(j, &v)| v > score || (v == score && j < t as usize))
                .count();
            self.count += 1;
            self.top1 += u64::from(above < 1);
            self.top5 += u64::from(above < 5);
        }
        Ok(())
    }

    fn values(&self) -> Vec<f64> {
        let n = self.count.max(1) as f64;
        vec![self.top1 as f64 / n, self.top5 as f64 / n]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::tensor_to_vec;
    use burn::tensor::{Device, TensorData};

    #[test]
    fn hard_and_soft_cross_entropy_by_hand() {
        // Two images, 3 classes, logits (0, ln 2, 0) -> softmax (1/4, 1/2, 1/4); and
        // (0, 0, 0) -> (1/3, 1/3, 1/3). Labels 1 and 2: CE = (ln 2 + ln 3) / 2 = 0.895880.
        let device = Device::flex();
        let l2 = std::f32::consts::LN_2;
        let logits = Tensor::<4>::from_floats(
            [[[[0.0]], [[l2]], [[0.0]]], [[[0.0]], [[0.0]], [[0.0]]]],
            &device,
        );
        let task = Classification::new("object", 3);
        let labels = Target::Class(Tensor::from_data(
            TensorData::new(vec![1i32, 2], [2]),
            &device,
        ));
        let ce = tensor_to_vec(task.loss(logits.clone(), &labels).unwrap()).unwrap()[0];
        assert!((ce - 0.895880).abs() < 1e-5, "{ce}");
        // Soft labels (0, 1, 0) and (0, 0, 1) give the same value; (1/2, 1/2, 0) on image 1
        // gives (ln 4 + ln 2) / 2 = 1.039721 there: mean with ln 3 = (1.039721 + 1.098612) / 2.
        let soft = |v: Vec<f32>| {
            Target::SoftLabels(Tensor::from_data(TensorData::new(v, [2, 3]), &device))
        };
        let same = tensor_to_vec(
            task.loss(logits.clone(), &soft(vec![0., 1., 0., 0., 0., 1.]))
                .unwrap(),
        )
        .unwrap()[0];
        assert!((same - ce).abs() < 1e-6);
        let mixed = tensor_to_vec(
            task.loss(logits.clone(), &soft(vec![0.5, 0.5, 0., 0., 0., 1.]))
                .unwrap(),
        )
        .unwrap()[0];
        assert!(
            (mixed - (1.039721 + 1.098612) / 2.0).abs() < 1e-5,
            "{mixed}"
        );
        // Top-1: image 0 predicts class 1 (right); image 1 ties everywhere and argmax picks
        // class 0, so it is wrong at top-1 and right at top-5.
        let mut acc = task.accumulator();
        acc.update(logits.clone(), &labels).unwrap();
        assert_eq!(acc.values(), vec![0.5, 1.0]);
        // A label outside 0..3 is an error, not clamped into a class.
        let bad = Target::Class(Tensor::from_data(
            TensorData::new(vec![1i32, 3], [2]),
            &device,
        ));
        let err = task.loss(logits, &bad).unwrap_err().to_string();
        assert!(
            err.contains("task `object`: class label 3 outside 0..3"),
            "{err}"
        );
    }
}
