//! What a network costs: multiply-accumulates (MACs) and parameters of one forward pass on one
//! image, split into the branches' layers, their heads, each fusion's 1x1 convolution (own
//! feature + kept sources) and the resizes that bring cross-scale sources to their targets.
//!
//! MACs count convolutions (and the resizes' matrix products) only, as papers do: pools,
//! batch norms and activations are left out. Parameters are what PyTorch's `parameters()`
//! counts: convolution weights and biases, and batch-norm scales and shifts (not the running
//! statistics).
//!
//! The per-edge costs the cost-aware search prices edges by ([`edge_costs`]) come from the
//! same counts.
//!
//! ```
//! use mtl_nas::cost::NetworkCost;
//! use mtl_nas::space::{BranchDescription, EdgeRule, SearchSpace, Stage};
//!
//! let stages = [Stage::new(1, 8, 1), Stage::new(1, 16, 2)];
//! let branch = |task: &str| BranchDescription::from_stages(task, &stages);
//! let space = SearchSpace::from_branches(&[branch("a"), branch("b")], EdgeRule::same_stage())?;
//! // Every edge on; the branches' own layers are not counted (no branch costs given).
//! let cost = NetworkCost::of(&space, [32, 32], &vec![true; space.num_edges()], &[None, None])?;
//! // Node a[0]: 8 x (8 + 8) x 32 x 32 MACs; a[1]: 16 x (16 + 16) x 16 x 16; twice (a and b).
//! assert_eq!(cost.fusion_macs(), 2 * (8 * 16 * 32 * 32 + 16 * 32 * 16 * 16));
//! # Ok::<(), mtl_nas::Error>(())
//! ```

mod edges;

pub use edges::{EdgeCostKind, edge_budget_for_fusion_macs, edge_costs};

use std::fmt;
use std::iter::Sum;
use std::ops::{Add, AddAssign};

use burn::nn::PaddingConfig2d;
use burn::nn::conv::Conv2d;
use serde::{Deserialize, Serialize};

use crate::space::{NodeId, SearchSpace};
use crate::{Error, Result};

/// Multiply-accumulates and parameters of one part of a network, for one image.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cost {
    /// Multiply-accumulates of one forward pass on one image.
    pub macs: u64,
    /// Trainable parameters.
    pub params: u64,
}

impl Cost {
    /// A cost of `macs` and `params`.
    pub fn new(macs: u64, params: u64) -> Self {
        Self { macs, params }
    }
}

impl Add for Cost {
    type Output = Cost;
    fn add(self, other: Cost) -> Cost {
        Cost::new(self.macs + other.macs, self.params + other.params)
    }
}

impl AddAssign for Cost {
    fn add_assign(&mut self, other: Cost) {
        *self = *self + other;
    }
}

impl Sum for Cost {
    fn sum<I: Iterator<Item = Cost>>(iter: I) -> Cost {
        iter.fold(Cost::default(), Add::add)
    }
}

/// One layer of a branch (the computation that produces one node): its cost and the spatial
/// size `[height, width]` of the node it produces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerCost {
    /// MACs and parameters of the layer.
    pub cost: Cost,
    /// `[height, width]` of the node's feature map.
    pub size: [usize; 2],
}

/// What a branch costs on one image of a given size: one entry per node, and the head.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BranchCost {
    /// Each node's layer, shallowest first.
    pub layers: Vec<LayerCost>,
    /// The head on the last node.
    pub head: Cost,
}

impl BranchCost {
    /// The layers' cost, without the head.
    pub fn layers_total(&self) -> Cost {
        self.layers.iter().map(|l| l.cost).sum()
    }
}

/// The fusion of one node in a (derived) network: its 1x1 convolution over the own feature and
/// the kept sources, and its batch norm.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FusionCost {
    /// The node.
    pub node: NodeId,
    /// Indices (in the space) of the kept edges into the node.
    pub kept_edges: Vec<usize>,
    /// `[height, width]` of the node.
    pub size: [usize; 2],
    /// The 1x1 convolution (`C x (C + sum of kept sources' channels)` weights) and the batch
    /// norm's scale and shift.
    pub cost: Cost,
}

/// One bilinear resize of a source node to a target size, computed once and shared by every
/// kept edge that needs it: `A_h x (X A_w^T)`, `C H_s W_s W_t + C H_t H_s W_t` MACs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResizeCost {
    /// The resized node.
    pub source: NodeId,
    /// The size it is resized to, `[height, width]`.
    pub size: [usize; 2],
    /// The MACs of the two matrix products.
    pub macs: u64,
}

/// The cost of a multi-task network built from a search space and a set of kept edges, for
/// one image of `input` size.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkCost {
    /// `[height, width]` of the input image.
    pub input: [usize; 2],
    /// Each task's branch layers, in task order; `None` where the branch does not count its
    /// cost ([`TaskBranch::cost`](crate::branch::TaskBranch::cost)).
    pub branches: Vec<Option<Cost>>,
    /// Each task's head, in task order (`None` as for `branches`).
    pub heads: Vec<Option<Cost>>,
    /// Every node's fusion (nodes without candidate edges have none).
    pub fusions: Vec<FusionCost>,
    /// Every resize the kept edges need.
    pub resizes: Vec<ResizeCost>,
}

