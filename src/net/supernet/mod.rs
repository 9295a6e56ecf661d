//! The supernet: every task branch, a fusion at every node, and the architecture logits.

mod forward;
mod roles;

use burn::module::{Module, ModuleMapper, Param};
use burn::tensor::{Device, Tensor};

use crate::arch::{Architecture, ArchitectureParameters};
use crate::branch::TaskBranch;
use crate::cost::NetworkCost;
use crate::fusion::{FusionConfig, NodeFusion};
use crate::rng::SeededRng;
use crate::space::{NodeId, ScheduleStep, SearchSpace};
use crate::{Error, Result};

pub use roles::ParameterRoles;
pub(crate) use roles::{canonical_ids, collect_parameters};

/// All task branches joined by a fusion at every node that has candidate edges, with one
/// architecture logit per edge.
///
/// One forward runs the space's schedule: each task's layer on its own fused input gives the
/// node's pre-fusion feature; each fusion mixes that feature with the connectivity-weighted
/// pre-fusion features of its edges' sources (resized once per source and size, and shared by
/// every edge that needs it). Inactive edges (weight exactly 0 under a discrete connectivity)
/// are skipped. A node without candidate edges passes its feature through.
#[derive(Module, Debug)]
pub struct Supernet<B: TaskBranch> {
    /// One branch per task, in the space's task order.
    pub branches: Vec<B>,
    /// `fusions[task][layer]`: the node's fusion, `None` where the node has no candidate edge.
    pub fusions: Vec<Vec<Option<NodeFusion>>>,
    /// The architecture logits, one per candidate edge.
    pub architecture: ArchitectureParameters,
    #[module(skip)]
    space: SearchSpace,
    /// For every node (flattened), the schedule position after which its pre-fusion feature is
    /// no longer read.
    #[module(skip)]
    last_use: Vec<usize>,
    /// Whether pruned edges were dropped ([`Supernet::derive`]).
    derived: bool,
}

impl<B: TaskBranch> Supernet<B> {
    /// Joins `branches` (one per task of `space`, in its task order) with fusions built by
    /// `fusion`, whose random draws (Kaiming init) come from `seed`.
    ///
    /// # Errors
    /// A branch count different from the space's task count, a branch whose nodes differ from
    /// the space's description of its task, branches expecting different input channels, or an
    /// invalid fusion configuration.
    pub fn new(
        space: &SearchSpace,
        branches: Vec<B>,
        fusion: FusionConfig,
        seed: u64,
        device: &Device,
    ) -> Result<Self> {
        if branches.len() != space.num_tasks() {
            return Err(Error::shape(
                "supernet branches",
                format!("{} (one per task: {:?})", space.num_tasks(), space.tasks()),
                branches.len().to_string(),
            ));
        }
        for (task, branch) in branches.iter().enumerate() {
            let name = &space.tasks()[task];
            let described = branch.describe(name);
            let expected: Vec<_> = space
                .nodes(task)
                .iter()
                .map(|n| (n.stage, n.channels, n.stride))
                .collect();
            let actual: Vec<_> = described
                .nodes
                .iter()
                .map(|n| (n.stage, n.channels, n.stride))
                .collect();
            if expected != actual {
                return Err(Error::shape(
                    format!("branch of task `{name}` (nodes as (stage, channels, stride))"),
                    format!("{expected:?}"),
                    format!("{actual:?}"),
                ));
            }
        }
        let input_channels = branches[0].input_channels();
        if let Some((task, b)) = branches
            .iter()
            .enumerate()
            .find(|(_, b)| b.input_channels() != input_channels)
        {
            return Err(Error::shape(
                format!("input channels of branch `{}`", space.tasks()[task]),
                format!("{input_channels} like branch `{}`", space.tasks()[0]),
                b.input_channels().to_string(),
            ));
        }
        let mut rng = SeededRng::new(seed);
        let mut fusions = Vec::with_capacity(space.num_tasks());
        for task in 0..space.num_tasks() {
            let mut row = Vec::with_capacity(space.nodes(task).len());
            for layer in 0..space.nodes(task).len() {
                row.push(fusion.init(space, NodeId::new(task, layer), &mut rng, device)?);
            }
            fusions.push(row);
        }
        let net = Self {
            branches,
            fusions,
            architecture: ArchitectureParameters::new(space.num_edges(), device),
            last_use: last_uses(space),
            space: space.clone(),
            derived: false,
        };
        Ok(canonical_ids(net))
    }

    /// The search space this supernet spans.
    pub fn space(&self) -> &SearchSpace {
        &self.space
    }

    /// Whether this is a derived network ([`Supernet::derive`]).
    pub fn is_derived(&self) -> bool {
        self.derived
    }

