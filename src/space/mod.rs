//! The search space: task nodes, candidate fusion edges between them, and the rules that choose
//! the edges.
//!
//! Pure data with no tensors: everything else (the fusion modules, the architecture parameters,
//! the supernet's schedule) reads the graph from a [`SearchSpace`] and never re-derives it.
//!
//! ```
//! use mtl_nas::space::{BranchDescription, EdgeRule, SearchSpace, Stage};
//!
//! // VGG-16's 13 conv layers: blocks of 2, 2, 3, 3, 3 layers.
//! let vgg = |task: &str| {
//!     let stages = [(2, 64, 1), (2, 128, 2), (3, 256, 4), (3, 512, 8), (3, 512, 8)];
//!     BranchDescription::from_stages(task, &stages.map(|(l, c, s)| Stage::new(l, c, s)))
//! };
//! let space = SearchSpace::from_branches(&[vgg("seg"), vgg("normal")], EdgeRule::same_stage())?;
//! assert_eq!(space.num_edges(), 48); // 24 per direction, as in the reference
//! # Ok::<(), mtl_nas::Error>(())
//! ```

mod rule;

pub use rule::EdgeRule;

use std::collections::HashSet;
use std::fmt;
use std::ops::Range;

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

/// Names one node: a task (its index in the space) and a layer within that task's branch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct NodeId {
    /// Index of the task in the search space (the order of the branch descriptions).
    pub task: usize,
    /// Layer index within the task's branch, from 0.
    pub layer: usize,
}

impl NodeId {
    /// The node at `layer` of task `task`.
    pub fn new(task: usize, layer: usize) -> Self {
        Self { task, layer }
    }
}

/// A node of the search space: one layer output of one task's branch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskNode {
    /// Where the node is.
    pub id: NodeId,
    /// The block the layer belongs to.
    pub stage: usize,
    /// Channels of the feature map.
    pub channels: usize,
    /// Spatial stride relative to the input image.
    pub stride: usize,
}

/// A candidate edge: the pre-fusion feature of `source` (a node of one task) fed into the fusion
/// of `target` (a node of another task).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct FusionEdge {
    /// The node whose feature is carried.
    pub source: NodeId,
    /// The node whose fusion receives it.
    pub target: NodeId,
}

impl FusionEdge {
    /// The edge `source -> target`.
    pub fn new(source: NodeId, target: NodeId) -> Self {
        Self { source, target }
    }
}

/// How a fusion brings an edge's source to its target's shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bridge {
    /// The source is resized (bilinear) to the target's spatial size (strides differ).
    pub resize: bool,
    /// Channels of the source; the fusion's 1x1 convolution projects them to the target's.
    pub source_channels: usize,
    /// Channels of the target.
    pub target_channels: usize,
}

impl Bridge {
    /// Whether the source already has the target's shape.
    pub fn is_identity(&self) -> bool {
        !self.resize && self.source_channels == self.target_channels
    }
}

/// One step of the order in which a supernet computes its nodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ScheduleStep {
    /// Run the branch layer that produces the node's pre-fusion feature.
    Layer(NodeId),
    /// Fuse the node's pre-fusion feature with its incoming edges' sources.
    Fuse(NodeId),
}

/// The candidate edges between task branches: the graph the search chooses a subgraph of.
///
/// Edges are stored sorted by (target task, target layer, source task, source layer), so the
/// edges entering one node are contiguous ([`SearchSpace::incoming`]) and, per node, sources come
/// in increasing task then layer order, as the reference concatenates them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchSpace {
    tasks: Vec<String>,
    nodes: Vec<Vec<TaskNode>>,
    edges: Vec<FusionEdge>,
    rule: EdgeRule,
    #[serde(skip)]
    incoming: Vec<Vec<Range<usize>>>,
    #[serde(skip)]
    schedule: Vec<ScheduleStep>,
}

