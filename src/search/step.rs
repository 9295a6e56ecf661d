//! The two steps of a search iteration and what they share with the baselines' training:
//! the weighted task loss and the policy for a non-finite loss or gradient.

use burn::tensor::{Device, Tensor};

use super::optimizer::{ArchitectureOptimizer, WeightOptimizer};
use super::{
    CostPenalty, LoopState, NonFinitePolicy, SearchConfig, WeightStepConnectivity, scalar,
};
use crate::arch::{Connectivity, EdgeGates, PairAverage, cost_penalty, entropy, l1};
use crate::branch::TaskBranch;
use crate::cost::edge_costs;
use crate::data::{MultiTaskBatch, MultiTaskDataset};
use crate::net::Supernet;
use crate::task::Task;
use crate::{Error, Result};

/// What both steps of every iteration read.
pub(super) struct Steps<'a> {
    pub(super) config: &'a SearchConfig,
    pub(super) tasks: &'a [Box<dyn Task>],
    pub(super) data: &'a dyn MultiTaskDataset,
    pub(super) device: Device,
    pub(super) average: PairAverage,
    /// The cost-aware penalty's edge costs, priced at the first batch's image size.
    pub(super) costs: Option<Tensor<1>>,
}

impl Steps<'_> {
    fn skip(&self) -> bool {
        self.config.on_non_finite == NonFinitePolicy::SkipBatch
    }

    /// The architecture step: sigmoid relaxation, task losses + lambda H (+ L1, + the cost
    /// penalty), Adam on the logits only. Returns the network and each task's loss (none for
    /// a skipped batch).
    pub(super) fn architecture<B: TaskBranch>(
        &mut self,
        net: Supernet<B>,
        optimizer: &mut ArchitectureOptimizer,
        state: &mut LoopState,
        iteration: usize,
    ) -> Result<(Supernet<B>, Vec<f64>)> {
        let config = self.config;
        let batch = self.data.batch(
            &state.split.next_search(config.batch_size),
            Some((&config.augmentation, &mut state.augment)),
            &self.device,
        )?;
        let gates = net
            .architecture
            .connectivity(Connectivity::Sigmoid, &mut state.noise)?;
        let logits = net.architecture.logits.val();
        let regulariser = entropy(logits.clone(), &self.average);
        if config.cost_penalty.is_on() && self.costs.is_none() {
            self.costs = Some(priced_edges(&net, &config.cost_penalty, &batch)?);
        }
        let entropy_weight = config.entropy_weight_at(iteration);
        // Only the logits learn in this step: the forward pass runs on a view of the network
        // whose other weights need no gradient, so the backward pass skips every
        // weight-gradient product (the logits' gradient is unchanged, bit for bit).
        let logits_only = net.logits_only();
        let step = self
            .task_loss(&logits_only, &batch, &gates, iteration, "architecture")
            .and_then(|(task_loss, losses)| {
                let mut loss = task_loss + regulariser.mul_scalar(entropy_weight);
                if config.l1_weight > 0.0 {
                    let penalty = l1(logits.clone(), &self.average, None);
                    loss = loss + penalty.mul_scalar(config.l1_weight);
                }
                if let Some(costs) = &self.costs {
                    let penalty = cost_penalty(logits, costs.clone(), config.cost_penalty.budget);
                    let weight = config.cost_penalty.weight_at(iteration, config.steps);
                    loss = loss + penalty.mul_scalar(weight);
                }
                let mut grads = loss.backward();
                let gradients = optimizer
                    .gradients(&net, &mut grads)
                    .ok_or_else(|| non_finite_gradient(iteration, "architecture"))?;
                Ok((gradients, losses))
            });
        // Release the view before the update, so the optimiser owns each tensor alone.
        drop(logits_only);
        Ok(
            match skip_non_finite(step, self.skip(), &mut state.skipped_batches)? {
                Some((gradients, losses)) => (optimizer.step(net, gradients), losses),
                None => (net, Vec::new()),
            },
        )
    }

    /// The weight step: relaxed-Bernoulli connectivity at the scheduled `temperature` (or
    /// sigmoid, as configured), task losses only, SGD on everything but the logits at the
    /// poly-decayed rate `factor`. Returns the network and each task's loss (none for a
    /// skipped batch).
    pub(super) fn weights<B: TaskBranch>(
        &mut self,
        net: Supernet<B>,
        optimizer: &mut WeightOptimizer,
        state: &mut LoopState,
        iteration: usize,
        (temperature, factor): (f64, f64),
    ) -> Result<(Supernet<B>, Vec<f64>)> {
        let config = self.config;
        let batch = self.data.batch(
            &state.split.next_train(config.batch_size),
            Some((&config.augmentation, &mut state.augment)),
            &self.device,
        )?;
        let mode = match config.weight_step_connectivity {
            WeightStepConnectivity::RelaxedBernoulli => {
                Connectivity::RelaxedBernoulli { temperature }
            }
            WeightStepConnectivity::Sigmoid => Connectivity::Sigmoid,
        };
        let gates = net.architecture.connectivity(mode, &mut state.noise)?;
        let step = self
            .task_loss(&net, &batch, &gates, iteration, "weight")
            .and_then(|(loss, losses)| {
                let mut grads = loss.backward();
                let gradients = optimizer
                    .gradients(&net, &mut grads)
                    .ok_or_else(|| non_finite_gradient(iteration, "weight"))?;
                Ok((gradients, losses))
            });
        Ok(
            match skip_non_finite(step, self.skip(), &mut state.skipped_batches)? {
                Some((gradients, losses)) => (optimizer.step(net, gradients, factor), losses),
                None => (net, Vec::new()),
            },
        )
    }
}

