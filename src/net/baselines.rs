//! The baselines the paper compares against, built from the same branches and fusions:
//! single-task branches, a shared trunk with task heads, NDDR-CNN (fusion at the end of every
//! block, no search), the supernet with every candidate edge always on, and its capacity
//! control: the same fusion nodes with every edge off.
//!
//! Every baseline is a [`MultiTaskNetwork`]: train it with [`train`](crate::train::train) and
//! evaluate it with [`evaluate_network`](crate::search::evaluate_network), exactly as the
//! searched network is evaluated.

use burn::module::Module;
use burn::tensor::{Device, Tensor};

use super::{MultiTaskNetwork, ParameterRoles, Supernet, collect_parameters};
use crate::arch::{Architecture, ArchitectureParameters, Connectivity};
use crate::branch::TaskBranch;
use crate::cost::{Cost, CostSummary};
use crate::fusion::FusionConfig;
use crate::rng::SeededRng;
use crate::space::{BranchDescription, EdgeRule, FusionEdge, NodeId, SearchSpace};
use crate::{Error, Result};

/// Which baseline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Baseline {
    /// One independent branch per task.
    SingleTask,
    /// Task 0's branch as a shared trunk, one head per task ("hard sharing").
    SharedTrunk,
    /// NDDR-CNN: fusion between all tasks at the last node of every block, always on.
    NddrCnn,
    /// Every candidate edge of the search space always on ("supernet").
    AllEdges,
    /// Every fusion node of the search space kept (its 1x1 convolution, batch norm and ReLU
    /// over the task's own feature) with every edge off: the searched network's extra layers
    /// without any cross-task feature. Not in the paper; a capacity control that separates
    /// what sharing adds from what the fusion layers' depth adds.
    NoEdges,
}

impl Baseline {
    /// Every baseline, in the order tables list them.
    pub const ALL: [Baseline; 5] = [
        Baseline::SingleTask,
        Baseline::SharedTrunk,
        Baseline::NoEdges,
        Baseline::NddrCnn,
        Baseline::AllEdges,
    ];

    /// A short name for tables.
    pub fn name(self) -> &'static str {
        match self {
            Baseline::SingleTask => "single-task",
            Baseline::SharedTrunk => "shared trunk",
            Baseline::NddrCnn => "NDDR-CNN",
            Baseline::AllEdges => "all edges on",
            Baseline::NoEdges => "fusion, no edges",
        }
    }
}

/// A supernet run with every edge of its space on (the logits are fixed positive and never
/// trained), or with no edge at all for single-task branches.
pub(crate) fn with_all_edges_on<B: TaskBranch>(mut net: Supernet<B>) -> Supernet<B> {
    let device = net.architecture.logits.device();
    let id = net.architecture.logits.id;
    net.architecture =
        ArchitectureParameters::from_logits(&vec![1.0; net.space().num_edges()], &device);
    net.architecture.logits.id = id;
    net
}

fn descriptions<B: TaskBranch>(branches: &[B], tasks: &[&str]) -> Result<Vec<BranchDescription>> {
    if branches.len() != tasks.len() {
        return Err(Error::shape(
            "baseline branches",
            format!("one per task ({})", tasks.len()),
            branches.len().to_string(),
        ));
    }
    Ok(branches
        .iter()
        .zip(tasks)
        .map(|(b, t)| b.describe(t))
        .collect())
}

/// Independent single-task branches (no fusion anywhere).
///
/// # Errors
/// Mismatched branch and task counts, or invalid branch descriptions.
pub fn single_task<B: TaskBranch>(
    branches: Vec<B>,
    tasks: &[&str],
    device: &Device,
) -> Result<Supernet<B>> {
    let space = SearchSpace::independent(&descriptions(&branches, tasks)?)?;
    Supernet::new(&space, branches, FusionConfig::nddr(1.0, 0.0), 0, device)
}

