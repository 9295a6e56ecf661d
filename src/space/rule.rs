//! Which node pairs are candidate edges.

use std::collections::HashSet;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::{FusionEdge, NodeId, TaskNode};
use crate::{Error, Result};

/// The rule that admits candidate edges between the nodes of every ordered pair of tasks.
///
/// Every ordered pair of distinct tasks `(target, source)` gets its own edges; with `N` tasks
/// there are `N (N - 1)` edge sets.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum EdgeRule {
    /// The reference implementation's rule (`depth_limited_connectivity_matrix`): target layer
    /// `i` takes source layer `j` of another task iff both are in the same stage, `j <= i` and
    /// `i - j < depth_limit`. Same stage means same resolution and channels on VGG-16; no resize
    /// is ever needed there. The reference uses `depth_limit = 3`.
    SameStage {
        /// Exclusive bound on the depth difference `i - j`; at least 1.
        depth_limit: usize,
    },
    /// The paper's general space: target node `i` takes any source node at or below its
    /// relative depth, across stages (a resize and a channel projection bridge the shapes).
    /// With branches of equal length this is `j <= i`; otherwise `(j + 1) / n_source <=
    /// (i + 1) / n_target`.
    Shallower,
    /// Exactly these edges (validated: distinct tasks, existing nodes, no duplicates, no
    /// cycle).
    Explicit(Vec<FusionEdge>),
}

impl EdgeRule {
    /// The reference rule: same stage, depth difference below 3 (24 edges per direction on
    /// VGG-16).
    pub fn same_stage() -> Self {
        EdgeRule::SameStage { depth_limit: 3 }
    }

    /// The paper's general rule: every source at or below the target's depth, across scales.
    pub fn shallower() -> Self {
        EdgeRule::Shallower
    }

    /// An explicit edge list.
    pub fn explicit(edges: Vec<FusionEdge>) -> Self {
        EdgeRule::Explicit(edges)
    }

    /// The edges this rule admits over `nodes` (indexed `[task][layer]`), unsorted.
    pub(super) fn edges(
        &self,
        tasks: &[String],
        nodes: &[Vec<TaskNode>],
    ) -> Result<Vec<FusionEdge>> {
        let mut edges = Vec::new();
        match self {
            EdgeRule::SameStage { depth_limit } => {
                if *depth_limit == 0 {
                    return Err(Error::InvalidRule(
                        "same-stage depth_limit must be at least 1 (it bounds i - j < limit)"
                            .into(),
                    ));
                }
                for_each_pair(nodes, |target, source| {
                    source.stage == target.stage
                        && source.id.layer <= target.id.layer
                        && target.id.layer - source.id.layer < *depth_limit
                })
                .into_iter()
                .for_each(|e| edges.push(e));
            }
            EdgeRule::Shallower => {
                for_each_pair(nodes, |target, source| {
                    let n_target = nodes[target.id.task].len();
                    let n_source = nodes[source.id.task].len();
                    (source.id.layer + 1) * n_target <= (target.id.layer + 1) * n_source
                })
                .into_iter()
                .for_each(|e| edges.push(e));
            }
            EdgeRule::Explicit(list) => {
                let mut seen = HashSet::new();
                for edge in list {
                    let name = || explicit_name(tasks, edge);
                    for (end, node) in [("source", edge.source), ("target", edge.target)] {
                        if node.task >= tasks.len() {
                            return Err(Error::InvalidEdge {
                                edge: name(),
                                reason: format!(
                                    "its {end} task index {} is out of range ({} tasks)",
                                    node.task,
                                    tasks.len()
                                ),
                            });
                        }
                        if node.layer >= nodes[node.task].len() {
                            return Err(Error::InvalidEdge {
                                edge: name(),
                                reason: format!(
                                    "its {end} task `{}` has no layer {} ({} nodes)",
                                    tasks[node.task],
                                    node.layer,
                                    nodes[node.task].len()
                                ),
                            });
                        }
                    }
                    if edge.source.task == edge.target.task {
                        return Err(Error::InvalidEdge {
                            edge: name(),
                            reason:
                                "an edge must join two different tasks, not run within one task"
                                    .into(),
                        });
                    }
                    if !seen.insert(*edge) {
                        return Err(Error::InvalidEdge {
                            edge: name(),
                            reason: "the edge is listed twice".into(),
                        });
                    }
                    edges.push(*edge);
                }
            }
        }
        Ok(edges)
    }
}

fn for_each_pair(
    nodes: &[Vec<TaskNode>],
    admits: impl Fn(&TaskNode, &TaskNode) -> bool,
) -> Vec<FusionEdge> {
    let mut edges = Vec::new();
    for (t, target_branch) in nodes.iter().enumerate() {
        for target in target_branch {
            for (s, source_branch) in nodes.iter().enumerate() {
                if s == t {
                    continue;
                }
                for source in source_branch {
                    if admits(target, source) {
                        edges.push(FusionEdge::new(source.id, target.id));
                    }
                }
            }
        }
    }
    edges
}

fn explicit_name(tasks: &[String], edge: &FusionEdge) -> String {
    let node = |n: NodeId| {
        let task = tasks
            .get(n.task)
            .cloned()
            .unwrap_or_else(|| format!("task#{}", n.task));
        format!("{task}[{}]", n.layer)
    };
    format!("{} -> {}", node(edge.source), node(edge.target))
}

impl fmt::Display for EdgeRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EdgeRule::SameStage { depth_limit } => {
                write!(f, "same-stage rule, depth difference < {depth_limit}")
            }
            EdgeRule::Shallower => write!(f, "shallower-or-equal rule across scales"),
            EdgeRule::Explicit(edges) => write!(f, "explicit list of {} edges", edges.len()),
        }
    }
}
