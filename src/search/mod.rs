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

pub mod checkpoint;
mod config;
mod constant;
mod evaluate;
pub(crate) mod optimizer;
mod sweep;

pub use config::{
    ArchitectureOptimizerConfig, CostPenalty, EntropySchedule, NonFinitePolicy, PenaltySchedule,
    SearchConfig, WeightOptimizerConfig, WeightStepConnectivity,
};
pub use constant::{ConstantPrediction, evaluate_constant, fit_constants};
pub use evaluate::{Evaluation, evaluate, evaluate_losses, evaluate_network};
pub use sweep::{FrontPoint, cost_sweep, pareto_front};

use std::path::PathBuf;

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use crate::arch::{Architecture, Connectivity, PairAverage, cost_penalty, entropy, l1};
use crate::branch::TaskBranch;
use crate::cost::edge_costs;
use crate::data::{EpochSplit, MultiTaskBatch, MultiTaskDataset};
use crate::net::Supernet;
use crate::rng::SeededRng;
use crate::task::Task;
use crate::{Error, Result};
use checkpoint::LoopState;
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
    /// Steps skipped because a loss or gradient was not finite
    /// ([`NonFinitePolicy::SkipBatch`]).
    pub skipped_batches: usize,
}

/// Runs the alternating search of the reference implementation.
#[derive(Clone, Debug)]
pub struct Search {
    config: SearchConfig,
    checkpoints: Option<PathBuf>,
}

impl Search {
    /// A search with these settings.
    pub fn new(config: SearchConfig) -> Self {
        Self {
            config,
            checkpoints: None,
        }
    }

    /// Writes a checkpoint into `dir` every [`SearchConfig::checkpoint_every`] iterations
    /// (keeping the newest [`SearchConfig::keep_checkpoints`]); [`Search::resume`] continues
    /// from the newest.
    pub fn with_checkpoints(mut self, dir: impl Into<PathBuf>) -> Self {
        self.checkpoints = Some(dir.into());
        self
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
    /// an autodiff device, a dataset error, a non-finite loss or gradient (unless the policy
    /// skips it), or a checkpoint that cannot be written.
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
        net: Supernet<B>,
        tasks: &[Box<dyn Task>],
        data: &dyn MultiTaskDataset,
        observe: impl FnMut(&IterationLog),
    ) -> Result<SearchOutcome<B>> {
        let config = &self.config;
        let state = LoopState {
            iteration: 0,
            split: EpochSplit::new(
                data.len(),
                config.train_split,
                SeededRng::stream(config.seed, SPLIT_STREAM),
            )?,
            augment: SeededRng::stream(config.seed, AUGMENT_STREAM),
            noise: SeededRng::stream(config.seed, NOISE_STREAM),
            history: Vec::with_capacity(config.steps),
            skipped_batches: 0,
        };
        let roles = net.parameter_roles();
        let optimizers = (
            ArchitectureOptimizer::new(&config.architecture, roles.architecture),
            WeightOptimizer::new(&config.weights, &roles),
        );
        self.search_from(net, optimizers, state, tasks, data, observe)
    }

    /// Continues the search from the newest checkpoint in the checkpoint folder
    /// ([`Search::with_checkpoints`]). `net` must be built exactly as for the original run
    /// (same branches, space, fusion); its weights are replaced by the checkpoint's. On a CPU
    /// the result is bit-identical to an uninterrupted run.
    ///
    /// # Errors
    /// No checkpoint folder or no checkpoint in it, a checkpoint of another configuration or
    /// space, unreadable files, and everything [`Search::run`] can fail with.
    pub fn resume<B: TaskBranch>(
        &self,
        net: Supernet<B>,
        tasks: &[Box<dyn Task>],
        data: &dyn MultiTaskDataset,
        observe: impl FnMut(&IterationLog),
    ) -> Result<SearchOutcome<B>> {
        let dir = self.checkpoints.as_ref().ok_or_else(|| {
            Error::config(
                "resume",
                "no checkpoint folder: use Search::with_checkpoints",
            )
        })?;
        let (_, folder) = checkpoint::list(dir)?.pop().ok_or_else(|| {
            Error::config(
                "resume",
                format!("no complete checkpoint in {}", dir.display()),
            )
        })?;
        let (files, state) = checkpoint::read(&folder, &self.config, net.space())?;
        let net = net.load_weights(files.weights())?;
        let roles = net.parameter_roles();
        let mut architecture =
            ArchitectureOptimizer::new(&self.config.architecture, roles.architecture);
        architecture.load(&files.architecture_optimizer())?;
        let mut weights = WeightOptimizer::new(&self.config.weights, &roles);
        weights.load(&files.weight_optimizer())?;
        self.search_from(net, (architecture, weights), state, tasks, data, observe)
    }

