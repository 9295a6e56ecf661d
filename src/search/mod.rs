//! The search: alternating first-order updates of the architecture logits (Adam, on a search
//! batch, task losses plus the entropy regulariser) and of the network weights (SGD, on a
//! train batch, under a relaxed-Bernoulli connectivity), then the discrete read-out.
//!
//! ```no_run
//! # use mtl_nas::prelude::*;
//! # fn demo(net: Supernet<SmallCnn>, tasks: Vec<Box<dyn Task>>, data: InMemoryDataset) -> mtl_nas::Result<()> {
//! let outcome = Search::new(SearchConfig { steps: 500, batch_size: 8, ..Default::default() })
//!     .run(net, &tasks, &data)?;
//! println!("{}", outcome.architecture);
//! # Ok(()) }
//! ```

mod config;
mod evaluate;
pub(crate) mod optimizer;

pub use config::{
    ArchitectureOptimizerConfig, EntropySchedule, SearchConfig, WeightOptimizerConfig,
    WeightStepConnectivity,
};
pub use evaluate::{Evaluation, evaluate, evaluate_losses, evaluate_network};

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use crate::arch::{Architecture, Connectivity, PairAverage, entropy, l1};
use crate::branch::TaskBranch;
use crate::data::{EpochSplit, MultiTaskBatch, MultiTaskDataset};
use crate::net::Supernet;
use crate::rng::SeededRng;
use crate::task::Task;
use crate::{Error, Result};
use optimizer::{ArchitectureOptimizer, WeightOptimizer};

/// Generator streams of a search, one per purpose, so e.g. changing the augmentation does not
/// change the connectivity noise.
const SPLIT_STREAM: u64 = 1;
const AUGMENT_STREAM: u64 = 2;
const NOISE_STREAM: u64 = 3;

/// What happened in one search iteration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IterationLog {
    /// The iteration, from 0.
    pub iteration: usize,
    /// Each task's loss on the architecture step's search batch.
    pub architecture_losses: Vec<f64>,
    /// Each task's loss on the weight step's train batch.
    pub weight_losses: Vec<f64>,
    /// The entropy regulariser `H` before the architecture step.
    pub entropy: f64,
    /// Its weight `lambda` at this iteration.
    pub entropy_weight: f64,
    /// The relaxed-Bernoulli temperature of the weight step.
    pub temperature: f64,
    /// The base learning rate of the weight step (after the poly decay, before multipliers).
    pub learning_rate: f64,
    /// Edges with a positive logit after the iteration.
    pub kept_edges: usize,
    /// The logits after the iteration, when this iteration is recorded
    /// ([`SearchConfig::record_logits_every`]) or is the last.
    pub logits: Option<Vec<f32>>,
}

/// The result of a search.
#[derive(Debug)]
pub struct SearchOutcome<B: TaskBranch> {
    /// The supernet with its searched weights and logits.
    pub network: Supernet<B>,
    /// The discrete architecture the logits select.
    pub architecture: Architecture,
    /// One log per iteration.
    pub history: Vec<IterationLog>,
}

/// Runs the alternating search of the reference implementation.
#[derive(Clone, Debug)]
pub struct Search {
    config: SearchConfig,
}

impl Search {
    /// A search with these settings.
    pub fn new(config: SearchConfig) -> Self {
        Self { config }
    }

    /// The settings.
    pub fn config(&self) -> &SearchConfig {
        &self.config
    }

    /// Searches `net` on `data` (split into weight and architecture parts each epoch) for
    /// `tasks` (one per branch, in the space's task order).
    ///
    /// # Errors
    /// An invalid configuration, a task list that does not match the space, a network not on
    /// an autodiff device, a dataset error, or a non-finite loss.
    pub fn run<B: TaskBranch>(
        &self,
        net: Supernet<B>,
        tasks: &[Box<dyn Task>],
        data: &dyn MultiTaskDataset,
    ) -> Result<SearchOutcome<B>> {
        self.run_observed(net, tasks, data, |_| {})
    }