/// NDDR-CNN: between every ordered pair of tasks, an edge from the last node of each block to
/// the last node of the same block of the other task, always on, with `fusion` (the reference
/// uses NDDR with `(0.9, 0.1)`).
///
/// # Errors
/// Mismatched counts, branches with different numbers of blocks, or invalid descriptions.
pub fn nddr_cnn<B: TaskBranch>(
    branches: Vec<B>,
    tasks: &[&str],
    fusion: FusionConfig,
    seed: u64,
    device: &Device,
) -> Result<Supernet<B>> {
    let described = descriptions(&branches, tasks)?;
    let block_ends = |d: &BranchDescription| -> Vec<usize> {
        (0..d.nodes.len())
            .filter(|&i| i + 1 == d.nodes.len() || d.nodes[i + 1].stage != d.nodes[i].stage)
            .collect()
    };
    let ends: Vec<Vec<usize>> = described.iter().map(block_ends).collect();
    if ends.iter().any(|e| e.len() != ends[0].len()) {
        return Err(Error::config(
            "NDDR-CNN baseline",
            "every branch needs the same number of blocks (stages)",
        ));
    }
    let mut edges = Vec::new();
    for target in 0..tasks.len() {
        for source in 0..tasks.len() {
            if source == target {
                continue;
            }
            for (&from, &to) in ends[source].iter().zip(&ends[target]) {
                edges.push(FusionEdge::new(
                    NodeId::new(source, from),
                    NodeId::new(target, to),
                ));
            }
        }
    }
    let space = SearchSpace::from_branches(&described, EdgeRule::explicit(edges))?;
    Ok(with_all_edges_on(Supernet::new(
        &space, branches, fusion, seed, device,
    )?))
}

/// Every candidate edge of `rule` always on (the reference's "supernet" baseline, which uses
/// NDDR with `(0.9, 0.1)`).
///
/// # Errors
/// Mismatched counts or an invalid space.
pub fn all_edges<B: TaskBranch>(
    branches: Vec<B>,
    tasks: &[&str],
    rule: EdgeRule,
    fusion: FusionConfig,
    seed: u64,
    device: &Device,
) -> Result<Supernet<B>> {
    let space = SearchSpace::from_branches(&descriptions(&branches, tasks)?, rule)?;
    Ok(with_all_edges_on(Supernet::new(
        &space, branches, fusion, seed, device,
    )?))
}

/// Every fusion node of `rule`'s space with every edge off (the derived network of the
/// architecture that prunes them all): each node still runs its 1x1 convolution, batch norm
/// and ReLU, over its own feature only (initialised as `fusion`'s own block, `w_t` times the
/// identity), so no task sees another's features. The capacity control of the searched
/// networks: the layers a search adds, without what they share.
///
/// # Errors
/// Mismatched counts or an invalid space.
pub fn no_edges<B: TaskBranch>(
    branches: Vec<B>,
    tasks: &[&str],
    rule: EdgeRule,
    fusion: FusionConfig,
    seed: u64,
    device: &Device,
) -> Result<Supernet<B>> {
    let space = SearchSpace::from_branches(&descriptions(&branches, tasks)?, rule)?;
    let pruned = Architecture::from_logits(&space, &vec![-1.0; space.num_edges()])?;
    Supernet::new(&space, branches, fusion, seed, device)?.derive(&pruned)
}

/// Hard parameter sharing: the first branch's layers are a trunk shared by every task; each
/// task keeps the head of its own branch (the rest of those branches is unused).
#[derive(Module, Debug)]
pub struct SharedTrunk<B: TaskBranch> {
    /// The shared layers (task 0's branch; its head serves task 0).
    pub trunk: B,
    /// The branches whose heads serve tasks 1, 2, ...
    pub heads: Vec<B>,
}

