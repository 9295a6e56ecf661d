//! Every hyperparameter of a search, serialisable, with the reference's values as defaults.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::cost::EdgeCostKind;
use crate::data::Augmentation;
use crate::{Error, Result, io};

/// How the weight of the entropy regulariser evolves over the run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum EntropySchedule {
    /// The full weight from the first step (the reference's NYUv2 yaml as it reads; its code
    /// skips the first step, see [`EntropySchedule::ZeroThenConstant`]).
    Constant,
    /// From 0 at the first step linearly to the full weight at the last (the reference code's
    /// default when the configuration does not set it).
    LinearRamp,
    /// 0 at the first step, the full weight from the second on: what the reference code runs
    /// for its NYUv2 configuration (its `poly` schedule with `ENTROPY_PERIOD (0, 0)` returns 0
    /// at step 0).
    ZeroThenConstant,
}

/// The cost-aware extension of the search (ours, not the paper's): a penalty on the expected
/// cost of the kept edges in the architecture loss, so that an edge is kept only where its
/// task gradient outweighs what it costs. Off (`weight` 0) by default and in
/// [`SearchConfig::nyuv2_reference`].
///
/// With `c_e` the edge costs ([`EdgeCostKind`], normalised to mean 1), `p_e = sigmoid(alpha_e)`
/// and `E` edges, the penalty is `weight * sum_e c_e p_e / E`, or with a budget `b`,
/// `weight * max(0, sum_e c_e p_e / sum_e c_e - b)`: nothing while the expected cost of the
/// kept edges stays within the fraction `b` of what all candidate edges cost. A budget on the
/// all-edges network's fusion MACs ([`CostPenalty::fusion_budget`]) is converted to such a `b`.
/// The costs are computed at the image size of the first architecture batch.
///
/// The hinge holds the *expected* cost at the budget; logits that have not saturated by the
/// last step leave edges below one half that still count in it, so the derived network can
/// come out cheaper than the budget.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CostPenalty {
    /// `mu`, the weight of the penalty (0 = off, the reference).
    pub weight: f64,
    /// How each edge is priced.
    #[serde(default)]
    pub edge_cost: EdgeCostKind,
    /// A budget: the fraction (in `(0, 1]`) of what `budget_of` says that costs nothing;
    /// `None` for the linear penalty.
    #[serde(default)]
    pub budget: Option<f64>,
    /// What `budget` is a fraction of.
    #[serde(default)]
    pub budget_of: BudgetOf,
    /// When the penalty acts. Adam moves a logit at its learning rate whatever the size of
    /// its gradient, and the entropy term then amplifies the sign it has: a penalty active
    /// before the task gradients are informative (with the identity initialisation they are
    /// exactly 0 at the first step) prunes every edge, needed or not.
    #[serde(default)]
    pub schedule: PenaltySchedule,
}

/// What a [`CostPenalty::budget`] is a fraction of.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum BudgetOf {
    /// What all candidate edges cost, as the penalty's [`EdgeCostKind`] prices them.
    #[default]
    CandidateEdges,
    /// The fusion MACs of the network with every edge kept, its fusions' own-feature shares
    /// included (what results tables report): the search converts it to a fraction of the
    /// candidate edges' MACs with [`edge_budget_for_fusion_macs`](crate::cost::edge_budget_for_fusion_macs)
    /// at the first batch's image size. Needs edges priced by their MACs.
    AllEdgesFusionMacs,
}

/// How the cost penalty's weight evolves over a search.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub enum PenaltySchedule {
    /// The full weight from the first step.
    #[default]
    Constant,
    /// From 0 at the first step linearly to the full weight at the last.
    LinearRamp,
    /// Off for this fraction of the steps (in `[0, 1)`), the full weight after.
    Warmup(f64),
}

impl CostPenalty {
    /// The linear penalty of weight `mu` on edges priced by their MACs.
    pub fn macs(mu: f64) -> Self {
        Self {
            weight: mu,
            ..Self::default()
        }
    }

    /// The hinge on the expected cost above `budget` (a fraction of all candidate edges'
    /// MACs), of weight `mu`.
    pub fn budget(mu: f64, budget: f64) -> Self {
        Self {
            weight: mu,
            budget: Some(budget),
            ..Self::default()
        }
    }

    /// The hinge on the expected fusion MACs above `fraction` of those of the network with
    /// every edge kept ([`BudgetOf::AllEdgesFusionMacs`]), of weight `mu`.
    pub fn fusion_budget(mu: f64, fraction: f64) -> Self {
        Self {
            budget_of: BudgetOf::AllEdgesFusionMacs,
            ..Self::budget(mu, fraction)
        }
    }