impl NetworkCost {
    /// The cost of the network over `space` that keeps the edges where `kept` is true, on one
    /// `input` = `[height, width]` image, with each task's branch cost (`None` to leave a
    /// branch out; node sizes then follow from the strides, rounding up).
    ///
    /// Every node with at least one candidate edge keeps its fusion, also when all its edges
    /// are pruned (as the reference's derived network does).
    ///
    /// # Errors
    /// `kept` or `branches` of the wrong length, or a branch cost whose layers do not match
    /// its task's nodes.
    pub fn of(
        space: &SearchSpace,
        input: [usize; 2],
        kept: &[bool],
        branches: &[Option<BranchCost>],
    ) -> Result<Self> {
        if kept.len() != space.num_edges() {
            return Err(Error::shape(
                "kept edges of a network cost",
                format!("{} (one per edge)", space.num_edges()),
                kept.len().to_string(),
            ));
        }
        let sizes = node_sizes(space, input, branches)?;
        let mut fusions = Vec::new();
        let mut resizes: Vec<ResizeCost> = Vec::new();
        for task in 0..space.num_tasks() {
            for (layer, node) in space.nodes(task).iter().enumerate() {
                let id = NodeId::new(task, layer);
                let incoming = space.incoming(id);
                if incoming.is_empty() {
                    continue;
                }
                let size = sizes[task][layer];
                let kept_edges: Vec<usize> = incoming.filter(|&e| kept[e]).collect();
                let mut in_channels = node.channels;
                for &e in &kept_edges {
                    let source = space.edges()[e].source;
                    let source_node = space.node(source);
                    in_channels += source_node.channels;
                    let source_size = sizes[source.task][source.layer];
                    if source_size != size
                        && !resizes.iter().any(|r| (r.source, r.size) == (source, size))
                    {
                        resizes.push(ResizeCost {
                            source,
                            size,
                            macs: resize_macs(source_node.channels, source_size, size),
                        });
                    }
                }
                let pixels = (size[0] * size[1]) as u64;
                let weights = (node.channels * in_channels) as u64;
                fusions.push(FusionCost {
                    node: id,
                    kept_edges,
                    size,
                    cost: Cost::new(weights * pixels, weights + 2 * node.channels as u64),
                });
            }
        }
        Ok(Self {
            input,
            branches: branches
                .iter()
                .map(|b| b.as_ref().map(BranchCost::layers_total))
                .collect(),
            heads: branches
                .iter()
                .map(|b| b.as_ref().map(|b| b.head))
                .collect(),
            fusions,
            resizes,
        })
    }

    /// Whether every branch and head was counted.
    pub fn is_complete(&self) -> bool {
        self.branches.iter().chain(&self.heads).all(Option::is_some)
    }

    /// The branches' layers, summed over tasks (uncounted branches add nothing).
    pub fn branch_total(&self) -> Cost {
        self.branches.iter().flatten().copied().sum()
    }

    /// The heads, summed over tasks.
    pub fn head_total(&self) -> Cost {
        self.heads.iter().flatten().copied().sum()
    }

    /// Every fusion's 1x1 convolution and batch norm.
    pub fn fusion_total(&self) -> Cost {
        self.fusions.iter().map(|f| f.cost).sum()
    }

    /// MACs of the fusions' 1x1 convolutions.
    pub fn fusion_macs(&self) -> u64 {
        self.fusion_total().macs
    }

    /// MACs of the resizes.
    pub fn resize_macs(&self) -> u64 {
        self.resizes.iter().map(|r| r.macs).sum()
    }

    /// Everything: branches, heads, fusions and resizes.
    pub fn total(&self) -> Cost {
        self.branch_total()
            + self.head_total()
            + self.fusion_total()
            + Cost::new(self.resize_macs(), 0)
    }

    /// The totals in one small record (what results tables carry).
    pub fn summary(&self) -> CostSummary {
        CostSummary {
            branch_macs: self.branch_total().macs,
            head_macs: self.head_total().macs,
            fusion_macs: self.fusion_macs(),
            resize_macs: self.resize_macs(),
            total_macs: self.total().macs,
            params: self.total().params,
            complete: self.is_complete(),
        }
    }
}

/// The totals of a [`NetworkCost`], for one image.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CostSummary {
    /// MACs of the branches' layers.
    pub branch_macs: u64,
    /// MACs of the heads.
    pub head_macs: u64,
    /// MACs of the fusions' 1x1 convolutions.
    pub fusion_macs: u64,
    /// MACs of the resizes.
    pub resize_macs: u64,
    /// All MACs.
    pub total_macs: u64,
    /// All parameters.
    pub params: u64,
    /// Whether every branch and head was counted (else the totals leave some out).
    pub complete: bool,
}

