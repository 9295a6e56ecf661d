//! Evaluation of a network's task losses over a whole dataset.

use burn::module::Module;

use super::{check_tasks, scalar};
use crate::arch::Connectivity;
use crate::branch::TaskBranch;
use crate::data::MultiTaskDataset;
use crate::net::Supernet;
use crate::rng::SeededRng;
use crate::task::Task;
use crate::{Error, Result};

/// Each task's loss over all of `data`, with the network in evaluation mode (batch norm uses
/// its running statistics, no gradients) and the edges weighted by `connectivity` (use
/// [`Connectivity::Hard`] for the searched network as it is, without retraining). Batch means
/// are weighted by batch size, so the result is the mean over samples. `seed` drives the
/// connectivity noise of the sampling modes.
///
/// # Errors
/// An empty dataset, zero batch size, tasks that do not match the space, or a dataset error.
pub fn evaluate_losses<B: TaskBranch>(
    net: &Supernet<B>,
    tasks: &[Box<dyn Task>],
    data: &dyn MultiTaskDataset,
    connectivity: Connectivity,
    batch_size: usize,
    seed: u64,
) -> Result<Vec<f64>> {
    check_tasks(net.space().tasks(), tasks)?;
    if data.is_empty() {
        return Err(Error::Dataset("cannot evaluate on an empty dataset".into()));
    }
    if batch_size == 0 {
        return Err(Error::config("batch_size", "must be at least 1"));
    }
    let net = net.valid();
    let device = net.architecture.logits.device();
    let mut rng = SeededRng::new(seed);
    let mut sums = vec![0.0f64; tasks.len()];
    let indices: Vec<usize> = (0..data.len()).collect();
    for chunk in indices.chunks(batch_size) {
        let batch = data.batch(chunk, None, &device)?;
        let weights = net.architecture.connectivity(connectivity, &mut rng);
        let outputs = net.forward(batch.images.clone(), &weights)?;
        for (t, (task, output)) in tasks.iter().zip(outputs).enumerate() {
            let loss = task.loss(output, &batch.targets[t])?;
            sums[t] += scalar(&loss) * chunk.len() as f64;
        }
    }
    Ok(sums.into_iter().map(|s| s / data.len() as f64).collect())
}