impl SearchSpace {
    /// Builds the space over `branches` (one per task, at least two) with the candidate edges
    /// that `rule` admits between every ordered pair of tasks.
    ///
    /// # Errors
    /// Fewer than two branches, a duplicate or empty task name, a branch with no nodes, zero
    /// channels or stride, decreasing stages, an invalid rule, an explicit edge that cannot exist
    /// (within one task, to a missing node, duplicated, or whose source is computed only after
    /// its target), or a rule that admits no edge at all.
    pub fn from_branches(branches: &[BranchDescription], rule: EdgeRule) -> Result<Self> {
        if branches.len() < 2 {
            return Err(Error::TooFewTasks(branches.len()));
        }
        let mut names = HashSet::new();
        for branch in branches {
            validate_branch(branch)?;
            if !names.insert(branch.task.as_str()) {
                return Err(Error::DuplicateTask(branch.task.clone()));
            }
        }
        let tasks: Vec<String> = branches.iter().map(|b| b.task.clone()).collect();
        let nodes = task_nodes(branches);
        let mut edges = rule.edges(&tasks, &nodes)?;
        edges.sort_by_key(|e| (e.target.task, e.target.layer, e.source.task, e.source.layer));
        if edges.is_empty() {
            return Err(Error::NoEdges);
        }
        Self::assemble(tasks, nodes, edges, rule)
    }

    /// A space over `branches` with no edge at all: the branches run independently. This is
    /// the single-task baseline's space; nothing can be searched over it.
    ///
    /// # Errors
    /// The same description errors as [`SearchSpace::from_branches`] (fewer than two branches
    /// are allowed).
    pub fn independent(branches: &[BranchDescription]) -> Result<Self> {
        let mut names = HashSet::new();
        for branch in branches {
            validate_branch(branch)?;
            if !names.insert(branch.task.as_str()) {
                return Err(Error::DuplicateTask(branch.task.clone()));
            }
        }
        if branches.is_empty() {
            return Err(Error::TooFewTasks(0));
        }
        let tasks = branches.iter().map(|b| b.task.clone()).collect();
        Self::assemble(
            tasks,
            task_nodes(branches),
            Vec::new(),
            EdgeRule::Explicit(Vec::new()),
        )
    }

    /// Completes a space from its parts: the per-node edge ranges and the computation order.
    fn assemble(
        tasks: Vec<String>,
        nodes: Vec<Vec<TaskNode>>,
        edges: Vec<FusionEdge>,
        rule: EdgeRule,
    ) -> Result<Self> {
        let mut incoming: Vec<Vec<Range<usize>>> = nodes
            .iter()
            .map(|branch| vec![0..0; branch.len()])
            .collect();
        let mut start = 0;
        while start < edges.len() {
            let target = edges[start].target;
            let end = start
                + edges[start..]
                    .iter()
                    .take_while(|e| e.target == target)
                    .count();
            incoming[target.task][target.layer] = start..end;
            start = end;
        }
        let mut space = Self {
            tasks,
            nodes,
            edges,
            rule,
            incoming,
            schedule: Vec::new(),
        };
        space.schedule = space.compute_schedule()?;
        Ok(space)
    }