impl fmt::Display for NetworkCost {
    /// A table: one line per part, then the totals, in MMAC and thousands of parameters.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let line = |f: &mut fmt::Formatter<'_>, name: &str, c: Option<Cost>| match c {
            Some(c) => writeln!(
                f,
                "{name:<28} {:>12.3} {:>12.1}",
                mega(c.macs),
                kilo(c.params)
            ),
            None => writeln!(f, "{name:<28} {:>12} {:>12}", "not counted", ""),
        };
        writeln!(f, "{:<28} {:>12} {:>12}", "part", "MMAC", "k params")?;
        writeln!(f, "cost of one {} x {} image", self.input[0], self.input[1])?;
        for (task, (b, h)) in self.branches.iter().zip(&self.heads).enumerate() {
            line(f, &format!("branch {task}"), *b)?;
            line(f, &format!("head {task}"), *h)?;
        }
        for fusion in &self.fusions {
            let name = format!(
                "fusion t{}[{}] ({} kept)",
                fusion.node.task,
                fusion.node.layer,
                fusion.kept_edges.len()
            );
            line(f, &name, Some(fusion.cost))?;
        }
        line(f, "resizes", Some(Cost::new(self.resize_macs(), 0)))?;
        line(f, "total", Some(self.total()))
    }
}

/// `macs` in millions.
pub fn mega(macs: u64) -> f64 {
    macs as f64 / 1e6
}

/// `macs` in billions.
pub fn giga(macs: u64) -> f64 {
    macs as f64 / 1e9
}

fn kilo(params: u64) -> f64 {
    params as f64 / 1e3
}

/// MACs of resizing a `channels`-channel map from `from` to `to` as `A_h (X A_w^T)`: the
/// width pass `C H_s W_s W_t`, then the height pass `C H_t H_s W_t`.
pub fn resize_macs(channels: usize, from: [usize; 2], to: [usize; 2]) -> u64 {
    let c = channels as u64;
    let (hs, ws, ht, wt) = (from[0] as u64, from[1] as u64, to[0] as u64, to[1] as u64);
    c * hs * ws * wt + c * ht * hs * wt
}

/// Every node's `[height, width]`: from the branch costs where given, else the input size
/// divided by the node's stride, rounding up.
pub(crate) fn node_sizes(
    space: &SearchSpace,
    input: [usize; 2],
    branches: &[Option<BranchCost>],
) -> Result<Vec<Vec<[usize; 2]>>> {
    if branches.len() != space.num_tasks() {
        return Err(Error::shape(
            "branch costs",
            format!("{} (one per task)", space.num_tasks()),
            branches.len().to_string(),
        ));
    }
    (0..space.num_tasks())
        .map(|task| {
            let nodes = space.nodes(task);
            match &branches[task] {
                Some(b) if b.layers.len() != nodes.len() => Err(Error::shape(
                    format!("cost of the branch of task `{}`", space.tasks()[task]),
                    format!("{} layers (one per node)", nodes.len()),
                    b.layers.len().to_string(),
                )),
                Some(b) => Ok(b.layers.iter().map(|l| l.size).collect()),
                None => Ok(nodes
                    .iter()
                    .map(|n| [input[0].div_ceil(n.stride), input[1].div_ceil(n.stride)])
                    .collect()),
            }
        })
        .collect()
}

/// The cost of `conv` on an `input` = `[height, width]` map, and the size of its output:
/// `C_out (C_in / groups) k_h k_w` MACs per output pixel; weights and bias as parameters.
pub fn conv_cost(conv: &Conv2d, input: [usize; 2]) -> (Cost, [usize; 2]) {
    let [_, _, kh, kw] = conv.weight.dims();
    let (top, left, bottom, right) = match conv.padding {
        PaddingConfig2d::Explicit(top, left, bottom, right) => (top, left, bottom, right),
        PaddingConfig2d::Valid => (0, 0, 0, 0),
        PaddingConfig2d::Same => {
            // Output = ceil(input / stride): report that size directly.
            let size = [
                input[0].div_ceil(conv.stride[0]),
                input[1].div_ceil(conv.stride[1]),
            ];
            return (conv_macs_params(conv, size), size);
        }
    };
    let along = |n: usize, before: usize, after: usize, k: usize, axis: usize| {
        let span = conv.dilation[axis] * (k - 1) + 1;
        (n + before + after).saturating_sub(span) / conv.stride[axis] + 1
    };
    let size = [
        along(input[0], top, bottom, kh, 0),
        along(input[1], left, right, kw, 1),
    ];
    (conv_macs_params(conv, size), size)
}

fn conv_macs_params(conv: &Conv2d, output: [usize; 2]) -> Cost {
    let weights = conv.weight.shape().num_elements() as u64;
    let bias = conv.bias.as_ref().map_or(0, |b| b.dims()[0] as u64);
    Cost::new(weights * (output[0] * output[1]) as u64, weights + bias)
}

/// Parameters of a batch norm over `channels` channels (scale and shift).
pub fn norm_params(channels: usize) -> Cost {
    Cost::new(0, 2 * channels as u64)
}

#[cfg(test)]
mod tests;
