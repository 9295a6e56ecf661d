//! What each candidate edge costs, for the cost-aware search.

use serde::{Deserialize, Serialize};

use super::{BranchCost, NetworkCost, node_sizes, resize_macs};
use crate::space::SearchSpace;
use crate::{Error, Result};

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

/// The budget of the cost-aware search, as a fraction of what all candidate edges of `space`
/// cost when priced by their MACs, that holds a derived network's fusion MACs at `fraction` of
/// those of the network with every edge kept: `(fraction A - N) / (A - N)`, with `A` and `N`
/// the fusion MACs with every edge kept and with none (every fusion keeps its own feature's
/// share). Exact where no edge needs a resize; otherwise approximate, since an edge's price
/// carries its share of a resize and fusion MACs do not. `input` and `branches` as in
/// [`edge_costs`].
///
/// # Errors
/// `fraction` outside `(0, 1]`, a space without edges, or a `fraction` of at most `N / A`: no
/// architecture's fusions cost that little.
pub fn edge_budget_for_fusion_macs(
    space: &SearchSpace,
    input: [usize; 2],
    branches: &[Option<BranchCost>],
    fraction: f64,
) -> Result<f64> {
    let field = "cost_penalty.budget";
    if !(fraction > 0.0 && fraction <= 1.0) {
        return Err(Error::config(
            field,
            format!("{fraction}: a fraction of the all-edges network's fusion MACs lies in (0, 1]"),
        ));
    }
    let fusion_macs = |kept: bool| -> Result<f64> {
        let mask = vec![kept; space.num_edges()];
        Ok(NetworkCost::of(space, input, &mask, branches)?.fusion_macs() as f64)
    };
    let (all, none) = (fusion_macs(true)?, fusion_macs(false)?);
    if all <= none {
        return Err(Error::config(
            field,
            "the space has no candidate edge to budget",
        ));
    }
    if fraction * all <= none {
        return Err(Error::config(
            field,
            format!(
                "{fraction} of the all-edges network's fusion MACs ({all}) is at most what its \
                 fusions cost with no edge kept ({none}, a fraction {:.4})",
                none / all
            ),
        ));
    }
    Ok((fraction * all - none) / (all - none))
}