    /// Orders the computation so every source's pre-fusion feature exists before the fusion
    /// that reads it: a topological order of "layer" and "fuse" steps, preferring shallower
    /// layers, then layers before fusions, then lower task indices (so branches of equal depth
    /// run layer by layer across tasks).
    fn compute_schedule(&self) -> Result<Vec<ScheduleStep>> {
        // Step (task, layer, kind): kind 0 = layer, 1 = fuse.
        // layer(t, i) needs fuse(t, i - 1); fuse(t, i) needs layer(t, i) and layer(s, j) for
        // each incoming edge from (s, j).
        let index = |node: NodeId, kind: usize, offsets: &[usize]| {
            (offsets[node.task] + node.layer) * 2 + kind
        };
        let mut offsets = Vec::with_capacity(self.nodes.len());
        let mut total = 0;
        for branch in &self.nodes {
            offsets.push(total);
            total += branch.len();
        }
        let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); total * 2];
        let mut pending = vec![0usize; total * 2];
        let mut add = |from: usize, to: usize, pending: &mut Vec<usize>| {
            dependents[from].push(to);
            pending[to] += 1;
        };
        for (task, branch) in self.nodes.iter().enumerate() {
            for layer in 0..branch.len() {
                let node = NodeId::new(task, layer);
                if layer > 0 {
                    add(
                        index(NodeId::new(task, layer - 1), 1, &offsets),
                        index(node, 0, &offsets),
                        &mut pending,
                    );
                }
                add(
                    index(node, 0, &offsets),
                    index(node, 1, &offsets),
                    &mut pending,
                );
            }
        }
        for edge in &self.edges {
            add(
                index(edge.source, 0, &offsets),
                index(edge.target, 1, &offsets),
                &mut pending,
            );
        }
        let step_of = |i: usize| {
            let kind = i % 2;
            let flat = i / 2;
            let task = offsets.iter().rposition(|&o| o <= flat).unwrap_or(0);
            let node = NodeId::new(task, flat - offsets[task]);
            (node, kind)
        };
        let mut ready: std::collections::BTreeSet<(usize, usize, usize, usize)> = (0..total * 2)
            .filter(|&i| pending[i] == 0)
            .map(|i| {
                let (node, kind) = step_of(i);
                (node.layer, kind, node.task, i)
            })
            .collect();
        let mut order = Vec::with_capacity(total * 2);
        while let Some(first) = ready.pop_first() {
            let (_, kind, _, i) = first;
            let (node, _) = step_of(i);
            order.push(if kind == 0 {
                ScheduleStep::Layer(node)
            } else {
                ScheduleStep::Fuse(node)
            });
            for &next in &dependents[i] {
                pending[next] -= 1;
                if pending[next] == 0 {
                    let (n, k) = step_of(next);
                    ready.insert((n.layer, k, n.task, next));
                }
            }
        }
        if order.len() != total * 2 {
            // Some fusion waits on a source that waits on it: name one edge of the cycle.
            let stuck = self
                .edges
                .iter()
                .find(|e| pending[index(e.target, 1, &offsets)] > 0)
                .copied();
            let edge = stuck
                .map(|e| self.edge_name(&e))
                .unwrap_or_else(|| "?".into());
            return Err(Error::InvalidEdge {
                edge,
                reason: "its source can only be computed after its target (the edges form a cycle)"
                    .into(),
            });
        }
        Ok(order)
    }

    /// The task names, in task-index order.
    pub fn tasks(&self) -> &[String] {
        &self.tasks
    }

    /// Number of tasks.
    pub fn num_tasks(&self) -> usize {
        self.tasks.len()
    }

    /// The nodes of task `task`, shallowest first.
    pub fn nodes(&self, task: usize) -> &[TaskNode] {
        &self.nodes[task]
    }

    /// One node.
    pub fn node(&self, id: NodeId) -> &TaskNode {
        &self.nodes[id.task][id.layer]
    }

    /// All candidate edges, in the space's order (one architecture logit each, same order).
    pub fn edges(&self) -> &[FusionEdge] {
        &self.edges
    }

    /// Number of candidate edges.
    pub fn num_edges(&self) -> usize {
        self.edges.len()
    }

    /// The rule the edges came from.
    pub fn rule(&self) -> &EdgeRule {
        &self.rule
    }

    /// Indices (into [`SearchSpace::edges`]) of the edges entering `target`.
    pub fn incoming(&self, target: NodeId) -> Range<usize> {
        self.incoming[target.task][target.layer].clone()
    }

    /// The order in which a supernet computes layers and fusions.
    pub fn schedule(&self) -> &[ScheduleStep] {
        &self.schedule
    }

    /// Index of a task by name.
    pub fn task_index(&self, name: &str) -> Option<usize> {
        self.tasks.iter().position(|t| t == name)
    }

    /// How `edge`'s source is brought to its target's shape.
    pub fn bridge(&self, edge: &FusionEdge) -> Bridge {
        let source = self.node(edge.source);
        let target = self.node(edge.target);
        Bridge {
            resize: source.stride != target.stride,
            source_channels: source.channels,
            target_channels: target.channels,
        }
    }

    /// The ordered task pairs `(target task, source task)` that have at least one edge, in the
    /// order of their first edge.
    pub fn task_pairs(&self) -> Vec<(usize, usize)> {
        let mut pairs: Vec<(usize, usize)> = Vec::new();
        for e in &self.edges {
            let pair = (e.target.task, e.source.task);
            if !pairs.contains(&pair) {
                pairs.push(pair);
            }
        }
        pairs
    }

    /// For every edge, the index of its task pair in [`SearchSpace::task_pairs`].
    pub fn edge_pair_indices(&self) -> Vec<usize> {
        let pairs = self.task_pairs();
        self.edges
            .iter()
            .map(|e| {
                pairs
                    .iter()
                    .position(|&p| p == (e.target.task, e.source.task))
                    .unwrap_or(0)
            })
            .collect()
    }

    /// A readable name for a node: `task[layer]` (`task#i[layer]` for a task index this space
    /// lacks, as in a file written for another space).
    pub fn node_name(&self, id: NodeId) -> String {
        match self.tasks.get(id.task) {
            Some(task) => format!("{task}[{}]", id.layer),
            None => format!("task#{}[{}]", id.task, id.layer),
        }
    }

    /// A readable name for an edge: `source_task[layer] -> target_task[layer]`.
    pub fn edge_name(&self, edge: &FusionEdge) -> String {
        format!(
            "{} -> {}",
            self.node_name(edge.source),
            self.node_name(edge.target)
        )
    }

    /// Checks a deserialised space and restores its derived fields (they are not stored): the
    /// space is rebuilt from its nodes and rule, and must come out with the same nodes and
    /// edges.
    pub(crate) fn rebuild(self) -> Result<Self> {
        if self.tasks.len() != self.nodes.len() {
            return Err(Error::InvalidRule(format!(
                "the space names {} tasks but holds nodes for {}",
                self.tasks.len(),
                self.nodes.len()
            )));
        }
        let descriptions: Vec<BranchDescription> = self
            .tasks
            .iter()
            .zip(&self.nodes)
            .map(|(task, nodes)| {
                BranchDescription::new(
                    task.clone(),
                    nodes
                        .iter()
                        .map(|n| NodeDescription {
                            stage: n.stage,
                            channels: n.channels,
                            stride: n.stride,
                        })
                        .collect(),
                )
            })
            .collect();
        let rebuilt = if self.edges.is_empty() {
            Self::independent(&descriptions)?
        } else {
            Self::from_branches(&descriptions, self.rule.clone())?
        };
        if rebuilt.nodes != self.nodes || rebuilt.edges != self.edges {
            return Err(Error::InvalidRule(format!(
                "the stored nodes and edges ({} edges) are not those its branches and rule give ({} edges)",
                self.edges.len(),
                rebuilt.edges.len()
            )));
        }
        Ok(rebuilt)
    }
}

