//! Training a network of fixed structure (a baseline, or a derived network to fine-tune) with
//! the search's weight optimiser and schedule, on every training sample.

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use crate::data::{EpochSampler, MultiTaskBatch, MultiTaskDataset};
use crate::net::MultiTaskNetwork;
use crate::rng::SeededRng;
use crate::search::optimizer::WeightOptimizer;
use crate::search::{NonFinitePolicy, SearchConfig, mix_seed};
use crate::task::Task;
use crate::{Error, Result};

/// Generator streams of a training run (the same purposes as the search's).
const ORDER_STREAM: u64 = 1;
const AUGMENT_STREAM: u64 = 2;

/// What happened in one training step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainLog {
    /// The step, from 0.
    pub iteration: usize,
    /// Each task's loss on the step's batch.
    pub losses: Vec<f64>,
    /// The base learning rate after the poly decay.
    pub learning_rate: f64,
}

/// A trained network and its log.
#[derive(Debug)]
pub struct TrainOutcome<N> {
    /// The trained network.
    pub network: N,
    /// One log per step.
    pub history: Vec<TrainLog>,
    /// Steps skipped for a non-finite loss or gradient
    /// ([`NonFinitePolicy::SkipBatch`]).
    pub skipped_batches: usize,
}

/// Trains `net` for `config.steps` SGD steps of `config.batch_size` samples drawn from all of
/// `data` (a fresh order each epoch), with the weight optimiser, poly schedule, task weights,
/// augmentation and seed of `config`: the same budget of weight updates as a search with that
/// configuration. `config`'s architecture settings are unused.
///
/// # Errors
/// An invalid configuration, a network not on an autodiff device, a dataset error, or a
/// non-finite loss.
pub fn train<N: MultiTaskNetwork>(
    net: N,
    tasks: &[Box<dyn Task>],
    data: &dyn MultiTaskDataset,
    config: &SearchConfig,
    mut observe: impl FnMut(&TrainLog),
) -> Result<TrainOutcome<N>> {
    config.validate(tasks.len())?;
    let device = net
        .devices()
        .first()
        .cloned()
        .ok_or_else(|| Error::config("network", "has no parameters, so no device"))?;
    if !device.is_autodiff() {
        return Err(Error::config(
            "device",
            "training needs an autodiff device (device.autodiff())",
        ));
    }
    let mut sampler = EpochSampler::new(data.len(), SeededRng::stream(config.seed, ORDER_STREAM))?;
    let mut augment = SeededRng::stream(config.seed, AUGMENT_STREAM);
    let mut optimizer = WeightOptimizer::new(&config.weights, &net.parameter_roles());
    let mut net = net;
    let mut history = Vec::with_capacity(config.steps);
    let mut skipped_batches = 0;
    let skip = config.on_non_finite == NonFinitePolicy::SkipBatch;
    for iteration in 0..config.steps {
        device.seed(mix_seed(config.seed, iteration as u64));
        let batch = data.batch(
            &sampler.next_batch(config.batch_size),
            Some((&config.augmentation, &mut augment)),
            &device,
        )?;
        let factor = config.poly_factor_at(iteration);
        let step =
            weighted_loss(&net, tasks, config, &batch, iteration).and_then(|(total, losses)| {
                let mut grads = total.backward();
                let gradients =
                    optimizer
                        .gradients(&net, &mut grads)
                        .ok_or_else(|| Error::NonFinite {
                            what: "gradient".into(),
                            iteration,
                            phase: "weight".into(),
                            task: "all tasks (the gradient of their summed loss)".into(),
                        })?;
                Ok((gradients, losses))
            });
        let losses = match step {
            Ok((gradients, losses)) => {
                net = optimizer.step(net, gradients, factor);
                losses
            }
            Err(Error::NonFinite { .. }) if skip => {
                skipped_batches += 1;
                Vec::new()
            }
            Err(e) => return Err(e),
        };
        let log = TrainLog {
            iteration,
            losses,
            learning_rate: config.weights.learning_rate * factor,
        };
        observe(&log);
        history.push(log);
    }
    Ok(TrainOutcome {
        network: net,
        history,
        skipped_batches,
    })
}

/// `sum_t w_t L_t` of `net` on `batch`, with each task's loss read back and checked.
fn weighted_loss<N: MultiTaskNetwork>(
    net: &N,
    tasks: &[Box<dyn Task>],
    config: &SearchConfig,
    batch: &MultiTaskBatch,
    iteration: usize,
) -> Result<(Tensor<1>, Vec<f64>)> {
    let outputs = net.task_outputs(batch.images.clone())?;
    if outputs.len() != tasks.len() {
        return Err(Error::shape(
            "training",
            format!("{} tasks", outputs.len()),
            tasks.len().to_string(),
        ));
    }
    let mut total: Option<Tensor<1>> = None;
    let mut losses = Vec::with_capacity(tasks.len());
    for (t, (task, output)) in tasks.iter().zip(outputs).enumerate() {
        let target = batch.targets.get(t).ok_or_else(|| {
            Error::Dataset(format!(
                "the dataset gives no target for task `{}`",
                task.name()
            ))
        })?;
        let loss = task.loss(output, target)?;
        let value = loss.clone().into_scalar::<f32>() as f64;
        if !value.is_finite() {
            return Err(Error::NonFinite {
                what: "loss".into(),
                iteration,
                phase: "weight".into(),
                task: task.name().into(),
            });
        }
        losses.push(value);
        let weighted = loss.mul_scalar(config.task_weight(t));
        total = Some(match total {
            Some(sum) => sum + weighted,
            None => weighted,
        });
    }
    let total = total.ok_or_else(|| Error::config("tasks", "at least one task is needed"))?;
    Ok((total, losses))
}
