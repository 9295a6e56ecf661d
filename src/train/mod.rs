//! Training a network of fixed structure (a baseline, or a derived network to fine-tune) with
//! the search's weight optimiser and schedule, on every training sample.

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use crate::data::{Augmentation, EpochSampler, MultiTaskDataset, check_targets};
use crate::net::MultiTaskNetwork;
use crate::rng::SeededRng;
use crate::search::optimizer::WeightOptimizer;
use crate::search::reads::HostReads;
use crate::search::step::{accumulate, check_step, chunk_size, skip_non_finite, weighted_loss};
use crate::search::{NonFinitePolicy, SearchConfig, StepStatus, WeightOptimizerConfig, mix_seed};
use crate::task::{Task, task_names};
use crate::{Error, Result};

/// Generator streams of a training run (the same purposes as the search's).
const ORDER_STREAM: u64 = 1;
const AUGMENT_STREAM: u64 = 2;

/// What happened in one training step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainLog {
    /// The step, from 0.
    pub iteration: usize,
    /// Each task's loss on the step's batch; empty when `step` is [`StepStatus::Skipped`].
    pub losses: Vec<f64>,
    /// Whether the step's update was applied or skipped for a non-finite loss or gradient.
    #[serde(default)]
    pub step: StepStatus,
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

/// The settings of a training run: the part of a [`SearchConfig`] the weights need (its
/// weight optimiser, poly schedule, task weights, augmentation, seed and non-finite policy).
/// `TrainConfig::from(&search)` gives a baseline the same budget of weight updates as that
/// search.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// SGD steps.
    pub steps: usize,
    /// Samples per step.
    pub batch_size: usize,
    /// Micro-batches per step: gradient accumulation over equal chunks of the batch, as
    /// [`SearchConfig::micro_batches`] (1: none).
    #[serde(default = "one")]
    pub micro_batches: usize,
    /// Seed of the data order and the augmentation.
    pub seed: u64,
    /// Weight of each task's loss, in task order; empty = 1 for every task.
    pub task_weights: Vec<f64>,
    /// The weight optimiser (learning rates, multipliers, momentum, decay, poly power).
    pub weights: WeightOptimizerConfig,
    /// Augmentation of every batch.
    pub augmentation: Augmentation,
    /// What to do with a non-finite loss or gradient.
    pub on_non_finite: NonFinitePolicy,
}

fn one() -> usize {
    1
}

impl From<&SearchConfig> for TrainConfig {
    fn from(search: &SearchConfig) -> Self {
        Self {
            steps: search.steps,
            batch_size: search.batch_size,
            micro_batches: search.micro_batches,
            seed: search.seed,
            task_weights: search.task_weights.clone(),
            weights: search.weights.clone(),
            augmentation: search.augmentation.clone(),
            on_non_finite: search.on_non_finite,
        }
    }
}

impl TrainConfig {
    /// The same settings as a search configuration's weight side (the rest at its defaults),
    /// for checks and schedules shared with the search.
    fn as_search(&self) -> SearchConfig {
        SearchConfig {
            steps: self.steps,
            batch_size: self.batch_size,
            micro_batches: self.micro_batches,
            seed: self.seed,
            task_weights: self.task_weights.clone(),
            weights: self.weights.clone(),
            augmentation: self.augmentation.clone(),
            on_non_finite: self.on_non_finite,
            ..SearchConfig::default()
        }
    }

    /// Checks every value for a run over `tasks` tasks (as [`SearchConfig::validate`] checks
    /// the same fields).
    ///
    /// # Errors
    /// The first invalid field.
    pub fn validate(&self, tasks: usize) -> Result<()> {
        self.as_search().validate(tasks)
    }
}

/// Trains `net` for `config.steps` SGD steps of `config.batch_size` samples drawn from all of
/// `data` (a fresh order each epoch), with the weight optimiser, poly schedule, task weights,
/// augmentation and seed of `config`.
///
/// # Errors
/// An invalid configuration, a network not on an autodiff device, a dataset error, or a
/// non-finite loss.
pub fn train<N: MultiTaskNetwork>(
    net: N,
    tasks: &[Box<dyn Task>],
    data: &dyn MultiTaskDataset,
    config: &TrainConfig,
    mut observe: impl FnMut(&TrainLog),
) -> Result<TrainOutcome<N>> {
    config.validate(tasks.len())?;
    check_targets(data, &task_names(tasks))?;
    let schedule = config.as_search();
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
        let indices = sampler.next_batch(config.batch_size);
        let batches = (indices.chunks(chunk_size(indices.len(), config.micro_batches)))
            .map(|chunk| data.batch(chunk, Some((&config.augmentation, &mut augment)), &device))
            .collect::<Result<Vec<_>>>()?;
        let factor = schedule.poly_factor_at(iteration);
        let task_weight = |t| schedule.task_weight(t);
        let (gradients, losses) = accumulate(
            &net,
            &batches,
            |batch| {
                let outputs = net.task_outputs(batch.images.clone())?;
                weighted_loss(outputs, tasks, task_weight, batch, "weight")
            },
            |loss| loss,
            |grads| optimizer.gradients(&net, grads),
        )?;
        // The losses and the non-finite check in one read.
        let mut reads = HostReads::default();
        let non_finite = optimizer.non_finite(&gradients, &device);
        let values = reads.push(Tensor::cat(vec![losses, non_finite], 0));
        let checked = check_step(reads.get(values)?, tasks, iteration, "weight");
        let (losses, step) = match skip_non_finite(checked, skip, &mut skipped_batches)? {
            Some(losses) => {
                net = optimizer.step(net, gradients, factor);
                (losses, StepStatus::Applied)
            }
            None => (Vec::new(), StepStatus::Skipped),
        };
        let log = TrainLog {
            iteration,
            losses,
            step,
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