    /// The same network with gradients for the edge logits only: the architecture step's
    /// forward pass runs on it, and its backward pass then skips every weight gradient. The
    /// parameters are shared (same ids), not copied.
    pub(crate) fn logits_only(&self) -> Self {
        // Not `Module::no_grad`: on a parameter not yet materialised (burn's lazily initialised
        // batch-norm scales and shifts) it flips the flag in the initialiser that every clone
        // shares, which would freeze the original network's parameter for good. Each weight
        // here becomes a fresh parameter (same id, same values) detached from the graph.
        struct Detached;
        impl ModuleMapper for Detached {
            fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
                Param::initialized(param.id, param.val().set_require_grad(false))
            }
        }
        let mut view = self.clone().map(&mut Detached);
        view.architecture = self.architecture.clone();
        view
    }

    /// The derived network of `architecture`: logits set to the architecture's, and every
    /// fusion's pruned inputs dropped (their weight slices removed), so that the forward under
    /// [`Connectivity::Hard`](crate::arch::Connectivity::Hard) equals the supernet's with
    /// zeros for pruned edges, at a lower cost. Nodes keep their fusion even when all their
    /// edges are pruned, as in the reference.
    ///
    /// # Errors
    /// An architecture searched over a different space.
    pub fn derive(self, architecture: &Architecture) -> Result<Self> {
        architecture.check_space(&self.space)?;
        let mask = architecture.mask();
        let device = self.architecture.logits.device();
        let fusions = self
            .fusions
            .into_iter()
            .map(|row| {
                row.into_iter()
                    .map(|f| f.map(|f| f.prune(|edge| mask[edge])))
                    .collect()
            })
            .collect();
        let mut logits = ArchitectureParameters::from_logits(&architecture.logits(), &device);
        logits.logits.id = self.architecture.logits.id;
        Ok(Self {
            branches: self.branches,
            fusions,
            architecture: logits,
            space: self.space,
            last_use: self.last_use,
            derived: true,
        })
    }

    /// The derived network of a saved `architecture`: a supernet over the architecture's space
    /// with these `branches` (built as for the search), derived (pruned inputs dropped). Load
    /// its trained weights with [`Supernet::load_weights`].
    ///
    /// # Errors
    /// Branches that do not fit the architecture's space, or an invalid fusion.
    pub fn derived_from(
        architecture: &Architecture,
        branches: Vec<B>,
        fusion: FusionConfig,
        device: &Device,
    ) -> Result<Self> {
        Self::new(&architecture.space, branches, fusion, 0, device)?.derive(architecture)
    }

    /// What one forward pass on one `input` = `[height, width]` image costs: the branches
    /// (where they count themselves, [`TaskBranch::cost`]), the heads, every fusion over the
    /// inputs it still has (all candidate edges in a supernet, the kept ones in a derived
    /// network) and the resizes those need. A cross-stitch fusion is counted as the 1x1
    /// convolution an NDDR fusion would run (an upper bound of its scalar sum).
    ///
    /// # Errors
    /// A branch whose cost does not list one layer per node.
    pub fn cost(&self, input: [usize; 2]) -> Result<NetworkCost> {
        let mut kept = vec![false; self.space.num_edges()];
        for fusion in self.fusions.iter().flatten().flatten() {
            for input in fusion.inputs() {
                kept[input.edge] = true;
            }
        }
        let branches: Vec<_> = self.branches.iter().map(|b| b.cost(input)).collect();
        NetworkCost::of(&self.space, input, &kept, &branches)
    }
}

pub(super) fn node_offsets(space: &SearchSpace) -> Vec<usize> {
    let mut offsets = Vec::with_capacity(space.num_tasks() + 1);
    let mut total = 0;
    for task in 0..space.num_tasks() {
        offsets.push(total);
        total += space.nodes(task).len();
    }
    offsets.push(total);
    offsets
}

/// For every node, the last schedule position that reads its pre-fusion feature: its own
/// fusion, or the fusion of any target it is a source for.
pub(super) fn last_uses(space: &SearchSpace) -> Vec<usize> {
    let offsets = node_offsets(space);
    let mut last = vec![0usize; *offsets.last().unwrap_or(&0)];
    for (position, step) in space.schedule().iter().enumerate() {
        if let ScheduleStep::Fuse(target) = *step {
            let own = offsets[target.task] + target.layer;
            last[own] = last[own].max(position);
            for edge in &space.edges()[space.incoming(target)] {
                let source = offsets[edge.source.task] + edge.source.layer;
                last[source] = last[source].max(position);
            }
        }
    }
    last
}

#[cfg(test)]
mod tests;