impl fmt::Display for SearchSpace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "search space: {} tasks, {} candidate edges ({})",
            self.tasks.len(),
            self.edges.len(),
            self.rule
        )?;
        for (target, source) in self.task_pairs() {
            let count = self
                .edges
                .iter()
                .filter(|e| e.target.task == target && e.source.task == source)
                .count();
            writeln!(
                f,
                "  {} -> {}: {} edges",
                self.tasks[source], self.tasks[target], count
            )?;
        }
        Ok(())
    }
}

/// The nodes of every branch, indexed `[task][layer]`.
fn task_nodes(branches: &[BranchDescription]) -> Vec<Vec<TaskNode>> {
    branches
        .iter()
        .enumerate()
        .map(|(task, branch)| {
            branch
                .nodes
                .iter()
                .enumerate()
                .map(|(layer, node)| TaskNode {
                    id: NodeId::new(task, layer),
                    stage: node.stage,
                    channels: node.channels,
                    stride: node.stride,
                })
                .collect()
        })
        .collect()
}

fn validate_branch(branch: &BranchDescription) -> Result<()> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn vgg(task: &str) -> BranchDescription {
        BranchDescription::from_stages(
            task,
            &[
                Stage::new(2, 64, 1),
                Stage::new(2, 128, 2),
                Stage::new(3, 256, 4),
                Stage::new(3, 512, 8),
                Stage::new(3, 512, 8),
            ],
        )
    }

    #[test]
    fn reference_rule_gives_24_edges_per_direction() {
        // In-degrees per target layer under depth_limited_connectivity_matrix([2,2,3,3,3], 3):
        // blocks of 2 give 1 + 2, blocks of 3 give 1 + 2 + 3; 3 + 3 + 6 + 6 + 6 = 24.
        let two =
            SearchSpace::from_branches(&[vgg("a"), vgg("b")], EdgeRule::same_stage()).unwrap();
        assert_eq!(two.num_edges(), 48);
        let degrees: Vec<usize> = (0..13)
            .map(|l| two.incoming(NodeId::new(0, l)).len())
            .collect();
        assert_eq!(degrees, [1, 2, 1, 2, 1, 2, 3, 1, 2, 3, 1, 2, 3]);
        // 3 tasks: 6 ordered pairs x 24.
        let three =
            SearchSpace::from_branches(&[vgg("a"), vgg("b"), vgg("c")], EdgeRule::same_stage())
                .unwrap();
        assert_eq!(three.num_edges(), 144);
        assert_eq!(three.task_pairs().len(), 6);
    }

    #[test]
    fn general_rule_takes_every_shallower_or_equal_layer() {
        // Target layer i takes layers 0..=i of the other branch: 1 + 2 + ... + 13 = 91.
        let space =
            SearchSpace::from_branches(&[vgg("a"), vgg("b")], EdgeRule::shallower()).unwrap();
        assert_eq!(space.num_edges(), 2 * 91);
        let cross_scale = space
            .edges()
            .iter()
            .filter(|e| space.bridge(e).resize)
            .count();
        assert!(cross_scale > 0);
    }

    #[test]
    fn edges_are_grouped_by_target_in_source_order() {
        let space =
            SearchSpace::from_branches(&[vgg("a"), vgg("b")], EdgeRule::same_stage()).unwrap();
        let range = space.incoming(NodeId::new(1, 6));
        let sources: Vec<usize> = space.edges()[range]
            .iter()
            .map(|e| e.source.layer)
            .collect();
        assert_eq!(sources, [4, 5, 6]);
        for e in space.edges() {
            assert_ne!(e.source.task, e.target.task);
            assert!(space.bridge(e).is_identity());
        }
    }

    #[test]
    fn schedule_runs_layer_by_layer_across_tasks() {
        let space =
            SearchSpace::from_branches(&[vgg("a"), vgg("b")], EdgeRule::same_stage()).unwrap();
        let first: Vec<ScheduleStep> = space.schedule()[..4].to_vec();
        assert_eq!(
            first,
            [
                ScheduleStep::Layer(NodeId::new(0, 0)),
                ScheduleStep::Layer(NodeId::new(1, 0)),
                ScheduleStep::Fuse(NodeId::new(0, 0)),
                ScheduleStep::Fuse(NodeId::new(1, 0)),
            ]
        );
        assert_eq!(space.schedule().len(), 2 * 26);
    }

    #[test]
    fn bad_descriptions_are_errors() {
        let one = SearchSpace::from_branches(&[vgg("a")], EdgeRule::same_stage());
        assert!(matches!(one, Err(Error::TooFewTasks(1))));

        let dup = SearchSpace::from_branches(&[vgg("a"), vgg("a")], EdgeRule::same_stage());
        assert!(matches!(dup, Err(Error::DuplicateTask(name)) if name == "a"));

        let mut zero = vgg("b");
        zero.nodes[3].channels = 0;
        let err = SearchSpace::from_branches(&[vgg("a"), zero], EdgeRule::same_stage())
            .unwrap_err()
            .to_string();
        assert!(err.contains("branch `b`") && err.contains("node 3 has zero channels"));

        let empty = BranchDescription::new("c", vec![]);
        assert!(matches!(
            SearchSpace::from_branches(&[vgg("a"), empty], EdgeRule::same_stage()),
            Err(Error::InvalidBranch { .. })
        ));
    }

    #[test]
    fn explicit_edges_are_validated() {
        let a = NodeId::new(0, 2);
        let b = NodeId::new(1, 2);
        let ok = SearchSpace::from_branches(
            &[vgg("a"), vgg("b")],
            EdgeRule::explicit(vec![FusionEdge::new(a, b)]),
        )
        .unwrap();
        assert_eq!(ok.num_edges(), 1);

        let within = EdgeRule::explicit(vec![FusionEdge::new(NodeId::new(0, 1), a)]);
        let err = SearchSpace::from_branches(&[vgg("a"), vgg("b")], within).unwrap_err();
        assert!(err.to_string().contains("within one task"), "{err}");

        let missing = EdgeRule::explicit(vec![FusionEdge::new(NodeId::new(0, 20), b)]);
        let err = SearchSpace::from_branches(&[vgg("a"), vgg("b")], missing).unwrap_err();
        assert!(err.to_string().contains("has no layer 20"), "{err}");

        // a[5] -> b[2] and b[4] -> a[3]: b[2]'s fusion needs a[5], which needs a[3]'s fusion,
        // which needs b[4], which needs b[2]'s fusion. No order computes that.
        let cycle = EdgeRule::explicit(vec![
            FusionEdge::new(NodeId::new(0, 5), NodeId::new(1, 2)),
            FusionEdge::new(NodeId::new(1, 4), NodeId::new(0, 3)),
        ]);
        let err = SearchSpace::from_branches(&[vgg("a"), vgg("b")], cycle).unwrap_err();
        assert!(err.to_string().contains("cycle"), "{err}");

        let dup = EdgeRule::explicit(vec![FusionEdge::new(a, b), FusionEdge::new(a, b)]);
        let err = SearchSpace::from_branches(&[vgg("a"), vgg("b")], dup).unwrap_err();
        assert!(err.to_string().contains("twice"), "{err}");

        let none = EdgeRule::explicit(vec![]);
        assert!(matches!(
            SearchSpace::from_branches(&[vgg("a"), vgg("b")], none),
            Err(Error::NoEdges)
        ));
    }

    #[test]
    fn a_deeper_source_in_a_shorter_branch_is_scheduled() {
        // a has 2 nodes, b has 4. b[3] -> a[1] is computable: a[1]'s fusion waits for b[3].
        let a = BranchDescription::from_stages("a", &[Stage::new(2, 8, 1)]);
        let b = BranchDescription::from_stages("b", &[Stage::new(4, 8, 1)]);
        let rule = EdgeRule::explicit(vec![FusionEdge::new(NodeId::new(1, 3), NodeId::new(0, 1))]);
        let space = SearchSpace::from_branches(&[a, b], rule).unwrap();
        let pos = |s: ScheduleStep| space.schedule().iter().position(|&x| x == s).unwrap();
        assert!(
            pos(ScheduleStep::Layer(NodeId::new(1, 3)))
                < pos(ScheduleStep::Fuse(NodeId::new(0, 1)))
        );
    }

    #[test]
    fn serde_round_trip_restores_derived_fields() {
        let space =
            SearchSpace::from_branches(&[vgg("a"), vgg("b")], EdgeRule::same_stage()).unwrap();
        let json = serde_json::to_string(&space).unwrap();
        let back: SearchSpace = serde_json::from_str(&json).unwrap();
        let back = back.rebuild().unwrap();
        assert_eq!(back, space);
        assert_eq!(
            back.incoming(NodeId::new(0, 6)),
            space.incoming(NodeId::new(0, 6))
        );
    }
}
