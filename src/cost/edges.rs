//! What each candidate edge costs, for the cost-aware search.

use serde::{Deserialize, Serialize};

use super::{BranchCost, node_sizes, resize_macs};
use crate::Result;
use crate::space::SearchSpace;

/// How the cost-aware search prices an edge (every choice is normalised so that the mean edge
/// costs 1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum EdgeCostKind {
    /// The MACs the edge adds to the derived network: its block of the target's 1x1
    /// convolution, `C(target) C(source) H(target) W(target)`, plus its share of the resize of
    /// its source to the target's size (split evenly between the candidate edges that reuse
    /// that resized source).
    #[default]
    Macs,
    /// The reference's channel-weighted L1 (`path_costs`): the target node's channels.
    TargetChannels,
    /// Every edge the same (a plain L1 on the connectivity).
    Uniform,
}

/// The cost of every candidate edge of `space` (in edge order) on an `input` =
/// `[height, width]` image, priced by `kind` and normalised to mean 1. `branches` gives the
/// node sizes where known (see [`NetworkCost::of`](super::NetworkCost::of)).
///
/// # Errors
/// `branches` of the wrong length, or a branch cost that does not match its task's nodes.
pub fn edge_costs(
    space: &SearchSpace,
    input: [usize; 2],
    branches: &[Option<BranchCost>],
    kind: EdgeCostKind,
) -> Result<Vec<f64>> {
    let sizes = node_sizes(space, input, branches)?;
    let size = |id: crate::space::NodeId| sizes[id.task][id.layer];
    let raw: Vec<f64> = match kind {
        EdgeCostKind::Uniform => vec![1.0; space.num_edges()],
        EdgeCostKind::TargetChannels => space
            .edges()
            .iter()
            .map(|e| space.node(e.target).channels as f64)
            .collect(),
        EdgeCostKind::Macs => {
            let resized = |e: &crate::space::FusionEdge| (e.source, size(e.target));
            let sharing = |key| space.edges().iter().filter(|e| resized(e) == key).count();
            space
                .edges()
                .iter()
                .map(|e| {
                    let [h, w] = size(e.target);
                    let target = space.node(e.target).channels;
                    let source = space.node(e.source).channels;
                    let mut macs = (target * source * h * w) as f64;
                    if size(e.source) != [h, w] {
                        let resize = resize_macs(source, size(e.source), [h, w]) as f64;
                        macs += resize / sharing(resized(e)) as f64;
                    }
                    macs
                })
                .collect()
        }
    };
    let mean = raw.iter().sum::<f64>() / raw.len().max(1) as f64;
    Ok(raw
        .into_iter()
        .map(|c| if mean > 0.0 { c / mean } else { 1.0 })
        .collect())
}
