//! Evaluation of a network over a whole dataset: task losses and metrics.

use std::fmt;

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::{check_tasks, scalar};
use crate::arch::Connectivity;
use crate::branch::TaskBranch;
use crate::data::{MultiTaskBatch, MultiTaskDataset, check_targets};
use crate::metrics::TaskMetrics;
use crate::net::{MultiTaskNetwork, Supernet};
use crate::rng::SeededRng;
use crate::task::{Task, task_names};
use crate::{Error, Result};

/// Losses and metrics of every task over a dataset.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    /// Each task's mean loss per sample.
    pub losses: Vec<f64>,
    /// Each task's metrics over the whole set.
    pub metrics: Vec<TaskMetrics>,
}

impl fmt::Display for Evaluation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (loss, metrics) in self.losses.iter().zip(&self.metrics) {
            writeln!(f, "{metrics} (loss {loss:.4})")?;
        }
        Ok(())
    }
}

/// Evaluates `net` on all of `data` in evaluation mode (batch norm uses its running
/// statistics, no dropout, no gradients), with the edges weighted by `connectivity`: use
/// [`Connectivity::Hard`] for the searched network as it is, without retraining. Losses are
/// means over samples; metrics are accumulated over every pixel of the set. `seed` drives the
/// connectivity noise of the sampling modes.
///
/// # Errors
/// An empty dataset, zero batch size, tasks that do not match the space, or a dataset error.
pub fn evaluate<B: TaskBranch>(
    net: &Supernet<B>,
    tasks: &[Box<dyn Task>],
    data: &dyn MultiTaskDataset,
    connectivity: Connectivity,
    batch_size: usize,
    seed: u64,
) -> Result<Evaluation> {
    check_tasks(net.space().tasks(), tasks)?;
    let net = net.valid();
    let device = net.architecture.logits.device();
    let mut rng = SeededRng::new(seed);
    evaluate_with(tasks, data, batch_size, &device, |batch| {
        let images = batch.images.clone();
        let weights = net.architecture.connectivity(connectivity, &mut rng)?;
        net.forward(images, &weights)
    })
}

/// Evaluates any [`MultiTaskNetwork`] (a baseline, a derived network) on all of `data` in
/// evaluation mode: `tasks` in the network's output order.
///
/// # Errors
/// As [`evaluate`], and a task count different from the network's outputs.
pub fn evaluate_network<N: MultiTaskNetwork>(
    net: &N,
    tasks: &[Box<dyn Task>],
    data: &dyn MultiTaskDataset,
    batch_size: usize,
) -> Result<Evaluation> {
    let net = net.valid();
    let device = net
        .devices()
        .first()
        .cloned()
        .ok_or_else(|| Error::config("network", "has no parameters, so no device"))?;
    evaluate_with(tasks, data, batch_size, &device, |batch| {
        net.task_outputs(batch.images.clone())
    })
}

/// The evaluation loop shared by every network kind (and the constant baseline): `forward`
/// gives each task's prediction for a batch.
pub(super) fn evaluate_with(
    tasks: &[Box<dyn Task>],
    data: &dyn MultiTaskDataset,
    batch_size: usize,
    device: &Device,
    mut forward: impl FnMut(&MultiTaskBatch) -> Result<Vec<Tensor<4>>>,
) -> Result<Evaluation> {
    if data.is_empty() {
        return Err(Error::Dataset("cannot evaluate on an empty dataset".into()));
    }
    check_targets(data, &task_names(tasks))?;
    if batch_size == 0 {
        return Err(Error::config("batch_size", "must be at least 1"));
    }
    let mut sums = vec![0.0f64; tasks.len()];
    let mut accumulators: Vec<_> = tasks.iter().map(|t| t.accumulator()).collect();
    let indices: Vec<usize> = (0..data.len()).collect();
    for chunk in indices.chunks(batch_size) {
        let batch = data.batch(chunk, None, device)?;
        let outputs = forward(&batch)?;
        if outputs.len() != tasks.len() {
            return Err(Error::shape(
                "evaluation",
                format!("{} tasks", outputs.len()),
                tasks.len().to_string(),
            ));
        }
        for (t, (task, output)) in tasks.iter().zip(outputs).enumerate() {
            let target = batch.targets.get(t).ok_or_else(|| {
                Error::Dataset(format!(
                    "the dataset gives no target for task `{}`",
                    task.name()
                ))
            })?;
            let loss = scalar(&task.loss(output.clone(), target)?);
            sums[t] += loss * chunk.len() as f64;
            accumulators[t].add_loss(loss, chunk.len());
            accumulators[t].update(output, target)?;
        }
    }
    Ok(Evaluation {
        losses: sums.into_iter().map(|s| s / data.len() as f64).collect(),
        metrics: tasks
            .iter()
            .zip(&accumulators)
            .map(|(task, acc)| TaskMetrics {
                task: task.name().to_string(),
                metrics: task.metrics(),
                values: acc.values(),
            })
            .collect(),
    })
}

/// Each task's mean loss over `data`: [`evaluate`] without the metrics.
pub fn evaluate_losses<B: TaskBranch>(
    net: &Supernet<B>,
    tasks: &[Box<dyn Task>],
    data: &dyn MultiTaskDataset,
    connectivity: Connectivity,
    batch_size: usize,
    seed: u64,
) -> Result<Vec<f64>> {
    Ok(evaluate(net, tasks, data, connectivity, batch_size, seed)?.losses)
}