    /// The alternating loop from `state` on.
    fn search_from<B: TaskBranch>(
        &self,
        mut net: Supernet<B>,
        (mut architecture_optimizer, mut weight_optimizer): (
            ArchitectureOptimizer,
            WeightOptimizer,
        ),
        mut state: LoopState,
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
        let average = PairAverage::new(net.space());
        let skip = config.on_non_finite == NonFinitePolicy::SkipBatch;
        // The cost-aware penalty's edge costs, priced at the first batch's image size.
        let mut costs: Option<Tensor<1>> = None;
        while state.iteration < config.steps {
            let iteration = state.iteration;
            // Dropout draws from the device's generator: seed it per iteration, so a resumed
            // run draws what an uninterrupted one would.
            device.seed(mix_seed(config.seed, iteration as u64));

            let logits = net.architecture.logits.val();
            let entropy_value = scalar(&entropy(logits, &average));
            let entropy_weight = config.entropy_weight_at(iteration);
            // No architecture step during the warm-up (the logits stay where they are).
            let warming_up = iteration < config.architecture_warmup_steps();
            let architecture_losses = if warming_up {
                Vec::new()
            } else {
                // Architecture step: sigmoid relaxation, task losses + lambda H (+ L1), Adam on
                // the logits only.
                let batch = data.batch(
                    &state.split.next_search(config.batch_size),
                    Some((&config.augmentation, &mut state.augment)),
                    &device,
                )?;
                let weights = net
                    .architecture
                    .connectivity(Connectivity::Sigmoid, &mut state.noise)?;
                let logits = net.architecture.logits.val();
                let regulariser = entropy(logits.clone(), &average);
                if config.cost_penalty.is_on() && costs.is_none() {
                    costs = Some(priced_edges(&net, &config.cost_penalty, &batch)?);
                }
                // Only the logits learn in this step: the forward pass runs on a view of the
                // network whose other weights need no gradient, so the backward pass skips every
                // weight-gradient product (the logits' gradient is unchanged, bit for bit).
                let logits_only = net.logits_only();
                let step = weighted_task_loss(
                    &logits_only,
                    tasks,
                    config,
                    &batch,
                    &weights,
                    iteration,
                    "architecture",
                )
                .and_then(|(task_loss, losses)| {
                    let mut loss = task_loss + regulariser.mul_scalar(entropy_weight);
                    if config.l1_weight > 0.0 {
                        loss =
                            loss + l1(logits.clone(), &average, None).mul_scalar(config.l1_weight);
                    }
                    if let Some(costs) = &costs {
                        let penalty =
                            cost_penalty(logits, costs.clone(), config.cost_penalty.budget);
                        let weight = config.cost_penalty.weight_at(iteration, config.steps);
                        loss = loss + penalty.mul_scalar(weight);
                    }
                    let mut grads = loss.backward();
                    let gradients = architecture_optimizer
                        .gradients(&net, &mut grads)
                        .ok_or_else(|| non_finite_gradient(iteration, "architecture"))?;
                    Ok((gradients, losses))
                });
                // Release the view before the update, so the optimiser owns each tensor alone.
                drop(logits_only);
                match skip_non_finite(step, skip, &mut state)? {
                    Some((gradients, losses)) => {
                        net = architecture_optimizer.step(net, gradients);
                        losses
                    }
                    None => Vec::new(),
                }
            };

            // Weight step: relaxed-Bernoulli connectivity at the scheduled temperature, task
            // losses only, SGD on everything but the logits.
            let batch = data.batch(
                &state.split.next_train(config.batch_size),
                Some((&config.augmentation, &mut state.augment)),
                &device,
            )?;
            let temperature = config.temperature_at(iteration);
            let mode = match config.weight_step_connectivity {
                WeightStepConnectivity::RelaxedBernoulli => {
                    Connectivity::RelaxedBernoulli { temperature }
                }
                WeightStepConnectivity::Sigmoid => Connectivity::Sigmoid,
            };
            let weights = net.architecture.connectivity(mode, &mut state.noise)?;
            let factor = config.poly_factor_at(iteration);
            let step =
                weighted_task_loss(&net, tasks, config, &batch, &weights, iteration, "weight")
                    .and_then(|(loss, losses)| {
                        let mut grads = loss.backward();
                        let gradients = weight_optimizer
                            .gradients(&net, &mut grads)
                            .ok_or_else(|| non_finite_gradient(iteration, "weight"))?;
                        Ok((gradients, losses))
                    });
            let weight_losses = match skip_non_finite(step, skip, &mut state)? {
                Some((gradients, losses)) => {
                    net = weight_optimizer.step(net, gradients, factor);
                    losses
                }
                None => Vec::new(),
            };

            let logits = net.architecture.logit_values()?;
            let last = iteration + 1 == config.steps;
            let record = last
                || (config.record_logits_every > 0
                    && iteration.is_multiple_of(config.record_logits_every));
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
            state.history.push(log);
            state.iteration += 1;
            if let Some(dir) = &self.checkpoints
                && config.checkpoint_every > 0
                && (state.iteration.is_multiple_of(config.checkpoint_every) || last)
            {
                checkpoint::write(
                    dir,
                    config.keep_checkpoints,
                    config,
                    net.space(),
                    &state,
                    |files| {
                        net.save_weights(files.weights())?;
                        architecture_optimizer.save(&files.architecture_optimizer())?;
                        weight_optimizer.save(&files.weight_optimizer())
                    },
                )?;
            }
        }
        let architecture =
            Architecture::from_logits(net.space(), &net.architecture.logit_values()?)?;
        Ok(SearchOutcome {
            network: net,
            architecture,
            history: state.history,
            skipped_batches: state.skipped_batches,
        })
    }
}