    /// Whether the penalty is on.
    pub fn is_on(&self) -> bool {
        self.weight > 0.0
    }

    /// The penalty's weight at `step` of `steps`.
    pub fn weight_at(&self, step: usize, steps: usize) -> f64 {
        match self.schedule {
            PenaltySchedule::Constant => self.weight,
            PenaltySchedule::LinearRamp => self.weight * progress(step, steps),
            PenaltySchedule::Warmup(fraction) if progress(step, steps) < fraction => 0.0,
            PenaltySchedule::Warmup(_) => self.weight,
        }
    }
}

/// Which relaxation the weight step uses for the connectivity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum WeightStepConnectivity {
    /// A relaxed Bernoulli sample at the scheduled temperature (the reference).
    RelaxedBernoulli,
    /// The deterministic `sigmoid(alpha)`.
    Sigmoid,
}

/// What a search or training run does when a loss or a gradient is not finite.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum NonFinitePolicy {
    /// Stop with [`Error::NonFinite`] naming the iteration, the phase and the task; the
    /// last checkpoint stays as it was.
    #[default]
    Stop,
    /// Skip that step's update and carry on; the outcome counts the skipped steps.
    SkipBatch,
}

/// SGD on the network weights (branches, heads, fusions).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WeightOptimizerConfig {
    /// Base learning rate, before the poly decay and the multipliers (reference: 1e-3).
    pub learning_rate: f64,
    /// SGD momentum, no dampening (reference: 0.9).
    pub momentum: f64,
    /// L2 weight decay on convolution weights (reference: 2.5e-4).
    pub weight_decay: f64,
    /// Also decay batch-norm scales/shifts and biases (the reference does; off by default, as
    /// decaying them is a known defect of the reference).
    pub decay_norms_and_biases: bool,
    /// Power of the poly schedule `(1 - step / steps)^power` (reference: 0.9).
    pub poly_power: f64,
    /// Learning-rate multiplier of branch layers (reference: 1).
    pub backbone_multiplier: f64,
    /// Multiplier of the last classifier's weights (reference: 10).
    pub classifier_weight_multiplier: f64,
    /// Multiplier of the last classifier's biases (reference: 20).
    pub classifier_bias_multiplier: f64,
    /// Multiplier of the fusion modules (reference: 100, i.e. 0.1 at base 1e-3).
    pub fusion_multiplier: f64,
}

impl Default for WeightOptimizerConfig {
    fn default() -> Self {
        Self {
            learning_rate: 1e-3,
            momentum: 0.9,
            weight_decay: 2.5e-4,
            decay_norms_and_biases: false,
            poly_power: 0.9,
            backbone_multiplier: 1.0,
            classifier_weight_multiplier: 10.0,
            classifier_bias_multiplier: 20.0,
            fusion_multiplier: 100.0,
        }
    }
}

/// Adam on the architecture logits.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ArchitectureOptimizerConfig {
    /// Constant learning rate (reference: 1e-3).
    pub learning_rate: f64,
    /// Adam's first-moment decay (reference: 0.5).
    pub beta1: f64,
    /// Adam's second-moment decay (reference: 0.999).
    pub beta2: f64,
    /// Adam's epsilon (PyTorch's default, 1e-8).
    pub epsilon: f64,
    /// Coupled L2 weight decay on the logits (reference: 1e-3).
    pub weight_decay: f64,
}

impl Default for ArchitectureOptimizerConfig {
    fn default() -> Self {
        Self {
            learning_rate: 1e-3,
            beta1: 0.5,
            beta2: 0.999,
            epsilon: 1e-8,
            weight_decay: 1e-3,
        }
    }
}

