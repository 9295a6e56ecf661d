//! Tasks: what each branch predicts and the loss that trains it.

mod regression;

pub use regression::{DenseRegression, RegressionLoss};

use std::fmt::Debug;

use burn::tensor::Tensor;

use crate::Result;
use crate::data::Target;

/// One task of a multi-task problem: its head size and its loss.
pub trait Task: Debug + Send + Sync {
    /// The task's name (matches its branch's name in the search space).
    fn name(&self) -> &str;

    /// Channels the branch's head must output.
    fn outputs(&self) -> usize;

    /// The loss of `prediction` (the head's output `[batch, outputs, h, w]`) against `target`,
    /// a scalar `[1]` averaged over the batch.
    ///
    /// # Errors
    /// A target of the wrong kind or shape for this task.
    fn loss(&self, prediction: Tensor<4>, target: &Target) -> Result<Tensor<1>>;
}