/// The cost of every edge of `net`'s space as priced by `penalty`, at `batch`'s image size,
/// as a `[num_edges]` tensor on the batch's device.
fn priced_edges<B: TaskBranch>(
    net: &Supernet<B>,
    penalty: &CostPenalty,
    batch: &MultiTaskBatch,
) -> Result<Tensor<1>> {
    let [_, _, height, width] = batch.images.dims();
    let branches: Vec<_> = net
        .branches
        .iter()
        .map(|b| b.cost([height, width]))
        .collect();
    let costs = edge_costs(net.space(), [height, width], &branches, penalty.edge_cost)?;
    let costs: Vec<f32> = costs.into_iter().map(|c| c as f32).collect();
    Ok(Tensor::from_data(
        burn::tensor::TensorData::new(costs.clone(), [costs.len()]),
        &batch.images.device(),
    ))
}

fn non_finite_gradient(iteration: usize, phase: &str) -> Error {
    Error::NonFinite {
        what: "gradient".into(),
        iteration,
        phase: phase.into(),
        task: "all tasks (the gradient of their summed loss)".into(),
    }
}

/// A per-iteration seed (SplitMix64 of the pair).
pub(crate) fn mix_seed(seed: u64, index: u64) -> u64 {
    let mut z = seed ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A step's result under the non-finite policy: `None` (and one more skipped batch) for a
/// non-finite loss or gradient when `skip` is set; every other error is returned.
fn skip_non_finite<T>(step: Result<T>, skip: bool, state: &mut LoopState) -> Result<Option<T>> {
    match step {
        Ok(value) => Ok(Some(value)),
        Err(Error::NonFinite { .. }) if skip => {
            state.skipped_batches += 1;
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// `sum_t w_t L_t` on `batch`, with each task's loss read back (and checked to be finite).
fn weighted_task_loss<B: TaskBranch>(
    net: &Supernet<B>,
    tasks: &[Box<dyn Task>],
    config: &SearchConfig,
    batch: &MultiTaskBatch,
    weights: &crate::arch::EdgeGates,
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
