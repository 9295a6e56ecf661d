//! The two steps of a search iteration and what they share with the baselines' training:
//! the weighted task loss, gradient accumulation over micro-batches, and the policy for a
//! non-finite loss or gradient.

use burn::module::Module;
use burn::optim::{GradientsAccumulator, GradientsParams};
use burn::tensor::{Device, Gradients, Tensor};

use super::optimizer::{ArchitectureOptimizer, WeightOptimizer};
use super::reads::{HostReads, Slot};
use super::{
    BudgetOf, CostPenalty, LoopState, NonFinitePolicy, SearchConfig, WeightStepConnectivity,
};
use crate::arch::{Connectivity, EdgeGates, PairAverage, cost_penalty, entropy, l1};
use crate::branch::TaskBranch;
use crate::cost::{edge_budget_for_fusion_macs, edge_costs};
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
    pub(super) costs: Option<PricedEdges>,
}

/// The cost-aware penalty's edge costs and its budget as a fraction of their total.
pub(super) struct PricedEdges {
    /// `[num_edges]`, normalised to mean 1.
    costs: Tensor<1>,
    /// The budget on the costs' total ([`BudgetOf`] converted); `None` for the linear penalty.
    budget: Option<f64>,
}

/// How a step ended: where its values are in the iteration's reads (each task's loss, then
/// the count of non-finite gradient entries) and whether its update was applied (not for a
/// batch skipped under [`NonFinitePolicy::SkipBatch`]).
#[derive(Clone, Copy, Debug)]
pub(super) struct Stepped {
    values: Slot,
    pub(super) applied: bool,
}