    /// Like [`Search::run`], calling `observe` after every iteration (for progress bars and
    /// logs).
    pub fn run_observed<B: TaskBranch>(
        &self,
        mut net: Supernet<B>,
        tasks: &[Box<dyn Task>],
        data: &dyn MultiTaskDataset,
        mut observe: impl FnMut(&IterationLog),
    ) -> Result<SearchOutcome<B>> {
        let config = &self.config;
        config.validate(tasks.len())?;
        check_tasks(net.space().tasks(), tasks)?;
        let device = net.architecture.logits.device();
        if !device.is_autodiff() {
            return Err(Error::config(
                "device",
                "the search trains: put the supernet on an autodiff device (device.autodiff())",
            ));
        }
        // Dropout draws from the device's generator: seed it too.
        device.seed(config.seed);
        let mut split = EpochSplit::new(
            data.len(),
            config.train_split,
            SeededRng::stream(config.seed, SPLIT_STREAM),
        )?;
        let mut augment = SeededRng::stream(config.seed, AUGMENT_STREAM);
        let mut noise = SeededRng::stream(config.seed, NOISE_STREAM);
        let average = PairAverage::new(net.space());
        let roles = net.parameter_roles();
        let mut architecture_optimizer =
            ArchitectureOptimizer::new(&config.architecture, roles.architecture);
        let mut weight_optimizer = WeightOptimizer::new(&config.weights, &roles);
        let mut history = Vec::with_capacity(config.steps);

        for iteration in 0..config.steps {
            // Architecture step: sigmoid relaxation, task losses + lambda H (+ L1), Adam on
            // the logits only.
            let batch = data.batch(
                &split.next_search(config.batch_size),
                Some((&config.augmentation, &mut augment)),
                &device,
            )?;
            let weights = net
                .architecture
                .connectivity(Connectivity::Sigmoid, &mut noise);
            let (task_loss, architecture_losses) = weighted_task_loss(
                &net,
                tasks,
                config,
                &batch,
                &weights,
                iteration,
                "architecture",
            )?;
            let logits = net.architecture.logits.val();
            let regulariser = entropy(logits.clone(), &average);
            let entropy_value = scalar(&regulariser);
            let entropy_weight = config.entropy_weight_at(iteration);
            let mut loss = task_loss + regulariser.mul_scalar(entropy_weight);
            if config.l1_weight > 0.0 {
                loss = loss + l1(logits, &average, None).mul_scalar(config.l1_weight);
            }
            let mut grads = loss.backward();
            net = architecture_optimizer.step(net, &mut grads);

            // Weight step: relaxed-Bernoulli connectivity at the scheduled temperature, task
            // losses only, SGD on everything but the logits.
            let batch = data.batch(
                &split.next_train(config.batch_size),
                Some((&config.augmentation, &mut augment)),
                &device,
            )?;
            let temperature = config.temperature_at(iteration);
            let mode = match config.weight_step_connectivity {
                WeightStepConnectivity::RelaxedBernoulli => {
                    Connectivity::RelaxedBernoulli { temperature }
                }
                WeightStepConnectivity::Sigmoid => Connectivity::Sigmoid,
            };
            let weights = net.architecture.connectivity(mode, &mut noise);
            let (loss, weight_losses) =
                weighted_task_loss(&net, tasks, config, &batch, &weights, iteration, "weight")?;
            let mut grads = loss.backward();
            let factor = config.poly_factor_at(iteration);
            net = weight_optimizer.step(net, &mut grads, factor);

            let logits = net.architecture.logit_values();
            let last = iteration + 1 == config.steps;
            let record = last
                || (config.record_logits_every > 0 && iteration % config.record_logits_every == 0);
            let log = IterationLog {
                iteration,
                architecture_losses,
                weight_losses,
                entropy: entropy_value,
                entropy_weight,
                temperature,
                learning_rate: config.weights.learning_rate * factor,
                kept_edges: logits.iter().filter(|&&a| a > 0.0).count(),
                logits: record.then_some(logits),
            };
            observe(&log);
            history.push(log);
        }
        let architecture =
            Architecture::from_logits(net.space(), &net.architecture.logit_values())?;
        Ok(SearchOutcome {
            network: net,
            architecture,
            history,
        })
    }
}

/// `sum_t w_t L_t` on `batch`, with each task's loss read back (and checked to be finite).
fn weighted_task_loss<B: TaskBranch>(
    net: &Supernet<B>,
    tasks: &[Box<dyn Task>],
    config: &SearchConfig,
    batch: &MultiTaskBatch,
    weights: &crate::arch::EdgeWeights,
    iteration: usize,
    phase: &str,
) -> Result<(Tensor<1>, Vec<f64>)> {
    let outputs = net.forward(batch.images.clone(), weights)?;
    let mut total: Option<Tensor<1>> = None;
    let mut values = Vec::with_capacity(tasks.len());
    for (t, (task, output)) in tasks.iter().zip(outputs).enumerate() {
        let target = batch.targets.get(t).ok_or_else(|| {
            Error::Dataset(format!(
                "the batch has {} targets but task `{}` is number {}",
                batch.targets.len(),
                task.name(),
                t + 1
            ))
        })?;
        let loss = task.loss(output, target)?;
        let value = scalar(&loss);
        if !value.is_finite() {
            return Err(Error::NonFinite {
                what: "loss".into(),
                iteration,
                phase: phase.into(),
                task: task.name().into(),
            });
        }
        values.push(value);
        let weighted = loss.mul_scalar(config.task_weight(t));
        total = Some(match total {
            Some(sum) => sum + weighted,
            None => weighted,
        });
    }
    let total = total.ok_or_else(|| Error::config("tasks", "at least one task is needed"))?;
    Ok((total, values))
}

/// Checks that `tasks` name the space's tasks in order.
pub(crate) fn check_tasks(space_tasks: &[String], tasks: &[Box<dyn Task>]) -> Result<()> {
    let names: Vec<&str> = tasks.iter().map(|t| t.name()).collect();
    if names.len() != space_tasks.len() || names.iter().zip(space_tasks).any(|(a, b)| a != b) {
        return Err(Error::config(
            "tasks",
            format!("tasks {names:?} must be the search space's tasks {space_tasks:?}, in order"),
        ));
    }
    Ok(())
}

pub(crate) fn scalar(tensor: &Tensor<1>) -> f64 {
    tensor.clone().into_scalar::<f32>() as f64
}
