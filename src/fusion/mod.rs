//! Fusion at every node: NDDR (`ReLU(BN(Conv1x1(concat[own, c_1 src_1, ...])))`), its
//! initialisations, the cross-stitch variant, the resize that bridges scales, and the slicing
//! that drops pruned inputs after search.

mod cross_stitch;
mod nddr;

pub use crate::resample::{bilinear_matrix, resize_bilinear};
pub use cross_stitch::CrossStitchFusion;
pub use nddr::NddrFusion;

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::space::{NodeId, SearchSpace};
use crate::{Error, Result};

/// How a fusion's weights start.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum FusionInit {
    /// The reference's identity-like blocks: the 1x1 weight is
    /// `[I * own, I * sources / d, ..., I * sources / d]` for in-degree `d` (a block between
    /// different channel counts is a rectangular identity). The reference default is
    /// `own = 1, sources = 0`; the paper's ablations use (0.9, 0.1), (0.5, 0.5), ...
    Identity {
        /// Weight `w_t` on the node's own feature.
        own: f64,
        /// Total weight `w_s` shared by the incoming sources.
        sources: f64,
    },
    /// Kaiming normal, fan-out mode, ReLU gain: `std = sqrt(2 / out_channels)`.
    KaimingNormal,
}

/// Which fusion operation every node uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FusionKind {
    /// NDDR: concatenation, 1x1 convolution, batch norm, ReLU.
    Nddr,
    /// Cross-stitch: a learnable scalar-weighted sum of own feature and sources, no batch norm
    /// or ReLU. Sources must have the target's channels.
    CrossStitch,
}

/// Configuration of the fusion at every node.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct FusionConfig {
    /// The operation.
    pub kind: FusionKind,
    /// The initialisation.
    pub init: FusionInit,
    /// Batch-norm epsilon (reference: 1e-3).
    pub batch_norm_epsilon: f64,
    /// Batch-norm momentum, PyTorch convention (reference: 0.05).
    pub batch_norm_momentum: f64,
}

impl FusionConfig {
    /// NDDR fusion with the identity-like initialisation `(own, sources)`; the reference uses
    /// `(1.0, 0.0)`.
    pub fn nddr(own: f64, sources: f64) -> Self {
        Self {
            kind: FusionKind::Nddr,
            init: FusionInit::Identity { own, sources },
            batch_norm_epsilon: 1e-3,
            batch_norm_momentum: 0.05,
        }
    }

    /// NDDR fusion with Kaiming-normal 1x1 weights.
    pub fn nddr_kaiming() -> Self {
        Self {
            init: FusionInit::KaimingNormal,
            ..Self::nddr(1.0, 0.0)
        }
    }

    /// Cross-stitch fusion with scalar weights `own` and `sources / d`.
    pub fn cross_stitch(own: f64, sources: f64) -> Self {
        Self {
            kind: FusionKind::CrossStitch,
            ..Self::nddr(own, sources)
        }
    }

    /// Checks the values a user can get wrong.
    pub fn validate(&self) -> Result<()> {
        if !(self.batch_norm_epsilon > 0.0 && self.batch_norm_epsilon.is_finite()) {
            return Err(Error::config(
                "fusion.batch_norm_epsilon",
                "must be finite and positive",
            ));
        }
        if !(0.0..=1.0).contains(&self.batch_norm_momentum) {
            return Err(Error::config(
                "fusion.batch_norm_momentum",
                "must lie in [0, 1]",
            ));
        }
        if let FusionInit::Identity { own, sources } = self.init
            && !(own.is_finite() && sources.is_finite())
        {
            return Err(Error::config("fusion.init", "weights must be finite"));
        }
        if self.kind == FusionKind::CrossStitch && self.init == FusionInit::KaimingNormal {
            return Err(Error::config(
                "fusion.init",
                "cross-stitch weights are scalars: use FusionInit::Identity",
            ));
        }
        Ok(())
    }