impl Steps<'_> {
    fn skip(&self) -> bool {
        self.config.on_non_finite == NonFinitePolicy::SkipBatch
    }

    /// The architecture step: sigmoid relaxation, task losses + lambda H (+ L1, + the cost
    /// penalty), Adam on the logits only. Its values go to `reads`.
    pub(super) fn architecture<B: TaskBranch>(
        &mut self,
        net: Supernet<B>,
        optimizer: &mut ArchitectureOptimizer,
        state: &mut LoopState,
        (iteration, reads): (usize, &mut HostReads),
    ) -> Result<(Supernet<B>, Stepped)> {
        let config = self.config;
        let indices = state.split.next_search(config.batch_size);
        let batches = self.micro_batches(&indices, state)?;
        if config.cost_penalty.is_on() && self.costs.is_none() {
            self.costs = Some(priced_edges(&net, &config.cost_penalty, &batches[0])?);
        }
        let logits = net.architecture.logits.val();
        let regulariser = entropy(logits.clone(), &self.average);
        let entropy_weight = config.entropy_weight_at(iteration);
        // The terms that are not per sample, added once to the (first chunk's) task loss.
        let finish = |task_loss: Tensor<1>| {
            let mut loss = task_loss + regulariser.mul_scalar(entropy_weight);
            if config.l1_weight > 0.0 {
                let penalty = l1(logits.clone(), &self.average, None);
                loss = loss + penalty.mul_scalar(config.l1_weight);
            }
            if let Some(priced) = &self.costs {
                let penalty = cost_penalty(logits, priced.costs.clone(), priced.budget);
                let weight = config.cost_penalty.weight_at(iteration, config.steps);
                loss = loss + penalty.mul_scalar(weight);
            }
            loss
        };
        // Only the logits learn in this step: the forward pass runs on a view of the network
        // whose other weights need no gradient, so the backward pass skips every
        // weight-gradient product (the logits' gradient is unchanged, bit for bit).
        let logits_only = net.logits_only();
        let (gradients, losses) = accumulate(
            &net,
            &batches,
            |batch| {
                let gates =
                    (net.architecture).connectivity(Connectivity::Sigmoid, &mut state.noise)?;
                self.task_loss(&logits_only, batch, &gates)
            },
            finish,
            |grads| optimizer.gradients(&net, grads),
        )?;
        // Release the view before the update, so the optimiser owns each tensor alone.
        drop(logits_only);
        let non_finite = optimizer.non_finite(&gradients, &self.device);
        let values = reads.push(Tensor::cat(vec![losses, non_finite], 0));
        let applied = self.decide(reads, values, iteration, "architecture", state)?;
        let net = if applied {
            optimizer.step(net, gradients)
        } else {
            net
        };
        Ok((net, Stepped { values, applied }))
    }

    /// The weight step: relaxed-Bernoulli connectivity at the scheduled `temperature` (or
    /// sigmoid, as configured), task losses only, SGD on everything but the logits at the
    /// poly-decayed rate `factor`. Its values go to `reads`.
    pub(super) fn weights<B: TaskBranch>(
        &mut self,
        net: Supernet<B>,
        optimizer: &mut WeightOptimizer,
        state: &mut LoopState,
        (iteration, reads): (usize, &mut HostReads),
        (temperature, factor): (f64, f64),
    ) -> Result<(Supernet<B>, Stepped)> {
        let config = self.config;
        let indices = state.split.next_train(config.batch_size);
        let batches = self.micro_batches(&indices, state)?;
        let mode = match config.weight_step_connectivity {
            WeightStepConnectivity::RelaxedBernoulli => {
                Connectivity::RelaxedBernoulli { temperature }
            }
            WeightStepConnectivity::Sigmoid => Connectivity::Sigmoid,
        };
        // Every micro-batch sees the same connectivity draw, as the whole batch would.
        let noise = state.noise.clone();
        let mut drawn = None;
        let (gradients, losses) = accumulate(
            &net,
            &batches,
            |batch| {
                let mut rng = noise.clone();
                let gates = net.architecture.connectivity(mode, &mut rng)?;
                drawn = Some(rng);
                self.task_loss(&net, batch, &gates)
            },
            |loss| loss,
            |grads| optimizer.gradients(&net, grads),
        )?;
        if let Some(rng) = drawn {
            state.noise = rng;
        }
        let non_finite = optimizer.non_finite(&gradients, &self.device);
        let values = reads.push(Tensor::cat(vec![losses, non_finite], 0));
        let applied = self.decide(reads, values, iteration, "weight", state)?;
        let net = if applied {
            optimizer.step(net, gradients, factor)
        } else {
            net
        };
        Ok((net, Stepped { values, applied }))
    }

    /// Each task's loss of a step that ran (none for a skipped batch or no step), checked:
    /// a non-finite loss or gradient is an [`Error::NonFinite`] (under the stop policy, found
    /// here, at the end of its iteration).
    pub(super) fn losses(
        &self,
        reads: &mut HostReads,
        step: Option<Stepped>,
        iteration: usize,
        phase: &str,
    ) -> Result<Vec<f64>> {
        match step {
            Some(step) if step.applied => {
                check_step(reads.get(step.values)?, self.tasks, iteration, phase)
            }
            _ => Ok(Vec::new()),
        }
    }

    /// Whether to apply a step's update. Under [`NonFinitePolicy::SkipBatch`] its values are
    /// read now (with whatever else is queued) and a non-finite loss or gradient skips it;
    /// under [`NonFinitePolicy::Stop`] they stay on the device until the iteration's one read.
    fn decide(
        &self,
        reads: &mut HostReads,
        values: Slot,
        iteration: usize,
        phase: &str,
        state: &mut LoopState,
    ) -> Result<bool> {
        if !self.skip() {
            return Ok(true);
        }
        let checked = check_step(reads.get(values)?, self.tasks, iteration, phase);
        Ok(skip_non_finite(checked, true, &mut state.skipped_batches)?.is_some())
    }

    /// The step's batches of `indices`: one, or [`SearchConfig::micro_batches`] equal chunks.
    fn micro_batches(
        &self,
        indices: &[usize],
        state: &mut LoopState,
    ) -> Result<Vec<MultiTaskBatch>> {
        let config = self.config;
        (indices.chunks(chunk_size(indices.len(), config.micro_batches)))
            .map(|chunk| {
                let augment = Some((&config.augmentation, &mut state.augment));
                self.data.batch(chunk, augment, &self.device)
            })
            .collect()
    }

    /// The weighted task loss of `net` on `batch` under `gates`, and each task's loss.
    fn task_loss<B: TaskBranch>(
        &self,
        net: &Supernet<B>,
        batch: &MultiTaskBatch,
        gates: &EdgeGates,
    ) -> Result<(Tensor<1>, Tensor<1>)> {
        let outputs = net.forward(batch.images.clone(), gates)?;
        let task_weight = |t| self.config.task_weight(t);
        weighted_loss(outputs, self.tasks, task_weight, batch, "search")
    }
}

/// The size of each of `micro_batches` equal chunks of a batch of `batch_size` (validated to
/// divide it; at least 1).
pub(crate) fn chunk_size(batch_size: usize, micro_batches: usize) -> usize {
    (batch_size / micro_batches.max(1)).max(1)
}

