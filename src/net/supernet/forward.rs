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

impl<B: TaskBranch> Supernet<B> {
    /// The task outputs for `images` (`[batch, channels, height, width]`) with the edges
    /// weighted by `weights`: one `[batch, outputs, h, w]` tensor per task.
    ///
    /// # Errors
    /// Images with other channels than the branches expect, or weights for another number of
    /// edges.
    pub fn forward(&self, images: Tensor<4>, weights: &EdgeGates) -> Result<Vec<Tensor<4>>> {
        let [_, channels, height, width] = images.dims();
        let expected = self.branches[0].input_channels();
        if channels != expected {
            return Err(Error::shape(
                "supernet input",
                format!("{expected} channels"),
                channels.to_string(),
            ));
        }
        let smallest = self
            .branches
            .iter()
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
        let tasks = self.space.num_tasks();
        let offsets = node_offsets(&self.space);
        let mut pre: Vec<Option<Tensor<4>>> = vec![None; *offsets.last().unwrap_or(&0)];
        let mut fused: Vec<Option<Tensor<4>>> = vec![None; tasks];
        let mut resized: HashMap<(NodeId, [usize; 2]), Tensor<4>> = HashMap::new();
        for (position, step) in self.space.schedule().iter().enumerate() {
            match *step {
                ScheduleStep::Layer(node) => {
                    let input = match node.layer {
                        0 => images.clone(),
                        _ => fused[node.task]
                            .take()
                            .ok_or_else(|| missing(node, "fused"))?,
                    };
                    let feature = self.branches[node.task].layer_forward(node.layer, input);
                    self.check_node(node, &feature, [height, width])?;
                    pre[offsets[node.task] + node.layer] = Some(feature);
                }
                ScheduleStep::Fuse(node) => {
                    let own = (pre[offsets[node.task] + node.layer].clone())
                        .ok_or_else(|| missing(node, "pre-fusion"))?;
                    let out = match &self.fusions[node.task][node.layer] {
                        None => own,
                        Some(fusion) => {
                            let [_, _, h, w] = own.dims();
                            let sources = fusion
                                .inputs()
                                .iter()
                                .map(|input| {
                                    if !weights.active[input.edge] {
                                        return None;
                                    }
                                    let source = self.space.edges()[input.edge].source;
                                    let key = (source, [h, w]);
                                    if let Some(t) = resized.get(&key) {
                                        return Some(t.clone());
                                    }
                                    let feature =
                                        pre[offsets[source.task] + source.layer].clone()?;
                                    let t = resize_bilinear(feature, [h, w], false);
                                    resized.insert(key, t.clone());
                                    Some(t)
                                })
                                .collect();
                            fusion.forward(own, sources, &weights.values)
                        }
                    };
                    fused[node.task] = Some(out);
                }
            }
            // Release pre-fusion features (and their resized copies) nobody reads any more.
            for (flat, &last) in self.last_use.iter().enumerate() {
                if last == position && pre[flat].is_some() {
                    pre[flat] = None;
                    let task = offsets.iter().rposition(|&o| o <= flat).unwrap_or(0);
                    let node = NodeId::new(task, flat - offsets[task]);
                    resized.retain(|(n, _), _| *n != node);
                }
            }
        }
        Ok(fused
            .into_iter()
            .zip(&self.branches)
            .map(|(x, branch)| branch.head_forward(x.unwrap_or_else(|| images.clone())))
            .collect())
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
