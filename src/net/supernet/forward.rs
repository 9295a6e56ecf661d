//! One forward pass of a supernet: the schedule's layers and fusions, every node's feature
//! checked against its description.

use std::collections::HashMap;

use burn::tensor::Tensor;

use super::{Supernet, node_offsets};
use crate::arch::EdgeGates;
use crate::branch::TaskBranch;
use crate::resample::resize_bilinear;
use crate::space::{NodeId, ScheduleStep};
use crate::{Error, Result};

/// The features of one forward pass, indexed by flat node (`offsets[task] + layer`).
struct Features {
    /// Each node's pre-fusion feature, released after its last use.
    pre: Vec<Option<Tensor<4>>>,
    /// Each task's newest fused feature, taken by its next layer.
    fused: Vec<Option<Tensor<4>>>,
    /// Sources resized to a target's size, shared by every fusion that reads them there.
    resized: HashMap<(NodeId, [usize; 2]), Tensor<4>>,
    offsets: Vec<usize>,
}

impl<B: TaskBranch> Supernet<B> {
    /// The task outputs for `images` (`[batch, channels, height, width]`) with the edges
    /// weighted by `weights`: one `[batch, outputs, h, w]` tensor per task.
    ///
    /// # Errors
    /// Images with other channels than the branches expect, or weights for another number of
    /// edges.
    pub fn forward(&self, images: Tensor<4>, weights: &EdgeGates) -> Result<Vec<Tensor<4>>> {
        let [_, _, height, width] = images.dims();
        self.check_input(&images, weights)?;
        let offsets = node_offsets(&self.space);
        let mut features = Features {
            pre: vec![None; *offsets.last().unwrap_or(&0)],
            fused: vec![None; self.space.num_tasks()],
            resized: HashMap::new(),
            offsets,
        };
        for (position, step) in self.space.schedule().iter().enumerate() {
            match *step {
                ScheduleStep::Layer(node) => {
                    let input = match node.layer {
                        0 => images.clone(),
                        _ => features.fused[node.task]
                            .take()
                            .ok_or_else(|| missing(node, "fused"))?,
                    };
                    let feature = self.branches[node.task].layer_forward(node.layer, input);
                    self.check_node(node, &feature, [height, width])?;
                    features.pre[features.offsets[node.task] + node.layer] = Some(feature);
                }
                ScheduleStep::Fuse(node) => {
                    let out = self.fuse(node, &mut features, weights)?;
                    features.fused[node.task] = Some(out);
                }
            }
            self.release(position, &mut features);
        }
        (features.fused.into_iter().zip(&self.branches).enumerate())
            .map(|(task, (feature, branch))| {
                let last = NodeId::new(task, self.space.nodes(task).len().saturating_sub(1));
                Ok(branch.head_forward(feature.ok_or_else(|| missing(last, "fused"))?))
            })
            .collect()
    }

    /// The input's channels and size, and one gate per edge.
    fn check_input(&self, images: &Tensor<4>, weights: &EdgeGates) -> Result<()> {
        let [_, channels, height, width] = images.dims();
        let expected = self.branches[0].input_channels();
        if channels != expected {
            return Err(Error::shape(
                "supernet input",
                format!("{expected} channels"),
                channels.to_string(),
            ));
        }
        let smallest = (self.branches.iter())
            .map(|b| b.min_input_size())
            .max()
            .unwrap_or(1);
        if height < smallest || width < smallest {
            return Err(Error::shape(
                "supernet input",
                format!("at least {smallest} x {smallest} pixels for these branches"),
                format!("{height} x {width}"),
            ));
        }
        if weights.len() != self.space.num_edges() {
            return Err(Error::shape(
                "edge weights",
                format!("{} (one per edge)", self.space.num_edges()),
                weights.len().to_string(),
            ));
        }
        Ok(())
    }

    /// `node`'s fused feature: its own pre-fusion feature and its active sources, each
    /// resized to the node's size once per forward.
    fn fuse(
        &self,
        node: NodeId,
        features: &mut Features,
        weights: &EdgeGates,
    ) -> Result<Tensor<4>> {
        let own = (features.pre[features.offsets[node.task] + node.layer].clone())
            .ok_or_else(|| missing(node, "pre-fusion"))?;
        let Some(fusion) = &self.fusions[node.task][node.layer] else {
            return Ok(own);
        };
        let [_, _, h, w] = own.dims();
        let sources = (fusion.inputs().iter())
            .map(|input| {
                if !weights.active[input.edge] {
                    return None;
                }
                let source = self.space.edges()[input.edge].source;
                let key = (source, [h, w]);
                if let Some(t) = features.resized.get(&key) {
                    return Some(t.clone());
                }
                let feature = features.pre[features.offsets[source.task] + source.layer].clone()?;
                let t = resize_bilinear(feature, [h, w], false);
                features.resized.insert(key, t.clone());
                Some(t)
            })
            .collect();
        Ok(fusion.forward(own, sources, &weights.values))
    }

    /// Releases the pre-fusion features (and their resized copies) nobody reads after
    /// schedule step `position`.
    fn release(&self, position: usize, features: &mut Features) {
        for (flat, &last) in self.last_use.iter().enumerate() {
            if last == position && features.pre[flat].is_some() {
                features.pre[flat] = None;
                let task = (features.offsets.iter())
                    .rposition(|&o| o <= flat)
                    .unwrap_or(0);
                let node = NodeId::new(task, flat - features.offsets[task]);
                features.resized.retain(|(n, _), _| *n != node);
            }
        }
    }
}

impl<B: TaskBranch> Supernet<B> {
    /// A branch's layer must give the feature its description promised: the channels exactly,
    /// and the size of an input of `input` pixels at the node's stride (rounded either way).
    fn check_node(&self, node: NodeId, feature: &Tensor<4>, input: [usize; 2]) -> Result<()> {
        let described = self.space.node(node);
        let [_, channels, h, w] = feature.dims();
        let stride = described.stride.max(1);
        let fits = |got: usize, size: usize| got == size / stride || got == size.div_ceil(stride);
        if channels != described.channels || !fits(h, input[0]) || !fits(w, input[1]) {
            return Err(Error::shape(
                format!(
                    "node {} (the branch's layer_forward({}) against its describe())",
                    self.space.node_name(node),
                    node.layer
                ),
                format!(
                    "{} channels at stride {stride}: about {} x {} for a {} x {} input",
                    described.channels,
                    input[0].div_ceil(stride),
                    input[1].div_ceil(stride),
                    input[0],
                    input[1]
                ),
                format!("{channels} channels of {h} x {w}"),
            ));
        }
        Ok(())
    }
}

/// The schedule computes every node's input before the node: a missing one is a bug.
fn missing(node: NodeId, what: &str) -> Error {
    Error::config(
        "supernet schedule",
        format!(
            "node {}:{} has no {what} feature when it needs one",
            node.task, node.layer
        ),
    )
}
