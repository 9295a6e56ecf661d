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

mod description;
mod rule;

pub use description::{BranchDescription, NodeDescription, Stage};
pub use rule::EdgeRule;

use description::validate_branch;

use std::collections::HashSet;
use std::fmt;
use std::ops::Range;

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

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
        let mut graph = StepGraph::new(self);
        let total = graph.pending.len();
        let key = |graph: &StepGraph, i: usize| {
            let (node, kind) = graph.step_of(i);
            (node.layer, kind, node.task, i)
        };
        let mut ready: std::collections::BTreeSet<(usize, usize, usize, usize)> = (0..total)
            .filter(|&i| graph.pending[i] == 0)
            .map(|i| key(&graph, i))
            .collect();
        let mut order = Vec::with_capacity(total);
        while let Some((_, kind, _, i)) = ready.pop_first() {
            let (node, _) = graph.step_of(i);
            order.push(if kind == StepGraph::LAYER {
                ScheduleStep::Layer(node)
            } else {
                ScheduleStep::Fuse(node)
            });
            for next in std::mem::take(&mut graph.dependents[i]) {
                graph.pending[next] -= 1;
                if graph.pending[next] == 0 {
                    ready.insert(key(&graph, next));
                }
            }
        }
        if order.len() != total {
            return Err(self.cycle_error(&graph));
        }
        Ok(order)
    }

    /// Some fusion waits on a source that waits on it: names one edge of the cycle.
    fn cycle_error(&self, graph: &StepGraph) -> Error {
        let stuck = (self.edges.iter())
            .find(|e| graph.pending[graph.index(e.target, StepGraph::FUSE)] > 0)
            .copied();
        let edge = stuck
            .map(|e| self.edge_name(&e))
            .unwrap_or_else(|| "?".into());
        Error::InvalidEdge {
            edge,
            reason: "its source can only be computed after its target (the edges form a cycle)"
                .into(),
        }
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

/// The dependencies between the steps of a forward pass: step `index(node, kind)` for each
/// node's layer and fusion. `layer(t, i)` needs `fuse(t, i - 1)`; `fuse(t, i)` needs
/// `layer(t, i)` and `layer(s, j)` for each incoming edge from `(s, j)`.
struct StepGraph {
    /// The flat index of each task's first node.
    offsets: Vec<usize>,
    /// The steps that wait on each step.
    dependents: Vec<Vec<usize>>,
    /// How many steps each step still waits on.
    pending: Vec<usize>,
}

impl StepGraph {
    const LAYER: usize = 0;
    const FUSE: usize = 1;

    fn new(space: &SearchSpace) -> Self {
        let mut offsets = Vec::with_capacity(space.nodes.len());
        let mut total = 0;
        for branch in &space.nodes {
            offsets.push(total);
            total += branch.len();
        }
        let mut graph = Self {
            offsets,
            dependents: vec![Vec::new(); total * 2],
            pending: vec![0; total * 2],
        };
        for (task, branch) in space.nodes.iter().enumerate() {
            for layer in 0..branch.len() {
                let node = NodeId::new(task, layer);
                if layer > 0 {
                    graph.add(NodeId::new(task, layer - 1), Self::FUSE, node, Self::LAYER);
                }
                graph.add(node, Self::LAYER, node, Self::FUSE);
            }
        }
        for edge in &space.edges {
            graph.add(edge.source, Self::LAYER, edge.target, Self::FUSE);
        }
        graph
    }

    /// Step `(to, to_kind)` waits on step `(from, from_kind)`.
    fn add(&mut self, from: NodeId, from_kind: usize, to: NodeId, to_kind: usize) {
        let (from, to) = (self.index(from, from_kind), self.index(to, to_kind));
        self.dependents[from].push(to);
        self.pending[to] += 1;
    }

    fn index(&self, node: NodeId, kind: usize) -> usize {
        (self.offsets[node.task] + node.layer) * 2 + kind
    }

    /// The node and kind of step `i`.
    fn step_of(&self, i: usize) -> (NodeId, usize) {
        let flat = i / 2;
        let task = self.offsets.iter().rposition(|&o| o <= flat).unwrap_or(0);
        (NodeId::new(task, flat - self.offsets[task]), i % 2)
    }
}

#[cfg(test)]
mod tests;
