//! What a branch says about itself: its nodes (channels, stride, stage), built from stages.

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// One node of a branch as the branch describes it: a layer's output feature map.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct NodeDescription {
    /// The block (resolution stage) the layer belongs to, counted from 0; non-decreasing along
    /// the branch. The reference edge rule only joins nodes of the same stage.
    pub stage: usize,
    /// Channels of the node's feature map.
    pub channels: usize,
    /// Spatial stride of the feature map relative to the input image (1 = full resolution).
    pub stride: usize,
}

/// One stage of a branch: `layers` consecutive layers (nodes) with the same channels and
/// stride. The one stage type of the crate: [`BranchDescription::from_stages`] and
/// [`SmallCnnConfig`](crate::branch::SmallCnnConfig) both take these.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Stage {
    /// Layers (nodes) in the stage.
    pub layers: usize,
    /// Channels of every layer's feature map.
    pub channels: usize,
    /// Spatial stride of the stage's feature maps relative to the input image.
    pub stride: usize,
}

impl Stage {
    /// A stage of `layers` layers of `channels` channels at `stride`.
    pub const fn new(layers: usize, channels: usize, stride: usize) -> Self {
        Self {
            layers,
            channels,
            stride,
        }
    }

    /// Stages given as `(layers, channels)` whose strides double from 1: stage `k` at stride
    /// `2^k`, a 2x downsampling before every stage but the first.
    pub fn pyramid(stages: &[(usize, usize)]) -> Vec<Stage> {
        (stages.iter().enumerate())
            .map(|(k, &(layers, channels))| Stage::new(layers, channels, 1 << k.min(63)))
            .collect()
    }
}

/// What a branch (one task's network) tells the search space about itself: its task name and
/// its nodes, in the order they are computed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BranchDescription {
    /// The task this branch solves; unique within a search space.
    pub task: String,
    /// The branch's nodes, shallowest first.
    pub nodes: Vec<NodeDescription>,
}

impl BranchDescription {
    /// A description from its nodes.
    pub fn new(task: impl Into<String>, nodes: Vec<NodeDescription>) -> Self {
        Self {
            task: task.into(),
            nodes,
        }
    }

    /// A description from stages: every layer of a stage shares its channels and stride.
    /// VGG-16 is `[(2, 64, 1), (2, 128, 2), (3, 256, 4), (3, 512, 8), (3, 512, 8)]` as
    /// [`Stage::new`]`(layers, channels, stride)`.
    pub fn from_stages(task: impl Into<String>, stages: &[Stage]) -> Self {
        let nodes = stages
            .iter()
            .enumerate()
            .flat_map(
                |(
                    stage,
                    &Stage {
                        layers,
                        channels,
                        stride,
                    },
                )| {
                    (0..layers).map(move |_| NodeDescription {
                        stage,
                        channels,
                        stride,
                    })
                },
            )
            .collect();
        Self::new(task, nodes)
    }
}

/// Checks a description: a task name, nodes, non-zero channels and strides, stages that do
/// not decrease.
pub(super) fn validate_branch(branch: &BranchDescription) -> Result<()> {
    let invalid = |reason: String| Error::InvalidBranch {
        task: branch.task.clone(),
        reason,
    };
    if branch.task.trim().is_empty() {
        return Err(invalid("the task name is empty".into()));
    }
    if branch.nodes.is_empty() {
        return Err(invalid("the branch describes no nodes".into()));
    }
    for (layer, node) in branch.nodes.iter().enumerate() {
        if node.channels == 0 {
            return Err(invalid(format!("node {layer} has zero channels")));
        }
        if node.stride == 0 {
            return Err(invalid(format!(
                "node {layer} has stride 0 (1 = full resolution)"
            )));
        }
        if layer > 0 && node.stage < branch.nodes[layer - 1].stage {
            return Err(invalid(format!(
                "node {layer} is in stage {} after a node of stage {}: stages must not decrease",
                node.stage,
                branch.nodes[layer - 1].stage
            )));
        }
    }
    Ok(())
}