/// All settings of a search. [`SearchConfig::nyuv2_reference`] is the authors' search;
/// `Default` is the recipe for small problems ([`SearchConfig::short`]`(200)`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SearchConfig {
    /// Iterations; each is one architecture step and one weight step (reference: 20001).
    pub steps: usize,
    /// Images per step (reference: 10).
    pub batch_size: usize,
    /// Micro-batches per step (1, the reference, by default): each step's `batch_size` images
    /// go through the network in this many equal chunks, one forward and backward pass each,
    /// and their gradients are summed before the one update (gradient accumulation: a batch
    /// of 10 on a device that holds 2). Each chunk's task losses are scaled by
    /// `1 / micro_batches` and the regularisers are added once, so the update is the
    /// full batch's, with two differences every framework's accumulation has: batch norm
    /// normalises each chunk by its own statistics (and updates its running statistics once
    /// per chunk), and a loss normalised by its count of valid pixels weighs the chunks
    /// equally rather than by their valid pixels. Must divide `batch_size`.
    #[serde(default = "default_micro_batches")]
    pub micro_batches: usize,
    /// Fraction of the training set used for weight steps; the rest feeds architecture steps.
    /// Re-drawn each epoch (reference: 0.5).
    pub train_split: f64,
    /// Seed of every random choice (data order, augmentation, connectivity noise).
    pub seed: u64,
    /// Weight of each task's loss, in task order; empty = 1 for every task.
    pub task_weights: Vec<f64>,
    /// The weight optimiser.
    pub weights: WeightOptimizerConfig,
    /// The architecture optimiser.
    pub architecture: ArchitectureOptimizerConfig,
    /// Weight `lambda` of the minimal-entropy regulariser in the architecture loss
    /// (reference: 10).
    pub entropy_weight: f64,
    /// How `lambda` evolves over the run.
    pub entropy_schedule: EntropySchedule,
    /// Weight of the optional L1 penalty on `sigmoid(alpha)` (reference: 0, off).
    pub l1_weight: f64,
    /// The cost-aware extension (off by default and in the reference).
    #[serde(default)]
    pub cost_penalty: CostPenalty,
    /// Fraction of the steps (in `[0, 1)`) that train the weights only, before the first
    /// architecture step (ours; 0, the reference, by default): the logits then start moving
    /// when the task gradients say something about the edges, instead of at a first step
    /// where, with the identity initialisation, they are exactly 0.
    #[serde(default)]
    pub architecture_warmup: f64,
    /// Connectivity relaxation of the weight step.
    pub weight_step_connectivity: WeightStepConnectivity,
    /// Initial temperature of the relaxed Bernoulli (reference: 1).
    pub initial_temperature: f64,
    /// Power of the temperature schedule `T = T0 (1 - step / steps)^power` (reference: 2).
    pub temperature_power: f64,
    /// Keep a copy of the logits in the history every this many iterations (0 = never; the
    /// final logits are always in the result).
    pub record_logits_every: usize,
    /// Augmentation of training batches (weight and architecture steps alike).
    pub augmentation: Augmentation,
    /// Write a checkpoint every this many iterations (0 = never); needs a checkpoint folder
    /// ([`Search::with_checkpoints`](super::Search::with_checkpoints)).
    #[serde(default)]
    pub checkpoint_every: usize,
    /// How many checkpoints to keep (the newest; at least 1).
    #[serde(default = "default_keep")]
    pub keep_checkpoints: usize,
    /// What to do with a non-finite loss or gradient.
    #[serde(default)]
    pub on_non_finite: NonFinitePolicy,
}

fn default_keep() -> usize {
    2
}

fn default_micro_batches() -> usize {
    1
}

/// What a user who writes `SearchConfig::default()` or `..Default::default()` gets: the
/// recipe for small problems, [`SearchConfig::short`]`(200)`. The authors' search is
/// [`SearchConfig::nyuv2_reference`], by name.
impl Default for SearchConfig {
    fn default() -> Self {
        Self::short(200)
    }
}

impl SearchConfig {
    /// The reference implementation's values where the presets do not set their own: 20001
    /// steps, batch 10, split 0.5, entropy weight 10 (constant), temperature `(1 - t)^2`,
    /// the reference's optimisers, no augmentation.
    fn reference_base() -> Self {
        Self {
            steps: 20001,
            batch_size: 10,
            micro_batches: 1,
            train_split: 0.5,
            seed: 0,
            task_weights: Vec::new(),
            weights: WeightOptimizerConfig::default(),
            architecture: ArchitectureOptimizerConfig::default(),
            entropy_weight: 10.0,
            entropy_schedule: EntropySchedule::Constant,
            l1_weight: 0.0,
            cost_penalty: CostPenalty::default(),
            architecture_warmup: 0.0,
            weight_step_connectivity: WeightStepConnectivity::RelaxedBernoulli,
            initial_temperature: 1.0,
            temperature_power: 2.0,
            record_logits_every: 10,
            augmentation: Augmentation::default(),
            checkpoint_every: 0,
            keep_checkpoints: 2,
            on_non_finite: NonFinitePolicy::Stop,
        }
    }
}