impl Steps<'_> {
    /// The weighted task loss of `net` on `batch` under `gates`, and each task's loss.
    fn task_loss<B: TaskBranch>(
        &self,
        net: &Supernet<B>,
        batch: &MultiTaskBatch,
        gates: &EdgeGates,
        iteration: usize,
        phase: &str,
    ) -> Result<(Tensor<1>, Vec<f64>)> {
        let outputs = net.forward(batch.images.clone(), gates)?;
        let task_weight = |t| self.config.task_weight(t);
        weighted_loss(outputs, self.tasks, task_weight, batch, iteration, phase)
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

/// The error for a non-finite gradient of the summed task loss.
pub(crate) fn non_finite_gradient(iteration: usize, phase: &str) -> Error {
    Error::NonFinite {
        what: "gradient".into(),
        iteration,
        phase: phase.into(),
        task: "all tasks (the gradient of their summed loss)".into(),
    }
}

/// A step's result under the non-finite policy: `None` (and one more skipped batch) for a
/// non-finite loss or gradient when `skip` is set; every other error is returned.
pub(crate) fn skip_non_finite<T>(
    step: Result<T>,
    skip: bool,
    skipped: &mut usize,
) -> Result<Option<T>> {
    match step {
        Ok(value) => Ok(Some(value)),
        Err(Error::NonFinite { .. }) if skip => {
            *skipped += 1;
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// `sum_t w_t L_t` of the networks' `outputs` (one per task) on `batch`, with each task's
/// loss read back and checked to be finite (an [`Error::NonFinite`] naming the task and the
/// `phase` otherwise).
pub(crate) fn weighted_loss(
    outputs: Vec<Tensor<4>>,
    tasks: &[Box<dyn Task>],
    task_weight: impl Fn(usize) -> f64,
    batch: &MultiTaskBatch,
    iteration: usize,
    phase: &str,
) -> Result<(Tensor<1>, Vec<f64>)> {
    if outputs.len() != tasks.len() {
        return Err(Error::shape(
            format!("{phase} step"),
            format!("{} task outputs", tasks.len()),
            outputs.len().to_string(),
        ));
    }
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
        let weighted = loss.mul_scalar(task_weight(t));
        total = Some(match total {
            Some(sum) => sum + weighted,
            None => weighted,
        });
    }
    let total = total.ok_or_else(|| Error::config("tasks", "at least one task is needed"))?;
    Ok((total, values))
}