    /// The fusion module of node `target` in `space`, or `None` if the node has no candidate
    /// edge (it then passes its feature through unchanged). Weights are drawn from `rng`.
    ///
    /// # Errors
    /// An invalid configuration, or cross-stitch between nodes of different channel counts.
    pub fn init(
        &self,
        space: &SearchSpace,
        target: NodeId,
        rng: &mut impl Rng,
        device: &Device,
    ) -> Result<Option<NodeFusion>> {
        self.validate()?;
        let edges = space.incoming(target);
        if edges.is_empty() {
            return Ok(None);
        }
        let channels = space.node(target).channels;
        let inputs: Vec<FusionInput> = edges
            .clone()
            .map(|edge| FusionInput {
                edge,
                channels: space.node(space.edges()[edge].source).channels,
            })
            .collect();
        Ok(Some(match self.kind {
            FusionKind::Nddr => {
                NodeFusion::Nddr(NddrFusion::new(channels, inputs, self, rng, device)?)
            }
            FusionKind::CrossStitch => {
                if let Some(bad) = inputs.iter().find(|i| i.channels != channels) {
                    return Err(Error::shape(
                        format!(
                            "cross-stitch fusion of {} (edge {})",
                            space.node_name(target),
                            space.edge_name(&space.edges()[bad.edge])
                        ),
                        format!("{channels} source channels"),
                        bad.channels.to_string(),
                    ));
                }
                NodeFusion::CrossStitch(CrossStitchFusion::new(inputs, self, device))
            }
        }))
    }
}

/// One input of a fusion besides the node's own feature: an edge and its source's channels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FusionInput {
    /// Index of the edge in the search space.
    pub edge: usize,
    /// Channels of the edge's source.
    pub channels: usize,
}

/// The fusion of one node, of either kind.
// One per node, built once: the size difference costs nothing worth a Box (which burn's
// Module derive would also have to see through).
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum NodeFusion {
    /// NDDR fusion.
    Nddr(NddrFusion),
    /// Cross-stitch fusion.
    CrossStitch(CrossStitchFusion),
}

impl NodeFusion {
    /// Fuses `own` (`[batch, channels, height, width]`) with `sources` (one per input of this
    /// fusion, in order, each already resized to `own`'s height and width; `None` for an edge
    /// that is skipped) weighted by `weights` (`[num_edges]`, the whole space's connectivity).
    pub fn forward(
        &self,
        own: Tensor<4>,
        sources: Vec<Option<Tensor<4>>>,
        weights: &Tensor<1>,
    ) -> Tensor<4> {
        match self {
            NodeFusion::Nddr(f) => f.forward(own, sources, weights),
            NodeFusion::CrossStitch(f) => f.forward(own, sources, weights),
        }
    }

    /// The inputs (edges) this fusion reads, in order.
    pub fn inputs(&self) -> &[FusionInput] {
        match self {
            NodeFusion::Nddr(f) => f.inputs(),
            NodeFusion::CrossStitch(f) => f.inputs(),
        }
    }

    /// The same fusion without the inputs whose edge `keep` rejects: the weight slices of
    /// pruned inputs are dropped, so the outputs equal those of the full fusion fed zeros for
    /// the pruned edges, at a lower cost.
    pub fn prune(self, keep: impl Fn(usize) -> bool) -> Self {
        match self {
            NodeFusion::Nddr(f) => NodeFusion::Nddr(f.prune(keep)),
            NodeFusion::CrossStitch(f) => NodeFusion::CrossStitch(f.prune(keep)),
        }
    }
}

/// Scalar connectivity weight of edge `edge` as a tensor broadcastable against
/// `[batch, channels, height, width]` or a 1x1 weight: shape `[1, 1, 1, 1]`.
pub(crate) fn edge_weight(weights: &Tensor<1>, edge: usize) -> Tensor<4> {
    weights.clone().slice(edge..edge + 1).reshape([1, 1, 1, 1])
}

/// A `[rows, columns]` rectangular identity scaled by `value`, appended row-major into a
/// `[rows, total_columns]` matrix at column `offset`.
pub(crate) fn write_identity_block(
    matrix: &mut [f32],
    total_columns: usize,
    offset: usize,
    rows: usize,
    columns: usize,
    value: f32,
) {
    for i in 0..rows.min(columns) {
        matrix[i * total_columns + offset + i] = value;
    }
}