impl SearchConfig {
    /// Every setting of the reference's NYUv2 search (two tasks: segmentation, normals):
    ///
    /// | setting | value |
    /// |---|---|
    /// | `steps`, `batch_size` | 20001 iterations of one architecture + one weight step, 10 images each |
    /// | `train_split` | 0.5 of the 795 training images for weights, the rest for the logits, re-drawn every epoch |
    /// | `seed` | 1 (the reference's `SEED`) |
    /// | `task_weights` | `[1, 20]`: normals' loss x20 (`TASK2_FACTOR`) |
    /// | `weights` | SGD, momentum 0.9 (no dampening), weight decay 2.5e-4, base lr 1e-3 with poly power 0.9; multipliers: branches x1, fc8 weight x10, fc8 bias x20, fusions x100 |
    /// | `architecture` | Adam, lr 1e-3 constant, betas (0.5, 0.999), coupled weight decay 1e-3 |
    /// | `entropy_weight`, `entropy_schedule` | 10 from the second step on, 0 at the first (the reference code's `poly` schedule with `ENTROPY_PERIOD (0, 0)`; its yaml reads as constant) |
    /// | `l1_weight`, `cost_penalty`, `architecture_warmup` | 0 (off) |
    /// | `weight_step_connectivity` | relaxed Bernoulli; architecture step: sigmoid; evaluation: hard |
    /// | `initial_temperature`, `temperature_power` | `T = 1 * (1 - step / steps)^2` |
    /// | `augmentation` | hue/saturation jitter 0.05, shorter side x U(0.5, 1.5), flip, 321 x 321 crop |
    ///
    /// One deliberate difference: the reference decays batch-norm parameters and biases too
    /// (a known defect); here they are not decayed unless `weights.decay_norms_and_biases`
    /// is set.
    ///
    /// One difference burn imposes: its batch norm (0.22) updates the running variance with
    /// the biased batch variance (divided by `n`), PyTorch with the unbiased one (`n - 1`,
    /// `n` = batch x height x width per channel). The training forward is the same; the
    /// running variance used at evaluation is smaller by the factor `(n - 1) / n`: at the
    /// reference's batches of 10 crops of 321 x 321, at least 10 x 41 x 41 = 16,810 values
    /// per channel (VGG-16's deepest stride, 8), a relative difference below 6e-5.
    pub fn nyuv2_reference() -> Self {
        Self {
            steps: 20001,
            batch_size: 10,
            micro_batches: 1,
            train_split: 0.5,
            seed: 1,
            task_weights: vec![1.0, 20.0],
            weights: WeightOptimizerConfig::default(),
            architecture: ArchitectureOptimizerConfig::default(),
            entropy_weight: 10.0,
            entropy_schedule: EntropySchedule::ZeroThenConstant,
            l1_weight: 0.0,
            cost_penalty: CostPenalty::default(),
            architecture_warmup: 0.0,
            weight_step_connectivity: WeightStepConnectivity::RelaxedBernoulli,
            initial_temperature: 1.0,
            temperature_power: 2.0,
            record_logits_every: 100,
            augmentation: Augmentation::nyuv2_reference(),
            checkpoint_every: 500,
            keep_checkpoints: 2,
            on_non_finite: NonFinitePolicy::Stop,
        }
    }

    /// The recipe for small problems, used by the main job, the quickstart and every example:
    /// the reference's search for a run of `steps` iterations instead of 20001, on branches
    /// trained from scratch. Batch 8, the same optimisers, schedules, entropy weight and
    /// temperature, with the learning rates raised for the shorter run (weights 0.01 with
    /// fusions x10, logits 0.01), the entropy weight ramped in (so the task losses steer the
    /// logits first), equal task weights (any number of tasks), flips as the only
    /// augmentation, seed 0 ([`SearchConfig::with_seed`]).
    ///
    /// The reference's x10 / x20 learning rates of the last classifier are dropped (x1): they
    /// suit fine-tuning pretrained branches under a fresh classifier, but from scratch they
    /// inflate the normals head's output norm, and the scale-invariant cosine loss then all
    /// but stops learning (measured on 48 x 64 scenes, single-task normals after 1200 steps:
    /// 47 degrees mean error with x10, 29 with x1).
    pub fn short(steps: usize) -> SearchConfig {
        SearchConfig {
            steps,
            batch_size: 8,
            weights: WeightOptimizerConfig {
                learning_rate: 0.01,
                fusion_multiplier: 10.0,
                classifier_weight_multiplier: 1.0,
                classifier_bias_multiplier: 1.0,
                ..Default::default()
            },
            architecture: ArchitectureOptimizerConfig {
                learning_rate: 0.01,
                ..Default::default()
            },
            entropy_schedule: EntropySchedule::LinearRamp,
            record_logits_every: (steps / 200).max(1),
            augmentation: Augmentation {
                flip: true,
                ..Default::default()
            },
            ..SearchConfig::reference_base()
        }
    }