/// One step's gradients over its `batches` (one per micro-batch). Each chunk's weighted task
/// loss from `task_loss` (with each task's loss, `[num_tasks]`) is scaled by
/// `1 / batches.len()`; `finish` adds the terms that are not per sample to the first chunk's;
/// each chunk goes backward on its own, and the gradients `select` picks are summed. Returns
/// them with each task's loss averaged over the chunks. One batch is the plain step, computed
/// exactly as without accumulation.
pub(crate) fn accumulate<M: Module>(
    module: &M,
    batches: &[MultiTaskBatch],
    mut task_loss: impl FnMut(&MultiTaskBatch) -> Result<(Tensor<1>, Tensor<1>)>,
    finish: impl FnOnce(Tensor<1>) -> Tensor<1>,
    mut select: impl FnMut(&mut Gradients) -> GradientsParams,
) -> Result<(GradientsParams, Tensor<1>)> {
    if let [batch] = batches {
        let (loss, losses) = task_loss(batch)?;
        let mut grads = finish(loss).backward();
        return Ok((select(&mut grads), losses));
    }
    let scale = 1.0 / batches.len() as f64;
    let mut finish = Some(finish);
    let mut accumulator = GradientsAccumulator::<M>::new();
    let mut sum: Option<Tensor<1>> = None;
    for batch in batches {
        let (loss, losses) = task_loss(batch)?;
        let mut loss = loss.mul_scalar(scale);
        if let Some(finish) = finish.take() {
            loss = finish(loss);
        }
        let mut grads = loss.backward();
        accumulator.accumulate(module, select(&mut grads));
        sum = Some(match sum {
            Some(sum) => sum + losses,
            None => losses,
        });
    }
    let sum = sum.ok_or_else(|| Error::config("micro_batches", "a step needs a batch"))?;
    Ok((accumulator.grads(), sum.mul_scalar(scale)))
}

/// The cost of every edge of `net`'s space as priced by `penalty`, at `batch`'s image size,
/// as a `[num_edges]` tensor on the batch's device, and the penalty's budget on their total.
fn priced_edges<B: TaskBranch>(
    net: &Supernet<B>,
    penalty: &CostPenalty,
    batch: &MultiTaskBatch,
) -> Result<PricedEdges> {
    let [_, _, height, width] = batch.images.dims();
    let branches: Vec<_> = net
        .branches
        .iter()
        .map(|b| b.cost([height, width]))
        .collect();
    let costs = edge_costs(net.space(), [height, width], &branches, penalty.edge_cost)?;
    let costs: Vec<f32> = costs.into_iter().map(|c| c as f32).collect();
    let edges = costs.len();
    let budget = match (penalty.budget, penalty.budget_of) {
        (Some(fraction), BudgetOf::AllEdgesFusionMacs) => Some(edge_budget_for_fusion_macs(
            net.space(),
            [height, width],
            &branches,
            fraction,
        )?),
        (budget, _) => budget,
    };
    Ok(PricedEdges {
        costs: Tensor::from_data(
            burn::tensor::TensorData::new(costs, [edges]),
            &batch.images.device(),
        ),
        budget,
    })
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

/// `sum_t w_t L_t` of the networks' `outputs` (one per task) on `batch`, and each task's loss
/// `L_t` as a `[num_tasks]` tensor detached from the graph (nothing is read back here:
/// [`check_step`] checks the values once they are).
pub(crate) fn weighted_loss(
    outputs: Vec<Tensor<4>>,
    tasks: &[Box<dyn Task>],
    task_weight: impl Fn(usize) -> f64,
    batch: &MultiTaskBatch,
    phase: &str,
) -> Result<(Tensor<1>, Tensor<1>)> {
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
        values.push(loss.clone().detach());
        let weighted = loss.mul_scalar(task_weight(t));
        total = Some(match total {
            Some(sum) => sum + weighted,
            None => weighted,
        });
    }
    let total = total.ok_or_else(|| Error::config("tasks", "at least one task is needed"))?;
    Ok((total, Tensor::cat(values, 0)))
}

/// Each task's loss from a step's values as read back (`[loss per task..., non-finite
/// gradient entries]`), or an [`Error::NonFinite`] naming the first task whose loss is not
/// finite (then the gradient, when only it is not).
pub(crate) fn check_step(
    values: &[f32],
    tasks: &[Box<dyn Task>],
    iteration: usize,
    phase: &str,
) -> Result<Vec<f64>> {
    let wrong_length = || {
        Error::Device(format!(
            "the {phase} step read back {} values for {} tasks and its gradient",
            values.len(),
            tasks.len()
        ))
    };
    let (&non_finite_entries, losses) = values.split_last().ok_or_else(wrong_length)?;
    if losses.len() != tasks.len() {
        return Err(wrong_length());
    }
    if let Some((task, _)) = tasks.iter().zip(losses).find(|(_, v)| !v.is_finite()) {
        return Err(Error::NonFinite {
            what: "loss".into(),
            iteration,
            phase: phase.into(),
            task: task.name().into(),
        });
    }
    if non_finite_entries != 0.0 {
        return Err(non_finite_gradient(iteration, phase));
    }
    Ok(losses.iter().map(|&v| v as f64).collect())
}