/// A shared trunk from one branch per task (the first gives the trunk).
///
/// # Errors
/// No branches, or branches whose last node differs from the trunk's (the heads would not
/// fit).
pub fn shared_trunk<B: TaskBranch>(mut branches: Vec<B>, tasks: &[&str]) -> Result<SharedTrunk<B>> {
    let described = descriptions(&branches, tasks)?;
    if branches.is_empty() {
        return Err(Error::TooFewTasks(0));
    }
    let last = |d: &BranchDescription| d.nodes.last().map(|n| n.channels);
    if let Some(bad) = described.iter().find(|d| last(d) != last(&described[0])) {
        return Err(Error::shape(
            format!("head of task `{}` on the shared trunk", bad.task),
            format!("{:?} input channels", last(&described[0])),
            format!("{:?}", last(bad)),
        ));
    }
    let trunk = branches.remove(0);
    Ok(SharedTrunk {
        trunk,
        heads: branches,
    })
}

impl<B: TaskBranch> SharedTrunk<B> {
    /// What one forward pass on one `input` = `[height, width]` image costs: the trunk's
    /// layers once and every task's head (each on the trunk's last node, which has its own
    /// branch's last shape); no fusion. Incomplete where a branch does not count itself.
    pub fn cost(&self, input: [usize; 2]) -> CostSummary {
        let trunk = self.trunk.cost(input);
        let heads: Vec<_> = self.heads.iter().map(|h| h.cost(input)).collect();
        let complete = trunk.is_some() && heads.iter().all(Option::is_some);
        let layers = trunk.as_ref().map_or(Cost::default(), |t| t.layers_total());
        let head: Cost = trunk
            .iter()
            .chain(heads.iter().flatten())
            .map(|b| b.head)
            .sum();
        CostSummary {
            branch_macs: layers.macs,
            head_macs: head.macs,
            fusion_macs: 0,
            resize_macs: 0,
            total_macs: layers.macs + head.macs,
            params: layers.params + head.params,
            complete,
        }
    }
}

impl<B: TaskBranch> MultiTaskNetwork for SharedTrunk<B> {
    fn task_outputs(&self, images: Tensor<4>) -> Result<Vec<Tensor<4>>> {
        let [_, channels, height, width] = images.dims();
        if channels != self.trunk.input_channels() {
            return Err(Error::shape(
                "shared trunk input",
                format!("{} channels", self.trunk.input_channels()),
                channels.to_string(),
            ));
        }
        let smallest = self.trunk.min_input_size();
        if height < smallest || width < smallest {
            return Err(Error::shape(
                "shared trunk input",
                format!("at least {smallest} x {smallest} pixels"),
                format!("{height} x {width}"),
            ));
        }
        let mut x = images;
        for layer in 0..self.trunk.num_nodes() {
            x = self.trunk.layer_forward(layer, x);
        }
        let mut outputs = vec![self.trunk.head_forward(x.clone())];
        outputs.extend(self.heads.iter().map(|h| h.head_forward(x.clone())));
        Ok(outputs)
    }

    fn parameter_roles(&self) -> ParameterRoles {
        let mut roles = ParameterRoles::default();
        let mut add = |branch: &B, layers: bool| {
            let (weights, biases) = branch.classifier_parameters();
            for (id, rank) in collect_parameters(branch) {
                if layers || weights.contains(&id) || biases.contains(&id) {
                    roles.ranks.push((id, rank));
                }
                if weights.contains(&id) {
                    roles.classifier_weights.push(id);
                } else if biases.contains(&id) {
                    roles.classifier_biases.push(id);
                } else if layers {
                    roles.backbone.push(id);
                } else {
                    continue;
                }
                if rank < 2 {
                    roles.no_decay.push(id);
                }
            }
        };
        add(&self.trunk, true);
        for head in &self.heads {
            add(head, false);
        }
        roles
    }
}

impl<B: TaskBranch> MultiTaskNetwork for Supernet<B> {
    /// The outputs of the discrete network the logits select (edges with positive logits on,
    /// the others skipped).
    fn task_outputs(&self, images: Tensor<4>) -> Result<Vec<Tensor<4>>> {
        let weights = self
            .architecture
            .connectivity(Connectivity::Hard, &mut SeededRng::new(0))?;
        self.forward(images, &weights)
    }

    fn parameter_roles(&self) -> ParameterRoles {
        Supernet::parameter_roles(self)
    }
}