    /// The same settings with every random choice drawn from `seed`.
    pub fn with_seed(self, seed: u64) -> Self {
        Self { seed, ..self }
    }

    /// Checks every value a user can get wrong for a search over `tasks` tasks.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] naming the field and the valid range.
    pub fn validate(&self, tasks: usize) -> Result<()> {
        self.validate_budget(tasks)?;
        self.weights.validate()?;
        self.architecture.validate()?;
        self.augmentation.validate()?;
        self.cost_penalty.validate()?;
        if !(0.0..1.0).contains(&self.architecture_warmup) {
            return bad("architecture_warmup", "must lie in [0, 1)");
        }
        for (field, v) in [
            ("entropy_weight", self.entropy_weight),
            ("l1_weight", self.l1_weight),
            ("initial_temperature", self.initial_temperature),
            ("temperature_power", self.temperature_power),
        ] {
            if !non_negative(v) {
                return bad(field, "must be finite and non-negative");
            }
        }
        Ok(())
    }

    /// Steps, batch, split and task weights.
    fn validate_budget(&self, tasks: usize) -> Result<()> {
        if self.steps == 0 {
            return bad("steps", "must be at least 1");
        }
        if self.batch_size == 0 {
            return bad("batch_size", "must be at least 1");
        }
        if self.micro_batches == 0 || !self.batch_size.is_multiple_of(self.micro_batches) {
            return bad(
                "micro_batches",
                &format!(
                    "must be at least 1 and divide batch_size ({}) into equal chunks",
                    self.batch_size
                ),
            );
        }
        if !(self.train_split > 0.0 && self.train_split < 1.0) {
            return bad("train_split", "must lie strictly between 0 and 1");
        }
        if !self.task_weights.is_empty() && self.task_weights.len() != tasks {
            return Err(Error::config(
                "task_weights",
                format!(
                    "{} weights for {tasks} tasks (or none)",
                    self.task_weights.len()
                ),
            ));
        }
        if self.task_weights.iter().any(|&w| !non_negative(w)) {
            return bad("task_weights", "must be finite and non-negative");
        }
        Ok(())
    }

    /// The steps before the first architecture step ([`SearchConfig::architecture_warmup`]).
    pub fn architecture_warmup_steps(&self) -> usize {
        (self.architecture_warmup * self.steps as f64) as usize
    }

    /// The weight of task `task`'s loss.
    pub fn task_weight(&self, task: usize) -> f64 {
        self.task_weights.get(task).copied().unwrap_or(1.0)
    }

    /// `lambda` at `step`.
    pub fn entropy_weight_at(&self, step: usize) -> f64 {
        match self.entropy_schedule {
            EntropySchedule::Constant => self.entropy_weight,
            EntropySchedule::LinearRamp => self.entropy_weight * progress(step, self.steps),
            EntropySchedule::ZeroThenConstant if step == 0 => 0.0,
            EntropySchedule::ZeroThenConstant => self.entropy_weight,
        }
    }

    /// The relaxed-Bernoulli temperature at `step`: `T0 (1 - step / steps)^power`.
    pub fn temperature_at(&self, step: usize) -> f64 {
        self.initial_temperature * (1.0 - progress(step, self.steps)).powf(self.temperature_power)
    }

    /// The poly factor `(1 - step / steps)^power` of the weight learning rate at `step`.
    pub fn poly_factor_at(&self, step: usize) -> f64 {
        (1.0 - progress(step, self.steps)).powf(self.weights.poly_power)
    }

    /// Writes the configuration as JSON, atomically.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        io::write_json(path.as_ref(), self)
    }

    /// Reads a configuration written by [`SearchConfig::save`] (every field must be present).
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        io::read_json(path.as_ref())
    }

    /// Parses a configuration from JSON bytes and checks it for a search over `tasks` tasks;
    /// `origin` names the source in errors.
    pub fn from_json(bytes: &[u8], origin: &Path, tasks: usize) -> Result<Self> {
        let config: Self = serde_json::from_slice(bytes).map_err(|source| Error::Json {
            path: origin.to_path_buf(),
            source,
        })?;
        config.validate(tasks)?;
        Ok(config)
    }
}

/// `step / steps`, clamped to [0, 1].
fn progress(step: usize, steps: usize) -> f64 {
    (step as f64 / steps.max(1) as f64).clamp(0.0, 1.0)
}

mod validate;

use validate::{bad, non_negative};

#[cfg(test)]
mod tests;
