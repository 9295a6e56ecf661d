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
pub(crate) mod reads;
pub(crate) mod step;
mod sweep;

pub use config::{
    ArchitectureOptimizerConfig, BudgetOf, CostPenalty, EntropySchedule, NonFinitePolicy,
    PenaltySchedule, SearchConfig, WeightOptimizerConfig, WeightStepConnectivity,
};
pub use constant::{ConstantPrediction, evaluate_constant, fit_constants};
pub use evaluate::{Evaluation, evaluate, evaluate_losses, evaluate_network};
pub use sweep::{FrontPoint, cost_sweep, pareto_front};

use std::path::PathBuf;

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use crate::arch::{Architecture, PairAverage, entropy};
use crate::branch::TaskBranch;
use crate::data::{EpochSplit, MultiTaskDataset, check_targets};
use crate::net::Supernet;
use crate::rng::SeededRng;
use crate::task::{Task, task_names};
use crate::{Error, Result};
use checkpoint::LoopState;
use optimizer::{ArchitectureOptimizer, WeightOptimizer};
use reads::HostReads;
use step::{Stepped, Steps};

/// Generator streams of a search, one per purpose, so e.g. changing the augmentation does not
/// change the connectivity noise.
const SPLIT_STREAM: u64 = 1;
const AUGMENT_STREAM: u64 = 2;
const NOISE_STREAM: u64 = 3;

/// What became of one step (the architecture or the weight step) of an iteration.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum StepStatus {
    /// The step ran and its update was applied; its losses are logged.
    #[default]
    Applied,
    /// A loss or gradient was not finite and the update was skipped
    /// ([`NonFinitePolicy::SkipBatch`]); no losses are logged.
    Skipped,
    /// The step did not run: the architecture step during the warm-up
    /// ([`SearchConfig::architecture_warmup`]).
    NotRun,
}

/// What happened in one search iteration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IterationLog {
    /// The iteration, from 0.
    pub iteration: usize,
    /// Each task's loss on the architecture step's search batch; empty unless
    /// `architecture_step` is [`StepStatus::Applied`].
    pub architecture_losses: Vec<f64>,
    /// Each task's loss on the weight step's train batch; empty unless `weight_step` is
    /// [`StepStatus::Applied`].
    pub weight_losses: Vec<f64>,
    /// Whether the architecture step ran, and whether its update was applied.
    #[serde(default)]
    pub architecture_step: StepStatus,
    /// Whether the weight step's update was applied.
    #[serde(default)]
    pub weight_step: StepStatus,
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
    /// Reads of tensor values back to the host this iteration took for its checks and this
    /// log (each one waits for a GPU's queue to drain): 1, or 2 under
    /// [`NonFinitePolicy::SkipBatch`] with an architecture step (whether to skip a batch is
    /// decided before its update). Reads inside a task's own loss are not counted.
    #[serde(default)]
    pub host_reads: usize,
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

    /// The alternating loop from `state` on: each iteration an architecture step (after the
    /// warm-up), a weight step, the log, and a checkpoint when one is due.
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
        check_targets(data, &task_names(tasks))?;
        let device = net.architecture.logits.device();
        if !device.is_autodiff() {
            return Err(Error::config(
                "device",
                "the search trains: put the supernet on an autodiff device (device.autodiff())",
            ));
        }
        let mut steps = Steps {
            config,
            tasks,
            data,
            device,
            average: PairAverage::new(net.space()),
            costs: None,
        };
        while state.iteration < config.steps {
            let optimizers = (&mut architecture_optimizer, &mut weight_optimizer);
            let (stepped, log) = self.iteration(net, optimizers, &mut state, &mut steps)?;
            net = stepped;
            observe(&log);
            state.history.push(log);
            state.iteration += 1;
            if let Some(dir) = &self.checkpoints
                && config.checkpoint_every > 0
                && (state.iteration.is_multiple_of(config.checkpoint_every)
                    || state.iteration == config.steps)
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

    /// One iteration from `state`: an architecture step (after the warm-up), a weight step,
    /// and the iteration's log from its one read of the device.
    fn iteration<B: TaskBranch>(
        &self,
        mut net: Supernet<B>,
        (architecture_optimizer, weight_optimizer): (
            &mut ArchitectureOptimizer,
            &mut WeightOptimizer,
        ),
        state: &mut LoopState,
        steps: &mut Steps<'_>,
    ) -> Result<(Supernet<B>, IterationLog)> {
        let config = &self.config;
        let iteration = state.iteration;
        // Dropout draws from the device's generator: seed it per iteration, so a resumed run
        // draws what an uninterrupted one would.
        steps.device.seed(mix_seed(config.seed, iteration as u64));
        // What the log and the checks need is queued and read back once, at the end.
        let mut reads = HostReads::default();
        let entropy_value = reads.push(entropy(net.architecture.logits.val(), &steps.average));
        // No architecture step during the warm-up (the logits stay where they are).
        let architecture = if iteration < config.architecture_warmup_steps() {
            None
        } else {
            let (stepped, step) =
                steps.architecture(net, architecture_optimizer, state, (iteration, &mut reads))?;
            net = stepped;
            Some(step)
        };
        // The weight step leaves the logits as they are: queued now, they come back with the
        // weight step's values.
        let logits = reads.push(net.architecture.logits.val());
        let schedule = (
            config.temperature_at(iteration),
            config.poly_factor_at(iteration),
        );
        let (net, weights) = steps.weights(
            net,
            weight_optimizer,
            state,
            (iteration, &mut reads),
            schedule,
        )?;
        let status = |step: &Option<Stepped>| match step {
            None => StepStatus::NotRun,
            Some(step) if step.applied => StepStatus::Applied,
            Some(_) => StepStatus::Skipped,
        };
        let (architecture_step, weights) = (status(&architecture), Some(weights));
        let weight_step = status(&weights);
        let log = IterationLog {
            architecture_losses: steps.losses(
                &mut reads,
                architecture,
                iteration,
                "architecture",
            )?,
            weight_losses: steps.losses(&mut reads, weights, iteration, "weight")?,
            architecture_step,
            weight_step,
            entropy: reads.get(entropy_value)?[0] as f64,
            temperature: schedule.0,
            ..self.iteration_log(reads.get(logits)?.to_vec(), iteration)
        };
        let host_reads = reads.count();
        Ok((net, IterationLog { host_reads, ..log }))
    }

    /// The log of `iteration` from the logits after both steps: its schedules, the edges
    /// kept, and the logits when they are due for the history (the losses, entropy,
    /// temperature and reads are filled in by the loop).
    fn iteration_log(&self, logits: Vec<f32>, iteration: usize) -> IterationLog {
        let config = &self.config;
        let record = iteration + 1 == config.steps
            || (config.record_logits_every > 0
                && iteration.is_multiple_of(config.record_logits_every));
        IterationLog {
            iteration,
            architecture_losses: Vec::new(),
            weight_losses: Vec::new(),
            architecture_step: StepStatus::NotRun,
            weight_step: StepStatus::NotRun,
            entropy: 0.0,
            entropy_weight: config.entropy_weight_at(iteration),
            temperature: 0.0,
            learning_rate: config.weights.learning_rate * config.poly_factor_at(iteration),
            kept_edges: logits.iter().filter(|&&a| a > 0.0).count(),
            logits: record.then_some(logits),
            host_reads: 0,
        }
    }
}

/// A per-iteration seed (SplitMix64 of the pair).
pub(crate) fn mix_seed(seed: u64, index: u64) -> u64 {
    let mut z = seed ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
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
